//! Network partitions across three network namespaces the test creates: a
//! hub `H` (REP and PUB servers) joined to `A` and `B` (a REQ and a SUB
//! each) by veth pairs. The test cuts H's end of the link to A with
//! `ip link set ... down`; that link now drops packets without any FIN or
//! RST, as a cut cable would.
//!
//! A long cut shows that, with short keepalive timings and a TCP user
//! timeout, both ends notice the dead connection within seconds; that B is
//! served throughout; and that once the link is back A's dialers reconnect
//! by themselves, the request A had in flight is resent and answered, and
//! A's subscriber receives the publisher's new messages — nothing
//! restarted. A short cut (well under those timeouts) is ridden out: the
//! connections survive, the request in flight is answered and A's
//! subscriber misses nothing.
//!
//! Each namespace runs a current-thread tokio runtime on a thread that
//! entered it (`setns`), so sockets made on that runtime live there while
//! the test reads their stats directly.
//!
//! Needs root and iproute2's `ip`; without them the test prints SKIPPED and
//! passes, unless `NANOSP_REQUIRE_PEERS=1` (CI) makes it fail.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use nanosp::{Message, Protocol, SockOpt, Socket, TcpKeepalive, TokioRuntime};

/// Runs `ip args...`, panicking with its output on failure.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Named network namespaces, deleted when dropped.
struct Namespaces(Vec<String>);

impl Namespaces {
    /// Creates `n` namespaces (loopback up), or says why it cannot.
    fn create(tags: &[&str]) -> Result<Namespaces, String> {
        #[allow(unsafe_code)]
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root".into());
        }
        let mut ns = Namespaces(Vec::new());
        for t in tags {
            static N: AtomicU32 = AtomicU32::new(0);
            let name = format!(
                "nanosp-{}-{}-{t}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            );
            let out = Command::new("ip")
                .args(["netns", "add", &name])
                .output()
                .map_err(|e| format!("ip: {e}"))?;
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned());
            }
            ns.0.push(name);
            ip(&["-n", ns.0.last().unwrap(), "link", "set", "lo", "up"]);
        }
        Ok(ns)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

/// A tokio runtime on a thread inside a network namespace.
struct NsRuntime {
    rt: TokioRuntime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NsRuntime {
    fn enter(netns: &str) -> NsRuntime {
        let path = format!("/run/netns/{netns}");
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            let f = std::fs::File::open(&path).expect("open netns");
            #[allow(unsafe_code)]
            // SAFETY: setns on a valid descriptor; it moves only this thread.
            let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            tx.send(rt.handle().clone()).unwrap();
            let _ = rt.block_on(stopped);
        });
        let handle = rx.recv().expect("namespace thread started");
        NsRuntime {
            rt: TokioRuntime::new(handle),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// A socket whose transports run in this namespace, with the timings
    /// of a deployment that wants partitions noticed in seconds.
    fn socket(&self, p: Protocol) -> Socket {
        let s = Socket::with_runtime(p, false, self.rt.clone());
        s.set_tcp_keepalive_timings(Some(TcpKeepalive {
            idle: Duration::from_secs(1),
            interval: Duration::from_secs(1),
            retries: 2,
        }));
        s.set_tcp_user_timeout(Some(Duration::from_secs(3)));
        s.set_opt(SockOpt::ReconnectTimeMin(Duration::from_millis(100)))
            .unwrap();
        s.set_opt(SockOpt::ReconnectTimeMax(Duration::from_millis(500)))
            .unwrap();
        s
    }
}

impl Drop for NsRuntime {
    fn drop(&mut self) {
        let _ = self.stop.take().unwrap().send(());
        let _ = self.thread.take().unwrap().join();
    }
}

/// Collects the sequence numbers a SUB receives.
fn collect(sub: &Socket) -> Arc<Mutex<Vec<u64>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s, v) = (sub.clone(), seen.clone());
    tokio::spawn(async move {
        while let Ok(m) = s.recv().await {
            v.lock()
                .unwrap()
                .push(u64::from_be_bytes(m.body()[..8].try_into().unwrap()));
        }
    });
    seen
}

fn last(v: &Mutex<Vec<u64>>) -> u64 {
    v.lock().unwrap().last().copied().unwrap_or(0)
}

async fn ask(req: &Socket, what: &str) {
    req.send(Message::from(what)).await.unwrap();
    assert_eq!(req.recv().await.unwrap().body(), what.as_bytes());
}

/// A client namespace's sockets: a REQ, and a SUB with what it received.
struct Client {
    req: Socket,
    sub: Socket,
    seen: Arc<Mutex<Vec<u64>>>,
}

/// Hub H (REP echo, PUB of a sequence number every 20 ms) and clients A and
/// B, connected and served once made. Dropping it closes the sockets, then
/// stops the runtimes (field order), then deletes the namespaces.
struct Lab {
    rep: Socket,
    publ: Socket,
    a: Client,
    b: Client,
    _rts: [NsRuntime; 3],
    ns: Namespaces,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for s in [
            &self.rep,
            &self.publ,
            &self.a.req,
            &self.a.sub,
            &self.b.req,
            &self.b.sub,
        ] {
            s.close();
        }
    }
}

impl Lab {
    /// The namespaces, links and sockets; `None` (after printing SKIPPED)
    /// when namespaces cannot be made and `NANOSP_REQUIRE_PEERS` is not 1.
    async fn new() -> Option<Lab> {
        let ns = match Namespaces::create(&["h", "a", "b"]) {
            Ok(ns) => ns,
            Err(why) if std::env::var("NANOSP_REQUIRE_PEERS").as_deref() != Ok("1") => {
                println!("SKIPPED: cannot create network namespaces ({why})");
                return None;
            }
            Err(why) => panic!("cannot create network namespaces: {why}"),
        };
        let (h, a, b) = (&ns.0[0], &ns.0[1], &ns.0[2]);
        ip(&[
            "-n", h, "link", "add", "ha", "type", "veth", "peer", "name", "ah", "netns", a,
        ]);
        ip(&[
            "-n", h, "link", "add", "hb", "type", "veth", "peer", "name", "bh", "netns", b,
        ]);
        for (n, dev, addr) in [
            (h, "ha", "10.231.1.1/24"),
            (h, "hb", "10.231.2.1/24"),
            (a, "ah", "10.231.1.2/24"),
            (b, "bh", "10.231.2.2/24"),
        ] {
            ip(&["-n", n, "addr", "add", addr, "dev", dev]);
            ip(&["-n", n, "link", "set", dev, "up"]);
        }
        let rts = [
            NsRuntime::enter(h),
            NsRuntime::enter(a),
            NsRuntime::enter(b),
        ];

        let rep = rts[0].socket(Protocol::Rep0);
        rep.listen("tcp://*:5555").await.unwrap();
        let publ = rts[0].socket(Protocol::Pub0);
        publ.listen("tcp://*:5556").await.unwrap();
        let server = rep.clone();
        tokio::spawn(async move {
            while let Ok(m) = server.recv().await {
                let _ = server.send(m).await;
            }
        });
        let p = publ.clone();
        tokio::spawn(async move {
            for seq in 1u64.. {
                if p.is_closed() {
                    break;
                }
                let _ = p.try_send(Message::from(&seq.to_be_bytes()[..]));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });

        // A REQ and a SUB in each client namespace, dialing the hub's
        // address on their link.
        let client = |rt: &NsRuntime, hub: &str| {
            let req = rt.socket(Protocol::Req0);
            req.set_opt(SockOpt::RecvTimeout(Some(3 * LIMIT))).unwrap();
            req.set_opt(SockOpt::ReqResendTime(Some(Duration::from_secs(1))))
                .unwrap();
            req.dial_nonblocking(&format!("tcp://{hub}:5555")).unwrap();
            let sub = rt.socket(Protocol::Sub0);
            sub.subscribe(b"").unwrap();
            sub.dial_nonblocking(&format!("tcp://{hub}:5556")).unwrap();
            let seen = collect(&sub);
            Client { req, sub, seen }
        };
        let (ca, cb) = (client(&rts[1], "10.231.1.1"), client(&rts[2], "10.231.2.1"));
        for c in [&ca, &cb] {
            pipes(&c.req, 1).await;
            pipes(&c.sub, 1).await;
            ask(&c.req, "hello").await;
            until("first publications", || !c.seen.lock().unwrap().is_empty()).await;
        }
        Some(Lab {
            rep,
            publ,
            a: ca,
            b: cb,
            _rts: rts,
            ns,
        })
    }

    /// Sets H's end of the link to A down or up.
    fn link_to_a(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.ns.0[0], "link", "set", "ha", state]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_link_is_detected_and_everything_recovers() {
    let Some(lab) = Lab::new().await else { return };
    let (rep, publ) = (&lab.rep, &lab.publ);
    let (req_a, sub_a, seen_a) = (&lab.a.req, &lab.a.sub, &lab.a.seen);
    let (req_b, sub_b, seen_b) = (&lab.b.req, &lab.b.sub, &lab.b.seen);

    // Cut the link to A at the hub's end: no FIN, no RST, packets just vanish.
    lab.link_to_a(false);
    let cut = Instant::now();
    // A request goes out on the dead connection and stays unanswered.
    req_a.send(Message::from("in flight")).await.unwrap();
    let r = req_a.clone();
    let in_flight = tokio::spawn(async move { r.recv().await });
    // B is served all along.
    ask(req_b, "B during the cut").await;
    let b_then = last(seen_b);
    until("B's subscriber still fed", || last(seen_b) >= b_then + 10).await;
    // Both ends notice the dead connections (keepalive, user timeout).
    until("A noticed the cut", || {
        req_a.pipes().is_empty() && sub_a.pipes().is_empty()
    })
    .await;
    let detected = cut.elapsed();
    until("the hub noticed the cut", || {
        rep.pipes().len() == 1 && publ.pipes().len() == 1
    })
    .await;
    let hub_detected = cut.elapsed();
    assert!(!in_flight.is_finished(), "answered across a cut link?");
    let a_before = last(seen_a);

    // Restore the link: A redials by itself, the request is resent and
    // answered, and A's subscriber gets new publications.
    lab.link_to_a(true);
    let restored = Instant::now();
    let reply = tokio::time::timeout(3 * LIMIT, in_flight)
        .await
        .expect("the in-flight request was never answered")
        .unwrap()
        .expect("the in-flight request failed");
    assert_eq!(reply.body(), b"in flight");
    let answered = restored.elapsed();
    until("A's subscriber fed again", || last(seen_a) > a_before + 5).await;
    let fed = restored.elapsed();
    ask(req_a, "A after the cut").await;
    ask(req_b, "B after the cut").await;

    let (ra, sa) = (req_a.stats(), sub_a.stats());
    assert!(ra.reconnects >= 1 && sa.reconnects >= 1, "{ra:?} {sa:?}");
    assert!(ra.pipes_removed >= 1 && sa.pipes_removed >= 1);
    assert_eq!(req_b.stats().pipes_removed, 0, "B's connection survived");
    assert_eq!(sub_b.stats().pipes_removed, 0);
    let seen = seen_a.lock().unwrap().clone();
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "A's messages in order"
    );
    println!(
        "partition: A noticed the cut after {:.1} s, the hub after {:.1} s; after the \
         link came back the in-flight request was answered in {:.1} s and A's SUB was \
         fed again in {:.1} s",
        detected.as_secs_f64(),
        hub_detected.as_secs_f64(),
        answered.as_secs_f64(),
        fed.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_cut_is_ridden_out() {
    let Some(lab) = Lab::new().await else { return };
    let (req_a, sub_a, seen_a) = (&lab.a.req, &lab.a.sub, &lab.a.seen);

    // A 500 ms outage (the scenario, not a wait for anything): well under
    // the 3 s user timeout, so TCP's retransmissions carry the traffic over.
    lab.link_to_a(false);
    req_a.send(Message::from("across a glitch")).await.unwrap();
    let during = last(seen_a);
    tokio::time::sleep(Duration::from_millis(500)).await;
    lab.link_to_a(true);
    assert_eq!(req_a.recv().await.unwrap().body(), b"across a glitch");
    until("A's subscriber caught up", || last(seen_a) > during + 30).await;

    let (ra, sa) = (req_a.stats(), sub_a.stats());
    assert_eq!(ra.pipes_removed + sa.pipes_removed, 0, "{ra:?} {sa:?}");
    assert_eq!(ra.reconnects + sa.reconnects, 0);
    let seen = seen_a.lock().unwrap().clone();
    assert!(
        seen.windows(2).all(|w| w[1] == w[0] + 1),
        "A's subscriber missed or reordered messages: {seen:?}"
    );
    println!("short cut: {} publications, none missed", seen.len());
}
