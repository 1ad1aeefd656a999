//! tokio's TCP and Unix socket halves as the core's readiness streams
//! ([`nanosp_core::ready`]): a pipe waits for bytes and for room without
//! holding a buffer, so an idle connection costs little memory.

use std::io::{self, IoSlice};

use bytes::BufMut;
use std::task::{Context, Poll};

use std::cell::RefCell;

use nanosp_core::ready::{ReadyRead, ReadyWrite, SCRATCH};
use nanosp_core::Error;
use tokio::io::Interest;
use tokio::net::{tcp, unix};

use crate::stream::io_error;

/// A socket half, read or written by readiness.
pub(crate) struct Ready<T>(pub(crate) T);

thread_local! {
    /// The buffers pipes read into and gather writes in, one pair per
    /// thread: no pipe holds one while it waits.
    static READ_SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH].into_boxed_slice());
    static WRITE_SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH].into_boxed_slice());
}

fn would_block(r: io::Result<usize>) -> Result<Option<usize>, Error> {
    match r {
        Ok(n) => Ok(Some(n)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(io_error(e)),
    }
}

/// One non-blocking read or write (`op`, asked to move `len` bytes) under
/// tokio's readiness (`try_io`): `Ok(None)` if it would block. One that
/// moved some bytes but not all also clears the readiness, as tokio's own
/// `poll_read` and `poll_write` do: the socket is drained, or its send
/// buffer full, so the next attempt waits for the reactor (with the
/// readiness event seen before this call, so nothing that came after it is
/// missed) instead of costing a system call that would move little or
/// nothing.
fn partial(
    len: usize,
    try_io: impl FnOnce(&mut dyn FnMut() -> io::Result<usize>) -> io::Result<usize>,
    mut op: impl FnMut() -> io::Result<usize>,
) -> Result<Option<usize>, Error> {
    let mut moved = 0;
    let r = try_io(&mut || {
        moved = op()?;
        if moved > 0 && moved < len {
            Err(io::ErrorKind::WouldBlock.into())
        } else {
            Ok(moved)
        }
    });
    match r {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && moved > 0 => Ok(Some(moved)),
        r => would_block(r),
    }
}

macro_rules! ready_halves {
    ($read:ty, $write:ty) => {
        impl ReadyRead for Ready<$read> {
            fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                self.0.as_ref().poll_read_ready(cx).map_err(io_error)
            }
            fn try_read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
                // As tokio's own `poll_read`: a read that did not fill the
                // buffer drained the socket (see `partial`).
                let half = &self.0;
                partial(
                    buf.len(),
                    |op| half.as_ref().try_io(Interest::READABLE, op),
                    || half.try_read(buf),
                )
            }
            fn with_scratch<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
                READ_SCRATCH.with_borrow_mut(|b| f(b))
            }
            fn try_read_vec(
                &mut self,
                buf: &mut Vec<u8>,
                max: usize,
            ) -> Result<Option<usize>, Error> {
                // Into the spare capacity, not zeroed first (a pooled
                // buffer that held a shorter message would otherwise be
                // zeroed up to this one's size).
                let half = &self.0;
                partial(
                    max,
                    |op| half.as_ref().try_io(Interest::READABLE, op),
                    || half.try_read_buf(&mut (&mut *buf).limit(max)),
                )
            }
        }

        impl ReadyWrite for Ready<$write> {
            fn poll_writable(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                self.0.as_ref().poll_write_ready(cx).map_err(io_error)
            }
            fn try_write2(&mut self, a: &[u8], b: &[u8]) -> Result<Option<usize>, Error> {
                // As tokio's own `poll_write`: a write the socket did not
                // take whole filled its send buffer (see `partial`).
                let half = &self.0;
                partial(
                    a.len() + b.len(),
                    |op| half.as_ref().try_io(Interest::WRITABLE, op),
                    || {
                        if b.is_empty() {
                            half.try_write(a)
                        } else if a.is_empty() {
                            half.try_write(b)
                        } else {
                            half.try_write_vectored(&[IoSlice::new(a), IoSlice::new(b)])
                        }
                    },
                )
            }
            fn with_scratch<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
                WRITE_SCRATCH.with_borrow_mut(|b| f(b))
            }
        }
    };
}

ready_halves!(tcp::OwnedReadHalf, tcp::OwnedWriteHalf);
ready_halves!(unix::OwnedReadHalf, unix::OwnedWriteHalf);
