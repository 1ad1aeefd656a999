//! The SP rules of the WebSocket mapping (docs/wire.md §3), without I/O: every
//! WebSocket transport (nanosp's over tokio-tungstenite, nanosp-web's
//! over the browser's `WebSocket`) asks these functions, so they agree.
//!
//! * **Subprotocol.** No SP header is exchanged: the subprotocol
//!   `<name>.sp.nanomsg.org` names the *listener's* protocol. A dialer
//!   offers its peer's name ([`dialer_token`]) and requires the server to
//!   echo it ([`check_echo`]); a listener accepts an offer of its own name
//!   ([`select_offer`]) and echoes it, else answers HTTP 400
//!   ([`STATUS_BAD_SUBPROTOCOL`]); a path with no socket is HTTP 404
//!   ([`STATUS_NO_SOCKET`]). A dialer reads the HTTP status of a refused
//!   upgrade as nng does ([`upgrade_refused`]).
//! * **Messages.** One SP message is one binary WebSocket message, header
//!   then body. Text messages and messages over the receive limit end the
//!   connection ([`check_message`]); large messages leave in frames of at
//!   most [`MAX_SEND_FRAME`] ([`send_frames`]); one incoming frame may be up
//!   to the message limit ([`max_recv_frame`]).
//! * **Closing.** The close code we send says why ([`close_code`]; the
//!   browser API only sends 1000 and 3000–4999: [`app_close_code`]); a
//!   code the peer sent becomes the pipe's close reason ([`peer_closed`]).
//! * **Handshake failures.** A failed or timed-out WebSocket handshake is
//!   counted in [`crate::Stats::handshake_failures`]; a connection that was
//!   never made is not ([`is_handshake_failure`]).

use alloc::string::String;
use core::ops::Range;

pub mod codec;
pub mod pipe;

use crate::{Error, Protocol, ProtocolError};

/// What follows the protocol name in the subprotocol token.
pub const TOKEN_SUFFIX: &str = ".sp.nanomsg.org";

fn token(name: &str) -> String {
    let mut t = String::with_capacity(name.len() + TOKEN_SUFFIX.len());
    t.push_str(name);
    t.push_str(TOKEN_SUFFIX);
    t
}

/// The one subprotocol a dialer of protocol `p` offers: its *peer's* name,
/// e.g. `rep.sp.nanomsg.org` for REQ (nng's server does not split a list,
/// so exactly one token, lowercase).
///
/// ```
/// use nanosp_core::{ws, Protocol};
/// assert_eq!(ws::dialer_token(Protocol::Req0), "rep.sp.nanomsg.org");
/// assert_eq!(ws::listener_token(Protocol::Pair0), "pair.sp.nanomsg.org");
/// ```
pub fn dialer_token(p: Protocol) -> String {
    token(p.peer_name())
}

/// The subprotocol a listener of protocol `p` accepts: its own name.
pub fn listener_token(p: Protocol) -> String {
    token(p.name())
}

/// The protocol a token names (`"REP.sp.nanomsg.org"` is REP), if any.
pub fn parse_token(t: &str) -> Option<Protocol> {
    let cut = t.len().checked_sub(TOKEN_SUFFIX.len())?;
    let (name, suffix) = (t.get(..cut)?, t.get(cut..)?);
    if !suffix.eq_ignore_ascii_case(TOKEN_SUFFIX) {
        return None;
    }
    Protocol::from_name(name)
        .ok()
        .filter(|p| p.name().eq_ignore_ascii_case(name))
}

/// A dialer's check of the server's answer: the subprotocol it echoed
/// (`None` if it sent none) must be the token offered
/// ([`dialer_token`], ASCII case ignored), as nng requires. Anything else
/// is [`ProtocolError::BadSubprotocol`], on every target.
///
/// ```
/// use nanosp_core::{ws, Error, Protocol, ProtocolError};
/// assert_eq!(ws::check_echo(Protocol::Req0, Some("rep.sp.nanomsg.org")), Ok(()));
/// let bad = Err(Error::Protocol(ProtocolError::BadSubprotocol));
/// assert_eq!(ws::check_echo(Protocol::Req0, Some("req.sp.nanomsg.org")), bad);
/// assert_eq!(ws::check_echo(Protocol::Req0, None), bad);
/// ```
pub fn check_echo(p: Protocol, echoed: Option<&str>) -> Result<(), Error> {
    match echoed.and_then(parse_token) {
        Some(q) if q.number() == p.peer_number() => Ok(()),
        _ => Err(Error::Protocol(ProtocolError::BadSubprotocol)),
    }
}

/// A listener's choice among a client's offered subprotocols (the
/// `Sec-WebSocket-Protocol` header's value, `None` if absent): the offered
/// token that names the listener's own protocol, to be echoed as offered.
/// The list is split on commas (as mangos; nng's clients offer one).
/// `None`: refuse with [`STATUS_BAD_SUBPROTOCOL`].
///
/// ```
/// use nanosp_core::{ws, Protocol};
/// let offer = Some("bus.sp.nanomsg.org, PAIR1.sp.nanomsg.org");
/// assert_eq!(ws::select_offer(Protocol::Pair1, offer), Some("PAIR1.sp.nanomsg.org"));
/// assert_eq!(ws::select_offer(Protocol::Pair0, offer), None);
/// ```
pub fn select_offer(p: Protocol, offered: Option<&str>) -> Option<&str> {
    offered?
        .split(',')
        .map(str::trim)
        .find(|t| parse_token(t).is_some_and(|q| q == p))
}

/// HTTP status of an upgrade to a path where no socket listens (an nng
/// dialer reports connection refused).
pub const STATUS_NO_SOCKET: u16 = 404;

/// HTTP status of an upgrade without the listener's subprotocol.
pub const STATUS_BAD_SUBPROTOCOL: u16 = 400;

/// What a dialer makes of an HTTP status other than 101 in answer to its
/// upgrade, as nng: 404, 405, 501 are [`Error::ConnectionRefused`] (nobody
/// serves SP there), 401 and 403 [`Error::Rejected`] (nng's `EPERM`),
/// anything else [`ProtocolError::HandshakeIncomplete`].
pub fn upgrade_refused(status: u16) -> Error {
    match status {
        404 | 405 | 501 => Error::ConnectionRefused,
        401 | 403 => Error::Rejected,
        _ => Error::Protocol(ProtocolError::HandshakeIncomplete),
    }
}

/// Whether a dial attempt's error counts as a failed handshake
/// ([`crate::Stats::handshake_failures`]): every error once a connection
/// was made, a timed-out handshake included, but not a connection that
/// was never made (refused, which a browser cannot tell from HTTP 404),
/// an operating-system error, or the socket closing.
pub fn is_handshake_failure(e: &Error) -> bool {
    !matches!(e, Error::ConnectionRefused | Error::Closed | Error::Io(_))
}

/// The size of the frames we cut messages into, as nng (whose receivers
/// refuse single frames over 1 MiB).
pub const MAX_SEND_FRAME: usize = 64 << 10;

/// A remainder shorter than this after the last whole frame joins that
/// frame instead of leaving as a tiny frame of its own: a 64 KiB body with
/// its SP header is one frame, not a second one of 4 bytes that costs the
/// receiver another read (and often another wake-up).
pub const MERGE_TAIL: usize = 4 << 10;

/// The frames of an outgoing message of `len` bytes, as byte ranges: the
/// first is a binary frame, the rest continuations; the last one ends the
/// message. Frames are [`MAX_SEND_FRAME`] long, the last one up to
/// [`MERGE_TAIL`] longer. An empty message is one empty frame.
///
/// ```
/// use nanosp_core::ws::{send_frames, MAX_SEND_FRAME};
/// // A 64 KiB body and its 4-byte header: one frame.
/// let f: Vec<_> = send_frames(MAX_SEND_FRAME + 4).collect();
/// assert_eq!(f, [0..MAX_SEND_FRAME + 4]);
/// let f: Vec<_> = send_frames(2 * MAX_SEND_FRAME + 5000).collect();
/// assert_eq!(f.len(), 3);
/// assert_eq!(send_frames(0).collect::<Vec<_>>(), [0..0]);
/// ```
pub fn send_frames(len: usize) -> impl Iterator<Item = Range<usize>> {
    let mut n = len.div_ceil(MAX_SEND_FRAME).max(1);
    if n > 1 && len - (n - 1) * MAX_SEND_FRAME < MERGE_TAIL {
        n -= 1;
    }
    (0..n).map(move |i| {
        let end = if i + 1 == n {
            len
        } else {
            (i + 1) * MAX_SEND_FRAME
        };
        i * MAX_SEND_FRAME..end
    })
}

/// The largest incoming frame when the message limit is 0 (unlimited).
/// Messages of any size still arrive, in several frames (nng's own frames
/// are at most 1 MiB, ours [`MAX_SEND_FRAME`]). A frame reader may reserve
/// a frame's announced length up front, so that length must never be
/// unbounded (a peer announcing 2^63 bytes made one panic).
pub const MAX_RECV_FRAME_UNLIMITED: usize = 16 << 20;

/// The largest incoming frame for a message limit of `limit` bytes (0 =
/// unlimited): the limit itself, or [`MAX_RECV_FRAME_UNLIMITED`].
pub const fn max_recv_frame(limit: usize) -> usize {
    if limit == 0 {
        MAX_RECV_FRAME_UNLIMITED
    } else {
        limit
    }
}

/// What kind of WebSocket data message arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    /// Binary: an SP message.
    Binary,
    /// Text: never SP data.
    Text,
}

/// Checks an incoming message of `len` bytes against the rules and the
/// limit (`limit` bytes of header + body, 0 = none): a text message is
/// [`ProtocolError::UnexpectedMessage`] (nng closes with 1003), a message
/// over the limit [`Error::MessageTooLong`] (1009). Either ends the
/// connection, with [`close_code`]'s code.
pub fn check_message(kind: DataKind, len: usize, limit: usize) -> Result<(), Error> {
    if kind == DataKind::Text {
        return Err(Error::Protocol(ProtocolError::UnexpectedMessage));
    }
    if limit != 0 && len > limit {
        return Err(Error::MessageTooLong {
            len: len as u64,
            limit: limit as u64,
        });
    }
    Ok(())
}

/// Close code: normal closure (RFC 6455 §7.4.1).
pub const CLOSE_NORMAL: u16 = 1000;
/// Close code: the endpoint is going away.
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code: protocol error.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close code: data of a kind not accepted (text to an SP socket).
pub const CLOSE_UNSUPPORTED_DATA: u16 = 1003;
/// Close code: a close frame without a code (never sent).
pub const CLOSE_NO_STATUS: u16 = 1005;
/// Close code: a message too big to process.
pub const CLOSE_TOO_BIG: u16 = 1009;

/// The close code we send when a pipe ends because of `why`: 1009 for a
/// message over the limit, 1003 for a text message, 1002 for other bad
/// input, 1000 otherwise (the socket or the application closed the pipe).
pub fn close_code(why: &Error) -> u16 {
    match why {
        Error::MessageTooLong { .. } => CLOSE_TOO_BIG,
        Error::Protocol(ProtocolError::UnexpectedMessage) => CLOSE_UNSUPPORTED_DATA,
        Error::Protocol(_) => CLOSE_PROTOCOL_ERROR,
        _ => CLOSE_NORMAL,
    }
}

/// [`close_code`] for an API that may send only 1000 and 3000–4999 (the
/// browser's `WebSocket.close`): 1000 stays, RFC code `1xxx` becomes `4xxx`
/// (so 1009 is 4009).
pub fn app_close_code(why: &Error) -> u16 {
    match close_code(why) {
        CLOSE_NORMAL => CLOSE_NORMAL,
        c => c + 3000,
    }
}

/// The close reason of a pipe whose peer closed the connection with `code`
/// (`None`: a close frame without one, or the connection simply ended):
/// a normal or going-away close is [`Error::ConnectionShutdown`], any other
/// code (an error, or 1006: closed without a close frame)
/// [`Error::ConnectionReset`].
pub fn peer_closed(code: Option<u16>) -> Error {
    match code {
        None | Some(CLOSE_NORMAL | CLOSE_GOING_AWAY | CLOSE_NO_STATUS) => Error::ConnectionShutdown,
        Some(_) => Error::ConnectionReset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn tokens_name_the_listener() {
        for p in Protocol::ALL {
            let d = dialer_token(p);
            assert_eq!(d, alloc::format!("{}.sp.nanomsg.org", p.peer_name()));
            assert_eq!(parse_token(&listener_token(p)), Some(p));
            assert_eq!(d, d.to_ascii_lowercase());
            // What a dialer offers, its peer's listener selects and echoes.
            let peer = Protocol::from_number(p.peer_number()).unwrap();
            assert_eq!(select_offer(peer, Some(&d)), Some(d.as_str()));
            assert_eq!(check_echo(p, Some(&d)), Ok(()));
            assert_eq!(check_echo(p, Some(&d.to_ascii_uppercase())), Ok(()));
        }
        assert_eq!(dialer_token(Protocol::Pair0), "pair.sp.nanomsg.org");
        assert_eq!(dialer_token(Protocol::Sub0), "pub.sp.nanomsg.org");
        // nng's names only: the versioned spelling is not a token.
        assert_eq!(parse_token("pair0.sp.nanomsg.org"), None);
        assert_eq!(parse_token("pair.sp.nanomsg.org"), Some(Protocol::Pair0));
        assert_eq!(parse_token("x"), None);
        assert_eq!(parse_token(".sp.nanomsg.org"), None);
        assert_eq!(parse_token("rep.sp.nanomsg.com"), None);
        assert_eq!(parse_token("ré.sp.nanomsg.org"), None);
    }

    #[test]
    fn one_error_for_any_wrong_echo() {
        let bad = Err(Error::Protocol(ProtocolError::BadSubprotocol));
        for echo in [
            None,
            Some(""),
            Some("req.sp.nanomsg.org"),
            Some("rep"),
            Some("rep.sp.nanomsg.org, req.sp.nanomsg.org"),
            Some("unknown.sp.nanomsg.org"),
        ] {
            assert_eq!(check_echo(Protocol::Req0, echo), bad, "{echo:?}");
        }
    }

    #[test]
    fn listener_selects_only_its_own_name() {
        assert_eq!(select_offer(Protocol::Rep0, None), None);
        assert_eq!(select_offer(Protocol::Rep0, Some("")), None);
        assert_eq!(
            select_offer(Protocol::Rep0, Some("req.sp.nanomsg.org")),
            None
        );
        assert_eq!(
            select_offer(Protocol::Rep0, Some(" x , Rep.SP.nanomsg.org ")),
            Some("Rep.SP.nanomsg.org")
        );
        assert_eq!(
            select_offer(Protocol::Pair1, Some("pair.sp.nanomsg.org")),
            None
        );
    }

    #[test]
    fn http_statuses_as_nng_reads_them() {
        assert_eq!(upgrade_refused(STATUS_NO_SOCKET), Error::ConnectionRefused);
        assert_eq!(upgrade_refused(405), Error::ConnectionRefused);
        assert_eq!(upgrade_refused(403), Error::Rejected);
        assert_eq!(
            upgrade_refused(STATUS_BAD_SUBPROTOCOL),
            Error::Protocol(ProtocolError::HandshakeIncomplete)
        );
        assert!(is_handshake_failure(&Error::TimedOut));
        assert!(is_handshake_failure(&Error::Protocol(
            ProtocolError::BadSubprotocol
        )));
        assert!(!is_handshake_failure(&Error::ConnectionRefused));
        assert!(!is_handshake_failure(&Error::Closed));
    }

    #[test]
    fn frames_cover_the_message_in_order() {
        for len in [
            0,
            1,
            MAX_SEND_FRAME - 1,
            MAX_SEND_FRAME,
            MAX_SEND_FRAME + 1,
            MAX_SEND_FRAME + MERGE_TAIL - 1,
            MAX_SEND_FRAME + MERGE_TAIL,
            3 * MAX_SEND_FRAME + 7,
            3 * MAX_SEND_FRAME + 70_000,
        ] {
            let f: Vec<_> = send_frames(len).collect();
            assert_eq!(f.first().unwrap().start, 0);
            assert_eq!(f.last().unwrap().end, len);
            for w in f.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
            assert!(f.iter().all(|r| r.len() < MAX_SEND_FRAME + MERGE_TAIL));
            // No frame but the first is shorter than the tail threshold.
            assert!(f.iter().skip(1).all(|r| r.len() >= MERGE_TAIL));
            let (full, rem) = (len / MAX_SEND_FRAME, len % MAX_SEND_FRAME);
            let want = match (full, rem) {
                (0, _) => 1,
                (_, r) if r < MERGE_TAIL => full,
                _ => full + 1,
            };
            assert_eq!(f.len(), want, "{len}");
        }
        assert_eq!(max_recv_frame(0), MAX_RECV_FRAME_UNLIMITED);
        assert_eq!(max_recv_frame(100), 100);
    }

    #[test]
    fn messages_binary_and_within_the_limit() {
        assert_eq!(check_message(DataKind::Binary, 10, 10), Ok(()));
        assert_eq!(check_message(DataKind::Binary, 1 << 30, 0), Ok(()));
        let big = check_message(DataKind::Binary, 11, 10).unwrap_err();
        assert_eq!(big, Error::MessageTooLong { len: 11, limit: 10 });
        let text = check_message(DataKind::Text, 1, 10).unwrap_err();
        assert_eq!(text, Error::Protocol(ProtocolError::UnexpectedMessage));
        assert_eq!(close_code(&big), 1009);
        assert_eq!(close_code(&text), 1003);
        assert_eq!(
            close_code(&Error::Protocol(ProtocolError::MalformedHeader)),
            1002
        );
        assert_eq!(close_code(&Error::Closed), 1000);
        assert_eq!(app_close_code(&big), 4009);
        assert_eq!(app_close_code(&Error::Closed), 1000);
    }

    #[test]
    fn peer_close_codes_become_reasons() {
        assert_eq!(peer_closed(None), Error::ConnectionShutdown);
        assert_eq!(peer_closed(Some(1000)), Error::ConnectionShutdown);
        assert_eq!(peer_closed(Some(1001)), Error::ConnectionShutdown);
        assert_eq!(peer_closed(Some(1006)), Error::ConnectionReset);
        assert_eq!(peer_closed(Some(1009)), Error::ConnectionReset);
    }
}
