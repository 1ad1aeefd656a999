//! nanosp demo: the core's protocols over `inproc://`, across threads, with
//! no configuration and no network.
//!
//! Run it with `cargo run --release -p nanosp-examples --bin demo`.

use std::thread;
use std::time::Instant as StdInstant;

use futures::executor::block_on;
use nanosp_core::{testing::VirtualRuntime, Message, Protocol, Socket};

type Sock = Socket<VirtualRuntime>;

fn main() {
    // inproc needs no timers; the virtual runtime stands in for tokio here.
    let rt = VirtualRuntime::new(1);

    println!("== PAIR1 ping-pong across two threads ==");
    let a = Sock::new(Protocol::Pair1, rt.clone());
    let b = Sock::new(Protocol::Pair1, rt.clone());
    a.listen("inproc://demo-pair").unwrap();
    b.dial("inproc://demo-pair").unwrap();
    let n = 100_000;
    let echo = thread::spawn(move || {
        block_on(async {
            for _ in 0..n {
                let m = a.recv().await.unwrap();
                a.send(m).await.unwrap();
            }
        })
    });
    let t0 = StdInstant::now();
    block_on(async {
        let mut m = Message::from("ping");
        for _ in 0..n {
            b.send(m).await.unwrap();
            m = b.recv().await.unwrap();
        }
        assert_eq!(m.body(), b"ping");
    });
    echo.join().unwrap();
    let dt = t0.elapsed();
    println!(
        "{n} round trips in {:.1} ms ({:.2} us per round trip, indicative only)",
        dt.as_secs_f64() * 1e3,
        dt.as_secs_f64() * 1e6 / n as f64
    );

    println!("\n== PUB/SUB with topics ==");
    let publ = Sock::new(Protocol::Pub0, rt.clone());
    publ.listen("inproc://demo-pub").unwrap();
    let weather = Sock::new(Protocol::Sub0, rt.clone());
    let everything = Sock::new(Protocol::Sub0, rt.clone());
    for s in [&weather, &everything] {
        s.dial("inproc://demo-pub").unwrap();
    }
    weather.subscribe(b"weather").unwrap();
    everything.subscribe(b"").unwrap();
    for text in ["weather: sunny", "sport: 2-1", "weather: rain"] {
        publ.try_send(Message::from(text)).unwrap();
    }
    while let Ok(m) = weather.try_recv() {
        println!("weather sub  <- {}", String::from_utf8_lossy(m.body()));
    }
    while let Ok(m) = everything.try_recv() {
        println!("catch-all sub <- {}", String::from_utf8_lossy(m.body()));
    }

    println!("\n== PUSH to two PULL workers ==");
    let push = Sock::new(Protocol::Push0, rt.clone());
    let jobs = 1000;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    let mut pulls = Vec::new();
    for w in 0..2 {
        let pull = Sock::new(Protocol::Pull0, rt.clone());
        let url = format!("inproc://demo-worker-{w}");
        pull.listen(&url).unwrap();
        push.dial(&url).unwrap();
        pulls.push(pull.clone());
        let done = done.clone();
        workers.push(thread::spawn(move || {
            block_on(async {
                let mut got = 0;
                // Runs until the socket is closed, once all jobs are done.
                while pull.recv().await.is_ok() {
                    got += 1;
                    done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                got
            })
        }));
    }
    block_on(async {
        for i in 0..jobs as u32 {
            push.send(Message::from(&i.to_be_bytes()[..]))
                .await
                .unwrap();
        }
    });
    while done.load(std::sync::atomic::Ordering::SeqCst) < jobs {
        thread::yield_now();
    }
    for p in &pulls {
        p.close();
    }
    for (w, h) in workers.into_iter().enumerate() {
        println!("worker {w} took {} jobs", h.join().unwrap());
    }
    println!("push stats: {:?}", push.stats());
}
