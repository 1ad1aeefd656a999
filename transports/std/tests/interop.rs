//! Interop with pynng (a newer nng, scripted from Python) and legacy
//! nanomsg (`nanocat`): every protocol pair the core has (the table names
//! REQ/REP, SURVEYOR/RESPONDENT and BUS too; they run once the core speaks
//! them) over tcp, ipc and ws, nanosp dialing and listening; payloads with
//! zero bytes and of 1 MiB compared byte for byte; SUB filtering; PUSH load
//! spread across two PULLs.
//!
//! A peer that is not installed is skipped with a note; CI installs them.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use nanosp::{Message, Protocol, SockOpt, Socket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/pynng_peer.py");

fn pynng(proto: &str, mode: &str, url: &str, action: &[&str]) -> Child {
    Command::new("python3")
        .arg(PEER)
        .args([proto, mode, url])
        .args(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs")
}

fn frame_all(msgs: &[Vec<u8>]) -> Vec<u8> {
    let mut v = Vec::new();
    for m in msgs {
        v.extend_from_slice(&(m.len() as u32).to_be_bytes());
        v.extend_from_slice(m);
    }
    v
}

fn unframe(mut b: &[u8]) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    while b.len() >= 4 {
        let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        v.push(b[4..4 + n].to_vec());
        b = &b[4 + n..];
    }
    v
}

/// Gives the peer its input (closing stdin) and collects its framed output.
async fn run_peer(mut c: Child, input: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut stdin = c.stdin.take().unwrap();
    stdin.write_all(&frame_all(input)).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(LIMIT * 3, c.wait_with_output())
        .await
        .expect("peer did not finish")
        .unwrap();
    assert!(out.status.success(), "peer failed");
    unframe(&out.stdout)
}

/// A URL a peer listens on (picked free first: it cannot report port 0).
fn peer_url(kind: &str) -> String {
    match kind {
        "tcp" => format!("tcp://127.0.0.1:{}", free_port()),
        "ws" => format!("ws://127.0.0.1:{}/peer", free_port()),
        "ipc" => format!("ipc://{}/peer.ipc", tmpdir().display()),
        _ => unreachable!(),
    }
}

/// Our socket of protocol `name`, or None while the core lacks it.
fn ours(name: &str) -> Option<Socket> {
    match Protocol::from_name(name) {
        Ok(p) => {
            let s = Socket::new(p);
            s.set_opt(SockOpt::RecvMaxSize(4 << 20)).unwrap();
            s.set_opt(SockOpt::ReconnectTimeMin(Duration::from_millis(20)))
                .unwrap();
            Some(s)
        }
        Err(_) => {
            eprintln!("protocol {name} not in the core yet: skipping");
            None
        }
    }
}

/// Connects `s` and a peer: we listen (peer dials) or the peer listens.
async fn connect(
    s: &Socket,
    kind: &str,
    we_listen: bool,
    spawn: impl FnOnce(&str, &str) -> Child,
) -> Child {
    if we_listen {
        let l = s.listen(&listen_url(kind)).await.unwrap();
        spawn("dial", l.url())
    } else {
        let u = peer_url(kind);
        let c = spawn("listen", &u);
        s.dial_nonblocking(&u).unwrap();
        c
    }
}

/// No empty message: pynng 0.9 fails to receive one (its `recv` unpacks a
/// NULL body); the nngcat tests cover empty messages.
fn payloads() -> Vec<Vec<u8>> {
    vec![
        b"hello".to_vec(),
        vec![0, 0, 0, 0, 7, 0],
        binary(70_000),
        binary(1 << 20),
    ]
}

const KINDS3: [&str; 3] = ["tcp", "ipc", "ws"];

/// We send; the peer echoes; we check what comes back.
/// (ours, pynng class)
const ECHO: &[(&str, &str)] = &[
    ("pair0", "Pair0"),
    ("pair1", "Pair1"),
    ("req", "Rep0"),
    ("surveyor", "Respondent0"),
    ("bus", "Bus0"),
];

/// The peer sends (or requests); we answer.
const SERVE: &[(&str, &str, &str)] = &[
    ("pair0", "Pair0", "request"),
    ("pair1", "Pair1", "request"),
    ("rep", "Req0", "request"),
    ("respondent", "Surveyor0", "request"),
    ("bus", "Bus0", "request"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pynng_echoes_what_we_send() {
    if !have_pynng() {
        return;
    }
    for &(name, class) in ECHO {
        for kind in KINDS3 {
            for we_listen in [true, false] {
                let Some(s) = ours(name) else { continue };
                let want = payloads();
                let n = want.len().to_string();
                let c = connect(&s, kind, we_listen, |mode, url| {
                    pynng(class, mode, url, &["echo", &n])
                })
                .await;
                pipes(&s, 1).await;
                for p in &want {
                    s.send(Message::from(&p[..])).await.unwrap();
                    let m = tokio::time::timeout(LIMIT, s.recv())
                        .await
                        .unwrap()
                        .unwrap();
                    assert!(
                        m.body() == &p[..],
                        "{name}/{class} {kind} we_listen={we_listen}"
                    );
                }
                s.close(); // lets the peer finish
                run_peer(c, &[]).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_answer_pynng() {
    if !have_pynng() {
        return;
    }
    for &(name, class, action) in SERVE {
        for kind in KINDS3 {
            for we_listen in [true, false] {
                let Some(s) = ours(name) else { continue };
                let want = payloads();
                let c = connect(&s, kind, we_listen, |mode, url| {
                    pynng(class, mode, url, &[action])
                })
                .await;
                let server = s.clone();
                let n = want.len();
                let echo = tokio::spawn(async move {
                    for _ in 0..n {
                        let m = server.recv().await.unwrap();
                        server.send(m).await.unwrap();
                    }
                });
                let got = run_peer(c, &want).await;
                echo.await.unwrap();
                assert!(got == want, "{name}/{class} {kind} we_listen={we_listen}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_both_ways_with_pynng() {
    if !have_pynng() {
        return;
    }
    for kind in KINDS3 {
        for we_listen in [true, false] {
            // Our PUSH to their PULL.
            let push = ours("push").unwrap();
            let want = payloads();
            let n = want.len().to_string();
            let c = connect(&push, kind, we_listen, |mode, url| {
                pynng("Pull0", mode, url, &["recv", &n])
            })
            .await;
            for p in &want {
                push.send(Message::from(&p[..])).await.unwrap();
            }
            assert!(run_peer(c, &[]).await == want, "push {kind} {we_listen}");

            // Their PUSH to our PULL.
            let pull = ours("pull").unwrap();
            let c = connect(&pull, kind, we_listen, |mode, url| {
                pynng("Push0", mode, url, &["send"])
            })
            .await;
            let mut stdin = {
                let mut c = c;
                let i = c.stdin.take().unwrap();
                (i, c)
            };
            stdin.0.write_all(&frame_all(&want)).await.unwrap();
            drop(stdin.0);
            for p in &want {
                let m = tokio::time::timeout(LIMIT, pull.recv())
                    .await
                    .unwrap()
                    .unwrap();
                assert!(m.body() == &p[..], "pull {kind} {we_listen}");
            }
            pull.close();
            let _ = tokio::time::timeout(LIMIT, stdin.1.wait()).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_filtering_with_pynng() {
    if !have_pynng() {
        return;
    }
    let sent: Vec<Vec<u8>> = ["nope", "ab\u{0}1", "a", "xab", "ab2"]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    let want = vec![b"ab\x001".to_vec(), b"ab2".to_vec()];
    for kind in KINDS3 {
        for we_listen in [true, false] {
            // Our PUB, their SUB subscribed to "ab".
            let publ = ours("pub").unwrap();
            let c = connect(&publ, kind, we_listen, |mode, url| {
                pynng("Sub0", mode, url, &["sub", "ab", "2"])
            })
            .await;
            pipes(&publ, 1).await;
            // Their side attaches the pipe a moment after ours: resend the
            // set until the subscriber has its two (PUB drops while nobody
            // subscribes). The later copies are not read.
            let got = {
                let fut = run_peer(c, &[]);
                tokio::pin!(fut);
                loop {
                    for m in &sent {
                        publ.send(Message::from(&m[..])).await.unwrap();
                    }
                    tokio::select! {
                        got = &mut fut => break got,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            };
            assert_eq!(got, want, "pub {kind} {we_listen}");

            // Their PUB, our SUB subscribed to "ab".
            let sub = ours("sub").unwrap();
            sub.subscribe(b"ab").unwrap();
            let c = connect(&sub, kind, we_listen, |mode, url| {
                pynng("Pub0", mode, url, &["send"])
            })
            .await;
            let mut c = c;
            let mut stdin = c.stdin.take().unwrap();
            pipes(&sub, 1).await;
            stdin.write_all(&frame_all(&sent)).await.unwrap();
            drop(stdin);
            for w in &want {
                let m = tokio::time::timeout(LIMIT, sub.recv())
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(m.body(), &w[..], "sub {kind} {we_listen}");
            }
            sub.close();
            let _ = tokio::time::timeout(LIMIT, c.wait()).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_spreads_load_across_two_pulls() {
    if !have_pynng() {
        return;
    }
    // Our PUSH, two pynng PULLs.
    let push = ours("push").unwrap();
    let l = push.listen("tcp://127.0.0.1:0").await.unwrap();
    let a = pynng("Pull0", "dial", l.url(), &["count", "1.0"]);
    let b = pynng("Pull0", "dial", l.url(), &["count", "1.0"]);
    pipes(&push, 2).await;
    for i in 0..100u32 {
        push.send(Message::from(&i.to_be_bytes()[..]))
            .await
            .unwrap();
    }
    let count = |c: Child| async move {
        let o = tokio::time::timeout(LIMIT, c.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        String::from_utf8(o.stdout)
            .unwrap()
            .trim()
            .parse::<u32>()
            .unwrap()
    };
    let (na, nb) = (count(a).await, count(b).await);
    assert_eq!(na + nb, 100);
    // Round-robin over pipes with room: both get a share; a pipe whose
    // writer runs late (a loaded machine) gets less, by design.
    assert!(na > 0 && nb > 0, "no spread: {na} / {nb}");
    eprintln!("our PUSH spread 100 messages as {na} / {nb}");

    // A pynng PUSH, two of our PULLs.
    let u = peer_url("tcp");
    let mut c = pynng("Push0", "listen", &u, &["send", "2"]);
    let p1 = ours("pull").unwrap();
    let p2 = ours("pull").unwrap();
    p1.dial_nonblocking(&u).unwrap();
    p2.dial_nonblocking(&u).unwrap();
    let msgs: Vec<Vec<u8>> = (0..100u32).map(|i| i.to_be_bytes().to_vec()).collect();
    let mut stdin = c.stdin.take().unwrap();
    stdin.write_all(&frame_all(&msgs)).await.unwrap();
    drop(stdin);
    let (mut n1, mut n2) = (0, 0);
    for _ in 0..100 {
        tokio::select! {
            m = p1.recv() => { m.unwrap(); n1 += 1 }
            m = p2.recv() => { m.unwrap(); n2 += 1 }
            _ = tokio::time::sleep(LIMIT) => panic!("lost messages: {n1} + {n2}"),
        }
    }
    assert!(n1 > 0 && n2 > 0, "no spread: {n1} / {n2}");
    eprintln!("pynng PUSH spread 100 messages as {n1} / {n2}");
    p1.close();
    p2.close();
    let _ = tokio::time::timeout(LIMIT, c.wait()).await;
}

/// Reads nanocat's `--msgpack` output until `n` messages came, then stops it.
async fn nanocat_take(mut c: Child, n: usize) -> Vec<Vec<u8>> {
    let mut out = c.stdout.take().unwrap();
    let mut buf = Vec::new();
    let read = async {
        loop {
            let mut v = Vec::new();
            let mut b = &buf[..];
            while b.len() >= 2 {
                let (len, h) = match b[0] {
                    0xc4 => (b[1] as usize, 2),
                    0xc5 if b.len() >= 3 => (u16::from_be_bytes([b[1], b[2]]) as usize, 3),
                    0xc6 if b.len() >= 5 => {
                        (u32::from_be_bytes([b[1], b[2], b[3], b[4]]) as usize, 5)
                    }
                    0xc5 | 0xc6 => break,
                    x => panic!("not msgpack: {x:#x}"),
                };
                if b.len() < h + len {
                    break;
                }
                v.push(b[h..h + len].to_vec());
                b = &b[h + len..];
            }
            if v.len() >= n {
                return v;
            }
            let mut chunk = [0u8; 65536];
            let k = out.read(&mut chunk).await.unwrap();
            assert!(k > 0, "nanocat ended early");
            buf.extend_from_slice(&chunk[..k]);
        }
    };
    let v = tokio::time::timeout(LIMIT, read)
        .await
        .expect("nanocat output");
    let _ = c.kill().await;
    v
}

fn nanocat(args: &[&str]) -> Child {
    Command::new("nanocat")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("nanocat runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_nanomsg_nanocat_over_tcp_and_ipc() {
    if !have_peer(
        "nanocat",
        &["--help"],
        false,
        "apt-get install nanomsg-utils",
    ) {
        return;
    }
    // nanomsg's default receive limit is 1 MiB (framed size): stay under it.
    let big = binary(500_000);
    for kind in ["tcp", "ipc"] {
        for we_listen in [true, false] {
            // Our PUSH to nanocat PULL.
            let push = ours("push").unwrap();
            let c = connect(&push, kind, we_listen, |mode, url| {
                let m = if mode == "dial" {
                    "--connect"
                } else {
                    "--bind"
                };
                nanocat(&["--pull", m, url, "--msgpack"])
            })
            .await;
            let want = vec![b"x\0y".to_vec(), big.clone(), vec![]];
            for p in &want {
                push.send(Message::from(&p[..])).await.unwrap();
            }
            assert!(nanocat_take(c, 3).await == want, "push {kind} {we_listen}");

            // nanocat PAIR (v0) sends every second; our PAIR0 answers; nanocat prints.
            let pair = ours("pair0").unwrap();
            let c = connect(&pair, kind, we_listen, |mode, url| {
                let m = if mode == "dial" {
                    "--connect"
                } else {
                    "--bind"
                };
                nanocat(&["--pair", m, url, "--msgpack", "-D", "hi\u{1}", "-i", "1"])
            })
            .await;
            let m = tokio::time::timeout(LIMIT, pair.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(m.body(), b"hi\x01");
            pair.send(Message::from(&b"back\0"[..])).await.unwrap();
            assert_eq!(nanocat_take(c, 1).await, vec![b"back\0".to_vec()]);

            // nanocat PUB to our SUB (filtering on our side).
            let sub = ours("sub").unwrap();
            sub.subscribe(b"t").unwrap();
            let c = connect(&sub, kind, we_listen, |mode, url| {
                let m = if mode == "dial" {
                    "--connect"
                } else {
                    "--bind"
                };
                nanocat(&["--pub", m, url, "-D", "topic!", "-i", "1"])
            })
            .await;
            let m = tokio::time::timeout(LIMIT, sub.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(m.body(), b"topic!");
            drop(c);
        }
    }
}
