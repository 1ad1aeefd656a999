//! An embassy-net stack on a TAP device talking SP to nng's `nngcat` on the
//! host kernel's TCP, inside a private network namespace this test makes
//! (`unshare -n`; needs root, as on CI). Without root, `unshare` or `nngcat`
//! the test says so loudly and is skipped.

use std::process::Stdio;

use embassy_futures::select::{select, Either};
use embassy_net::{IpEndpoint, Ipv4Address};
use embassy_time::{with_timeout, Duration};
use nanosp_core::{Message, Protocol};
use nanosp_embassy::{dial, listen, EmbassyRuntime, Socket, TcpBuffers};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

mod common;
use common::{in_tap_namespace, leak, tap_stack, HOST_IP};

#[test]
fn embassy_stack_talks_to_nngcat_over_tap() {
    in_tap_namespace("embassy_stack_talks_to_nngcat_over_tap", &["nngcat"], inner);
}

fn inner() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (stack, mut runner) = tap_stack();
        let bufs = |n: usize| -> &'static mut [TcpBuffers<'static>] {
            (0..n)
                .map(|_| TcpBuffers {
                    rx: leak([0u8; 8192]).as_mut_slice(),
                    tx: leak([0u8; 8192]).as_mut_slice(),
                })
                .collect::<Vec<_>>()
                .leak()
        };

        let body = async {
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
            let ep = IpEndpoint::new(Ipv4Address::new(192, 168, 69, 100).into(), 5556);
            let b = bufs(1).iter_mut().next().unwrap();
            let ask = async {
                // nngcat may not be listening yet: the dialer retries.
                req.send(Message::from("ping")).await.unwrap();
                req.recv().await.unwrap()
            };
            let r = select(
                dial(
                    &req,
                    stack,
                    ep,
                    TcpBuffers {
                        rx: &mut *b.rx,
                        tx: &mut *b.tx,
                    },
                ),
                ask,
            )
            .await;
            let Either::Second(reply) = r else {
                panic!("dialer ended")
            };
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
            let ep = IpEndpoint::new(Ipv4Address::new(192, 168, 69, 100).into(), 5557);
            let b = bufs(1).iter_mut().next().unwrap();
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
            let r = select(
                dial(
                    &push,
                    stack,
                    ep,
                    TcpBuffers {
                        rx: &mut *b.rx,
                        tx: &mut *b.tx,
                    },
                ),
                send,
            )
            .await;
            let Either::Second(out) = r else {
                panic!("dialer ended")
            };
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
        };
        let r = with_timeout(Duration::from_secs(60), select(runner.run(), body)).await;
        match r {
            Ok(Either::Second(())) => {}
            Ok(Either::First(_)) => unreachable!(),
            Err(_) => panic!("TAP test timed out"),
        }
    });
}
