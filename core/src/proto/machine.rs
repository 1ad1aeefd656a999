//! The contract between the socket engine and a protocol machine: the
//! [`Machine`] trait, the [`Io`] a machine acts through, and what a machine
//! answers for a message from a pipe ([`Delivery`]).

use alloc::vec::Vec;
use core::task::Waker;

use super::CtxId;
use crate::chan::Chan;
use crate::stats::{DropReason, PipeStats, Stats};
use crate::{Error, Instant, Message, PipeId, ProtocolError, SendError, SockOpt};

/// What a machine did with a message from a pipe ([`Machine::pipe_recv`]).
#[derive(Debug)]
pub enum Delivery {
    /// Taken: queued for the application, forwarded, or dropped and counted.
    Taken,
    /// No room now: the engine keeps the message on its pipe, reads nothing
    /// more from that pipe, and offers it again after the application has
    /// received (or changed an option) on any context. The message must be
    /// handed back exactly as it came, wire view unchanged (the header not
    /// split off), since it is parsed again when it is offered again.
    Full(Message),
    /// The peer broke the protocol: the engine counts a protocol error and
    /// closes that pipe with this error (its other pipes carry on).
    Close(Error),
}

impl Delivery {
    /// The peer sent a header that cannot be parsed.
    pub(crate) fn malformed() -> Self {
        Delivery::Close(ProtocolError::MalformedHeader.into())
    }
}

/// A protocol state machine: what a socket and each of its contexts do with
/// messages. One per socket, owned and driven by the socket engine.
///
/// A machine does no I/O, reads no clock, draws no random numbers after it
/// is made (its id seed is an argument) and never waits. The engine reports
/// events by calling its methods, one at a time under the socket's lock, and
/// lends it an [`Io`] for each call through which it acts. Every call must
/// be short: work in proportion to the message and the pipes it touches,
/// no allocation beyond the messages themselves in steady state.
///
/// # Inputs
///
/// **Pipes**, each reported by the task that runs it (a transport, or an
/// inproc peer socket):
///
/// * [`add_pipe`](Self::add_pipe): a pipe passed the handshake, the
///   protocol check and the application's hook. It is already reachable
///   through [`Io`]. An error refuses it (PAIR's second peer): the engine
///   takes it away again and never reports its removal.
/// * [`pipe_recv`](Self::pipe_recv): one message from a pipe, in the
///   pipe's order, its whole SP payload in the wire view (header, then
///   body; see [`Message::wire_word`]) and [`Message::pipe`] set. The
///   answer is a [`Delivery`]. While a pipe's message is refused with
///   [`Delivery::Full`], nothing else is read from that pipe.
/// * [`pipe_writable`](Self::pipe_writable): a pipe whose queue refused a
///   message ([`Io::try_send`] handed it back) has room again. It may also
///   come when nothing was refused.
/// * [`remove_pipe`](Self::remove_pipe): once for every pipe that was
///   added, after it is gone: [`Io`] no longer reaches it and whatever was
///   queued on it is lost (and counted by the engine).
///
/// **The application**, on a context: the socket's own
/// ([`CtxId::SOCKET`]) or one opened with [`open_ctx`](Self::open_ctx).
///
/// * Send: [`send`](Self::send) with the message. [`Error::WouldBlock`]
///   hands the message back: a non-blocking send (`try_send`) returns it
///   to the application; a blocking one waits until the machine calls
///   [`Io::notify_send`], then calls `send` again with the same message
///   (its timeout returns the message to the application without calling
///   the machine). Any other answer ends the operation.
/// * A non-blocking receive (`try_recv`): one [`recv`](Self::recv), whose
///   [`Error::WouldBlock`] is the application's answer.
/// * A blocking receive, in this order:
///   1. [`recv_begin`](Self::recv_begin) once, before anything else; an
///      error ends the operation with it (REQ and REP refuse a second
///      receive while one waits on the same context, as nng).
///   2. [`recv`](Self::recv). A message or an error other than
///      [`Error::WouldBlock`] ends the operation.
///   3. On [`Error::WouldBlock`], [`recv_parked`](Self::recv_parked) in the
///      same call of the engine: the operation now waits until the machine
///      names its context with [`Io::notify_recv_ctx`] (or
///      [`Io::notify_recv`]), or a deadline passes; then `recv` again
///      (step 2). Receives waiting on one context take turns in the order
///      they began: when woken, only the oldest calls `recv` again (a new
///      receive still makes its first attempt at once).
///   4. If it waited (step 3) and then ends without an answer from `recv`
///      (its timeout passed, or its future was dropped),
///      [`recv_cancelled`](Self::recv_cancelled), unless the socket is
///      closed. REQ and SURVEYOR end the request or survey there (as nng);
///      REP passes a request it had handed to this receive to the next.
/// * [`set_option`](Self::set_option): the options the engine does not
///   keep itself (timeouts, size limits and the like never reach a
///   machine). `ttl-max` reaches both: the engine checks its range on the
///   socket first, and takes [`Error::NotSupported`] from a machine that
///   has no use for it as success.
/// * [`open_ctx`](Self::open_ctx) with a fresh id, never
///   [`CtxId::SOCKET`]; an error means the context does not exist.
///   [`close_ctx`](Self::close_ctx) for an open one: the machine ends what
///   the context was doing and forgets it. The engine then wakes the
///   context's waiting operations, which call the machine again and must
///   get [`Error::Closed`]: `send`, `recv` and `recv_begin` on an unknown
///   context answer [`Error::Closed`], and the other calls ignore it (a
///   `recv_cancelled` may still come for it).
/// * Closing the socket removes every pipe (`remove_pipe` for each); no
///   other call follows but `close_ctx`.
///
/// **Time**, only for a machine whose [`uses_time`](Self::uses_time) is
/// true (asked once, when the socket is made; the others never get these
/// calls, and their [`Io::now`] is meaningless):
///
/// * The engine reads the clock before every call (once per lock taken);
///   [`Io::now`] is the event's time.
/// * Each operation on a context asks [`deadline`](Self::deadline) after
///   each attempt and wakes up by then at the latest; before each attempt
///   (send or receive), if that deadline has passed,
///   [`expire`](Self::expire) runs first. So a late operation catches up
///   at once.
/// * The socket's timer task, when the runtime runs one, sleeps until
///   [`next_deadline`](Self::next_deadline) and then calls
///   [`on_timer`](Self::on_timer), which handles every context whose
///   deadline has passed, waited on or not (REQ resends, a survey ends), as
///   nng's timers do. A machine that sets a deadline reports it with
///   [`Io::arm`] so that a timer task sleeping past it wakes up.
/// * Either path may come first, so both act once: after `expire(c)`,
///   `deadline(c)` is later than now or `None`; after `on_timer`, so is
///   `next_deadline`.
///
/// # Outputs
///
/// Through [`Io`]: queue a message on a pipe ([`Io::try_send`], or
/// [`Io::send_evict`] that drops the oldest queued one), size a pipe's
/// queue, wake the receivers of a context or of all and the senders of
/// all, arm the timer, count a drop; and through the answers: a
/// [`Delivery`], a message or an error for the application. Messages are
/// queued at once; wakes, and the close a [`Delivery::Close`] asks for,
/// take effect after the call returns and the lock is released, so a
/// machine is never called again from inside one of its own calls.
///
/// # What a machine must not do
///
/// * Panic, loop or grow without bound on anything a peer sends: a
///   malformed message is [`Delivery::Close`], or dropped and counted with
///   [`Io::count_drop`]. Queues are bounded by options.
/// * Keep or change a message it answers [`Delivery::Full`] with.
/// * Leave an operation waiting with nothing to wake it: a state change
///   that ends a waiting operation (a reply, a cancel, an expiry) names its
///   context with a notify. Spurious wakes are harmless (the operation asks
///   again and waits again), but cost a call.
pub(crate) trait Machine: Send {
    /// A pipe was attached. An error refuses it (e.g. PAIR's second peer).
    fn add_pipe(&mut self, io: &mut Io<'_>, p: PipeId) -> Result<(), Error>;
    /// Pipe `p` is gone (no longer reachable through `io`): forget it.
    fn remove_pipe(&mut self, io: &mut Io<'_>, p: PipeId);
    /// Pipe `p`, whose queue refused a message, has room again.
    fn pipe_writable(&mut self, io: &mut Io<'_>, p: PipeId) {
        let _ = (io, p);
    }
    /// A message arrived from pipe `p` (its whole SP payload in the wire view).
    fn pipe_recv(&mut self, io: &mut Io<'_>, p: PipeId, m: Message) -> Delivery;
    /// The application sends on `ctx`; `WouldBlock` hands the message back to wait.
    fn send(&mut self, io: &mut Io<'_>, ctx: CtxId, m: Message) -> Result<(), SendError>;
    /// The application receives on `ctx`; `WouldBlock` means wait.
    fn recv(&mut self, io: &mut Io<'_>, ctx: CtxId) -> Result<Message, Error>;
    /// A protocol option for `ctx` (the socket's applies to contexts opened
    /// later too); [`Error::NotSupported`] if it is not this protocol's.
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
    /// A blocking receive on `ctx` begins; an error ends it at once.
    fn recv_begin(&mut self, io: &mut Io<'_>, ctx: CtxId) -> Result<(), Error> {
        let _ = (io, ctx);
        Ok(())
    }
    /// The blocking receive on `ctx` whose [`Machine::recv`] just said
    /// [`Error::WouldBlock`] now waits. Only a waiting receive is one the
    /// machine may cancel, wake or end.
    fn recv_parked(&mut self, io: &mut Io<'_>, ctx: CtxId) {
        let _ = (io, ctx);
    }
    /// A receive on `ctx` that waited has been abandoned: it timed out or
    /// its future was dropped.
    fn recv_cancelled(&mut self, io: &mut Io<'_>, ctx: CtxId) {
        let _ = (io, ctx);
    }
    /// Asked after a receive took a message while pipes wait with messages
    /// the machine refused ([`Delivery::Full`]): true once they should be
    /// offered again. Machines whose receive queue refused answer true only
    /// when it is down to half its capacity, so a pipe held back by a full
    /// queue delivers a batch per retry instead of one message (and one
    /// refusal) per receive. A receive that finds nothing always retries.
    fn recv_room(&self) -> bool {
        true
    }
    /// A receive on `ctx` that waited has ended because the connection it
    /// waited on failed, and the application will receive again on the
    /// next one ([`crate::solo`], whose one connection is all it reads).
    /// Unlike a timeout, this ends nothing the receive waited for: REQ
    /// keeps its request, which goes out again on the next pipe. Others
    /// treat it as [`Machine::recv_cancelled`].
    fn recv_interrupted(&mut self, io: &mut Io<'_>, ctx: CtxId) {
        self.recv_cancelled(io, ctx);
    }
    /// True if the machine has timers (reads [`Io::now`]); the others are
    /// spared a clock read per event.
    fn uses_time(&self) -> bool {
        false
    }
    /// True if the machine implements the blocking receive's lifecycle
    /// ([`Machine::recv_begin`], [`Machine::recv_parked`],
    /// [`Machine::recv_cancelled`]); the engine skips those calls for the
    /// others, sparing two machine calls per receive. Asked once, when the
    /// socket is made.
    fn tracks_receives(&self) -> bool {
        false
    }
    /// The machine refuses a second waiting receive on a context
    /// ([`Machine::recv_begin`] says [`Error::ProtocolState`]), so each
    /// context has at most one waiter. Asked once, when the socket is made.
    fn one_recv_per_ctx(&self) -> bool {
        false
    }
    /// Tests only: how many entries the machine keeps for waiting receives
    /// (stale ones included), to check that they stay bounded.
    #[cfg(test)]
    fn waiter_entries(&self) -> usize {
        0
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
    /// The earliest deadline of any context: the timer task sleeps until then.
    fn next_deadline(&self) -> Option<Instant> {
        None
    }
    /// The timer task woke: handle every context whose deadline has passed.
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

/// A machine's window on its pipes and on the engine for one call: queue,
/// evict, notify, arm, count. (A pipe is closed by answering
/// [`Delivery::Close`] for its message.)
pub(crate) struct Io<'a> {
    pub(crate) pipes: &'a mut dyn Pipes,
    pub(crate) wakes: &'a mut Wakes,
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

impl<'a> Io<'a> {
    /// A window on `pipes` for one call at time `now`; what the machine
    /// asks to be woken is read from it afterwards.
    pub(crate) fn new(
        pipes: &'a mut dyn Pipes,
        wakes: &'a mut Wakes,
        stats: &'a mut Stats,
        now: Instant,
    ) -> Self {
        Io {
            pipes,
            wakes,
            stats,
            now,
            recv_ready: Notify::default(),
            send_ready: Notify::default(),
            armed: None,
        }
    }

    /// Queues `m` on pipe `p` if it has room; else hands it back (and the
    /// machine's `pipe_writable` is called when room appears).
    pub(crate) fn try_send(&mut self, p: PipeId, m: Message) -> Result<(), Message> {
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
    pub(crate) fn send_evict(&mut self, p: PipeId, m: Message) -> Option<Message> {
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
    pub(crate) fn has_pipe(&mut self, p: PipeId) -> bool {
        self.pipes.tx(p).is_some()
    }

    /// Sets how many messages `p`'s outgoing queue holds.
    pub(crate) fn set_pipe_queue(&mut self, p: PipeId, n: usize) {
        if let Some(s) = self.pipes.tx(p) {
            s.chan.set_capacity(n);
        }
    }

    /// Wakes receivers of every context: a message is ready (or a state changed).
    pub(crate) fn notify_recv(&mut self) {
        self.recv_ready.all = true;
    }

    /// Wakes the receivers of one context.
    pub(crate) fn notify_recv_ctx(&mut self, c: CtxId) {
        self.recv_ready.add(c);
    }

    /// Wakes senders of every context: a send may succeed now.
    pub(crate) fn notify_send(&mut self) {
        self.send_ready.all = true;
    }

    /// The time of this event.
    pub(crate) fn now(&self) -> Instant {
        self.now
    }

    /// Tells the socket's timer that some context now needs
    /// [`Machine::on_timer`] at `at` (see [`Machine::next_deadline`]).
    pub(crate) fn arm(&mut self, at: Instant) {
        self.armed = Some(self.armed.map_or(at, |a| a.min(at)));
    }

    /// Counts a message dropped by the protocol, and why.
    pub(crate) fn count_drop(&mut self, why: DropReason) {
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
        // In the order they were pushed; usually none or one, so no drain
        // iterators (their set-up and drop cost more than the wakes).
        if !self.few.is_empty() {
            for w in core::mem::take(&mut self.few) {
                w.wake();
            }
        }
        if !self.more.is_empty() {
            // In order, each waker consumed by its wake (a no-op one left
            // in its place), the buffer kept (it is lent), and no
            // `Vec::drain` code linked.
            for w in self.more.iter_mut() {
                core::mem::replace(w, Waker::noop().clone()).wake();
            }
            self.more.clear();
        }
    }
}
