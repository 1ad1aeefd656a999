//! Time and randomness, supplied by the runtime crate.

use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use crate::sync::{Arc, Mutex};

/// A point in time on a runtime's monotonic clock, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The instant `us` microseconds after the clock's epoch.
    pub const fn from_micros(us: u64) -> Self {
        Instant(us)
    }
    /// Microseconds since the clock's epoch.
    pub const fn as_micros(self) -> u64 {
        self.0
    }
    /// `self + d`, saturating at the far future.
    pub fn plus(self, d: Duration) -> Self {
        Instant(
            self.0
                .saturating_add(d.as_micros().min(u64::MAX as u128) as u64),
        )
    }
    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl core::ops::Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.plus(d)
    }
}

/// What a runtime crate provides to the core: a monotonic clock, sleeping until
/// an instant, and randomness (request ids, back-off jitter).
///
/// `nanosp` implements it on tokio, `nanosp-embassy` on embassy-time, the
/// browser crate on `setTimeout`; [`crate::testing::VirtualRuntime`] is a manual
/// clock for tests.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// The future returned by [`Runtime::sleep_until`].
    type Sleep: Future<Output = ()>;
    /// Now.
    fn now(&self) -> Instant;
    /// A future that completes at `deadline` (at once if it has passed).
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;
    /// A random 32-bit number (need not be cryptographic).
    fn random_u32(&self) -> u32;

    /// Lets the executor run its other tasks before the caller goes on (a
    /// pipe that has moved many bytes gives way). The default wakes the
    /// task and returns `Pending` once. An executor that looks at its I/O
    /// only between rounds of ready tasks should also let that I/O be seen
    /// first, or a task that always yields keeps it waiting: tokio's
    /// `yield_now` does, and the `nanosp` crate's runtime uses it.
    fn yield_now(&self) -> impl Future<Output = ()> + Send {
        YieldOnce(false)
    }
}

/// [`Runtime::yield_now`]'s default: `Pending` once, woken at once.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A clock that moves only when told to: deterministic tests with no sleeps.
///
/// ```
/// use nanosp_core::Runtime;
/// use nanosp_core::testing::VirtualRuntime;
/// use core::time::Duration;
/// let rt = VirtualRuntime::new(7);
/// let t0 = rt.now();
/// rt.advance(Duration::from_millis(5));
/// assert_eq!(rt.now().since(t0), Duration::from_millis(5));
/// ```
#[derive(Clone)]
pub struct VirtualRuntime {
    inner: Arc<Mutex<VState>>,
}

struct VState {
    now: u64,
    rng: u64,
    next_id: u64,
    /// (deadline, sleep id, waker)
    sleepers: Vec<(u64, u64, Waker)>,
    /// Calls of `yield_now`.
    yields: u64,
}

impl VirtualRuntime {
    /// A clock at time zero with a seeded random generator.
    pub fn new(seed: u64) -> Self {
        VirtualRuntime {
            inner: Arc::new(Mutex::new(VState {
                now: 0,
                rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
                next_id: 0,
                sleepers: Vec::new(),
                yields: 0,
            })),
        }
    }

    /// How many times tasks gave way through [`Runtime::yield_now`].
    pub fn yields(&self) -> u64 {
        self.inner.lock(|s| s.yields)
    }

    /// Moves the clock forward and wakes every sleeper whose time has come.
    pub fn advance(&self, d: Duration) {
        let wake = self.inner.lock(|s| {
            s.now = s.now.saturating_add(d.as_micros() as u64);
            let now = s.now;
            let mut due = Vec::new();
            s.sleepers.retain(|(t, _, w)| {
                if *t <= now {
                    due.push(w.clone());
                    false
                } else {
                    true
                }
            });
            due
        });
        for w in wake {
            w.wake();
        }
    }

    /// The earliest instant someone sleeps until, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.inner
            .lock(|s| s.sleepers.iter().map(|(t, _, _)| *t).min())
            .map(Instant)
    }

    /// Advances to the earliest pending deadline; false if nobody sleeps.
    pub fn advance_to_next(&self) -> bool {
        match self.next_deadline() {
            Some(t) => {
                let d = t.since(self.now());
                self.advance(d);
                true
            }
            None => false,
        }
    }
}

/// A [`VirtualRuntime`] sleep.
pub struct VirtualSleep {
    rt: VirtualRuntime,
    deadline: u64,
    id: u64,
}

impl Drop for VirtualSleep {
    fn drop(&mut self) {
        let id = self.id;
        self.rt
            .inner
            .lock(|s| s.sleepers.retain(|(_, i, _)| *i != id));
    }
}

impl Future for VirtualSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let (d, id) = (self.deadline, self.id);
        self.rt.inner.lock(|s| {
            if s.now >= d {
                Poll::Ready(())
            } else {
                match s.sleepers.iter_mut().find(|(_, i, _)| *i == id) {
                    Some(e) => e.2 = cx.waker().clone(),
                    None => s.sleepers.push((d, id, cx.waker().clone())),
                }
                Poll::Pending
            }
        })
    }
}

impl Runtime for VirtualRuntime {
    type Sleep = VirtualSleep;
    fn now(&self) -> Instant {
        Instant(self.inner.lock(|s| s.now))
    }
    fn sleep_until(&self, deadline: Instant) -> VirtualSleep {
        let id = self.inner.lock(|s| {
            s.next_id += 1;
            s.next_id
        });
        VirtualSleep {
            rt: self.clone(),
            deadline: deadline.0,
            id,
        }
    }
    fn yield_now(&self) -> impl Future<Output = ()> + Send {
        self.inner.lock(|s| s.yields += 1);
        YieldOnce(false)
    }
    fn random_u32(&self) -> u32 {
        self.inner.lock(|s| {
            // xorshift64*
            let mut x = s.rng;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            s.rng = x;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
        })
    }
}
