//! Load and soak over TCP on loopback, `NANOSP_SOAK_SECS` seconds each
//! (default 10; the long run is `NANOSP_SOAK_SECS=60 cargo test --release
//! -p nanosp --test soak -- --nocapture`):
//!
//! * 500 REQ clients, each with its own socket and connection, against one
//!   REP served by 16 contexts: no error, every reply right, no connection
//!   lost, resident memory after warm-up (the first fifth) flat within 10 %.
//! * One PUB to 200 SUBs, one of them deliberately slow (it takes a message
//!   every 5 ms), plus a stalled peer (handshakes, then never reads): the
//!   PUB publishes bursts as fast as the 199 fast subscribers take them, and
//!   they get every message in order. The slow SUB's queue overflows and
//!   its drops are counted in its stats; the stalled peer's pipe fills and
//!   the PUB counts what it evicts there (socket and pipe stats); the fast
//!   ones' pipes drop nothing.
//!
//! The two tests take turns (a lock): memory is measured for the process.
//! Figures are printed, not asserted (speed depends on the machine).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use nanosp::{Message, Protocol, SockOpt, Socket};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn soak_time() -> Duration {
    let secs = std::env::var("NANOSP_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(10);
    Duration::from_secs(secs.max(1))
}

/// Resident set size of this process, in KiB (VmRSS).
fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// Raises the soft descriptor limit to the hard one (500 clients need over
/// 1000 descriptors; many systems start with a soft limit of 1024).
#[allow(unsafe_code)]
fn raise_nofile(want: u64) {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut l), 0);
        if l.rlim_cur < want {
            l.rlim_cur = l.rlim_max;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &l), 0);
        }
        assert!(l.rlim_cur >= want, "RLIMIT_NOFILE hard limit below {want}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_req_clients_against_one_rep() {
    let _turn = ONE_AT_A_TIME.lock().await;
    const CLIENTS: usize = 500;
    const CONTEXTS: usize = 16;
    raise_nofile(2 * CLIENTS as u64 + 200);
    let total = soak_time();

    let rep = Socket::new(Protocol::Rep0);
    let l = rep.listen("tcp://127.0.0.1:0").await.unwrap();
    let url = l.url().to_string();
    for _ in 0..CONTEXTS {
        let ctx = rep.context().unwrap();
        tokio::spawn(async move {
            while let Ok(m) = ctx.recv().await {
                if ctx.send(m).await.is_err() {
                    break;
                }
            }
        });
    }

    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let mut clients = Vec::new();
    let mut tasks = Vec::new();
    for id in 0..CLIENTS {
        let req = Socket::new(Protocol::Req0);
        // A lost reply shows as an error instead of a hang.
        req.set_opt(SockOpt::RecvTimeout(Some(LIMIT))).unwrap();
        req.set_opt(SockOpt::SendTimeout(Some(LIMIT))).unwrap();
        req.dial(&url).await.unwrap();
        clients.push(req.clone());
        let (stop, errors, first_error) = (stop.clone(), errors.clone(), first_error.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let body = format!("client {id} request {done}");
                let r = match req.send(Message::from(body.as_bytes())).await {
                    Ok(()) => req.recv().await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.error.to_string()),
                };
                match r {
                    Ok(m) if m.body() == body.as_bytes() => done += 1,
                    other => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        let what = match other {
                            Ok(m) => format!("wrong reply {:?}", m.body()),
                            Err(e) => e,
                        };
                        first_error
                            .lock()
                            .unwrap()
                            .get_or_insert(format!("client {id}: {what}"));
                        break;
                    }
                }
            }
            done
        }));
    }
    until("every client connected", || rep.pipes().len() >= CLIENTS).await;

    let t0 = Instant::now();
    let warm_up = total / 5;
    tokio::time::sleep(warm_up).await;
    let rss_warm = rss_kib();
    let mut rss_max = rss_warm;
    while t0.elapsed() < total {
        tokio::time::sleep(Duration::from_millis(250)).await;
        rss_max = rss_max.max(rss_kib());
    }
    let rss_end = rss_kib();
    stop.store(true, Ordering::Relaxed);
    let mut per_client = Vec::new();
    for t in tasks {
        per_client.push(tokio::time::timeout(LIMIT, t).await.unwrap().unwrap());
    }
    let elapsed = t0.elapsed();
    let requests: u64 = per_client.iter().sum();
    let st = rep.stats();
    println!(
        "soak REQ/REP: {CLIENTS} clients, {requests} requests in {:.1} s ({:.0}/s), \
         fewest per client {}, RSS after warm-up {rss_warm} KiB, end {rss_end} KiB, max {rss_max} KiB",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
        per_client.iter().min().unwrap(),
    );
    assert_eq!(
        errors.load(Ordering::Relaxed),
        0,
        "{:?}",
        first_error.lock().unwrap()
    );
    assert!(per_client.iter().all(|&n| n > 0), "a client was starved");
    assert_eq!(st.pipes_removed, 0, "a connection was lost: {st:?}");
    assert_eq!(st.protocol_errors + st.handshake_failures, 0, "{st:?}");
    assert_eq!(st.drops, 0, "{st:?}");
    let drift = (rss_end as f64 - rss_warm as f64) / rss_warm as f64;
    assert!(
        drift.abs() <= 0.10,
        "RSS moved {:.1} % after warm-up ({rss_warm} -> {rss_end} KiB)",
        drift * 100.0
    );
    for c in clients {
        c.close();
    }
    rep.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_to_two_hundred_subs_one_slow() {
    let _turn = ONE_AT_A_TIME.lock().await;
    const SUBS: usize = 200;
    const FAST: usize = SUBS - 1;
    // A burst fits a fast subscriber's empty queue (send-buffer 16).
    const BURST: u64 = 8;
    const SIZE: usize = 1024;
    raise_nofile(2 * SUBS as u64 + 200);
    let total = soak_time();

    let publ = Socket::new(Protocol::Pub0);
    let l = publ.listen("tcp://127.0.0.1:0").await.unwrap();
    let url = l.url().to_string();

    // The slow subscriber connects first, so its pipe is the first one
    // (there are SUBS subscribers and the stalled peer).
    let slow = Socket::new(Protocol::Sub0);
    slow.subscribe(b"").unwrap();
    slow.dial(&url).await.unwrap();
    until("the slow subscriber", || publ.pipes().len() == 1).await;
    let slow_pipe = publ.pipes()[0].id;
    // The stalled peer: a small receive buffer, so its pipe fills soon.
    let stalled = {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_recv_buffer_size(4096).unwrap();
        s.connect(&l.local_addr().unwrap().into()).unwrap();
        let mut s = std::net::TcpStream::from(s);
        use std::io::{Read, Write};
        s.write_all(&[0, b'S', b'P', 0, 0, 0x21, 0, 0]).unwrap();
        let mut h = [0u8; 8];
        s.read_exact(&mut h).unwrap();
        s
    };
    until("the stalled peer", || publ.pipes().len() == 2).await;
    let stalled_pipe = publ.pipes().iter().find(|p| p.id != slow_pipe).unwrap().id;

    // Fast subscribers count in `done` when they hold the burst's last
    // message (`target`); the last of them wakes the publisher.
    let target = Arc::new(AtomicU64::new(u64::MAX));
    let done = Arc::new(AtomicUsize::new(0));
    let all_in = Arc::new(tokio::sync::Notify::new());
    let gaps = Arc::new(AtomicU64::new(0));
    let mut subs = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..FAST {
        let s = Socket::new(Protocol::Sub0);
        s.subscribe(b"").unwrap();
        s.dial(&url).await.unwrap();
        subs.push(s.clone());
        let (target, done, all_in, gaps) =
            (target.clone(), done.clone(), all_in.clone(), gaps.clone());
        tasks.push(tokio::spawn(async move {
            let mut next = 0u64;
            while let Ok(m) = s.recv().await {
                let seq = u64::from_be_bytes(m.body()[..8].try_into().unwrap());
                if seq != next {
                    gaps.fetch_add(1, Ordering::Relaxed);
                }
                next = seq + 1;
                if seq == target.load(Ordering::Acquire)
                    && done.fetch_add(1, Ordering::AcqRel) + 1 == FAST
                {
                    all_in.notify_one();
                }
            }
            next
        }));
    }
    // The slow subscriber takes one message every 5 ms.
    let slow_task = {
        let s = slow.clone();
        tokio::spawn(async move {
            let (mut got, mut last) = (0u64, None::<u64>);
            let mut in_order = true;
            while let Ok(m) = s.recv().await {
                let seq = u64::from_be_bytes(m.body()[..8].try_into().unwrap());
                in_order &= last.is_none_or(|l| seq > l);
                last = Some(seq);
                got += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (got, in_order)
        })
    };
    until("every subscriber", || publ.pipes().len() == SUBS + 1).await;

    let t0 = Instant::now();
    let mut seq = 0u64;
    let mut body = vec![0u8; SIZE];
    // At least `total`, and on until both slow peers have overflowed (the
    // kernel buffers a few MB for the stalled one first).
    let overflowed = || {
        slow.stats().drops_queue_full > 0
            && publ.pipe_stats(stalled_pipe).is_some_and(|p| p.evicted > 0)
    };
    while t0.elapsed() < total || !overflowed() {
        assert!(
            t0.elapsed() < total + 3 * LIMIT,
            "no overflow: {:?}",
            publ.stats()
        );
        done.store(0, Ordering::Release);
        target.store(seq + BURST - 1, Ordering::Release);
        for _ in 0..BURST {
            body[..8].copy_from_slice(&seq.to_be_bytes());
            // PUB never waits: a full queue drops its oldest message.
            publ.try_send(Message::from(&body[..])).unwrap();
            seq += 1;
        }
        tokio::time::timeout(LIMIT, all_in.notified())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "fast subscribers stalled: {} of {FAST} have message {}",
                    done.load(Ordering::Relaxed),
                    seq - 1
                )
            });
    }
    let elapsed = t0.elapsed();
    let st = publ.stats();
    let stalled_stats = publ.pipe_stats(stalled_pipe).expect("stalled pipe open");
    let fast_evicted: u64 = publ
        .pipes()
        .iter()
        .filter(|p| p.id != stalled_pipe)
        .map(|p| publ.pipe_stats(p.id).unwrap().evicted)
        .sum();
    let slow_st = slow.stats();
    drop(stalled);
    for s in &subs {
        s.close();
    }
    slow.close();
    let mut received = Vec::new();
    for t in tasks {
        received.push(tokio::time::timeout(LIMIT, t).await.unwrap().unwrap());
    }
    let (slow_got, slow_in_order) = tokio::time::timeout(LIMIT, slow_task)
        .await
        .unwrap()
        .unwrap();
    println!(
        "soak PUB/SUB: {seq} messages of {SIZE} B to {SUBS} subscribers in {:.1} s: \
         {:.0} msgs/s per fast SUB; slow SUB got {slow_got}, dropped {} (drops_queue_full); \
         PUB dropped {} for the stalled peer (pipe evicted; PUB drops_queue_full {})",
        elapsed.as_secs_f64(),
        seq as f64 / elapsed.as_secs_f64(),
        slow_st.drops_queue_full,
        stalled_stats.evicted,
        st.drops_queue_full,
    );
    assert_eq!(
        gaps.load(Ordering::Relaxed),
        0,
        "a fast subscriber lost messages"
    );
    assert!(
        received.iter().all(|&n| n == seq),
        "fast subscribers got all {seq}"
    );
    assert_eq!(fast_evicted, 0, "a fast subscriber's pipe dropped messages");
    assert!(slow_st.drops_queue_full > 0, "the slow SUB dropped nothing");
    assert!(slow_got > 0 && slow_got < seq && slow_in_order);
    assert!(
        stalled_stats.evicted > 0,
        "nothing dropped for the stalled peer"
    );
    assert_eq!(st.drops_queue_full, stalled_stats.evicted, "{st:?}");
    assert_eq!(st.pipes_removed, 0, "a subscriber was disconnected: {st:?}");
    publ.close();
}
