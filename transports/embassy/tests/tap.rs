//! An embassy-net stack on a TAP device talking SP to nng's `nngcat` on the
//! host kernel's TCP, inside a private network namespace this test makes
//! (`unshare -n`; needs root, as on CI). Without root, `unshare` or `nngcat`
//! the test says so loudly and is skipped.

use std::process::Stdio;

use embassy_futures::select::{select, Either};
use embassy_net::{IpEndpoint, Ipv4Address};
use nanosp_core::{Message, Protocol};
use nanosp_embassy::{dial, listen, EmbassyRuntime, Socket, TcpBuffers};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

mod common;
use common::{in_tap_namespace, leak, on_tap, HOST_IP};

#[test]
fn embassy_stack_talks_to_nngcat_over_tap() {
    in_tap_namespace("embassy_stack_talks_to_nngcat_over_tap", &["nngcat"], inner);
}

fn inner() {
    let bufs = |n: usize| -> &'static mut [TcpBuffers<'static>] {
        (0..n)
            .map(|_| TcpBuffers {
                rx: leak([0u8; 8192]).as_mut_slice(),
                tx: leak([0u8; 8192]).as_mut_slice(),
            })
            .collect::<Vec<_>>()
            .leak()
    };
    on_tap(60, |stack| async move {
        // 1. nngcat REQ dials our REP.
        let rep = Socket::new(Protocol::Rep0, EmbassyRuntime);
        let serve = async {
            loop {
                let q = rep.recv().await.unwrap();
                let mut a = Message::from(&b"echo:"[..]);
                a.extend(q.body());
                rep.send(a).await.unwrap();
            }
        };
        let client = async {
            let out = Command::new("nngcat")
                .args([
                    "--req0",
                    "--dial",
                    "tcp://192.168.69.1:5555",
                    "--data",
                    "hello",
                    "--quoted",
                ])
                .args(["--recv-timeout", "10"])
                .output()
                .await
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let r = select(select(listen(&rep, stack, 5555, bufs(2)), serve), client).await;
        let Either::Second(printed) = r else {
            panic!("server ended")
        };
        assert_eq!(printed.trim(), "\"echo:hello\"");

        // 2. Our REQ dials nngcat's REP.
        let mut srv = Command::new("nngcat")
            .args([
                "--rep0",
                "--listen",
                &format!("tcp://{HOST_IP}:5556"),
                "--data",
                "pong",
            ])
            .args(["--quoted", "--recv-timeout", "20"])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let req = Socket::new(Protocol::Req0, EmbassyRuntime);
        let ask = async {
            // nngcat may not be listening yet: the dialer retries.
            req.send(Message::from("ping")).await.unwrap();
            req.recv().await.unwrap()
        };
        let reply = while_dialing(&req, stack, 5556, ask).await;
        assert_eq!(reply.body(), b"pong");
        srv.kill().await.ok();
        let mut printed = String::new();
        srv.stdout
            .take()
            .unwrap()
            .read_to_string(&mut printed)
            .await
            .ok();
        assert!(printed.contains("\"ping\""), "nngcat saw: {printed}");

        // 3. Our PUSH dials nngcat's PULL; bytes arrive exactly.
        let mut pull = Command::new("nngcat")
            .args([
                "--pull0",
                "--listen",
                &format!("tcp://{HOST_IP}:5557"),
                "--hex",
            ])
            .args(["--recv-timeout", "3"])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let push = Socket::new(Protocol::Push0, EmbassyRuntime);
        let send = async {
            for i in 0..3u8 {
                push.send(Message::from(&[0, i, 0xff][..])).await.unwrap();
            }
            let mut out = String::new();
            pull.stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .await
                .ok();
            out
        };
        let out = while_dialing(&push, stack, 5557, send).await;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                "\"\\x00\\x00\\xff\"",
                "\"\\x00\\x01\\xff\"",
                "\"\\x00\\x02\\xff\""
            ],
            "{out}"
        );
    });
}

/// Runs `f` while `sock` dials the host's `port` over `stack` (nngcat may
/// not listen yet: the dialer retries); the dialer ending first fails.
async fn while_dialing<T>(
    sock: &Socket,
    stack: embassy_net::Stack<'static>,
    port: u16,
    f: impl std::future::Future<Output = T>,
) -> T {
    let ep = IpEndpoint::new(Ipv4Address::new(192, 168, 69, 100).into(), port);
    let bufs = TcpBuffers {
        rx: leak([0u8; 8192]).as_mut_slice(),
        tx: leak([0u8; 8192]).as_mut_slice(),
    };
    match select(dial(sock, stack, ep, bufs), f).await {
        Either::Second(t) => t,
        Either::First(e) => panic!("dialer ended: {e}"),
    }
}

/// The lean path (`nanosp_embassy::solo`) against nngcat, both directions:
/// nngcat's REQ dials our REP, our REQ dials nngcat's REP, our PUSH dials
/// nngcat's PULL (bytes exact) and our SUB dials nngcat's PUB.
#[test]
fn solo_talks_to_nngcat_over_tap() {
    in_tap_namespace("solo_talks_to_nngcat_over_tap", &["nngcat"], solo_inner);
}

fn solo_inner() {
    use nanosp_core::{Error, SockOpt};
    use nanosp_embassy::solo::{self, Solo};

    let bufs = || TcpBuffers {
        rx: leak([0u8; 8192]).as_mut_slice(),
        tx: leak([0u8; 8192]).as_mut_slice(),
    };
    let nngcat = |args: &[&str]| {
        Command::new("nngcat")
            .args(args)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    };
    on_tap(60, |stack| async move {
        // 1. nngcat REQ dials our REP (one connection at a time).
        let mut rep = Solo::new(Protocol::Rep0, EmbassyRuntime);
        let serve = solo::listen(&mut rep, stack, 5555, bufs(), async |conn| loop {
            match conn.recv().await {
                Ok(q) => {
                    let mut a = Message::from(&b"echo:"[..]);
                    a.extend(q.body());
                    if let Err(e) = conn.send(a).await {
                        return e.error;
                    }
                }
                Err(e) => return e, // nngcat hung up
            }
        });
        let client = async {
            let mut out = String::new();
            for word in ["one", "two"] {
                let o = Command::new("nngcat")
                    .args(["--req0", "--dial", "tcp://192.168.69.1:5555"])
                    .args(["--data", word, "--quoted", "--recv-timeout", "10"])
                    .output()
                    .await
                    .unwrap();
                out.push_str(&String::from_utf8_lossy(&o.stdout));
            }
            out
        };
        let Either::Second(printed) = select(serve, client).await else {
            panic!("server ended")
        };
        assert_eq!(printed, "\"echo:one\"\n\"echo:two\"\n");
        assert_eq!(rep.stats().pipes_added, 2, "one connection after the other");

        // 2. Our REQ dials nngcat's REP (which may not listen yet).
        let mut srv = nngcat(&[
            "--rep0",
            "--listen",
            &format!("tcp://{HOST_IP}:5556"),
            "--data",
            "pong",
            "--quoted",
            "--recv-timeout",
            "20",
        ]);
        let mut req = Solo::new(Protocol::Req0, EmbassyRuntime);
        let ep = IpEndpoint::new(Ipv4Address::new(192, 168, 69, 100).into(), 5556);
        let mut reply = None;
        let end = solo::dial(&mut req, stack, ep, bufs(), async |conn| {
            if let Err(e) = conn.send(Message::from("ping")).await {
                return e.error;
            }
            match conn.recv().await {
                Ok(m) => {
                    reply = Some(m);
                    Error::Closed // done: dial returns
                }
                Err(e) => e,
            }
        })
        .await;
        assert_eq!(end, Error::Closed);
        assert_eq!(reply.unwrap().body(), b"pong");
        srv.kill().await.ok();
        let mut printed = String::new();
        let mut out = srv.stdout.take().unwrap();
        out.read_to_string(&mut printed).await.ok();
        assert!(printed.contains("\"ping\""), "nngcat saw: {printed}");

        // 3. Our PUSH dials nngcat's PULL; bytes arrive exactly.
        let mut pull = nngcat(&[
            "--pull0",
            "--listen",
            &format!("tcp://{HOST_IP}:5557"),
            "--hex",
            "--recv-timeout",
            "3",
        ]);
        let mut push = Solo::new(Protocol::Push0, EmbassyRuntime);
        let ep = IpEndpoint::new(Ipv4Address::new(192, 168, 69, 100).into(), 5557);
        solo::dial(&mut push, stack, ep, bufs(), async |conn| {
            for i in 0..3u8 {
                if let Err(e) = conn.send(Message::from(&[0, i, 0xff][..])).await {
                    return e.error;
                }
            }
            Error::Closed
        })
        .await;
        let mut out = String::new();
        pull.stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .await
            .ok();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                "\"\\x00\\x00\\xff\"",
                "\"\\x00\\x01\\xff\"",
                "\"\\x00\\x02\\xff\""
            ],
            "{out}"
        );

        // 4. Our SUB dials nngcat's PUB, which publishes every second.
        let _publ = nngcat(&[
            "--pub0",
            "--listen",
            &format!("tcp://{HOST_IP}:5558"),
            "--data",
            "t/tick",
            "--interval",
            "1",
            "--count",
            "30",
        ]);
        let mut sub = Solo::new(Protocol::Sub0, EmbassyRuntime);
        sub.set_opt(SockOpt::Subscribe(b"t/".to_vec())).unwrap();
        let ep = IpEndpoint::new(Ipv4Address::new(192, 168, 69, 100).into(), 5558);
        let mut got = None;
        solo::dial(&mut sub, stack, ep, bufs(), async |conn| {
            match conn.recv().await {
                Ok(m) => {
                    got = Some(m);
                    Error::Closed
                }
                Err(e) => e,
            }
        })
        .await;
        assert_eq!(got.unwrap().body(), b"t/tick");
    });
}
