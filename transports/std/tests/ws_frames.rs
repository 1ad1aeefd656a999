//! nanosp's own WebSocket framing after the upgrade, against a peer written
//! byte by byte here: frames that came in the same segment as the HTTP head
//! are not lost, pings are answered with pongs, fragmented messages are
//! reassembled, a client masks everything it sends and fragments large
//! messages (without a tiny last frame), a server masks nothing, and a
//! close frame is answered.

use std::time::Duration;

use nanosp::{Protocol, Socket};
use nanosp_core::ws::codec::{apply_mask, encode_frame, opcode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Safety net only: every wait below ends on an event.
const LIMIT: Duration = Duration::from_secs(10);

fn frame(fin: bool, op: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = Vec::new();
    encode_frame(fin, op, payload, mask, &mut f);
    f
}

/// One frame off the wire: fin, opcode, whether it was masked, the payload
/// (unmasked).
async fn read_frame<S: AsyncRead + Unpin>(s: &mut S) -> (bool, u8, bool, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).await.unwrap();
    let len = match h[1] & 0x7f {
        126 => u64::from(s.read_u16().await.unwrap()),
        127 => s.read_u64().await.unwrap(),
        n => u64::from(n),
    };
    let masked = h[1] & 0x80 != 0;
    let mut key = [0u8; 4];
    if masked {
        s.read_exact(&mut key).await.unwrap();
    }
    let mut p = vec![0u8; len as usize];
    s.read_exact(&mut p).await.unwrap();
    if masked {
        apply_mask(&mut p, key, 0);
    }
    (h[0] & 0x80 != 0, h[0] & 0x0f, masked, p)
}

/// Reads an HTTP head byte by byte (so nothing after it is taken).
async fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(s.read_u8().await.unwrap());
    }
    String::from_utf8(head).unwrap()
}

#[tokio::test]
async fn listener_answers_pings_reassembles_and_keeps_frames_sent_with_the_request() {
    tokio::time::timeout(LIMIT, async {
        let s = Socket::new(Protocol::Pair0);
        let l = s.listen("ws://127.0.0.1:0/sp").await.unwrap();
        let addr = l.url().trim_start_matches("ws://").trim_end_matches("/sp");
        let mut c = TcpStream::connect(addr).await.unwrap();
        let mut first = format!(
            "GET /sp HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: pair.sp.nanomsg.org\r\n\r\n"
        )
        .into_bytes();
        // In the same write: a ping, and a message in two fragments with a
        // pong between them.
        let k = Some([0x11, 0x22, 0x33, 0x44]);
        first.extend(frame(true, opcode::PING, b"are you there", k));
        first.extend(frame(false, opcode::BINARY, b"hello ", k));
        first.extend(frame(true, opcode::PONG, b"", k));
        first.extend(frame(true, opcode::CONTINUATION, b"world", k));
        c.write_all(&first).await.unwrap();

        let head = read_head(&mut c).await.to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(head.contains("sec-websocket-protocol: pair.sp.nanomsg.org"));
        let (fin, op, masked, p) = read_frame(&mut c).await;
        assert_eq!((fin, op, masked), (true, opcode::PONG, false));
        assert_eq!(p, b"are you there");
        assert_eq!(s.recv().await.unwrap().body(), b"hello world");

        // A large reply: unmasked, in frames of at most 64 KiB.
        let big: Vec<u8> = (0..150_000u32).map(|i| (i % 253) as u8).collect();
        s.send(big.clone().into()).await.unwrap();
        let mut got = Vec::new();
        let mut frames = 0;
        loop {
            let (fin, op, masked, p) = read_frame(&mut c).await;
            assert!(!masked);
            let want = if frames == 0 {
                opcode::BINARY
            } else {
                opcode::CONTINUATION
            };
            assert_eq!(op, want);
            assert!(p.len() <= 64 << 10);
            got.extend(p);
            frames += 1;
            if fin {
                break;
            }
        }
        assert_eq!(frames, 3);
        assert_eq!(got, big);

        // 64 KiB and a little more: one frame, no tiny tail frame after it.
        let just_over: Vec<u8> = (0..(64 << 10) + 4).map(|i| i as u8).collect();
        s.send(just_over.clone().into()).await.unwrap();
        let (fin, op, _, p) = read_frame(&mut c).await;
        assert_eq!((fin, op), (true, opcode::BINARY));
        assert_eq!(p, just_over);

        // A ping on its own, while idle, is answered too.
        c.write_all(&frame(true, opcode::PING, b"again", k))
            .await
            .unwrap();
        let (_, op, _, p) = read_frame(&mut c).await;
        assert_eq!((op, p.as_slice()), (opcode::PONG, &b"again"[..]));

        // Our close (going away) is answered with a close frame, then EOF.
        c.write_all(&frame(true, opcode::CLOSE, &1001u16.to_be_bytes(), k))
            .await
            .unwrap();
        let (_, op, _, p) = read_frame(&mut c).await;
        assert_eq!(op, opcode::CLOSE);
        assert_eq!(&p[..2], &1000u16.to_be_bytes());
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn dialer_masks_fragments_and_reads_frames_sent_with_the_101() {
    tokio::time::timeout(LIMIT, async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/sp", l.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut c, _) = l.accept().await.unwrap();
            let head = read_head(&mut c).await;
            let key = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("sec-websocket-key")
                        .then(|| v.trim().to_string())
                })
                .unwrap();
            let mut out = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\
                 Sec-WebSocket-Protocol: pair.sp.nanomsg.org\r\n\r\n",
                derive_accept_key(key.as_bytes())
            )
            .into_bytes();
            // In the same write as the 101: a message, then a ping.
            out.extend(frame(true, opcode::BINARY, b"first", None));
            out.extend(frame(true, opcode::PING, b"p", None));
            c.write_all(&out).await.unwrap();

            let (fin, op, masked, p) = read_frame(&mut c).await;
            assert_eq!((fin, op, masked), (true, opcode::PONG, true));
            assert_eq!(p, b"p");
            // The client's large message: every frame masked, at most 64 KiB.
            let mut got = Vec::new();
            let mut frames = 0;
            loop {
                let (fin, _, masked, p) = read_frame(&mut c).await;
                assert!(masked);
                assert!(p.len() <= 64 << 10);
                got.extend(p);
                frames += 1;
                if fin {
                    break;
                }
            }
            (frames, got)
        });
        let s = Socket::new(Protocol::Pair0);
        s.dial(&url).await.unwrap();
        assert_eq!(s.recv().await.unwrap().body(), b"first");
        let big: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
        s.send(big.clone().into()).await.unwrap();
        let (frames, got) = server.await.unwrap();
        assert_eq!(frames, 2);
        assert_eq!(got, big);
    })
    .await
    .unwrap();
}
