//! A message's protocol header: up to [`HEADER_CAPACITY`] bytes, the common
//! short ones kept inside the message itself.
//!
//! Headers are short: none in cooked mode as the application sees them, a
//! 4-byte request or survey id on the wire, 8 bytes for a reply's backtrace
//! (the pipe and the id), 4 more per device hop. With `std`, up to 22
//! bytes are held in the message, which keeps a [`Message`](crate::Message)
//! at 48 bytes where a full 64-byte array made it 96: every queue a message
//! passes through moves half as much. A longer header (a raw reply routed
//! through four devices or more) moves into a buffer from the body pool, so
//! it costs no allocation in steady state either. Without `std` (firmware)
//! and on wasm the header is a plain 64-byte array: there the second form's
//! code costs more (flash, download size) than the smaller queue slots save.

use core::fmt;
use core::ops::{Deref, DerefMut};

#[cfg(all(feature = "std", not(target_family = "wasm")))]
use crate::pool::{self, Buf};
#[cfg(all(feature = "std", not(target_family = "wasm")))]
use crate::sync::Arc;
use crate::Error;

/// Bytes a message header can hold: a pipe id plus a 15-hop backtrace.
pub const HEADER_CAPACITY: usize = 64;

/// Header bytes kept inside the message; longer headers use a pooled buffer.
#[cfg(all(feature = "std", not(target_family = "wasm")))]
const INLINE: usize = 22;

/// A message's protocol header (see [`Message::header_mut`](crate::Message::header_mut)).
///
/// It reads as a byte slice and grows up to [`HEADER_CAPACITY`] bytes.
///
/// ```
/// use nanosp_core::{Error, Message, HEADER_CAPACITY};
/// let mut m = Message::new();
/// let h = m.header_mut();
/// h.extend_from_slice(&[0x80, 0, 0, 7]).unwrap();
/// h[3] = 8;
/// assert_eq!(m.header(), &[0x80, 0, 0, 8]);
/// assert_eq!(m.header_mut().extend_from_slice(&[0; HEADER_CAPACITY]), Err(Error::InvalidArgument));
/// ```
#[derive(Clone)]
#[cfg(all(feature = "std", not(target_family = "wasm")))]
pub struct Header(Repr);

/// A message's protocol header: without `std` and on wasm, all of it inline.
#[derive(Clone, Default)]
#[cfg(not(all(feature = "std", not(target_family = "wasm"))))]
pub struct Header(heapless::Vec<u8, HEADER_CAPACITY>);

#[derive(Clone)]
#[cfg(all(feature = "std", not(target_family = "wasm")))]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Pooled(Buf),
}

#[cfg(all(feature = "std", not(target_family = "wasm")))]
impl Default for Header {
    fn default() -> Self {
        Header::new()
    }
}

#[cfg(all(feature = "std", not(target_family = "wasm")))]
impl Header {
    /// An empty header.
    pub const fn new() -> Self {
        Header(Repr::Inline {
            len: 0,
            bytes: [0; INLINE],
        })
    }

    /// The header bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..*len as usize],
            Repr::Pooled(b) => b,
        }
    }

    /// The header bytes, for changing in place.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        match &mut self.0 {
            Repr::Inline { len, bytes } => &mut bytes[..*len as usize],
            Repr::Pooled(b) => unique(b),
        }
    }

    /// Empties the header.
    #[inline]
    pub fn clear(&mut self) {
        self.truncate(0);
    }

    /// Keeps the first `n` bytes (no change if the header is not longer).
    pub fn truncate(&mut self, n: usize) {
        match &mut self.0 {
            Repr::Inline { len, .. } => *len = (*len as usize).min(n) as u8,
            Repr::Pooled(b) if n <= INLINE => {
                let mut bytes = [0; INLINE];
                let n = n.min(b.len());
                bytes[..n].copy_from_slice(&b[..n]);
                self.replace(Repr::Inline {
                    len: n as u8,
                    bytes,
                });
            }
            Repr::Pooled(b) => unique(b).truncate(n),
        }
    }

    /// Appends one byte; [`Error::InvalidArgument`] if the header is full.
    pub fn push(&mut self, byte: u8) -> Result<(), Error> {
        self.extend_from_slice(&[byte])
    }

    /// Appends bytes; [`Error::InvalidArgument`] (and no change) if the
    /// header would pass [`HEADER_CAPACITY`].
    pub fn extend_from_slice(&mut self, more: &[u8]) -> Result<(), Error> {
        let have = self.len();
        let total = have + more.len();
        if total > HEADER_CAPACITY {
            return Err(Error::InvalidArgument);
        }
        match &mut self.0 {
            Repr::Inline { len, bytes } if total <= INLINE => {
                bytes[have..total].copy_from_slice(more);
                *len = total as u8;
            }
            Repr::Inline { bytes, .. } => {
                let mut b = pool::get(HEADER_CAPACITY);
                let v = unique(&mut b);
                v.extend_from_slice(&bytes[..have]);
                v.extend_from_slice(more);
                self.0 = Repr::Pooled(b);
            }
            Repr::Pooled(b) => unique(b).extend_from_slice(more),
        }
        Ok(())
    }

    /// Puts `r` in place, returning a pooled buffer it replaces to the pool.
    fn replace(&mut self, r: Repr) {
        if let Repr::Pooled(b) = core::mem::replace(&mut self.0, r) {
            pool::put(b);
        }
    }

    /// Makes the header `h`; [`Error::InvalidArgument`] (and no change) if
    /// it is longer than [`HEADER_CAPACITY`].
    pub fn set(&mut self, h: &[u8]) -> Result<(), Error> {
        if h.len() > HEADER_CAPACITY {
            return Err(Error::InvalidArgument);
        }
        self.clear();
        self.extend_from_slice(h)
    }
}

/// The buffer's bytes, copied first into a buffer of our own if shared (a
/// cloned message).
#[cfg(all(feature = "std", not(target_family = "wasm")))]
fn unique(b: &mut Buf) -> &mut alloc::vec::Vec<u8> {
    if Arc::get_mut(b).is_none() {
        let mut own = pool::get(HEADER_CAPACITY);
        Arc::get_mut(&mut own)
            .expect("fresh pool buffers are unique")
            .extend_from_slice(b);
        *b = own;
    }
    Arc::get_mut(b).expect("made unique above")
}

#[cfg(all(feature = "std", not(target_family = "wasm")))]
impl Drop for Header {
    fn drop(&mut self) {
        if matches!(self.0, Repr::Inline { .. }) {
            return;
        }
        self.replace(Repr::Inline {
            len: 0,
            bytes: [0; INLINE],
        });
    }
}

/// Without `std` and on wasm: a `heapless::Vec` of the whole capacity.
#[cfg(not(all(feature = "std", not(target_family = "wasm"))))]
impl Header {
    /// An empty header.
    pub const fn new() -> Self {
        Header(heapless::Vec::new())
    }

    /// The header bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// The header bytes, for changing in place.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// Empties the header.
    #[inline]
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Keeps the first `n` bytes (no change if the header is not longer).
    #[inline]
    pub fn truncate(&mut self, n: usize) {
        self.0.truncate(n);
    }

    /// Appends one byte; [`Error::InvalidArgument`] if the header is full.
    pub fn push(&mut self, byte: u8) -> Result<(), Error> {
        self.0.push(byte).map_err(|_| Error::InvalidArgument)
    }

    /// Appends bytes; [`Error::InvalidArgument`] (and no change) if the
    /// header would pass [`HEADER_CAPACITY`].
    pub fn extend_from_slice(&mut self, more: &[u8]) -> Result<(), Error> {
        self.0
            .extend_from_slice(more)
            .map_err(|_| Error::InvalidArgument)
    }

    /// Makes the header `h`; [`Error::InvalidArgument`] (and no change) if
    /// it is longer than [`HEADER_CAPACITY`].
    pub fn set(&mut self, h: &[u8]) -> Result<(), Error> {
        if h.len() > HEADER_CAPACITY {
            return Err(Error::InvalidArgument);
        }
        self.0.clear();
        self.extend_from_slice(h)
    }
}

impl Deref for Header {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl DerefMut for Header {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl PartialEq for Header {
    fn eq(&self, o: &Self) -> bool {
        self.as_slice() == o.as_slice()
    }
}

impl Eq for Header {}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
    }
}

#[cfg(all(test, feature = "std", not(target_family = "wasm")))]
mod tests {
    use super::*;

    #[test]
    fn grows_past_inline_and_back() {
        let mut h = Header::new();
        let wire: alloc::vec::Vec<u8> = (0..HEADER_CAPACITY as u8).collect();
        for (i, &b) in wire.iter().enumerate() {
            h.push(b).unwrap();
            assert_eq!(&h[..], &wire[..=i]);
        }
        assert_eq!(h.push(0), Err(Error::InvalidArgument));
        assert_eq!(&h[..], &wire[..]);
        // A clone shares the pooled buffer until one of them changes.
        let c = h.clone();
        h[0] = 99;
        assert_eq!((h[0], c[0]), (99, 0));
        h.truncate(30);
        assert_eq!(h.len(), 30);
        h.truncate(INLINE);
        assert!(matches!(h.0, Repr::Inline { len, .. } if len as usize == INLINE));
        assert_eq!(&h[1..], &wire[1..INLINE]);
        assert_eq!(h.set(&wire[..HEADER_CAPACITY]), Ok(()));
        assert_eq!(
            h.set(&[0; HEADER_CAPACITY + 1]),
            Err(Error::InvalidArgument)
        );
        assert_eq!(&h[..], &wire[..]);
        h.clear();
        assert!(h.is_empty());
    }

    #[test]
    fn inline_is_small() {
        assert!(core::mem::size_of::<Header>() <= 24);
        assert!(core::mem::size_of::<crate::Message>() <= 48);
    }
}
