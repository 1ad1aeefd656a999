//! Feeds arbitrary bytes to the SP stream decoder in arbitrary chunks.
//!
//! Input layout: byte 0 picks the framing (bit 0), the limit (bits 1–2),
//! whether bodies are read through `body_buf` (bit 3) and, if so, whether
//! through `body_buf_ahead`, reading past a body's end (bit 4), or appended
//! to the body's spare capacity through `body_vec_ahead` (bit 5, with bit
//! 4); bytes 1–4 are chunk
//! sizes, cycled; the rest is the stream. The decoder must never panic, and
//! what it returns must be consistent with what it was fed.
#![no_main]

#[path = "chunked.rs"]
mod chunked;

use chunked::Feed;
use libfuzzer_sys::fuzz_target;
use nanosp_core::frame::{Decoder, Framing, AHEAD};
use nanosp_core::{Error, Message};

const LIMITS: [u64; 4] = [0, 16, 1024, 1 << 20];

struct Dec {
    dec: Decoder,
    /// Bodies are lent with up to `AHEAD` bytes past their end.
    ahead: bool,
    /// ... as the spare capacity of the body's `Vec`.
    vec: bool,
}

impl Feed for Dec {
    type Out = Message;
    fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Message>, Error> {
        self.dec.decode(input)
    }
    fn body_buf(&mut self) -> Option<&mut [u8]> {
        if self.ahead {
            self.dec.body_buf_ahead(AHEAD)
        } else {
            self.dec.body_buf()
        }
    }
    fn fill_body(&mut self, src: &[u8]) -> Option<usize> {
        if !self.vec {
            let buf = self.body_buf()?;
            assert!(!buf.is_empty());
            let k = buf.len().min(src.len());
            buf[..k].copy_from_slice(&src[..k]);
            return Some(k);
        }
        let (body, max) = self.dec.body_vec_ahead(AHEAD)?;
        assert!(max > 0 && body.capacity() - body.len() >= max);
        let k = max.min(src.len());
        body.extend_from_slice(&src[..k]);
        Some(k)
    }
    fn advance_body(&mut self, n: usize) -> Result<Vec<Message>, Error> {
        if !self.ahead {
            return Ok(self.dec.advance_body(n).into_iter().collect());
        }
        let (m, next) = self.dec.advance_body_ahead(n);
        let mut done: Vec<Message> = m.into_iter().collect();
        let mut input = next.as_slice();
        while !input.is_empty() {
            done.extend(self.dec.decode(&mut input)?);
        }
        Ok(done)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((ctl, sizes, stream)) = chunked::split(data) else {
        return;
    };
    let framing = if ctl & 1 == 0 {
        Framing::Tcp
    } else {
        Framing::Ipc
    };
    let limit = LIMITS[usize::from(ctl >> 1 & 3)];
    let mut dec = Dec {
        dec: Decoder::new(framing, limit),
        ahead: ctl & 48 != 0,
        vec: ctl & 32 != 0,
    };
    chunked::feed(&mut dec, sizes, stream, ctl & 8 != 0, |m| {
        assert!(m.header().is_empty());
        assert!(limit == 0 || m.len() as u64 <= limit);
        framing.prefix_len() + m.len()
    });
});
