//! The body-buffer pool: size classes, bounded, shared by every socket.
//!
//! A message body is a pooled `Vec<u8>` inside a reference-counted cell. When
//! the last holder drops it the cell goes back to its size class (up to a
//! bounded number per class), so steady traffic allocates nothing. Bodies larger
//! than the largest class are allocated exactly and freed normally.

use alloc::vec::Vec;

use portable_atomic::{AtomicUsize, Ordering};

use crate::sync::{Arc, Mutex};

/// Body sizes of the classes, smallest first. Each class's buffers hold
/// [`SLACK`] bytes more, but the smallest.
pub const CLASSES: [usize; 8] = [64, 256, 1024, 4096, 16 << 10, 64 << 10, 256 << 10, 1 << 20];

/// Room the buffers of every class but the smallest have beyond its size.
/// A received message arrives with its SP header (4 bytes for a request id,
/// 4 more per hop of a backtrace) in the same buffer as its body, so a
/// 64 KiB body and its header are one buffer of the 64 KiB class, not of
/// the 256 KiB one (and a 1 MiB body one of the 1 MiB class, not an
/// allocation of its own). The smallest class stays exact: a small message
/// a firmware sends costs no more heap than its body.
pub const SLACK: usize = 32;

/// The capacity of class `c`'s buffers.
const fn capacity(c: usize) -> usize {
    if c == 0 {
        CLASSES[0]
    } else {
        CLASSES[c] + SLACK
    }
}

const fn limit(class: usize) -> usize {
    // At most 4096 buffers and about 1 MiB of idle memory per class, at
    // least 2. Only buffers that were in use at once come back to be kept:
    // a pipe's queues (the socket's receive queue, the pipe's, and what one
    // 16 KiB read decodes: over 200 small messages) can hold several
    // hundred small bodies in flight, and fewer kept meant allocating some
    // of them again on every burst.
    let by_bytes = (1 << 20) / CLASSES[class];
    let n = if by_bytes < 4096 { by_bytes } else { 4096 };
    if n < 2 {
        2
    } else {
        n
    }
}

/// The first class whose idle bound follows the traffic (below it, the
/// fixed bound of up to 4096 buffers covers every configured queue).
const ADAPTIVE: usize = 4;

/// The most idle memory an adaptive class keeps, whatever its peak.
const ADAPTIVE_MAX_BYTES: usize = 32 << 20;

/// Buffers of each adaptive class in use now (handed out, not yet back),
/// and the most that were at once. With `std`, a class keeps as many idle
/// buffers as its peak, up to [`ADAPTIVE_MAX_BYTES`]: a stream of large
/// messages whose queues hold N bodies at once then allocates nothing once
/// it has run for a while, and a program that never had them keeps none.
/// Without `std` (firmware), the fixed bounds apply.
static LIVE: [AtomicUsize; CLASSES.len()] = [const { AtomicUsize::new(0) }; CLASSES.len()];
static PEAK: [AtomicUsize; CLASSES.len()] = [const { AtomicUsize::new(0) }; CLASSES.len()];

fn handed_out(c: usize) {
    // Without `std` (firmware, no large classes in use), fixed bounds only.
    if cfg!(feature = "std") && c >= ADAPTIVE {
        let n = LIVE[c].fetch_add(1, Ordering::Relaxed) + 1;
        PEAK[c].fetch_max(n, Ordering::Relaxed);
    }
}

fn came_back(c: usize) {
    if cfg!(feature = "std") && c >= ADAPTIVE {
        // Saturating: a body the application built from its own `Vec`
        // comes back without having been handed out.
        let _ = LIVE[c].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
}

/// How many idle buffers class `c` keeps now.
fn keep(c: usize) -> usize {
    let fixed = limit(c);
    if !cfg!(feature = "std") || c < ADAPTIVE {
        return fixed;
    }
    let peak = PEAK[c].load(Ordering::Relaxed);
    fixed.max(peak.min(ADAPTIVE_MAX_BYTES / CLASSES[c]))
}

pub(crate) type Buf = Arc<Vec<u8>>;

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Mutex<Vec<Buf>> = Mutex::new(Vec::new());
static FREE: [Mutex<Vec<Buf>>; CLASSES.len()] = [EMPTY; CLASSES.len()];

/// The class whose buffers hold at least `n` bytes.
fn class_for_request(n: usize) -> Option<usize> {
    (0..CLASSES.len()).find(|&c| capacity(c) >= n)
}

/// The largest class a buffer of capacity `cap` can serve.
fn class_for_capacity(cap: usize) -> Option<usize> {
    (0..CLASSES.len()).rev().find(|&c| capacity(c) <= cap)
}

/// With `std`, each thread keeps a few buffers per class of its own, so the
/// common get/put pair touches no shared lock.
#[cfg(feature = "std")]
mod local {
    use super::{Buf, CLASSES};
    use alloc::vec::Vec;
    use core::cell::RefCell;

    const fn limit(class: usize) -> usize {
        if CLASSES[class] <= 4096 {
            16
        } else {
            2
        }
    }

    std::thread_local! {
        static CACHE: RefCell<[Vec<Buf>; CLASSES.len()]> =
            const { RefCell::new([const { Vec::new() }; CLASSES.len()]) };
    }

    pub(super) fn take(c: usize) -> Option<Buf> {
        CACHE
            .try_with(|k| k.try_borrow_mut().ok().and_then(|mut k| k[c].pop()))
            .ok()
            .flatten()
    }

    /// How many buffers of class `c` this thread keeps.
    #[cfg(test)]
    pub(super) fn cached(c: usize) -> usize {
        CACHE.with_borrow(|k| k[c].len())
    }

    /// Keeps `b` if there is room; hands it back otherwise.
    pub(super) fn keep(c: usize, b: Buf) -> Option<Buf> {
        let mut b = Some(b);
        let _ = CACHE.try_with(|k| {
            if let Ok(mut k) = k.try_borrow_mut() {
                if k[c].len() < limit(c) {
                    k[c].push(b.take().expect("present"));
                }
            }
        });
        b
    }
}

/// What a buffer of capacity `cap` that must now hold `need` bytes should
/// grow to: double (a body growing as its bytes arrive copies itself only
/// a few times), but never past the smallest class that holds `need`, so
/// the growth stays in the pool (a 1 MiB buffer needing 4 more bytes takes
/// one of the 1 MiB class, which has room for them, not 2 MiB of its own).
pub(crate) fn grow_target(cap: usize, need: usize) -> usize {
    let doubled = need.max(cap.saturating_mul(2));
    match class_for_request(need) {
        Some(c) => doubled.min(capacity(c)),
        None => doubled,
    }
}

/// An empty buffer that can hold `n` bytes without reallocating.
pub(crate) fn get(n: usize) -> Buf {
    let mut b = get_any(n);
    if let Some(v) = Arc::get_mut(&mut b) {
        v.clear();
    }
    b
}

/// A buffer of at least `n` bytes (or `n` exactly when larger than the
/// largest class) whose contents are unspecified: what a previous message
/// left, zeros where no message has been yet. For a reader that overwrites
/// it before anyone sees it (the stream decoder), so a received body is not
/// zeroed first each time.
pub(crate) fn get_scratch(n: usize) -> Buf {
    let mut b = get_any(n);
    if let Some(v) = Arc::get_mut(&mut b) {
        if v.len() < n {
            v.resize(n, 0);
        }
    }
    b
}

/// A pooled buffer for `n` bytes, with whatever length it was returned with.
fn get_any(n: usize) -> Buf {
    match class_for_request(n) {
        Some(c) => {
            handed_out(c);
            #[cfg(feature = "std")]
            if let Some(b) = local::take(c) {
                return b;
            }
            FREE[c]
                .lock(|v| v.pop())
                .unwrap_or_else(|| Arc::new(Vec::with_capacity(capacity(c))))
        }
        None => Arc::new(Vec::with_capacity(n)),
    }
}

/// Returns a uniquely held buffer to its class.
pub(crate) fn put(mut buf: Buf) {
    let Some(v) = Arc::get_mut(&mut buf) else {
        return;
    };
    let cap = v.capacity();
    if cap > 2 * capacity(CLASSES.len() - 1) {
        return;
    }
    let Some(c) = class_for_capacity(cap) else {
        return;
    };
    came_back(c);
    // The length stays (`get` clears it): `get_scratch` then reuses the
    // initialised bytes without zeroing them again.
    #[cfg(feature = "std")]
    let Some(buf) = local::keep(c, buf) else {
        return;
    };
    let keep = keep(c);
    FREE[c].lock(|free| {
        if free.len() < keep {
            free.push(buf);
        }
    });
}

/// How many idle buffers each class holds now (for tests and statistics).
pub(crate) fn idle_counts() -> [usize; CLASSES.len()] {
    let mut out = [0; CLASSES.len()];
    for (i, f) in FREE.iter().enumerate() {
        out[i] = f.lock(|v| v.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_stays_in_the_classes() {
        // Doubling, within a class that holds what is needed.
        assert_eq!(grow_target(capacity(5), 2 * CLASSES[5]), 2 * capacity(5));
        // A 1 MiB buffer (the application's own `Vec`) needing 4 more
        // bytes: the 1 MiB class, not 2 MiB outside the pool.
        let c7 = capacity(CLASSES.len() - 1);
        assert_eq!(grow_target(1 << 20, (1 << 20) + 4), c7);
        // Past the largest class: doubling, as a `Vec` would.
        assert_eq!(grow_target(c7, c7 + 1), 2 * c7);
        assert!(grow_target(0, 10) >= 10);
    }

    #[test]
    fn classes_round_trip() {
        assert_eq!(class_for_request(0), Some(0));
        assert_eq!(class_for_request(64), Some(0));
        assert_eq!(class_for_request(65), Some(1));
        assert_eq!(class_for_request(1024 + SLACK), Some(2));
        // A 64 KiB or 1 MiB body with a request id and a few hops of
        // backtrace stays in its class.
        assert_eq!(class_for_request((64 << 10) + 4), Some(5));
        assert_eq!(class_for_request((1 << 20) + 12), Some(7));
        assert_eq!(class_for_request((1 << 20) + SLACK + 1), None);
        assert_eq!(class_for_capacity(63), None);
        assert_eq!(class_for_capacity(64), Some(0));
        assert_eq!(class_for_capacity(300), Some(1));
        for n in [0, 100, (64 << 10) + 4, (1 << 20) + 8] {
            let b = get(n);
            assert!(b.capacity() >= n);
            // What a class hands out goes back to the same class.
            assert_eq!(class_for_capacity(b.capacity()), class_for_request(n));
            put(b);
        }
    }

    #[test]
    fn limits_are_bounded() {
        for (c, size) in CLASSES.iter().enumerate() {
            assert!(limit(c) >= 2 && limit(c) <= 4096);
            assert!(keep(c) >= limit(c));
            assert!(keep(c) <= limit(c).max(ADAPTIVE_MAX_BYTES / size));
        }
    }

    #[test]
    #[cfg(feature = "std")]
    fn a_large_class_keeps_as_many_as_were_in_use_at_once() {
        // 256 KiB bodies (no other test here uses the class): 40 in use at
        // once, ten times the fixed bound of 4.
        let c = 6;
        let held: Vec<Buf> = (0..40).map(|_| get(200 << 10)).collect();
        let ptrs: Vec<*const Vec<u8>> = held.iter().map(Arc::as_ptr).collect();
        assert!(PEAK[c].load(Ordering::Relaxed) >= 40);
        held.into_iter().for_each(put);
        // All 40 are kept (two of them in this thread's cache)...
        let cached = local::cached(c);
        assert!(
            idle_counts()[c] + cached >= 40,
            "kept {} + {cached}",
            idle_counts()[c]
        );
        // ...and the next 40 are the same buffers: nothing is allocated.
        let again: Vec<Buf> = (0..40).map(|_| get(200 << 10)).collect();
        for b in &again {
            assert!(ptrs.contains(&Arc::as_ptr(b)));
        }
        again.into_iter().for_each(put);
    }
}
