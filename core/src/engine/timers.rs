//! Machine deadlines (REQ resend, survey end). An operation waiting on a
//! context fires that context's deadline itself (and a late operation
//! catches up at once); the socket's timer task fires every deadline on
//! time even while nobody waits, as nng's timers do.

use core::future::{poll_fn, Future};
use core::pin::{pin, Pin};
use core::task::{Context, Poll};

use super::{Core, State};
use crate::proto::{CtxId, Wakes};
use crate::{Instant, Runtime};

impl State {
    /// Runs the machine's timer for `ctx` if its deadline has passed.
    pub(super) fn expire_due(&mut self, wakes: &mut Wakes, ctx: CtxId) {
        if self.m.deadline(ctx).is_some_and(|d| d <= self.now) {
            self.call(wakes, |m, io| m.expire(io, ctx));
        }
    }

    /// The machine set a deadline at `at`: if the timer task sleeps past
    /// it (or not at all), wake it to sleep less.
    pub(super) fn timer_armed(&mut self, at: Instant, wakes: &mut Wakes) {
        if self.timer_at.is_none_or(|t| at < t) {
            if let Some(w) = self.timer_waker.take() {
                wakes.push(w);
            }
        }
    }
}

impl<R: Runtime> Core<R> {
    /// The timer task's turn: runs the machine's due timers and returns when
    /// it must run next (`Err` once the socket is closed).
    fn timer_turn(&self, cx: &mut Context<'_>) -> Result<Option<Instant>, ()> {
        self.transact(|st, wakes| {
            if st.closed {
                return Err(());
            }
            if st.m.next_deadline().is_some_and(|d| d <= st.now) {
                st.call(wakes, |m, io| m.on_timer(io));
            }
            let next = st.m.next_deadline();
            st.timer_at = next;
            st.timer_waker = Some(cx.waker().clone());
            Ok(next)
        })
    }

    /// The socket's timer task (see [`crate::SocketRef::run_timers`]).
    pub(crate) async fn run_timers(&self) {
        if !self.uses_time {
            return;
        }
        let mut sleep = pin!(None::<R::Sleep>);
        let mut armed: Option<Instant> = None;
        poll_fn(|cx| loop {
            let Ok(next) = self.timer_turn(cx) else {
                return Poll::Ready(());
            };
            let Some(at) = next else {
                sleep.set(None);
                armed = None;
                return Poll::Pending;
            };
            if poll_alarm(&self.rt, sleep.as_mut(), &mut armed, at, cx).is_pending() {
                return Poll::Pending;
            }
        })
        .await
    }
}

/// Waits on `sleep` for `at`, re-arming it only when `at` changed (`armed`
/// remembers for when); ready once `at` has passed, and then disarmed. The
/// wait of an operation and of the timer task for their next deadline.
pub(super) fn poll_alarm<R: Runtime>(
    rt: &R,
    mut sleep: Pin<&mut Option<R::Sleep>>,
    armed: &mut Option<Instant>,
    at: Instant,
    cx: &mut Context<'_>,
) -> Poll<()> {
    if *armed != Some(at) {
        sleep.set(Some(rt.sleep_until(at)));
        *armed = Some(at);
    }
    match sleep.as_mut().as_pin_mut().expect("armed").poll(cx) {
        Poll::Pending => Poll::Pending,
        Poll::Ready(()) => {
            sleep.set(None);
            *armed = None;
            Poll::Ready(())
        }
    }
}
