//! A TCP listener that runs out of file descriptors keeps running: its
//! accept loop counts the failure (`accept_errors`), pauses with a growing
//! back-off instead of spinning, and serves the waiting peer and new ones
//! once descriptors free up.
//!
//! This binary holds this one test because it lowers `RLIMIT_NOFILE` for
//! its whole process.

mod common;

use std::fs::File;
use std::io::Read;
use std::time::{Duration, Instant};

use common::*;
use nanosp::{Message, Protocol, SockOpt, Socket};

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64
}

/// Lowers the soft descriptor limit of this process to `n`.
#[allow(unsafe_code)]
fn set_soft_nofile(n: u64) {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut l), 0);
        l.rlim_cur = n.min(l.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &l), 0);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn listener_survives_running_out_of_descriptors() {
    set_soft_nofile(open_fds() + 64);
    let rep = Socket::new(Protocol::Rep0);
    let l = rep.listen("tcp://127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server = rep.clone();
    tokio::spawn(async move {
        while let Ok(m) = server.recv().await {
            let _ = server.send(m).await;
        }
    });

    // Take every descriptor but one.
    let mut filler = Vec::new();
    let err = loop {
        match File::open("/dev/null") {
            Ok(f) => filler.push(f),
            Err(e) => break e,
        }
    };
    assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
    drop(filler.pop());

    // The peer's socket takes the last one; the connection waits in the
    // listener's backlog and every accept fails with EMFILE.
    let mut peer = std::net::TcpStream::connect(addr).unwrap();
    until("a first accept error", || rep.stats().accept_errors >= 2).await;
    let t2 = Instant::now();
    until("more accept errors", || rep.stats().accept_errors >= 5).await;
    // Errors 2..5 are 20 + 40 + 80 ms of pauses apart: a loop that retried
    // at once would have made thousands by now.
    assert!(
        t2.elapsed() >= Duration::from_millis(100),
        "accept retried without pausing: {:?}",
        rep.stats()
    );
    assert!(rep.pipes().is_empty());

    // Descriptors come back: the waiting peer is accepted and gets our SP
    // header (REP, 0x31), and a new client is served.
    drop(filler);
    peer.set_read_timeout(Some(LIMIT)).unwrap();
    let mut h = [0u8; 8];
    tokio::task::spawn_blocking(move || peer.read_exact(&mut h).map(|_| h))
        .await
        .unwrap()
        .map(|h| assert_eq!(h, [0, b'S', b'P', 0, 0, 0x31, 0, 0]))
        .expect("the waiting peer was not accepted");
    let req = Socket::new(Protocol::Req0);
    req.set_opt(SockOpt::RecvTimeout(Some(LIMIT))).unwrap();
    req.dial(l.url()).await.unwrap();
    req.send(Message::from("still there?")).await.unwrap();
    assert_eq!(req.recv().await.unwrap().body(), b"still there?");
    let errors = rep.stats().accept_errors;
    assert!(errors >= 5, "{errors}");
    println!("accept errors while out of descriptors: {errors}");
}
