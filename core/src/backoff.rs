//! When dialers redial and listeners retry accepts: two small state
//! machines with no I/O and no clock, driven by every runtime (tokio,
//! embassy, the browser), so every target waits alike, reports the same
//! [`DialEvent`]s and bumps the same [`Stats`] counters.
//!
//! Time and randomness are arguments (`now`, `rand`), as in the protocol
//! machines, so the rules are tested with virtual time and no runtime.
//!
//! # A dialer's driver ([`Redial`])
//!
//! ```text
//! let mut r = Redial::new(min, max);
//! loop {
//!     match connect().await {                                  // one attempt
//!         Ok(pipe) => {
//!             report(r.attached());                            // Connected
//!             let why = pipe.run().await;
//!             if socket closed { return }
//!             wait = r.pipe_closed(why, now, rand);           // PipeClosed(why)
//!         }
//!         Err(e) => wait = r.failed(e, now, rand),            // Failed(e)
//!     }
//!     report(wait.events());                                   // ..., Backoff(d)
//!     sleep until wait.until (or the socket closes: return);
//!     count(wait.counter());                                   // Stats::reconnects
//! }
//! ```
//!
//! # A listener's driver ([`AcceptPause`])
//!
//! After each accept error: count [`AcceptPause::failed`]'s counter
//! ([`Stats::accept_errors`]) and sleep until its instant; after each
//! accepted connection call [`AcceptPause::accepted`].

use core::time::Duration;

use crate::{Error, Instant, Options, Stats};

/// Exponential back-off with nng's jitter: each wait is uniform in
/// `[0, current)`; after each wait `current` doubles up to `max` (no growth
/// when `max` is zero); it returns to `min` when a pipe attaches.
///
/// ```
/// use nanosp_core::backoff::Backoff;
/// use core::time::Duration;
/// let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
/// assert!(b.next_wait(u32::MAX) < Duration::from_millis(100));
/// assert!(b.next_wait(u32::MAX) < Duration::from_millis(200));
/// assert!(b.next_wait(u32::MAX) < Duration::from_millis(400));
/// assert!(b.next_wait(u32::MAX) < Duration::from_millis(400));
/// b.reset();
/// assert_eq!(b.current(), Duration::from_millis(100));
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    // Microseconds: 64-bit arithmetic only (firmware has no 128-bit
    // multiply, which `Duration::as_micros` would bring).
    cur: u64,
    min: u64,
    max: u64,
}

/// `d` in microseconds, saturating.
fn micros(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000)
        .saturating_add(u64::from(d.subsec_micros()))
}

impl Backoff {
    /// Starts at `min`.
    pub fn new(min: Duration, max: Duration) -> Self {
        let min = micros(min);
        Backoff {
            cur: min,
            min,
            max: micros(max),
        }
    }
    /// The current upper bound of a wait.
    pub fn current(&self) -> Duration {
        Duration::from_micros(self.cur)
    }
    /// Back to `min` (a pipe attached).
    pub fn reset(&mut self) {
        self.cur = self.min;
    }
    /// The next wait, scaled by `rand / 2^32`, then grows the bound.
    pub fn next_wait(&mut self, rand: u32) -> Duration {
        Duration::from_micros(self.next_wait_us(rand))
    }
    /// [`Backoff::next_wait`] in microseconds.
    fn next_wait_us(&mut self, rand: u32) -> u64 {
        // cur * rand / 2^32, exactly, without a 128-bit product.
        let r = u64::from(rand);
        let wait = (self.cur >> 32)
            .saturating_mul(r)
            .saturating_add(((self.cur & 0xffff_ffff) * r) >> 32);
        if self.max != 0 {
            self.cur = self.cur.saturating_mul(2).min(self.max).max(self.min);
        }
        wait
    }
}

/// What a dialer did, for logging and for the application: every target's
/// dialer reports these, in the order [`Redial`] gives them.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialEvent {
    /// A connection was made and its pipe attached.
    Connected,
    /// An attempt failed (connect, handshake or attach) with this error.
    Failed(Error),
    /// The dialer's pipe closed, for this reason; it will redial.
    PipeClosed(Error),
    /// The dialer waits this long (back-off with jitter) before redialing.
    Backoff(Duration),
}

/// A counter of [`Stats`] that a driver bumps when a machine says so.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// [`Stats::reconnects`]: a redial begins.
    Reconnects,
    /// [`Stats::accept_errors`]: an accept failed.
    AcceptErrors,
    /// [`Stats::handshake_failures`]: a connection was made but its SP or
    /// WebSocket handshake failed or timed out.
    HandshakeFailures,
}

impl Counter {
    /// Adds one to this counter of `s`.
    pub fn bump(self, s: &mut Stats) {
        match self {
            Counter::Reconnects => s.reconnects += 1,
            Counter::AcceptErrors => s.accept_errors += 1,
            Counter::HandshakeFailures => s.handshake_failures += 1,
        }
    }
}

/// The shortest wait before a redial, whatever `reconnect-time-min` says: a
/// zero reconnect time must not let a dialer whose connects fail at once
/// starve the other tasks of a single-threaded executor (embassy, the
/// browser).
pub const REDIAL_FLOOR: Duration = Duration::from_millis(1);

/// A dialer's redial schedule (nng's rule: `reconnect-time-min`, doubling
/// up to `reconnect-time-max`, each wait jittered; back to the minimum once
/// a pipe attaches).
///
/// Inputs: [`Redial::attached`], [`Redial::failed`],
/// [`Redial::pipe_closed`]. Outputs: the events to report and a [`Wait`]
/// (how long, until when, and the counter to bump when it is over). The
/// first attempt of a dialer is made at once, with no input before it.
///
/// ```
/// use core::time::Duration;
/// use nanosp_core::backoff::{Counter, DialEvent, Redial};
/// use nanosp_core::{Error, Instant};
/// let mut r = Redial::new(Duration::from_millis(100), Duration::ZERO);
/// let now = Instant::from_micros(0);
/// let w = r.failed(Error::ConnectionRefused, now, 1 << 31);
/// assert_eq!(w.wait, Duration::from_millis(50));
/// assert_eq!(w.until, now + Duration::from_millis(50));
/// assert_eq!(
///     w.events(),
///     [DialEvent::Failed(Error::ConnectionRefused), DialEvent::Backoff(w.wait)]
/// );
/// assert_eq!(w.counter(), Counter::Reconnects);
/// assert_eq!(r.attached(), DialEvent::Connected);
/// ```
#[derive(Debug, Clone)]
pub struct Redial {
    backoff: Backoff,
}

/// A wait before the next attempt, from [`Redial`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// Why: [`DialEvent::Failed`] or [`DialEvent::PipeClosed`].
    pub cause: DialEvent,
    /// How long (the jittered back-off, at least [`REDIAL_FLOOR`]).
    pub wait: Duration,
    /// When the next attempt begins: `now + wait`.
    pub until: Instant,
}

impl Wait {
    /// The events to report now, in order: the cause, then the back-off.
    pub fn events(&self) -> [DialEvent; 2] {
        [self.cause, DialEvent::Backoff(self.wait)]
    }

    /// The counter to bump once the wait is over and the redial begins
    /// (not if the socket closed during the wait).
    pub fn counter(&self) -> Counter {
        Counter::Reconnects
    }
}

impl Redial {
    /// A schedule from `reconnect-time-min` and `reconnect-time-max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Redial {
            backoff: Backoff::new(min, max),
        }
    }

    /// The schedule of a socket's options.
    pub fn from_options(o: &Options) -> Self {
        Self::new(o.reconnect_min, o.reconnect_max)
    }

    /// A pipe attached: the back-off starts over. Report the event returned.
    pub fn attached(&mut self) -> DialEvent {
        self.backoff.reset();
        DialEvent::Connected
    }

    /// An attempt failed with `e` at `now`; `rand` is a fresh random number.
    pub fn failed(&mut self, e: Error, now: Instant, rand: u32) -> Wait {
        self.wait(DialEvent::Failed(e), now, rand)
    }

    /// The dialer's pipe closed because of `why` at `now` (a driver whose
    /// socket closed stops instead).
    pub fn pipe_closed(&mut self, why: Error, now: Instant, rand: u32) -> Wait {
        self.wait(DialEvent::PipeClosed(why), now, rand)
    }

    fn wait(&mut self, cause: DialEvent, now: Instant, rand: u32) -> Wait {
        let us = self.backoff.next_wait_us(rand).max(micros(REDIAL_FLOOR));
        Wait {
            cause,
            wait: Duration::from_micros(us),
            until: Instant::from_micros(now.as_micros().saturating_add(us)),
        }
    }
}

/// First pause of a listener after an accept error.
pub const ACCEPT_RETRY_MIN: Duration = Duration::from_millis(10);
/// Longest pause of a listener after repeated accept errors.
pub const ACCEPT_RETRY_MAX: Duration = Duration::from_millis(320);

/// A listener's pause after accept errors (out of file descriptors, out of
/// memory, out of embassy sockets): [`ACCEPT_RETRY_MIN`] at first, doubling
/// up to [`ACCEPT_RETRY_MAX`] while errors continue, back to the minimum
/// after an accept succeeds. Each error is counted
/// ([`Stats::accept_errors`]). A connection waiting meanwhile stays in the
/// backlog and is taken once resources free up: the listener neither spins
/// nor ends.
///
/// ```
/// use core::time::Duration;
/// use nanosp_core::backoff::{AcceptPause, Counter};
/// use nanosp_core::Instant;
/// let mut a = AcceptPause::new();
/// let t0 = Instant::from_micros(0);
/// let p = a.failed(t0);
/// assert_eq!((p.wait, p.counter), (Duration::from_millis(10), Counter::AcceptErrors));
/// assert_eq!(a.failed(p.until).wait, Duration::from_millis(20));
/// a.accepted();
/// assert_eq!(a.failed(t0).wait, Duration::from_millis(10));
/// ```
#[derive(Debug, Clone)]
pub struct AcceptPause {
    /// The next pause, in milliseconds.
    next_ms: u32,
}

/// A pause after an accept error, from [`AcceptPause::failed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    /// How long.
    pub wait: Duration,
    /// When to accept again.
    pub until: Instant,
    /// The counter to bump now ([`Counter::AcceptErrors`]).
    pub counter: Counter,
}

impl Default for AcceptPause {
    fn default() -> Self {
        Self::new()
    }
}

impl AcceptPause {
    /// No errors yet.
    pub const fn new() -> Self {
        AcceptPause {
            next_ms: ACCEPT_RETRY_MIN.as_millis() as u32,
        }
    }

    /// An accept succeeded: the next pause is the shortest again.
    pub fn accepted(&mut self) {
        *self = Self::new();
    }

    /// An accept failed at `now`: count it, and pause.
    pub fn failed(&mut self, now: Instant) -> Pause {
        let ms = self.next_ms;
        self.next_ms = (ms * 2).min(ACCEPT_RETRY_MAX.as_millis() as u32);
        Pause {
            wait: Duration::from_millis(u64::from(ms)),
            until: Instant::from_micros(now.as_micros().saturating_add(u64::from(ms) * 1000)),
            counter: Counter::AcceptErrors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A dialer against a peer that refuses three times, then accepts, then
    /// drops the pipe: the waits, events and counters of every target.
    #[test]
    fn redial_schedule_in_virtual_time() {
        let mut r = Redial::new(100 * MS, 400 * MS);
        let mut now = Instant::from_micros(0);
        let mut stats = Stats::default();
        let mut log = alloc::vec::Vec::new();
        // rand = u32::MAX: the wait is just under the bound.
        let full = u32::MAX;
        for bound in [100u64, 200, 400, 400] {
            let w = r.failed(Error::ConnectionRefused, now, full);
            assert!(w.wait < Duration::from_millis(bound), "{w:?}");
            assert!(w.wait >= Duration::from_millis(bound) - MS, "{w:?}");
            assert_eq!(w.until, now + w.wait);
            log.extend(w.events());
            now = w.until;
            w.counter().bump(&mut stats);
        }
        assert_eq!(stats.reconnects, 4);
        assert_eq!(log[0], DialEvent::Failed(Error::ConnectionRefused));
        assert!(matches!(log[1], DialEvent::Backoff(_)));
        // Attached: back to the minimum.
        assert_eq!(r.attached(), DialEvent::Connected);
        let w = r.pipe_closed(Error::ConnectionShutdown, now, full / 2);
        assert_eq!(w.cause, DialEvent::PipeClosed(Error::ConnectionShutdown));
        assert_eq!(w.wait, 50 * MS - Duration::from_micros(1));
    }

    #[test]
    fn redial_waits_at_least_the_floor() {
        // reconnect-time-min 0, and a random draw of 0: still 1 ms.
        let mut r = Redial::new(Duration::ZERO, Duration::ZERO);
        let now = Instant::from_micros(5);
        let w = r.failed(Error::TimedOut, now, 0);
        assert_eq!(w.wait, REDIAL_FLOOR);
        assert_eq!(w.until, Instant::from_micros(1005));
        let mut r = Redial::new(100 * MS, Duration::ZERO);
        assert_eq!(r.failed(Error::TimedOut, now, 0).wait, REDIAL_FLOOR);
        // No growth when max is zero.
        for _ in 0..5 {
            assert!(r.failed(Error::TimedOut, now, u32::MAX).wait < 100 * MS);
        }
    }

    #[test]
    fn redial_takes_the_socket_options() {
        let o = Options::default();
        let mut r = Redial::from_options(&o);
        let w = r.failed(Error::TimedOut, Instant::from_micros(0), u32::MAX);
        assert!(w.wait < o.reconnect_min && w.wait > o.reconnect_min / 2);
    }

    #[test]
    fn jitter_is_exact_without_a_128_bit_product() {
        for cur in [
            0u64,
            1,
            999,
            100_000,
            u32::MAX as u64 + 7,
            1 << 40,
            u64::MAX / 3,
        ] {
            for rand in [0u32, 1, 12345, 1 << 31, u32::MAX] {
                let mut b = Backoff {
                    cur,
                    min: cur,
                    max: 0,
                };
                let want = ((cur as u128 * rand as u128) >> 32) as u64;
                assert_eq!(b.next_wait_us(rand), want, "{cur} {rand}");
            }
        }
        assert_eq!(micros(Duration::new(3, 999_999_999)), 3_999_999);
        assert_eq!(micros(Duration::MAX), u64::MAX);
    }

    #[test]
    fn accept_pause_doubles_to_the_cap_and_resets() {
        let mut a = AcceptPause::new();
        let mut now = Instant::from_micros(0);
        let mut stats = Stats::default();
        let mut waits = alloc::vec::Vec::new();
        for _ in 0..8 {
            let p = a.failed(now);
            p.counter.bump(&mut stats);
            assert_eq!(p.until, now + p.wait);
            waits.push(p.wait.as_millis());
            now = p.until;
        }
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 320, 320]);
        assert_eq!(stats.accept_errors, 8);
        a.accepted();
        assert_eq!(a.failed(now).wait, ACCEPT_RETRY_MIN);
    }

    #[test]
    fn counters_bump_their_stat() {
        let mut s = Stats::default();
        Counter::HandshakeFailures.bump(&mut s);
        Counter::Reconnects.bump(&mut s);
        Counter::AcceptErrors.bump(&mut s);
        assert_eq!(
            (s.handshake_failures, s.reconnects, s.accept_errors),
            (1, 1, 1)
        );
    }
}
