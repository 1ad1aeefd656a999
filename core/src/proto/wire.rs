//! SP protocol headers (docs/wire.md §4), parsed and emitted in one place.
//!
//! smoltcp's wire idiom: a *checked view* ([`Backtrace`]) is made with
//! `new_checked`, which verifies every length and field it relies on, so
//! its accessors cannot fail; a *representation* ([`RequestId`],
//! [`HopCount`], [`StarHeader`], [`PipeWord`]) is a typed value with
//! `parse` (check and read) and `emit` (write into a message's header).
//! Nothing here trusts a length it has not checked or panics on what a peer
//! sends.
//!
//! Headers are read from a message's *wire view*: its header bytes, then
//! its body ([`Message::wire_word`]). A message off a byte stream has
//! everything in the body; one from an inproc peer may have its header
//! split off already. Once a header is parsed, the machine makes the
//! message header exactly that long with [`Message::move_wire_to_header`].

use core::borrow::{Borrow, BorrowMut};

use crate::{Error, Message, PipeId, HEADER_CAPACITY};

/// What is wrong with a received header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// Too short, or a field out of range: the peer broke the protocol
    /// (nng closes the pipe; STAR, as mangos, drops the message).
    Malformed,
    /// More hops than `ttl-max`: the message is dropped, the pipe kept.
    TooManyHops,
}

/// Bytes read as 32-bit big-endian words: a message's wire view, or a
/// header's bytes.
pub(crate) trait Words {
    /// Word `i`, if the bytes reach that far.
    fn word(&self, i: usize) -> Option<u32>;
}

impl Words for Message {
    fn word(&self, i: usize) -> Option<u32> {
        self.wire_word(i)
    }
}

impl Words for [u8] {
    fn word(&self, i: usize) -> Option<u32> {
        let at = i.checked_mul(4)?;
        let w = self.get(at..at.checked_add(4)?)?;
        Some(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    }
}

/// Bit 31 of a backtrace word: set on the request (or survey) id that ends
/// a backtrace, clear on the hops before it.
const ID_BIT: u32 = 0x8000_0000;

/// A checked view of the backtrace at the front of a message (docs/wire.md
/// §4.0): 32-bit words with bit 31 clear (the pipes it came through, one
/// per device hop), ending at the first word with bit 31 set (the request
/// or survey id). `T` is the message, borrowed (`&Message`, to look) or
/// mutably (`&mut Message`, to split the backtrace off).
pub(crate) struct Backtrace<T> {
    buffer: T,
    words: usize,
}

impl<T: Borrow<Message>> Backtrace<T> {
    /// Checks that `buffer`'s wire view starts with a backtrace of at most
    /// `ttl` words. [`HeaderError::Malformed`] if the bytes end before a
    /// word with bit 31; [`HeaderError::TooManyHops`] if `ttl` words pass
    /// without one.
    pub(crate) fn new_checked(buffer: T, ttl: u8) -> Result<Self, HeaderError> {
        let m = buffer.borrow();
        for i in 0..usize::from(ttl) {
            match m.word(i) {
                None => return Err(HeaderError::Malformed),
                Some(w) if w & ID_BIT != 0 => {
                    return Ok(Backtrace {
                        buffer,
                        words: i + 1,
                    })
                }
                Some(_) => {}
            }
        }
        // `ttl` hop words: too many hops if a further word follows, else
        // the bytes ran out first.
        match m.word(usize::from(ttl)) {
            None => Err(HeaderError::Malformed),
            Some(_) => Err(HeaderError::TooManyHops),
        }
    }

    /// Its length in bytes (4 per word, the id included).
    pub(crate) fn len(&self) -> usize {
        4 * self.words
    }

    /// The id that ends it (bit 31 set).
    #[cfg(test)]
    pub(crate) fn id(&self) -> u32 {
        self.buffer.borrow().word(self.words - 1).unwrap_or(0)
    }
}

impl<T: BorrowMut<Message>> Backtrace<T> {
    /// Makes the message's header exactly the backtrace, the rest its body.
    pub(crate) fn split(mut self) -> Result<(), Error> {
        let n = self.len();
        self.buffer.borrow_mut().move_wire_to_header(n)
    }
}

/// The id REQ and SURVEYOR put in front of a request or survey and find in
/// front of its answer (docs/wire.md §4.1, §4.4): one word, bit 31 set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestId(pub(crate) u32);

impl RequestId {
    /// Its length in bytes.
    pub(crate) const LEN: usize = 4;

    /// A fresh id from the counter `next` (bit 31 set).
    pub(crate) fn from_counter(next: u32) -> Self {
        RequestId(next | ID_BIT)
    }

    /// The id at the front of a reply or response. [`HeaderError::Malformed`]
    /// if it is shorter than 4 bytes (nng closes the pipe). Bit 31 is not
    /// checked: an id we never sent is simply unknown.
    pub(crate) fn parse<T: Words + ?Sized>(b: &T) -> Result<Self, HeaderError> {
        b.word(0).map(RequestId).ok_or(HeaderError::Malformed)
    }

    /// Makes the id `m`'s whole header.
    pub(crate) fn emit(&self, m: &mut Message) {
        set_header(m, &self.0.to_be_bytes());
    }
}

/// PAIR v1's header (docs/wire.md §4.6): one word, the hop count, at most 255.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HopCount(pub(crate) u8);

impl HopCount {
    /// Its length in bytes.
    pub(crate) const LEN: usize = 4;

    /// A received count: [`HeaderError::Malformed`] if shorter than 4 bytes
    /// or above 255 (nng closes the pipe); [`HeaderError::TooManyHops`]
    /// above `ttl`.
    pub(crate) fn parse<T: Words + ?Sized>(b: &T, ttl: u8) -> Result<Self, HeaderError> {
        let w = b.word(0).ok_or(HeaderError::Malformed)?;
        let hops = u8::try_from(w).map_err(|_| HeaderError::Malformed)?;
        if hops > ttl {
            return Err(HeaderError::TooManyHops);
        }
        Ok(HopCount(hops))
    }

    /// The header a raw send carries: exactly one word, with a count below
    /// 255 (one more hop must fit); anything else is
    /// [`HeaderError::Malformed`].
    pub(crate) fn parse_outgoing(h: &[u8]) -> Result<Self, HeaderError> {
        match (h.len(), h.word(0)) {
            (Self::LEN, Some(w)) if w < 0xff => Ok(HopCount(w as u8)),
            _ => Err(HeaderError::Malformed),
        }
    }

    /// The count one hop further (a sender counts its own hop).
    pub(crate) fn next(self) -> Self {
        HopCount(self.0.saturating_add(1))
    }

    /// Makes the count `m`'s whole header.
    pub(crate) fn emit(&self, m: &mut Message) {
        set_header(m, &u32::from(self.0).to_be_bytes());
    }
}

/// STAR's header (docs/wire.md §4.7): `00 00 00 hh`, hh the hops so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StarHeader {
    pub(crate) hops: u8,
}

impl StarHeader {
    /// Its length in bytes.
    pub(crate) const LEN: usize = 4;

    /// A received header: [`HeaderError::Malformed`] if shorter than 4
    /// bytes or the first three are not zero; [`HeaderError::TooManyHops`]
    /// if hh is at or over `ttl` (the hop it is about to make counts).
    pub(crate) fn parse<T: Words + ?Sized>(b: &T, ttl: u8) -> Result<Self, HeaderError> {
        let w = b.word(0).ok_or(HeaderError::Malformed)?;
        let hops = u8::try_from(w).map_err(|_| HeaderError::Malformed)?;
        if hops >= ttl {
            return Err(HeaderError::TooManyHops);
        }
        Ok(StarHeader { hops })
    }

    /// The header one hop further.
    pub(crate) fn next(self) -> Self {
        StarHeader {
            hops: self.hops.saturating_add(1),
        }
    }

    /// Makes the header `m`'s whole header.
    pub(crate) fn emit(&self, m: &mut Message) {
        set_header(m, &[0, 0, 0, self.hops]);
    }
}

/// A pipe id as a header word, bit 31 clear: raw REP puts the pipe a request
/// came from in front of its backtrace, raw BUS the pipe a message came
/// from. Local to the socket, never sent on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PipeWord(pub(crate) PipeId);

impl PipeWord {
    /// Its length in bytes.
    pub(crate) const LEN: usize = 4;

    /// The first word of a header the application gave, if it has one.
    pub(crate) fn parse(h: &[u8]) -> Option<Self> {
        h.word(0).map(|w| PipeWord(PipeId(w)))
    }

    fn bytes(&self) -> [u8; 4] {
        (self.0 .0 & !ID_BIT).to_be_bytes()
    }

    /// Makes the word `m`'s whole header.
    pub(crate) fn emit(&self, m: &mut Message) {
        set_header(m, &self.bytes());
    }

    /// Puts the word in front of `m`'s header; `Err` if the header is then
    /// longer than a message holds ([`HEADER_CAPACITY`]).
    pub(crate) fn emit_front(&self, m: &mut Message) -> Result<(), HeaderError> {
        let mut h = heapless::Vec::<u8, HEADER_CAPACITY>::new();
        h.extend_from_slice(&self.bytes())
            .and_then(|()| h.extend_from_slice(m.header()))
            .map_err(|_| HeaderError::TooManyHops)?;
        set_header(m, &h);
        Ok(())
    }

    /// Takes the word off the front of `m`'s header, if it has one.
    pub(crate) fn take_front(m: &mut Message) -> Option<Self> {
        let w = Self::parse(m.header())?;
        let h = m.header_mut();
        let rest = h.len() - Self::LEN;
        h.copy_within(Self::LEN.., 0);
        h.truncate(rest);
        Some(w)
    }
}

/// A backtrace kept while the application prepares a reply, with the pipe
/// the request came from (cooked REP).
pub(crate) type SavedBacktrace = heapless::Vec<u8, HEADER_CAPACITY>;

/// Replaces `m`'s header with `h`, which fits (at most [`HEADER_CAPACITY`]
/// bytes by construction).
pub(crate) fn set_header(m: &mut Message, h: &[u8]) {
    let fits = m.set_header(h);
    debug_assert!(fits.is_ok(), "a header of {} bytes", h.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(wire: &[u8], split: usize) -> Message {
        let mut m = Message::from(&wire[split..]);
        m.set_header(&wire[..split]).unwrap();
        m
    }

    #[test]
    fn backtrace_views_across_header_and_body() {
        let wire = [0, 0, 0, 7, 0x80, 0, 0, 9, b'h', b'i'];
        for split in 0..wire.len() {
            let mut m = msg(&wire, split);
            let bt = Backtrace::new_checked(&mut m, 8).unwrap();
            assert_eq!((bt.len(), bt.id()), (8, 0x8000_0009));
            bt.split().unwrap();
            assert_eq!((m.header(), m.body()), (&wire[..8], &b"hi"[..]));
        }
        let err = |wire: &[u8], ttl| Backtrace::new_checked(&msg(wire, 0), ttl).err();
        // No word with bit 31, or cut short: malformed.
        assert_eq!(err(&[0, 0, 0, 1, 0, 0], 8), Some(HeaderError::Malformed));
        // One hop word over ttl 1: too many hops, even with no id yet.
        assert_eq!(
            err(&[0, 0, 0, 1, 0, 0, 0, 2], 1),
            Some(HeaderError::TooManyHops)
        );
        assert_eq!(err(&[0, 0, 0, 1], 1), Some(HeaderError::Malformed));
    }

    #[test]
    fn hop_counts_and_star_headers() {
        assert_eq!(HopCount::parse(&[0u8, 0, 0, 8][..], 8), Ok(HopCount(8)));
        assert_eq!(
            HopCount::parse(&[0u8, 0, 0, 9][..], 8),
            Err(HeaderError::TooManyHops)
        );
        assert_eq!(
            HopCount::parse(&[0u8, 0, 1, 0][..], 15),
            Err(HeaderError::Malformed)
        );
        assert_eq!(
            HopCount::parse(&[0u8, 0, 0][..], 8),
            Err(HeaderError::Malformed)
        );
        assert_eq!(
            HopCount::parse_outgoing(&[0, 0, 0, 0xfe]),
            Ok(HopCount(0xfe))
        );
        assert!(HopCount::parse_outgoing(&[0, 0, 0, 0xff]).is_err());
        assert!(HopCount::parse_outgoing(&[0, 0, 0, 1, 0]).is_err());
        assert_eq!(
            StarHeader::parse(&[0u8, 0, 0, 7][..], 8),
            Ok(StarHeader { hops: 7 })
        );
        assert_eq!(
            StarHeader::parse(&[0u8, 0, 0, 8][..], 8),
            Err(HeaderError::TooManyHops)
        );
        assert_eq!(
            StarHeader::parse(&[0u8, 1, 0, 0][..], 8),
            Err(HeaderError::Malformed)
        );
        let mut m = Message::from("x");
        StarHeader { hops: 2 }.next().emit(&mut m);
        assert_eq!(m.header(), &[0, 0, 0, 3]);
        HopCount(0).next().emit(&mut m);
        assert_eq!(m.header(), &[0, 0, 0, 1]);
    }

    #[test]
    fn pipe_words_go_in_front_and_come_off() {
        let mut m = Message::from("x");
        m.set_header(&[0x80, 0, 0, 1]).unwrap();
        PipeWord(PipeId(5)).emit_front(&mut m).unwrap();
        assert_eq!(m.header(), &[0, 0, 0, 5, 0x80, 0, 0, 1]);
        assert_eq!(PipeWord::take_front(&mut m), Some(PipeWord(PipeId(5))));
        assert_eq!(m.header(), &[0x80, 0, 0, 1]);
        m.set_header(&[0; HEADER_CAPACITY]).unwrap();
        assert!(PipeWord(PipeId(5)).emit_front(&mut m).is_err());
        m.set_header(&[1, 2, 3]).unwrap();
        assert_eq!(PipeWord::take_front(&mut m), None);
        RequestId::from_counter(3).emit(&mut m);
        assert_eq!(m.header(), &[0x80, 0, 0, 3]);
        assert_eq!(RequestId::parse(&m), Ok(RequestId(0x8000_0003)));
    }
}
