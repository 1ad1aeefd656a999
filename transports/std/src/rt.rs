//! The tokio side of the core's [`Runtime`] and [`Spawner`] traits, and the
//! shared background runtime used when no tokio runtime is at hand.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use nanosp_core::transport::Spawner;
use nanosp_core::{Instant, Runtime};
use tokio::runtime::Handle;

/// The core's clock, sleep and randomness on a tokio runtime.
///
/// Holds the runtime's [`Handle`], so deadlines work even when a socket
/// operation is polled from a thread outside that runtime (the blocking API).
#[derive(Clone)]
pub struct TokioRuntime {
    handle: Handle,
    epoch: tokio::time::Instant,
    rng: Arc<AtomicU64>,
}

impl std::fmt::Debug for TokioRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokioRuntime").finish_non_exhaustive()
    }
}

impl TokioRuntime {
    /// A runtime on `handle`.
    pub fn new(handle: Handle) -> Self {
        let seed = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(std::process::id() as u64);
            h.finish() | 1
        };
        let epoch = {
            let _g = handle.enter();
            tokio::time::Instant::now()
        };
        TokioRuntime {
            handle,
            epoch,
            rng: Arc::new(AtomicU64::new(seed)),
        }
    }

    /// The runtime of the current tokio context, or else the shared
    /// background runtime ([`shared_handle`]).
    pub fn current_or_shared() -> Self {
        Self::new(Handle::try_current().unwrap_or_else(|_| shared_handle().clone()))
    }

    /// The tokio handle transports are spawned on.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Runs `f` in the background on this runtime.
    pub fn spawn<F: Future<Output = ()> + Send + 'static>(&self, f: F) -> tokio::task::AbortHandle {
        self.handle.spawn(f).abort_handle()
    }
}

impl Runtime for TokioRuntime {
    type Sleep = tokio::time::Sleep;

    fn now(&self) -> Instant {
        let _g = self.handle.enter();
        Instant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        let _g = self.handle.enter();
        let at = self.epoch + std::time::Duration::from_micros(deadline.as_micros());
        tokio::time::sleep_until(at)
    }

    /// tokio's `yield_now`: the task runs again after the runtime has
    /// looked at its I/O, so a pipe that keeps yielding does not keep the
    /// reactor waiting (a current-thread runtime polls it only when no
    /// task is ready, or every 61 tasks).
    async fn yield_now(&self) {
        tokio::task::yield_now().await
    }

    fn random_u32(&self) -> u32 {
        // splitmix64 over a shared counter: cheap, lock-free, good enough for jitter.
        let mut z = self
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as u32
    }
}

/// Spawns onto a tokio runtime.
#[derive(Clone, Debug)]
pub struct TokioSpawner(pub Handle);

impl Spawner for TokioSpawner {
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, f: F) {
        self.0.spawn(f);
    }
}

/// The shared runtime: a current-thread tokio runtime started on first use,
/// living as long as the process. The blocking API and sockets made outside
/// any tokio context run their transports here.
///
/// Who runs it: a thread waiting in a blocking call (of [`crate::blocking`]) runs it
/// itself while it waits, so the reply it waits for is read from the
/// socket and handed over by that thread, with no wake-up of another (with
/// several threads waiting at once, one runs the runtime and wakes the
/// others). When no thread has run it for [`LEASE`], or a blocking call
/// left tasks queued with nobody running it, a background thread named
/// `nanosp-rt` does, until a blocking call wants it back.
///
/// So between blocking calls, I/O nobody waits for (a message that comes
/// while the application computes, a peer connecting), timers (REQ's
/// resend), tasks made ready in a waiting thread's last moment, and the
/// work of async sockets on this runtime (made outside tokio) may wait up
/// to [`LEASE`] before they run. Nothing is lost meanwhile: the kernel
/// holds the bytes. Pipe-event hooks, which run on the runtime, may run on
/// any thread that waits in a blocking call.
pub fn shared_handle() -> &'static Handle {
    shared().rt.handle()
}

/// How long the background thread leaves the shared runtime to the
/// application's threads after the last one left it ([`shared_handle`]).
pub const LEASE: std::time::Duration = std::time::Duration::from_millis(1);

/// The lease in force, in µs: [`LEASE`], or what a test set.
static LEASE_US: AtomicU64 = AtomicU64::new(1000);

/// Sets the lease (see [`LEASE`]): for tests that must tell the background
/// thread's turns apart from the lease running out.
#[doc(hidden)]
pub fn set_lease(d: std::time::Duration) {
    LEASE_US.store(d.as_micros() as u64, Ordering::SeqCst);
}

thread_local! {
    /// This thread runs the shared runtime (in [`drive`], or the
    /// background thread): a blocking call here that waits would wait for
    /// itself.
    static RUNS_SHARED: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// True on a thread that runs the shared runtime now (inside a blocking
/// call, or the background thread): what runs there (a pipe-event hook)
/// must not make a blocking call that waits.
pub(crate) fn runs_shared() -> bool {
    RUNS_SHARED.with(|r| r.get())
}

struct Shared {
    rt: tokio::runtime::Runtime,
    /// Application threads inside [`drive`].
    driving: AtomicUsize,
    /// The background thread runs the runtime (or is about to).
    bg_runs: AtomicBool,
    /// Asks the background thread to give the runtime up.
    wanted: tokio::sync::Notify,
    /// Wakes the background thread from its lease wait; `true`: run now.
    kicked: Mutex<bool>,
    kick: Condvar,
    /// The background thread sleeps until the last application thread
    /// leaves [`drive`], which must wake it.
    parked: AtomicBool,
    /// When a thread last left [`drive`] (µs since `t0`).
    left: AtomicU64,
    t0: std::time::Instant,
}

impl Shared {
    fn now_us(&self) -> u64 {
        self.t0.elapsed().as_micros() as u64
    }

    /// The background thread runs the runtime now if nobody else does
    /// and tasks wait in its queue.
    fn run_queued(&self) {
        if self.driving.load(Ordering::SeqCst) == 0
            && !self.bg_runs.load(Ordering::SeqCst)
            && self.rt.handle().metrics().global_queue_depth() > 0
        {
            *self.kicked.lock().unwrap_or_else(|e| e.into_inner()) = true;
            self.kick.notify_one();
        }
    }

    /// The background thread: runs the runtime while no application thread
    /// does, and leaves it to them while they wait in blocking calls.
    fn background(&'static self) {
        RUNS_SHARED.with(|r| r.set(true));
        loop {
            self.bg_runs.store(true, Ordering::SeqCst);
            // (Checked after announcing itself, as `drive` checks
            // `bg_runs` after announcing itself: one sees the other.)
            if self.driving.load(Ordering::SeqCst) == 0 {
                self.rt.block_on(async {
                    // A call that asked when nobody listened left a permit:
                    // it is checked, not obeyed.
                    loop {
                        self.wanted.notified().await;
                        if self.driving.load(Ordering::SeqCst) > 0 {
                            break;
                        }
                    }
                });
            }
            self.bg_runs.store(false, Ordering::SeqCst);
            let mut kicked = self.kicked.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if self.driving.load(Ordering::SeqCst) > 0 {
                    // An application thread runs the runtime: sleep until
                    // the last one leaves (it wakes us if `parked`), with
                    // no timer ticking meanwhile.
                    self.parked.store(true, Ordering::SeqCst);
                    if self.driving.load(Ordering::SeqCst) > 0 {
                        kicked = self.kick.wait(kicked).unwrap_or_else(|e| e.into_inner());
                    }
                    self.parked.store(false, Ordering::SeqCst);
                    continue;
                }
                let lease = LEASE_US.load(Ordering::SeqCst);
                let since = self
                    .now_us()
                    .saturating_sub(self.left.load(Ordering::SeqCst));
                if core::mem::take(&mut *kicked) || since >= lease {
                    break;
                }
                // The lease runs out, unless a thread takes the runtime
                // again first.
                let rest = std::time::Duration::from_micros(lease - since);
                kicked = self
                    .kick
                    .wait_timeout(kicked, rest)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
    }
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    static STARTED: std::sync::Once = std::sync::Once::new();
    let s = SHARED.get_or_init(|| Shared {
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("nanosp: cannot start the shared tokio runtime"),
        driving: AtomicUsize::new(0),
        bg_runs: AtomicBool::new(false),
        wanted: tokio::sync::Notify::new(),
        kicked: Mutex::new(false),
        kick: Condvar::new(),
        parked: AtomicBool::new(false),
        left: AtomicU64::new(0),
        t0: std::time::Instant::now(),
    });
    STARTED.call_once(|| {
        std::thread::Builder::new()
            .name("nanosp-rt".into())
            .spawn(move || s.background())
            .expect("nanosp: cannot start the shared runtime thread");
    });
    s
}

/// Waits for `f` on this thread, running the shared runtime here while it
/// waits (see [`shared_handle`]); `None` on a thread that runs a tokio
/// runtime already (blocking it could stall the very tasks `f` waits for).
pub(crate) fn drive<F: std::future::Future>(f: F) -> Option<F::Output> {
    if Handle::try_current().is_ok() {
        return None;
    }
    let s = shared();
    s.driving.fetch_add(1, Ordering::SeqCst);
    if s.bg_runs.load(Ordering::SeqCst) {
        s.wanted.notify_one();
    }
    // Leaves the count even if `f` panics.
    struct Leave(&'static Shared);
    impl Drop for Leave {
        fn drop(&mut self) {
            let s = self.0;
            RUNS_SHARED.with(|r| r.set(false));
            s.left.store(s.now_us(), Ordering::SeqCst);
            // The last one out starts the background thread's lease (it
            // sets `parked` before it looks at `driving`: one of the two
            // sees the other).
            if s.driving.fetch_sub(1, Ordering::SeqCst) == 1
                && s.parked.swap(false, Ordering::SeqCst)
            {
                let _g = s.kicked.lock().unwrap_or_else(|e| e.into_inner());
                s.kick.notify_one();
            }
            // Work woken in the last moment is not left for the lease.
            s.run_queued();
        }
    }
    let _leave = Leave(s);
    // (Not set before: a thread that runs the runtime is inside it, and
    // was turned away above.)
    RUNS_SHARED.with(|r| r.set(true));
    Some(s.rt.block_on(f))
}

/// After a blocking call that may have queued work without waiting (a
/// send): the runtime runs it now, on the background thread if nobody
/// else runs it.
pub(crate) fn run_queued() {
    shared().run_queued()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thread waiting in [`drive`] runs the shared runtime's tasks
    /// itself (at least once in a hundred tries: the background thread may
    /// hold the runtime when a try begins, and then runs the task).
    #[test]
    fn a_waiting_thread_runs_the_shared_runtimes_tasks() {
        let me = std::thread::current().id();
        let mut here = 0;
        for _ in 0..100 {
            let task = shared_handle().spawn(async { std::thread::current().id() });
            let ran_on = drive(task).expect("not on a runtime").unwrap();
            here += usize::from(ran_on == me);
        }
        assert!(here > 0, "no task ran on the waiting thread");
        // Inside a tokio runtime it refuses (blocking there could stall it).
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async { assert!(drive(async {}).is_none()) });
    }
}
