//! The one error type of nanosp, with the meanings nng users know.

use core::fmt;

use crate::url::UrlError;
use crate::Message;

/// Everything that can go wrong, named as nng names it (`NNG_E*`).
///
/// A peer's bad input is reported as [`Error::Protocol`] or
/// [`Error::MessageTooLong`] on the pipe it came from; it closes that pipe only.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// An I/O error from the transport's byte stream.
    Io(embedded_io_async::ErrorKind),
}

/// How a peer broke the wire protocol (docs/wire.md §2, §4).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// The peer closed the connection before the handshake completed.
    HandshakeIncomplete,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic => f.write_str("handshake does not start with 00 'S' 'P'"),
            Self::BadVersion(v) => write!(f, "unsupported SP mapping version {v}"),
            Self::BadReserved => f.write_str("reserved handshake bytes are not zero"),
            Self::PeerMismatch { expected, got } => write!(
                f,
                "peer protocol {got:#x} ({}) is not the expected {expected:#x} ({})",
                crate::proto::name_of(*got),
                crate::proto::name_of(*expected)
            ),
            Self::ReservedLengthBits => f.write_str("message length uses reserved top bits"),
            Self::BadIpcType(t) => write!(f, "IPC message type {t:#04x} is not 0x01"),
            Self::MalformedHeader => f.write_str("malformed protocol header"),
            Self::UnexpectedMessage => {
                f.write_str("peer sent a message this protocol never receives")
            }
            Self::HandshakeIncomplete => f.write_str("connection closed during the SP handshake"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("object closed"),
            Self::TimedOut => f.write_str("timed out"),
            Self::WouldBlock => f.write_str("try again (operation would block)"),
            Self::ProtocolState => f.write_str("incorrect protocol state"),
            Self::NotSupported => f.write_str("not supported by this protocol"),
            Self::Canceled => f.write_str("operation canceled"),
            Self::MessageTooLong { len, limit } => {
                write!(f, "message too long: {len} bytes, limit {limit}")
            }
            Self::Protocol(e) => write!(f, "protocol error: {e}"),
            Self::ConnectionRefused => f.write_str("connection refused"),
            Self::ConnectionReset => f.write_str("connection reset"),
            Self::ConnectionShutdown => f.write_str("connection shutdown by peer"),
            Self::AddressInUse => f.write_str("address in use"),
            Self::AddressInvalid(e) => write!(f, "address invalid: {e}"),
            Self::TransportUnavailable => f.write_str("transport not available here"),
            Self::Busy => f.write_str("resource busy"),
            Self::InvalidArgument => f.write_str("invalid argument"),
            Self::NotFound => f.write_str("entry not found"),
            Self::Rejected => f.write_str("pipe rejected by the application"),
            Self::Io(k) => write!(f, "i/o error: {k:?}"),
        }
    }
}

impl core::error::Error for Error {}
impl core::error::Error for ProtocolError {}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl From<UrlError> for Error {
    fn from(e: UrlError) -> Self {
        Error::AddressInvalid(e)
    }
}

impl Error {
    /// Maps an `embedded-io` error kind to the nng meaning where one exists.
    pub fn from_io_kind(kind: embedded_io_async::ErrorKind) -> Self {
        use embedded_io_async::ErrorKind as K;
        match kind {
            K::ConnectionRefused => Error::ConnectionRefused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => Error::ConnectionReset,
            K::AddrInUse => Error::AddressInUse,
            K::TimedOut => Error::TimedOut,
            k => Error::Io(k),
        }
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Error {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}", defmt::Display2Format(self))
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
