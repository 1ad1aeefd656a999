//! Pipes over byte streams that can wait for readiness (tokio's TCP and Unix
//! sockets): an idle pipe holds no buffer at all.
//!
//! [`crate::stream`]'s reader and writer lend a buffer to every `read` and
//! `write` they await, so a pipe keeps its 16 KiB read buffer while it waits
//! for a peer that says nothing, and its write buffer between batches. Here
//! the waiting is done without a buffer ([`ReadyRead::poll_readable`],
//! [`ReadyWrite::poll_writable`]), and the reading and writing without waiting
//! ([`ReadyRead::try_read`], [`ReadyWrite::try_write2`]) into and from a
//! buffer on the stack. Bytes stay on the heap only while they must: a
//! partial frame inside the decoder, the unwritten rest of a write the
//! kernel did not take whole, a large body being written from its message.
//!
//! Same framing, limits and errors as [`crate::stream`]; the handshake is
//! [`crate::stream::handshake`]'s.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::future::poll_fn;
use core::pin::pin;
use core::task::{Context, Poll};

use crate::frame::{
    encode_prefix, handshake as header_of, parse_handshake, Decoder, Framing, AHEAD, MAX_PREFIX,
};
use crate::stream::{counted, in_time};
use crate::sync::Mutex;
use crate::transport::{attach, PipeDriver, PipeRead, PipeWrite};
use crate::{Error, Message, ProtocolError, Runtime, SocketRef};

/// The size of buffer [`ReadyRead::with_scratch`] and
/// [`ReadyWrite::with_scratch`] should lend: what is read or gathered per
/// system call.
pub const SCRATCH: usize = 16 << 10;

/// Bodies larger than this are written from the message itself, not copied.
const COPY_MAX: usize = 8 << 10;

/// The rest of a body at least this long is read straight into its
/// message; a shorter one through the scratch buffer with what follows.
const DIRECT_MIN: usize = 8 << 10;

/// Messages decoded from one read wait here; past this many slots the
/// queue's memory is given back when the pipe goes idle.
const KEEP_SLOTS: usize = 16;

/// Grown queues of pipes that went idle, for the next pipe whose read
/// brings in many messages: a busy pipe's queue is not allocated again on
/// every burst, and an idle pipe still holds none.
static SPARE_QUEUES: Mutex<Vec<VecDeque<Message>>> = Mutex::new(Vec::new());

/// Most grown queues [`SPARE_QUEUES`] keeps.
const MAX_SPARES: usize = 4;

/// The reading half of a stream that can wait for readiness.
pub trait ReadyRead {
    /// Ready when the stream may have bytes to read (or has failed). Polled
    /// rather than awaited: a waiting pipe keeps no future of it.
    fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>>;
    /// Reads what is there without waiting: `Ok(None)` if nothing was after
    /// all, `Ok(Some(0))` at the end of the stream.
    fn try_read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Error>;
    /// Runs `f` with a buffer of [`SCRATCH`] bytes that no pipe owns (one
    /// per thread, say): pipes read into it and decode from it at once, so
    /// none holds a read buffer of its own.
    fn with_scratch<T>(f: impl FnOnce(&mut [u8]) -> T) -> T;
    /// As [`try_read`](Self::try_read), appending at most `max` bytes to
    /// `buf` (whose spare capacity holds them). A stream that can read into
    /// uninitialised memory (tokio's `try_read_buf`) overrides this; the
    /// default zeroes the room first.
    fn try_read_vec(&mut self, buf: &mut Vec<u8>, max: usize) -> Result<Option<usize>, Error> {
        let at = buf.len();
        buf.resize(at + max, 0);
        let r = self.try_read(&mut buf[at..]);
        let n = match r {
            Ok(Some(n)) => n,
            _ => 0,
        };
        buf.truncate(at + n);
        r
    }
}

/// The writing half of a stream that can wait for readiness.
pub trait ReadyWrite {
    /// Ready when the stream may take bytes (or has failed).
    fn poll_writable(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>>;
    /// Writes from `a` and then `b` (one gathered write where the stream
    /// can) without waiting: how many bytes it took, `Ok(None)` if none.
    fn try_write2(&mut self, a: &[u8], b: &[u8]) -> Result<Option<usize>, Error>;
    /// As [`ReadyRead::with_scratch`], for gathering frames into a write
    /// (a different buffer from the read one).
    fn with_scratch<T>(f: impl FnOnce(&mut [u8]) -> T) -> T;
}

/// Handshakes (our header first, then the peer's; docs/wire.md §7, item 20)
/// within the socket's handshake timeout and attaches the pipe, as
/// [`crate::stream::establish`] does for `embedded-io` streams. Failures
/// are counted in [`crate::Stats::handshake_failures`]; the caller drops
/// (closes) the stream.
pub async fn establish_ready<R: Runtime, Rd: ReadyRead, Wr: ReadyWrite>(
    sock: &SocketRef<R>,
    mut rd: Rd,
    mut wr: Wr,
    framing: Framing,
    url: &str,
    dialed: bool,
) -> Result<PipeDriver<R, ReadyReader<Rd>, ReadyWriter<Wr>>, Error> {
    let ours = sock.protocol().number();
    let peer = in_time(sock, pin!(handshake(&mut rd, &mut wr, ours))).await?;
    let limit = sock.options().frame_limit() as u64;
    counted(
        sock,
        attach(
            sock,
            peer,
            url,
            dialed,
            ReadyReader::new(rd, framing, limit, crate::frame::MAX_INITIAL_RESERVE),
            ReadyWriter::new(wr, framing),
        ),
    )
}

/// The SP header exchange over readiness I/O: the peer's protocol number.
async fn handshake<Rd: ReadyRead, Wr: ReadyWrite>(
    rd: &mut Rd,
    wr: &mut Wr,
    ours: u16,
) -> Result<u16, Error> {
    let h = header_of(ours);
    let mut off = 0;
    while off < h.len() {
        match wr.try_write2(&h[off..], &[])? {
            Some(n) => off += n,
            None => poll_fn(|cx| wr.poll_writable(cx)).await?,
        }
    }
    let mut h = [0u8; 8];
    let mut got = 0;
    while got < h.len() {
        match rd.try_read(&mut h[got..])? {
            Some(0) => return Err(ProtocolError::HandshakeIncomplete.into()),
            Some(n) => got += n,
            None => poll_fn(|cx| rd.poll_readable(cx)).await?,
        }
    }
    Ok(parse_handshake(&h)?)
}

/// The receiving half of a readiness pipe: decodes framed messages.
pub struct ReadyReader<Rd> {
    rd: Rd,
    dec: Decoder,
    /// Whole messages of the last read, not yet handed out.
    ready: VecDeque<Message>,
    /// Bad input after them: the pipe's end, once they are delivered.
    failed: Option<Error>,
}

impl<Rd: ReadyRead> ReadyReader<Rd> {
    /// Wraps `rd`; messages over `limit` bytes (0 = unlimited) close the
    /// pipe; at most `max_reserve` bytes are reserved for a body before they
    /// arrive.
    pub fn new(rd: Rd, framing: Framing, limit: u64, max_reserve: usize) -> Self {
        let mut dec = Decoder::new(framing, limit);
        dec.set_max_reserve(max_reserve);
        ReadyReader {
            rd,
            dec,
            ready: VecDeque::new(),
            failed: None,
        }
    }

    fn next(&mut self) -> Option<Result<Message, Error>> {
        match self.ready.pop_front() {
            Some(m) => Some(Ok(m)),
            None => self.failed.take().map(Err),
        }
    }

    /// One read without waiting: false if nothing was there.
    fn read_some(&mut self) -> Result<bool, Error> {
        // A large body: straight into its message, with the next frame's
        // prefix in the same read if it is there. A short rest is read
        // with what follows it instead (the copy is cheap, and a run of
        // small messages keeps taking one large read, not one per frame).
        let direct = self.dec.body_pending() >= DIRECT_MIN;
        if let Some((body, max)) = direct.then(|| self.dec.body_vec_ahead(AHEAD)).flatten() {
            return match self.rd.try_read_vec(body, max)? {
                None => Ok(false),
                Some(0) => Err(Error::ConnectionShutdown),
                Some(n) => {
                    let (m, next) = self.dec.advance_body_ahead(n);
                    if let Some(m) = m {
                        self.ready.push_back(m);
                    }
                    decode_all(
                        &mut self.dec,
                        next.as_slice(),
                        &mut self.ready,
                        &mut self.failed,
                    );
                    Ok(true)
                }
            };
        }
        let (rd, dec, ready, failed) = (
            &mut self.rd,
            &mut self.dec,
            &mut self.ready,
            &mut self.failed,
        );
        Rd::with_scratch(|chunk| {
            let n = match rd.try_read(chunk)? {
                None => return Ok(false),
                Some(0) => return Err(Error::ConnectionShutdown),
                Some(n) => n,
            };
            if n > KEEP_SLOTS * 16 && ready.capacity() <= KEEP_SLOTS && ready.is_empty() {
                // Possibly many small messages: a grown queue, if one is spare.
                if let Some(q) = SPARE_QUEUES.lock(|s| s.pop()) {
                    *ready = q;
                }
            }
            decode_all(dec, &chunk[..n], ready, failed);
            Ok(true)
        })
    }
}

/// Decodes all of `input`: whole messages join `ready`; bad input ends the
/// pipe (in `failed`) once they are delivered.
fn decode_all(
    dec: &mut Decoder,
    mut input: &[u8],
    ready: &mut VecDeque<Message>,
    failed: &mut Option<Error>,
) {
    while !input.is_empty() {
        match dec.decode(&mut input) {
            Ok(Some(m)) => ready.push_back(m),
            Ok(None) => {}
            Err(e) => {
                *failed = Some(e);
                break;
            }
        }
    }
}

impl<Rd: ReadyRead> PipeRead for ReadyReader<Rd> {
    fn try_recv(&mut self) -> Option<Result<Message, Error>> {
        self.next()
    }

    async fn recv(&mut self) -> Result<Message, Error> {
        loop {
            if let Some(r) = self.next() {
                return r;
            }
            if !self.read_some()? {
                if self.ready.capacity() > KEEP_SLOTS {
                    let q = core::mem::take(&mut self.ready);
                    let extra = SPARE_QUEUES.lock(|s| {
                        if s.len() < MAX_SPARES {
                            s.push(q);
                            None
                        } else {
                            Some(q)
                        }
                    });
                    drop(extra); // freed outside the lock
                }
                poll_fn(|cx| self.rd.poll_readable(cx)).await?;
            }
        }
    }
}

/// The sending half of a readiness pipe: frames and gathers messages.
pub struct ReadyWriter<Wr> {
    wr: Wr,
    framing: Framing,
    /// Bytes of a gathered write the stream did not take, written first.
    pending: Vec<u8>,
    /// A large body being written from its message, and how far.
    body: Option<(Message, usize)>,
}

impl<Wr: ReadyWrite> ReadyWriter<Wr> {
    /// Wraps `wr`.
    pub fn new(wr: Wr, framing: Framing) -> Self {
        ReadyWriter {
            wr,
            framing,
            pending: Vec::new(),
            body: None,
        }
    }

    /// Writes what an earlier write left, without waiting: false if the
    /// stream took nothing.
    fn write_left(&mut self) -> Result<bool, Error> {
        let body: &[u8] = match &self.body {
            Some((m, off)) => &m.body()[*off..],
            None => &[],
        };
        let Some(n) = self.wr.try_write2(&self.pending, body)? else {
            return Ok(false);
        };
        let from_pending = n.min(self.pending.len());
        self.pending.drain(..from_pending);
        if let Some((m, off)) = &mut self.body {
            *off += n - from_pending;
            if *off == m.body().len() {
                self.body = None;
            }
        }
        Ok(true)
    }

    /// Gathers whole frames from the front of `batch` into one write (a
    /// large body goes from its message, after its prefix and header) and
    /// writes without waiting; what the stream does not take is kept.
    fn write_batch(&mut self, batch: &mut VecDeque<Message>) -> Result<(), Error> {
        Wr::with_scratch(|buf| self.gather_and_write(buf, batch))
    }

    fn gather_and_write(
        &mut self,
        buf: &mut [u8],
        batch: &mut VecDeque<Message>,
    ) -> Result<(), Error> {
        let cap = buf.len();
        let mut len = 0;
        let mut big = None;
        while let Some(m) = batch.front() {
            let mut p = [0u8; MAX_PREFIX];
            let np = encode_prefix(self.framing, m.len() as u64, &mut p);
            let head = np + m.header().len();
            let large = m.body().len() > COPY_MAX || head + m.body().len() > cap;
            let need = head + if large { 0 } else { m.body().len() };
            // The first frame always fits: headers are bounded far below
            // the buffer, and a body over COPY_MAX is not copied.
            if len > 0 && len + need > cap {
                break;
            }
            buf[len..len + np].copy_from_slice(&p[..np]);
            len += np;
            buf[len..len + m.header().len()].copy_from_slice(m.header());
            len += m.header().len();
            let m = batch.pop_front().expect("front exists");
            if large {
                big = Some(m);
                break;
            }
            buf[len..len + m.body().len()].copy_from_slice(m.body());
            len += m.body().len();
        }
        let body: &[u8] = big.as_ref().map_or(&[], |m| m.body());
        let n = self.wr.try_write2(&buf[..len], body)?.unwrap_or(0);
        if n < len {
            self.pending.extend_from_slice(&buf[n..len]);
            self.body = big.map(|m| (m, 0));
        } else if let Some(m) = big {
            let off = n - len;
            if off < m.body().len() {
                self.body = Some((m, off));
            }
        }
        Ok(())
    }
}

impl<Wr: ReadyWrite> PipeWrite for ReadyWriter<Wr> {
    async fn send(&mut self, batch: &mut VecDeque<Message>) -> Result<(), Error> {
        loop {
            if !self.pending.is_empty() || self.body.is_some() {
                if !self.write_left()? {
                    poll_fn(|cx| self.wr.poll_writable(cx)).await?;
                }
                continue;
            }
            if batch.is_empty() {
                break;
            }
            self.write_batch(batch)?;
        }
        // Nothing is held between batches.
        if self.pending.capacity() > 0 {
            self.pending = Vec::new();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream holding `bytes`, read `at_most` at a time; empty: would block.
    struct Bytes {
        bytes: Vec<u8>,
        at_most: usize,
    }

    impl ReadyRead for Bytes {
        fn poll_readable(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
            Poll::Ready(Ok(()))
        }
        fn try_read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
            if self.bytes.is_empty() {
                return Ok(None);
            }
            let n = buf.len().min(self.at_most).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes.drain(..n);
            Ok(Some(n))
        }
        fn with_scratch<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
            f(&mut [0; 64])
        }
    }

    #[test]
    fn the_default_vec_read_appends_only_what_was_read() {
        let mut s = Bytes {
            bytes: b"abcdefgh".to_vec(),
            at_most: 3,
        };
        let mut v = b"xy".to_vec();
        assert_eq!(s.try_read_vec(&mut v, 5).unwrap(), Some(3));
        assert_eq!(v, b"xyabc");
        assert_eq!(s.try_read_vec(&mut v, 2).unwrap(), Some(2));
        assert_eq!(v, b"xyabcde");
        s.bytes.clear();
        assert_eq!(s.try_read_vec(&mut v, 4).unwrap(), None);
        assert_eq!(v, b"xyabcde", "nothing read, nothing appended");
    }
}
