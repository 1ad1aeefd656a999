//! Interop with nng 1.5 through `nngcat` (Debian `nng-utils`): nanosp dials
//! and listens over tcp, ipc and ws; payloads are compared byte for byte
//! (nngcat's `--msgpack` output keeps message boundaries).
//!
//! Skipped (with a note) when `nngcat` is not installed; CI installs it.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use nanosp::{Message, Protocol, SockOpt, Socket};
use tokio::process::{Child, Command};

fn nngcat(args: &[&str]) -> Child {
    Command::new("nngcat")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("nngcat runs")
}

/// Waits for nngcat to exit and splits its `--msgpack` output into messages.
async fn messages(c: Child) -> Vec<Vec<u8>> {
    let out = tokio::time::timeout(LIMIT, c.wait_with_output())
        .await
        .expect("nngcat did not finish")
        .unwrap();
    assert!(
        out.status.success(),
        "nngcat failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_msgpack(&out.stdout)
}

/// Reads nngcat's `--msgpack` output until `n` messages came, then stops it
/// (for modes where nngcat would go on receiving).
async fn take(mut c: Child, n: usize) -> Vec<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut out = c.stdout.take().unwrap();
    let mut buf = Vec::new();
    let read = async {
        loop {
            if let Some(v) = try_parse(&buf) {
                if v.len() >= n {
                    return v;
                }
            }
            let mut chunk = [0u8; 65536];
            let k = out.read(&mut chunk).await.unwrap();
            assert!(k > 0, "nngcat ended early");
            buf.extend_from_slice(&chunk[..k]);
        }
    };
    let v = tokio::time::timeout(LIMIT, read)
        .await
        .expect("nngcat output");
    let _ = c.kill().await;
    v
}

/// Whole messages of a (possibly cut) msgpack stream.
fn try_parse(mut b: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut v = Vec::new();
    while b.len() >= 2 {
        let (n, hdr) = match b[0] {
            0xc4 => (b[1] as usize, 2),
            0xc5 if b.len() >= 3 => (u16::from_be_bytes([b[1], b[2]]) as usize, 3),
            0xc6 if b.len() >= 5 => (u32::from_be_bytes([b[1], b[2], b[3], b[4]]) as usize, 5),
            0xc5 | 0xc6 => break,
            x => panic!("not msgpack bin: {x:#x}"),
        };
        if b.len() < hdr + n {
            break;
        }
        v.push(b[hdr..hdr + n].to_vec());
        b = &b[hdr + n..];
    }
    Some(v)
}

fn parse_msgpack(mut b: &[u8]) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    while !b.is_empty() {
        let (n, hdr) = match b[0] {
            0xc4 => (b[1] as usize, 2),
            0xc5 => (u16::from_be_bytes([b[1], b[2]]) as usize, 3),
            0xc6 => (u32::from_be_bytes([b[1], b[2], b[3], b[4]]) as usize, 5),
            x => panic!("not msgpack bin: {x:#x}"),
        };
        v.push(b[hdr..hdr + n].to_vec());
        b = &b[hdr + n..];
    }
    v
}

/// A URL nngcat can listen on (it cannot report a port-0 binding, so TCP
/// ports are picked free first).
fn peer_url(kind: &str) -> String {
    match kind {
        "tcp" => format!("tcp://127.0.0.1:{}", free_port()),
        "ws" => format!("ws://127.0.0.1:{}/nng", free_port()),
        "ipc" => format!("ipc://{}/nng.ipc", tmpdir().display()),
        _ => unreachable!(),
    }
}

/// Dials a peer that may not be listening yet.
fn dial_soon(s: &Socket, url: &str) {
    s.set_opt(SockOpt::ReconnectTimeMin(Duration::from_millis(20)))
        .unwrap();
    s.dial_nonblocking(url).unwrap();
}

fn payloads() -> Vec<Vec<u8>> {
    vec![
        b"hello".to_vec(),
        vec![],
        vec![0, 0, 0, 1, 0, 255, 0],
        binary(300),
        binary(70_000),  // more than one 64 KiB WebSocket frame
        binary(1 << 20), // 1 MiB
    ]
}

const KINDS3: [&str; 3] = ["tcp", "ipc", "ws"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_to_nngcat_pull_we_listen() {
    if !have_nngcat() {
        return;
    }
    for kind in KINDS3 {
        let push = Socket::new(Protocol::Push0);
        let l = push.listen(&listen_url(kind)).await.unwrap();
        let want = payloads();
        let n = want.len().to_string();
        let c = nngcat(&["--pull0", "--dial", l.url(), "--msgpack", "--count", &n]);
        for p in &want {
            push.send(Message::from(&p[..])).await.unwrap();
        }
        assert_eq!(messages(c).await, want, "{kind}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_to_nngcat_pull_we_dial() {
    if !have_nngcat() {
        return;
    }
    for kind in KINDS3 {
        let url = peer_url(kind);
        let want = payloads();
        let n = want.len().to_string();
        let c = nngcat(&["--pull0", "--listen", &url, "--msgpack", "--count", &n]);
        let push = Socket::new(Protocol::Push0);
        dial_soon(&push, &url);
        for p in &want {
            push.send(Message::from(&p[..])).await.unwrap();
        }
        assert_eq!(messages(c).await, want, "{kind}");
    }
}

/// nngcat PUSH sends a file (binary, with zero bytes) `count` times.
async fn nngcat_push_file(listen: bool, kind: &str) {
    let dir = tmpdir();
    let file = dir.join("payload.bin");
    let data = binary(200_000);
    std::fs::write(&file, &data).unwrap();
    let pull = Socket::new(Protocol::Pull0);
    let f = file.to_str().unwrap();
    let _c = if listen {
        let url = peer_url(kind);
        let c = nngcat(&["--push0", "--listen", &url, "--file", f, "--count", "3"]);
        dial_soon(&pull, &url);
        c
    } else {
        let l = pull.listen(&listen_url(kind)).await.unwrap();
        nngcat(&["--push0", "--dial", l.url(), "--file", f, "--count", "3"])
    };
    for _ in 0..3 {
        let m = tokio::time::timeout(LIMIT, pull.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(m.body() == &data[..], "{kind}: payload differs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nngcat_push_to_pull_both_directions() {
    if !have_nngcat() {
        return;
    }
    for kind in KINDS3 {
        nngcat_push_file(true, kind).await;
        nngcat_push_file(false, kind).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_to_nngcat_sub_filters() {
    if !have_nngcat() {
        return;
    }
    for kind in KINDS3 {
        for we_listen in [true, false] {
            let publ = Socket::new(Protocol::Pub0);
            let args = |url: &str, mode: &str| {
                vec![
                    "--sub0".to_string(),
                    mode.into(),
                    url.into(),
                    "--subscribe".into(),
                    "ab".into(),
                    "--msgpack".into(),
                    "--count".into(),
                    "2".into(),
                ]
            };
            let c = if we_listen {
                let l = publ.listen(&listen_url(kind)).await.unwrap();
                let a = args(l.url(), "--dial");
                nngcat(&a.iter().map(String::as_str).collect::<Vec<_>>())
            } else {
                let url = peer_url(kind);
                let a = args(&url, "--listen");
                let c = nngcat(&a.iter().map(String::as_str).collect::<Vec<_>>());
                dial_soon(&publ, &url);
                c
            };
            pipes(&publ, 1).await;
            for m in ["xx1", "ab\x001", "a", "zzab", "ab2"] {
                publ.send(Message::from(m)).await.unwrap();
            }
            assert_eq!(
                messages(c).await,
                vec![b"ab\x001".to_vec(), b"ab2".to_vec()],
                "{kind}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nngcat_pub_to_sub() {
    if !have_nngcat() {
        return;
    }
    for kind in KINDS3 {
        let sub = Socket::new(Protocol::Sub0);
        sub.subscribe(b"top").unwrap();
        let l = sub.listen(&listen_url(kind)).await.unwrap();
        // nngcat's dial returns once the pipe is up, so the first message is
        // not lost; "other" is filtered out on our side.
        let _c1 = nngcat(&[
            "--pub0",
            "--dial",
            l.url(),
            "--data",
            "other",
            "--count",
            "1",
        ]);
        let _c2 = nngcat(&[
            "--pub0",
            "--dial",
            l.url(),
            "--data",
            "top\x01x",
            "--count",
            "1",
        ]);
        let m = tokio::time::timeout(LIMIT, sub.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.body(), b"top\x01x", "{kind}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_with_nngcat_both_ways() {
    if !have_nngcat() {
        return;
    }
    for kind in KINDS3 {
        for (p, flag) in [(Protocol::Pair0, "--pair0"), (Protocol::Pair1, "--pair1")] {
            // nngcat dials, sends, prints our reply.
            let s = Socket::new(p);
            let l = s.listen(&listen_url(kind)).await.unwrap();
            let c = nngcat(&[flag, "--dial", l.url(), "--data", "ping", "--msgpack"]);
            let m = tokio::time::timeout(LIMIT, s.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(m.body(), b"ping", "{kind} {flag}");
            s.send(Message::from(&b"po\0ng"[..])).await.unwrap();
            assert_eq!(take(c, 1).await, vec![b"po\0ng".to_vec()], "{kind} {flag}");

            // nngcat listens and prints what we send.
            let url = peer_url(kind);
            let c = nngcat(&[flag, "--listen", &url, "--msgpack", "--count", "2"]);
            let s = Socket::new(p);
            dial_soon(&s, &url);
            s.send(Message::from("one")).await.unwrap();
            s.send(Message::from(&binary(100_000)[..])).await.unwrap();
            assert_eq!(
                messages(c).await,
                vec![b"one".to_vec(), binary(100_000)],
                "{kind} {flag}"
            );
        }
    }
}

/// nng refuses WebSocket frames over 1 MiB: a 3 MiB message reaching nngcat
/// over ws proves that we fragment; and nngcat's 3 MiB message (which nng
/// fragments at 64 KiB) is reassembled on our side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_messages_over_one_frame_limit_both_ways() {
    if !have_nngcat() {
        return;
    }
    let big = binary(3 << 20);
    let push = Socket::new(Protocol::Push0);
    let l = push.listen(&listen_url("ws")).await.unwrap();
    let c = nngcat(&["--pull0", "--dial", l.url(), "--msgpack", "--count", "1"]);
    push.send(Message::from(&big[..])).await.unwrap();
    assert!(messages(c).await == vec![big.clone()], "3 MiB to nngcat");

    let pull = Socket::new(Protocol::Pull0);
    pull.set_opt(SockOpt::RecvMaxSize(4 << 20)).unwrap();
    let l = pull.listen(&listen_url("ws")).await.unwrap();
    let f = tmpdir().join("big.bin");
    std::fs::write(&f, &big).unwrap();
    let _c = nngcat(&["--push0", "--dial", l.url(), "--file", f.to_str().unwrap()]);
    let m = tokio::time::timeout(LIMIT, pull.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(m.body() == &big[..], "3 MiB from nngcat");
}

/// REQ/REP, SURVEYOR/RESPONDENT and BUS with nngcat, over tcp, ipc and ws,
/// each side dialing and listening.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn req_rep_survey_bus_with_nngcat() {
    if !have_nngcat() {
        return;
    }
    for kind in KINDS3 {
        // Our REQ dials nngcat's REP, which answers every request with "pong".
        let url = peer_url(kind);
        let rep = nngcat(&["--rep0", "--listen", &url, "--data", "pong", "--msgpack"]);
        let req = Socket::new(Protocol::Req0);
        dial_soon(&req, &url);
        for i in 0..3u8 {
            req.send(Message::from(&[b'q', 0, i][..])).await.unwrap();
            let a = tokio::time::timeout(LIMIT, req.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(a.body(), b"pong", "{kind}: reply to request {i}");
        }
        assert_eq!(
            take(rep, 3).await,
            vec![vec![b'q', 0, 0], vec![b'q', 0, 1], vec![b'q', 0, 2]]
        );

        // nngcat's REQ dials our REP; we answer with a prefix.
        let rep = Socket::new(Protocol::Rep0);
        let l = rep.listen(&listen_url(kind)).await.unwrap();
        let server = rep.clone();
        let answer = tokio::spawn(async move {
            let q = server.recv().await.unwrap();
            let mut a = Message::from(&b"re:"[..]);
            a.extend(q.body());
            server.send(a).await.unwrap();
        });
        let req = nngcat(&["--req0", "--dial", l.url(), "--data", "ask", "--msgpack"]);
        assert_eq!(
            messages(req).await,
            vec![b"re:ask".to_vec()],
            "{kind}: nngcat REQ"
        );
        answer.await.unwrap();

        // Our SURVEYOR dials nngcat's RESPONDENT.
        let url = peer_url(kind);
        let resp = nngcat(&[
            "--respondent0",
            "--listen",
            &url,
            "--data",
            "yes",
            "--msgpack",
        ]);
        let surveyor = Socket::new(Protocol::Surveyor0);
        surveyor
            .set_opt(SockOpt::SurveyTime(Duration::from_secs(5)))
            .unwrap();
        dial_soon(&surveyor, &url);
        pipes(&surveyor, 1).await;
        surveyor.send(Message::from("vote?")).await.unwrap();
        let a = tokio::time::timeout(LIMIT, surveyor.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.body(), b"yes", "{kind}: survey answer");
        assert_eq!(take(resp, 1).await, vec![b"vote?".to_vec()]);

        // nngcat's SURVEYOR dials our RESPONDENT.
        let respondent = Socket::new(Protocol::Respondent0);
        let l = respondent.listen(&listen_url(kind)).await.unwrap();
        let r2 = respondent.clone();
        let answer = tokio::spawn(async move {
            let q = r2.recv().await.unwrap();
            let mut a = Message::from(&b"ack:"[..]);
            a.extend(q.body());
            r2.send(a).await.unwrap();
        });
        let sv = nngcat(&[
            "--surveyor0",
            "--dial",
            l.url(),
            "--data",
            "poll",
            "--msgpack",
        ]);
        assert_eq!(
            messages(sv).await,
            vec![b"ack:poll".to_vec()],
            "{kind}: nngcat SURVEYOR"
        );
        answer.await.unwrap();

        // BUS both ways: nngcat listens and prints; ours dials and sends, then
        // nngcat sends to us.
        let url = peer_url(kind);
        let bus_peer = nngcat(&[
            "--bus0",
            "--listen",
            &url,
            "--data",
            "from-nng",
            "--interval",
            "1",
            "--msgpack",
        ]);
        let bus = Socket::new(Protocol::Bus0);
        dial_soon(&bus, &url);
        pipes(&bus, 1).await;
        let got = tokio::time::timeout(LIMIT, bus.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.body(), b"from-nng", "{kind}: bus from nngcat");
        bus.send(Message::from(&[0u8, 1, 0][..])).await.unwrap();
        let seen = take(bus_peer, 1).await;
        assert_eq!(seen, vec![vec![0u8, 1, 0]], "{kind}: bus to nngcat");
    }
}

/// Backtraces round-trip through a nanosp device between nng peers:
/// nngcat REQ -> [raw REP | raw REQ] -> nngcat REP, and the reply finds its
/// way back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nng_req_through_our_device_to_nng_rep() {
    if !have_nngcat() {
        return;
    }
    for kind in KINDS3 {
        let front = Socket::new_raw(Protocol::Rep0);
        let back = Socket::new_raw(Protocol::Req0);
        let front_url = front
            .listen(&listen_url(kind))
            .await
            .unwrap()
            .url()
            .to_string();
        let back_url = back
            .listen(&listen_url(kind))
            .await
            .unwrap()
            .url()
            .to_string();
        let (f, b) = (front.clone(), back.clone());
        let dev = tokio::spawn(async move { nanosp_core::device(f.core(), Some(b.core())).await });
        let rep = nngcat(&[
            "--rep0",
            "--dial",
            &back_url,
            "--data",
            "from nng rep",
            "--msgpack",
        ]);
        pipes(&back, 1).await;
        let req = nngcat(&[
            "--req0",
            "--dial",
            &front_url,
            "--data",
            "from nng req",
            "--msgpack",
        ]);
        assert_eq!(
            messages(req).await,
            vec![b"from nng rep".to_vec()],
            "{kind}: the reply came back through the device"
        );
        assert_eq!(take(rep, 1).await, vec![b"from nng req".to_vec()]);
        front.close();
        back.close();
        let _ = dev.await;
    }
}

/// Issue 13, item 5: with default options a 1 MiB body from nng is
/// received, over tcp, ipc and ws (nng's frame carries the 4-byte request
/// id on top: the limit counts the body, with room for the header).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_mib_reply_from_nngcat_is_received_with_default_options() {
    if !have_nngcat() {
        return;
    }
    let big = binary(1 << 20);
    let f = tmpdir().join("mib.bin");
    std::fs::write(&f, &big).unwrap();
    for kind in ["tcp", "ipc", "ws"] {
        let url = peer_url(kind);
        let _rep = nngcat(&["--rep0", "--listen", &url, "--file", f.to_str().unwrap()]);
        let req = Socket::new(Protocol::Req0);
        dial_soon(&req, &url);
        req.wait_for_pipes(1).await.unwrap();
        req.send(Message::from("big one, please")).await.unwrap();
        let m = tokio::time::timeout(LIMIT, req.recv())
            .await
            .expect("reply in time")
            .unwrap();
        assert!(m.body() == &big[..], "{kind}: 1 MiB body");
        assert_eq!(req.stats().oversized, 0);
    }
}
