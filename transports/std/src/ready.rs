//! tokio's TCP and Unix socket halves as the core's readiness streams
//! ([`nanosp_core::ready`]): a pipe waits for bytes and for room without
//! holding a buffer, so an idle connection costs little memory.

use std::io::{self, IoSlice};
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

macro_rules! ready_halves {
    ($read:ty, $write:ty) => {
        impl ReadyRead for Ready<$read> {
            fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                self.0.as_ref().poll_read_ready(cx).map_err(io_error)
            }
            fn try_read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
                // As tokio's own `poll_read`: a read that did not fill the
                // buffer drained the socket, so its readiness is cleared
                // (with the readiness event seen before the read, so bytes
                // that came after it are not missed) and the next attempt
                // waits for the reactor instead of costing a system call.
                let (len, mut got) = (buf.len(), 0);
                let half = &self.0;
                let r = half.as_ref().try_io(Interest::READABLE, || {
                    got = half.try_read(buf)?;
                    if got > 0 && got < len {
                        Err(io::ErrorKind::WouldBlock.into())
                    } else {
                        Ok(got)
                    }
                });
                match r {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(Some(got)),
                    r => would_block(r),
                }
            }
            fn with_scratch<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
                READ_SCRATCH.with_borrow_mut(|b| f(b))
            }
        }

        impl ReadyWrite for Ready<$write> {
            fn poll_writable(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                self.0.as_ref().poll_write_ready(cx).map_err(io_error)
            }
            fn try_write2(&mut self, a: &[u8], b: &[u8]) -> Result<Option<usize>, Error> {
                // As tokio's own `poll_write`: a write the socket did not
                // take whole filled its send buffer, so its readiness is
                // cleared and the rest waits for the reactor instead of
                // costing another system call that would take little or
                // nothing.
                let (len, mut put) = (a.len() + b.len(), 0);
                let half = &self.0;
                let r = half.as_ref().try_io(Interest::WRITABLE, || {
                    put = if b.is_empty() {
                        half.try_write(a)?
                    } else if a.is_empty() {
                        half.try_write(b)?
                    } else {
                        half.try_write_vectored(&[IoSlice::new(a), IoSlice::new(b)])?
                    };
                    if put > 0 && put < len {
                        Err(io::ErrorKind::WouldBlock.into())
                    } else {
                        Ok(put)
                    }
                });
                match r {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && put > 0 => Ok(Some(put)),
                    r => would_block(r),
                }
            }
            fn with_scratch<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
                WRITE_SCRATCH.with_borrow_mut(|b| f(b))
            }
        }
    };
}

ready_halves!(tcp::OwnedReadHalf, tcp::OwnedWriteHalf);
ready_halves!(unix::OwnedReadHalf, unix::OwnedWriteHalf);
