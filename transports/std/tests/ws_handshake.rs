//! The WebSocket listener's handshake on an in-memory stream (the code the
//! `ws` fuzz target drives): an upgrade offering the socket's SP subprotocol
//! is accepted and the token echoed; a wrong path, a wrong or missing
//! subprotocol and garbage are refused with typed errors; bytes that are not
//! WebSocket frames after the handshake end that one connection with an error.

use nanosp::fuzzing::ws_accept;
use nanosp::{Error, Protocol, ProtocolError};
use nanosp_core::transport::PipeRead;
use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};

fn request(path: &str, offer: Option<&str>) -> String {
    let mut r = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n"
    );
    if let Some(o) = offer {
        r.push_str(&format!("Sec-WebSocket-Protocol: {o}\r\n"));
    }
    r.push_str("\r\n");
    r
}

/// Runs the listener side for `proto` at `/sp` against `req`, then `frames`;
/// returns the handshake's result (and the first receive's, if accepted) and
/// the server's answer.
async fn exchange(
    proto: Protocol,
    req: &[u8],
    frames: &[u8],
) -> (Result<Result<usize, Error>, Error>, String) {
    exchange_limit(proto, req, frames, 1024).await
}

async fn exchange_limit(
    proto: Protocol,
    req: &[u8],
    frames: &[u8],
    limit: usize,
) -> (Result<Result<usize, Error>, Error>, String) {
    let (mut client, server) = duplex(1 << 16);
    let srv = async {
        let mut rd = ws_accept(server, "/sp", proto, limit).await?;
        Ok(rd.recv().await.map(|m| m.len()))
    };
    let cli = async {
        client.write_all(req).await.unwrap();
        let mut answer = vec![0u8; 4096];
        let n = client.read(&mut answer).await.unwrap_or(0);
        answer.truncate(n);
        if !frames.is_empty() {
            client.write_all(frames).await.unwrap();
        }
        client.shutdown().await.unwrap();
        String::from_utf8_lossy(&answer).to_ascii_lowercase()
    };
    tokio::join!(srv, cli)
}

/// A masked binary frame, as a client sends it.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut f = vec![0x82, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

#[tokio::test(flavor = "current_thread")]
async fn sp_subprotocol_is_accepted_and_echoed() {
    let offer = "bus.sp.nanomsg.org, PAIR1.sp.nanomsg.org";
    let req = request("/sp", Some(offer));
    let (r, answer) = exchange(Protocol::Pair1, req.as_bytes(), &frame(b"\0\0\0\x01hi")).await;
    assert_eq!(r, Ok(Ok(6)), "accepted, then one 6-byte message");
    assert!(answer.starts_with("http/1.1 101"), "{answer}");
    assert!(
        answer.contains("sec-websocket-protocol: pair1.sp.nanomsg.org"),
        "{answer}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn wrong_path_subprotocol_or_garbage_is_refused_with_a_typed_error() {
    let tok = Some("pair1.sp.nanomsg.org");
    let (r, answer) = exchange(Protocol::Pair1, request("/other", tok).as_bytes(), b"").await;
    assert_eq!(r, Err(Error::ConnectionRefused));
    assert!(answer.starts_with("http/1.1 404"), "{answer}");

    for offer in [Some("rep.sp.nanomsg.org"), None] {
        let req = request("/sp", offer);
        let (r, answer) = exchange(Protocol::Pair1, req.as_bytes(), b"").await;
        assert_eq!(r, Err(Error::Protocol(ProtocolError::BadSubprotocol)));
        assert!(answer.starts_with("http/1.1 400"), "{answer}");
    }

    for garbage in [
        &b"\0SP\0\0\x11\0\0"[..],
        b"POST /sp HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /sp HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let (r, _) = exchange(Protocol::Pair1, garbage, b"").await;
        assert!(
            matches!(r, Err(Error::Protocol(_))),
            "{:?} -> {r:?}",
            String::from_utf8_lossy(garbage)
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn bad_frames_after_the_handshake_end_the_connection() {
    let req = request("/sp", Some("rep.sp.nanomsg.org"));
    // Unmasked, text, oversized (limit 1024), and cut short.
    let mut big = vec![0x82, 0xfe, 0x08, 0x00, 1, 2, 3, 4];
    big.extend(vec![0u8; 2048]);
    let text = {
        let mut f = frame(b"hello");
        f[0] = 0x81;
        f
    };
    for frames in [&b"\x82\x03abc"[..], &text, &big, &frame(b"abcdef")[..5]] {
        let (r, answer) = exchange(Protocol::Rep0, req.as_bytes(), frames).await;
        assert!(answer.starts_with("http/1.1 101"), "{answer}");
        let Ok(Err(e)) = r else {
            panic!("{frames:?} -> {r:?}")
        };
        assert!(
            matches!(
                e,
                Error::Protocol(_) | Error::MessageTooLong { .. } | Error::ConnectionShutdown
            ) || matches!(e, Error::ConnectionReset),
            "{frames:?} -> {e:?}"
        );
    }
}

/// Found by the `ws` fuzz target: with no receive limit (0), a frame that
/// announces 2^64 - 1 bytes made the frame reader reserve that much and
/// panic (capacity overflow; a smaller huge length aborts on allocation).
/// The frame size is bounded even then; the connection ends with a typed error.
#[tokio::test(flavor = "current_thread")]
async fn a_huge_announced_frame_without_a_receive_limit_is_refused() {
    let req = request("/sp", Some("pair1.sp.nanomsg.org"));
    for len in [
        u64::MAX,
        1 << 40,
        nanosp::MAX_RECV_FRAME_UNLIMITED as u64 + 1,
    ] {
        let mut f = vec![0x82, 0xff];
        f.extend_from_slice(&len.to_be_bytes());
        f.extend_from_slice(&[1, 2, 3, 4, 0, 0, 0, 0]);
        let (r, answer) = exchange_limit(Protocol::Pair1, req.as_bytes(), &f, 0).await;
        assert!(answer.starts_with("http/1.1 101"), "{answer}");
        // 2^64 - 1 breaks RFC 6455 itself (the top bit must be 0).
        let e = if len >> 63 == 1 {
            matches!(r, Ok(Err(Error::Protocol(ProtocolError::BadWsFrame(_)))))
        } else {
            matches!(r, Ok(Err(Error::MessageTooLong { .. })))
        };
        assert!(e, "{len} -> {r:?}");
    }
    // A message bigger than that limit still arrives, in frames below it.
    let mut f = Vec::new();
    let chunk = vec![7u8; 100];
    for i in 0..3 {
        let op = if i == 0 { 0x02 } else { 0x00 };
        let fin = if i == 2 { 0x80 } else { 0 };
        f.push(op | fin);
        f.push(0x80 | 100);
        f.extend_from_slice(&[0, 0, 0, 0]);
        f.extend_from_slice(&chunk);
    }
    let (r, _) = exchange_limit(Protocol::Pair1, req.as_bytes(), &f, 0).await;
    assert_eq!(r, Ok(Ok(300)));
}
