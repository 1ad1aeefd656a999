//! The socket engine: pipes, queues with back-pressure, deadlines, events.
//!
//! A socket owns one protocol [`Machine`] and a table of pipes. Each pipe is
//! two bounded channels ([`Chan`]): outgoing messages the machine queued, and
//! incoming messages a transport (or an inproc peer socket) delivered. The
//! engine moves incoming messages into the machine with a *pump* that runs on
//! whichever task delivered them (no hop to another task), and tells the
//! machine when a full outgoing queue has room again (*refill*). Both are
//! wakers, so transports and inproc peers notify a socket exactly as they
//! would notify a task.
//!
//! Nothing here names an executor: application operations are futures that
//! park on wakers, deadlines come from the [`Runtime`], and transports run in
//! futures the runtime crate polls (see [`crate::stream`]).

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::{Context, Poll, Waker};

use portable_atomic::{AtomicU32, Ordering};
use portable_atomic_util::task::Wake;

use crate::chan::Chan;
use crate::options::Options;
use crate::proto::{CtxId, Delivery, Io, Machine, Notify, PipeTable, Wakes};
use crate::sync::{Arc, Mutex, Weak};
use crate::url::{Scheme, Url};
use crate::{
    inproc, Error, Instant, Message, Protocol, ProtocolError, Runtime, SendError, SockOpt,
};

/// A pipe's identity: 31 bits, never 0, unique among live pipes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PipeId(pub u32);

impl fmt::Display for PipeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pipe#{}", self.0)
    }
}

/// What a pipe is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeInfo {
    /// Its id.
    pub id: PipeId,
    /// The peer's protocol number.
    pub peer: u16,
    /// The URL of the dialer or listener that made it.
    pub url: String,
    /// True if we dialed, false if we accepted.
    pub dialed: bool,
}

/// Pipe lifecycle events, as nng's `nng_pipe_notify` gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipeEvent {
    /// Before the pipe joins the socket; the hook may refuse it (`false`).
    AddPre,
    /// The pipe joined the socket.
    AddPost,
    /// The pipe left the socket.
    RemPost,
}

/// Counters of a socket, readable at any time on every target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages received from peers and taken by the protocol.
    pub msgs_in: u64,
    /// Bytes (header + body) of those.
    pub bytes_in: u64,
    /// Messages queued to peers.
    pub msgs_out: u64,
    /// Bytes of those.
    pub bytes_out: u64,
    /// Messages dropped by protocol policy, all reasons (the `drops_*`
    /// counters break it down; SUB's topic filtering is not a drop).
    pub drops: u64,
    /// ... because a queue was full (slow peer, full receive queue).
    pub drops_queue_full: u64,
    /// ... because they exceeded `ttl-max` hops.
    pub drops_hop_limit: u64,
    /// ... because they answered an old or unknown request or survey.
    pub drops_stale: u64,
    /// ... because a raw send named no pipe or a gone/full one.
    pub drops_unroutable: u64,
    /// ... because their header was bad in a way that is dropped, not closed.
    pub drops_malformed: u64,
    /// ... because the protocol never receives (e.g. PUSH, PUB's peers' input).
    pub drops_unwanted: u64,
    /// Messages lost because the pipe they were queued on closed.
    pub lost: u64,
    /// Pipes attached.
    pub pipes_added: u64,
    /// Pipes removed.
    pub pipes_removed: u64,
    /// Pipes refused (hook, protocol, wrong peer).
    pub pipes_rejected: u64,
    /// Failed SP handshakes (bad header, timeout, wrong peer).
    pub handshake_failures: u64,
    /// Pipes closed because the peer broke the protocol or a limit.
    pub protocol_errors: u64,
    /// Redials made by dialers.
    pub reconnects: u64,
    /// Failed accepts of listeners (e.g. out of file descriptors); each is
    /// followed by a pause, see [`crate::transport::accept_loop`].
    pub accept_errors: u64,
}

/// Counters of one pipe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipeStats {
    /// Messages received on this pipe and taken by the protocol.
    pub msgs_in: u64,
    /// Bytes of those.
    pub bytes_in: u64,
    /// Messages queued on this pipe.
    pub msgs_out: u64,
    /// Bytes of those.
    pub bytes_out: u64,
    /// Messages evicted from this pipe's full queue (PUB's slow subscriber).
    pub evicted: u64,
}

type HookFn = dyn Fn(PipeEvent, &PipeInfo) -> bool + Send + Sync;
struct Hook(Box<HookFn>);
type OnClose = Box<dyn FnOnce() + Send>;

pub(crate) struct PipeSlot {
    pub(crate) info: PipeInfo,
    pub(crate) tx: Arc<Chan>,
    pub(crate) rx: Arc<Chan>,
    pub(crate) refill: Waker,
    pub(crate) stats: PipeStats,
    pump: Waker,
    on_close: Option<OnClose>,
}

#[cfg(any(test, feature = "fuzzing"))]
impl PipeSlot {
    pub(crate) fn detached(id: PipeId, cap: usize) -> Self {
        PipeSlot {
            info: PipeInfo {
                id,
                peer: 0,
                url: String::new(),
                dialed: false,
            },
            tx: Arc::new(Chan::new(cap)),
            rx: Arc::new(Chan::new(cap)),
            refill: Waker::noop().clone(),
            stats: PipeStats::default(),
            pump: Waker::noop().clone(),
            on_close: None,
        }
    }
}

struct Table<'a>(&'a mut BTreeMap<PipeId, PipeSlot>);
impl PipeTable for Table<'_> {
    fn slot(&mut self, p: PipeId) -> Option<&mut PipeSlot> {
        self.0.get_mut(&p)
    }
}

/// Default capacity of each direction of a pipe, in messages.
pub(crate) const PIPE_QUEUE: usize = 16;
/// Messages a pump hands the machine per turn before letting others in.
const PUMP_TURN: usize = 64;

struct State {
    m: Box<dyn Machine>,
    pipes: BTreeMap<PipeId, PipeSlot>,
    blocked: VecDeque<PipeId>,
    recv_waiters: Vec<(CtxId, Waker)>,
    send_waiters: Vec<(CtxId, Waker)>,
    close_waiters: Vec<Waker>,
    /// Waiting for a pipe to attach ([`Socket::wait_for_pipes`]).
    pipe_waiters: Vec<Waker>,
    /// The timer task ([`SocketRef::run_timers`]) and when it wakes next.
    timer_waker: Option<Waker>,
    timer_at: Option<Instant>,
    next_ctx: u32,
    now: Instant,
    spare_wakes: Vec<Waker>,
    closes: Vec<(PipeId, Error)>,
    closed: bool,
    opts: Options,
    stats: Stats,
    hook: Option<Arc<Hook>>,
}

impl State {
    /// Runs the machine's timer for `ctx` if its deadline has passed.
    fn expire_due(&mut self, wakes: &mut Wakes, ctx: CtxId) {
        if self.m.deadline(ctx).is_some_and(|d| d <= self.now) {
            self.call(wakes, |m, io| m.expire(io, ctx));
        }
    }

    fn call<T>(
        &mut self,
        wakes: &mut Wakes,
        g: impl FnOnce(&mut dyn Machine, &mut Io<'_>) -> T,
    ) -> T {
        if wakes.more.capacity() == 0 && self.spare_wakes.capacity() > 0 {
            wakes.more = core::mem::take(&mut self.spare_wakes);
        }
        let mut table = Table(&mut self.pipes);
        let mut io = Io {
            pipes: &mut table,
            wakes,
            closes: &mut self.closes,
            stats: &mut self.stats,
            now: self.now,
            recv_ready: Notify::default(),
            send_ready: Notify::default(),
            armed: None,
        };
        let t = g(&mut *self.m, &mut io);
        let (rr, sr) = (io.recv_ready, io.send_ready);
        if let Some(at) = io.armed {
            // An earlier deadline than the timer task sleeps for: wake it.
            if self.timer_at.is_none_or(|t| at < t) {
                if let Some(w) = self.timer_waker.take() {
                    wakes.push(w);
                }
            }
        }
        wake_matching(&mut self.recv_waiters, &rr, wakes);
        wake_matching(&mut self.send_waiters, &sr, wakes);
        t
    }
}

fn wake_matching(list: &mut Vec<(CtxId, Waker)>, n: &Notify, wakes: &mut Wakes) {
    if list.is_empty() || !n.any() {
        return;
    }
    let mut i = 0;
    while i < list.len() {
        if n.hits(list[i].0) {
            wakes.push(list.swap_remove(i).1);
        } else {
            i += 1;
        }
    }
}

fn park(list: &mut Vec<Waker>, w: &Waker) {
    if !list.iter().any(|x| x.will_wake(w)) {
        list.push(w.clone());
    }
}

fn park_ctx(list: &mut Vec<(CtxId, Waker)>, c: CtxId, w: &Waker) {
    if !list.iter().any(|(k, x)| *k == c && x.will_wake(w)) {
        list.push((c, w.clone()));
    }
}

/// A timeout as the engine stores it: milliseconds, `u32::MAX` = none.
fn ms_of(d: Option<core::time::Duration>) -> u32 {
    d.map_or(u32::MAX, |d| {
        d.as_millis().min(u128::from(u32::MAX - 1)) as u32
    })
}

static NEXT_PIPE: AtomicU32 = AtomicU32::new(1);
static NEXT_SOCKET: AtomicU32 = AtomicU32::new(1);

pub(crate) struct Core<R: Runtime> {
    pub(crate) rt: R,
    pub(crate) proto: Protocol,
    pub(crate) raw: bool,
    pub(crate) id: u64,
    uses_time: bool,
    /// `send-timeout` / `recv-timeout` in milliseconds (`u32::MAX` = none),
    /// read by every operation without taking the socket lock.
    send_timeout_ms: AtomicU32,
    recv_timeout_ms: AtomicU32,
    me: Weak<Core<R>>,
    st: Mutex<State>,
}

struct PumpWake<R: Runtime> {
    core: Weak<Core<R>>,
    pipe: PipeId,
    rx: Arc<Chan>,
}

impl<R: Runtime> Wake for PumpWake<R> {
    fn wake(this: Arc<Self>) {
        Self::wake_by_ref(&this);
    }
    fn wake_by_ref(this: &Arc<Self>) {
        if let Some(core) = this.core.upgrade() {
            let me = Waker::from(this.clone());
            if core
                .pump(this.pipe, &this.rx, &me, PUMP_TURN, false)
                .yielded
            {
                core.unblock();
            }
        }
    }
}

struct RefillWake<R: Runtime> {
    core: Weak<Core<R>>,
    pipe: PipeId,
}

impl<R: Runtime> Wake for RefillWake<R> {
    fn wake(this: Arc<Self>) {
        Self::wake_by_ref(&this);
    }
    fn wake_by_ref(this: &Arc<Self>) {
        if let Some(core) = this.core.upgrade() {
            core.refill(this.pipe);
        }
    }
}

struct Pumped {
    delivered: usize,
    refused: bool,
    /// Parked out of turn with messages left: someone must call `unblock`.
    yielded: bool,
}

impl<R: Runtime> Core<R> {
    fn finish(&self, mut wakes: Wakes, closes: Vec<(PipeId, Error)>) {
        wakes.wake_all();
        if wakes.more.capacity() > 0 {
            let v = core::mem::take(&mut wakes.more);
            self.st.lock(|st| {
                if st.spare_wakes.capacity() < v.capacity() {
                    st.spare_wakes = v;
                }
            });
        }
        for (p, e) in closes {
            self.remove_pipe(p, e);
        }
    }

    /// Moves up to `limit` messages from `rx` into the machine.
    fn pump(
        &self,
        p: PipeId,
        rx: &Arc<Chan>,
        me: &Waker,
        limit: usize,
        park_front: bool,
    ) -> Pumped {
        let mut out = Pumped {
            delivered: 0,
            refused: false,
            yielded: false,
        };
        let mut first = true;
        loop {
            let mut batch: heapless::Vec<Message, 8> = heapless::Vec::new();
            let want = limit.saturating_sub(out.delivered);
            let taken = if first {
                first = false;
                match rx.pump_start(&mut batch, want) {
                    Some(t) => t,
                    None => return out,
                }
            } else {
                rx.pump_take(&mut batch, want)
            };
            if let Some(w) = taken.wake {
                w.wake();
            }
            let mut wakes = Wakes::default();
            let mut leftovers: heapless::Vec<Message, 8> = heapless::Vec::new();
            let mut gone = false;
            let mut parked = false;
            let closes = self.lock_now(|st| {
                if !st.pipes.contains_key(&p) {
                    gone = true;
                    return core::mem::take(&mut st.closes);
                }
                // Drained by reference: moving the array would copy all of it.
                let mut it = batch.drain(..);
                let (mut n_in, mut b_in) = (0u64, 0u64);
                while let Some(mut m) = it.next() {
                    let len = m.len() as u64;
                    m.set_pipe(Some(p));
                    match st.call(&mut wakes, |mch, io| mch.pipe_recv(io, p, m)) {
                        Delivery::Taken => {
                            out.delivered += 1;
                            n_in += 1;
                            b_in += len;
                        }
                        Delivery::Full(m) => {
                            let _ = leftovers.push(m);
                            for m in it.by_ref() {
                                let _ = leftovers.push(m);
                            }
                            out.refused = true;
                            parked = true;
                            break;
                        }
                        Delivery::Close(e) => {
                            st.stats.protocol_errors += 1;
                            st.closes.push((p, e));
                            gone = true;
                            break;
                        }
                    }
                }
                drop(it);
                st.stats.msgs_in += n_in;
                st.stats.bytes_in += b_in;
                if let Some(slot) = st.pipes.get_mut(&p) {
                    slot.stats.msgs_in += n_in;
                    slot.stats.bytes_in += b_in;
                }
                if !parked && !gone && out.delivered >= limit && rx.len() > 0 {
                    parked = true; // out of turn: others go first
                    out.yielded = true;
                }
                if parked && !st.blocked.contains(&p) {
                    if park_front && out.refused {
                        st.blocked.push_front(p);
                    } else {
                        st.blocked.push_back(p);
                    }
                }
                core::mem::take(&mut st.closes)
            });
            if !leftovers.is_empty() {
                rx.unpop(leftovers.drain(..));
            }
            self.finish(wakes, closes);
            if gone {
                rx.pump_abort();
                return out;
            }
            if taken.closed {
                rx.pump_abort();
                self.remove_pipe(p, Error::ConnectionShutdown);
                return out;
            }
            if !rx.pump_end(parked, me) {
                return out;
            }
        }
    }

    /// A pipe's outgoing queue has room (or closed).
    fn refill(&self, p: PipeId) {
        let mut wakes = Wakes::default();
        let mut dead = false;
        let closes = self.lock_now(|st| {
            match st.pipes.get(&p) {
                None => return Vec::new(),
                Some(s) if s.tx.is_closed() => dead = true,
                Some(_) => st.call(&mut wakes, |m, io| m.pipe_writable(io, p)),
            }
            core::mem::take(&mut st.closes)
        });
        self.finish(wakes, closes);
        if dead {
            self.remove_pipe(p, Error::ConnectionShutdown);
        }
    }

    /// Lets parked pipes deliver, oldest first, one message each per round.
    fn unblock(&self) {
        loop {
            let next = self.st.lock(|st| {
                while let Some(p) = st.blocked.pop_front() {
                    if let Some(s) = st.pipes.get(&p) {
                        return Some((p, s.rx.clone(), s.pump.clone()));
                    }
                }
                None
            });
            let Some((p, rx, w)) = next else { return };
            let r = self.pump(p, &rx, &w, 1, true);
            if r.refused {
                return;
            }
        }
    }

    pub(crate) fn remove_pipe(&self, p: PipeId, _why: Error) {
        let mut wakes = Wakes::default();
        let (slot, closes, hook) = self.lock_now(|st| {
            let Some(slot) = st.pipes.remove(&p) else {
                return (None, Vec::new(), None);
            };
            st.call(&mut wakes, |m, io| m.remove_pipe(io, p));
            st.stats.pipes_removed += 1;
            st.blocked.retain(|&q| q != p);
            // A closed socket's last pipe takes the hook with it (see close).
            let hook = if st.closed && st.pipes.is_empty() {
                st.hook.take()
            } else {
                st.hook.clone()
            };
            (Some(slot), core::mem::take(&mut st.closes), hook)
        });
        if let Some(mut slot) = slot {
            for w in slot.tx.close().into_iter().chain(slot.rx.close()).flatten() {
                wakes.push(w);
            }
            // What we had queued and the peer never took is lost, and counted
            // here. What the peer queued for us is the peer's to count (an
            // inproc peer counts it when it sees the closure).
            let lost = slot.tx.clear() as u64;
            if lost > 0 {
                self.st.lock(|st| st.stats.lost += lost);
            }
            if let Some(h) = hook {
                (h.0)(PipeEvent::RemPost, &slot.info);
            }
            if let Some(f) = slot.on_close.take() {
                f();
            }
        }
        self.finish(wakes, closes);
    }

    /// Joins a pipe made of two channels to the socket.
    pub(crate) fn attach(
        &self,
        peer: u16,
        url: &str,
        dialed: bool,
        tx: Arc<Chan>,
        rx: Arc<Chan>,
        on_close: Option<OnClose>,
    ) -> Result<PipeId, Error> {
        let expected = self.proto.peer_number();
        if peer != expected {
            self.st.lock(|st| st.stats.pipes_rejected += 1);
            return Err(ProtocolError::PeerMismatch {
                expected,
                got: peer,
            }
            .into());
        }
        let (id, hook) = self.st.lock(|st| {
            if st.closed {
                return Err(Error::Closed);
            }
            loop {
                let n = NEXT_PIPE.fetch_add(1, Ordering::Relaxed) & 0x7fff_ffff;
                if n != 0 && !st.pipes.contains_key(&PipeId(n)) {
                    return Ok((PipeId(n), st.hook.clone()));
                }
            }
        })?;
        let info = PipeInfo {
            id,
            peer,
            url: url.into(),
            dialed,
        };
        if let Some(h) = &hook {
            if !(h.0)(PipeEvent::AddPre, &info) {
                self.st.lock(|st| st.stats.pipes_rejected += 1);
                return Err(Error::Rejected);
            }
        }
        let weak = self.me.clone();
        let pump = Waker::from(Arc::new(PumpWake {
            core: weak.clone(),
            pipe: id,
            rx: rx.clone(),
        }));
        let refill = Waker::from(Arc::new(RefillWake {
            core: weak,
            pipe: id,
        }));
        let slot = PipeSlot {
            info: info.clone(),
            tx,
            rx: rx.clone(),
            refill,
            stats: PipeStats::default(),
            pump: pump.clone(),
            on_close,
        };
        let mut wakes = Wakes::default();
        // A refused slot is dropped after the lock is released.
        let mut refused: Option<PipeSlot> = None;
        let r = self.lock_now(|st| {
            if st.closed {
                refused = Some(slot);
                return Err(Error::Closed);
            }
            st.pipes.insert(id, slot);
            match st.call(&mut wakes, |m, io| m.add_pipe(io, id)) {
                Ok(()) => {
                    st.stats.pipes_added += 1;
                    for w in st.pipe_waiters.drain(..) {
                        wakes.push(w);
                    }
                    Ok(())
                }
                Err(e) => {
                    st.stats.pipes_rejected += 1;
                    refused = st.pipes.remove(&id);
                    Err(e)
                }
            }
        });
        wakes.wake_all();
        if let Err(e) = r {
            // Refused: the caller still owns the transport and closes it; the
            // on-close callback is dropped unrun (the dialer decides).
            drop(refused);
            return Err(e);
        }
        if let Some(h) = &hook {
            (h.0)(PipeEvent::AddPost, &info);
        }
        // Messages may have arrived before we were listening.
        if self.pump(id, &rx, &pump, PUMP_TURN, false).yielded {
            self.unblock();
        }
        Ok(id)
    }

    fn timeout(&self, ms: &AtomicU32) -> Option<core::time::Duration> {
        match ms.load(Ordering::Relaxed) {
            u32::MAX => None,
            ms => Some(core::time::Duration::from_millis(u64::from(ms))),
        }
    }

    fn lock_now<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        if !self.uses_time {
            return self.st.lock(f);
        }
        let now = self.rt.now();
        self.st.lock(|st| {
            st.now = now;
            f(st)
        })
    }

    /// One attempt to send on `ctx`; parks `cx` when it would block. Also
    /// returns the machine's next deadline for `ctx`.
    fn poll_send(
        &self,
        cx: Option<&mut Context<'_>>,
        ctx: CtxId,
        slot: &mut Option<Message>,
    ) -> (Poll<Result<(), SendError>>, Option<Instant>) {
        let mut wakes = Wakes::default();
        let Some(m) = slot.take() else {
            return (Poll::Ready(Ok(())), None);
        };
        let (r, dl, closes) = self.lock_now(|st| {
            if st.closed {
                return (
                    Poll::Ready(Err(SendError::new(Error::Closed, m))),
                    None,
                    Vec::new(),
                );
            }
            if self.uses_time {
                st.expire_due(&mut wakes, ctx);
            }
            let r = match st.call(&mut wakes, |mch, io| mch.send(io, ctx, m)) {
                Ok(()) => Poll::Ready(Ok(())),
                Err(SendError {
                    error: Error::WouldBlock,
                    message,
                }) if cx.is_some() => {
                    *slot = Some(message);
                    park_ctx(&mut st.send_waiters, ctx, cx.expect("checked").waker());
                    Poll::Pending
                }
                Err(e) => Poll::Ready(Err(e)),
            };
            let dl = if self.uses_time {
                st.m.deadline(ctx)
            } else {
                None
            };
            (r, dl, core::mem::take(&mut st.closes))
        });
        self.finish(wakes, closes);
        (r, dl)
    }

    /// One attempt to receive on `ctx`; as [`Core::poll_send`]. `fresh` marks
    /// the first attempt of a blocking operation (see [`Machine::recv_begin`]).
    fn poll_recv(
        &self,
        cx: Option<&mut Context<'_>>,
        ctx: CtxId,
        fresh: bool,
    ) -> (Poll<Result<Message, Error>>, Option<Instant>) {
        let mut wakes = Wakes::default();
        let mut unblock = false;
        let (r, dl, closes) = self.lock_now(|st| {
            if st.closed {
                return (Poll::Ready(Err(Error::Closed)), None, Vec::new());
            }
            if self.uses_time {
                st.expire_due(&mut wakes, ctx);
            }
            let begun = if fresh && cx.is_some() {
                st.call(&mut wakes, |m, io| m.recv_begin(io, ctx))
            } else {
                Ok(())
            };
            let r = match begun.and_then(|()| st.call(&mut wakes, |m, io| m.recv(io, ctx))) {
                Ok(m) => {
                    unblock = !st.blocked.is_empty();
                    Poll::Ready(Ok(m))
                }
                Err(Error::WouldBlock) if cx.is_some() => {
                    st.call(&mut wakes, |m, io| m.recv_parked(io, ctx));
                    park_ctx(&mut st.recv_waiters, ctx, cx.expect("checked").waker());
                    unblock = !st.blocked.is_empty();
                    Poll::Pending
                }
                Err(e) => {
                    unblock = !st.blocked.is_empty();
                    Poll::Ready(Err(e))
                }
            };
            let dl = if self.uses_time {
                st.m.deadline(ctx)
            } else {
                None
            };
            (r, dl, core::mem::take(&mut st.closes))
        });
        self.finish(wakes, closes);
        if unblock {
            self.unblock();
        }
        (r, dl)
    }

    fn set_opt(&self, ctx: CtxId, o: &SockOpt) -> Result<(), Error> {
        let mut wakes = Wakes::default();
        let mut unblock = false;
        let (r, closes) = self.lock_now(|st| {
            if st.closed {
                return (Err(Error::Closed), Vec::new());
            }
            let r = match if ctx == CtxId::SOCKET {
                st.opts.apply(o).inspect(|_| {
                    self.send_timeout_ms
                        .store(ms_of(st.opts.send_timeout), Ordering::Relaxed);
                    self.recv_timeout_ms
                        .store(ms_of(st.opts.recv_timeout), Ordering::Relaxed);
                })
            } else {
                Ok(false)
            } {
                Ok(true) => Ok(()),
                Ok(false) => {
                    let r = st.call(&mut wakes, |m, io| m.set_option(io, ctx, o));
                    unblock = !st.blocked.is_empty();
                    match (r, o) {
                        (Err(Error::NotSupported), SockOpt::TtlMax(_)) if ctx == CtxId::SOCKET => {
                            Ok(())
                        }
                        (r, _) => r,
                    }
                }
                Err(e) => Err(e),
            };
            (r, core::mem::take(&mut st.closes))
        });
        self.finish(wakes, closes);
        if unblock {
            self.unblock();
        }
        r
    }

    fn open_ctx(&self) -> Result<CtxId, Error> {
        let mut wakes = Wakes::default();
        let (r, closes) = self.lock_now(|st| {
            if st.closed {
                return (Err(Error::Closed), Vec::new());
            }
            st.next_ctx = st.next_ctx.wrapping_add(1).max(1);
            let c = CtxId(st.next_ctx);
            let r = st.call(&mut wakes, |m, io| m.open_ctx(io, c)).map(|()| c);
            (r, core::mem::take(&mut st.closes))
        });
        self.finish(wakes, closes);
        r
    }

    fn recv_cancelled(&self, c: CtxId) {
        let mut wakes = Wakes::default();
        let closes = self.lock_now(|st| {
            if st.closed {
                return Vec::new();
            }
            st.call(&mut wakes, |m, io| m.recv_cancelled(io, c));
            core::mem::take(&mut st.closes)
        });
        self.finish(wakes, closes);
    }

    fn close_ctx(&self, c: CtxId) {
        let mut wakes = Wakes::default();
        let closes = self.lock_now(|st| {
            st.call(&mut wakes, |m, io| m.close_ctx(io, c));
            let mut i = 0;
            while i < st.recv_waiters.len() {
                if st.recv_waiters[i].0 == c {
                    wakes.push(st.recv_waiters.swap_remove(i).1);
                } else {
                    i += 1;
                }
            }
            let mut i = 0;
            while i < st.send_waiters.len() {
                if st.send_waiters[i].0 == c {
                    wakes.push(st.send_waiters.swap_remove(i).1);
                } else {
                    i += 1;
                }
            }
            core::mem::take(&mut st.closes)
        });
        self.finish(wakes, closes);
    }

    pub(crate) fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.st.lock(|st| {
            if st.closed {
                Poll::Ready(())
            } else {
                park(&mut st.close_waiters, cx.waker());
                Poll::Pending
            }
        })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.st.lock(|st| st.closed)
    }

    /// The timer task's turn: runs the machine's due timers and returns when
    /// it must run next (`Err` once the socket is closed).
    fn timer_turn(&self, cx: &mut Context<'_>) -> Result<Option<Instant>, ()> {
        let mut wakes = Wakes::default();
        let (r, closes) = self.lock_now(|st| {
            if st.closed {
                return (Err(()), Vec::new());
            }
            if st.m.next_deadline().is_some_and(|d| d <= st.now) {
                st.call(&mut wakes, |m, io| m.on_timer(io));
            }
            let next = st.m.next_deadline();
            st.timer_at = next;
            st.timer_waker = Some(cx.waker().clone());
            (Ok(next), core::mem::take(&mut st.closes))
        });
        self.finish(wakes, closes);
        r
    }

    /// Ready once every pipe's queue has been written (or the pipe closed).
    fn poll_flushed(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.st.lock(|st| {
            for s in st.pipes.values() {
                if s.tx.poll_flushed(cx).is_pending() {
                    return Poll::Pending;
                }
            }
            Poll::Ready(())
        })
    }

    /// Ready once `n` pipes are attached; [`Error::Closed`] if the socket is.
    fn poll_pipes(&self, cx: &mut Context<'_>, n: usize) -> Poll<Result<(), Error>> {
        self.st.lock(|st| {
            if st.closed {
                Poll::Ready(Err(Error::Closed))
            } else if st.pipes.len() >= n {
                Poll::Ready(Ok(()))
            } else {
                park(&mut st.pipe_waiters, cx.waker());
                Poll::Pending
            }
        })
    }

    pub(crate) fn options(&self) -> Options {
        self.st.lock(|st| st.opts.clone())
    }

    pub(crate) fn count(&self, f: impl FnOnce(&mut Stats)) {
        self.st.lock(|st| f(&mut st.stats));
    }

    fn close(&self) {
        let r = self.st.lock(|st| {
            if st.closed {
                return None;
            }
            st.closed = true;
            let pipes: Vec<PipeId> = st.pipes.keys().copied().collect();
            let mut w = core::mem::take(&mut st.close_waiters);
            w.append(&mut st.pipe_waiters);
            w.extend(st.timer_waker.take());
            w.extend(st.recv_waiters.drain(..).map(|(_, w)| w));
            w.extend(st.send_waiters.drain(..).map(|(_, w)| w));
            // The hook goes with the last pipe (remove_pipe), or now if there
            // is none: it may hold a clone of this socket (the nng idiom of a
            // hook that closes pipes), a cycle that would never be freed.
            // Dropped outside the lock, since that may close a socket.
            let hook = if pipes.is_empty() {
                st.hook.take()
            } else {
                None
            };
            Some((pipes, w, hook))
        });
        let Some((pipes, waiters, hook)) = r else {
            return;
        };
        drop(hook);
        inproc::forget_socket(self.id);
        for p in pipes {
            self.remove_pipe(p, Error::Closed);
        }
        for w in waiters {
            w.wake();
        }
    }
}

struct Handle<R: Runtime> {
    core: Arc<Core<R>>,
}

impl<R: Runtime> Drop for Handle<R> {
    fn drop(&mut self) {
        self.core.close();
    }
}

/// An SP socket. Cheap to clone; all clones are the same socket, usable from
/// any task (the handle is `Send + Sync` when the runtime is). The socket
/// closes when [`Socket::close`] is called or the last clone is dropped.
///
/// ```
/// use nanosp::{Socket, Protocol, VirtualRuntime, Message};
/// # futures::executor::block_on(async {
/// let rt = VirtualRuntime::new(1);
/// let a = Socket::new(Protocol::Pair1, rt.clone());
/// let b = Socket::new(Protocol::Pair1, rt);
/// a.listen("inproc://socket-doc").unwrap();
/// b.dial("inproc://socket-doc").unwrap();
/// b.send(Message::from("ping")).await.unwrap();
/// let m = a.recv().await.unwrap();
/// a.send(m).await.unwrap();
/// assert_eq!(b.recv().await.unwrap().body(), b"ping");
/// # });
/// ```
pub struct Socket<R: Runtime> {
    h: Arc<Handle<R>>,
}

impl<R: Runtime> Clone for Socket<R> {
    fn clone(&self) -> Self {
        Socket { h: self.h.clone() }
    }
}

impl<R: Runtime> fmt::Debug for Socket<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.core().id)
            .field("protocol", &self.core().proto)
            .field("raw", &self.core().raw)
            .finish()
    }
}

impl<R: Runtime> Socket<R> {
    /// A cooked socket of protocol `p` on runtime `rt`.
    pub fn new(p: Protocol, rt: R) -> Self {
        Self::build(p, false, rt)
    }

    /// A raw socket: headers are the application's, no end-to-end state.
    pub fn new_raw(p: Protocol, rt: R) -> Self {
        Self::build(p, true, rt)
    }

    fn build(p: Protocol, raw: bool, rt: R) -> Self {
        let seed = rt.random_u32();
        let m = p.machine(raw, seed);
        let uses_time = m.uses_time();
        let core = Arc::new_cyclic(|me| Core {
            me: me.clone(),
            rt,
            proto: p,
            raw,
            id: u64::from(NEXT_SOCKET.fetch_add(1, Ordering::Relaxed)),
            uses_time,
            send_timeout_ms: AtomicU32::new(u32::MAX),
            recv_timeout_ms: AtomicU32::new(u32::MAX),
            st: Mutex::new(State {
                m,
                pipes: BTreeMap::new(),
                blocked: VecDeque::new(),
                recv_waiters: Vec::new(),
                send_waiters: Vec::new(),
                close_waiters: Vec::new(),
                pipe_waiters: Vec::new(),
                timer_waker: None,
                timer_at: None,
                next_ctx: 0,
                now: Instant::from_micros(0),
                spare_wakes: Vec::new(),
                closes: Vec::new(),
                closed: false,
                opts: Options::default(),
                stats: Stats::default(),
                hook: None,
            }),
        });
        Socket {
            h: Arc::new(Handle { core }),
        }
    }

    pub(crate) fn core(&self) -> &Arc<Core<R>> {
        &self.h.core
    }

    /// The hold a transport task keeps on this socket: it reaches the engine
    /// but does not keep the socket open when the application drops it.
    pub fn transport_ref(&self) -> SocketRef<R> {
        SocketRef {
            core: self.h.core.clone(),
        }
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.core().proto
    }

    /// True for a raw socket.
    pub fn is_raw(&self) -> bool {
        self.core().raw
    }

    /// The runtime this socket runs on.
    pub fn runtime(&self) -> &R {
        &self.core().rt
    }

    /// Sends `m`, waiting for room up to `send-timeout`. A failure hands the
    /// message back in the [`SendError`].
    pub async fn send(&self, m: Message) -> Result<(), SendError> {
        let t = self.core().timeout(&self.core().send_timeout_ms);
        send_on(self.core(), CtxId::SOCKET, m, t).await
    }

    /// Sends `m`, waiting for room up to `timeout` for this call only
    /// (`send-timeout` does not apply).
    ///
    /// ```
    /// use core::time::Duration;
    /// use nanosp::{Error, Message, Protocol, Socket, VirtualRuntime};
    /// # futures::executor::block_on(async {
    /// let push = Socket::new(Protocol::Push0, VirtualRuntime::new(1));
    /// // No peer: nothing can take it; a zero timeout gives up at once.
    /// let e = push.send_timeout(Message::from("job"), Duration::ZERO).await.unwrap_err();
    /// assert_eq!(e.error, Error::TimedOut);
    /// assert_eq!(e.message.body(), b"job"); // handed back
    /// # });
    /// ```
    pub async fn send_timeout(
        &self,
        m: Message,
        timeout: core::time::Duration,
    ) -> Result<(), SendError> {
        send_on(self.core(), CtxId::SOCKET, m, Some(timeout)).await
    }

    /// Sends without waiting: [`Error::WouldBlock`] if it cannot go now.
    pub fn try_send(&self, m: Message) -> Result<(), SendError> {
        let mut slot = Some(m);
        match self.core().poll_send(None, CtxId::SOCKET, &mut slot).0 {
            Poll::Ready(r) => r,
            Poll::Pending => unreachable!("no context, no parking"),
        }
    }

    /// Receives a message, waiting up to `recv-timeout`.
    pub async fn recv(&self) -> Result<Message, Error> {
        let t = self.core().timeout(&self.core().recv_timeout_ms);
        recv_on(self.core(), CtxId::SOCKET, t).await
    }

    /// Receives a message, waiting up to `timeout` for this call only
    /// (`recv-timeout` does not apply). On REQ and SURVEYOR a timed-out
    /// receive ends the request or survey, as any timed-out `recv` does.
    ///
    /// ```
    /// use core::time::Duration;
    /// use nanosp::{Error, Protocol, Socket, VirtualRuntime};
    /// # futures::executor::block_on(async {
    /// let pull = Socket::new(Protocol::Pull0, VirtualRuntime::new(1));
    /// assert_eq!(pull.recv_timeout(Duration::ZERO).await.unwrap_err(), Error::TimedOut);
    /// # });
    /// ```
    pub async fn recv_timeout(&self, timeout: core::time::Duration) -> Result<Message, Error> {
        recv_on(self.core(), CtxId::SOCKET, Some(timeout)).await
    }

    /// Receives without waiting: [`Error::WouldBlock`] if nothing is there.
    pub fn try_recv(&self) -> Result<Message, Error> {
        match self.core().poll_recv(None, CtxId::SOCKET, false).0 {
            Poll::Ready(r) => r,
            Poll::Pending => unreachable!("no context, no parking"),
        }
    }

    /// Sets an option (see [`SockOpt`] for names and defaults). Protocol
    /// options set here also become the defaults of contexts opened later.
    pub fn set_opt(&self, o: SockOpt) -> Result<(), Error> {
        self.core().set_opt(CtxId::SOCKET, &o)
    }

    /// Opens a context: an independent protocol state on this socket (REQ,
    /// REP, SURVEYOR, RESPONDENT, SUB in cooked mode). Others return
    /// [`Error::NotSupported`].
    pub fn context(&self) -> Result<SocketContext<R>, Error> {
        let id = self.core().open_ctx()?;
        let core = self.core();
        Ok(SocketContext {
            sock: self.clone(),
            id,
            closed: portable_atomic::AtomicBool::new(false),
            send_timeout_ms: AtomicU32::new(core.send_timeout_ms.load(Ordering::Relaxed)),
            recv_timeout_ms: AtomicU32::new(core.recv_timeout_ms.load(Ordering::Relaxed)),
        })
    }

    /// The engine-level options now in force.
    pub fn options(&self) -> Options {
        self.core().options()
    }

    /// SUB: receive messages starting with `topic` (empty = everything).
    pub fn subscribe(&self, topic: &[u8]) -> Result<(), Error> {
        self.set_opt(SockOpt::Subscribe(topic.to_vec()))
    }

    /// SUB: stop receiving `topic`; [`Error::NotFound`] if not subscribed.
    pub fn unsubscribe(&self, topic: &[u8]) -> Result<(), Error> {
        self.set_opt(SockOpt::Unsubscribe(topic.to_vec()))
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.core().st.lock(|st| st.stats.clone())
    }

    /// The live pipes.
    pub fn pipes(&self) -> Vec<PipeInfo> {
        self.core()
            .st
            .lock(|st| st.pipes.values().map(|s| s.info.clone()).collect())
    }

    /// The counters of one live pipe.
    pub fn pipe_stats(&self, p: PipeId) -> Option<PipeStats> {
        self.core().st.lock(|st| st.pipes.get(&p).map(|s| s.stats))
    }

    /// Closes one pipe (the transport notices and its dialer may redial).
    pub fn close_pipe(&self, p: PipeId) {
        self.core().remove_pipe(p, Error::Closed);
    }

    /// Installs the pipe-event hook. It runs outside every lock, on the task
    /// that attached or removed the pipe; returning `false` from
    /// [`PipeEvent::AddPre`] refuses the pipe. [`Socket::close`] drops the
    /// hook, so a hook may hold a clone of its socket (to close pipes); such
    /// a socket then stays open until `close` is called, not merely dropped.
    pub fn set_pipe_hook(&self, f: impl Fn(PipeEvent, &PipeInfo) -> bool + Send + Sync + 'static) {
        let h = Arc::new(Hook(Box::new(f)));
        // A closed socket keeps no hook. Whatever is not kept is dropped
        // outside the lock (it may hold a socket handle).
        let unused = self.core().st.lock(|st| {
            if st.closed {
                Some(h)
            } else {
                st.hook.replace(h)
            }
        });
        drop(unused);
    }

    /// Closes the socket: every pipe, dialer and listener ends, and every
    /// pending operation returns [`Error::Closed`]. Messages still queued on
    /// pipes are dropped (counted in [`Stats::lost`]), as nng does; see
    /// [`Socket::close_linger`] to let them go first.
    pub fn close(&self) {
        self.core().close();
    }

    /// Completes once every message queued on a pipe has been written by
    /// its transport (or its pipe closed). Messages the protocol still holds
    /// (a REQ request with no pipe yet) and sends still waiting are not
    /// included.
    pub async fn flush(&self) {
        let core = self.core();
        poll_fn(|cx| core.poll_flushed(cx)).await
    }

    /// Closes the socket after waiting up to `linger` ([`SockOpt::Linger`],
    /// default zero) for queued messages to be written: a program that sends
    /// and then closes (or, with the blocking API, returns from `main`)
    /// delivers what it sent. Whatever is still queued when the time is up is
    /// dropped, as by [`Socket::close`].
    ///
    /// ```
    /// use core::time::Duration;
    /// use nanosp::{Message, Protocol, Socket, SockOpt, VirtualRuntime};
    /// # futures::executor::block_on(async {
    /// let rt = VirtualRuntime::new(1);
    /// let pull = Socket::new(Protocol::Pull0, rt.clone());
    /// let push = Socket::new(Protocol::Push0, rt);
    /// pull.listen("inproc://linger-doc").unwrap();
    /// push.dial("inproc://linger-doc").unwrap();
    /// push.set_opt(SockOpt::Linger(Duration::from_secs(1))).unwrap();
    /// push.send(Message::from("last words")).await.unwrap();
    /// push.close_linger().await;
    /// assert_eq!(pull.recv().await.unwrap().body(), b"last words");
    /// # });
    /// ```
    pub async fn close_linger(&self) {
        let core = self.core();
        let linger = core.options().linger;
        if !linger.is_zero() {
            let deadline = core.rt.now() + linger;
            let mut sleep = pin!(core.rt.sleep_until(deadline));
            poll_fn(|cx| {
                if core.poll_flushed(cx).is_ready() || sleep.as_mut().poll(cx).is_ready() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
        }
        core.close();
    }

    /// Completes once at least `n` pipes are attached (at once if they
    /// already are); [`Error::Closed`] if the socket closes first. Use it
    /// instead of polling [`Socket::pipes`], e.g. before a PUB publishes to
    /// subscribers that are still connecting.
    ///
    /// ```
    /// use nanosp::{Protocol, Socket, VirtualRuntime};
    /// # futures::executor::block_on(async {
    /// let rt = VirtualRuntime::new(1);
    /// let publisher = Socket::new(Protocol::Pub0, rt.clone());
    /// publisher.listen("inproc://wait-doc").unwrap();
    /// let sub = Socket::new(Protocol::Sub0, rt);
    /// sub.dial("inproc://wait-doc").unwrap();
    /// publisher.wait_for_pipes(1).await.unwrap();
    /// # });
    /// ```
    pub async fn wait_for_pipes(&self, n: usize) -> Result<(), Error> {
        let core = self.core();
        poll_fn(|cx| core.poll_pipes(cx, n)).await
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.core().is_closed()
    }

    /// Completes when the socket closes (for transport tasks).
    pub async fn closed(&self) {
        let core = self.core();
        poll_fn(|cx| core.poll_closed(cx)).await
    }

    /// Listens on a URL this crate serves itself (`inproc://`). Runtime crates
    /// add `tcp://`, `ipc://`, `ws://`.
    pub fn listen(&self, url: &str) -> Result<(), Error> {
        let u = Url::parse(url)?;
        match u.scheme {
            Scheme::Inproc => inproc::listen(self.core(), &u.path),
            _ => Err(Error::TransportUnavailable),
        }
    }

    /// Dials a URL this crate serves itself (`inproc://`): the first attempt is
    /// synchronous and its error is returned (no retry), as nng's `nng_dial`.
    pub fn dial(&self, url: &str) -> Result<(), Error> {
        let u = Url::parse(url)?;
        match u.scheme {
            Scheme::Inproc => inproc::dial(self.core(), &u.path, false),
            _ => Err(Error::TransportUnavailable),
        }
    }

    /// Dials without failing: connects now if it can, else keeps trying in
    /// the background (nng's `NNG_FLAG_NONBLOCK`).
    pub fn dial_nonblocking(&self, url: &str) -> Result<(), Error> {
        let u = Url::parse(url)?;
        match u.scheme {
            Scheme::Inproc => inproc::dial(self.core(), &u.path, true),
            _ => Err(Error::TransportUnavailable),
        }
    }
}

/// Waits for `ctx`'s operation, firing the machine's timers (resend, survey
/// end) and the operation's own timeout as virtual or real time passes.
///
/// `state` is the operation's own data (the message a send holds), lent to
/// both closures; it lives in the future, so the future is `Send` whenever
/// the state is.
async fn op_loop<R: Runtime, S, T>(
    core: &Arc<Core<R>>,
    timeout: Option<core::time::Duration>,
    mut state: S,
    mut attempt: impl FnMut(&mut S, &mut Context<'_>) -> (Poll<T>, Option<Instant>),
    timed_out: impl Fn(&mut S) -> T,
) -> T {
    let rt = &core.rt;
    let op_deadline = timeout.map(|d| rt.now() + d);
    let mut sleep = pin!(None::<R::Sleep>);
    let mut armed: Option<Instant> = None;
    poll_fn(|cx| loop {
        let (r, machine_deadline) = attempt(&mut state, cx);
        if let Poll::Ready(t) = r {
            return Poll::Ready(t);
        }
        if op_deadline.is_some_and(|d| rt.now() >= d) {
            return Poll::Ready(timed_out(&mut state));
        }
        let want = match (op_deadline, machine_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let Some(want) = want else {
            return Poll::Pending;
        };
        if armed != Some(want) {
            sleep.set(Some(rt.sleep_until(want)));
            armed = Some(want);
        }
        match sleep.as_mut().as_pin_mut().expect("armed").poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(()) => {
                sleep.set(None);
                armed = None;
            }
        }
    })
    .await
}

async fn send_on<R: Runtime>(
    core: &Arc<Core<R>>,
    ctx: CtxId,
    m: Message,
    timeout: Option<core::time::Duration>,
) -> Result<(), SendError> {
    op_loop(
        core,
        timeout,
        Some(m),
        |slot, cx| core.poll_send(Some(cx), ctx, slot),
        |slot| {
            Err(SendError::new(
                Error::TimedOut,
                slot.take().expect("held while pending"),
            ))
        },
    )
    .await
}

/// Tells the machine when a `recv` that waited is abandoned (it timed out
/// or its future was dropped): REQ and SURVEYOR end their request or survey,
/// REP passes a request it was woken for to another context.
struct RecvGuard<'a, R: Runtime> {
    core: &'a Arc<Core<R>>,
    ctx: CtxId,
    started: bool,
    parked: bool,
    done: bool,
}

impl<R: Runtime> Drop for RecvGuard<'_, R> {
    fn drop(&mut self) {
        if self.parked && !self.done {
            self.core.recv_cancelled(self.ctx);
        }
    }
}

async fn recv_on<R: Runtime>(
    core: &Arc<Core<R>>,
    ctx: CtxId,
    timeout: Option<core::time::Duration>,
) -> Result<Message, Error> {
    let mut guard = RecvGuard {
        core,
        ctx,
        started: false,
        parked: false,
        done: false,
    };
    op_loop(
        core,
        timeout,
        &mut guard,
        |g, cx| {
            let fresh = !core::mem::replace(&mut g.started, true);
            let (r, dl) = core.poll_recv(Some(cx), ctx, fresh);
            match r {
                Poll::Pending => g.parked = true,
                Poll::Ready(_) => g.done = true,
            }
            (r, dl)
        },
        |_| Err(Error::TimedOut),
    )
    .await
}

/// A context of a socket (see [`Socket::context`]): its own protocol state,
/// sharing the socket's pipes. Closed when dropped.
pub struct SocketContext<R: Runtime> {
    sock: Socket<R>,
    id: CtxId,
    closed: portable_atomic::AtomicBool,
    /// The context's own `send-timeout` / `recv-timeout` (ms, `u32::MAX` =
    /// none), copied from the socket's when it was opened, as nng does.
    send_timeout_ms: AtomicU32,
    recv_timeout_ms: AtomicU32,
}

impl<R: Runtime> SocketContext<R> {
    /// The context's id.
    pub fn id(&self) -> CtxId {
        self.id
    }
    /// Sends on this context, waiting up to the context's `send-timeout`
    /// (the socket's when the context was opened, unless set on the context).
    pub async fn send(&self, m: Message) -> Result<(), SendError> {
        let t = self.sock.core().timeout(&self.send_timeout_ms);
        send_on(self.sock.core(), self.id, m, t).await
    }
    /// Receives on this context, waiting up to the context's `recv-timeout`
    /// (the socket's when the context was opened, unless set on the context).
    pub async fn recv(&self) -> Result<Message, Error> {
        let t = self.sock.core().timeout(&self.recv_timeout_ms);
        recv_on(self.sock.core(), self.id, t).await
    }
    /// Sends, waiting up to `timeout` for this call only.
    pub async fn send_timeout(
        &self,
        m: Message,
        timeout: core::time::Duration,
    ) -> Result<(), SendError> {
        send_on(self.sock.core(), self.id, m, Some(timeout)).await
    }
    /// Receives, waiting up to `timeout` for this call only.
    pub async fn recv_timeout(&self, timeout: core::time::Duration) -> Result<Message, Error> {
        recv_on(self.sock.core(), self.id, Some(timeout)).await
    }
    /// Sends without waiting.
    pub fn try_send(&self, m: Message) -> Result<(), SendError> {
        let mut slot = Some(m);
        match self.sock.core().poll_send(None, self.id, &mut slot).0 {
            Poll::Ready(r) => r,
            Poll::Pending => unreachable!("no context, no parking"),
        }
    }
    /// Receives without waiting.
    pub fn try_recv(&self) -> Result<Message, Error> {
        match self.sock.core().poll_recv(None, self.id, false).0 {
            Poll::Ready(r) => r,
            Poll::Pending => unreachable!("no context, no parking"),
        }
    }
    /// Sets an option for this context only: `send-timeout`, `recv-timeout`
    /// and the protocol's (`req:resend-time`, `surveyor:survey-time`, SUB
    /// topics). Others are [`Error::NotSupported`]; on a closed context or
    /// socket [`Error::Closed`].
    ///
    /// ```
    /// use core::time::Duration;
    /// use nanosp::{Error, Protocol, Socket, SockOpt, VirtualRuntime};
    /// # futures::executor::block_on(async {
    /// let rep = Socket::new(Protocol::Rep0, VirtualRuntime::new(1));
    /// let ctx = rep.context().unwrap();
    /// ctx.set_opt(SockOpt::RecvTimeout(Some(Duration::ZERO))).unwrap();
    /// assert_eq!(ctx.recv().await.unwrap_err(), Error::TimedOut);
    /// # });
    /// ```
    pub fn set_opt(&self, o: SockOpt) -> Result<(), Error> {
        let core = self.sock.core();
        if self.closed.load(Ordering::Acquire) || core.is_closed() {
            return Err(Error::Closed);
        }
        match o {
            SockOpt::SendTimeout(d) => self.send_timeout_ms.store(ms_of(d), Ordering::Relaxed),
            SockOpt::RecvTimeout(d) => self.recv_timeout_ms.store(ms_of(d), Ordering::Relaxed),
            o => return core.set_opt(self.id, &o),
        }
        Ok(())
    }
    /// SUB: subscribe this context.
    pub fn subscribe(&self, topic: &[u8]) -> Result<(), Error> {
        self.set_opt(SockOpt::Subscribe(topic.to_vec()))
    }
    /// SUB: drop one of this context's subscriptions.
    pub fn unsubscribe(&self, topic: &[u8]) -> Result<(), Error> {
        self.set_opt(SockOpt::Unsubscribe(topic.to_vec()))
    }

    /// Closes the context now: what it was doing is abandoned and its pending
    /// and later operations return [`Error::Closed`]. Dropping it does the same.
    pub fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.sock.core().close_ctx(self.id);
        }
    }
}

impl<R: Runtime> fmt::Debug for SocketContext<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketContext")
            .field("socket", &self.sock)
            .field("id", &self.id)
            .finish()
    }
}

impl<R: Runtime> Drop for SocketContext<R> {
    fn drop(&mut self) {
        self.close();
    }
}

/// A transport's hold on a socket (see [`Socket::transport_ref`]).
pub struct SocketRef<R: Runtime> {
    pub(crate) core: Arc<Core<R>>,
}

impl<R: Runtime> Clone for SocketRef<R> {
    fn clone(&self) -> Self {
        SocketRef {
            core: self.core.clone(),
        }
    }
}

impl<R: Runtime> SocketRef<R> {
    /// The socket's protocol.
    pub fn protocol(&self) -> Protocol {
        self.core.proto
    }
    /// The runtime.
    pub fn runtime(&self) -> &R {
        &self.core.rt
    }
    /// The engine options now in force (receive limit, handshake time...).
    pub fn options(&self) -> Options {
        self.core.options()
    }
    /// True once the socket is closed.
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }
    /// Completes when the socket closes.
    pub async fn closed(&self) {
        poll_fn(|cx| self.core.poll_closed(cx)).await
    }
    /// Updates the counters (transports count handshakes, reconnects).
    pub fn count(&self, f: impl FnOnce(&mut Stats)) {
        self.core.count(f)
    }

    /// True if the protocol has timers ([`SocketRef::run_timers`] is worth
    /// spawning): cooked REQ (resend) and SURVEYOR (survey end).
    pub fn has_timers(&self) -> bool {
        self.core.uses_time
    }

    /// The socket's timer task: REQ resends and SURVEYOR deadlines fire on
    /// time even while nobody waits in `recv`, as nng's timers do. A runtime
    /// crate spawns it next to the socket (nanosp-std does); it ends when
    /// the socket closes. Without it, timers fire only while an operation
    /// waits on their context (and a late `recv` catches up at once).
    pub async fn run_timers(self) {
        let core = &self.core;
        if !core.uses_time {
            return;
        }
        let mut sleep = pin!(None::<R::Sleep>);
        let mut armed: Option<Instant> = None;
        poll_fn(|cx| loop {
            let Ok(next) = core.timer_turn(cx) else {
                return Poll::Ready(());
            };
            let Some(at) = next else {
                sleep.set(None);
                armed = None;
                return Poll::Pending;
            };
            if armed != Some(at) {
                sleep.set(Some(core.rt.sleep_until(at)));
                armed = Some(at);
            }
            match sleep.as_mut().as_pin_mut().expect("armed").poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => {
                    sleep.set(None);
                    armed = None;
                }
            }
        })
        .await
    }
}
