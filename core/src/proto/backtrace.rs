//! Backtraces (docs/wire.md §4.0): 32-bit big-endian words at the front of a
//! request or survey; every word but the last has bit 31 clear (a hop's pipe
//! id), the last has it set (the request or survey id).

use crate::{Message, PipeId};

/// What the front of a message holds.
pub(crate) enum Backtrace {
    /// `n` words, the last one with bit 31 set.
    Words(usize),
    /// More than `ttl` words: drop the message, keep the pipe.
    TooManyHops,
    /// The bytes ran out before a word with bit 31: close the pipe.
    Malformed,
}

/// Reads the backtrace at the front of `m`'s wire view, up to `ttl` words.
pub(crate) fn parse(m: &Message, ttl: u8) -> Backtrace {
    for i in 0..usize::from(ttl) {
        match m.wire_word(i) {
            None => return Backtrace::Malformed,
            Some(w) if w & 0x8000_0000 != 0 => return Backtrace::Words(i + 1),
            Some(_) => {}
        }
    }
    if m.wire_word(usize::from(ttl)).is_none() {
        Backtrace::Malformed
    } else {
        Backtrace::TooManyHops
    }
}

/// `p` as a backtrace word (bit 31 clear).
pub(crate) fn pipe_word(p: PipeId) -> [u8; 4] {
    (p.0 & 0x7fff_ffff).to_be_bytes()
}

/// The first header word as a pipe id, if the header has one.
pub(crate) fn first_word(h: &[u8]) -> Option<u32> {
    (h.len() >= 4).then(|| u32::from_be_bytes([h[0], h[1], h[2], h[3]]))
}
