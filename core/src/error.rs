//! The one error type of nanosp, with the meanings nng users know.

use core::fmt;

use crate::protocol::UnknownProtocol;
use crate::text;
use crate::url::UrlError;
use crate::Message;

/// Everything that can go wrong, named as nng names it (`NNG_E*`):
/// [`Error::nng_name`] and [`Error::nng_code`] give nng's name and number.
///
/// A peer's bad input is reported as [`Error::Protocol`] or
/// [`Error::MessageTooLong`] on the pipe it came from; it closes that pipe only.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// The socket (or pipe, dialer, listener) is closed (`NNG_ECLOSED`).
    Closed,
    /// A deadline passed (`NNG_ETIMEDOUT`).
    TimedOut,
    /// The operation would block and was asked not to (`NNG_EAGAIN`).
    WouldBlock,
    /// The protocol is not in a state that allows this (`NNG_ESTATE`), e.g. a
    /// REP `send` without a request.
    ProtocolState,
    /// The protocol does not do this (`NNG_ENOTSUP`), e.g. `send` on SUB.
    NotSupported,
    /// The operation was cancelled (`NNG_ECANCELED`).
    Canceled,
    /// A message is larger than the limit (`NNG_EMSGSIZE`).
    MessageTooLong {
        /// The announced or actual length.
        len: u64,
        /// The limit in force.
        limit: u64,
    },
    /// The peer broke the wire protocol (`NNG_EPROTO`).
    Protocol(ProtocolError),
    /// Nobody accepted the connection (`NNG_ECONNREFUSED`).
    ConnectionRefused,
    /// The connection was reset (`NNG_ECONNRESET`).
    ConnectionReset,
    /// The peer closed the connection (`NNG_ECONNSHUT`).
    ConnectionShutdown,
    /// The address is already taken (`NNG_EADDRINUSE`).
    AddressInUse,
    /// The address is not valid (`NNG_EADDRINVAL`).
    AddressInvalid(UrlError),
    /// This transport is not available here (`NNG_ENOTSUP` for a URL scheme).
    TransportUnavailable,
    /// The resource is busy (`NNG_EBUSY`), e.g. a second PAIR peer.
    Busy,
    /// An argument or option value is out of range (`NNG_EINVAL`).
    InvalidArgument,
    /// No such thing (`NNG_ENOENT`), e.g. unsubscribing an unknown topic.
    NotFound,
    /// A pipe-event hook refused the pipe.
    Rejected,
    /// An operating-system or stream error with no nng meaning of its own
    /// (the transport's byte stream failed); see [`IoErrorKind`].
    Io(IoErrorKind),
    /// TLS failed (`tls+tcp://`, `wss://`): the peer could not be
    /// authenticated (`NNG_EPEERAUTH`) or TLS itself failed (`NNG_ECRYPTO`);
    /// see [`TlsError`].
    Tls(TlsError),
}

/// Why TLS failed ([`Error::Tls`]). Each kind names the cause a user can
/// fix; [`TlsError::is_peer_auth`] tells nng's `EPEERAUTH` (a certificate
/// was not accepted, by us or by the peer) from `ECRYPTO` (TLS itself).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TlsError {
    /// The peer does not speak TLS: plaintext where a TLS record was
    /// expected (e.g. a `tcp://` dialer at a `tls+tcp://` listener, or a
    /// TLS dialer at a plaintext listener).
    NotTls,
    /// The TLS handshake failed otherwise (no common version or cipher
    /// suite, a bad signature, a broken record).
    Handshake,
    /// The peer's certificate is not signed by a trusted authority.
    UnknownIssuer,
    /// The peer's certificate has expired (or is not valid yet).
    Expired,
    /// The server's certificate is for another name than the one dialed
    /// (or `tls-server-name`).
    WrongName,
    /// The peer's certificate is not acceptable for another reason
    /// (revoked, wrong usage, malformed).
    BadCertificate,
    /// The listener requires a client certificate and the client sent none.
    NoCertificate,
    /// The peer refused our certificate, or our lack of one (a TLS alert
    /// such as `certificate_required`, `unknown_ca`, `bad_certificate`).
    RefusedByPeer,
}

impl TlsError {
    /// True for failures to authenticate a peer (nng's `EPEERAUTH`); false
    /// for TLS failures (`ECRYPTO`).
    pub const fn is_peer_auth(&self) -> bool {
        !matches!(self, Self::NotTls | Self::Handshake)
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TlsError {
    /// The message [`Display`](fmt::Display) writes.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::NotTls => "the peer does not speak TLS",
            Self::Handshake => "TLS handshake failed",
            Self::UnknownIssuer => "peer certificate not signed by a trusted CA",
            Self::Expired => "peer certificate expired or not yet valid",
            Self::WrongName => "peer certificate is for another name",
            Self::BadCertificate => "peer certificate not acceptable",
            Self::NoCertificate => "client certificate required but none sent",
            Self::RefusedByPeer => "the peer refused our certificate (or our lack of one)",
        }
    }
}

impl core::error::Error for TlsError {}

/// What kind of I/O error [`Error::Io`] is: nanosp's own list, so that the
/// public error does not expose a dependency's type. Stream transports give
/// `embedded-io` error kinds; [`Error::from_io_kind`] converts them (kinds
/// that have an nng meaning, such as a refused connection, become that
/// [`Error`] variant instead).
///
/// Its `Display` is nng's `nng_strerror` text where nng has one.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IoErrorKind {
    /// No such file or directory, e.g. an IPC path's folder (nng: `ENOENT`).
    NotFound,
    /// Not allowed by the operating system (nng: `EPERM`).
    PermissionDenied,
    /// Something already exists there (nng: `EEXIST`).
    AlreadyExists,
    /// The local address cannot be used here (nng: `EADDRINVAL`).
    AddressNotAvailable,
    /// The operating system refused an argument (nng: `EINVAL`).
    InvalidInput,
    /// Data that is not valid for the operation.
    InvalidData,
    /// Out of memory or buffers (nng: `ENOMEM`).
    OutOfMemory,
    /// Out of file descriptors (nng: `ENOFILES`).
    OutOfFiles,
    /// The operating system does not support it (nng: `ENOTSUP`).
    Unsupported,
    /// A system call was interrupted (nng: `EINTR`).
    Interrupted,
    /// A write wrote nothing.
    WriteZero,
    /// The stream is not connected.
    NotConnected,
    /// Any other I/O error (nng: `ESYSERR`).
    Other,
}

impl IoErrorKind {
    /// The `embedded-io` kind's counterpart; kinds with an nng meaning of
    /// their own are mapped by [`Error::from_io_kind`] before this.
    fn from_embedded(kind: embedded_io_async::ErrorKind) -> Self {
        use embedded_io_async::ErrorKind as K;
        match kind {
            K::NotFound => Self::NotFound,
            K::PermissionDenied => Self::PermissionDenied,
            K::AlreadyExists => Self::AlreadyExists,
            K::AddrNotAvailable => Self::AddressNotAvailable,
            K::InvalidInput => Self::InvalidInput,
            K::InvalidData => Self::InvalidData,
            K::OutOfMemory => Self::OutOfMemory,
            K::Unsupported => Self::Unsupported,
            K::Interrupted => Self::Interrupted,
            K::WriteZero => Self::WriteZero,
            K::NotConnected => Self::NotConnected,
            _ => Self::Other,
        }
    }
}

impl fmt::Display for IoErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl IoErrorKind {
    /// The message [`Display`](fmt::Display) writes.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::NotFound => "entry not found",
            Self::PermissionDenied => "permission denied",
            Self::AlreadyExists => "resource already exists",
            Self::AddressNotAvailable => "address invalid",
            Self::InvalidInput => "invalid argument",
            Self::InvalidData => "invalid data",
            Self::OutOfMemory => "out of memory",
            Self::OutOfFiles => "out of files",
            Self::Unsupported => "not supported",
            Self::Interrupted => "interrupted",
            Self::WriteZero => "write returned zero bytes",
            Self::NotConnected => "not connected",
            Self::Other => "i/o error",
        }
    }
}

/// How a peer broke the wire protocol (docs/wire.md §2, §4).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ProtocolError {
    /// Handshake bytes 0–2 are not `00 'S' 'P'`.
    BadMagic,
    /// Handshake byte 3 (SP mapping version) is not 0.
    BadVersion(u8),
    /// Handshake bytes 6–7 (reserved) are not zero.
    BadReserved,
    /// The peer speaks a protocol that is not ours' peer.
    PeerMismatch {
        /// The protocol number we accept.
        expected: u16,
        /// The protocol number the peer announced.
        got: u16,
    },
    /// A length prefix has one of its top four (reserved) bits set.
    ReservedLengthBits,
    /// An IPC message type byte other than 0x01.
    BadIpcType(u8),
    /// A protocol header is malformed (short, or a backtrace without end).
    MalformedHeader,
    /// The peer sent something this protocol never receives (e.g. to PUB).
    UnexpectedMessage,
    /// The handshake did not complete: the peer closed the connection
    /// first, or refused the WebSocket upgrade (an HTTP status other than
    /// those [`crate::ws::upgrade_refused`] gives a meaning).
    HandshakeIncomplete,
    /// A WebSocket handshake without the SP subprotocol expected (docs/wire.md
    /// §3): a server that echoed another token or none, or a client that
    /// offered none the listener speaks.
    BadSubprotocol,
    /// A WebSocket frame that breaks RFC 6455 (after the upgrade).
    BadWsFrame(crate::ws::codec::FrameError),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display(f, |out| self.describe(out))
    }
}

impl ProtocolError {
    /// Writes the message [`Display`](fmt::Display) writes, piece by piece
    /// to `out`, without `core::fmt` (see [`Error::describe`]).
    pub fn describe(&self, out: &mut dyn FnMut(&str)) {
        match self {
            Self::BadMagic => out("handshake does not start with 00 'S' 'P'"),
            Self::BadVersion(v) => {
                out("unsupported SP mapping version ");
                text::decimal(u64::from(*v), out);
            }
            Self::BadReserved => out("reserved handshake bytes are not zero"),
            Self::PeerMismatch { expected, got } => {
                out("peer protocol ");
                text::hex(u64::from(*got), 1, out);
                out(" (");
                out(crate::protocol::name_of(*got));
                out(") is not the expected ");
                text::hex(u64::from(*expected), 1, out);
                out(" (");
                out(crate::protocol::name_of(*expected));
                out(")");
            }
            Self::ReservedLengthBits => out("message length uses reserved top bits"),
            Self::BadIpcType(t) => {
                out("IPC message type ");
                text::hex(u64::from(*t), 2, out);
                out(" is not 0x01");
            }
            Self::MalformedHeader => out("malformed protocol header"),
            Self::UnexpectedMessage => out("peer sent a message this protocol never receives"),
            Self::HandshakeIncomplete => out("connection closed during the SP handshake"),
            Self::BadSubprotocol => {
                out("the WebSocket subprotocol is not the SP protocol expected")
            }
            Self::BadWsFrame(e) => {
                out("bad WebSocket frame: ");
                out(e.as_str());
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display(f, |out| self.describe(out))
    }
}

impl Error {
    /// Writes the message [`Display`](fmt::Display) writes, piece by piece
    /// to `out`, without `core::fmt`'s machinery: a build that never
    /// formats (the npm package, a firmware) can still say what went
    /// wrong without linking it.
    ///
    /// ```
    /// use nanosp_core::Error;
    /// let mut s = String::new();
    /// Error::MessageTooLong { len: 2000, limit: 1024 }.describe(&mut |p| s.push_str(p));
    /// assert_eq!(s, "message too long: 2000 bytes, limit 1024");
    /// ```
    pub fn describe(&self, out: &mut dyn FnMut(&str)) {
        match self {
            Self::Closed => out("object closed"),
            Self::TimedOut => out("timed out"),
            Self::WouldBlock => out("try again (operation would block)"),
            Self::ProtocolState => out("incorrect protocol state"),
            Self::NotSupported => out("not supported by this protocol"),
            Self::Canceled => out("operation canceled"),
            Self::MessageTooLong { len, limit } => {
                out("message too long: ");
                text::decimal(*len, out);
                out(" bytes, limit ");
                text::decimal(*limit, out);
            }
            Self::Protocol(e) => {
                out("protocol error: ");
                e.describe(out);
            }
            Self::ConnectionRefused => out("connection refused"),
            Self::ConnectionReset => out("connection reset"),
            Self::ConnectionShutdown => out("connection shutdown by peer"),
            Self::AddressInUse => out("address in use"),
            Self::AddressInvalid(e) => {
                out("address invalid: ");
                out(e.as_str());
            }
            Self::TransportUnavailable => out("transport not available here"),
            Self::Busy => out("resource busy"),
            Self::InvalidArgument => out("invalid argument"),
            Self::NotFound => out("entry not found"),
            Self::Rejected => out("pipe rejected by the application"),
            Self::Io(k) => out(k.as_str()),
            Self::Tls(e) => {
                out("TLS: ");
                out(e.as_str());
            }
        }
    }

    /// The message [`Display`](fmt::Display) writes, as a `String` built
    /// without `core::fmt` (see [`Error::describe`]).
    pub fn message(&self) -> alloc::string::String {
        let mut s = alloc::string::String::new();
        self.describe(&mut |p| s.push_str(p));
        s
    }
}

/// A `describe` written to a formatter.
fn display(f: &mut fmt::Formatter<'_>, describe: impl FnOnce(&mut dyn FnMut(&str))) -> fmt::Result {
    let mut r = Ok(());
    describe(&mut |p| {
        if r.is_ok() {
            r = f.write_str(p);
        }
    });
    r
}

impl core::error::Error for Error {}
impl core::error::Error for ProtocolError {}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl From<UnknownProtocol> for Error {
    fn from(_: UnknownProtocol) -> Self {
        Error::InvalidArgument
    }
}

impl From<TlsError> for Error {
    fn from(e: TlsError) -> Self {
        Error::Tls(e)
    }
}

impl From<UrlError> for Error {
    fn from(e: UrlError) -> Self {
        Error::AddressInvalid(e)
    }
}

impl Error {
    /// Maps the error kind of an `embedded-io` stream (what
    /// [`crate::stream`] reads and writes) to the nng meaning where one
    /// exists, else to [`Error::Io`] with the matching [`IoErrorKind`].
    ///
    /// ```
    /// use embedded_io_async::ErrorKind as K;
    /// use nanosp_core::{Error, IoErrorKind};
    /// assert_eq!(Error::from_io_kind(K::ConnectionRefused), Error::ConnectionRefused);
    /// assert_eq!(Error::from_io_kind(K::NotFound), Error::Io(IoErrorKind::NotFound));
    /// ```
    pub fn from_io_kind(kind: embedded_io_async::ErrorKind) -> Self {
        use embedded_io_async::ErrorKind as K;
        match kind {
            K::ConnectionRefused => Error::ConnectionRefused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => Error::ConnectionReset,
            K::AddrInUse => Error::AddressInUse,
            K::TimedOut => Error::TimedOut,
            k => Error::Io(IoErrorKind::from_embedded(k)),
        }
    }

    /// nng's name for this error (`"ECLOSED"`, `"ETIMEDOUT"`, ...), as in
    /// `nng.h` without the `NNG_` prefix: the `code` of the npm package's
    /// errors. Stable: a name never changes meaning. Errors nng has no
    /// name of its own for take the nearest (a refusing pipe hook is
    /// `ECONNREFUSED`, an unavailable transport `ENOTSUP`).
    ///
    /// ```
    /// use nanosp_core::Error;
    /// assert_eq!(Error::TimedOut.nng_name(), "ETIMEDOUT");
    /// assert_eq!(Error::TimedOut.nng_code(), 5);
    /// ```
    pub const fn nng_name(&self) -> &'static str {
        nng_error(self).0
    }

    /// nng's number for this error (`NNG_ETIMEDOUT` = 5, ...): the value
    /// `nng_strerror` and nng's language bindings take. [`Error::Io`]
    /// errors without an nng name are `NNG_ESYSERR` (0x1000_0000).
    pub const fn nng_code(&self) -> u32 {
        nng_error(self).1
    }
}

/// The one table from nanosp's errors to nng's (name, number), as in
/// `nng.h`'s `enum nng_errno_enum` (a test compares it with the installed one).
const fn nng_error(e: &Error) -> (&'static str, u32) {
    match e {
        Error::Closed => ("ECLOSED", 7),
        Error::TimedOut => ("ETIMEDOUT", 5),
        Error::WouldBlock => ("EAGAIN", 8),
        Error::ProtocolState => ("ESTATE", 11),
        Error::NotSupported | Error::TransportUnavailable => ("ENOTSUP", 9),
        Error::Canceled => ("ECANCELED", 20),
        Error::MessageTooLong { .. } => ("EMSGSIZE", 17),
        Error::Protocol(_) => ("EPROTO", 13),
        Error::ConnectionRefused | Error::Rejected => ("ECONNREFUSED", 6),
        Error::ConnectionReset => ("ECONNRESET", 19),
        Error::ConnectionShutdown => ("ECONNSHUT", 31),
        Error::AddressInUse => ("EADDRINUSE", 10),
        Error::AddressInvalid(_) => ("EADDRINVAL", 15),
        Error::Busy => ("EBUSY", 4),
        Error::InvalidArgument => ("EINVAL", 3),
        Error::NotFound => ("ENOENT", 12),
        Error::Tls(t) if t.is_peer_auth() => ("EPEERAUTH", 27),
        Error::Tls(_) => ("ECRYPTO", 26),
        Error::Io(k) => match k {
            IoErrorKind::NotFound => ("ENOENT", 12),
            IoErrorKind::PermissionDenied => ("EPERM", 16),
            IoErrorKind::AlreadyExists => ("EEXIST", 23),
            IoErrorKind::AddressNotAvailable => ("EADDRINVAL", 15),
            IoErrorKind::InvalidInput => ("EINVAL", 3),
            IoErrorKind::OutOfMemory => ("ENOMEM", 2),
            IoErrorKind::OutOfFiles => ("ENOFILES", 21),
            IoErrorKind::Unsupported => ("ENOTSUP", 9),
            IoErrorKind::Interrupted => ("EINTR", 1),
            IoErrorKind::InvalidData
            | IoErrorKind::WriteZero
            | IoErrorKind::NotConnected
            | IoErrorKind::Other => ("ESYSERR", 0x1000_0000),
        },
    }
}

/// A failed send: the error, and the message handed back to the caller.
#[derive(Debug)]
pub struct SendError {
    /// Why the send failed.
    pub error: Error,
    /// The message, untouched.
    pub message: Message,
}

impl SendError {
    /// Builds a send error that returns `message`.
    pub fn new(error: Error, message: Message) -> Self {
        SendError { error, message }
    }
    /// Drops the message and keeps the error.
    pub fn into_error(self) -> Error {
        self.error
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "send failed: {}", self.error)
    }
}

impl core::error::Error for SendError {}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        e.error
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;

    /// The messages `describe` writes are the ones the format strings they
    /// replaced wrote (numbers in decimal, `{:#x}`, `{:#04x}`).
    #[test]
    fn messages_are_written_as_the_format_strings_did() {
        for (len, limit) in [(0, 0), (9, 10), (2000, 1024), (u64::MAX, 1 << 20)] {
            let e = Error::MessageTooLong { len, limit };
            let want = format!("message too long: {len} bytes, limit {limit}");
            assert_eq!(e.message(), want);
            assert_eq!(e.to_string(), want);
        }
        for v in [0u8, 1, 9, 10, 255] {
            let e = ProtocolError::BadVersion(v);
            assert_eq!(
                Error::from(e).message(),
                format!("protocol error: unsupported SP mapping version {v}")
            );
        }
        for t in [0u8, 1, 5, 0x10, 0xab, 0xff] {
            let e = ProtocolError::BadIpcType(t);
            assert_eq!(
                e.to_string(),
                format!("IPC message type {t:#04x} is not 0x01")
            );
        }
        for (expected, got) in [(0x31u16, 0x30u16), (0, 0x10), (0xffff, 1)] {
            let e = ProtocolError::PeerMismatch { expected, got };
            let want = format!(
                "peer protocol {got:#x} ({}) is not the expected {expected:#x} ({})",
                crate::protocol::name_of(got),
                crate::protocol::name_of(expected)
            );
            assert_eq!(e.to_string(), want);
        }
        assert_eq!(
            Error::Tls(TlsError::Expired).message(),
            "TLS: peer certificate expired or not yet valid"
        );
        assert_eq!(
            Error::AddressInvalid(UrlError::BadPort).to_string(),
            "address invalid: bad port number"
        );
        assert_eq!(Error::Io(IoErrorKind::OutOfFiles).message(), "out of files");
    }
}
