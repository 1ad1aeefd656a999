//! Messages: a protocol header and a body.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::Utf8Error;

use crate::header::{Header, HEADER_CAPACITY};
use crate::pool::{self, Buf};
use crate::sync::Arc;
use crate::{Error, PipeId};

/// An SP message: protocol header bytes and body bytes.
///
/// The header holds only protocol data (request ids, backtraces, hop counts)
/// and is empty in cooked mode as the application sees it. The body comes from
/// a size-class pool and is shared, not copied, by [`Clone`]: PUB and BUS send
/// one message to many pipes this way. Mutating a shared body copies it first.
///
/// `From` makes a message of bytes or text: borrowed ones (`&[u8]`,
/// `b"..."`, `&Vec<u8>`, `&str`, `&String`) are copied into a pooled
/// buffer; owned ones (`Vec<u8>`, `String`, `Box<[u8]>`, an owned `Cow`)
/// become the body without a copy, and join the pool when the message is
/// dropped. A `bytes::Bytes` goes in as `&bytes[..]` (a copy) or as
/// `Vec::from(bytes)` (which `bytes` does without a copy when it can).
/// [`Message::body_str`] reads the body as text, and `Vec::from(message)`
/// takes the body back out.
///
/// ```
/// use nanosp_core::Message;
/// let mut m = Message::from(&b"hello"[..]);
/// let shared = m.clone();           // no copy
/// m.body_mut().extend_from_slice(b", world");   // copies: `shared` is untouched
/// assert_eq!(shared.body(), b"hello");
/// assert_eq!(m.body(), b"hello, world");
/// ```
#[derive(Clone, Default)]
pub struct Message {
    header: Header,
    body: Body,
    pipe: Option<PipeId>,
}

#[derive(Default)]
struct Body {
    buf: Option<Buf>,
    off: usize,
}

impl Clone for Body {
    fn clone(&self) -> Self {
        Body {
            buf: self.buf.clone(),
            off: self.off,
        }
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        if let Some(b) = self.buf.take() {
            pool::put(b);
        }
    }
}

impl Body {
    fn bytes(&self) -> &[u8] {
        match &self.buf {
            Some(b) => &b[self.off..],
            None => &[],
        }
    }

    /// Makes the buffer uniquely ours and starting at offset 0.
    fn unique(&mut self, extra: usize) -> &mut Vec<u8> {
        let off = self.off;
        self.off = 0;
        match self.buf.as_mut().and_then(Arc::get_mut) {
            // Ours alone: move the bytes to the front, no new buffer.
            Some(v) => {
                if off > 0 {
                    let keep = v.len() - off;
                    v.copy_within(off.., 0);
                    v.truncate(keep);
                }
            }
            None => {
                let old = self.buf.as_ref().map_or(&[][..], |b| &b[off..]);
                let mut nb = pool::get(old.len() + extra);
                if let Some(v) = Arc::get_mut(&mut nb) {
                    v.extend_from_slice(old); // a fresh pool buffer: ours
                }
                if let Some(b) = self.buf.replace(nb) {
                    pool::put(b);
                }
            }
        }
        // One panic site, never reached: the buffer was made ours above.
        match self.buf.as_mut().and_then(Arc::get_mut) {
            Some(v) => v,
            None => unreachable!(),
        }
    }
}

impl Body {
    /// Puts `h` in front of the body (rare: a header split too far).
    fn prepend(&mut self, h: &[u8]) {
        if self.off >= h.len() {
            if let Some(b) = self.buf.as_mut().and_then(Arc::get_mut) {
                let at = self.off - h.len();
                b[at..self.off].copy_from_slice(h);
                self.off = at;
                return;
            }
        }
        let v = self.unique(h.len());
        v.splice(0..0, h.iter().copied());
    }
}

impl Message {
    /// An empty message; allocates nothing.
    pub const fn new() -> Self {
        Message {
            header: Header::new(),
            body: Body { buf: None, off: 0 },
            pipe: None,
        }
    }

    /// An empty message whose body can grow to `n` bytes without reallocating.
    pub fn with_capacity(n: usize) -> Self {
        let mut m = Message::new();
        m.body.buf = Some(pool::get(n));
        m
    }

    /// A message whose body is `n` bytes of unspecified content (see
    /// [`crate::pool::get_scratch`]), to be overwritten before anyone reads it.
    pub(crate) fn with_scratch(n: usize) -> Self {
        let mut m = Message::new();
        m.body.buf = Some(pool::get_scratch(n));
        m
    }

    /// Makes the body's buffer hold at least `n` bytes, keeping its first
    /// `keep`: a pooled buffer of the class for `n` replaces a smaller one
    /// (which goes back to the pool), so a body that grows as its bytes
    /// arrive (a fragmented WebSocket message) allocates nothing in steady
    /// state. Bytes past `keep` are scratch, as [`Message::with_scratch`]'s.
    pub(crate) fn reserve_pooled(&mut self, n: usize, keep: usize) {
        let cur = self.body.unique(0);
        if cur.capacity() >= n {
            return;
        }
        let keep = keep.min(cur.len());
        let mut nb = pool::get_scratch(n);
        let v = Arc::get_mut(&mut nb).expect("fresh pool buffers are unique");
        v[..keep].copy_from_slice(&cur[..keep]);
        if let Some(b) = self.body.buf.replace(nb) {
            pool::put(b);
        }
        self.body.off = 0;
    }

    /// A message whose body is a copy of `data` (into a pooled buffer).
    pub fn from_slice(data: &[u8]) -> Self {
        let mut m = Message::with_capacity(data.len());
        m.body_mut().extend_from_slice(data);
        m
    }

    /// The body bytes.
    #[inline]
    pub fn body(&self) -> &[u8] {
        self.body.bytes()
    }

    /// The body as text, or [`core::str::from_utf8`]'s [`Utf8Error`] if it
    /// is not valid UTF-8.
    ///
    /// ```
    /// use nanosp_core::Message;
    /// let m = Message::from("pong");
    /// assert_eq!(m.body_str(), Ok("pong"));
    /// assert!(Message::from(b"\xff").body_str().is_err());
    /// // Lossy, for printing whatever came:
    /// assert_eq!(String::from_utf8_lossy(Message::from(b"ok\xff").body()), "ok\u{fffd}");
    /// ```
    pub fn body_str(&self) -> Result<&str, Utf8Error> {
        core::str::from_utf8(self.body())
    }

    /// The body, for changing; copies it first if it is shared.
    pub fn body_mut(&mut self) -> &mut Vec<u8> {
        self.body.unique(0)
    }

    /// Appends bytes to the body.
    pub fn extend(&mut self, data: &[u8]) {
        self.body.unique(data.len()).extend_from_slice(data);
    }

    /// Removes the first `n` body bytes without copying the rest.
    ///
    /// Returns [`Error::Protocol`] (malformed header) if the body is shorter.
    pub fn trim_body_front(&mut self, n: usize) -> Result<(), Error> {
        if n > self.body().len() {
            return Err(crate::ProtocolError::MalformedHeader.into());
        }
        self.body.off += n;
        Ok(())
    }

    /// The protocol header bytes.
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// The protocol header, for changing (raw mode).
    pub fn header_mut(&mut self) -> &mut Header {
        &mut self.header
    }

    /// Replaces the header; [`Error::InvalidArgument`] if it is too long.
    pub fn set_header(&mut self, h: &[u8]) -> Result<(), Error> {
        self.header.set(h)
    }

    /// Appends bytes to the header; [`Error::InvalidArgument`] if it would overflow.
    pub fn push_header(&mut self, h: &[u8]) -> Result<(), Error> {
        self.header.extend_from_slice(h)
    }

    /// Moves the first `n` body bytes to the end of the header.
    pub fn move_body_to_header(&mut self, n: usize) -> Result<(), Error> {
        let b = self.body();
        if n > b.len() {
            return Err(crate::ProtocolError::MalformedHeader.into());
        }
        if self.header.len() + n > HEADER_CAPACITY {
            return Err(crate::ProtocolError::MalformedHeader.into());
        }
        self.header.extend_from_slice(&self.body.bytes()[..n])?;
        self.body.off += n;
        Ok(())
    }

    /// The 32-bit big-endian word at word index `i` of the wire view
    /// (header bytes, then body bytes), if there are enough bytes.
    pub fn wire_word(&self, i: usize) -> Option<u32> {
        let (h, b) = (self.header(), self.body());
        let mut w = [0u8; 4];
        for (k, byte) in w.iter_mut().enumerate() {
            let at = i.checked_mul(4)?.checked_add(k)?;
            *byte = if at < h.len() {
                h[at]
            } else {
                *b.get(at - h.len())?
            };
        }
        Some(u32::from_be_bytes(w))
    }

    /// Makes the header exactly the first `n` bytes of the wire view (header,
    /// then body), moving bytes between header and body as needed. A message
    /// that arrived from a byte stream has everything in the body; one handed
    /// over by an inproc peer may already have its header split off, and
    /// (from a raw peer) further than this protocol's header reaches: those
    /// extra bytes go back to the body, as they would arrive off a stream.
    pub fn move_wire_to_header(&mut self, n: usize) -> Result<(), Error> {
        let have = self.header.len();
        if have > n {
            self.body.prepend(&self.header[n..]);
            self.header.truncate(n);
            return Ok(());
        }
        self.move_body_to_header(n - have)
    }

    /// Empties the header.
    pub fn clear_header(&mut self) {
        self.header.clear();
    }

    /// Empties the body (keeps its buffer when not shared).
    pub fn clear(&mut self) {
        if let Some(b) = &mut self.body.buf {
            if let Some(v) = Arc::get_mut(b) {
                v.clear();
                self.body.off = 0;
                return;
            }
        }
        self.body = Body::default();
    }

    /// Header plus body length: what the wire length prefix counts.
    #[inline]
    pub fn len(&self) -> usize {
        self.header.len() + self.body().len()
    }

    /// True when header and body are both empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pipe this message arrived on, if it came from a peer.
    pub fn pipe(&self) -> Option<PipeId> {
        self.pipe
    }

    /// Sets the pipe (used by raw protocols and to direct a message).
    pub fn set_pipe(&mut self, p: Option<PipeId>) {
        self.pipe = p;
    }

    /// True if the body is shared with another message (a clone).
    pub fn is_shared(&self) -> bool {
        match &self.body.buf {
            Some(b) => Arc::strong_count(b) > 1,
            None => false,
        }
    }
}

impl From<&[u8]> for Message {
    /// Copies the bytes.
    ///
    /// ```
    /// # use nanosp_core::Message;
    /// let data = [1u8, 2, 3, 4];
    /// assert_eq!(Message::from(&data[1..]).body(), &[2, 3, 4]);
    /// ```
    fn from(d: &[u8]) -> Self {
        Message::from_slice(d)
    }
}

impl<const N: usize> From<&[u8; N]> for Message {
    /// Copies the bytes: byte-string literals work as they are.
    ///
    /// ```
    /// # use nanosp_core::Message;
    /// assert_eq!(Message::from(b"ping").body(), b"ping");
    /// ```
    fn from(d: &[u8; N]) -> Self {
        Message::from_slice(d)
    }
}

impl<const N: usize> From<[u8; N]> for Message {
    /// Copies the bytes.
    ///
    /// ```
    /// # use nanosp_core::Message;
    /// assert_eq!(Message::from([0u8, 1, 0]).body(), &[0, 1, 0]);
    /// ```
    fn from(d: [u8; N]) -> Self {
        Message::from_slice(&d)
    }
}

impl From<&Vec<u8>> for Message {
    /// Copies the bytes; the vector stays the caller's.
    ///
    /// ```
    /// # use nanosp_core::Message;
    /// let v = vec![7u8; 3];
    /// let m = Message::from(&v);
    /// assert_eq!(m.body(), &v[..]);
    /// ```
    fn from(d: &Vec<u8>) -> Self {
        Message::from_slice(d)
    }
}

impl From<Vec<u8>> for Message {
    /// Takes the vector as the body without copying.
    ///
    /// ```
    /// # use nanosp_core::Message;
    /// let mut v = Vec::with_capacity(1024);
    /// v.extend_from_slice(b"a large body, built in place");
    /// let m = Message::from(v); // no copy
    /// assert_eq!(m.body(), b"a large body, built in place");
    /// ```
    fn from(v: Vec<u8>) -> Self {
        let mut m = Message::new();
        m.body.buf = Some(Arc::new(v));
        m
    }
}

impl From<Box<[u8]>> for Message {
    /// Takes the bytes as the body without copying.
    ///
    /// ```
    /// # use nanosp_core::Message;
    /// let b: Box<[u8]> = Box::new([1, 2, 3]);
    /// assert_eq!(Message::from(b).body(), &[1, 2, 3]);
    /// ```
    fn from(b: Box<[u8]>) -> Self {
        Message::from(b.into_vec())
    }
}

impl From<Cow<'_, [u8]>> for Message {
    /// Takes owned bytes without copying; copies borrowed ones.
    ///
    /// ```
    /// # use nanosp_core::Message;
    /// use std::borrow::Cow;
    /// assert_eq!(Message::from(Cow::Borrowed(&b"hi"[..])).body(), b"hi");
    /// assert_eq!(Message::from(Cow::<[u8]>::Owned(vec![1])).body(), &[1]);
    /// ```
    fn from(c: Cow<'_, [u8]>) -> Self {
        match c {
            Cow::Borrowed(b) => Message::from_slice(b),
            Cow::Owned(v) => Message::from(v),
        }
    }
}

impl From<&str> for Message {
    /// Copies the text's UTF-8 bytes.
    ///
    /// ```
    /// # use nanosp_core::Message;
    /// assert_eq!(Message::from("héllo").body(), "héllo".as_bytes());
    /// ```
    fn from(d: &str) -> Self {
        Message::from_slice(d.as_bytes())
    }
}

impl From<&String> for Message {
    /// Copies the text's UTF-8 bytes; the string stays the caller's.
    ///
    /// ```
    /// # use nanosp_core::Message;
    /// let name = String::from("world");
    /// let m = Message::from(&name);
    /// assert_eq!(m.body_str(), Ok("world"));
    /// ```
    fn from(d: &String) -> Self {
        Message::from_slice(d.as_bytes())
    }
}

impl From<String> for Message {
    /// Takes the string's UTF-8 bytes as the body without copying.
    ///
    /// ```
    /// # use nanosp_core::Message;
    /// let m = Message::from(format!("job {}", 42));
    /// assert_eq!(m.body_str(), Ok("job 42"));
    /// ```
    fn from(s: String) -> Self {
        Message::from(s.into_bytes())
    }
}

impl From<Cow<'_, str>> for Message {
    /// Takes an owned string without copying; copies a borrowed one.
    ///
    /// ```
    /// # use nanosp_core::Message;
    /// let text = String::from_utf8_lossy(b"caf\xc3\xa9");
    /// assert_eq!(Message::from(text).body_str(), Ok("café"));
    /// ```
    fn from(c: Cow<'_, str>) -> Self {
        match c {
            Cow::Borrowed(s) => Message::from(s),
            Cow::Owned(s) => Message::from(s),
        }
    }
}

impl From<Message> for Vec<u8> {
    /// The body bytes (the header, protocol data, is not part of them),
    /// without copying when the body is not shared with a clone and was not
    /// trimmed at the front; copied otherwise.
    ///
    /// ```
    /// # use nanosp_core::Message;
    /// let v: Vec<u8> = Message::from("reply").into();
    /// assert_eq!(v, b"reply");
    /// ```
    fn from(mut m: Message) -> Vec<u8> {
        if m.body.off == 0 {
            if let Some(b) = m.body.buf.take() {
                match Arc::try_unwrap(b) {
                    Ok(v) => return v,
                    Err(b) => m.body.buf = Some(b),
                }
            }
        }
        m.body().to_vec()
    }
}

impl PartialEq for Message {
    fn eq(&self, o: &Self) -> bool {
        self.header() == o.header() && self.body() == o.body()
    }
}
impl Eq for Message {}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.body();
        let show = &b[..b.len().min(32)];
        f.debug_struct("Message")
            .field("header", &self.header())
            .field("body_len", &b.len())
            .field("body", &show)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_shares_and_mutation_unshares() {
        let a = Message::from(&b"abc"[..]);
        let mut b = a.clone();
        assert!(a.is_shared());
        b.extend(b"d");
        assert!(!a.is_shared());
        assert_eq!(a.body(), b"abc");
        assert_eq!(b.body(), b"abcd");
    }

    #[test]
    fn trim_and_header_moves() {
        let mut m = Message::from(&[0x80u8, 0, 0, 1, b'h', b'i'][..]);
        m.move_body_to_header(4).unwrap();
        assert_eq!(m.header(), &[0x80, 0, 0, 1]);
        assert_eq!(m.body(), b"hi");
        assert_eq!(m.len(), 6);
        assert!(m.move_body_to_header(3).is_err());
        m.trim_body_front(1).unwrap();
        assert_eq!(m.body(), b"i");
        m.body_mut().push(b'!');
        assert_eq!(m.body(), b"i!");
    }

    #[test]
    fn wire_header_is_exact_however_the_message_was_split() {
        // As off a stream, as an inproc peer splits it, and split too far.
        for split in [0, 2, 4, 6, 8] {
            let wire = [0x80u8, 0, 0, 1, b'h', b'i', b'!', b'?'];
            let mut m = Message::from(&wire[split..]);
            m.set_header(&wire[..split]).unwrap();
            m.move_wire_to_header(4).unwrap();
            assert_eq!(m.header(), &wire[..4], "split {split}");
            assert_eq!(m.body(), &wire[4..], "split {split}");
        }
        // Back into a body that was trimmed in place (no copy) and a shared one.
        let mut m = Message::from(&[1u8, 2, 3, 4, 5, 6][..]);
        m.move_body_to_header(4).unwrap();
        let shared = m.clone();
        m.move_wire_to_header(1).unwrap();
        assert_eq!((m.header(), m.body()), (&[1u8][..], &[2u8, 3, 4, 5, 6][..]));
        assert_eq!(shared.body(), &[5, 6]);
        drop(shared);
        m.move_wire_to_header(0).unwrap();
        assert_eq!((m.header(), m.body()), (&[][..], &[1u8, 2, 3, 4, 5, 6][..]));
    }

    #[test]
    fn conversions_move_owned_bodies_and_copy_borrowed_ones() {
        let v = b"owned".to_vec();
        let at = v.as_ptr();
        let m = Message::from(v);
        assert_eq!(m.body().as_ptr(), at, "Vec moved, not copied");
        let back: Vec<u8> = m.into();
        assert_eq!(back.as_ptr(), at, "and back out");

        let s = String::from("text");
        let at = s.as_ptr();
        assert_eq!(Message::from(s).body().as_ptr(), at, "String moved");

        // Shared or trimmed bodies are copied out, the clone left intact.
        let m = Message::from(&b"shared"[..]);
        let keep = m.clone();
        assert_eq!(Vec::from(m), b"shared");
        assert_eq!(keep.body(), b"shared");
        let mut m = Message::from(&b"xxbody"[..]);
        m.trim_body_front(2).unwrap();
        assert_eq!(Vec::from(m), b"body");

        let owned = String::from("o");
        let borrowed_vec = alloc::vec![1u8, 2];
        for (m, want) in [
            (Message::from(&owned), &b"o"[..]),
            (Message::from(&borrowed_vec), &[1, 2][..]),
            (Message::from(b"lit"), b"lit"),
            (Message::from([9u8; 2]), &[9, 9][..]),
            (Message::from(Box::<[u8]>::from(&b"box"[..])), b"box"),
            (Message::from(Cow::Borrowed("cow")), b"cow"),
        ] {
            assert_eq!(m.body(), want);
        }
        assert_eq!(owned, "o"); // still the caller's
        assert_eq!(borrowed_vec, [1, 2]);
        assert_eq!(Message::from("ok").body_str(), Ok("ok"));
        assert!(Message::from(&[0xc3u8][..]).body_str().is_err());
        assert_eq!(Message::new().body_str(), Ok(""));
    }

    #[test]
    fn header_capacity_is_enforced() {
        let mut m = Message::new();
        assert!(m.set_header(&[0; HEADER_CAPACITY]).is_ok());
        assert_eq!(m.push_header(&[1]), Err(Error::InvalidArgument));
    }
}
