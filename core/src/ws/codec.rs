//! Sans-IO WebSocket data framing (RFC 6455 §5) after the HTTP upgrade:
//! frame headers out ([`encode_head`], [`apply_mask`]) and an incremental
//! [`FrameDecoder`] in, which reassembles fragmented binary messages into
//! pooled [`Message`]s and reports control frames.
//!
//! The decoder checks what a peer sends before it costs anything: reserved
//! bits (no extension is ever negotiated), opcodes, the masking rule of its
//! role, control frames (final, at most 125 bytes), the frame limit and the
//! message limit, all when a frame's header is complete; a message's buffer
//! grows only as its bytes arrive.

use alloc::vec::Vec;
use core::mem;

use crate::ws::{check_message, max_recv_frame, DataKind};
use crate::{Error, Message, ProtocolError};

/// Longest frame header: 2 bytes, 8 of extended length, 4 of mask key.
pub const MAX_HEAD: usize = 14;

/// Longest payload of a control frame (ping, pong, close).
pub const MAX_CONTROL: usize = 125;

/// Frame opcodes (RFC 6455 §5.2).
pub mod opcode {
    /// Continues a fragmented message.
    pub const CONTINUATION: u8 = 0x0;
    /// A text message: never SP, refused.
    pub const TEXT: u8 = 0x1;
    /// A binary message: one SP message.
    pub const BINARY: u8 = 0x2;
    /// Close, with an optional code and reason.
    pub const CLOSE: u8 = 0x8;
    /// Ping: answered with a pong carrying the same bytes.
    pub const PING: u8 = 0x9;
    /// Pong.
    pub const PONG: u8 = 0xA;
}

/// Which end of the connection this is: a client masks what it sends and
/// must receive unmasked frames; a server the opposite (RFC 6455 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The end that dialed (and sent the upgrade request).
    Client,
    /// The end that listened.
    Server,
}

/// How a peer's WebSocket frame broke RFC 6455, in
/// [`ProtocolError::BadWsFrame`]. Each closes the connection with close code
/// 1002 (protocol error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FrameError {
    /// A reserved bit (RSV1–3) is set, and no extension was negotiated.
    ReservedBits,
    /// An opcode RFC 6455 does not define (3–7, 11–15).
    UnknownOpcode,
    /// A control frame that is fragmented or longer than 125 bytes.
    BadControl,
    /// A client's frame without a mask, or a server's with one.
    Masking,
    /// A continuation frame with no message to continue.
    NoMessageToContinue,
    /// A new message while a fragmented one is unfinished.
    MessageUnfinished,
    /// A 64-bit length with its top bit set.
    BadLength,
    /// A close frame whose payload is 1 byte.
    BadClose,
}

impl FrameError {
    /// What the peer did wrong, in a few words.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::ReservedBits => "reserved bits set",
            Self::UnknownOpcode => "unknown opcode",
            Self::BadControl => "fragmented or oversized control frame",
            Self::Masking => "masking against the role",
            Self::NoMessageToContinue => "continuation without a message",
            Self::MessageUnfinished => "new message inside a fragmented one",
            Self::BadLength => "length with its top bit set",
            Self::BadClose => "close frame of 1 byte",
        }
    }
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<FrameError> for Error {
    fn from(e: FrameError) -> Self {
        Error::Protocol(ProtocolError::BadWsFrame(e))
    }
}

/// Writes the header of a frame with `len` payload bytes into `out`,
/// returns its length. With `mask`, the payload that follows must be
/// masked with [`apply_mask`] from offset 0.
///
/// ```
/// use nanosp_core::ws::codec::{encode_head, opcode, MAX_HEAD};
/// let mut h = [0; MAX_HEAD];
/// let n = encode_head(true, opcode::BINARY, 300, None, &mut h);
/// assert_eq!(&h[..n], &[0x82, 126, 0x01, 0x2c]);
/// ```
pub fn encode_head(
    fin: bool,
    op: u8,
    len: usize,
    mask: Option<[u8; 4]>,
    out: &mut [u8; MAX_HEAD],
) -> usize {
    out[0] = (u8::from(fin) << 7) | (op & 0x0F);
    let m = if mask.is_some() { 0x80 } else { 0 };
    let mut n = if len < 126 {
        out[1] = m | len as u8;
        2
    } else if len <= 0xFFFF {
        out[1] = m | 126;
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        out[1] = m | 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    if let Some(k) = mask {
        out[n..n + 4].copy_from_slice(&k);
        n += 4;
    }
    n
}

/// XORs `buf` with the mask `key`, `buf[0]` being byte `offset` of the
/// frame's payload (masking is its own inverse).
///
/// ```
/// use nanosp_core::ws::codec::apply_mask;
/// let key = [1, 2, 3, 4];
/// let mut b = *b"hello world";
/// apply_mask(&mut b[..5], key, 0);
/// apply_mask(&mut b[5..], key, 5);
/// apply_mask(&mut b, key, 0);
/// assert_eq!(&b, b"hello world");
/// ```
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let mut k = key;
    k.rotate_left(offset % 4);
    let wide = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let w = u64::from_ne_bytes(c.try_into().expect("8 bytes")) ^ wide;
        c.copy_from_slice(&w.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= k[i % 4];
    }
}

/// Appends a whole frame (header, then `payload`, masked with `mask` if
/// given) to `out`: control frames, and small frames in tests and tools.
///
/// ```
/// use nanosp_core::ws::codec::{encode_frame, opcode};
/// let mut f = Vec::new();
/// encode_frame(true, opcode::PING, b"hi", None, &mut f);
/// assert_eq!(f, [0x89, 2, b'h', b'i']);
/// ```
pub fn encode_frame(fin: bool, op: u8, payload: &[u8], mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    let mut head = [0; MAX_HEAD];
    let n = encode_head(fin, op, payload.len(), mask, &mut head);
    out.extend_from_slice(&head[..n]);
    let from = out.len();
    out.extend_from_slice(payload);
    if let Some(k) = mask {
        apply_mask(&mut out[from..], k, 0);
    }
}

/// What the decoder found.
#[derive(Debug)]
pub enum Event {
    /// A whole binary message (SP header and body in the body).
    Message(Message),
    /// A ping: answer with a pong of these bytes.
    Ping(heapless::Vec<u8, MAX_CONTROL>),
    /// A pong (nothing to do).
    Pong,
    /// The peer closes, with its close code if it sent one.
    Close(Option<u16>),
}

/// The most reserved for a message before its bytes arrive.
const MAX_INITIAL_RESERVE: usize = crate::frame::MAX_INITIAL_RESERVE;

/// The most [`FrameDecoder::body_buf`] lends at once.
const BODY_CHUNK: usize = crate::frame::BODY_CHUNK;

/// Incremental decoder of WebSocket frames, same calling contract as
/// [`crate::frame::Decoder`]: feed bytes with [`decode`](Self::decode) in a
/// loop, or read a large payload straight into the message with
/// [`body_buf`](Self::body_buf) and [`advance_body`](Self::advance_body).
///
/// ```
/// use nanosp_core::ws::codec::{encode_head, opcode, Event, FrameDecoder, Role, MAX_HEAD};
/// let mut wire = Vec::new();
/// let mut h = [0; MAX_HEAD];
/// let n = encode_head(false, opcode::BINARY, 3, None, &mut h);
/// wire.extend_from_slice(&h[..n]);
/// wire.extend_from_slice(b"one");
/// let n = encode_head(true, opcode::CONTINUATION, 4, None, &mut h);
/// wire.extend_from_slice(&h[..n]);
/// wire.extend_from_slice(b" two");
///
/// let mut dec = FrameDecoder::new(Role::Client, 0);
/// let mut input = &wire[..];
/// let Some(Event::Message(m)) = dec.decode(&mut input).unwrap() else { panic!() };
/// assert_eq!(m.body(), b"one two");
/// assert!(dec.is_idle());
/// ```
///
/// After an error its state means nothing: the connection is to be closed.
#[derive(Debug)]
pub struct FrameDecoder {
    role: Role,
    limit: usize,
    max_reserve: usize,
    /// The message being reassembled, across frames, and its length so far.
    msg: Option<Message>,
    msg_len: usize,
    st: St,
}

#[derive(Debug)]
enum St {
    Head {
        buf: [u8; MAX_HEAD],
        have: usize,
    },
    /// A data frame's payload, going into `msg` after `msg_len` bytes.
    Data {
        fin: bool,
        len: usize,
        done: usize,
        /// Bytes lent by `body_buf` and not yet committed.
        lent: usize,
        mask: Option<[u8; 4]>,
    },
    /// A control frame's payload.
    Control {
        op: u8,
        len: usize,
        buf: heapless::Vec<u8, MAX_CONTROL>,
        mask: Option<[u8; 4]>,
    },
}

const IDLE: St = St::Head {
    buf: [0; MAX_HEAD],
    have: 0,
};

impl FrameDecoder {
    /// A decoder for the `role` end, refusing messages over `limit` bytes
    /// (0 = no limit; one frame is then at most
    /// [`MAX_RECV_FRAME_UNLIMITED`](crate::ws::MAX_RECV_FRAME_UNLIMITED)).
    pub fn new(role: Role, limit: usize) -> Self {
        FrameDecoder {
            role,
            limit,
            max_reserve: MAX_INITIAL_RESERVE,
            msg: None,
            msg_len: 0,
            st: IDLE,
        }
    }

    /// Caps what is reserved for a frame before its bytes arrive.
    pub fn set_max_reserve(&mut self, n: usize) {
        self.max_reserve = n.clamp(64, MAX_INITIAL_RESERVE);
    }

    /// True between messages: no frame or message is partly received.
    pub fn is_idle(&self) -> bool {
        matches!(self.st, St::Head { have: 0, .. }) && self.msg.is_none()
    }

    /// Consumes bytes from the front of `input`, returning what one frame
    /// completed. `Ok(None)` only once all of `input` is consumed.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::BadWsFrame`] for a frame that breaks RFC 6455;
    /// [`ProtocolError::UnexpectedMessage`] for a text message;
    /// [`Error::MessageTooLong`] for a frame or message over the limits,
    /// as soon as its header says so.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Event>, Error> {
        loop {
            if input.is_empty() {
                return Ok(None);
            }
            match &mut self.st {
                St::Head { buf, have } => {
                    let need = head_len(&buf[..*have]);
                    let take = (need - *have).min(input.len());
                    buf[*have..*have + take].copy_from_slice(&input[..take]);
                    *input = &input[take..];
                    *have += take;
                    let need = head_len(&buf[..*have]);
                    if *have < need {
                        continue;
                    }
                    let (buf, have) = (*buf, *have);
                    if let Some(ev) = self.start_frame(&buf[..have])? {
                        return Ok(Some(ev));
                    }
                }
                St::Data {
                    len,
                    done,
                    lent,
                    mask,
                    ..
                } => {
                    *lent = 0;
                    let take = (*len - *done).min(input.len());
                    let at = self.msg_len + *done;
                    let m = self.msg.as_mut().expect("a message in progress");
                    ensure(m, at + take, at);
                    let body = m.body_mut();
                    if body.len() >= at + take {
                        body[at..at + take].copy_from_slice(&input[..take]);
                    } else {
                        body.truncate(at);
                        body.extend_from_slice(&input[..take]);
                    }
                    if let Some(k) = mask {
                        apply_mask(&mut body[at..at + take], *k, *done);
                    }
                    *input = &input[take..];
                    *done += take;
                    if *done == *len {
                        if let Some(ev) = self.end_data() {
                            return Ok(Some(ev));
                        }
                    }
                }
                St::Control { len, buf, .. } => {
                    let take = (*len - buf.len()).min(input.len());
                    buf.extend_from_slice(&input[..take]).ok();
                    *input = &input[take..];
                    if buf.len() == *len {
                        return self.end_control().map(Some);
                    }
                }
            }
        }
    }

    /// While a data frame's payload is being received: the next part of
    /// the message's buffer to read into (at most 256 KiB), committed with
    /// [`advance_body`](Self::advance_body); `None` otherwise.
    pub fn body_buf(&mut self) -> Option<&mut [u8]> {
        let St::Data {
            len, done, lent, ..
        } = &mut self.st
        else {
            return None;
        };
        let want = (*len - *done).min(BODY_CHUNK);
        let (at, end) = (self.msg_len + *done, self.msg_len + *done + want);
        let m = self.msg.as_mut()?;
        ensure(m, end, at);
        let body = m.body_mut();
        if body.len() < end {
            body.resize(end, 0);
        }
        *lent = *done + want;
        Some(&mut body[at..end])
    }

    /// Records that `n` bytes were written at the start of the slice last
    /// returned by [`body_buf`](Self::body_buf); returns the message if that
    /// completed it.
    pub fn advance_body(&mut self, n: usize) -> Option<Event> {
        let St::Data {
            len,
            done,
            lent,
            mask,
            ..
        } = &mut self.st
        else {
            return None;
        };
        let lent = (*lent).min(*len).max(*done);
        let n = n.min(lent - *done);
        if let Some(k) = mask {
            let at = self.msg_len + *done;
            let body = self.msg.as_mut()?.body_mut();
            apply_mask(&mut body[at..at + n], *k, *done);
        }
        *done += n;
        if *done == *len {
            self.end_data()
        } else {
            None
        }
    }

    /// Checks a complete frame header and sets up for its payload.
    fn start_frame(&mut self, h: &[u8]) -> Result<Option<Event>, Error> {
        let (b0, b1) = (h[0], h[1]);
        let fin = b0 & 0x80 != 0;
        let op = b0 & 0x0F;
        if b0 & 0x70 != 0 {
            return Err(FrameError::ReservedBits.into());
        }
        let masked = b1 & 0x80 != 0;
        if masked != (self.role == Role::Server) {
            return Err(FrameError::Masking.into());
        }
        let (len, at) = match b1 & 0x7F {
            126 => (u64::from(u16::from_be_bytes([h[2], h[3]])), 4),
            127 => {
                let mut l = [0; 8];
                l.copy_from_slice(&h[2..10]);
                (u64::from_be_bytes(l), 10)
            }
            n => (u64::from(n), 2),
        };
        if len >> 63 != 0 {
            return Err(FrameError::BadLength.into());
        }
        let mask = masked.then(|| [h[at], h[at + 1], h[at + 2], h[at + 3]]);
        match op {
            opcode::CLOSE | opcode::PING | opcode::PONG => {
                if !fin || len > MAX_CONTROL as u64 {
                    return Err(FrameError::BadControl.into());
                }
                self.st = St::Control {
                    op,
                    len: len as usize,
                    buf: heapless::Vec::new(),
                    mask,
                };
                if len == 0 {
                    return self.end_control().map(Some);
                }
                Ok(None)
            }
            opcode::TEXT => {
                check_message(DataKind::Text, 0, self.limit)?;
                Ok(None)
            }
            opcode::BINARY | opcode::CONTINUATION => {
                match (op, self.msg.is_some()) {
                    (opcode::BINARY, true) => return Err(FrameError::MessageUnfinished.into()),
                    (opcode::CONTINUATION, false) => {
                        return Err(FrameError::NoMessageToContinue.into())
                    }
                    _ => {}
                }
                let frame_max = max_recv_frame(self.limit) as u64;
                if len > frame_max {
                    return Err(Error::MessageTooLong {
                        len,
                        limit: frame_max,
                    });
                }
                // Fits a usize: at most the frame limit, itself a usize.
                let len = len as usize;
                let total = self.msg_len.saturating_add(len);
                check_message(DataKind::Binary, total, self.limit)?;
                let reserve = len.min(self.max_reserve);
                match &mut self.msg {
                    Some(m) => ensure(m, self.msg_len + reserve, self.msg_len),
                    None => {
                        // Its scratch bytes are overwritten before they count.
                        self.msg = Some(Message::with_scratch(reserve));
                    }
                }
                self.st = St::Data {
                    fin,
                    len,
                    done: 0,
                    lent: 0,
                    mask,
                };
                Ok(if len == 0 { self.end_data() } else { None })
            }
            _ => Err(FrameError::UnknownOpcode.into()),
        }
    }

    /// A data frame's payload is complete: the message, if it was the last.
    fn end_data(&mut self) -> Option<Event> {
        let St::Data { fin, len, .. } = mem::replace(&mut self.st, IDLE) else {
            return None;
        };
        self.msg_len += len;
        if !fin {
            return None;
        }
        let mut m = self.msg.take()?;
        m.body_mut().truncate(mem::take(&mut self.msg_len));
        Some(Event::Message(m))
    }

    /// A control frame's payload is complete.
    fn end_control(&mut self) -> Result<Event, Error> {
        let St::Control {
            op, mut buf, mask, ..
        } = mem::replace(&mut self.st, IDLE)
        else {
            unreachable!("called in the control state")
        };
        if let Some(k) = mask {
            apply_mask(&mut buf, k, 0);
        }
        Ok(match op {
            opcode::PING => Event::Ping(buf),
            opcode::PONG => Event::Pong,
            _ => match buf.len() {
                0 => Event::Close(None),
                1 => return Err(FrameError::BadClose.into()),
                _ => Event::Close(Some(u16::from_be_bytes([buf[0], buf[1]]))),
            },
        })
    }
}

/// How long a frame header is, judged from the bytes seen so far (2 until
/// the second byte is known).
fn head_len(h: &[u8]) -> usize {
    let Some(&b1) = h.get(1) else {
        return 2;
    };
    let ext = match b1 & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

/// Makes room for `need` bytes in `m`'s body, keeping its first `keep`:
/// at least double what it had (at most twice what has arrived), within the
/// pool's classes ([`crate::pool::grow_target`]).
fn ensure(m: &mut Message, need: usize, keep: usize) {
    let cap = m.body_mut().capacity();
    if cap < need {
        m.reserve_pooled(crate::pool::grow_target(cap, need), keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn frame(fin: bool, op: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut v = Vec::new();
        encode_frame(fin, op, payload, mask, &mut v);
        v
    }

    fn all(dec: &mut FrameDecoder, wire: &[u8]) -> Result<Vec<Event>, Error> {
        let mut input = wire;
        let mut out = Vec::new();
        while !input.is_empty() {
            if let Some(e) = dec.decode(&mut input)? {
                out.push(e);
            }
        }
        Ok(out)
    }

    fn body(e: &Event) -> &[u8] {
        match e {
            Event::Message(m) => m.body(),
            e => panic!("not a message: {e:?}"),
        }
    }

    #[test]
    fn lengths_of_every_form_round_trip_masked_and_not() {
        for len in [0, 1, 125, 126, 127, 65535, 65536, 200_000] {
            let p: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            for (role, mask) in [(Role::Client, None), (Role::Server, Some([9, 8, 7, 6]))] {
                let wire = frame(true, opcode::BINARY, &p, mask);
                // Whole, and one byte at a time.
                let mut dec = FrameDecoder::new(role, 0);
                let ev = all(&mut dec, &wire).unwrap();
                assert_eq!(ev.len(), 1);
                assert_eq!(body(&ev[0]), &p[..], "len {len}");
                if len < 70_000 {
                    let mut dec = FrameDecoder::new(role, 0);
                    let mut got = None;
                    for b in &wire {
                        if let Some(e) = dec.decode(&mut &[*b][..]).unwrap() {
                            got = Some(e);
                        }
                    }
                    assert_eq!(body(&got.unwrap()), &p[..]);
                }
                assert!(dec.is_idle());
            }
        }
    }

    #[test]
    fn fragments_with_control_frames_between_them() {
        let mask = Some([1, 2, 3, 4]);
        let mut wire = frame(false, opcode::BINARY, b"ab", mask);
        wire.extend(frame(true, opcode::PING, b"hi", mask));
        wire.extend(frame(false, opcode::CONTINUATION, b"cde", mask));
        wire.extend(frame(true, opcode::PONG, b"", mask));
        wire.extend(frame(true, opcode::CONTINUATION, b"f", mask));
        wire.extend(frame(true, opcode::CLOSE, &1001u16.to_be_bytes(), mask));
        let mut dec = FrameDecoder::new(Role::Server, 100);
        let ev = all(&mut dec, &wire).unwrap();
        assert!(matches!(&ev[0], Event::Ping(p) if p.as_slice() == b"hi"));
        assert!(matches!(ev[1], Event::Pong));
        assert_eq!(body(&ev[2]), b"abcdef");
        assert!(matches!(ev[3], Event::Close(Some(1001))));
    }

    #[test]
    fn body_buf_reads_straight_into_the_message_and_unmasks() {
        let p: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let k = [0xA5, 0x5A, 0x11, 0xEE];
        let wire = frame(true, opcode::BINARY, &p, Some(k));
        let mut dec = FrameDecoder::new(Role::Server, 0);
        let mut head = &wire[..14];
        assert!(dec.decode(&mut head).unwrap().is_none());
        let mut rest = &wire[14..];
        let mut got = None;
        while got.is_none() {
            let dst = dec.body_buf().unwrap();
            // An odd-sized read, to cross mask phases.
            let n = dst.len().min(rest.len()).min(10_007);
            dst[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            got = dec.advance_body(n);
        }
        assert_eq!(body(&got.unwrap()), &p[..]);
    }

    #[test]
    fn each_broken_rule_is_a_typed_error() {
        let m = Some([1, 1, 1, 1]);
        let bad = |wire: Vec<u8>, role: Role, limit: usize| {
            all(&mut FrameDecoder::new(role, limit), &wire).unwrap_err()
        };
        let fe = |e: FrameError| Error::Protocol(ProtocolError::BadWsFrame(e));
        let mut rsv = frame(true, opcode::BINARY, b"x", m);
        rsv[0] |= 0x40;
        assert_eq!(bad(rsv, Role::Server, 0), fe(FrameError::ReservedBits));
        assert_eq!(
            bad(frame(true, 0x3, b"x", m), Role::Server, 0),
            fe(FrameError::UnknownOpcode)
        );
        assert_eq!(
            bad(frame(true, opcode::BINARY, b"x", None), Role::Server, 0),
            fe(FrameError::Masking)
        );
        assert_eq!(
            bad(frame(true, opcode::BINARY, b"x", m), Role::Client, 0),
            fe(FrameError::Masking)
        );
        assert_eq!(
            bad(frame(false, opcode::PING, b"x", m), Role::Server, 0),
            fe(FrameError::BadControl)
        );
        assert_eq!(
            bad(frame(true, opcode::PING, &[0; 126], m), Role::Server, 0),
            fe(FrameError::BadControl)
        );
        assert_eq!(
            bad(frame(true, opcode::CONTINUATION, b"x", m), Role::Server, 0),
            fe(FrameError::NoMessageToContinue)
        );
        let mut two = frame(false, opcode::BINARY, b"x", m);
        two.extend(frame(true, opcode::BINARY, b"y", m));
        assert_eq!(bad(two, Role::Server, 0), fe(FrameError::MessageUnfinished));
        assert_eq!(
            bad(frame(true, opcode::CLOSE, b"x", m), Role::Server, 0),
            fe(FrameError::BadClose)
        );
        assert_eq!(
            bad(frame(true, opcode::TEXT, b"x", m), Role::Server, 0),
            Error::Protocol(ProtocolError::UnexpectedMessage)
        );
        let huge = vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1];
        assert_eq!(bad(huge, Role::Server, 0), fe(FrameError::BadLength));
    }

    #[test]
    fn limits_are_checked_when_the_header_says_so() {
        // The frame limit: an announced 2^40 bytes, nothing sent after.
        let mut h = [0; MAX_HEAD];
        let n = encode_head(true, opcode::BINARY, 1 << 40, None, &mut h);
        let mut dec = FrameDecoder::new(Role::Client, 0);
        assert!(matches!(
            dec.decode(&mut &h[..n]),
            Err(Error::MessageTooLong { .. })
        ));
        // The message limit, across fragments.
        let mut wire = frame(false, opcode::BINARY, &[1; 60], None);
        wire.extend(frame(true, opcode::CONTINUATION, &[2; 60], None));
        let e = all(&mut FrameDecoder::new(Role::Client, 100), &wire).unwrap_err();
        assert_eq!(
            e,
            Error::MessageTooLong {
                len: 120,
                limit: 100
            }
        );
        // At the limit is fine.
        let wire = frame(true, opcode::BINARY, &[3; 100], None);
        let ev = all(&mut FrameDecoder::new(Role::Client, 100), &wire).unwrap();
        assert_eq!(body(&ev[0]).len(), 100);
    }

    #[test]
    fn empty_messages_and_frames() {
        let mut wire = frame(true, opcode::BINARY, b"", None);
        wire.extend(frame(false, opcode::BINARY, b"", None));
        wire.extend(frame(true, opcode::CONTINUATION, b"z", None));
        let ev = all(&mut FrameDecoder::new(Role::Client, 0), &wire).unwrap();
        assert_eq!(body(&ev[0]), b"");
        assert_eq!(body(&ev[1]), b"z");
    }
}
