//! Test aids for code built on nanosp: a clock that moves only when told
//! to ([`VirtualRuntime`]), in-memory byte streams with fault injection
//! ([`duplex`]), and the message pool's idle buffers
//! ([`pool_idle_counts`]). Not needed in production; nothing else in the
//! crate depends on this module.
//!
//! ```
//! use nanosp_core::testing::{duplex, VirtualRuntime};
//! use nanosp_core::{Protocol, Runtime, Socket};
//! let rt = VirtualRuntime::new(1);
//! let s = Socket::new(Protocol::Pair1, rt.clone());
//! rt.advance(core::time::Duration::from_secs(1));
//! let (a, b) = duplex(1024);
//! # let _ = (s, a, b);
//! ```

pub use crate::mem::*;
pub use crate::time::{VirtualRuntime, VirtualSleep};

/// How many buffers of each size class ([`crate::pool::CLASSES`]) this
/// thread's pool cache holds idle (for tests of allocation behaviour).
pub fn pool_idle_counts() -> [usize; crate::pool::CLASSES.len()] {
    crate::pool::idle_counts()
}
