//! The tokio side of the core's [`Runtime`] and [`Spawner`] traits, and the
//! shared background runtime used when no tokio runtime is at hand.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

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

/// The shared runtime: a current-thread tokio runtime started on first use on
/// a background thread named `nanosp-rt`, living as long as the process. The
/// blocking API and sockets made outside any tokio context run their
/// transports here.
pub fn shared_handle() -> &'static Handle {
    static SHARED: OnceLock<Handle> = OnceLock::new();
    SHARED.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("nanosp: cannot start the shared tokio runtime");
        let handle = rt.handle().clone();
        std::thread::Builder::new()
            .name("nanosp-rt".into())
            .spawn(move || rt.block_on(std::future::pending::<()>()))
            .expect("nanosp: cannot start the shared runtime thread");
        handle
    })
}
