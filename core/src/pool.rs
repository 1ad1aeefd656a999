//! The body-buffer pool: size classes, bounded, shared by every socket.
//!
//! A message body is a pooled `Vec<u8>` inside a reference-counted cell. When
//! the last holder drops it the cell goes back to its size class (up to a
//! bounded number per class), so steady traffic allocates nothing. Bodies larger
//! than the largest class are allocated exactly and freed normally.

use alloc::vec::Vec;

use crate::sync::{Arc, Mutex};

/// Buffer sizes of the classes, smallest first.
pub const CLASSES: [usize; 8] = [64, 256, 1024, 4096, 16 << 10, 64 << 10, 256 << 10, 1 << 20];

const fn limit(class: usize) -> usize {
    // At most 256 buffers and about 1 MiB of idle memory per class, at least 2.
    let by_bytes = (1 << 20) / CLASSES[class];
    let n = if by_bytes < 256 { by_bytes } else { 256 };
    if n < 2 {
        2
    } else {
        n
    }
}

pub(crate) type Buf = Arc<Vec<u8>>;

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Mutex<Vec<Buf>> = Mutex::new(Vec::new());
static FREE: [Mutex<Vec<Buf>>; CLASSES.len()] = [EMPTY; CLASSES.len()];

/// The class whose buffers hold at least `n` bytes.
fn class_for_request(n: usize) -> Option<usize> {
    CLASSES.iter().position(|&c| c >= n)
}

/// The largest class a buffer of capacity `cap` can serve.
fn class_for_capacity(cap: usize) -> Option<usize> {
    CLASSES.iter().rposition(|&c| c <= cap)
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
            #[cfg(feature = "std")]
            if let Some(b) = local::take(c) {
                return b;
            }
            FREE[c]
                .lock(|v| v.pop())
                .unwrap_or_else(|| Arc::new(Vec::with_capacity(CLASSES[c])))
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
    if cap > 2 * CLASSES[CLASSES.len() - 1] {
        return;
    }
    let Some(c) = class_for_capacity(cap) else {
        return;
    };
    // The length stays (`get` clears it): `get_scratch` then reuses the
    // initialised bytes without zeroing them again.
    #[cfg(feature = "std")]
    let Some(buf) = local::keep(c, buf) else {
        return;
    };
    FREE[c].lock(|free| {
        if free.len() < limit(c) {
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
    fn classes_round_trip() {
        assert_eq!(class_for_request(0), Some(0));
        assert_eq!(class_for_request(65), Some(1));
        assert_eq!(class_for_request(1 << 20), Some(7));
        assert_eq!(class_for_request((1 << 20) + 1), None);
        assert_eq!(class_for_capacity(63), None);
        assert_eq!(class_for_capacity(300), Some(1));
        let b = get(100);
        assert!(b.capacity() >= 100);
        put(b);
    }

    #[test]
    fn limits_are_bounded() {
        for c in 0..CLASSES.len() {
            assert!(limit(c) >= 2 && limit(c) <= 256);
        }
    }
}
