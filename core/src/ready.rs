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
use core::task::{Context, Poll, Waker};

use portable_atomic::{AtomicBool, Ordering};
use portable_atomic_util::task::Wake;

use crate::chan::Chan;
use crate::frame::{
    encode_prefix, handshake as header_of, parse_handshake, Decoder, Framing, AHEAD, MAX_PREFIX,
};
use crate::proto::Wakes;
use crate::stream::{counted, in_time};
use crate::sync::{Arc, Mutex, Weak};
use crate::transport::{attach, PipeDriver, PipeRead, PipeWrite, POP_MOST};
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
pub async fn establish_ready<R: Runtime, Rd: ReadyRead, Wr: ReadyWrite + Send + 'static>(
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
    let writer = ReadyWriter::new(wr, framing);
    let reader = ReadyReader::new(rd, framing, limit, crate::frame::MAX_INITIAL_RESERVE);
    counted(sock, attach(sock, peer, url, dialed, reader, writer))
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
///
/// A message that answers the peer is written by the task that queued it:
/// once the pipe has delivered messages, the next message queued on it (a
/// reply, the next request) is framed and written at once by the task that
/// sends it, instead of waking the pipe's task to do so. On the blocking
/// API that saves a hand-over to the runtime's thread per message; on a
/// runtime, a task poll. Everything else (a stream of messages, what the
/// stream does not take at once, a long run of bytes) is written by the
/// pipe's task, which gathers what is queued into as few writes as it
/// can, as before. A pipe that has sent nothing yet keeps its state here
/// and allocates nothing for this.
pub struct ReadyWriter<Wr> {
    state: Writer<Wr>,
    /// The last round ended with the shared state's waker in the queue:
    /// the pipe's task has nothing to do here until `kick` says so.
    parked: bool,
}

enum Writer<Wr> {
    /// Nothing sent yet: the state is here, and nothing more is allocated
    /// (an idle pipe costs what it did before the direct write).
    Own(WriteCore<Wr>),
    Shared(Arc<WriteShared<Wr>>),
    /// Only while moving from one to the other.
    Moving,
}

/// A writer's state once shared between the pipe's task and the tasks that
/// queue messages; as a waker ([`Wake`]), what waits in the pipe's queue: a
/// push wakes it, and it writes an answer from the pushing task if it can,
/// and otherwise wakes the pipe's task.
struct WriteShared<Wr> {
    w: Mutex<WriteState<Wr>>,
    /// The pipe's outgoing queue (weak: it holds this as its waker).
    q: Weak<Chan>,
    /// The pipe's task, for the writes the pushing task leaves to it.
    task: Mutex<Option<Waker>>,
    /// Set before the pipe's task is woken for the writer: a task woken
    /// for its reader alone leaves the writer (and its locks) alone.
    kick: AtomicBool,
}

struct WriteState<Wr> {
    core: WriteCore<Wr>,
    /// Messages taken from the pipe's queue, not yet written.
    batch: VecDeque<Message>,
    /// A write failed or the queue closed: every later round says so.
    failed: Option<Error>,
}

/// The stream and what a write left of the messages given to it.
struct WriteCore<Wr> {
    wr: Wr,
    framing: Framing,
    /// Bytes of a gathered write the stream did not take, written first.
    pending: Vec<u8>,
    /// A large body being written from its message, and how far.
    body: Option<(Message, usize)>,
}

/// How a round of [`WriteState::write_now`] ended.
enum Step {
    /// Everything is written and the queue is empty: the park waker waits
    /// in it for the next message.
    Parked,
    /// The stream takes nothing more now; the rest is kept.
    Full,
    /// A long run moved ([`POP_MOST`] bytes): the pipe's task goes on after
    /// the executor's other tasks have had their turn.
    Turn,
}

impl<Wr: ReadyWrite> ReadyWriter<Wr> {
    /// Wraps `wr`.
    pub fn new(wr: Wr, framing: Framing) -> Self {
        ReadyWriter {
            state: Writer::Own(WriteCore {
                wr,
                framing,
                pending: Vec::new(),
                body: None,
            }),
            parked: false,
        }
    }

    /// Runs `f` on the stream's state, wherever it is.
    fn with_core<T>(&mut self, f: impl FnOnce(&mut WriteCore<Wr>) -> T) -> T {
        match &mut self.state {
            Writer::Own(c) => f(c),
            Writer::Shared(s) => s.w.lock(|w| f(&mut w.core)),
            Writer::Moving => unreachable!("a writer's state is here or shared"),
        }
    }
}

impl<Wr: ReadyWrite> WriteCore<Wr> {
    fn has_left(&self) -> bool {
        !self.pending.is_empty() || self.body.is_some()
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
            let Some(m) = batch.pop_front() else { break };
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

impl<Wr: ReadyWrite> WriteState<Wr> {
    /// One round without waiting, from whichever task runs it (the pipe's,
    /// or one that queued a message): what an earlier write left, the
    /// messages taken, then more from `q`, until the stream is full, a long
    /// run has moved, or `q` is empty (then `park` waits in it). A
    /// failure is kept: every later round reports it.
    ///
    /// The producer's waker (the socket's refill, which runs the machine
    /// and may push more) goes to `later`, to be woken once this state's
    /// lock is released: nothing of the socket runs under it.
    fn write_now(&mut self, q: &Chan, park: &Waker, later: &mut Wakes) -> Result<Step, Error> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let r = self.write_round(q, park, later);
        if let Err(e) = r {
            self.failed = Some(e);
        }
        r
    }

    fn write_round(&mut self, q: &Chan, park: &Waker, later: &mut Wakes) -> Result<Step, Error> {
        let mut moved = 0usize;
        loop {
            if self.core.has_left() {
                if !self.core.write_left()? {
                    return Ok(Step::Full);
                }
                continue;
            }
            if !self.batch.is_empty() {
                let mut batch = core::mem::take(&mut self.batch);
                let r = self.core.write_batch(&mut batch);
                self.batch = batch;
                r?;
                continue;
            }
            // Without `std` there is no bound (`POP_MOST` is `usize::MAX`).
            #[allow(clippy::absurd_extreme_comparisons)]
            if moved >= POP_MOST {
                q.written();
                return Ok(Step::Turn);
            }
            let (r, w) = q.pop_or_park(park, &mut self.batch, POP_MOST);
            if let Some(w) = w {
                later.push(w);
            }
            match r {
                Poll::Pending => {
                    q.written();
                    // Nothing is held between batches.
                    if self.core.pending.capacity() > 0 {
                        self.core.pending = Vec::new();
                    }
                    return Ok(Step::Parked);
                }
                Poll::Ready(Err(())) => return Err(Error::Closed),
                Poll::Ready(Ok(())) => moved += self.batch.iter().map(Message::len).sum::<usize>(),
            }
        }
    }
}

impl<Wr: ReadyWrite + Send + 'static> Wake for WriteShared<Wr> {
    fn wake(this: Arc<Self>) {
        Self::wake_by_ref(&this);
    }

    fn wake_by_ref(this: &Arc<Self>) {
        if let Some(q) = this.q.upgrade() {
            if q.take_answered() {
                let park = Waker::from(this.clone());
                let mut later = Wakes::default();
                // Busy (the pipe's task is writing): it sees the message.
                let r = this.w.try_lock(|w| w.write_now(&q, &park, &mut later));
                later.wake_all();
                if let Some(Ok(Step::Parked)) = r {
                    return;
                }
            }
        }
        this.kick.store(true, Ordering::Release);
        if let Some(t) = this.task.lock(|t| t.clone()) {
            t.wake();
        }
    }
}

impl<Wr: ReadyWrite + Send + 'static> PipeWrite for ReadyWriter<Wr> {
    async fn send(&mut self, batch: &mut VecDeque<Message>) -> Result<(), Error> {
        loop {
            let left = self.with_core(|w| -> Result<bool, Error> {
                loop {
                    if w.has_left() {
                        if !w.write_left()? {
                            return Ok(true);
                        }
                        continue;
                    }
                    if batch.is_empty() {
                        // Nothing is held between batches.
                        if w.pending.capacity() > 0 {
                            w.pending = Vec::new();
                        }
                        return Ok(false);
                    }
                    w.write_batch(batch)?;
                }
            })?;
            if !left {
                return Ok(());
            }
            poll_fn(|cx| self.with_core(|w| w.wr.poll_writable(cx))).await?;
        }
    }

    #[allow(private_interfaces)]
    fn poll_direct(
        &mut self,
        cx: &mut Context<'_>,
        q: &Arc<Chan>,
    ) -> Option<Poll<Result<(), Error>>> {
        if let Writer::Own(_) = self.state {
            // Nothing sent yet: the pipe's own waker waits in the queue,
            // and the state is shared once there is a first message.
            let mut batch = VecDeque::new();
            let (r, w) = q.pop_or_park(cx.waker(), &mut batch, POP_MOST);
            if let Some(w) = w {
                w.wake();
            }
            match r {
                Poll::Pending => return Some(Poll::Pending),
                Poll::Ready(Err(())) => return Some(Poll::Ready(Err(Error::Closed))),
                Poll::Ready(Ok(())) => {}
            }
            let Writer::Own(core) = core::mem::replace(&mut self.state, Writer::Moving) else {
                return None;
            };
            self.state = Writer::Shared(Arc::new(WriteShared {
                w: Mutex::new(WriteState {
                    core,
                    batch,
                    failed: None,
                }),
                q: Arc::downgrade(q),
                task: Mutex::new(None),
                kick: AtomicBool::new(false),
            }));
        }
        let Writer::Shared(shared) = &self.state else {
            return None;
        };
        // Kept current even when there is nothing to do: a task polled with
        // a new waker is woken with that one.
        shared.task.lock(|t| {
            if !t.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
                *t = Some(cx.waker().clone());
            }
        });
        if self.parked && !shared.kick.swap(false, Ordering::AcqRel) {
            return Some(Poll::Pending);
        }
        self.parked = false;
        let park = Waker::from(shared.clone());
        loop {
            let mut later = Wakes::default();
            let r = shared.w.lock(|w| w.write_now(q, &park, &mut later));
            // The refill may queue more at once (then `kick` is set): the
            // next round takes it in this same poll.
            later.wake_all();
            match r {
                Ok(Step::Parked) => {
                    if shared.kick.swap(false, Ordering::AcqRel) {
                        continue;
                    }
                    self.parked = true;
                    return Some(Poll::Pending);
                }
                // The driver gives way (`Runtime::yield_now`) and goes on.
                Ok(Step::Turn) => return Some(Poll::Ready(Ok(()))),
                Ok(Step::Full) => match shared.w.lock(|w| w.core.wr.poll_writable(cx)) {
                    Poll::Pending => return Some(Poll::Pending),
                    Poll::Ready(Ok(())) => continue,
                    Poll::Ready(Err(e)) => {
                        shared.w.lock(|w| w.failed = Some(e));
                        return Some(Poll::Ready(Err(e)));
                    }
                },
                Err(e) => return Some(Poll::Ready(Err(e))),
            }
        }
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

    /// The direct write (see [`ReadyWriter`]) against a stream in memory.
    mod direct {
        extern crate std;

        use super::*;
        use crate::frame::encode_message;
        use alloc::vec;
        use portable_atomic::AtomicUsize;
        use std::sync::Mutex as StdMutex;

        /// The bytes written, and how many more the stream takes.
        #[derive(Default)]
        struct WireState {
            bytes: Vec<u8>,
            room: usize,
            writable: Option<Waker>,
            broken: bool,
        }

        #[derive(Clone, Default)]
        struct Wire(Arc<StdMutex<WireState>>);

        impl Wire {
            fn with_room(room: usize) -> Self {
                let w = Wire::default();
                w.0.lock().unwrap().room = room;
                w
            }
            fn bytes(&self) -> Vec<u8> {
                self.0.lock().unwrap().bytes.clone()
            }
            /// From now on the stream takes `n` more bytes.
            fn room(&self, n: usize) {
                self.0.lock().unwrap().room = n;
            }
            /// From now on every write fails.
            fn break_it(&self) {
                self.0.lock().unwrap().broken = true;
            }
            /// Takes `n` more bytes; wakes whoever waits to write.
            fn open(&self, n: usize) {
                let w = {
                    let mut s = self.0.lock().unwrap();
                    s.room += n;
                    s.writable.take()
                };
                if let Some(w) = w {
                    w.wake();
                }
            }
        }

        impl ReadyWrite for Wire {
            fn poll_writable(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                let mut s = self.0.lock().unwrap();
                if s.broken {
                    return Poll::Ready(Err(Error::ConnectionReset));
                }
                if s.room > 0 {
                    return Poll::Ready(Ok(()));
                }
                s.writable = Some(cx.waker().clone());
                Poll::Pending
            }
            fn try_write2(&mut self, a: &[u8], b: &[u8]) -> Result<Option<usize>, Error> {
                let mut s = self.0.lock().unwrap();
                if s.broken {
                    return Err(Error::ConnectionReset);
                }
                let n = s.room.min(a.len() + b.len());
                if n == 0 {
                    return Ok(None);
                }
                let from_a = n.min(a.len());
                s.bytes.extend_from_slice(&a[..from_a]);
                s.bytes.extend_from_slice(&b[..n - from_a]);
                s.room -= n;
                Ok(Some(n))
            }
            fn with_scratch<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
                // Small, so that a batch takes several writes.
                f(&mut [0; 256])
            }
        }

        /// The pipe's task: counts its wake-ups.
        #[derive(Default)]
        struct Task(AtomicUsize);

        impl Wake for Task {
            fn wake(this: Arc<Self>) {
                this.0.fetch_add(1, Ordering::SeqCst);
            }
        }

        impl Task {
            fn woken(&self) -> usize {
                self.0.load(Ordering::SeqCst)
            }
        }

        fn frames(ms: &[Message]) -> Vec<u8> {
            let mut v = Vec::new();
            for m in ms {
                encode_message(Framing::Tcp, m, &mut v);
            }
            v
        }

        /// Queues `m` as the socket does, and wakes what the queue says.
        fn push(q: &Chan, m: Message) {
            match q.try_push(m, None) {
                Ok(Some(w)) => w.wake(),
                Ok(None) => {}
                Err(_) => panic!("no room in the queue"),
            }
        }

        /// The pipe's task polls the writer once.
        fn poll(
            w: &mut ReadyWriter<Wire>,
            q: &Arc<Chan>,
            task: &Arc<Task>,
        ) -> Poll<Result<(), Error>> {
            let waker = Waker::from(task.clone());
            w.poll_direct(&mut Context::from_waker(&waker), q)
                .expect("a readiness writer writes directly")
        }

        /// A writer whose pipe has sent `first` (so its state is shared
        /// and its waker waits in the queue), and the pipe's task.
        fn started(wire: &Wire, q: &Arc<Chan>, first: &Message) -> (ReadyWriter<Wire>, Arc<Task>) {
            let mut w = ReadyWriter::new(wire.clone(), Framing::Tcp);
            let task = Arc::new(Task::default());
            assert!(poll(&mut w, q, &task).is_pending());
            assert!(
                matches!(w.state, Writer::Own(_)),
                "nothing sent, nothing shared"
            );
            push(q, first.clone());
            assert_eq!(task.woken(), 1, "the first message is the pipe's task's");
            assert!(poll(&mut w, q, &task).is_pending());
            assert!(matches!(w.state, Writer::Shared(_)));
            assert_eq!(wire.bytes(), frames(core::slice::from_ref(first)));
            (w, task)
        }

        #[test]
        fn an_answer_is_written_by_the_task_that_queues_it_and_a_stream_by_the_pipes_task() {
            let wire = Wire::with_room(usize::MAX);
            let q = Arc::new(Chan::new(16));
            let ms: Vec<Message> = ["one", "two", "three", "four", "five"]
                .into_iter()
                .map(Message::from)
                .collect();
            let (mut w, task) = started(&wire, &q, &ms[0]);

            // Nothing delivered since: the next one is the pipe's task's.
            push(&q, ms[1].clone());
            assert_eq!(wire.bytes(), frames(&ms[..1]));
            assert_eq!(task.woken(), 2);
            push(&q, ms[2].clone()); // gathered with it, no second wake-up
            assert_eq!(task.woken(), 2);
            assert!(poll(&mut w, &q, &task).is_pending());
            assert_eq!(wire.bytes(), frames(&ms[..3]));

            // The pipe delivers messages: the answer goes at once.
            q.answered();
            push(&q, ms[3].clone());
            assert_eq!(wire.bytes(), frames(&ms[..4]));
            assert_eq!(task.woken(), 2, "the answer did not wake the pipe's task");

            // A task woken for its reader alone does no writer's work: a
            // message queued without its wake-up (the engine always wakes)
            // waits for that wake-up.
            let wake = match q.try_push(ms[4].clone(), None) {
                Ok(Some(w)) => w,
                _ => panic!("the writer's waker waits in the queue"),
            };
            assert!(poll(&mut w, &q, &task).is_pending());
            assert_eq!(wire.bytes(), frames(&ms[..4]));
            wake.wake();
            assert_eq!(task.woken(), 3, "no answer pending: the pipe's task");
            assert!(poll(&mut w, &q, &task).is_pending());
            assert_eq!(wire.bytes(), frames(&ms));
        }

        #[test]
        fn what_a_direct_write_leaves_the_pipes_task_finishes_in_order() {
            let wire = Wire::with_room(usize::MAX);
            let q = Arc::new(Chan::new(16));
            let first = Message::from("first");
            let (mut w, task) = started(&wire, &q, &first);
            let ms = [
                first,
                Message::from(vec![1u8; 40]),
                Message::from(vec![2u8; 20 << 10]), // written from its message
                Message::from(vec![3u8; 7]),
            ];
            let sent = wire.bytes().len();
            wire.room(5);
            q.answered();
            push(&q, ms[1].clone());
            assert_eq!(wire.bytes().len(), sent + 5, "what the stream took");
            assert_eq!(task.woken(), 2, "the rest is the pipe's task's");
            push(&q, ms[2].clone());
            push(&q, ms[3].clone());
            assert_eq!(task.woken(), 2);
            let want = frames(&ms);
            let mut polls = 0;
            while wire.bytes().len() < want.len() {
                assert!(poll(&mut w, &q, &task).is_pending());
                wire.open(3000);
                polls += 1;
                assert!(polls < 100, "the writer stopped");
            }
            assert!(poll(&mut w, &q, &task).is_pending());
            assert_eq!(wire.bytes(), want);
            assert!(task.woken() > 2, "woken when the stream took more");
        }

        #[test]
        fn a_failed_stream_fails_the_direct_write_and_then_the_pipe() {
            let wire = Wire::with_room(usize::MAX);
            let q = Arc::new(Chan::new(16));
            let (mut w, task) = started(&wire, &q, &Message::from("first"));
            wire.break_it();
            q.answered();
            push(&q, Message::from("x"));
            assert_eq!(
                task.woken(),
                2,
                "the failure is the pipe's task's to report"
            );
            assert_eq!(
                poll(&mut w, &q, &task),
                Poll::Ready(Err(Error::ConnectionReset))
            );
        }

        #[test]
        fn direct_writes_beside_the_pipes_task_on_another_thread_keep_every_message_whole_and_in_order(
        ) {
            const N: u32 = 20_000;
            let wire = Wire::with_room(usize::MAX);
            let w = ReadyWriter::new(wire.clone(), Framing::Tcp);
            let q = Arc::new(Chan::new(16));
            let q2 = q.clone();
            // Both sides on threads of their own; a lost wake-up fails the
            // test at the watchdog instead of hanging it.
            let (done, finished) = std::sync::mpsc::channel();
            let done2 = done.clone();
            let pipe_task = std::thread::spawn(move || {
                let mut w = w;
                let why = loop {
                    let r = futures::executor::block_on(core::future::poll_fn(|cx| {
                        w.poll_direct(cx, &q2).unwrap()
                    }));
                    if let Err(e) = r {
                        break e;
                    }
                };
                done2.send(()).unwrap();
                why
            });
            let pusher = std::thread::spawn(move || {
                let mut want = Vec::new();
                for i in 0..N {
                    // Every third message answers a read; sizes from 4 bytes
                    // to past the copy limit, so writes split and bodies go
                    // whole.
                    if i % 3 == 0 {
                        q.answered();
                    }
                    let len = 4 + (i as usize * 7919) % if i % 97 == 0 { 20_000 } else { 300 };
                    let mut body = vec![(i % 251) as u8; len];
                    body[..4].copy_from_slice(&i.to_be_bytes());
                    let m = Message::from(body);
                    encode_message(Framing::Tcp, &m, &mut want);
                    let mut m = Some(m);
                    futures::executor::block_on(core::future::poll_fn(|cx| {
                        match q.try_push(m.take().unwrap(), Some(cx.waker())) {
                            Ok(w) => {
                                if let Some(w) = w {
                                    w.wake();
                                }
                                Poll::Ready(())
                            }
                            Err(back) => {
                                m = Some(back);
                                Poll::Pending
                            }
                        }
                    }));
                }
                // Everything queued is written before the queue's close ends
                // the writer.
                futures::executor::block_on(core::future::poll_fn(|cx| q.poll_flushed(cx)));
                for w in q.close().into_iter().flatten() {
                    w.wake();
                }
                done.send(()).unwrap();
                want
            });
            for _ in 0..2 {
                finished
                    .recv_timeout(std::time::Duration::from_secs(60))
                    .expect("the writer or the sender stopped (a lost wake-up)");
            }
            let want = pusher.join().unwrap();
            assert_eq!(pipe_task.join().unwrap(), Error::Closed);
            let got = wire.bytes();
            assert_eq!(got.len(), want.len());
            assert!(got == want, "the bytes differ from the frames in order");
        }
    }
}
