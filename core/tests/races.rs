//! Regression tests for races and re-entrancy found in review: real threads,
//! deterministic outcomes (timeouts only as safety nets).

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{rt, url};
use futures::executor::block_on;
use nanosp_core::{Error, Message, PipeEvent, Protocol, SockOpt, Socket};

/// The peer closes while our pump runs on another thread: the pipe must
/// still be removed.
#[test]
fn close_during_pump_does_not_leak_the_pipe() {
    let r = rt();
    for i in 0..200 {
        let pull = Socket::new(Protocol::Pull0, r.clone());
        pull.set_opt(SockOpt::RecvBuffer(8192)).unwrap();
        let push = Socket::new(Protocol::Push0, r.clone());
        let u = url("leak");
        pull.listen(&u).unwrap();
        push.dial(&u).unwrap();
        let p2 = push.clone();
        let sent = Arc::new(AtomicUsize::new(0));
        let s2 = sent.clone();
        let t = thread::spawn(move || loop {
            match p2.try_send(Message::from("x")) {
                Ok(()) => {
                    s2.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) if e.error == Error::Closed => break,
                Err(_) => thread::yield_now(),
            }
        });
        while sent.load(Ordering::Relaxed) < 10 + (i % 7) * 13 {
            std::hint::spin_loop();
        }
        push.close();
        t.join().unwrap();
        assert!(pull.pipes().is_empty(), "run {i}: PULL kept a dead pipe");
    }
}

/// Found under valgrind (whose scheduler let the sender above fill PULL's
/// whole receive queue first): a pipe parked because its socket had no room
/// was not woken when its peer closed, so the dead pipe stayed until the
/// application's next receive. Closure now wakes a parked pipe.
#[test]
fn a_parked_pipe_goes_when_its_peer_closes() {
    let r = rt();
    let pull = Socket::new(Protocol::Pull0, r.clone());
    pull.set_opt(SockOpt::RecvBuffer(2)).unwrap();
    let push = Socket::new(Protocol::Push0, r);
    let u = url("parked");
    pull.listen(&u).unwrap();
    push.dial(&u).unwrap();
    let mut sent = 0u64;
    while push.try_send(Message::from("x")).is_ok() {
        sent += 1;
        assert!(sent < 10_000, "PUSH never blocked");
    }
    assert_eq!(
        pull.stats().msgs_in,
        2,
        "PULL's queue is full, the pipe parked"
    );
    assert_eq!(pull.pipes().len(), 1);
    push.close();
    assert!(
        pull.pipes().is_empty(),
        "the dead parked pipe is removed at once"
    );
    assert_eq!(pull.stats().msgs_in + push.stats().lost, sent, "accounted");
    assert!(pull.try_recv().is_ok() && pull.try_recv().is_ok());
}

/// Many filtered-out messages delivered in one pump turn must not leave a
/// waiting receiver stranded.
#[test]
fn filtered_bursts_do_not_strand_a_waiting_receiver() {
    let r = rt();
    for _ in 0..10 {
        let publ = Socket::new(Protocol::Pub0, r.clone());
        let sub = Socket::new(Protocol::Sub0, r.clone());
        sub.subscribe(b"yes").unwrap();
        let u = url("sub");
        publ.listen(&u).unwrap();
        sub.dial(&u).unwrap();
        let (tx, rx) = mpsc::channel();
        let s2 = sub.clone();
        let receiver = thread::spawn(move || {
            let _ = tx.send(block_on(s2.recv()).map(|m| m.body().to_vec()));
        });
        let stop = Arc::new(AtomicBool::new(false));
        let pubs: Vec<_> = (0..3)
            .map(|_| {
                let (p, st) = (publ.clone(), stop.clone());
                thread::spawn(move || {
                    for _ in 0..20_000 {
                        if st.load(Ordering::Relaxed) {
                            break;
                        }
                        let _ = p.try_send(Message::from("no"));
                    }
                })
            })
            .collect();
        for p in pubs {
            p.join().unwrap();
        }
        for _ in 0..40 {
            publ.try_send(Message::from("yes")).unwrap();
        }
        let got = rx.recv_timeout(Duration::from_secs(10));
        stop.store(true, Ordering::Relaxed);
        sub.close();
        receiver.join().unwrap();
        assert_eq!(got.expect("receiver woken").unwrap(), b"yes");
    }
}

/// A listener that closes unwanted pipes from its AddPost hook (the nng
/// idiom) must not send an inproc dialer into unbounded recursion.
#[test]
fn closing_hook_does_not_recurse() {
    let r = rt();
    let l = Socket::new(Protocol::Pair1, r.clone());
    let d = Socket::new(Protocol::Pair1, r);
    let u = url("hook");
    l.listen(&u).unwrap();
    let me = Mutex::new(Some(l.clone()));
    let seen = Arc::new(AtomicUsize::new(0));
    let s2 = seen.clone();
    l.set_pipe_hook(move |ev, info| {
        if ev == PipeEvent::AddPost {
            s2.fetch_add(1, Ordering::Relaxed);
            if let Some(s) = me.lock().unwrap().as_ref() {
                s.close_pipe(info.id);
            }
        }
        true
    });
    let _ = d.dial(&u);
    let n = seen.load(Ordering::Relaxed);
    assert!(n <= 3, "one dial caused {n} connections");
    l.close();
}

/// Found by tools/memcheck.sh (valgrind: the test above leaked its socket):
/// a hook holding a clone of its own socket is a cycle, so `close` drops the
/// hook, and a hook set on a closed socket is not kept.
#[test]
fn close_drops_the_pipe_hook_and_what_it_holds() {
    let l = Socket::new(Protocol::Pair1, rt());
    let held = Arc::new(());
    let (me, h2) = (l.clone(), held.clone());
    l.set_pipe_hook(move |_, _| {
        let _ = (&me, &h2);
        true
    });
    assert_eq!(Arc::strong_count(&held), 2);
    l.close();
    assert_eq!(
        Arc::strong_count(&held),
        1,
        "the hook (and its socket clone) is gone"
    );
    let h3 = held.clone();
    l.set_pipe_hook(move |_, _| {
        let _ = &h3;
        true
    });
    assert_eq!(
        Arc::strong_count(&held),
        1,
        "no hook kept on a closed socket"
    );
}

/// A dialer that refuses the connection must not make the listener lose the
/// messages it had queued for its next peer.
#[test]
fn refused_dialer_does_not_eat_the_listeners_queue() {
    let r = rt();
    let l = Socket::new(Protocol::Pair1, r.clone());
    l.set_opt(SockOpt::SendBuffer(4)).unwrap();
    let u = url("eat");
    l.listen(&u).unwrap();
    l.try_send(Message::from("a")).unwrap();
    l.try_send(Message::from("b")).unwrap();
    let m = Socket::new(Protocol::Pair1, r.clone());
    let d = Socket::new(Protocol::Pair1, r.clone());
    let u2 = url("other");
    m.listen(&u2).unwrap();
    d.dial(&u2).unwrap();
    assert_eq!(d.dial(&u), Err(Error::Busy), "d is paired already");
    let e = Socket::new(Protocol::Pair1, r);
    e.dial(&u).unwrap();
    assert_eq!(e.try_recv().unwrap().body(), b"a");
    assert_eq!(e.try_recv().unwrap().body(), b"b");
    assert_eq!(l.stats().lost, 0);
}
