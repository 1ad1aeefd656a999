//! What the transports tell an operator, as `tracing` events (cargo feature
//! `tracing`, on by default; the library installs no subscriber).
//!
//! Every event has target `nanosp` and a `url` field; errors are the
//! core's typed [`Error`] (its `Display` says what went wrong):
//!
//! | level | message | fields |
//! |---|---|---|
//! | INFO | `listener bound` | `url` |
//! | WARN | `accept failed; pausing before the next accept` | `url`, `error` (the OS error, e.g. EMFILE) |
//! | WARN | `handshake failed` | `url`, `dialed`, `error` |
//! | DEBUG | `dial failed` | `url`, `error` |
//! | DEBUG | `redialing after back-off` | `url`, `wait` |
//! | DEBUG | `pipe connected` | `url`, `dialed` |
//! | INFO | `pipe closed` | `url`, `dialed`, `reason` |
//!
//! Without the feature these functions are empty and compile away.

use std::time::Duration;

use nanosp_core::transport::DialEvent;
use nanosp_core::Error;

/// A listener is bound and accepting.
pub(crate) fn listener_bound(url: &str) {
    #[cfg(feature = "tracing")]
    tracing::info!(target: "nanosp", url, "listener bound");
    let _ = url;
}

/// `accept` failed (out of descriptors, ...); the accept loop pauses.
pub(crate) fn accept_failed(url: &str, e: &std::io::Error) {
    #[cfg(feature = "tracing")]
    tracing::warn!(target: "nanosp", url, error = %e,
        "accept failed; pausing before the next accept");
    let _ = (url, e);
}

/// A connection was made but its SP (or WebSocket) handshake failed.
pub(crate) fn handshake_failed(url: &str, dialed: bool, e: &Error) {
    #[cfg(feature = "tracing")]
    tracing::warn!(target: "nanosp", url, dialed, error = %e, "handshake failed");
    let _ = (url, dialed, e);
}

/// A connect attempt failed before any handshake.
pub(crate) fn dial_failed(url: &str, e: &Error) {
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "nanosp", url, error = %e, "dial failed");
    let _ = (url, e);
}

/// A pipe (accepted or dialed) closed, and why.
pub(crate) fn pipe_closed(url: &str, dialed: bool, why: &Error) {
    #[cfg(feature = "tracing")]
    tracing::info!(target: "nanosp", url, dialed, reason = %why, "pipe closed");
    let _ = (url, dialed, why);
}

/// Reports a dialer's own events (see [`nanosp_core::transport::dialer_loop_observed`]).
pub(crate) fn dialer(url: &str, ev: DialEvent) {
    match ev {
        DialEvent::Connected => connected(url),
        DialEvent::PipeClosed(why) => pipe_closed(url, true, &why),
        DialEvent::Backoff(d) => backoff(url, d),
        // Logged where the attempt failed (connect or handshake).
        DialEvent::Failed(_) => {}
        _ => {}
    }
}

fn connected(url: &str) {
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "nanosp", url, dialed = true, "pipe connected");
    let _ = url;
}

fn backoff(url: &str, wait: Duration) {
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "nanosp", url, ?wait, "redialing after back-off");
    let _ = (url, wait);
}
