//! Feeds arbitrary bytes to the WebSocket frame decoder
//! (`nanosp_core::ws::codec::FrameDecoder`, what every `ws://` pipe runs
//! after the upgrade) in arbitrary chunks, in both roles.
//!
//! Input layout: byte 0 picks the role (bit 0: client, expecting unmasked
//! frames; server, masked), the limit (bits 1–2) and whether payloads are
//! read through `body_buf` (bit 3); bytes 1–4 are chunk sizes, cycled; the
//! rest is the byte stream. The decoder must never panic, and what it
//! returns must be consistent with what it was fed: messages within the
//! limit, never more payload out than bytes in, control payloads of at most
//! 125 bytes, `Ok(None)` only with the input consumed.
#![no_main]

#[path = "chunked.rs"]
mod chunked;

use chunked::Feed;
use libfuzzer_sys::fuzz_target;
use nanosp_core::ws::codec::{Event, FrameDecoder, Role, MAX_CONTROL};
use nanosp_core::Error;

const LIMITS: [usize; 4] = [0, 16, 1024, 1 << 20];

struct Dec(FrameDecoder);

impl Feed for Dec {
    type Out = Event;
    fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Event>, Error> {
        self.0.decode(input)
    }
    fn body_buf(&mut self) -> Option<&mut [u8]> {
        self.0.body_buf()
    }
    fn advance_body(&mut self, n: usize) -> Result<Vec<Event>, Error> {
        Ok(self.0.advance_body(n).into_iter().collect())
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((ctl, sizes, stream)) = chunked::split(data) else {
        return;
    };
    let role = if ctl & 1 == 0 {
        Role::Client
    } else {
        Role::Server
    };
    let limit = LIMITS[usize::from(ctl >> 1 & 3)];
    let mut dec = Dec(FrameDecoder::new(role, limit));
    chunked::feed(&mut dec, sizes, stream, ctl & 8 != 0, |ev| match ev {
        Event::Message(m) => {
            assert!(m.header().is_empty());
            assert!(limit == 0 || m.len() <= limit);
            m.len()
        }
        Event::Ping(p) => {
            assert!(p.len() <= MAX_CONTROL);
            p.len()
        }
        Event::Pong | Event::Close(_) => 0,
    });
});
