//! Fault injection over inproc: peers die mid-stream; nothing the
//! application handed over goes missing without being counted.

mod common;

use common::{rt, url};
use nanosp_core::{Error, Message, Protocol, Socket};

/// PUSH to three PULLs; one PULL dies mid-stream. Every message the PUSH
/// accepted was received by a live PULL, taken by the dead one before it
/// died, or counted as lost on the pipe that died.
#[test]
fn push_to_three_pulls_with_one_killed_loses_nothing_uncounted() {
    let r = rt();
    let push = Socket::new(Protocol::Push0, r.clone());
    let pulls: Vec<_> = (0..3)
        .map(|i| {
            let p = Socket::new(Protocol::Pull0, r.clone());
            let u = url(&format!("fault{i}"));
            p.listen(&u).unwrap();
            push.dial(&u).unwrap();
            p
        })
        .collect();
    let (mut sent, mut got) = (0u64, 0u64);
    let mut seen = std::collections::BTreeSet::new();
    let mut dead_taken = 0;
    for i in 0..3000u32 {
        match push.try_send(Message::from(&i.to_be_bytes()[..])) {
            Ok(()) => sent += 1,
            Err(e) => assert_eq!(e.error, Error::WouldBlock),
        }
        if i == 1000 {
            // Kill PULL #1 with messages in flight; what its socket had taken
            // from the pipe before dying counts as delivered to it.
            dead_taken = pulls[1].stats().msgs_in;
            pulls[1].close();
        }
        // The live ones read at different speeds; the dead one never again.
        for (k, p) in pulls.iter().enumerate() {
            if k == 1 || (k == 2 && i % 3 != 0) {
                continue;
            }
            while let Ok(m) = p.try_recv() {
                got += 1;
                assert!(seen.insert(m.body().to_vec()), "delivered twice");
            }
        }
    }
    for p in [&pulls[0], &pulls[2]] {
        while let Ok(m) = p.try_recv() {
            got += 1;
            assert!(seen.insert(m.body().to_vec()), "delivered twice");
        }
    }
    let lost = push.stats().lost;
    assert!(
        lost > 0 || dead_taken > 0,
        "the dead pipe had something in flight"
    );
    assert_eq!(
        sent,
        got + dead_taken + lost,
        "sent = received + taken by the dead + lost"
    );
    assert_eq!(push.pipes().len(), 2);
}

/// REQ clients keep getting exactly one reply per request while their REP
/// server is killed and restarted under the same name.
#[test]
fn req_clients_survive_a_rep_restart() {
    use futures::executor::LocalPool;
    use futures::task::LocalSpawnExt;
    use std::cell::RefCell;
    use std::rc::Rc;
    let r = rt();
    let u = url("restart");
    let mut pool = LocalPool::new();
    let sp = pool.spawner();
    let server = Rc::new(RefCell::new(Socket::new(Protocol::Rep0, r.clone())));
    server.borrow().listen(&u).unwrap();
    let done = Rc::new(RefCell::new(Vec::new()));
    for c in 0..20u32 {
        let req = Socket::new(Protocol::Req0, r.clone());
        req.dial(&u).unwrap();
        let d = done.clone();
        sp.spawn_local(async move {
            for k in 0..5u32 {
                let tag = (c << 8 | k).to_be_bytes();
                req.send(Message::from(&tag[..])).await.unwrap();
                let a = req.recv().await.unwrap();
                assert_eq!(a.body(), tag, "client {c} request {k}");
            }
            d.borrow_mut().push(c);
        })
        .unwrap();
    }
    let mut served = 0;
    let mut restarted = false;
    loop {
        pool.run_until_stalled();
        if done.borrow().len() == 20 {
            break;
        }
        let s = server.borrow().clone();
        match s.try_recv() {
            Ok(q) => {
                served += 1;
                if served == 30 && !restarted {
                    // Killed holding a request: its client must resend.
                    s.close();
                    let fresh = Socket::new(Protocol::Rep0, r.clone());
                    fresh.listen(&u).unwrap();
                    *server.borrow_mut() = fresh;
                    restarted = true;
                    continue;
                }
                s.try_send(q).unwrap();
            }
            Err(Error::WouldBlock) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert!(restarted);
    assert!(
        served >= 100,
        "every request answered (plus resends): {served}"
    );
}
