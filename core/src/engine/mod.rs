//! The socket engine: one protocol [`Machine`], a table of pipes, queues with
//! back-pressure, waiting operations, timers, and the socket's life.
//!
//! A socket owns one machine and a table of pipes. Each pipe is two bounded
//! channels ([`Chan`]): outgoing messages the machine queued, and incoming
//! messages a transport (or an inproc peer socket) delivered. The engine
//! moves incoming messages into the machine with a *pump* that runs on
//! whichever task delivered them (no hop to another task), and tells the
//! machine when a full outgoing queue has room again (*refill*). Both are
//! wakers, so transports and inproc peers notify a socket exactly as they
//! would notify a task.
//!
//! Nothing here names an executor: application operations are futures that
//! park on wakers, deadlines come from the [`Runtime`], and transports run in
//! futures the runtime crate polls (see [`crate::stream`]).
//!
//! One module per job:
//!
//! | module | job |
//! |---|---|
//! | this one | the state under the socket's lock and the one transaction that changes it ([`Core::transact`]) |
//! | `pipes` | pipe lifecycle: attach (hooks, protocol check), remove (why, lost messages, hooks) |
//! | `inbound` | fairness of incoming messages: pump, refill, parked pipes taking turns |
//! | `ops` | the application's operations: send, receive, options, contexts, waiting in order |
//! | `timers` | machine deadlines: per operation, and the socket's timer task |
//! | `life` | closing, lingering, waiting for pipes |
//!
//! Lock order: socket → channel, never the other way; wakers are collected
//! during a transaction and woken after the lock is released.

use alloc::boxed::Box;
use alloc::collections::VecDeque;

use crate::vecmap::VecMap;
use alloc::vec::Vec;
use core::task::Waker;

use portable_atomic::{AtomicU32, Ordering};

use crate::options::Options;
use crate::proto::{CtxId, Io, Machine, Wakes};
use crate::sync::{Arc, Mutex, Weak};
use crate::{Error, Instant, PipeId, Protocol, Runtime, Stats};

mod inbound;
mod life;
mod ops;
mod pipes;
mod timers;

pub(crate) use ops::{recv_on, send_on};
pub(crate) use pipes::{Hook, OnClose, PipeSlot};

/// Default capacity of each direction of a pipe, in messages.
pub(crate) const PIPE_QUEUE: usize = 16;

static NEXT_SOCKET: AtomicU32 = AtomicU32::new(1);

/// A `recv` waiting on a context, in the order the operations began to wait.
struct RecvWaiter {
    ctx: CtxId,
    ticket: u64,
    /// Taken when woken; put back when the operation parks again.
    waker: Option<Waker>,
}

/// Everything under the socket's lock.
pub(crate) struct State {
    m: Box<dyn Machine>,
    pipes: VecMap<PipeId, PipeSlot>,
    /// Pipes whose incoming messages wait for room, oldest first.
    blocked: VecDeque<PipeId>,
    recv_waiters: VecDeque<RecvWaiter>,
    /// The machine lets one receive wait per context (REQ, REP): nobody
    /// looks through `recv_waiters` for another waiter of the same context,
    /// which with thousands of contexts would cost each receive thousands
    /// of steps.
    one_recv_per_ctx: bool,
    next_ticket: u64,
    send_waiters: Vec<(CtxId, Waker)>,
    close_waiters: Vec<Waker>,
    /// Waiting for a pipe to attach ([`crate::Socket::wait_for_pipes`]).
    pipe_waiters: Vec<Waker>,
    /// The timer task ([`crate::SocketRef::run_timers`]) and when it wakes next.
    timer_waker: Option<Waker>,
    timer_at: Option<Instant>,
    next_ctx: u32,
    now: Instant,
    spare_wakes: Vec<Waker>,
    /// Pipes to close once this transaction ends (a machine's `Delivery::Close`).
    closes: Vec<(PipeId, Error)>,
    closed: bool,
    opts: Options,
    stats: Stats,
    hook: Option<Arc<Hook>>,
    /// Run once when the socket closes (inproc forgets its names), by key.
    on_close: Vec<(&'static str, OnClose)>,
}

impl State {
    /// Calls the machine with an [`Io`] over this state's pipes, then queues
    /// the wakers of the operations its notifications concern.
    fn call<T>(
        &mut self,
        wakes: &mut Wakes,
        g: impl FnOnce(&mut dyn Machine, &mut Io<'_>) -> T,
    ) -> T {
        // Without `std` (a firmware) the work around `g` is compiled once
        // (`call_dyn`), not once per caller: there are a dozen, and every
        // copy is flash. With `std` `g` is inlined into `call_with`: the
        // dynamic call cost inproc a fifth of its latency, and in the
        // browser package the copies compress better than the shims.
        #[cfg(not(feature = "std"))]
        {
            let (mut g, mut out) = (Some(g), None);
            self.call_dyn(wakes, &mut |m, io| {
                if let Some(g) = g.take() {
                    out = Some(g(m, io));
                }
            });
            match out {
                Some(t) => t,
                None => unreachable!(),
            }
        }
        #[cfg(feature = "std")]
        self.call_with(wakes, g)
    }

    #[cfg(not(feature = "std"))]
    fn call_dyn(&mut self, wakes: &mut Wakes, g: &mut dyn FnMut(&mut dyn Machine, &mut Io<'_>)) {
        self.call_with(wakes, g)
    }

    #[inline]
    fn call_with<T>(
        &mut self,
        wakes: &mut Wakes,
        g: impl FnOnce(&mut dyn Machine, &mut Io<'_>) -> T,
    ) -> T {
        if wakes.more.capacity() == 0 && self.spare_wakes.capacity() > 0 {
            wakes.more = core::mem::take(&mut self.spare_wakes);
        }
        let mut table = pipes::Table(&mut self.pipes);
        let mut io = Io::new(&mut table, wakes, &mut self.stats, self.now);
        let t = g(&mut *self.m, &mut io);
        // The notifications are read where they are (no copies of them).
        let armed = io.armed;
        ops::wake_receivers(&mut self.recv_waiters, &io.recv_ready, io.wakes);
        ops::wake_senders(&mut self.send_waiters, &io.send_ready, io.wakes);
        if let Some(at) = armed {
            self.timer_armed(at, wakes);
        }
        t
    }
}

pub(crate) struct Core<R: Runtime> {
    pub(crate) rt: R,
    pub(crate) proto: Protocol,
    pub(crate) raw: bool,
    pub(crate) id: u64,
    pub(crate) uses_time: bool,
    /// The machine wants the blocking receive's lifecycle calls.
    tracks_receives: bool,
    /// `send-timeout` / `recv-timeout` in milliseconds (`u32::MAX` = none),
    /// read by every operation without taking the socket lock.
    pub(crate) send_timeout_ms: AtomicU32,
    pub(crate) recv_timeout_ms: AtomicU32,
    me: Weak<Core<R>>,
    st: Mutex<State>,
}

impl<R: Runtime> Core<R> {
    /// A socket's engine running `p`'s machine, cooked or raw.
    pub(crate) fn new(p: Protocol, raw: bool, rt: R) -> Arc<Self> {
        let seed = rt.random_u32();
        let m = crate::proto::machine(p, raw, seed);
        let uses_time = m.uses_time();
        let tracks_receives = m.tracks_receives();
        let one_recv_per_ctx = m.one_recv_per_ctx();
        Arc::new_cyclic(|me| Core {
            me: me.clone(),
            rt,
            proto: p,
            raw,
            id: u64::from(NEXT_SOCKET.fetch_add(1, Ordering::Relaxed)),
            uses_time,
            tracks_receives,
            send_timeout_ms: AtomicU32::new(u32::MAX),
            recv_timeout_ms: AtomicU32::new(u32::MAX),
            st: Mutex::new(State {
                m,
                pipes: VecMap::new(),
                blocked: VecDeque::new(),
                recv_waiters: VecDeque::new(),
                one_recv_per_ctx,
                next_ticket: 0,
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
                on_close: Vec::new(),
            }),
        })
    }

    /// Runs `f` under the socket's lock (with the clock read first for
    /// machines that use it), then, with the lock released, wakes what `f`
    /// woke and removes the pipes the machine asked to close. Every change
    /// of socket state goes through here.
    pub(crate) fn transact<T>(&self, f: impl FnOnce(&mut State, &mut Wakes) -> T) -> T {
        let mut wakes = Wakes::default();
        let (t, closes) = self.lock_now(|st| {
            let t = f(st, &mut wakes);
            (t, core::mem::take(&mut st.closes))
        });
        self.finish(&mut wakes, closes);
        t
    }

    /// Wakes what a transaction collected and closes the pipes it asked to.
    fn finish(&self, wakes: &mut Wakes, closes: Vec<(PipeId, Error)>) {
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

    /// The lock, with `now` updated first when the machine reads the clock.
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

    /// A timeout as stored in `ms`.
    pub(crate) fn timeout(&self, ms: &AtomicU32) -> Option<core::time::Duration> {
        match ms.load(Ordering::Relaxed) {
            u32::MAX => None,
            ms => Some(core::time::Duration::from_millis(u64::from(ms))),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.st.lock(|st| st.closed)
    }

    pub(crate) fn options(&self) -> Options {
        self.st.lock(|st| st.opts.clone())
    }

    pub(crate) fn count(&self, f: impl FnOnce(&mut Stats)) {
        self.st.lock(|st| f(&mut st.stats));
    }

    pub(crate) fn stats(&self) -> Stats {
        self.st.lock(|st| st.stats.clone())
    }
}

/// A timeout as the engine stores it: milliseconds, `u32::MAX` = none.
pub(crate) fn ms_of(d: Option<core::time::Duration>) -> u32 {
    d.map_or(u32::MAX, |d| {
        d.as_millis().min(u128::from(u32::MAX - 1)) as u32
    })
}

/// Adds `w` to `list` unless it is already there.
fn park(list: &mut Vec<Waker>, w: &Waker) {
    if !list.iter().any(|x| x.will_wake(w)) {
        list.push(w.clone());
    }
}
