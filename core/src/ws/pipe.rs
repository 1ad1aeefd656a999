//! A WebSocket connection as an SP pipe, over any `embedded-io-async`
//! stream, once the HTTP upgrade is done: [`WsReader`] decodes frames
//! straight into pooled messages ([`super::codec::FrameDecoder`]),
//! [`WsWriter`] frames every queued message into as few writes as it can,
//! masking when it is the client. Neither allocates per message.
//!
//! Pings are answered: the reader hands the ping's bytes to the writer,
//! which sends the pong before its next message ([`PipeWrite::urgent`]).
//! A peer's close frame ends the pipe with [`super::peer_closed`]'s reason;
//! the writer's [`PipeWrite::close`] then sends ours
//! ([`super::close_code`]), within [`CLOSE_GRACE`].

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use core::future::poll_fn;
use core::pin::pin;
use core::task::Poll;
use core::time::Duration;

use embedded_io_async::{Read, Write};
use portable_atomic::{AtomicBool, Ordering};

use super::codec::{
    apply_mask, encode_frame, encode_head, opcode, Event, FrameDecoder, Role, MAX_CONTROL, MAX_HEAD,
};
use super::{close_code, peer_closed, send_frames};
use crate::sync::{Arc, Mutex};
use crate::transport::{PipeRead, PipeWrite};
use crate::util::with_deadline;
use crate::{Error, Message, Runtime};

/// Longest a pipe's close frame may take to leave (a peer may not read).
pub const CLOSE_GRACE: Duration = Duration::from_millis(200);

/// Bytes read from the stream at a time (large payloads are read straight
/// into their message instead).
const READ_BUF: usize = 16 << 10;

/// Queued frames are gathered into writes of up to this many bytes.
const WRITE_BUF: usize = 64 << 10;

/// Unmasked bodies longer than this are written from the message itself.
const COPY_MAX: usize = 8 << 10;

/// What the reader asks of the writer: a pong to send.
struct Control {
    pending: AtomicBool,
    pong: Mutex<heapless::Vec<u8, MAX_CONTROL>>,
}

/// The two halves of a WebSocket pipe over `rd` and `wr`, for the `role`
/// end, refusing messages over `limit` bytes (0 = none). `leftover` is what
/// the upgrade read past the HTTP head (the first frames' bytes, if the
/// peer sent them at once). `rt` bounds the close frame's write and seeds
/// the masking keys.
pub fn halves<Rd: Read, Wr: Write, R: Runtime>(
    rd: Rd,
    wr: Wr,
    leftover: &[u8],
    role: Role,
    limit: usize,
    rt: R,
) -> (WsReader<Rd>, WsWriter<Wr, R>) {
    let ctl = Arc::new(Control {
        pending: AtomicBool::new(false),
        pong: Mutex::new(heapless::Vec::new()),
    });
    let mut buf = vec![0; READ_BUF.max(leftover.len())];
    buf[..leftover.len()].copy_from_slice(leftover);
    let seed = (u64::from(rt.random_u32()) << 32) | u64::from(rt.random_u32());
    (
        WsReader {
            rd,
            dec: FrameDecoder::new(role, limit),
            buf,
            start: 0,
            end: leftover.len(),
            ctl: ctl.clone(),
            pinged: false,
        },
        WsWriter {
            wr,
            out: Vec::new(),
            rng: (role == Role::Client).then_some(seed | 1),
            ctl,
            rt,
        },
    )
}

fn io_err<E: embedded_io_async::Error>(e: E) -> Error {
    Error::from_io_kind(e.kind())
}

/// The receiving half of a WebSocket pipe.
pub struct WsReader<Rd> {
    rd: Rd,
    dec: FrameDecoder,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    ctl: Arc<Control>,
    /// A ping arrived since the task was last woken for one.
    pinged: bool,
}

impl<Rd> WsReader<Rd> {
    /// What one decoded frame means for the pipe: a message to deliver, an
    /// error that ends it, or nothing (a control frame dealt with).
    fn on_event(&mut self, ev: Event) -> Option<Result<Message, Error>> {
        match ev {
            Event::Message(m) => Some(Ok(m)),
            Event::Ping(p) => {
                // Only the latest ping needs an answer (RFC 6455 §5.5.3).
                self.ctl.pong.lock(|q| *q = p);
                self.ctl.pending.store(true, Ordering::Release);
                self.pinged = true;
                None
            }
            Event::Pong => None,
            Event::Close(code) => Some(Err(peer_closed(code))),
        }
    }

    /// Decodes what the buffer holds, up to the first message or error.
    fn decode_buffered(&mut self) -> Option<Result<Message, Error>> {
        while self.start < self.end {
            let mut input = &self.buf[self.start..self.end];
            let r = self.dec.decode(&mut input);
            self.start = self.end - input.len();
            match r {
                Ok(Some(ev)) => {
                    if let Some(r) = self.on_event(ev) {
                        return Some(r);
                    }
                }
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
        }
        None
    }
}

impl<Rd: Read> PipeRead for WsReader<Rd> {
    fn try_recv(&mut self) -> Option<Result<Message, Error>> {
        self.decode_buffered()
    }

    async fn recv(&mut self) -> Result<Message, Error> {
        loop {
            let got = self.decode_buffered();
            if self.pinged {
                // The writer is polled in this task, and asks
                // `PipeWrite::urgent` then: have the task polled again.
                self.pinged = false;
                poll_fn(|cx| {
                    cx.waker().wake_by_ref();
                    Poll::Ready(())
                })
                .await;
            }
            if let Some(r) = got {
                return r;
            }
            if let Some(dst) = self.dec.body_buf() {
                let n = self.rd.read(dst).await.map_err(io_err)?;
                if n == 0 {
                    return Err(Error::ConnectionShutdown);
                }
                match self.dec.advance_body(n).and_then(|ev| self.on_event(ev)) {
                    Some(r) => return r,
                    None => continue,
                }
            }
            let n = self.rd.read(&mut self.buf).await.map_err(io_err)?;
            if n == 0 {
                return Err(Error::ConnectionShutdown);
            }
            self.start = 0;
            self.end = n;
        }
    }
}

/// The sending half of a WebSocket pipe.
pub struct WsWriter<Wr, R> {
    wr: Wr,
    /// Frames gathered for one write; kept between batches.
    out: Vec<u8>,
    /// The client's masking-key generator (none for a server).
    rng: Option<u64>,
    ctl: Arc<Control>,
    rt: R,
}

impl<Wr: Write, R: Runtime> WsWriter<Wr, R> {
    /// The next masking key (client only). Masking keeps browser scripts
    /// from steering proxies' caches (RFC 6455 §10.3); keys come from a
    /// xorshift generator per pipe seeded from the runtime's randomness.
    fn key(&mut self) -> Option<[u8; 4]> {
        let s = self.rng.as_mut()?;
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        Some(((*s >> 16) as u32).to_ne_bytes())
    }

    async fn write_out(&mut self) -> Result<(), Error> {
        if !self.out.is_empty() {
            self.wr.write_all(&self.out).await.map_err(io_err)?;
            self.out.clear();
        }
        Ok(())
    }

    /// Appends `part` (payload bytes from `at` in the frame) to the
    /// gathered writes, masked with `key`; an unmasked large part is written
    /// from where it is instead.
    async fn payload(&mut self, part: &[u8], key: Option<[u8; 4]>, at: usize) -> Result<(), Error> {
        let Some(k) = key else {
            if part.len() <= COPY_MAX {
                self.out.extend_from_slice(part);
                return Ok(());
            }
            // The head of the part goes with the frame header (a header in a
            // write of its own is a tiny segment costing the peer a wake-up).
            let (head, rest) = part.split_at(COPY_MAX);
            self.out.extend_from_slice(head);
            self.write_out().await?;
            return self.wr.write_all(rest).await.map_err(io_err);
        };
        let mut done = 0;
        while done < part.len() {
            if self.out.len() >= WRITE_BUF {
                self.write_out().await?;
            }
            let n = (WRITE_BUF - self.out.len()).min(part.len() - done);
            let from = self.out.len();
            self.out.extend_from_slice(&part[done..done + n]);
            apply_mask(&mut self.out[from..], k, at + done);
            done += n;
        }
        Ok(())
    }

    /// Frames one message (in frames of at most
    /// [`MAX_SEND_FRAME`](super::MAX_SEND_FRAME)).
    async fn frame(&mut self, m: &Message) -> Result<(), Error> {
        let (h, b) = (m.header(), m.body());
        let len = m.len();
        for r in send_frames(len) {
            let op = if r.start == 0 {
                opcode::BINARY
            } else {
                opcode::CONTINUATION
            };
            let key = self.key();
            let mut head = [0; MAX_HEAD];
            let n = encode_head(r.end == len, op, r.len(), key, &mut head);
            self.out.extend_from_slice(&head[..n]);
            // The frame's payload is bytes r of header ++ body.
            let hp = &h[r.start.min(h.len())..r.end.min(h.len())];
            let bp = &b[r.start.saturating_sub(h.len())..r.end.saturating_sub(h.len())];
            self.payload(hp, key, 0).await?;
            self.payload(bp, key, hp.len()).await?;
        }
        Ok(())
    }

    /// A control frame into the gathered writes.
    fn control(&mut self, op: u8, payload: &[u8]) {
        let key = self.key();
        encode_frame(true, op, payload, key, &mut self.out);
    }
}

impl<Wr: Write, R: Runtime> PipeWrite for WsWriter<Wr, R> {
    async fn send(&mut self, batch: &mut VecDeque<Message>) -> Result<(), Error> {
        // A plain load first: no read-modify-write per batch without a ping.
        if self.ctl.pending.load(Ordering::Relaxed)
            && self.ctl.pending.swap(false, Ordering::Acquire)
        {
            let p = self.ctl.pong.lock(core::mem::take);
            self.control(opcode::PONG, &p);
        }
        while let Some(m) = batch.pop_front() {
            self.frame(&m).await?;
            drop(m);
            if self.out.len() >= WRITE_BUF {
                self.write_out().await?;
            }
        }
        self.write_out().await?;
        if self.out.capacity() > 4 * WRITE_BUF {
            self.out = Vec::new(); // a huge header; not kept
        }
        self.wr.flush().await.map_err(io_err)
    }

    fn urgent(&self) -> bool {
        self.ctl.pending.load(Ordering::Relaxed)
    }

    async fn close(&mut self, why: &Error) {
        // Code, then as much of the reason as a close frame holds (123
        // bytes), cut at a character boundary.
        let mut reason = why.message();
        let mut cut = reason.len().min(MAX_CONTROL - 2);
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
        let mut p: heapless::Vec<u8, MAX_CONTROL> = heapless::Vec::new();
        p.extend_from_slice(&close_code(why).to_be_bytes()).ok();
        p.extend_from_slice(reason.as_bytes()).ok();
        self.out.clear();
        self.control(opcode::CLOSE, &p);
        let rt = self.rt.clone();
        let deadline = rt.now().plus(CLOSE_GRACE);
        let fut = pin!(async {
            self.write_out().await?;
            self.wr.flush().await.map_err(io_err)
        });
        let _ = with_deadline(&rt, Some(deadline), fut).await;
    }
}
