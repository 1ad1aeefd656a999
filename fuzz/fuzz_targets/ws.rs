//! nanosp's WebSocket listener: the server handshake on arbitrary request
//! bytes, then arbitrary frame bytes on the connection it accepted, over an
//! in-memory stream that hands the input out in chunks (sometimes "not yet")
//! and then reports EOF.
//!
//! Input: byte 0 is control (bit 0: 1 = a valid upgrade request built from
//! byte 2, 0 = the request is raw input bytes; bits 1–4: protocol index; bits
//! 5–6: receive limit index into [0, 16, 1024, 64 KiB]; bit 7: a read returns
//! Pending before each chunk), byte 1 is the read chunk size minus one, the
//! rest is the request (raw mode; it ends at the first blank line) and then
//! the frames, which the stream hands out once the server has answered.
//!
//! Checks: no panic; no hang (the futures are polled by hand and must finish
//! within a bound, since the stream never waits for anything); a valid
//! upgrade offering the socket's SP subprotocol (`pair1.sp.nanomsg.org`...)
//! is accepted with 101 and the token echoed; every rejection is one of the
//! typed errors a peer can cause; after the handshake every message is within
//! the receive limit and the frames end in an error (EOF at the latest), so
//! the connection closes and nothing else is affected.
#![no_main]

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use nanosp_core::transport::PipeRead;
use nanosp_core::{Error, Protocol, ProtocolError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Input bytes out in chunks, then EOF; output kept. Like a real client,
/// it sends the frames (`after`) only once the server has answered.
struct MemStream<'a> {
    input: &'a [u8],
    after: &'a [u8],
    chunk: usize,
    pend: bool,
    pended: bool,
    out: Rc<RefCell<Vec<u8>>>,
}

impl AsyncRead for MemStream<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pend && !self.pended && !self.input.is_empty() {
            self.pended = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.pended = false;
        if self.input.is_empty() && !self.out.borrow().is_empty() {
            self.input = std::mem::take(&mut self.after);
        }
        let n = self.chunk.min(self.input.len()).min(buf.remaining());
        let (a, b) = self.input.split_at(n);
        buf.put_slice(a);
        self.input = b;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for MemStream<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // What the server answers; only its start is kept.
        let mut out = self.out.borrow_mut();
        if out.len() < 4096 {
            out.extend_from_slice(buf);
        }
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Polls `f` to completion; the stream never waits on anything outside, so
/// a future still pending after `bound` polls hangs.
fn run<F: Future>(f: F, bound: usize) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..bound {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("hangs: still pending after {bound} polls");
}

/// Errors a peer's bytes may cause; anything else is a bug in the mapping.
fn peer_caused(e: &Error) -> bool {
    matches!(
        e,
        Error::Protocol(
            ProtocolError::MalformedHeader
                | ProtocolError::HandshakeIncomplete
                | ProtocolError::UnexpectedMessage
                | ProtocolError::BadSubprotocol
                | ProtocolError::BadWsFrame(_)
        ) | Error::ConnectionRefused
            | Error::ConnectionShutdown
            | Error::ConnectionReset
            | Error::MessageTooLong { .. }
            | Error::Io(_)
    )
}

fn valid_request(v: u8, token: &str) -> Vec<u8> {
    let path = ["/", "/sp", "/a/b?x=1", "/"][usize::from(v & 3)];
    let tok = if v & 4 != 0 {
        token.to_ascii_uppercase()
    } else {
        token.to_string()
    };
    let offer = if v & 8 != 0 {
        format!("bus.sp.nanomsg.org, {tok}")
    } else {
        tok
    };
    let mut r = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:9\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {offer}\r\n"
    );
    if v & 16 != 0 {
        r.push_str("Origin: http://example.invalid\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

fn listen_path(valid: bool, v: u8) -> &'static str {
    if valid {
        ["/", "/sp", "/a/b?x=1", "/"][usize::from(v & 3)]
    } else {
        "/"
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let ctl = data[0];
    let valid = ctl & 1 == 1;
    let proto = Protocol::ALL[usize::from((ctl >> 1) & 0xf) % Protocol::ALL.len()];
    let limit = [0, 16, 1024, 64 << 10][usize::from((ctl >> 5) & 3)];
    let token = format!("{}.sp.nanomsg.org", proto.name());
    let mut input = Vec::new();
    if valid {
        input.extend(valid_request(data[2], &token));
        input.extend_from_slice(&data[3..]);
    } else {
        input.extend_from_slice(&data[2..]);
    }
    // The request ends at the first blank line; the frames follow.
    let split = input
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(input.len(), |i| i + 4);
    let (request, frames) = input.split_at(split);
    let out = Rc::new(RefCell::new(Vec::new()));
    let stream = MemStream {
        input: request,
        after: frames,
        // tungstenite refuses a request that comes in over 64 reads averaging
        // under 128 bytes (slowloris), so a valid request has reads of >= 8.
        chunk: (usize::from(data[1]) + 1).max(if valid { 8 } else { 1 }),
        pend: ctl & 0x80 != 0,
        pended: false,
        out: out.clone(),
    };
    let bound = 4 * input.len() + 64;
    let path = listen_path(valid, data[2]);
    let accepted = run(
        nanosp::fuzzing::ws_accept(stream, path, proto, limit),
        bound,
    );
    let mut rd = match accepted {
        Ok(rd) => rd,
        Err(e) => {
            assert!(
                !valid,
                "a valid upgrade for {token} at {path} was refused: {e:?}"
            );
            assert!(peer_caused(&e), "unexpected handshake error {e:?}");
            return;
        }
    };
    // Accepted: the answer is 101 with our token echoed.
    let answer = String::from_utf8_lossy(&out.borrow()).to_ascii_lowercase();
    assert!(
        answer.starts_with("http/1.1 101"),
        "accepted with {answer:?}"
    );
    assert!(
        answer.contains(&format!("sec-websocket-protocol: {token}")),
        "token not echoed: {answer:?}"
    );
    // Frames: every message within the limit; the stream ends in an error.
    for _ in 0..=input.len() {
        match run(rd.recv(), bound) {
            Ok(m) => assert!(limit == 0 || m.len() <= limit, "{} > {limit}", m.len()),
            Err(e) => {
                assert!(peer_caused(&e), "unexpected frame error {e:?}");
                return;
            }
        }
    }
    panic!("more messages than input bytes");
});
