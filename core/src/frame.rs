//! Sans-IO SP framing for byte-stream transports (docs/wire.md §2).
//!
//! Three pieces, none of which does I/O:
//!
//! * the 8-byte connection header ([`handshake`], [`parse_handshake`]) that
//!   both sides write immediately and then read from the peer (§2.1);
//! * the encoder ([`encode_prefix`], [`encode_message`]): a TCP/TLS message is
//!   `u64 BE length | payload` (§2.2), an IPC message is
//!   `0x01 | u64 BE length | payload` (§2.3), where the payload is the SP
//!   protocol header followed by the body;
//! * the incremental [`Decoder`], which takes whatever bytes the stream gave
//!   and hands back whole messages.
//!
//! The decoder trusts nothing it has not seen: a length is checked against the
//! reserved bits and the receive limit before anything is allocated, and the
//! message buffer grows only as payload bytes actually arrive, so a peer that
//! announces 2^59 bytes and sends ten costs us about ten bytes.

use alloc::vec::Vec;
use core::mem;

use crate::{Error, Message, ProtocolError};

/// Length of the connection header.
pub const HANDSHAKE_LEN: usize = 8;
/// Longest length prefix (IPC: type byte + 8).
pub const MAX_PREFIX: usize = 9;

/// The only IPC message type on the wire: an in-band message (docs/wire.md §2.3).
pub const IPC_MSG_TYPE: u8 = 0x01;

/// Length bits that must be zero: the top four (nng rejects lengths above
/// 2^60 − 1, docs/wire.md §2.2).
pub const RESERVED_LENGTH_BITS: u64 = 0xF000_0000_0000_0000;

/// The most the [`Decoder`] reserves for a message before its bytes arrive.
///
/// A message announcing more starts with this much and grows as its payload
/// comes in.
pub const MAX_INITIAL_RESERVE: usize = 1 << 20;

/// Payloads from this long on are placed in their buffer after as many bytes
/// as the prefix has, so that a reader filling them straight from the
/// socket (`Decoder::body_buf`) copies with the alignment the bytes have in
/// the stream: on x86 the kernel's copy to user memory is up to 3 times
/// slower when source and destination disagree (measured: 1 MiB over TCP
/// loopback, 440 → 165 µs one way pinned). Shorter ones are copied once
/// from a read buffer anyway and keep their body at offset 0.
const PAD_FROM: usize = 8 << 10;

/// The bytes to leave before a payload of `len` after a prefix of `need`
/// bytes (see [`PAD_FROM`]). Only with `std` (host kernels' copies; a
/// firmware's stack copies small segments and keeps the smaller code), and
/// never when `pad + len` would not fit a `usize` (a 32-bit target with no
/// receive limit and a peer announcing nearly 4 GiB).
fn pad_for(len: usize, need: usize) -> usize {
    if cfg!(feature = "std") && len >= PAD_FROM && len <= usize::MAX - need {
        need
    } else {
        0
    }
}

/// The most [`Decoder::body_buf`] offers at once.
pub const BODY_CHUNK: usize = 256 << 10;

/// The most bytes past a payload [`Decoder::body_buf_ahead`] lends: a
/// prefix (9 bytes at most), an SP header and a little more.
pub const AHEAD: usize = 64;

/// Bytes read past a message's end (see [`Decoder::advance_body_ahead`]).
pub struct Ahead {
    buf: [u8; AHEAD],
    len: usize,
}

impl Ahead {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Which stream framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `u64 BE length | payload` (TCP, TLS, embassy-net TCP).
    Tcp,
    /// `0x01 | u64 BE length | payload` (IPC).
    Ipc,
}

impl Framing {
    /// Length of this framing's per-message prefix: 8 (TCP) or 9 (IPC).
    pub const fn prefix_len(self) -> usize {
        match self {
            Framing::Tcp => 8,
            Framing::Ipc => 9,
        }
    }
}

/// Our 8-byte connection header announcing protocol number `proto`.
///
/// `00 'S' 'P' 00 | proto (u16 BE) | 00 00` (docs/wire.md §2.1).
pub fn handshake(proto: u16) -> [u8; HANDSHAKE_LEN] {
    let p = proto.to_be_bytes();
    [0, b'S', b'P', 0, p[0], p[1], 0, 0]
}

/// Checks a peer's header; returns its protocol number.
///
/// Whether that number is an acceptable peer is the protocol's business
/// ([`ProtocolError::PeerMismatch`]), not this function's.
pub fn parse_handshake(h: &[u8; HANDSHAKE_LEN]) -> Result<u16, ProtocolError> {
    if h[0..3] != [0, b'S', b'P'] {
        return Err(ProtocolError::BadMagic);
    }
    if h[3] != 0 {
        return Err(ProtocolError::BadVersion(h[3]));
    }
    if h[6] != 0 || h[7] != 0 {
        return Err(ProtocolError::BadReserved);
    }
    Ok(u16::from_be_bytes([h[4], h[5]]))
}

/// Writes the prefix for a `len`-byte payload into `out`; returns its length.
pub fn encode_prefix(framing: Framing, len: u64, out: &mut [u8; MAX_PREFIX]) -> usize {
    match framing {
        Framing::Tcp => {
            out[..8].copy_from_slice(&len.to_be_bytes());
            8
        }
        Framing::Ipc => {
            out[0] = IPC_MSG_TYPE;
            out[1..9].copy_from_slice(&len.to_be_bytes());
            9
        }
    }
}

/// Appends a whole framed message (prefix, header, body) to `out`.
pub fn encode_message(framing: Framing, msg: &Message, out: &mut Vec<u8>) {
    let mut p = [0; MAX_PREFIX];
    let n = encode_prefix(framing, msg.len() as u64, &mut p);
    out.reserve(n + msg.len());
    out.extend_from_slice(&p[..n]);
    out.extend_from_slice(msg.header());
    out.extend_from_slice(msg.body());
}

/// Incremental decoder of framed SP messages from a byte stream.
///
/// # Calling contract
///
/// Feed bytes as they arrive, in chunks of any size (one byte at a time
/// works), with [`decode`](Self::decode). Each call consumes from the front of
/// the input and returns at most one message, so call it in a loop:
///
/// ```
/// use nanosp_core::frame::{encode_message, Decoder, Framing};
/// use nanosp_core::Message;
///
/// let mut wire = Vec::new();
/// encode_message(Framing::Tcp, &Message::from("one"), &mut wire);
/// encode_message(Framing::Tcp, &Message::from("two"), &mut wire);
///
/// let mut dec = Decoder::new(Framing::Tcp, 1 << 20);
/// let mut input = &wire[..];
/// let mut got = Vec::new();
/// while !input.is_empty() {
///     if let Some(m) = dec.decode(&mut input).unwrap() {
///         got.push(m);
///     }
/// }
/// assert_eq!(got[0].body(), b"one");
/// assert_eq!(got[1].body(), b"two");
/// assert!(dec.is_idle());
/// ```
///
/// While a message body is being received, a reader may skip the copy out of
/// its own buffer: [`body_buf`](Self::body_buf) lends a slice of the message's
/// buffer to read into, and [`advance_body`](Self::advance_body) says how
/// much was written there.
///
/// The whole SP payload (protocol header and body) lands in the message
/// *body*; each protocol moves its header bytes with
/// [`Message::move_body_to_header`].
///
/// After an error the decoder's state is unspecified (it never panics, but
/// what it returns next means nothing): the pipe is to be closed.
#[derive(Debug)]
pub struct Decoder {
    framing: Framing,
    limit: u64,
    max_reserve: usize,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Collecting the (IPC type byte and) length prefix.
    Prefix { buf: [u8; MAX_PREFIX], have: usize },
    /// Collecting `len` payload bytes into `msg`'s body.
    ///
    /// The body holds `filled` received bytes; anything after them is scratch
    /// (reused pool memory, or lent out by `body_buf` up to `lent` and not
    /// yet committed), cut off when the message is complete.
    Body {
        msg: Message,
        len: usize,
        filled: usize,
        lent: usize,
        /// Bytes of the buffer before the payload: as many as the prefix,
        /// so the payload sits in the buffer where it sits in the stream
        /// (relative to the buffer's start as to the frame's), and the
        /// kernel's copies into it keep the alignment they have in its
        /// socket buffers. Cut off (without copying) when it is complete.
        pad: usize,
        /// Bytes past the payload's end lent by `body_buf_ahead` (the
        /// start of the next frame, if the reader finds it there). Without
        /// `std` always 0: nothing is lent past a payload there.
        ahead: usize,
    },
}

impl State {
    const IDLE: State = State::Prefix {
        buf: [0; MAX_PREFIX],
        have: 0,
    };
}

impl Decoder {
    /// A decoder for `framing` refusing payloads longer than `limit` bytes
    /// (SP header + body, as nng's `NNG_OPT_RECVMAXSZ` counts); 0 = unlimited.
    pub fn new(framing: Framing, limit: u64) -> Self {
        Decoder {
            framing,
            limit,
            max_reserve: MAX_INITIAL_RESERVE,
            state: State::IDLE,
        }
    }

    /// Caps what is reserved for a message before its bytes arrive (default
    /// [`MAX_INITIAL_RESERVE`]); the body then grows as bytes come in. Small
    /// heaps (microcontrollers) want a small cap.
    pub fn set_max_reserve(&mut self, n: usize) {
        self.max_reserve = n.clamp(64, MAX_INITIAL_RESERVE);
    }

    /// The framing this decoder expects.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// The receive limit in force (0 = unlimited).
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Changes the receive limit (0 = unlimited). It applies from the next
    /// length prefix on; a message already announced is not re-checked.
    pub fn set_limit(&mut self, limit: u64) {
        self.limit = limit;
    }

    /// True when no partial frame is buffered: the stream may end here cleanly.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Prefix { have: 0, .. })
    }

    /// Consumes bytes from the front of `input`, returning a message when one
    /// is complete.
    ///
    /// Returns `Ok(None)` only after consuming all of `input`; after
    /// `Ok(Some(_))` the rest of the input (possibly empty) is left for the
    /// next call.
    ///
    /// # Errors
    ///
    /// * [`ProtocolError::BadIpcType`]: an IPC type byte other than 0x01;
    /// * [`ProtocolError::ReservedLengthBits`]: a length with any of its top
    ///   four bits set;
    /// * [`Error::MessageTooLong`]: a length above the limit, reported as soon
    ///   as the prefix is complete, before any payload is read. On a target
    ///   whose `usize` cannot hold the length, `limit` in the error is the
    ///   largest length the target can hold.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Message>, Error> {
        loop {
            match &mut self.state {
                State::Prefix { buf, have } => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let need = self.framing.prefix_len();
                    let take = (need - *have).min(input.len());
                    buf[*have..*have + take].copy_from_slice(&input[..take]);
                    *input = &input[take..];
                    let start = *have;
                    *have += take;
                    // Refuse a bad IPC type byte at once, before its length.
                    if self.framing == Framing::Ipc && start == 0 && buf[0] != IPC_MSG_TYPE {
                        let b = buf[0];
                        self.state = State::IDLE;
                        return Err(ProtocolError::BadIpcType(b).into());
                    }
                    if *have < need {
                        return Ok(None);
                    }
                    let mut len = [0; 8];
                    len.copy_from_slice(&buf[need - 8..need]);
                    let len = u64::from_be_bytes(len);
                    let len = match self.check_len(len) {
                        Ok(len) => len,
                        Err(e) => {
                            self.state = State::IDLE;
                            return Err(e);
                        }
                    };
                    if len == 0 {
                        self.state = State::IDLE;
                        return Ok(Some(Message::new()));
                    }
                    let pad = pad_for(len, need);
                    self.state = State::Body {
                        msg: Message::with_scratch(pad + len.min(self.max_reserve)),
                        len,
                        filled: 0,
                        lent: 0,
                        pad,
                        ahead: 0,
                    };
                }
                State::Body {
                    msg,
                    len,
                    filled,
                    lent,
                    pad,
                    ..
                } => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    *lent = 0; // what was lent is overwritten or cut off below
                    let take = (*len - *filled).min(input.len());
                    let (at, end) = (*pad + *filled, *pad + *filled + take);
                    let body = msg.body_mut();
                    if body.len() >= end {
                        // Into the scratch: it keeps its initialised length.
                        body[at..end].copy_from_slice(&input[..take]);
                    } else {
                        body.truncate(at);
                        grow(body, end, *pad + *len);
                        body.extend_from_slice(&input[..take]);
                    }
                    *input = &input[take..];
                    *filled += take;
                    if *filled == *len {
                        return Ok(self.finish());
                    }
                }
            }
        }
    }

    /// While a message body is being received: the next part of the message's
    /// own buffer (at most [`BODY_CHUNK`] bytes, never past the message's
    /// end) for a reader to fill directly; commit with
    /// [`advance_body`](Self::advance_body). `None` while no body is pending
    /// (read a prefix through [`decode`](Self::decode) first).
    ///
    /// The slice's contents are unspecified; asking again without advancing
    /// returns the same region.
    pub fn body_buf(&mut self) -> Option<&mut [u8]> {
        let (body, at, end, _) = self.lend()?;
        if body.len() < end {
            body.resize(end, 0);
        }
        Some(&mut body[at..end])
    }

    /// Lends the next part of a pending body: the message's buffer with
    /// room for the part reserved, where the part starts and ends in it,
    /// and, when the part is the payload's last, the count of bytes lent
    /// past it (reset to 0, for the caller to set).
    fn lend(&mut self) -> Option<(&mut Vec<u8>, usize, usize, Option<&mut usize>)> {
        let State::Body {
            msg,
            len,
            filled,
            lent,
            pad,
            ahead,
        } = &mut self.state
        else {
            return None;
        };
        let want = (*len - *filled).min(BODY_CHUNK);
        let (at, end) = (*pad + *filled, *pad + *filled + want);
        let body = msg.body_mut();
        grow(body, end, *pad + *len);
        *lent = *filled + want;
        *ahead = 0;
        let last = (*lent == *len).then_some(ahead);
        Some((body, at, end, last))
    }

    /// Records that `n` bytes were written at the start of the slice last
    /// returned by [`body_buf`](Self::body_buf); returns the message if that
    /// completed it.
    ///
    /// `n` is clamped to what was lent out; without a pending body this does
    /// nothing.
    pub fn advance_body(&mut self, n: usize) -> Option<Message> {
        let State::Body {
            len, filled, lent, ..
        } = &mut self.state
        else {
            return None;
        };
        // Not `clamp`: its min-above-max check links `core::fmt` (flash).
        let lent = (*lent).min(*len).max(*filled);
        *filled += n.min(lent - *filled);
        if *filled == *len {
            self.finish()
        } else {
            None
        }
    }

    /// Payload bytes still to come for the message being received (0
    /// between messages).
    pub fn body_pending(&self) -> usize {
        match &self.state {
            State::Body { len, filled, .. } => len - filled,
            State::Prefix { .. } => 0,
        }
    }

    /// [`body_buf`](Self::body_buf) and, when that is the rest of the
    /// payload, up to `ahead` bytes (at most [`AHEAD`]) past its end, as far
    /// as the buffer has room without growing: a reader that fills them has
    /// the next frame's prefix from the same read, so a stream of large
    /// messages takes one read each, not two (the prefix's, then the
    /// body's). Commit with [`advance_body_ahead`](Self::advance_body_ahead).
    /// Without `std` it lends no more than `body_buf`.
    #[cfg(feature = "std")]
    pub fn body_buf_ahead(&mut self, ahead: usize) -> Option<&mut [u8]> {
        let (body, at, mut end, last) = self.lend()?;
        if let Some(over) = last {
            *over = ahead.min(AHEAD).min(body.capacity() - end);
            end += *over;
        }
        if body.len() < end {
            body.resize(end, 0); // within its capacity: no new buffer
        }
        Some(&mut body[at..end])
    }

    /// As [`body_buf_ahead`](Self::body_buf_ahead), but the region is the
    /// spare capacity of the message's buffer, not a slice: the returned
    /// `Vec` ends where the next byte goes, and a reader appends at most
    /// the returned count to it (a read into uninitialised memory, such as
    /// tokio's `try_read_buf`), then calls
    /// [`advance_body_ahead`](Self::advance_body_ahead) with the count it
    /// appended. The capacity is reserved and nothing is zeroed first (a
    /// pooled buffer that last held a shorter message would otherwise be
    /// zeroed up to this one's size). Without `std`, nothing is lent past
    /// the payload, as with `body_buf_ahead`.
    pub fn body_vec_ahead(&mut self, ahead: usize) -> Option<(&mut Vec<u8>, usize)> {
        let (body, at, end, last) = self.lend()?;
        body.truncate(at);
        let mut max = end - at;
        if let Some(over) = last.filter(|_| cfg!(feature = "std")) {
            *over = ahead.min(AHEAD).min(body.capacity() - end);
            max += *over;
        }
        Some((body, max))
    }

    /// [`advance_body`](Self::advance_body) after
    /// [`body_buf_ahead`](Self::body_buf_ahead): also the bytes read past
    /// the payload's end, the start of the next frame, for
    /// [`decode`](Self::decode).
    #[cfg(feature = "std")]
    pub fn advance_body_ahead(&mut self, n: usize) -> (Option<Message>, Ahead) {
        let mut next = Ahead {
            buf: [0; AHEAD],
            len: 0,
        };
        if let State::Body {
            msg,
            len,
            filled,
            lent,
            pad,
            ahead,
        } = &self.state
        {
            // The kernel fills the slice in order: bytes past the payload
            // come only once it is whole.
            let rest = (*lent).min(*len).max(*filled) - *filled;
            if *filled + rest == *len && n > rest {
                let at = *pad + *len;
                next.len = (n - rest).min(*ahead).min(msg.body().len() - at);
                next.buf[..next.len].copy_from_slice(&msg.body()[at..at + next.len]);
            }
        }
        (self.advance_body(n), next)
    }

    /// As [`body_buf`](Self::body_buf) (without `std`, nothing is lent past
    /// the payload).
    #[cfg(not(feature = "std"))]
    pub fn body_buf_ahead(&mut self, _ahead: usize) -> Option<&mut [u8]> {
        self.body_buf()
    }

    /// As [`advance_body`](Self::advance_body), with no bytes past the
    /// payload (without `std`).
    #[cfg(not(feature = "std"))]
    pub fn advance_body_ahead(&mut self, n: usize) -> (Option<Message>, Ahead) {
        let none = Ahead {
            buf: [0; AHEAD],
            len: 0,
        };
        (self.advance_body(n), none)
    }

    /// Validates an announced payload length and converts it to `usize`.
    fn check_len(&self, len: u64) -> Result<usize, Error> {
        if len & RESERVED_LENGTH_BITS != 0 {
            return Err(ProtocolError::ReservedLengthBits.into());
        }
        if self.limit != 0 && len > self.limit {
            return Err(Error::MessageTooLong {
                len,
                limit: self.limit,
            });
        }
        // A `Vec` holds at most `isize::MAX` bytes.
        let max = isize::MAX as u64;
        match usize::try_from(len) {
            Ok(n) if len <= max => Ok(n),
            _ => Err(Error::MessageTooLong { len, limit: max }),
        }
    }

    /// Hands out the completed message and returns to the idle state.
    fn finish(&mut self) -> Option<Message> {
        match mem::replace(&mut self.state, State::IDLE) {
            State::Body {
                mut msg,
                filled,
                pad,
                ..
            } => {
                msg.body_mut().truncate(pad + filled);
                let _ = msg.trim_body_front(pad);
                Some(msg)
            }
            State::Prefix { .. } => None,
        }
    }
}

/// Makes room for `need` bytes in `v` (`need <= len`), growing geometrically
/// but never past the announced `len`, so memory follows received bytes.
fn grow(v: &mut Vec<u8>, need: usize, len: usize) {
    if v.capacity() < need {
        let target = need.max(v.capacity().saturating_mul(2)).min(len);
        v.reserve_exact(target - v.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(framing: Framing, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_message(framing, &Message::from(payload), &mut out);
        out
    }

    #[test]
    fn spec_examples() {
        // docs/wire.md §2.1, §2.2, §2.3.
        assert_eq!(handshake(0x30), [0, 0x53, 0x50, 0, 0, 0x30, 0, 0]);
        let payload = [0x80, 0, 0, 1, b'h', b'i'];
        assert_eq!(
            frame(Framing::Tcp, &payload),
            [0, 0, 0, 0, 0, 0, 0, 6, 0x80, 0, 0, 1, 0x68, 0x69]
        );
        assert_eq!(
            frame(Framing::Ipc, &payload),
            [1, 0, 0, 0, 0, 0, 0, 0, 6, 0x80, 0, 0, 1, 0x68, 0x69]
        );
    }

    #[test]
    fn header_goes_on_the_wire_before_body() {
        let mut m = Message::from("hi");
        m.set_header(&[0x80, 0, 0, 1]).unwrap();
        let mut out = Vec::new();
        encode_message(Framing::Tcp, &m, &mut out);
        let mut dec = Decoder::new(Framing::Tcp, 0);
        let got = dec.decode(&mut &out[..]).unwrap().unwrap();
        assert!(got.header().is_empty());
        assert_eq!(got.body(), [0x80, 0, 0, 1, b'h', b'i']);
    }

    #[test]
    fn grows_only_with_arrived_bytes() {
        let len: u64 = 3 << 20;
        let mut p = [0; MAX_PREFIX];
        let n = encode_prefix(Framing::Tcp, len, &mut p);
        let mut dec = Decoder::new(Framing::Tcp, 0);
        assert!(dec.decode(&mut &p[..n]).unwrap().is_none());
        let chunk = [7u8; 1000];
        assert!(dec.decode(&mut &chunk[..]).unwrap().is_none());
        let State::Body { msg, .. } = &mut dec.state else {
            panic!("expected a body in progress");
        };
        // (A pooled buffer of that class: the reserve plus the pool's room
        // for a header.)
        assert!(msg.body_mut().capacity() <= MAX_INITIAL_RESERVE + crate::pool::SLACK);
    }

    #[test]
    fn reused_scratch_never_shows_in_a_message() {
        // A large message fills a pooled buffer with 0xAA and gives it back;
        // a shorter one read into the same scratch must hold only its bytes,
        // even when the reader claims more than it was lent.
        let mut dec = Decoder::new(Framing::Tcp, 0);
        let mut p = [0; MAX_PREFIX];
        for round in 0..3 {
            let n = encode_prefix(Framing::Tcp, 4000, &mut p);
            assert!(dec.decode(&mut &p[..n]).unwrap().is_none());
            let b = dec.body_buf().unwrap();
            b.fill(0xAA);
            let len = b.len();
            drop(dec.advance_body(len).expect("complete"));
            let n = encode_prefix(Framing::Tcp, 10, &mut p);
            assert!(dec.decode(&mut &p[..n]).unwrap().is_none());
            let b = dec.body_buf().unwrap();
            assert_eq!(b.len(), 10);
            b[..3].copy_from_slice(b"abc");
            assert!(dec.advance_body(3).is_none());
            // Half through the copying path, half through the lent one.
            assert!(dec.decode(&mut &b"def"[..]).unwrap().is_none());
            let b = dec.body_buf().unwrap();
            b.copy_from_slice(b"ghij");
            let m = dec.advance_body(1000).expect("complete, clamped");
            assert_eq!(m.body(), b"abcdefghij", "round {round}");
        }
    }

    #[test]
    fn padding_never_overflows_a_length() {
        assert_eq!(pad_for(usize::MAX, 8), 0);
        assert_eq!(pad_for(usize::MAX - 8, 9), 0);
        assert_eq!(pad_for(PAD_FROM - 1, 8), 0);
        assert_eq!(
            pad_for(usize::MAX - 8, 8),
            if cfg!(feature = "std") { 8 } else { 0 }
        );
    }

    /// A stream read as a reader with `body_buf_ahead` reads it: through
    /// `decode` between bodies, straight into the body (plus what lies past
    /// it) during one, `cut` bytes at most per read.
    /// With `vec`, through `body_vec_ahead` (appending to the body's spare
    /// capacity) instead.
    fn read_ahead(
        framing: Framing,
        stream: &[u8],
        cut: usize,
        vec: bool,
    ) -> Result<Vec<Vec<u8>>, Error> {
        let mut dec = Decoder::new(framing, 0);
        let (mut out, mut at) = (Vec::new(), 0);
        while at < stream.len() {
            if dec.body_pending() > 0 {
                let n = if vec {
                    let (body, max) = dec.body_vec_ahead(AHEAD).unwrap();
                    assert!(max > 0 && body.capacity() - body.len() >= max);
                    let n = max.min(cut).min(stream.len() - at);
                    body.extend_from_slice(&stream[at..at + n]);
                    n
                } else {
                    let dst = dec.body_buf_ahead(AHEAD).unwrap();
                    let n = dst.len().min(cut).min(stream.len() - at);
                    dst[..n].copy_from_slice(&stream[at..at + n]);
                    n
                };
                at += n;
                let (m, next) = dec.advance_body_ahead(n);
                out.extend(m.map(|m| m.body().to_vec()));
                let mut input = next.as_slice();
                while !input.is_empty() {
                    out.extend(dec.decode(&mut input)?.map(|m| m.body().to_vec()));
                }
            } else {
                let n = cut.min(stream.len() - at).min(20);
                let mut input = &stream[at..at + n];
                at += n;
                while !input.is_empty() {
                    out.extend(dec.decode(&mut input)?.map(|m| m.body().to_vec()));
                }
            }
        }
        Ok(out)
    }

    #[test]
    fn reading_past_a_body_hands_the_next_frames_to_decode() {
        // Large and tiny messages in a row: the bytes read past a body hold
        // a prefix, part of one, or whole tiny frames, and all come out.
        for framing in [Framing::Tcp, Framing::Ipc] {
            let sizes = [40_000usize, 3, 0, 70_000, 1, 9000, 2, 5];
            let payloads: Vec<Vec<u8>> = sizes
                .iter()
                .enumerate()
                .map(|(k, &n)| (0..n).map(|i| (i * 13 + k) as u8).collect())
                .collect();
            let mut stream = Vec::new();
            for p in &payloads {
                encode_message(framing, &Message::from(&p[..]), &mut stream);
            }
            for cut in [1, 7, 100, 4096, usize::MAX] {
                for vec in [false, true] {
                    let got = read_ahead(framing, &stream, cut, vec).unwrap();
                    assert_eq!(got, payloads, "{framing:?}, reads of {cut}, vec {vec}");
                }
            }
            // Bad input read ahead is refused as it would be when decoded.
            let mut bad = Vec::new();
            encode_message(framing, &Message::from(&payloads[0][..]), &mut bad);
            bad.extend_from_slice(&[0x7f; 12]);
            for vec in [false, true] {
                let err = read_ahead(framing, &bad, usize::MAX, vec).unwrap_err();
                assert!(matches!(err, Error::Protocol(_)), "{framing:?}: {err:?}");
            }
        }
    }

    #[test]
    fn nothing_is_lent_past_a_body_that_is_not_at_its_end() {
        let mut dec = Decoder::new(Framing::Tcp, 0);
        let len = 3 * BODY_CHUNK;
        let mut p = [0; MAX_PREFIX];
        let n = encode_prefix(Framing::Tcp, len as u64, &mut p);
        assert!(dec.decode(&mut &p[..n]).unwrap().is_none());
        assert_eq!(dec.body_pending(), len);
        // Not the last chunk: exactly the chunk.
        assert_eq!(dec.body_buf_ahead(AHEAD).unwrap().len(), BODY_CHUNK);
        let (m, next) = dec.advance_body_ahead(BODY_CHUNK + 10);
        assert!(m.is_none() && next.as_slice().is_empty());
        assert_eq!(dec.body_pending(), len - BODY_CHUNK);
        // A short read of the last part: nothing past the end either.
        let _ = dec.body_buf_ahead(AHEAD).unwrap();
        let _ = dec.advance_body_ahead(BODY_CHUNK);
        let last = dec.body_buf_ahead(AHEAD).unwrap().len();
        assert!((BODY_CHUNK..=BODY_CHUNK + AHEAD).contains(&last));
        let (m, next) = dec.advance_body_ahead(BODY_CHUNK - 1);
        assert!(m.is_none() && next.as_slice().is_empty());
        let _ = dec.body_buf_ahead(AHEAD).unwrap();
        let (m, next) = dec.advance_body_ahead(1);
        assert_eq!(m.unwrap().body().len(), len);
        assert!(next.as_slice().is_empty());
        assert_eq!(dec.body_pending(), 0);
    }

    #[test]
    #[cfg(feature = "std")]
    fn a_large_payload_sits_where_it_sits_in_the_stream() {
        // From PAD_FROM on, the payload is placed after as many bytes as the
        // prefix has; the message shows only the payload, mixed copied and
        // lent parts included, and changing it costs no new buffer.
        for framing in [Framing::Tcp, Framing::Ipc] {
            let len = PAD_FROM + 3000;
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let mut dec = Decoder::new(framing, 0);
            let mut p = [0; MAX_PREFIX];
            let n = encode_prefix(framing, len as u64, &mut p);
            let mut first = p[..n].to_vec();
            first.extend_from_slice(&payload[..100]);
            assert!(dec.decode(&mut &first[..]).unwrap().is_none());
            let b = dec.body_buf().unwrap();
            let dst = b.as_ptr() as usize;
            b.copy_from_slice(&payload[100..100 + b.len()]);
            let lent = b.len();
            // The payload's byte 100 is `prefix + 100` bytes into the buffer.
            let State::Body { msg, .. } = &mut dec.state else {
                panic!("a body in progress");
            };
            assert_eq!(dst - msg.body_mut().as_ptr() as usize, n + 100);
            let mut m = dec.advance_body(lent).expect("complete");
            assert_eq!(m.body(), &payload[..], "{framing:?}");
            let at = m.body().as_ptr();
            m.body_mut()[0] = 0xEE;
            assert_eq!(m.body()[1..], payload[1..]);
            assert!(m.body().as_ptr() <= at, "moved to the front, same buffer");
        }
    }

    #[test]
    fn body_buf_never_exceeds_message() {
        let mut dec = Decoder::new(Framing::Tcp, 0);
        let mut p = [0; MAX_PREFIX];
        let n = encode_prefix(Framing::Tcp, 5, &mut p);
        assert!(dec.body_buf().is_none());
        assert!(dec.decode(&mut &p[..n]).unwrap().is_none());
        let b = dec.body_buf().unwrap();
        assert_eq!(b.len(), 5);
        b[..2].copy_from_slice(b"ab");
        assert!(dec.advance_body(2).is_none());
        assert!(dec.decode(&mut &b"c"[..]).unwrap().is_none());
        let b = dec.body_buf().unwrap();
        assert_eq!(b.len(), 2);
        b.copy_from_slice(b"de");
        let m = dec.advance_body(100).unwrap();
        assert_eq!(m.body(), b"abcde");
        assert!(dec.is_idle());
        assert!(dec.advance_body(1).is_none());
    }
}
