//! What a pipe is, as the application sees it: its id, its description and
//! its lifecycle events. A leaf module: it depends on nothing else here.

#[cfg(feature = "tls")]
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
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
    /// What a TLS pipe knows of its peer, from [`PipeEvent::AddPre`] on (a
    /// hook may refuse a peer by its certificate); `None` without TLS.
    /// (Feature `tls`.)
    #[cfg(feature = "tls")]
    pub tls: Option<Box<TlsPeer>>,
}

/// What the engine records of a pipe's TLS session: nothing without the
/// `tls` feature.
#[cfg(feature = "tls")]
pub(crate) type TlsFacts = Option<Box<TlsPeer>>;
#[cfg(not(feature = "tls"))]
pub(crate) type TlsFacts = NoTls;

/// No TLS facts (the `tls` feature is off).
#[cfg(not(feature = "tls"))]
#[derive(Default)]
pub(crate) struct NoTls;

/// What a TLS pipe knows of its peer (nng's pipe options `tls-verified`
/// and `tls-peer-cn`), in `PipeInfo::tls` (feature `tls`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPeer {
    /// The peer's certificate verified against the trusted CAs (and, for
    /// a server, the name dialed): nng's `tls-verified`.
    pub verified: bool,
    /// The subject of the peer's certificate, e.g. `CN=localhost, O=acme`
    /// (`None` if the peer sent none, or the TLS stack does not say).
    pub subject: Option<String>,
    /// The subject's common name (nng's `tls-peer-cn`).
    pub common_name: Option<String>,
    /// The peer's certificate (DER), if it sent one and the TLS stack
    /// keeps it.
    pub certificate: Option<Vec<u8>>,
    /// The TLS version agreed: `"TLSv1.2"` or `"TLSv1.3"`.
    pub version: &'static str,
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
