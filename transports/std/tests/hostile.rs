//! Hostile peers against a nanosp TCP listener: each bad connection is
//! closed (or, if merely idle, ignored) and a well-behaved peer — nngcat
//! when installed, else a nanosp PUSH — is then served normally and loses
//! nothing.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use nanosp::{Message, Protocol, SockOpt, Socket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PULL_HEADER: [u8; 8] = [0, b'S', b'P', 0, 0, 0x51, 0, 0];
const PUSH_HEADER: [u8; 8] = [0, b'S', b'P', 0, 0, 0x50, 0, 0];

async fn listener() -> (Socket, String) {
    let s = Socket::new(Protocol::Pull0);
    s.set_opt(SockOpt::HandshakeTimeout(Duration::from_millis(300)))
        .unwrap();
    let l = s.listen("tcp://127.0.0.1:0").await.unwrap();
    (s, l.url().to_string())
}

async fn connect(url: &str) -> TcpStream {
    TcpStream::connect(url.trim_start_matches("tcp://"))
        .await
        .unwrap()
}

/// Reads our 8-byte header, then expects the connection to be closed.
async fn expect_closed(mut c: TcpStream) {
    let mut h = [0u8; 8];
    c.read_exact(&mut h).await.unwrap();
    assert_eq!(h, PULL_HEADER);
    let mut b = [0u8; 64];
    let r = tokio::time::timeout(LIMIT, c.read(&mut b))
        .await
        .expect("not closed");
    assert!(matches!(r, Ok(0) | Err(_)), "connection stayed open: {r:?}");
}

/// A well-behaved peer sends three messages; all arrive intact.
async fn good_peer_is_served(s: &Socket, url: &str) {
    let data = binary(100_000);
    let have_nngcat = std::process::Command::new("nngcat")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    let mut _keep = None;
    let _child = if have_nngcat {
        let f = tmpdir().join("good.bin");
        std::fs::write(&f, &data).unwrap();
        Some(
            tokio::process::Command::new("nngcat")
                .args([
                    "--push0",
                    "--dial",
                    url,
                    "--file",
                    f.to_str().unwrap(),
                    "--count",
                    "3",
                ])
                .kill_on_drop(true)
                .spawn()
                .unwrap(),
        )
    } else {
        let p = Socket::new(Protocol::Push0);
        p.dial(url).await.unwrap();
        for _ in 0..3 {
            p.send(Message::from(&data[..])).await.unwrap();
        }
        _keep = Some(p); // open until every message is in
        None
    };
    for _ in 0..3 {
        let m = tokio::time::timeout(LIMIT, s.recv())
            .await
            .expect("good peer starved")
            .unwrap();
        assert!(m.body() == &data[..], "good peer's message corrupted");
    }
}

async fn bad_bytes(bytes: &[u8]) {
    let (s, url) = listener().await;
    let mut c = connect(&url).await;
    c.write_all(bytes).await.unwrap();
    expect_closed(c).await;
    good_peer_is_served(&s, &url).await;
    until("protocol error counted", || {
        let st = s.stats();
        st.handshake_failures + st.protocol_errors >= 1
    })
    .await;
}

#[tokio::test]
async fn eight_garbage_bytes() {
    bad_bytes(b"GET / HT").await;
}

#[tokio::test]
async fn right_magic_wrong_protocol() {
    bad_bytes(&[0, b'S', b'P', 0, 0, 0x10, 0, 0]).await;
}

#[tokio::test]
async fn nonzero_reserved_bytes() {
    bad_bytes(&[0, b'S', b'P', 0, 0, 0x50, 0, 1]).await;
}

#[tokio::test]
async fn length_prefix_of_two_to_the_63() {
    let mut b = PUSH_HEADER.to_vec();
    b.extend_from_slice(&(1u64 << 63).to_be_bytes());
    bad_bytes(&b).await;
}

#[tokio::test]
async fn length_over_recv_size_max() {
    // The limit is 1 MiB of body plus room for the largest SP header.
    let mut b = PUSH_HEADER.to_vec();
    let over = (1u64 << 20) + nanosp::HEADER_CAPACITY as u64 + 1;
    b.extend_from_slice(&over.to_be_bytes());
    b.extend_from_slice(&[0; 100]);
    let (s, url) = listener().await;
    let closed = std::sync::Arc::new(std::sync::Mutex::new(None));
    let c2 = closed.clone();
    s.set_pipe_hook(move |ev, info| {
        if ev == nanosp::PipeEvent::RemPost {
            *c2.lock().unwrap() = info.closed;
        }
        true
    });
    let mut c = connect(&url).await;
    c.write_all(&b).await.unwrap();
    expect_closed(c).await;
    until("oversized counted", || s.stats().oversized == 1).await;
    assert_eq!(s.stats().protocol_errors, 1);
    assert!(
        matches!(
            *closed.lock().unwrap(),
            Some(nanosp::Error::MessageTooLong { len, .. }) if len == over
        ),
        "close reason: {:?}",
        closed.lock().unwrap()
    );
    good_peer_is_served(&s, &url).await;
}

#[tokio::test]
async fn peer_that_never_sends_its_header() {
    let (s, url) = listener().await;
    let c = connect(&url).await;
    expect_closed(c).await; // after the handshake timeout (300 ms here)
    assert_eq!(s.stats().handshake_failures, 1);
    good_peer_is_served(&s, &url).await;
}

#[tokio::test]
async fn peer_that_stops_mid_frame() {
    let (s, url) = listener().await;
    let mut c = connect(&url).await;
    c.write_all(&PUSH_HEADER).await.unwrap();
    c.write_all(&[0, 0, 0, 0, 0, 0, 0, 100, 1, 2, 3])
        .await
        .unwrap();
    pipes(&s, 1).await;
    // It holds its pipe but blocks nobody.
    good_peer_is_served(&s, &url).await;
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_idle_connections() {
    let (s, url) = listener().await;
    s.set_opt(SockOpt::HandshakeTimeout(Duration::from_secs(10)))
        .unwrap();
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(connect(&url).await);
    }
    good_peer_is_served(&s, &url).await;
    drop(idle);
}
