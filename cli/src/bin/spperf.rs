//! spperf: nng's perf tool, on nanosp. Same modes, arguments and output
//! lines as nng's `perf` (and `bench/c/nngperf.c`), so either side of a test
//! can be nanosp or nng:
//!
//! ```text
//! spperf [-p PROTO] local_lat  URL SIZE COUNT    spperf [-p PROTO] remote_lat URL SIZE COUNT
//! spperf [-p PROTO] local_thr  URL SIZE COUNT    spperf [-p PROTO] remote_thr URL SIZE COUNT
//! spperf [-p PROTO] inproc_lat SIZE COUNT        spperf [-p PROTO] inproc_thr SIZE COUNT
//! spperf scale URL PAIRS SIZE COUNT
//! spperf local_fanin URL CONTEXTS TOTAL         spperf remote_fanin URL CLIENTS SIZE COUNT
//! ```
//!
//! PROTO is `pair1` (the default, as nng), `pair0` (the default of mangos'
//! perf tool), `reqrep` (latency) or `pushpull` (throughput). The throughput client sends one empty message first to
//! start the clock, as nng's does.
//!
//! `scale` runs PAIRS independent REQ/REP pairs in this one process, pair i
//! on URL with its port (tcp, ws) or name (ipc, inproc) plus i, each doing
//! COUNT round trips, and prints the aggregate round trips per second.
//!
//! `lat_load URL COUNT` measures 64-byte round trips over URL twice in this
//! one process, alone and then while a second connection (URL's port or name
//! plus one) carries a PUSH/PULL stream of 64 KiB messages on the same
//! runtime, and prints the round-trip percentiles of both: batching and
//! bulk transfers must not hold a small message back.
//!
//! `local_fanin URL CONTEXTS TOTAL` and `remote_fanin URL CLIENTS SIZE COUNT`
//! measure fan-in: a REP socket serving with CONTEXTS contexts at once, and
//! CLIENTS REQ sockets (one connection each) doing COUNT round trips each,
//! all at the same time; the server exits after TOTAL (= CLIENTS × COUNT)
//! requests once the clients have hung up, the clients print the aggregate round trips per second and the
//! round-trip percentiles. `bench/c/nngperf.c` has the same two modes, so
//! either side can be nng.
//!
//! `-B` runs `local_lat`, `remote_lat`, `local_thr` and `remote_thr` on
//! the blocking API (`nanosp::blocking`), as nng's perf uses nng's: the
//! application on the main thread, the transports on the shared runtime's
//! thread.
//!
//! `-b N` makes the throughput receiver (`local_thr`, `inproc_thr`) take up
//! to N messages per call with `recv_many` instead of one with `recv`.
//!
//! `-t N` picks the tokio runtime: 0 (the default for every mode but
//! `scale` and the fan-in modes) is a current-thread runtime, so a message goes from the socket
//! to the application without changing threads; N > 0 is a multi-thread
//! runtime with N workers (the default for `scale`: one per CPU).

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::exit;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nanosp::{Message, Protocol, SockOpt, Socket};

/// The system allocator, counting allocations, so the throughput and
/// latency modes can report allocations per message in steady state (the
/// design's promise: zero).
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}

fn usage() -> ! {
    eprintln!(
        "usage: spperf [-B] [-t THREADS] [-b BATCH] [-p pair0|pair1|reqrep|pushpull] local_lat|remote_lat|local_thr|remote_thr URL SIZE COUNT\n       spperf [-t THREADS] [-p ...] inproc_lat|inproc_thr SIZE COUNT\n       spperf [-t THREADS] scale URL PAIRS SIZE COUNT\n       spperf [-t THREADS] lat_load URL COUNT\n       spperf [-t THREADS] local_fanin URL CONTEXTS TOTAL\n       spperf [-t THREADS] remote_fanin URL CLIENTS SIZE COUNT"
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
    Pair0,
    Pair1,
    ReqRep,
    PushPull,
}

impl Proto {
    /// (server side, client side) for latency or throughput.
    fn sides(self, lat: bool) -> (Protocol, Protocol) {
        match (self, lat) {
            (Proto::Pair0, _) => (Protocol::Pair0, Protocol::Pair0),
            (Proto::Pair1, _) => (Protocol::Pair1, Protocol::Pair1),
            (Proto::ReqRep, true) => (Protocol::Rep0, Protocol::Req0),
            (Proto::PushPull, false) => (Protocol::Pull0, Protocol::Push0),
            _ => die("protocol", "reqrep is for latency, pushpull for throughput"),
        }
    }
}

/// A socket of protocol `p` without a receive size limit (nng's perf has
/// none either: nng 1.x's default is unlimited, ours 1 MiB, which a 1 MiB
/// PAIR1 message plus its 4-byte header would exceed).
fn socket(p: Protocol) -> Socket {
    let s = Socket::new(p);
    let _ = s.set_opt(SockOpt::RecvMaxSize(0));
    s.set_tls_config(tls_from_env());
    s
}

/// TLS for `tls+tcp://` and `wss://` URLs, as nngperf takes it: the files
/// named by `SP_TLS_CERT_KEY` (certificate and key, for listeners) and
/// `SP_TLS_CA` (the CA, for dialers), if set.
fn tls_from_env() -> Option<nanosp::TlsConfig> {
    let ck = std::env::var_os("SP_TLS_CERT_KEY");
    let ca = std::env::var_os("SP_TLS_CA");
    if ck.is_none() && ca.is_none() {
        return None;
    }
    let mut c = nanosp::TlsConfig::new();
    if let Some(f) = ck {
        c = c
            .with_cert_key_file(f)
            .unwrap_or_else(|e| die("SP_TLS_CERT_KEY", e));
    }
    if let Some(f) = ca {
        c = c.with_ca_file(f).unwrap_or_else(|e| die("SP_TLS_CA", e));
    }
    Some(c)
}

async fn lat_server(p: Proto, url: &str, size: usize, count: usize) {
    let s = socket(p.sides(true).0);
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

/// Dials until the server answers (it may still be starting), so that the
/// clock starts with a connection in place; then keeps redialing as usual.
async fn dial(s: &Socket, url: &str) {
    for _ in 0..1000 {
        match s.dial(url).await {
            Ok(_) => return,
            // Refused, or (ipc) no socket file yet.
            Err(nanosp::Error::ConnectionRefused | nanosp::Error::Io(_)) => {
                tokio::time::sleep(Duration::from_millis(10)).await
            }
            Err(e) => die("dial", e),
        }
    }
    die("dial", nanosp::Error::ConnectionRefused)
}

async fn lat_client(p: Proto, url: &str, size: usize, count: usize) {
    let s = socket(p.sides(true).1);
    dial(&s, url).await;
    let mut m = Message::from(vec![b'x'; size]);
    let mut r = Rounds::start(count);
    for _ in 0..count {
        r.begin();
        s.send(m).await.unwrap_or_else(|e| die("send", e));
        m = s.recv().await.unwrap_or_else(|e| die("recv", e));
        r.end();
    }
    r.report(size);
}

/// A latency client's clock: each round trip's time, in nanoseconds, for
/// the percentiles (one clock read per round trip, into memory allocated
/// before the clock starts), and the allocations of the second half.
struct Rounds {
    rtt: Vec<u64>,
    t0: Instant,
    last: Instant,
    a0: u64,
    count: usize,
}

impl Rounds {
    fn start(count: usize) -> Self {
        let t0 = Instant::now();
        Rounds {
            rtt: Vec::with_capacity(count),
            t0,
            last: t0,
            a0: 0,
            count,
        }
    }

    /// Before a round trip.
    fn begin(&mut self) {
        if self.rtt.len() == self.count / 2 {
            self.a0 = allocs();
        }
    }

    /// After a round trip.
    fn end(&mut self) {
        let now = Instant::now();
        let ns = u64::try_from((now - self.last).as_nanos()).unwrap_or(u64::MAX);
        self.rtt.push(ns);
        self.last = now;
    }

    /// Prints the result lines, as nng's perf and `bench/c/nngperf.c` do.
    fn report(mut self, size: usize) {
        let total = self.t0.elapsed().as_secs_f64();
        let count = self.count;
        let warm = count / 2;
        let per_msg = (allocs() - self.a0) as f64 / ((count - warm).max(1) * 2) as f64;
        println!("total time: {total:.3} [s]");
        println!("message size: {size} [B]");
        println!("round trip count: {count}");
        println!(
            "average latency: {:.3} [us]",
            total * 1e6 / (count as f64 * 2.0)
        );
        println!("allocations per message: {per_msg:.3} (second half, this process)");
        print_percentiles(&mut self.rtt);
    }
}

/// Prints the round-trip percentiles line that `bench/c/nngperf.c` prints
/// too (p50, p99, p99.9 and the worst, in microseconds).
fn print_percentiles(rtt: &mut [u64]) {
    if rtt.is_empty() {
        return;
    }
    rtt.sort_unstable();
    let at = |q: f64| {
        let i = ((rtt.len() as f64 * q).ceil() as usize).clamp(1, rtt.len()) - 1;
        rtt[i] as f64 / 1e3
    };
    println!(
        "round trip p50 p99 p99.9 max: {:.3} {:.3} {:.3} {:.3} [us]",
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0)
    );
}

async fn thr_server(p: Proto, url: &str, size: usize, count: usize, batch: usize) {
    let s = socket(p.sides(false).0);
    let _ = s.set_opt(SockOpt::RecvBuffer(128));
    s.listen(url).await.unwrap_or_else(|e| die("listen", e));
    s.recv().await.unwrap_or_else(|e| die("recv", e)); // the start message
    let t0 = Instant::now();
    let (mut a0, warm) = (0, count / 2);
    if batch > 1 {
        // `-b N`: recv_many, up to N messages per pass of the lock.
        let mut got = Vec::with_capacity(batch);
        let mut n = 0;
        while n < count {
            if n >= warm && a0 == 0 {
                a0 = allocs();
            }
            got.clear();
            let want = batch.min(count - n);
            n += s
                .recv_many(&mut got, want)
                .await
                .unwrap_or_else(|e| die("recv", e));
            if got.iter().any(|m| m.body().len() != size) {
                die("message size", "a message of another size");
            }
        }
    } else {
        for i in 0..count {
            if i == warm {
                a0 = allocs();
            }
            let m = s.recv().await.unwrap_or_else(|e| die("recv", e));
            if m.body().len() != size {
                die("message size", format!("{} != {size}", m.body().len()));
            }
        }
    }
    report_thr(t0, a0, size, count);
}

/// Prints a throughput server's result lines, as [`Rounds::report`] does a
/// latency client's.
fn report_thr(t0: Instant, a0: u64, size: usize, count: usize) {
    let total = t0.elapsed().as_secs_f64();
    let warm = count / 2;
    let per_msg = (allocs() - a0) as f64 / (count - warm).max(1) as f64;
    let mps = count as f64 / total;
    println!("total time: {total:.3} [s]");
    println!("message size: {size} [B]");
    println!("message count: {count}");
    println!("throughput: {mps:.0} [msg/s]");
    println!(
        "throughput: {:.3} [Mb/s]",
        mps * 8.0 * size as f64 / (1024.0 * 1024.0)
    );
    println!("allocations per message: {per_msg:.3} (second half, this process)");
}

async fn thr_client(p: Proto, url: &str, size: usize, count: usize) {
    let s = socket(p.sides(false).1);
    let _ = s.set_opt(SockOpt::SendBuffer(128));
    dial(&s, url).await;
    s.send(Message::new())
        .await
        .unwrap_or_else(|e| die("send", e));
    // Every message shares one body (a clone is a reference, as a PUB socket
    // sends one message to many pipes): the application's work of filling a
    // body is left out, as the raw baseline writes one buffer over and over.
    let m = Message::from(vec![b'x'; size]);
    for _ in 0..count {
        s.send(m.clone()).await.unwrap_or_else(|e| die("send", e));
    }
    // No linger (as nng): stay until the server, done, hangs up, so nothing
    // queued is lost (at most a minute).
    for _ in 0..6000 {
        if s.stats().pipes_removed > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `-B`: the same latency and throughput modes on the blocking API
/// (`nanosp::blocking`), as nng's perf calls `nng_send` and `nng_recv`: the
/// application on this thread, the transports on the shared runtime's.
mod blocking {
    use super::*;
    use nanosp::blocking::Socket;

    fn socket(p: Protocol) -> Socket {
        let s = Socket::new(p);
        let _ = s.set_opt(SockOpt::RecvMaxSize(0));
        s.set_tls_config(tls_from_env());
        s
    }

    fn dial(s: &Socket, url: &str) {
        for _ in 0..1000 {
            match s.dial(url) {
                Ok(_) => return,
                Err(nanosp::Error::ConnectionRefused | nanosp::Error::Io(_)) => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => die("dial", e),
            }
        }
        die("dial", nanosp::Error::ConnectionRefused)
    }

    pub(super) fn lat_server(p: Proto, url: &str, size: usize, count: usize) {
        let s = socket(p.sides(true).0);
        s.listen(url).unwrap_or_else(|e| die("listen", e));
        for _ in 0..count {
            let m = s.recv().unwrap_or_else(|e| die("recv", e));
            if m.body().len() != size {
                die("message size", format!("{} != {size}", m.body().len()));
            }
            s.send(m).unwrap_or_else(|e| die("send", e));
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    pub(super) fn lat_client(p: Proto, url: &str, size: usize, count: usize) {
        let s = socket(p.sides(true).1);
        dial(&s, url);
        let mut m = Message::from(vec![b'x'; size]);
        let mut r = Rounds::start(count);
        for _ in 0..count {
            r.begin();
            s.send(m).unwrap_or_else(|e| die("send", e));
            m = s.recv().unwrap_or_else(|e| die("recv", e));
            r.end();
        }
        r.report(size);
    }

    pub(super) fn thr_server(p: Proto, url: &str, size: usize, count: usize) {
        let s = socket(p.sides(false).0);
        let _ = s.set_opt(SockOpt::RecvBuffer(128));
        s.listen(url).unwrap_or_else(|e| die("listen", e));
        s.recv().unwrap_or_else(|e| die("recv", e));
        let t0 = Instant::now();
        let (mut a0, warm) = (0, count / 2);
        for i in 0..count {
            if i == warm {
                a0 = allocs();
            }
            let m = s.recv().unwrap_or_else(|e| die("recv", e));
            if m.body().len() != size {
                die("message size", format!("{} != {size}", m.body().len()));
            }
        }
        report_thr(t0, a0, size, count);
    }

    pub(super) fn thr_client(p: Proto, url: &str, size: usize, count: usize) {
        let s = socket(p.sides(false).1);
        let _ = s.set_opt(SockOpt::SendBuffer(128));
        dial(&s, url);
        s.send(Message::new()).unwrap_or_else(|e| die("send", e));
        let m = Message::from(vec![b'x'; size]);
        for _ in 0..count {
            s.send(m.clone()).unwrap_or_else(|e| die("send", e));
        }
        for _ in 0..6000 {
            if s.stats().pipes_removed > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// `lat_load`: 64 B round trips alone, then beside a 64 KiB bulk stream.
async fn lat_load(url: &str, count: usize) {
    let echo_url = url.to_string();
    let server = tokio::spawn(async move {
        let s = socket(Protocol::Pair1);
        s.listen(&echo_url)
            .await
            .unwrap_or_else(|e| die("listen", e));
        loop {
            let Ok(m) = s.recv().await else { return };
            if s.send(m).await.is_err() {
                return;
            }
        }
    });
    let c = socket(Protocol::Pair1);
    dial(&c, url).await;
    let round_trips = |label: &'static str| {
        let c = c.clone();
        async move {
            let mut rtt: Vec<u64> = Vec::with_capacity(count);
            let mut m = Message::from(vec![b'x'; 64]);
            for _ in 0..count {
                let t = Instant::now();
                c.send(m).await.unwrap_or_else(|e| die("send", e));
                m = c.recv().await.unwrap_or_else(|e| die("recv", e));
                rtt.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
            }
            print!("{label}: ");
            print_percentiles(&mut rtt);
        }
    };
    round_trips("64 B alone").await;
    // The bulk stream: PUSH -> PULL over a second connection, as fast as
    // the receiver takes it, on the same runtime as the round trips.
    let bulk_url = nth_url(url, 1);
    let pull = socket(Protocol::Pull0);
    pull.listen(&bulk_url)
        .await
        .unwrap_or_else(|e| die("listen", e));
    let sink = tokio::spawn(async move { while pull.recv().await.is_ok() {} });
    let push = socket(Protocol::Push0);
    dial(&push, &bulk_url).await;
    let body = Message::from(vec![b'y'; 64 << 10]);
    let p2 = push.clone();
    let source = tokio::spawn(async move { while p2.send(body.clone()).await.is_ok() {} });
    round_trips("64 B beside a 64 KiB stream").await;
    push.close();
    let _ = source.await;
    server.abort();
    sink.abort();
}

/// The URL of pair `i` of `scale`: a TCP/WS port plus `i`, or a name with
/// `.i` added.
fn nth_url(url: &str, i: usize) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or_else(|| usage());
    if scheme.starts_with("tcp") || scheme.starts_with("ws") {
        let (hostport, path) = match rest.find('/') {
            Some(k) => rest.split_at(k),
            None => (rest, ""),
        };
        if let Some((host, port)) = hostport.rsplit_once(':') {
            let port: usize = number(port, "port");
            return format!("{scheme}://{host}:{}{path}", port + i);
        }
    }
    format!("{url}.{i}")
}

async fn scale(url: &str, pairs: usize, size: usize, count: usize) {
    let mut socks = Vec::new();
    for i in 0..pairs {
        let u = nth_url(url, i);
        let rep = socket(Protocol::Rep0);
        rep.listen(&u).await.unwrap_or_else(|e| die("listen", e));
        let req = socket(Protocol::Req0);
        req.dial(&u).await.unwrap_or_else(|e| die("dial", e));
        socks.push((rep, req));
    }
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for (rep, req) in &socks {
        let rep = rep.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..count {
                let m = rep.recv().await.unwrap_or_else(|e| die("rep recv", e));
                rep.send(m).await.unwrap_or_else(|e| die("rep send", e));
            }
        }));
        let req = req.clone();
        tasks.push(tokio::spawn(async move {
            let mut m = Message::from(vec![b'x'; size]);
            for _ in 0..count {
                req.send(m).await.unwrap_or_else(|e| die("req send", e));
                m = req.recv().await.unwrap_or_else(|e| die("req recv", e));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap_or_else(|e| die("task", e));
    }
    let total = t0.elapsed().as_secs_f64();
    println!("pairs: {pairs}");
    println!("message size: {size} [B]");
    println!("round trip count: {}", count * pairs);
    println!("total time: {total:.3} [s]");
    println!("throughput: {:.0} [rt/s]", (count * pairs) as f64 / total);
}

/// `local_fanin`: a REP socket on `url` serving `total` requests with
/// `contexts` contexts at once (each receives a request and echoes it), then
/// exiting once every client has hung up.
async fn fanin_server(url: &str, contexts: usize, total: usize) {
    let rep = socket(Protocol::Rep0);
    rep.listen(url).await.unwrap_or_else(|e| die("listen", e));
    let served = std::sync::Arc::new(AtomicU64::new(0));
    let done = std::sync::Arc::new(tokio::sync::Notify::new());
    for _ in 0..contexts {
        let ctx = rep.context().unwrap_or_else(|e| die("context", e));
        let (served, done) = (served.clone(), done.clone());
        tokio::spawn(async move {
            // Ends when the socket closes (the process exits).
            while let Ok(m) = ctx.recv().await {
                if ctx.send(m).await.is_err() {
                    break;
                }
                if served.fetch_add(1, Ordering::Relaxed) + 1 == total as u64 {
                    done.notify_one();
                }
            }
        });
    }
    done.notified().await;
    // Served; closing before every client has hung up could cut replies
    // still on their way to a client that is slow to read them.
    while !rep.pipes().is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `remote_fanin`: `clients` REQ sockets, one connection each, all dialing
/// `url`; once all are connected each does `count` round trips of `size`
/// bytes at once with the others. Prints the aggregate round trips per
/// second and the round-trip percentiles over all clients.
async fn fanin_clients(url: &str, clients: usize, size: usize, count: usize) {
    let mut socks = Vec::with_capacity(clients);
    for i in 0..clients {
        let req = socket(Protocol::Req0);
        if i == 0 {
            dial(&req, url).await; // the server may still be starting
        } else {
            req.dial(url).await.unwrap_or_else(|e| die("dial", e));
        }
        socks.push(req);
    }
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut tasks = Vec::with_capacity(clients);
    for req in socks {
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            let mut rtt = Vec::with_capacity(count);
            let mut m = Message::from(vec![b'x'; size]);
            start.wait().await;
            for _ in 0..count {
                let t = Instant::now();
                req.send(m).await.unwrap_or_else(|e| die("req send", e));
                m = req.recv().await.unwrap_or_else(|e| die("req recv", e));
                rtt.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
            }
            (req, rtt)
        }));
    }
    start.wait().await;
    let t0 = Instant::now();
    let mut all = Vec::with_capacity(clients * count);
    let mut keep = Vec::with_capacity(clients);
    for t in tasks {
        let (req, rtt) = t.await.unwrap_or_else(|e| die("task", e));
        all.extend(rtt);
        keep.push(req);
    }
    let total = t0.elapsed().as_secs_f64();
    println!("clients: {clients}");
    println!("message size: {size} [B]");
    println!("round trip count: {}", count * clients);
    println!("total time: {total:.3} [s]");
    println!("throughput: {:.0} [rt/s]", (count * clients) as f64 / total);
    print_percentiles(&mut all);
    drop(keep);
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut proto = Proto::Pair1;
    let mut threads: Option<usize> = None;
    let mut batch = 1;
    let mut blocking = false;
    loop {
        match args.first().map(String::as_str) {
            Some("-p" | "--proto") if args.len() >= 2 => {
                proto = match args[1].as_str() {
                    "pair0" => Proto::Pair0,
                    "pair1" => Proto::Pair1,
                    "reqrep" => Proto::ReqRep,
                    "pushpull" => Proto::PushPull,
                    _ => usage(),
                };
            }
            Some("-t" | "--threads") if args.len() >= 2 => {
                threads = Some(number(&args[1], "threads"));
            }
            Some("-b" | "--batch") if args.len() >= 2 => {
                batch = number(&args[1], "batch");
            }
            Some("-B" | "--blocking") => {
                blocking = true;
                args.remove(0);
                continue;
            }
            _ => break,
        }
        args.drain(..2);
    }
    let mode = args.first().cloned().unwrap_or_else(|| usage());
    if blocking {
        let [_, url, size, count] = &args[..] else {
            usage()
        };
        let (size, count) = (number(size, "size"), number(count, "count"));
        match mode.as_str() {
            "local_lat" => blocking::lat_server(proto, url, size, count),
            "remote_lat" => blocking::lat_client(proto, url, size, count),
            "local_thr" => blocking::thr_server(proto, url, size, count),
            "remote_thr" => blocking::thr_client(proto, url, size, count),
            _ => usage(),
        }
        return;
    }
    let threads = threads.unwrap_or(
        if matches!(mode.as_str(), "scale" | "local_fanin" | "remote_fanin") {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            0
        },
    );
    let mut builder = if threads == 0 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    let rt = builder.enable_all().build().expect("tokio runtime");
    // The work runs in a spawned task, not in `block_on`'s own future: tokio
    // polls its I/O driver once more each time that future is woken.
    let work = rt.spawn(async move {
        match (mode.as_str(), args.len()) {
            ("scale", 5) => {
                let pairs = number(&args[2], "pairs");
                let size = number(&args[3], "size");
                let count = number(&args[4], "count");
                scale(&args[1], pairs, size, count).await
            }
            ("lat_load", 3) => lat_load(&args[1], number(&args[2], "count")).await,
            ("local_fanin", 4) => {
                let contexts = number(&args[2], "contexts");
                fanin_server(&args[1], contexts, number(&args[3], "total")).await
            }
            ("remote_fanin", 5) => {
                let clients = number(&args[2], "clients");
                let size = number(&args[3], "size");
                fanin_clients(&args[1], clients, size, number(&args[4], "count")).await
            }
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
                        tokio::spawn(
                            async move { thr_server(proto, &u, size, count, batch).await },
                        );
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
                    "local_thr" => thr_server(proto, url, size, count, batch).await,
                    "remote_thr" => thr_client(proto, url, size, count).await,
                    _ => usage(),
                }
            }
            _ => usage(),
        }
    });
    if let Err(e) = rt.block_on(work) {
        die("task", e)
    }
}
