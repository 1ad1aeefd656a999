//! The application's operations: send and receive (waiting with a timeout
//! and the machine's timers), options, and contexts.
//!
//! Receives waiting on one context are served in the order they began to
//! wait (as nng's queue of receive operations): only the oldest may take a
//! message; when it completes or is abandoned the next one gets its turn.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::future::poll_fn;
use core::pin::pin;
use core::task::{Context, Poll, Waker};

use portable_atomic::Ordering;

use super::{ms_of, Core, RecvWaiter, State};
use crate::proto::{CtxId, Notify, Wakes};
use crate::sync::Arc;
use crate::{Error, Instant, Message, Runtime, SendError, SockOpt};

/// Wakes the oldest waiting receive of every context `n` names (the others
/// wait their turn). A woken waiter keeps its place until it completes.
pub(super) fn wake_receivers(list: &mut VecDeque<RecvWaiter>, n: &Notify, wakes: &mut Wakes) {
    if list.is_empty() || !n.any() {
        return;
    }
    if n.all {
        // Rare (closing, options): everyone; a waiter not at the head of
        // its context waits again.
        for w in list.iter_mut() {
            if let Some(k) = w.waker.take() {
                wakes.push(k);
            }
        }
        return;
    }
    // A few contexts named (REP: the one that waited longest, near the
    // front): the oldest waiter of each, stopping once all are found.
    let mut left = n.ctxs.clone();
    for w in list.iter_mut() {
        if let Some(i) = left.iter().position(|c| *c == w.ctx) {
            left.swap_remove(i);
            if let Some(k) = w.waker.take() {
                wakes.push(k);
            }
            if left.is_empty() {
                return;
            }
        }
    }
}

/// Wakes every waiting send of the contexts `n` names.
pub(super) fn wake_senders(list: &mut Vec<(CtxId, Waker)>, n: &Notify, wakes: &mut Wakes) {
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

fn park_ctx(list: &mut Vec<(CtxId, Waker)>, c: CtxId, w: &Waker) {
    if !list.iter().any(|(k, x)| *k == c && x.will_wake(w)) {
        list.push((c, w.clone()));
    }
}

/// A blocking receive in progress: its place in the queue of waiters and
/// whether the machine has seen it wait.
#[derive(Default)]
pub(crate) struct RecvOp {
    started: bool,
    ticket: Option<u64>,
    parked: bool,
    done: bool,
}

impl State {
    /// One attempt of the blocking receive `op` on `ctx`.
    fn recv_blocking(
        &mut self,
        wakes: &mut Wakes,
        ctx: CtxId,
        cx: &mut Context<'_>,
        op: &mut RecvOp,
        tracks: bool,
    ) -> Poll<Result<Message, Error>> {
        if let Some(t) = op.ticket {
            // Usually this operation is the oldest waiter (often the only one).
            // An older waiter of this context goes first (looked for among
            // older tickets only, and only where a context may have two).
            let first = self.recv_waiters.front().is_some_and(|w| w.ticket == t);
            if !first
                && !self.one_recv_per_ctx
                && self
                    .recv_waiters
                    .iter()
                    .take_while(|w| w.ticket < t)
                    .any(|w| w.ctx == ctx)
            {
                self.set_recv_waker(t, cx.waker());
                return Poll::Pending;
            }
        }
        let fresh = !core::mem::replace(&mut op.started, true);
        let begun = if fresh && tracks {
            self.call(wakes, |m, io| m.recv_begin(io, ctx))
        } else {
            Ok(())
        };
        match begun.and_then(|()| self.call(wakes, |m, io| m.recv(io, ctx))) {
            Err(Error::WouldBlock) => {
                if tracks {
                    self.call(wakes, |m, io| m.recv_parked(io, ctx));
                }
                match op.ticket {
                    Some(t) => self.set_recv_waker(t, cx.waker()),
                    None => {
                        let ticket = self.next_ticket;
                        self.next_ticket += 1;
                        op.ticket = Some(ticket);
                        self.recv_waiters.push_back(RecvWaiter {
                            ctx,
                            ticket,
                            waker: Some(cx.waker().clone()),
                        });
                    }
                }
                op.parked = true;
                Poll::Pending
            }
            r => {
                if let Some(t) = op.ticket.take() {
                    self.remove_recv_waiter(t, wakes);
                }
                Poll::Ready(r)
            }
        }
    }

    fn set_recv_waker(&mut self, ticket: u64, w: &Waker) {
        if let Some(e) = self.recv_waiters.iter_mut().find(|e| e.ticket == ticket) {
            if !e.waker.as_ref().is_some_and(|x| x.will_wake(w)) {
                e.waker = Some(w.clone());
            }
        }
    }

    /// Drops waiter `ticket` and gives the next one of its context a turn
    /// (there may be another message for it).
    fn remove_recv_waiter(&mut self, ticket: u64, wakes: &mut Wakes) {
        let ctx = if self
            .recv_waiters
            .front()
            .is_some_and(|e| e.ticket == ticket)
        {
            self.recv_waiters.pop_front().expect("checked").ctx
        } else {
            let Some(i) = self.recv_waiters.iter().position(|e| e.ticket == ticket) else {
                return;
            };
            self.recv_waiters.remove(i).expect("found").ctx
        };
        if self.one_recv_per_ctx {
            return;
        }
        if let Some(next) = self.recv_waiters.iter_mut().find(|e| e.ctx == ctx) {
            if let Some(k) = next.waker.take() {
                wakes.push(k);
            }
        }
    }
}

impl<R: Runtime> Core<R> {
    /// One attempt to send on `ctx`; parks `cx` when it would block. Also
    /// returns the machine's next deadline for `ctx`.
    pub(crate) fn poll_send(
        &self,
        cx: Option<&mut Context<'_>>,
        ctx: CtxId,
        slot: &mut Option<Message>,
    ) -> (Poll<Result<(), SendError>>, Option<Instant>) {
        let Some(m) = slot.take() else {
            return (Poll::Ready(Ok(())), None);
        };
        self.transact(|st, wakes| {
            if st.closed {
                return (Poll::Ready(Err(SendError::new(Error::Closed, m))), None);
            }
            if self.uses_time {
                st.expire_due(wakes, ctx);
            }
            let r = match st.call(wakes, |mch, io| mch.send(io, ctx, m)) {
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
            (r, dl)
        })
    }

    /// One attempt to receive on `ctx`: a non-blocking one without `op`
    /// (`try_recv`), else an attempt of the blocking receive `op`.
    pub(crate) fn poll_recv(
        &self,
        cx: Option<&mut Context<'_>>,
        ctx: CtxId,
        op: Option<&mut RecvOp>,
    ) -> (Poll<Result<Message, Error>>, Option<Instant>) {
        let mut unblock = false;
        let r = self.transact(|st, wakes| {
            if st.closed {
                return (Poll::Ready(Err(Error::Closed)), None);
            }
            if self.uses_time {
                st.expire_due(wakes, ctx);
            }
            let r = match (cx, op) {
                (Some(cx), Some(op)) => st.recv_blocking(wakes, ctx, cx, op, self.tracks_receives),
                _ => Poll::Ready(st.call(wakes, |m, io| m.recv(io, ctx))),
            };
            // A receive made room: parked pipes may deliver now (after one
            // that took a message, once the machine has room for a batch).
            unblock =
                !st.blocked.is_empty() && (!matches!(r, Poll::Ready(Ok(_))) || st.m.recv_room());
            let dl = if self.uses_time {
                st.m.deadline(ctx)
            } else {
                None
            };
            (r, dl)
        });
        if unblock {
            self.unblock();
        }
        r
    }

    /// Takes up to `max` messages already there for `ctx` into `out`, a
    /// pass of the lock for all the machine holds (then the pipes that
    /// waited for room refill it, and another pass), stopping at the first
    /// attempt that finds nothing or is refused. Returns how many it took.
    pub(crate) fn try_recv_many(&self, ctx: CtxId, out: &mut Vec<Message>, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let mut unblock = false;
            let took = self.transact(|st, wakes| {
                if st.closed {
                    return 0;
                }
                if self.uses_time {
                    st.expire_due(wakes, ctx);
                }
                let (mut took, mut short) = (0, false);
                while n + took < max {
                    match st.call(wakes, |m, io| m.recv(io, ctx)) {
                        Ok(m) => {
                            out.push(m);
                            took += 1;
                        }
                        Err(_) => {
                            short = true;
                            break;
                        }
                    }
                }
                unblock = took > 0 && !st.blocked.is_empty() && (short || st.m.recv_room());
                took
            });
            n += took;
            if !unblock {
                break;
            }
            self.unblock();
        }
        n
    }

    /// A blocking receive that waited is abandoned (timed out or dropped).
    fn recv_abandoned(&self, c: CtxId, ticket: Option<u64>) {
        self.transact(|st, wakes| {
            if let Some(t) = ticket {
                st.remove_recv_waiter(t, wakes);
            }
            if !st.closed && self.tracks_receives {
                st.call(wakes, |m, io| m.recv_cancelled(io, c));
            }
        });
    }

    pub(crate) fn set_opt(&self, ctx: CtxId, o: &SockOpt) -> Result<(), Error> {
        let mut unblock = false;
        let r = self.transact(|st, wakes| {
            if st.closed {
                return Err(Error::Closed);
            }
            let engine = if ctx == CtxId::SOCKET {
                st.opts.apply(o)?
            } else {
                false
            };
            if engine {
                self.send_timeout_ms
                    .store(ms_of(st.opts.send_timeout), Ordering::Relaxed);
                self.recv_timeout_ms
                    .store(ms_of(st.opts.recv_timeout), Ordering::Relaxed);
                return Ok(());
            }
            let r = st.call(wakes, |m, io| m.set_option(io, ctx, o));
            unblock = !st.blocked.is_empty();
            match (r, o) {
                // ttl-max is also the engine's (devices read it).
                (Err(Error::NotSupported), SockOpt::TtlMax(_)) if ctx == CtxId::SOCKET => Ok(()),
                (r, _) => r,
            }
        });
        if unblock {
            self.unblock();
        }
        r
    }

    pub(crate) fn open_ctx(&self) -> Result<CtxId, Error> {
        self.transact(|st, wakes| {
            if st.closed {
                return Err(Error::Closed);
            }
            st.next_ctx = st.next_ctx.wrapping_add(1).max(1);
            let c = CtxId(st.next_ctx);
            st.call(wakes, |m, io| m.open_ctx(io, c)).map(|()| c)
        })
    }

    pub(crate) fn close_ctx(&self, c: CtxId) {
        self.transact(|st, wakes| {
            st.call(wakes, |m, io| m.close_ctx(io, c));
            // Its waiting operations learn it (and leave the queue) when
            // they poll again.
            for w in st.recv_waiters.iter_mut().filter(|w| w.ctx == c) {
                if let Some(k) = w.waker.take() {
                    wakes.push(k);
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
        });
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
        if super::timers::poll_alarm(rt, sleep.as_mut(), &mut armed, want, cx).is_pending() {
            return Poll::Pending;
        }
    })
    .await
}

/// Sends `m` on `ctx`, waiting for room up to `timeout`.
pub(crate) async fn send_on<R: Runtime>(
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

/// Tells the engine when a receive that waited is abandoned (it timed out
/// or its future was dropped): the next waiter gets its turn, REQ and
/// SURVEYOR end their request or survey, REP passes a request it was woken
/// for to another context.
struct RecvGuard<'a, R: Runtime> {
    core: &'a Arc<Core<R>>,
    ctx: CtxId,
    op: RecvOp,
}

impl<R: Runtime> Drop for RecvGuard<'_, R> {
    fn drop(&mut self) {
        if self.op.parked && !self.op.done {
            self.core.recv_abandoned(self.ctx, self.op.ticket);
        }
    }
}

/// Receives on `ctx`, waiting up to `timeout`.
pub(crate) async fn recv_on<R: Runtime>(
    core: &Arc<Core<R>>,
    ctx: CtxId,
    timeout: Option<core::time::Duration>,
) -> Result<Message, Error> {
    let mut guard = RecvGuard {
        core,
        ctx,
        op: RecvOp::default(),
    };
    op_loop(
        core,
        timeout,
        &mut guard,
        |g, cx| {
            let (r, dl) = core.poll_recv(Some(cx), ctx, Some(&mut g.op));
            if r.is_ready() {
                g.op.done = true;
            }
            (r, dl)
        },
        |_| Err(Error::TimedOut),
    )
    .await
}
