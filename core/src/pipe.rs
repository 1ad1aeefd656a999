//! What a pipe is, as the application sees it: its id, its description and
//! its lifecycle events. A leaf module: it depends on nothing else here.

use alloc::string::String;
use core::fmt;

/// A pipe's identity: 31 bits, never 0, unique among live pipes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PipeId(pub u32);

impl fmt::Display for PipeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pipe#{}", self.0)
    }
}

/// What a pipe is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeInfo {
    /// Its id.
    pub id: PipeId,
    /// The peer's protocol number.
    pub peer: u16,
    /// The URL of the dialer or listener that made it.
    pub url: String,
    /// True if we dialed, false if we accepted.
    pub dialed: bool,
    /// Why the pipe closed, in the hook's [`PipeEvent::RemPost`] (peer
    /// closed, bad input with its error, message too large, keepalive,
    /// socket or pipe closed); `None` while it is open.
    pub closed: Option<crate::Error>,
}

/// Pipe lifecycle events, as nng's `nng_pipe_notify` gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipeEvent {
    /// Before the pipe joins the socket; the hook may refuse it (`false`).
    AddPre,
    /// The pipe joined the socket.
    AddPost,
    /// The pipe left the socket.
    RemPost,
}
