//! Protocol state machines, one module per protocol, named as nng names them.
//!
//! A machine is plain synchronous state: the socket engine calls it with
//! events (pipe added or removed, a pipe has room again, a message from a
//! pipe, the application sends or receives) and it acts through [`Io`]
//! (queue a message on a pipe, close a pipe, wake the application). No async,
//! no clock, no I/O: every machine is unit-tested without a runtime.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::task::Waker;

use crate::chan::Chan;
pub use crate::protocol::{name_of, Protocol};
use crate::stats::PipeStats;
pub use crate::stats::{DropReason, Stats};
use crate::{Error, Instant, Message, PipeId, SendError, SockOpt};

mod backtrace;
pub mod bus0;
pub mod pair0;
pub mod pair1;
pub mod pipeline0;
pub mod pubsub0;
pub mod reqrep0;
pub mod star;
pub mod survey0;

/// The machine of protocol `p`, cooked or raw; `seed` picks the first
/// request or survey id.
pub(crate) fn machine(p: Protocol, raw: bool, seed: u32) -> Box<dyn Machine> {
    match p {
        Protocol::Req0 => Box::new(reqrep0::Req0::new(raw, seed)),
        Protocol::Rep0 | Protocol::Respondent0 => Box::new(reqrep0::Rep0::new(raw)),
        Protocol::Surveyor0 => Box::new(survey0::Surveyor0::new(raw, seed)),
        Protocol::Bus0 => Box::new(bus0::Bus0::new(raw)),
        Protocol::Star0 => Box::new(star::Star0::new(raw)),
        Protocol::Pair0 => Box::new(pair0::Pair0::new(raw)),
        Protocol::Pair1 => Box::new(pair1::Pair1::new(raw)),
        Protocol::Pub0 => Box::new(pubsub0::Pub0::new(raw)),
        Protocol::Sub0 => Box::new(pubsub0::Sub0::new(raw)),
        Protocol::Push0 => Box::new(pipeline0::Push0::new(raw)),
        Protocol::Pull0 => Box::new(pipeline0::Pull0::new(raw)),
    }
}

/// What a machine did with a message from a pipe.
#[derive(Debug)]
pub enum Delivery {
    /// Taken (queued for the application, or dropped and counted).
    Taken,
    /// No room now: the engine keeps it on the pipe and retries after a
    /// receive. The message must be handed back exactly as it came (wire view
    /// unchanged), since it is parsed again on retry.
    Full(Message),
    /// The peer broke the protocol: the engine closes that pipe.
    Close(Error),
}

/// A context of a socket: an independent protocol state (own request id,
/// backtrace, survey, subscriptions) sharing the socket's pipes. The socket
/// itself is context [`CtxId::SOCKET`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CtxId(pub u32);

impl CtxId {
    /// The socket's own context.
    pub const SOCKET: CtxId = CtxId(0);
}

/// A protocol state machine. See the module docs for the contract.
///
/// Time reaches a machine only as [`Io::now`]; a machine that needs a timer
/// reports its next [`Machine::deadline`] for a context, and the engine calls
/// [`Machine::expire`] once that instant has passed (driven by the
/// application's pending operation on that context).
pub trait Machine: Send {
    /// A pipe was attached. An error rejects it (e.g. PAIR's second peer).
    fn add_pipe(&mut self, io: &mut Io<'_>, p: PipeId) -> Result<(), Error>;
    /// A pipe is gone; forget it.
    fn remove_pipe(&mut self, io: &mut Io<'_>, p: PipeId);
    /// A pipe that refused a message has room again.
    fn pipe_writable(&mut self, io: &mut Io<'_>, p: PipeId) {
        let _ = (io, p);
    }
    /// A message arrived from pipe `p` (whole SP payload in the body).
    fn pipe_recv(&mut self, io: &mut Io<'_>, p: PipeId, m: Message) -> Delivery;
    /// The application sends on `ctx`; `WouldBlock` hands the message back to wait.
    fn send(&mut self, io: &mut Io<'_>, ctx: CtxId, m: Message) -> Result<(), SendError>;
    /// The application receives on `ctx`; `WouldBlock` means wait.
    fn recv(&mut self, io: &mut Io<'_>, ctx: CtxId) -> Result<Message, Error>;
    /// A protocol option for `ctx` (the socket's applies to new contexts too).
    fn set_option(&mut self, io: &mut Io<'_>, ctx: CtxId, opt: &SockOpt) -> Result<(), Error> {
        let _ = (io, ctx, opt);
        Err(Error::NotSupported)
    }
    /// Creates context `ctx`; [`Error::NotSupported`] if the protocol (or raw
    /// mode) has none.
    fn open_ctx(&mut self, io: &mut Io<'_>, ctx: CtxId) -> Result<(), Error> {
        let _ = (io, ctx);
        Err(Error::NotSupported)
    }
    /// Drops context `ctx` and whatever it was doing.
    fn close_ctx(&mut self, io: &mut Io<'_>, ctx: CtxId) {
        let _ = (io, ctx);
    }
    /// A blocking `recv` on `ctx` begins (called once per operation, before
    /// its first [`Machine::recv`]). An error ends it at once: REQ and REP
    /// refuse a second `recv` while one already waits on the same context
    /// ([`Error::ProtocolState`], as nng). Non-blocking attempts (`try_recv`)
    /// do not call it.
    fn recv_begin(&mut self, io: &mut Io<'_>, ctx: CtxId) -> Result<(), Error> {
        let _ = (io, ctx);
        Ok(())
    }
    /// The blocking `recv` on `ctx` whose [`Machine::recv`] just returned
    /// [`Error::WouldBlock`] now waits (called each time it parks). Only a
    /// waiting operation is one the machine may cancel, wake or end.
    fn recv_parked(&mut self, io: &mut Io<'_>, ctx: CtxId) {
        let _ = (io, ctx);
    }
    /// A `recv` on `ctx` that was waiting has been abandoned: it timed out or
    /// its future was dropped. REQ and SURVEYOR end the request or survey
    /// (as nng: a later `recv` without a new `send` is
    /// [`Error::ProtocolState`]); a machine that wakes one waiting context
    /// per message passes the turn on.
    fn recv_cancelled(&mut self, io: &mut Io<'_>, ctx: CtxId) {
        let _ = (io, ctx);
    }
    /// True if the machine reads [`Io::now`] (has timers); others are spared
    /// a clock read per event.
    fn uses_time(&self) -> bool {
        false
    }
    /// When `ctx` next needs [`Machine::expire`] (resend, survey end).
    fn deadline(&self, ctx: CtxId) -> Option<Instant> {
        let _ = ctx;
        None
    }
    /// `ctx`'s deadline has passed.
    fn expire(&mut self, io: &mut Io<'_>, ctx: CtxId) {
        let _ = (io, ctx);
    }
    /// The earliest deadline of any context (the socket's timer task sleeps
    /// until then). A machine that sets a deadline also reports it with
    /// [`Io::arm`], so the timer learns of an earlier one at once.
    fn next_deadline(&self) -> Option<Instant> {
        None
    }
    /// The socket's timer fired: expire every context whose deadline has
    /// passed ([`Io::now`]), whether or not the application waits on it
    /// (REQ resends, a survey ends), as nng's timers do.
    fn on_timer(&mut self, io: &mut Io<'_>) {
        let _ = io;
    }
}

/// Which contexts to wake.
#[derive(Default)]
pub(crate) struct Notify {
    pub(crate) all: bool,
    pub(crate) ctxs: heapless::Vec<CtxId, 8>,
}

impl Notify {
    fn add(&mut self, c: CtxId) {
        if !self.all && !self.ctxs.contains(&c) && self.ctxs.push(c).is_err() {
            self.all = true;
        }
    }
    pub(crate) fn hits(&self, c: CtxId) -> bool {
        self.all || self.ctxs.contains(&c)
    }
    pub(crate) fn any(&self) -> bool {
        self.all || !self.ctxs.is_empty()
    }
}

/// A machine's window on the pipes: queue, evict, close, notify.
pub struct Io<'a> {
    pub(crate) pipes: &'a mut dyn Pipes,
    pub(crate) wakes: &'a mut Wakes,
    pub(crate) closes: &'a mut Vec<(PipeId, Error)>,
    pub(crate) stats: &'a mut Stats,
    pub(crate) now: Instant,
    pub(crate) recv_ready: Notify,
    pub(crate) send_ready: Notify,
    pub(crate) armed: Option<Instant>,
}

/// A machine's pipes as the engine (or a test) keeps them: the only way a
/// machine reaches a pipe, so machines know nothing of the engine.
pub(crate) trait Pipes {
    /// Pipe `p`'s outgoing queue, if `p` is attached.
    fn tx(&mut self, p: PipeId) -> Option<PipeTx<'_>>;
}

/// One pipe's outgoing side: its queue, the waker that tells the machine
/// it has room again, and its counters.
pub(crate) struct PipeTx<'a> {
    pub(crate) chan: &'a Chan,
    pub(crate) refill: &'a Waker,
    pub(crate) stats: &'a mut PipeStats,
}

impl Io<'_> {
    /// Queues `m` on pipe `p` if it has room; else hands it back (and the
    /// machine's `pipe_writable` is called when room appears).
    pub fn try_send(&mut self, p: PipeId, m: Message) -> Result<(), Message> {
        let Some(slot) = self.pipes.tx(p) else {
            return Err(m);
        };
        let len = m.len() as u64;
        match slot.chan.try_push(m, Some(slot.refill)) {
            Ok(w) => {
                self.stats.msgs_out += 1;
                self.stats.bytes_out += len;
                slot.stats.msgs_out += 1;
                slot.stats.bytes_out += len;
                if let Some(w) = w {
                    self.wakes.push(w);
                }
                Ok(())
            }
            Err(m) => Err(m),
        }
    }

    /// Queues `m` on `p`, evicting the oldest queued message if full. Returns
    /// the message that did not make it (evicted, or `m` if the pipe is gone).
    pub fn send_evict(&mut self, p: PipeId, m: Message) -> Option<Message> {
        let Some(slot) = self.pipes.tx(p) else {
            return Some(m);
        };
        let len = m.len() as u64;
        let (old, w) = slot.chan.push_evict(m);
        if let Some(w) = w {
            self.wakes.push(w);
        }
        self.stats.msgs_out += 1;
        self.stats.bytes_out += len;
        slot.stats.msgs_out += 1;
        slot.stats.bytes_out += len;
        if let Some(o) = &old {
            self.stats.msgs_out -= 1;
            self.stats.bytes_out -= o.len() as u64;
            slot.stats.msgs_out -= 1;
            slot.stats.bytes_out -= o.len() as u64;
            slot.stats.evicted += 1;
        }
        old
    }

    /// True if pipe `p` is attached.
    pub fn has_pipe(&mut self, p: PipeId) -> bool {
        self.pipes.tx(p).is_some()
    }

    /// True if `p` exists and its queue has room.
    pub fn writable(&mut self, p: PipeId) -> bool {
        self.pipes.tx(p).is_some_and(|s| s.chan.has_room())
    }

    /// Sets how many messages `p`'s outgoing queue holds.
    pub fn set_pipe_queue(&mut self, p: PipeId, n: usize) {
        if let Some(s) = self.pipes.tx(p) {
            s.chan.set_capacity(n);
        }
    }

    /// Closes pipe `p` (after this call returns) because of `e`.
    pub fn close_pipe(&mut self, p: PipeId, e: Error) {
        self.closes.push((p, e));
    }

    /// Wakes receivers of every context: a message is ready (or a state changed).
    pub fn notify_recv(&mut self) {
        self.recv_ready.all = true;
    }

    /// Wakes the receivers of one context.
    pub fn notify_recv_ctx(&mut self, c: CtxId) {
        self.recv_ready.add(c);
    }

    /// Wakes senders of every context: a send may succeed now.
    pub fn notify_send(&mut self) {
        self.send_ready.all = true;
    }

    /// Wakes the senders of one context.
    pub fn notify_send_ctx(&mut self, c: CtxId) {
        self.send_ready.add(c);
    }

    /// The time of this event.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Tells the socket's timer that some context now needs
    /// [`Machine::on_timer`] at `at` (see [`Machine::next_deadline`]).
    pub fn arm(&mut self, at: Instant) {
        self.armed = Some(self.armed.map_or(at, |a| a.min(at)));
    }

    /// Counts a message dropped by the protocol, and why.
    pub fn count_drop(&mut self, why: DropReason) {
        self.stats.count_drop(why);
    }
}

/// Wakers to wake once every lock is released.
#[derive(Default)]
pub(crate) struct Wakes {
    few: heapless::Vec<Waker, 8>,
    /// Overflow for wide fan-outs; its buffer is lent by the socket and
    /// returned after waking, so steady fan-out does not allocate.
    pub(crate) more: Vec<Waker>,
}

impl Wakes {
    pub(crate) fn push(&mut self, w: Waker) {
        if let Err(w) = self.few.push(w) {
            self.more.push(w);
        }
    }
    pub(crate) fn wake_all(&mut self) {
        for w in self.few.drain(..) {
            w.wake();
        }
        for w in self.more.drain(..) {
            w.wake();
        }
    }
}

/// A machine with pipes and no engine: the unit tests' harness, and (with
/// the `fuzzing` feature) the fuzz crate's way into every protocol machine.
/// Not API: hidden, and its shape follows the tests' needs.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod testing {
    use super::*;
    use crate::sync::Arc;
    use alloc::collections::{BTreeMap, VecDeque};

    /// A test pipe: an outgoing queue and its counters.
    pub(crate) struct TestPipe {
        tx: Arc<Chan>,
        stats: PipeStats,
    }

    /// One machine, its pipes (each an outgoing queue) and its counters.
    pub struct Harness {
        pub m: Box<dyn Machine>,
        pub(crate) pipes: BTreeMap<PipeId, TestPipe>,
        pub stats: Stats,
        pub closes: Vec<(PipeId, Error)>,
        pub recv_ready: bool,
        pub send_ready: bool,
        pub now: Instant,
    }

    struct Table<'a>(&'a mut BTreeMap<PipeId, TestPipe>);
    impl Pipes for Table<'_> {
        fn tx(&mut self, p: PipeId) -> Option<PipeTx<'_>> {
            self.0.get_mut(&p).map(|t| PipeTx {
                chan: &t.tx,
                refill: Waker::noop(),
                stats: &mut t.stats,
            })
        }
    }

    impl Harness {
        /// `p`'s machine, cooked or raw, with a fixed id seed.
        pub fn new(p: Protocol, raw: bool) -> Self {
            Harness {
                m: machine(p, raw, 0x1234_5678),
                pipes: BTreeMap::new(),
                stats: Stats::default(),
                closes: Vec::new(),
                recv_ready: false,
                send_ready: false,
                now: Instant::from_micros(0),
            }
        }

        /// Runs `f` on the machine with an [`Io`] over the harness's pipes.
        pub fn with<R>(&mut self, f: impl FnOnce(&mut dyn Machine, &mut Io<'_>) -> R) -> R {
            let mut wakes = Wakes::default();
            let mut table = Table(&mut self.pipes);
            let mut io = Io {
                pipes: &mut table,
                wakes: &mut wakes,
                closes: &mut self.closes,
                stats: &mut self.stats,
                now: self.now,
                recv_ready: Notify::default(),
                send_ready: Notify::default(),
                armed: None,
            };
            let r = f(&mut *self.m, &mut io);
            self.recv_ready |= io.recv_ready.any();
            self.send_ready |= io.send_ready.any();
            r
        }

        /// Adds pipe `id` with an outgoing queue of `cap` messages.
        pub fn add(&mut self, id: u32, cap: usize) -> Result<(), Error> {
            let p = PipeId(id);
            self.pipes.insert(
                p,
                TestPipe {
                    tx: Arc::new(Chan::new(cap)),
                    stats: PipeStats::default(),
                },
            );
            let r = self.with(|m, io| m.add_pipe(io, p));
            if r.is_err() {
                self.pipes.remove(&p);
            }
            r
        }

        /// True if pipe `id` is attached.
        pub fn has(&self, id: u32) -> bool {
            self.pipes.contains_key(&PipeId(id))
        }

        /// Removes pipe `id` (the machine is told first, as the engine does).
        pub fn remove(&mut self, id: u32) {
            let p = PipeId(id);
            self.with(|m, io| m.remove_pipe(io, p));
            self.pipes.remove(&p);
        }

        pub fn send(&mut self, body: &[u8]) -> Result<(), Error> {
            let msg = Message::from(body);
            self.with(|m, io| m.send(io, CtxId::SOCKET, msg))
                .map_err(|e| e.error)
        }

        pub fn send_msg(&mut self, msg: Message) -> Result<(), SendError> {
            self.with(|m, io| m.send(io, CtxId::SOCKET, msg))
        }

        /// One non-blocking attempt, as `try_recv`.
        pub fn recv(&mut self) -> Result<Message, Error> {
            self.with(|m, io| m.recv(io, CtxId::SOCKET))
        }

        /// The first attempt of a blocking `recv`, as the engine makes it:
        /// begin, attempt, and wait on [`Error::WouldBlock`].
        pub fn wait_recv(&mut self) -> Result<Message, Error> {
            self.with(|m, io| {
                m.recv_begin(io, CtxId::SOCKET)?;
                let r = m.recv(io, CtxId::SOCKET);
                if r == Err(Error::WouldBlock) {
                    m.recv_parked(io, CtxId::SOCKET);
                }
                r
            })
        }

        /// A later attempt of the blocking `recv` that waits (after a wake).
        pub fn repoll(&mut self) -> Result<Message, Error> {
            self.with(|m, io| {
                let r = m.recv(io, CtxId::SOCKET);
                if r == Err(Error::WouldBlock) {
                    m.recv_parked(io, CtxId::SOCKET);
                }
                r
            })
        }

        /// The waiting `recv` times out or is dropped.
        pub fn cancel_recv(&mut self) {
            self.with(|m, io| m.recv_cancelled(io, CtxId::SOCKET))
        }

        pub fn deliver(&mut self, id: u32, body: &[u8]) -> Delivery {
            let msg = Message::from(body);
            self.with(|m, io| m.pipe_recv(io, PipeId(id), msg))
        }

        /// Drains what was queued on pipe `id`, as messages.
        pub fn sent_msgs(&mut self, id: u32) -> Vec<Message> {
            let Some(slot) = self.pipes.get_mut(&PipeId(id)) else {
                return Vec::new();
            };
            let mut out = VecDeque::new();
            let mut cx = core::task::Context::from_waker(Waker::noop());
            let _ = slot.tx.poll_pop(&mut cx, &mut out, usize::MAX);
            // Popping made room: tell the machine, as the engine would.
            self.with(|m, io| m.pipe_writable(io, PipeId(id)));
            out.into_iter().collect()
        }

        /// Drains what was queued on pipe `id`, as header+body bytes.
        pub fn sent(&mut self, id: u32) -> Vec<Vec<u8>> {
            self.sent_msgs(id)
                .into_iter()
                .map(|m| {
                    let mut v = m.header().to_vec();
                    v.extend_from_slice(m.body());
                    v
                })
                .collect()
        }

        pub fn set(&mut self, o: SockOpt) -> Result<(), Error> {
            self.with(|m, io| m.set_option(io, CtxId::SOCKET, &o))
        }
    }

    #[cfg(test)]
    #[allow(unused)]
    pub(crate) fn chan(cap: usize) -> Arc<Chan> {
        Arc::new(Chan::new(cap))
    }
}
