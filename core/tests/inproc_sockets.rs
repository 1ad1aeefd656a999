//! Socket tests over inproc for every protocol of the core, with virtual
//! time: no sleeps, no network.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{pool, rt, url};
use futures::executor::block_on;
use futures::task::LocalSpawnExt;
use nanosp_core::{
    testing::VirtualRuntime, Error, Message, PipeEvent, Protocol, ProtocolError, Runtime, SockOpt,
    Socket,
};

type Sock = Socket<VirtualRuntime>;

fn pair(a: Protocol, b: Protocol, tag: &str) -> (Sock, Sock) {
    common::linked(a, b, tag)
}

#[test]
fn pair0_and_pair1_talk_both_ways() {
    for p in [Protocol::Pair0, Protocol::Pair1] {
        let (a, b) = pair(p, p, "pair");
        block_on(async {
            for i in 0..100u32 {
                b.send(Message::from(&i.to_be_bytes()[..])).await.unwrap();
                let m = a.recv().await.unwrap();
                assert_eq!(m.body(), i.to_be_bytes());
                assert!(m.header().is_empty(), "cooked receive hides the header");
                a.send(m).await.unwrap();
                assert_eq!(b.recv().await.unwrap().body(), i.to_be_bytes());
            }
        });
    }
}

#[test]
fn pair_refuses_a_second_peer_until_the_first_leaves() {
    let r = rt();
    let a = Socket::new(Protocol::Pair1, r.clone());
    let b = Socket::new(Protocol::Pair1, r.clone());
    let c = Socket::new(Protocol::Pair1, r);
    let u = url("busy");
    a.listen(&u).unwrap();
    b.dial(&u).unwrap();
    assert_eq!(c.dial(&u), Err(Error::Busy));
    c.dial_nonblocking(&u).unwrap();
    assert!(c.pipes().is_empty());
    b.close();
    assert_eq!(c.pipes().len(), 1, "waiting dialer took the freed slot");
    block_on(async {
        c.send(Message::from("late")).await.unwrap();
        assert_eq!(a.recv().await.unwrap().body(), b"late");
    });
}

#[test]
fn raw_pair1_exposes_hop_count() {
    let r = rt();
    let a = Socket::new_raw(Protocol::Pair1, r.clone());
    let b = Socket::new(Protocol::Pair1, r);
    let u = url("rawpair1");
    a.listen(&u).unwrap();
    b.dial(&u).unwrap();
    block_on(async {
        b.send(Message::from("x")).await.unwrap();
        let m = a.recv().await.unwrap();
        assert_eq!(m.header(), &[0, 0, 0, 1]);
        a.send(m).await.unwrap();
        assert_eq!(b.recv().await.unwrap().body(), b"x");
        assert_eq!(
            a.send(Message::from("no header")).await.unwrap_err().error,
            Error::Protocol(ProtocolError::MalformedHeader)
        );
    });
}

#[test]
fn push_spreads_round_robin_and_pull_fair_queues() {
    let r = rt();
    let push = Socket::new(Protocol::Push0, r.clone());
    let p1 = Socket::new(Protocol::Pull0, r.clone());
    let p2 = Socket::new(Protocol::Pull0, r.clone());
    let u1 = url("pp1");
    let u2 = url("pp2");
    p1.listen(&u1).unwrap();
    p2.listen(&u2).unwrap();
    push.dial(&u1).unwrap();
    push.dial(&u2).unwrap();
    block_on(async {
        for i in 0..20u8 {
            push.send(Message::from(&[i][..])).await.unwrap();
            let (a, b) = (p1.try_recv(), p2.try_recv());
            assert!(a.is_ok() ^ b.is_ok(), "exactly one pull got message {i}");
        }
        assert_eq!(p1.stats().msgs_in, 10);
        assert_eq!(p2.stats().msgs_in, 10);
    });

    // Fair queueing: two pushers with backlogs are served alternately.
    let pull = Socket::new(Protocol::Pull0, r.clone());
    let s1 = Socket::new(Protocol::Push0, r.clone());
    let s2 = Socket::new(Protocol::Push0, r);
    let u = url("fair");
    pull.listen(&u).unwrap();
    s1.dial(&u).unwrap();
    s2.dial(&u).unwrap();
    for i in 0..5u8 {
        s1.try_send(Message::from(&[1, i][..])).unwrap();
        s2.try_send(Message::from(&[2, i][..])).unwrap();
    }
    let got: Vec<u8> = (0..10)
        .map(|_| pull.try_recv().unwrap().body()[0])
        .collect();
    let alternations = got.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(alternations >= 8, "served alternately: {got:?}");
    assert_eq!(pull.try_recv(), Err(Error::WouldBlock));
}

/// Two pushers with backlogs behind a PULL whose receive queue is full: the
/// parked pipes are offered again once a receive has emptied half the
/// queue (a batch per retry, not one message and one refusal per receive),
/// they take turns, and every message arrives once, in its sender's order,
/// through `try_recv` and `try_recv_many` alike.
#[test]
fn parked_pipes_refill_a_full_queue_in_turns_and_lose_nothing() {
    for (cap, many) in [
        (1, false),
        (2, false),
        (3, false),
        (4, true),
        (16, false),
        (16, true),
    ] {
        let r = rt();
        let pull = Socket::new(Protocol::Pull0, r.clone());
        pull.set_opt(SockOpt::RecvBuffer(cap)).unwrap();
        let u = url(&format!("parked{cap}{many}"));
        pull.listen(&u).unwrap();
        let senders: Vec<Sock> = (0..2)
            .map(|_| {
                let s = Socket::new(Protocol::Push0, r.clone());
                s.set_opt(SockOpt::SendBuffer(64)).unwrap();
                s.dial(&u).unwrap();
                s
            })
            .collect();
        const EACH: usize = 20;
        for (k, s) in senders.iter().enumerate() {
            for i in 0..EACH {
                s.try_send(Message::from(&[k as u8, i as u8][..])).unwrap();
            }
        }
        assert_eq!(pull.stats().msgs_in, cap as u64, "the queue is full");
        let mut got: Vec<Message> = Vec::new();
        if many {
            assert_eq!(pull.try_recv_many(&mut got, 2 * EACH), 2 * EACH);
        } else {
            for n in 0..2 * EACH {
                let in_before = pull.stats().msgs_in;
                got.push(
                    pull.try_recv()
                        .unwrap_or_else(|e| panic!("message {n}: {e}")),
                );
                let refilled = pull.stats().msgs_in > in_before;
                // A refill when the queue is down to half (cap / 2), while
                // the backlog lasts.
                let h = cap - cap / 2;
                let expected = (n + 1) % h == 0 && n + 1 - h < 2 * EACH - cap;
                assert_eq!(refilled, expected, "cap {cap}, receive {n}");
            }
        }
        assert_eq!(pull.try_recv(), Err(Error::WouldBlock));
        let from = |m: &Message| m.body()[0];
        for k in 0..2u8 {
            let seq: Vec<u8> = got
                .iter()
                .filter(|m| from(m) == k)
                .map(|m| m.body()[1])
                .collect();
            assert_eq!(
                seq,
                (0..EACH as u8).collect::<Vec<_>>(),
                "cap {cap}: sender {k} in order"
            );
        }
        // After the first sender's queue-full, the parked pipes alternate
        // until the first sender's backlog runs out.
        let turns = &got[cap..cap + 2 * (EACH - cap)];
        assert!(
            turns.windows(2).all(|w| from(&w[0]) != from(&w[1])),
            "cap {cap}: parked pipes take turns: {:?}",
            got.iter().map(from).collect::<Vec<_>>()
        );
    }
}

/// The same for the other protocols whose receive queue refuses when full
/// (PAIR0, PAIR1, raw REP): a backlog several times the queue arrives
/// whole and in order through receives alone.
#[test]
fn a_backlog_behind_a_full_queue_arrives_whole_for_every_refusing_protocol() {
    for (tx, rx, raw_rx) in [
        (Protocol::Pair0, Protocol::Pair0, false),
        (Protocol::Pair1, Protocol::Pair1, false),
        (Protocol::Req0, Protocol::Rep0, true),
    ] {
        let r = rt();
        let b = if raw_rx {
            Socket::new_raw(rx, r.clone())
        } else {
            Socket::new(rx, r.clone())
        };
        b.set_opt(SockOpt::RecvBuffer(4)).unwrap();
        let a = Socket::new_raw(tx, r);
        let u = url(&format!("backlog{tx:?}"));
        b.listen(&u).unwrap();
        a.dial(&u).unwrap();
        // Sends until refused, receives one, and so on; then drains.
        let (mut sent, mut got) = (0u32, 0u32);
        let take = |b: &Sock, got: &mut u32| {
            let m = b
                .try_recv()
                .unwrap_or_else(|e| panic!("{tx:?}: message {got}: {e}"));
            assert_eq!(m.body(), got.to_be_bytes(), "{tx:?}: in order");
            *got += 1;
        };
        while sent < 40 {
            let mut m = Message::from(&sent.to_be_bytes()[..]);
            if tx == Protocol::Req0 {
                m.header_mut()
                    .extend_from_slice(&(0x8000_0000 | sent).to_be_bytes())
                    .unwrap();
            } else if tx == Protocol::Pair1 {
                m.header_mut().extend_from_slice(&[0, 0, 0, 0]).unwrap();
            }
            match a.try_send(m) {
                Ok(()) => sent += 1,
                Err(e) => {
                    assert_eq!(e.error, Error::WouldBlock, "{tx:?}");
                    assert!(sent >= 4 + 16, "{tx:?}: refused after {sent}");
                    take(&b, &mut got);
                }
            }
        }
        while got < 40 {
            take(&b, &mut got);
        }
        assert_eq!(b.try_recv(), Err(Error::WouldBlock), "{tx:?}");
    }
}

#[test]
fn push_without_peer_blocks_until_send_timeout() {
    let r = rt();
    let push = Socket::new(Protocol::Push0, r.clone());
    push.set_opt(SockOpt::SendTimeout(Some(Duration::from_millis(100))))
        .unwrap();
    let (mut pool, sp) = pool();
    let out = Rc::new(RefCell::new(None));
    let o = out.clone();
    let p = push.clone();
    sp.0.spawn_local(async move {
        *o.borrow_mut() = Some(p.send(Message::from("waiting")).await);
    })
    .unwrap();
    pool.run_until_stalled();
    assert!(out.borrow().is_none(), "send blocks with no peer");
    r.advance(Duration::from_millis(99));
    pool.run_until_stalled();
    assert!(out.borrow().is_none());
    r.advance(Duration::from_millis(1));
    pool.run_until_stalled();
    let e = out.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(e.error, Error::TimedOut);
    assert_eq!(e.message.body(), b"waiting", "the message is handed back");
}

#[test]
fn push_send_buffer_holds_n_then_blocks() {
    let r = rt();
    let push = Socket::new(Protocol::Push0, r.clone());
    push.set_opt(SockOpt::SendBuffer(3)).unwrap();
    for i in 0..3u8 {
        push.try_send(Message::from(&[i][..])).unwrap();
    }
    assert_eq!(
        push.try_send(Message::from("4th")).unwrap_err().error,
        Error::WouldBlock
    );
    // A peer arriving drains the buffer in order.
    let pull = Socket::new(Protocol::Pull0, r);
    let u = url("sendbuf");
    pull.listen(&u).unwrap();
    push.dial(&u).unwrap();
    block_on(async {
        for i in 0..3u8 {
            assert_eq!(pull.recv().await.unwrap().body(), [i]);
        }
    });
}

#[test]
fn blocked_send_resumes_when_the_peer_reads() {
    let r = rt();
    let (pull, push) = pair(Protocol::Pull0, Protocol::Push0, "resume");
    let _ = r;
    // Fill everything between them: the pull queue (1) and the pipe (16).
    let mut n = 0;
    while push.try_send(Message::from("x")).is_ok() {
        n += 1;
        assert!(n < 1000, "back-pressure must stop the sender");
    }
    let (mut pool, sp) = pool();
    let done = Rc::new(RefCell::new(false));
    let d = done.clone();
    let p = push.clone();
    sp.0.spawn_local(async move {
        p.send(Message::from("last")).await.unwrap();
        *d.borrow_mut() = true;
    })
    .unwrap();
    pool.run_until_stalled();
    assert!(!*done.borrow());
    pull.try_recv().unwrap();
    pool.run_until_stalled();
    assert!(*done.borrow(), "a receive made room and woke the sender");
    for i in 1..n {
        if let Err(e) = pull.try_recv() {
            panic!(
                "recv {i} of {n}: {e:?} {:?} {:?}",
                pull.stats(),
                push.stats()
            );
        }
    }
    assert_eq!(pull.try_recv().unwrap().body(), b"last");
}

#[test]
fn pub_sub_filters_and_sub_never_sends() {
    let r = rt();
    let publ = Socket::new(Protocol::Pub0, r.clone());
    let news = Socket::new(Protocol::Sub0, r.clone());
    let all = Socket::new(Protocol::Sub0, r.clone());
    let none = Socket::new(Protocol::Sub0, r);
    let u = url("pubsub");
    publ.listen(&u).unwrap();
    for s in [&news, &all, &none] {
        s.dial(&u).unwrap();
    }
    news.subscribe(b"news").unwrap();
    all.subscribe(b"").unwrap();
    for m in ["news: a", "sport: b", "news: c"] {
        publ.try_send(Message::from(m)).unwrap();
    }
    assert_eq!(news.try_recv().unwrap().body(), b"news: a");
    assert_eq!(news.try_recv().unwrap().body(), b"news: c");
    assert_eq!(news.try_recv(), Err(Error::WouldBlock));
    assert_eq!(all.stats().msgs_in, 3);
    assert_eq!(none.try_recv(), Err(Error::WouldBlock));
    assert_eq!(
        news.try_send(Message::from("x")).unwrap_err().error,
        Error::NotSupported
    );
    assert_eq!(publ.try_recv(), Err(Error::NotSupported));
    assert_eq!(news.stats().msgs_out, 0);
    news.unsubscribe(b"news").unwrap();
    assert_eq!(news.unsubscribe(b"news"), Err(Error::NotFound));
}

#[test]
fn pub_never_blocks_and_slow_sub_drops_are_counted() {
    let (publ, sub) = pair(Protocol::Pub0, Protocol::Sub0, "slowsub");
    sub.subscribe(b"").unwrap();
    sub.set_opt(SockOpt::RecvBuffer(4)).unwrap();
    for i in 0..100u32 {
        publ.try_send(Message::from(&i.to_be_bytes()[..])).unwrap();
    }
    // The subscriber kept the newest four and counted the rest as drops.
    assert_eq!(sub.stats().drops, 96);
    let first = sub.try_recv().unwrap();
    assert_eq!(first.body(), 96u32.to_be_bytes());
}

#[test]
fn close_wakes_a_pending_recv_and_send() {
    let r = rt();
    let s = Socket::new(Protocol::Pull0, r.clone());
    let p = Socket::new(Protocol::Push0, r);
    let (mut pool, sp) = pool();
    let got = Rc::new(RefCell::new(Vec::new()));
    for sock in [s.clone(), p.clone()] {
        let g = got.clone();
        sp.0.spawn_local(async move {
            let e = if sock.protocol() == Protocol::Pull0 {
                sock.recv().await.unwrap_err()
            } else {
                sock.send(Message::from("m")).await.unwrap_err().error
            };
            g.borrow_mut().push(e);
        })
        .unwrap();
    }
    pool.run_until_stalled();
    assert!(got.borrow().is_empty());
    s.close();
    p.close();
    pool.run_until_stalled();
    assert_eq!(*got.borrow(), vec![Error::Closed, Error::Closed]);
    assert_eq!(s.try_recv(), Err(Error::Closed));
}

#[test]
fn dropping_the_last_handle_closes_the_socket() {
    let r = rt();
    let u = url("drop");
    let l = Socket::new(Protocol::Pair0, r.clone());
    l.listen(&u).unwrap();
    drop(l);
    let d = Socket::new(Protocol::Pair0, r.clone());
    assert_eq!(d.dial(&u), Err(Error::ConnectionRefused));
    let l2 = Socket::new(Protocol::Pair0, r);
    l2.listen(&u).expect("the name is free again");
}

#[test]
fn inproc_errors() {
    let r = rt();
    let a = Socket::new(Protocol::Pair0, r.clone());
    let b = Socket::new(Protocol::Pair0, r.clone());
    let s = Socket::new(Protocol::Sub0, r);
    let u = url("errs");
    assert_eq!(a.dial(&u), Err(Error::ConnectionRefused));
    a.listen(&u).unwrap();
    assert_eq!(b.listen(&u), Err(Error::AddressInUse));
    assert_eq!(
        s.dial(&u),
        Err(Error::Protocol(ProtocolError::PeerMismatch {
            expected: 0x20,
            got: 0x10
        }))
    );
    assert!(matches!(a.dial("bogus"), Err(Error::AddressInvalid(_))));
    assert_eq!(
        a.dial("tcp://127.0.0.1:1"),
        Err(Error::TransportUnavailable)
    );
}

#[test]
fn inproc_dialer_reconnects_when_the_listener_comes_back() {
    let r = rt();
    let u = url("redial");
    let d = Socket::new(Protocol::Push0, r.clone());
    let l1 = Socket::new(Protocol::Pull0, r.clone());
    l1.listen(&u).unwrap();
    d.dial(&u).unwrap();
    d.try_send(Message::from("one")).unwrap();
    assert_eq!(l1.try_recv().unwrap().body(), b"one");
    l1.close();
    assert!(d.pipes().is_empty(), "the dialer saw its pipe go");
    assert_eq!(
        d.try_send(Message::from("lost?")).unwrap_err().error,
        Error::WouldBlock
    );
    let l2 = Socket::new(Protocol::Pull0, r);
    l2.listen(&u).unwrap();
    assert_eq!(d.pipes().len(), 1, "redialed without being asked");
    d.try_send(Message::from("two")).unwrap();
    assert_eq!(l2.try_recv().unwrap().body(), b"two");
    assert_eq!(d.stats().pipes_added, 2);
}

#[test]
fn pipe_hook_sees_events_and_can_reject() {
    let r = rt();
    let l = Socket::new(Protocol::Pair0, r.clone());
    let log = Arc::new(Mutex::new(Vec::new()));
    let lg = log.clone();
    let reject = Arc::new(Mutex::new(true));
    let rj = reject.clone();
    l.set_pipe_hook(move |ev, info| {
        lg.lock().unwrap().push((ev, info.dialed));
        !(ev == PipeEvent::AddPre && *rj.lock().unwrap())
    });
    let u = url("hook");
    l.listen(&u).unwrap();
    let d = Socket::new(Protocol::Pair0, r);
    assert_eq!(d.dial(&u), Err(Error::Rejected));
    assert_eq!(l.stats().pipes_rejected, 1);
    *reject.lock().unwrap() = false;
    d.dial(&u).unwrap();
    let p = l.pipes()[0].id;
    assert_ne!(p.0, 0);
    assert_eq!(p.0 & 0x8000_0000, 0, "31-bit pipe ids");
    l.close_pipe(p);
    let evs: Vec<PipeEvent> = log.lock().unwrap().iter().map(|e| e.0).collect();
    assert_eq!(
        evs[..4],
        [
            PipeEvent::AddPre,
            PipeEvent::AddPre,
            PipeEvent::AddPost,
            PipeEvent::RemPost
        ]
    );
}

#[test]
fn recv_timeout_in_virtual_time() {
    let r = rt();
    let s = Socket::new(Protocol::Pull0, r.clone());
    s.set_opt(SockOpt::RecvTimeout(Some(Duration::from_secs(2))))
        .unwrap();
    let (mut pool, sp) = pool();
    let out = Rc::new(RefCell::new(None));
    let o = out.clone();
    let s2 = s.clone();
    sp.0.spawn_local(async move { *o.borrow_mut() = Some(s2.recv().await) })
        .unwrap();
    pool.run_until_stalled();
    assert!(r.advance_to_next());
    pool.run_until_stalled();
    assert_eq!(out.borrow_mut().take(), Some(Err(Error::TimedOut)));
    assert_eq!(r.now().as_micros(), 2_000_000);
}

#[test]
fn options_are_validated() {
    let s = Socket::new(Protocol::Pair1, rt());
    assert_eq!(s.set_opt(SockOpt::TtlMax(0)), Err(Error::InvalidArgument));
    assert_eq!(s.set_opt(SockOpt::TtlMax(16)), Err(Error::InvalidArgument));
    s.set_opt(SockOpt::TtlMax(15)).unwrap();
    assert_eq!(s.options().ttl_max, 15);
    assert_eq!(s.options().recv_max_size, 1 << 20);
    assert_eq!(
        s.set_opt(SockOpt::SendBuffer(9000)),
        Err(Error::InvalidArgument)
    );
    assert_eq!(
        s.set_opt(SockOpt::Subscribe(b"x".to_vec())),
        Err(Error::NotSupported)
    );
    s.set_opt(SockOpt::parse("recv-size-max", "0").unwrap())
        .unwrap();
    assert_eq!(s.options().recv_max_size, 0);
}

#[test]
fn per_pipe_counters_and_drop_reasons() {
    let (sub, publ) = pair(Protocol::Sub0, Protocol::Pub0, "counters");
    sub.subscribe(b"").unwrap();
    sub.set_opt(SockOpt::RecvBuffer(2)).unwrap();
    for i in 0..5u8 {
        publ.try_send(Message::from(&[i; 10][..])).unwrap();
    }
    let p = publ.pipes()[0].id;
    let ps = publ.pipe_stats(p).unwrap();
    assert_eq!((ps.msgs_out, ps.bytes_out), (5, 50));
    let s = sub.pipes()[0].id;
    let ss = sub.pipe_stats(s).unwrap();
    assert_eq!((ss.msgs_in, ss.bytes_in), (5, 50));
    let st = sub.stats();
    assert_eq!(st.drops, 3);
    assert_eq!(st.drops_queue_full, 3);
    assert_eq!(st.drops_hop_limit + st.drops_stale + st.drops_unwanted, 0);
    assert!(publ.pipe_stats(nanosp_core::PipeId(0x7fff_fff0)).is_none());
}

/// Operation futures can move between threads (tokio::spawn needs it).
#[test]
fn operation_futures_are_send() {
    fn is_send<T: Send>(_: &T) {}
    let (a, b) = pair(Protocol::Pair1, Protocol::Pair1, "sendfut");
    let s = a.send(Message::from("x"));
    is_send(&s);
    let r = b.recv();
    is_send(&r);
    drop((s, r));
}
