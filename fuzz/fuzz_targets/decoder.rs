//! Feeds arbitrary bytes to the SP stream decoder in arbitrary chunks.
//!
//! Input layout: byte 0 picks the framing (bit 0), the limit (bits 1–2) and
//! whether bodies are read through `body_buf` (bit 3); bytes 1–4 are chunk
//! sizes, cycled; the rest is the stream. The decoder must never panic, and
//! what it returns must be consistent with what it was fed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nanosp_core::frame::{Decoder, Framing};

const LIMITS: [u64; 4] = [0, 16, 1024, 1 << 20];

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let (sizes, stream) = rest.split_at(rest.len().min(4));
    let framing = if ctl & 1 == 0 {
        Framing::Tcp
    } else {
        Framing::Ipc
    };
    let limit = LIMITS[usize::from(ctl >> 1 & 3)];
    let direct = ctl & 8 != 0;

    let mut dec = Decoder::new(framing, limit);
    let mut sizes = sizes.iter().map(|&s| usize::from(s) + 1).cycle();
    let mut input = stream;
    let mut fed = 0usize;
    let mut out = 0usize;
    while !input.is_empty() {
        let n = sizes.next().unwrap_or(usize::MAX).min(input.len());
        let (mut chunk, tail) = input.split_at(n);
        input = tail;
        fed += n;
        while !chunk.is_empty() {
            if direct {
                if let Some(buf) = dec.body_buf() {
                    assert!(!buf.is_empty());
                    let k = buf.len().min(chunk.len());
                    buf[..k].copy_from_slice(&chunk[..k]);
                    chunk = &chunk[k..];
                    if let Some(m) = dec.advance_body(k) {
                        out += framing.prefix_len() + m.len();
                    }
                    continue;
                }
            }
            let before = chunk.len();
            match dec.decode(&mut chunk) {
                Ok(Some(m)) => {
                    assert!(m.header().is_empty());
                    assert!(limit == 0 || m.len() as u64 <= limit);
                    out += framing.prefix_len() + m.len();
                }
                Ok(None) => assert!(chunk.is_empty()),
                Err(_) => return,
            }
            assert!(chunk.len() < before || before == 0);
        }
        // Every byte of a completed frame was fed to us.
        assert!(out <= fed);
    }
});
