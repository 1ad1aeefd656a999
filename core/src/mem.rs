//! An in-memory byte stream pair implementing `embedded-io-async`, for tests
//! of stream transports without sockets (and for fault injection: either end
//! can be cut, or fed arbitrary bytes).
//!
//! ```
//! use nanosp_core::testing::duplex;
//! use embedded_io_async::{Read, Write};
//! # futures::executor::block_on(async {
//! let (a, b) = duplex(64);
//! let (_ar, mut aw) = a.split();
//! let (mut br, _bw) = b.split();
//! aw.write_all(b"hi").await.unwrap();
//! let mut buf = [0; 2];
//! br.read_exact(&mut buf).await.unwrap();
//! assert_eq!(&buf, b"hi");
//! # });
//! ```

use alloc::collections::VecDeque;
use core::future::poll_fn;
use core::task::{Poll, Waker};

use crate::sync::{Arc, Mutex};

struct Pipe {
    buf: VecDeque<u8>,
    cap: usize,
    closed: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

type Shared = Arc<Mutex<Pipe>>;

fn pipe(cap: usize) -> Shared {
    Arc::new(Mutex::new(Pipe {
        buf: VecDeque::new(),
        cap: cap.max(1),
        closed: false,
        reader: None,
        writer: None,
    }))
}

/// One end of an in-memory connection.
pub struct MemStream {
    rx: Shared,
    tx: Shared,
}

/// Two connected ends, each direction buffering up to `cap` bytes.
pub fn duplex(cap: usize) -> (MemStream, MemStream) {
    let a = pipe(cap);
    let b = pipe(cap);
    (
        MemStream {
            rx: a.clone(),
            tx: b.clone(),
        },
        MemStream { rx: b, tx: a },
    )
}

impl MemStream {
    /// Splits into reading and writing halves.
    pub fn split(self) -> (MemReader, MemWriter) {
        (MemReader { p: self.rx }, MemWriter { p: self.tx })
    }
}

/// The reading half.
pub struct MemReader {
    p: Shared,
}

/// The writing half. Dropping it is an orderly close (the peer reads EOF).
pub struct MemWriter {
    p: Shared,
}

/// Errors of the in-memory stream: the other side is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemError;

impl core::fmt::Display for MemError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("in-memory stream closed")
    }
}
impl core::error::Error for MemError {}
impl embedded_io_async::Error for MemError {
    fn kind(&self) -> embedded_io_async::ErrorKind {
        embedded_io_async::ErrorKind::BrokenPipe
    }
}
impl embedded_io_async::ErrorType for MemReader {
    type Error = MemError;
}
impl embedded_io_async::ErrorType for MemWriter {
    type Error = MemError;
}

fn close(p: &Shared) {
    let w = p.lock(|s| {
        s.closed = true;
        [s.reader.take(), s.writer.take()]
    });
    for w in w.into_iter().flatten() {
        w.wake();
    }
}

impl Drop for MemWriter {
    fn drop(&mut self) {
        close(&self.p);
    }
}

impl Drop for MemReader {
    fn drop(&mut self) {
        close(&self.p);
    }
}

impl MemWriter {
    /// Closes this direction now (the peer reads EOF after what is buffered).
    pub fn shutdown(&self) {
        close(&self.p);
    }
}

impl embedded_io_async::Read for MemReader {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, MemError> {
        if buf.is_empty() {
            return Ok(0);
        }
        poll_fn(|cx| {
            let r = self.p.lock(|s| {
                if s.buf.is_empty() {
                    if s.closed {
                        return Poll::Ready((Ok(0), None));
                    }
                    s.reader = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                let n = s.buf.len().min(buf.len());
                for (d, b) in buf.iter_mut().zip(s.buf.drain(..n)) {
                    *d = b;
                }
                Poll::Ready((Ok(n), s.writer.take()))
            });
            r.map(|(res, w)| {
                if let Some(w) = w {
                    w.wake();
                }
                res
            })
        })
        .await
    }
}

impl embedded_io_async::Write for MemWriter {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, MemError> {
        if buf.is_empty() {
            return Ok(0);
        }
        poll_fn(|cx| {
            let r = self.p.lock(|s| {
                if s.closed {
                    return Poll::Ready((Err(MemError), None));
                }
                let room = s.cap - s.buf.len().min(s.cap);
                if room == 0 {
                    s.writer = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                let n = room.min(buf.len());
                s.buf.extend(&buf[..n]);
                Poll::Ready((Ok(n), s.reader.take()))
            });
            r.map(|(res, w)| {
                if let Some(w) = w {
                    w.wake();
                }
                res
            })
        })
        .await
    }

    async fn flush(&mut self) -> Result<(), MemError> {
        Ok(())
    }
}
