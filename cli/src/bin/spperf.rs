//! spperf: nng's perf tool, on nanosp. Same modes, arguments and output
//! lines as nng's `perf` (and `bench/c/nngperf.c`), so either side of a test
//! can be nanosp or nng:
//!
//! ```text
//! spperf [-p PROTO] local_lat  URL SIZE COUNT    spperf [-p PROTO] remote_lat URL SIZE COUNT
//! spperf [-p PROTO] local_thr  URL SIZE COUNT    spperf [-p PROTO] remote_thr URL SIZE COUNT
//! spperf [-p PROTO] inproc_lat SIZE COUNT        spperf [-p PROTO] inproc_thr SIZE COUNT
//! ```
//!
//! PROTO is `pair1` (the default, as nng), `reqrep` (latency) or `pushpull`
//! (throughput). The throughput client sends one empty message first to
//! start the clock, as nng's does.

use std::process::exit;
use std::time::{Duration, Instant};

use nanosp_std::{Message, Protocol, SockOpt, Socket};

fn usage() -> ! {
    eprintln!(
        "usage: spperf [-p pair1|reqrep|pushpull] local_lat|remote_lat|local_thr|remote_thr URL SIZE COUNT\n       spperf [-p ...] inproc_lat|inproc_thr SIZE COUNT"
    );
    exit(2)
}

fn number(s: &str, what: &str) -> usize {
    s.parse().unwrap_or_else(|_| {
        eprintln!("spperf: bad {what}: {s}");
        exit(2)
    })
}

fn die(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("spperf: {what}: {e}");
    exit(1)
}

#[derive(Clone, Copy, PartialEq)]
enum Proto {
    Pair1,
    ReqRep,
    PushPull,
}

impl Proto {
    /// (server side, client side) for latency or throughput.
    fn sides(self, lat: bool) -> (Protocol, Protocol) {
        match (self, lat) {
            (Proto::Pair1, _) => (Protocol::Pair1, Protocol::Pair1),
            (Proto::ReqRep, true) => (Protocol::Rep0, Protocol::Req0),
            (Proto::PushPull, false) => (Protocol::Pull0, Protocol::Push0),
            _ => die("protocol", "reqrep is for latency, pushpull for throughput"),
        }
    }
}

async fn lat_server(p: Proto, url: &str, size: usize, count: usize) {
    let s = Socket::new(p.sides(true).0);
    s.listen(url).await.unwrap_or_else(|e| die("listen", e));
    for _ in 0..count {
        let m = s.recv().await.unwrap_or_else(|e| die("recv", e));
        if m.body().len() != size {
            die("message size", format!("{} != {size}", m.body().len()));
        }
        s.send(m).await.unwrap_or_else(|e| die("send", e));
    }
    // No linger (as nng): give the last reply time to leave.
    tokio::time::sleep(Duration::from_millis(100)).await;
}

async fn lat_client(p: Proto, url: &str, size: usize, count: usize) {
    let s = Socket::new(p.sides(true).1);
    s.dial_nonblocking(url).unwrap_or_else(|e| die("dial", e));
    let mut m = Message::from(vec![b'x'; size]);
    let t0 = Instant::now();
    for _ in 0..count {
        s.send(m).await.unwrap_or_else(|e| die("send", e));
        m = s.recv().await.unwrap_or_else(|e| die("recv", e));
    }
    let total = t0.elapsed().as_secs_f64();
    println!("total time: {total:.3} [s]");
    println!("message size: {size} [B]");
    println!("round trip count: {count}");
    println!(
        "average latency: {:.3} [us]",
        total * 1e6 / (count as f64 * 2.0)
    );
}

async fn thr_server(p: Proto, url: &str, size: usize, count: usize) {
    let s = Socket::new(p.sides(false).0);
    let _ = s.set_opt(SockOpt::RecvBuffer(128));
    s.listen(url).await.unwrap_or_else(|e| die("listen", e));
    s.recv().await.unwrap_or_else(|e| die("recv", e)); // the start message
    let t0 = Instant::now();
    for _ in 0..count {
        let m = s.recv().await.unwrap_or_else(|e| die("recv", e));
        if m.body().len() != size {
            die("message size", format!("{} != {size}", m.body().len()));
        }
    }
    let total = t0.elapsed().as_secs_f64();
    let mps = count as f64 / total;
    println!("total time: {total:.3} [s]");
    println!("message size: {size} [B]");
    println!("message count: {count}");
    println!("throughput: {mps:.0} [msg/s]");
    println!(
        "throughput: {:.3} [Mb/s]",
        mps * 8.0 * size as f64 / (1024.0 * 1024.0)
    );
}

async fn thr_client(p: Proto, url: &str, size: usize, count: usize) {
    let s = Socket::new(p.sides(false).1);
    let _ = s.set_opt(SockOpt::SendBuffer(128));
    s.dial_nonblocking(url).unwrap_or_else(|e| die("dial", e));
    s.send(Message::new())
        .await
        .unwrap_or_else(|e| die("send", e));
    for _ in 0..count {
        let mut m = Message::with_capacity(size);
        m.body_mut().resize(size, b'x');
        s.send(m).await.unwrap_or_else(|e| die("send", e));
    }
    // No linger (as nng): give the queue time to drain.
    tokio::time::sleep(Duration::from_millis(200)).await;
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut proto = Proto::Pair1;
    if args.first().is_some_and(|a| a == "-p" || a == "--proto") {
        if args.len() < 2 {
            usage();
        }
        proto = match args[1].as_str() {
            "pair1" => Proto::Pair1,
            "reqrep" => Proto::ReqRep,
            "pushpull" => Proto::PushPull,
            _ => usage(),
        };
        args.drain(..2);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mode = args.first().cloned().unwrap_or_else(|| usage());
    rt.block_on(async move {
        match (mode.as_str(), args.len()) {
            ("inproc_lat", 3) | ("inproc_thr", 3) => {
                let size = number(&args[1], "size");
                let count = number(&args[2], "count");
                let url = format!("inproc://spperf-{}", std::process::id());
                if mode == "inproc_lat" {
                    let u = url.clone();
                    let server =
                        tokio::spawn(async move { lat_server(proto, &u, size, count).await });
                    tokio::task::yield_now().await;
                    lat_client(proto, &url, size, count).await;
                    let _ = server.await;
                } else {
                    let u = url.clone();
                    let server =
                        tokio::spawn(async move { thr_server(proto, &u, size, count).await });
                    tokio::task::yield_now().await;
                    thr_client(proto, &url, size, count).await;
                    let _ = server.await;
                }
            }
            (_, 4) => {
                let (url, size, count) = (
                    &args[1],
                    number(&args[2], "size"),
                    number(&args[3], "count"),
                );
                match mode.as_str() {
                    "local_lat" => lat_server(proto, url, size, count).await,
                    "remote_lat" => lat_client(proto, url, size, count).await,
                    "local_thr" => thr_server(proto, url, size, count).await,
                    "remote_thr" => thr_client(proto, url, size, count).await,
                    _ => usage(),
                }
            }
            _ => usage(),
        }
    });
}
