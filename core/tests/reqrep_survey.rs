//! REQ/REP, SURVEYOR/RESPONDENT, BUS, STAR, contexts, raw mode and devices
//! over inproc, in virtual time.

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use common::{linked, pool, rt, url};
use futures::executor::block_on;
use futures::task::LocalSpawnExt;
use nanosp_core::{device, testing::VirtualRuntime, Error, Message, Protocol, SockOpt, Socket};

type Sock = Socket<VirtualRuntime>;

#[test]
fn req_rep_round_trip_and_state_errors() {
    let (rep, req) = linked(Protocol::Rep0, Protocol::Req0, "rr");
    block_on(async {
        assert_eq!(req.recv().await, Err(Error::ProtocolState));
        assert_eq!(
            rep.send(Message::from("x")).await.unwrap_err().error,
            Error::ProtocolState
        );
        for i in 0..50u32 {
            req.send(Message::from(&i.to_be_bytes()[..])).await.unwrap();
            let q = rep.recv().await.unwrap();
            assert!(q.header().is_empty());
            assert_eq!(q.body(), i.to_be_bytes());
            rep.send(q).await.unwrap();
            assert_eq!(req.recv().await.unwrap().body(), i.to_be_bytes());
        }
    });
}

#[test]
fn rep_contexts_serve_many_requests_at_once() {
    let r = rt();
    let rep = Socket::new(Protocol::Rep0, r.clone());
    let u = url("repctx");
    rep.listen(&u).unwrap();
    let clients: Vec<Sock> = (0..64)
        .map(|_| {
            let c = Socket::new(Protocol::Req0, r.clone());
            c.dial(&u).unwrap();
            c
        })
        .collect();
    let ctxs: Vec<_> = (0..64).map(|_| rep.context().unwrap()).collect();
    block_on(async {
        for (i, c) in clients.iter().enumerate() {
            c.send(Message::from(format!("q{i}").as_str()))
                .await
                .unwrap();
        }
        // Every context takes one request before any answers.
        let mut held = Vec::new();
        for ctx in &ctxs {
            held.push(ctx.recv().await.unwrap());
        }
        // Answer in reverse order: each reply still finds its requester.
        for (ctx, q) in ctxs.iter().zip(held).rev() {
            let mut a = Message::from(&b"a-"[..]);
            a.extend(q.body());
            ctx.send(a).await.unwrap();
        }
        for (i, c) in clients.iter().enumerate() {
            assert_eq!(c.recv().await.unwrap().body(), format!("a-q{i}").as_bytes());
        }
    });
}

#[test]
fn a_thousand_req_contexts_each_get_their_own_reply() {
    let r = rt();
    let rep = Socket::new(Protocol::Rep0, r.clone());
    let req = Socket::new(Protocol::Req0, r.clone());
    let u = url("reqctx");
    rep.listen(&u).unwrap();
    req.dial(&u).unwrap();
    let (mut pool, sp) = pool();
    let done = Rc::new(RefCell::new(0));
    for i in 0..1000u32 {
        let ctx = req.context().unwrap();
        let d = done.clone();
        sp.0.spawn_local(async move {
            ctx.send(Message::from(&i.to_be_bytes()[..])).await.unwrap();
            let a = ctx.recv().await.unwrap();
            assert_eq!(a.body(), (i * 3).to_be_bytes(), "context {i}");
            *d.borrow_mut() += 1;
        })
        .unwrap();
    }
    for _ in 0..4 {
        let rep = rep.clone();
        sp.0.spawn_local(async move {
            let ctx = rep.context().unwrap();
            loop {
                let Ok(q) = ctx.recv().await else { return };
                let v = u32::from_be_bytes(q.body().try_into().unwrap());
                ctx.send(Message::from(&(v * 3).to_be_bytes()[..]))
                    .await
                    .unwrap();
            }
        })
        .unwrap();
    }
    pool.run_until_stalled();
    assert_eq!(*done.borrow(), 1000);
}

#[test]
fn req_resends_with_the_same_id_after_resend_time() {
    let r = rt();
    let req = Socket::new(Protocol::Req0, r.clone());
    let rep = Socket::new_raw(Protocol::Rep0, r.clone());
    let u = url("resend");
    rep.listen(&u).unwrap();
    req.dial(&u).unwrap();
    req.set_opt(SockOpt::ReqResendTime(Some(Duration::from_secs(60))))
        .unwrap();
    let (mut pool, sp) = pool();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    let q = req.clone();
    sp.0.spawn_local(async move {
        q.send(Message::from("please")).await.unwrap();
        let a = q.recv().await.unwrap();
        g.borrow_mut().push(a.body().to_vec());
    })
    .unwrap();
    pool.run_until_stalled();
    let first = rep.try_recv().unwrap();
    assert_eq!(rep.try_recv(), Err(Error::WouldBlock));
    r.advance(Duration::from_secs(59));
    pool.run_until_stalled();
    assert_eq!(rep.try_recv(), Err(Error::WouldBlock), "not before 60 s");
    r.advance(Duration::from_secs(1));
    pool.run_until_stalled();
    let again = rep.try_recv().unwrap();
    assert_eq!(first.header()[4..], again.header()[4..], "same request id");
    assert_eq!(again.body(), b"please");
    // Answer both copies: the application sees exactly one reply.
    let mut a1 = Message::from("answer");
    a1.set_header(first.header()).unwrap();
    let mut a2 = Message::from("duplicate");
    a2.set_header(again.header()).unwrap();
    rep.try_send(a1).unwrap();
    rep.try_send(a2).unwrap();
    pool.run_until_stalled();
    assert_eq!(*got.borrow(), vec![b"answer".to_vec()]);
    assert!(req.stats().drops >= 1, "the duplicate was dropped");
}

#[test]
fn pipe_closing_mid_request_resends_elsewhere_and_one_reply_arrives() {
    let r = rt();
    let req = Socket::new(Protocol::Req0, r.clone());
    let rep1 = Socket::new(Protocol::Rep0, r.clone());
    let rep2 = Socket::new(Protocol::Rep0, r.clone());
    let (u1, u2) = (url("mid1"), url("mid2"));
    rep1.listen(&u1).unwrap();
    rep2.listen(&u2).unwrap();
    req.dial(&u1).unwrap();
    req.dial(&u2).unwrap();
    let (mut pool, sp) = pool();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    let q = req.clone();
    sp.0.spawn_local(async move {
        q.send(Message::from("job")).await.unwrap();
        let a = q.recv().await.unwrap().body().to_vec();
        g.borrow_mut().push(a);
    })
    .unwrap();
    pool.run_until_stalled();
    // Whichever server got it dies holding it.
    let (dead, alive) = if rep1.try_recv().is_ok() {
        (rep1, rep2)
    } else {
        (rep2, rep1)
    };
    dead.close();
    pool.run_until_stalled();
    let job = alive
        .try_recv()
        .expect("resent at once to the other server");
    assert_eq!(job.body(), b"job");
    block_on(alive.send(Message::from("done"))).unwrap();
    pool.run_until_stalled();
    assert_eq!(*got.borrow(), vec![b"done".to_vec()]);
}

#[test]
fn new_request_cancels_a_waiting_recv() {
    let (rep, req) = linked(Protocol::Rep0, Protocol::Req0, "cancel");
    let (mut pool, sp) = pool();
    let out = Rc::new(RefCell::new(None));
    let o = out.clone();
    let q = req.clone();
    block_on(req.send(Message::from("one"))).unwrap();
    sp.0.spawn_local(async move { *o.borrow_mut() = Some(q.recv().await) })
        .unwrap();
    pool.run_until_stalled();
    block_on(req.send(Message::from("two"))).unwrap();
    pool.run_until_stalled();
    assert_eq!(out.borrow_mut().take(), Some(Err(Error::Canceled)));
    // The server answers both; only the second reaches the application.
    for _ in 0..2 {
        let m = rep.try_recv().unwrap();
        block_on(rep.send(m)).unwrap();
    }
    assert_eq!(block_on(req.recv()).unwrap().body(), b"two");
    assert_eq!(req.try_recv(), Err(Error::ProtocolState));
}

#[test]
fn survey_collects_until_the_deadline_in_virtual_time() {
    let r = rt();
    let surveyor = Socket::new(Protocol::Surveyor0, r.clone());
    let u = url("survey");
    surveyor.listen(&u).unwrap();
    let resp: Vec<Sock> = (0..3)
        .map(|_| {
            let s = Socket::new(Protocol::Respondent0, r.clone());
            s.dial(&u).unwrap();
            s
        })
        .collect();
    surveyor
        .set_opt(SockOpt::SurveyTime(Duration::from_millis(500)))
        .unwrap();
    assert_eq!(surveyor.try_recv(), Err(Error::ProtocolState));
    block_on(surveyor.send(Message::from("vote?"))).unwrap();
    for (i, s) in resp.iter().take(2).enumerate() {
        let q = s.try_recv().unwrap();
        assert_eq!(q.body(), b"vote?");
        assert_eq!(
            s.try_send(Message::from("x")).map_err(|e| e.error),
            Ok(()),
            "respondent {i} answers once"
        );
        assert_eq!(
            s.try_send(Message::from("y")).unwrap_err().error,
            Error::ProtocolState
        );
    }
    let (mut pool, sp) = pool();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    let sv = surveyor.clone();
    sp.0.spawn_local(async move {
        loop {
            let r = sv.recv().await;
            let end = r.is_err();
            g.borrow_mut().push(r.map(|m| m.body().to_vec()));
            if end {
                return;
            }
        }
    })
    .unwrap();
    pool.run_until_stalled();
    assert_eq!(got.borrow().len(), 2);
    r.advance(Duration::from_millis(500));
    pool.run_until_stalled();
    assert_eq!(got.borrow().last(), Some(&Err(Error::TimedOut)));
    // The third respondent answers late: discarded.
    let q = resp[2].try_recv().unwrap();
    resp[2].try_send(q).unwrap();
    assert_eq!(surveyor.try_recv(), Err(Error::ProtocolState));
    assert!(surveyor.stats().drops >= 1);
}

#[test]
fn surveyor_contexts_run_independent_surveys() {
    let (surveyor, resp) = linked(Protocol::Surveyor0, Protocol::Respondent0, "sctx");
    let c1 = surveyor.context().unwrap();
    let c2 = surveyor.context().unwrap();
    c1.try_send(Message::from("s1")).unwrap();
    c2.try_send(Message::from("s2")).unwrap();
    let rctx = resp.context().unwrap();
    for _ in 0..2 {
        let q = rctx.try_recv().unwrap();
        let mut a = Message::from(&b"re:"[..]);
        a.extend(q.body());
        rctx.try_send(a).unwrap();
    }
    assert_eq!(c1.try_recv().unwrap().body(), b"re:s1");
    assert_eq!(c2.try_recv().unwrap().body(), b"re:s2");
}

#[test]
fn bus_reaches_direct_peers_only() {
    let r = rt();
    let (a, b, c) = (
        Socket::new(Protocol::Bus0, r.clone()),
        Socket::new(Protocol::Bus0, r.clone()),
        Socket::new(Protocol::Bus0, r.clone()),
    );
    let (ub, uc) = (url("busb"), url("busc"));
    b.listen(&ub).unwrap();
    c.listen(&uc).unwrap();
    a.dial(&ub).unwrap();
    b.dial(&uc).unwrap(); // a - b - c
    a.try_send(Message::from("from a")).unwrap();
    assert_eq!(b.try_recv().unwrap().body(), b"from a");
    assert_eq!(c.try_recv(), Err(Error::WouldBlock), "bus never forwards");
    b.try_send(Message::from("from b")).unwrap();
    assert_eq!(a.try_recv().unwrap().body(), b"from b");
    assert_eq!(c.try_recv().unwrap().body(), b"from b");
}

#[test]
fn raw_bus_device_rebroadcasts_without_echo() {
    let r = rt();
    let hub = Socket::new_raw(Protocol::Bus0, r.clone());
    let u = url("bushub");
    hub.listen(&u).unwrap();
    let nodes: Vec<Sock> = (0..3)
        .map(|_| {
            let n = Socket::new(Protocol::Bus0, r.clone());
            n.dial(&u).unwrap();
            n
        })
        .collect();
    let (mut pool, sp) = pool();
    let h = hub.clone();
    sp.0.spawn_local(async move {
        let _ = device(&h, None).await;
    })
    .unwrap();
    nodes[0].try_send(Message::from("hello")).unwrap();
    pool.run_until_stalled();
    assert_eq!(nodes[1].try_recv().unwrap().body(), b"hello");
    assert_eq!(nodes[2].try_recv().unwrap().body(), b"hello");
    assert_eq!(nodes[0].try_recv(), Err(Error::WouldBlock), "no echo");
    hub.close();
    pool.run_until_stalled();
}

#[test]
fn star_forwards_across_a_chain() {
    let r = rt();
    let (a, b, c) = (
        Socket::new(Protocol::Star0, r.clone()),
        Socket::new(Protocol::Star0, r.clone()),
        Socket::new_raw(Protocol::Star0, r.clone()),
    );
    let (ub, uc) = (url("starb"), url("starc"));
    b.listen(&ub).unwrap();
    c.listen(&uc).unwrap();
    a.dial(&ub).unwrap();
    b.dial(&uc).unwrap();
    a.try_send(Message::from("twinkle")).unwrap();
    assert_eq!(b.try_recv().unwrap().body(), b"twinkle");
    let m = c.try_recv().unwrap();
    assert_eq!(m.body(), b"twinkle");
    assert_eq!(m.header(), &[0, 0, 0, 2], "two hops: a->b, b->c");
    assert_eq!(a.try_recv(), Err(Error::WouldBlock), "not sent back");
}

/// REQ -> device -> device -> REP and back, and the hop limit.
#[test]
fn chained_devices_keep_the_backtrace() {
    device_chain(2);
}

/// Seven devices: the reply's backtrace (seven pipe ids and the request id,
/// 32 bytes) is longer than a message keeps inline, and comes back whole.
#[test]
fn a_backtrace_longer_than_the_inline_header_survives_seven_devices() {
    device_chain(7);
}

fn device_chain(n: usize) {
    let r = rt();
    let client = Socket::new(Protocol::Req0, r.clone());
    let server = Socket::new(Protocol::Rep0, r.clone());
    // client -> [dev0.front | dev0.back] -> [dev1.front | dev1.back] ... <- server
    let devs: Vec<(Sock, Sock)> = (0..n)
        .map(|_| {
            (
                Socket::new_raw(Protocol::Rep0, r.clone()),
                Socket::new_raw(Protocol::Req0, r.clone()),
            )
        })
        .collect();
    let urls: Vec<String> = (0..=n).map(|i| url(&format!("chain{n}-dev{i}"))).collect();
    for (i, (front, _)) in devs.iter().enumerate() {
        front.listen(&urls[i]).unwrap();
    }
    devs[n - 1].1.listen(&urls[n]).unwrap();
    for (i, (_, back)) in devs.iter().enumerate().take(n - 1) {
        back.dial(&urls[i + 1]).unwrap();
    }
    client.dial(&urls[0]).unwrap();
    server.dial(&urls[n]).unwrap();
    let (mut pool, sp) = pool();
    for (f, b) in &devs {
        let (f, b) = (f.clone(), b.clone());
        sp.0.spawn_local(async move {
            let _ = device(&f, Some(&b)).await;
        })
        .unwrap();
    }
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    let c = client.clone();
    sp.0.spawn_local(async move {
        c.send(Message::from("deep")).await.unwrap();
        *g.borrow_mut() = Some(c.recv().await.unwrap().body().to_vec());
    })
    .unwrap();
    pool.run_until_stalled();
    let q = server.try_recv().unwrap();
    assert_eq!(q.body(), b"deep");
    block_on(server.send(Message::from("back up"))).unwrap();
    pool.run_until_stalled();
    assert_eq!(got.borrow().as_deref(), Some(&b"back up"[..]));

    // n + 1 words of backtrace (n pipe ids + the request id) exceed a
    // ttl-max of n at the server: dropped, counted, pipe kept.
    server.set_opt(SockOpt::TtlMax(n as u8)).unwrap();
    let c = client.clone();
    sp.0.spawn_local(async move {
        let _ = c.send(Message::from("too deep")).await;
    })
    .unwrap();
    pool.run_until_stalled();
    assert_eq!(server.try_recv(), Err(Error::WouldBlock));
    assert_eq!(server.stats().drops, 1);
    assert_eq!(server.pipes().len(), 1);
    for (f, _) in &devs {
        f.close();
    }
    pool.run_until_stalled();
}

#[test]
fn device_refuses_cooked_or_mismatched_sockets() {
    let r = rt();
    let a = Socket::new(Protocol::Rep0, r.clone());
    let b = Socket::new_raw(Protocol::Req0, r.clone());
    assert_eq!(block_on(device(&a, Some(&b))), Error::InvalidArgument);
    let c = Socket::new_raw(Protocol::Pull0, r.clone());
    assert_eq!(block_on(device(&b, Some(&c))), Error::InvalidArgument);
    let d = Socket::new_raw(Protocol::Req0, r);
    assert_eq!(block_on(device(&d, None)), Error::InvalidArgument);
}

#[test]
fn raw_req_and_rep_expose_headers() {
    let (rep, req) = {
        let r = rt();
        let x = Socket::new_raw(Protocol::Rep0, r.clone());
        let y = Socket::new_raw(Protocol::Req0, r);
        let u = url("rawrr");
        x.listen(&u).unwrap();
        y.dial(&u).unwrap();
        (x, y)
    };
    let mut q = Message::from("raw");
    q.set_header(&[0x80, 0, 0, 0x42]).unwrap();
    req.try_send(q).unwrap();
    let got = rep.try_recv().unwrap();
    assert_eq!(got.header().len(), 8, "pipe id + request id");
    assert_eq!(got.header()[4..], [0x80, 0, 0, 0x42]);
    rep.try_send(got).unwrap();
    let a = req.try_recv().unwrap();
    assert_eq!(a.header(), &[0x80, 0, 0, 0x42]);
    assert_eq!(a.body(), b"raw");
    assert!(req.context().is_err(), "raw sockets have no contexts");
}

#[test]
fn contexts_are_only_for_cooked_protocols_that_have_them() {
    let r = rt();
    for p in [
        Protocol::Req0,
        Protocol::Rep0,
        Protocol::Surveyor0,
        Protocol::Respondent0,
        Protocol::Sub0,
    ] {
        assert!(Socket::new(p, r.clone()).context().is_ok(), "{p:?}");
    }
    for p in [
        Protocol::Pair1,
        Protocol::Push0,
        Protocol::Pub0,
        Protocol::Bus0,
    ] {
        assert_eq!(
            Socket::new(p, r.clone()).context().err(),
            Some(Error::NotSupported)
        );
    }
}

#[test]
fn sub_contexts_have_their_own_topics() {
    let (publ, sub) = linked(Protocol::Pub0, Protocol::Sub0, "subctx");
    let a = sub.context().unwrap();
    let b = sub.context().unwrap();
    a.subscribe(b"a").unwrap();
    b.subscribe(b"b").unwrap();
    for m in ["a1", "b1", "c1"] {
        publ.try_send(Message::from(m)).unwrap();
    }
    assert_eq!(a.try_recv().unwrap().body(), b"a1");
    assert_eq!(a.try_recv(), Err(Error::WouldBlock));
    assert_eq!(b.try_recv().unwrap().body(), b"b1");
    assert_eq!(
        sub.try_recv(),
        Err(Error::WouldBlock),
        "the socket subscribed to nothing"
    );
}

mod contexts_property {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// Contexts interleaved in any order never get each other's replies.
        #[test]
        fn replies_never_cross(order in proptest::collection::vec(0usize..8, 1..60),
                               answer_rev in any::<bool>()) {
            let (rep, req) = linked(Protocol::Rep0, Protocol::Req0, "prop");
            let ctxs: Vec<_> = (0..8).map(|_| req.context().unwrap()).collect();
            let rctx: Vec<_> = (0..8).map(|_| rep.context().unwrap()).collect();
            let mut outstanding: BTreeMap<usize, u32> = BTreeMap::new();
            for (n, &c) in order.iter().enumerate() {
                let tag = n as u32;
                ctxs[c].try_send(Message::from(&tag.to_be_bytes()[..])).unwrap();
                outstanding.insert(c, tag); // a resend by the same context replaces its request
            }
            // The server holds up to 8 requests in its contexts, then answers.
            let mut held = Vec::new();
            for r in &rctx {
                match r.try_recv() {
                    Ok(q) => held.push((r, q)),
                    Err(_) => break,
                }
            }
            if answer_rev { held.reverse(); }
            for (r, q) in held {
                r.try_send(q).unwrap();
            }
            // Drain anything still queued at the server (superseded requests).
            while let Ok(q) = rep.try_recv() {
                rep.try_send(q).unwrap();
            }
            for (c, tag) in outstanding {
                let got = ctxs[c].try_recv().unwrap();
                prop_assert_eq!(got.body(), tag.to_be_bytes());
                prop_assert_eq!(ctxs[c].try_recv(), Err(Error::ProtocolState));
            }
        }
    }
}

#[test]
fn raw_surveyor_and_respondent_expose_headers() {
    let r = rt();
    let sv = Socket::new_raw(Protocol::Surveyor0, r.clone());
    let rs = Socket::new_raw(Protocol::Respondent0, r.clone());
    let cooked = Socket::new(Protocol::Respondent0, r);
    let u = url("rawsurvey");
    sv.listen(&u).unwrap();
    rs.dial(&u).unwrap();
    cooked.dial(&u).unwrap();
    let mut q = Message::from("poll");
    q.set_header(&[0x80, 0, 0, 7]).unwrap();
    sv.try_send(q).unwrap();
    let got = rs.try_recv().unwrap();
    assert_eq!(
        got.header()[4..],
        [0x80, 0, 0, 7],
        "pipe id, then survey id"
    );
    rs.try_send(got).unwrap();
    let c = cooked.try_recv().unwrap();
    assert!(c.header().is_empty());
    cooked.try_send(c).unwrap();
    for _ in 0..2 {
        let a = sv.try_recv().unwrap();
        assert_eq!(a.header(), &[0x80, 0, 0, 7]);
        assert_eq!(a.body(), b"poll");
    }
}

#[test]
fn every_protocol_opens_raw() {
    let r = rt();
    for p in Protocol::ALL {
        let s = Socket::new_raw(p, r.clone());
        assert!(s.is_raw());
        assert_eq!(s.protocol(), p);
    }
}

/// Each request wakes one waiting REP context; a context that gives up
/// (its recv future dropped) passes its turn on, so no request is stranded.
#[test]
fn abandoned_rep_context_passes_the_request_on() {
    use std::future::Future;
    use std::task::{Context, Poll};
    let (rep, req) = linked(Protocol::Rep0, Protocol::Req0, "abandon");
    let c1 = rep.context().unwrap();
    let c2 = rep.context().unwrap();
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut f1 = Box::pin(c1.recv());
    assert!(f1.as_mut().poll(&mut cx).is_pending(), "c1 waits first");
    let (mut pool, sp) = pool();
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    sp.0.spawn_local(async move {
        let m = c2.recv().await.unwrap();
        *g.borrow_mut() = Some(m.body().to_vec());
    })
    .unwrap();
    pool.run_until_stalled();
    drop(f1); // c1 gives up before the request arrives
    req.try_send(Message::from("to whoever waits")).unwrap();
    pool.run_until_stalled();
    assert_eq!(got.borrow().as_deref(), Some(&b"to whoever waits"[..]));
    assert!(matches!(
        Box::pin(c1.recv()).as_mut().poll(&mut cx),
        Poll::Pending
    ));
}

#[test]
fn closing_a_context_ends_its_pending_recv() {
    let (_rep, req) = linked(Protocol::Rep0, Protocol::Req0, "ctxclose");
    let ctx = Rc::new(req.context().unwrap());
    ctx.try_send(Message::from("q")).unwrap();
    let (mut pool, sp) = pool();
    let out = Rc::new(RefCell::new(None));
    let (o, c) = (out.clone(), ctx.clone());
    sp.0.spawn_local(async move { *o.borrow_mut() = Some(c.recv().await) })
        .unwrap();
    pool.run_until_stalled();
    assert!(out.borrow().is_none());
    ctx.close();
    pool.run_until_stalled();
    assert_eq!(out.borrow_mut().take(), Some(Err(Error::Closed)));
    assert_eq!(
        ctx.try_send(Message::from("x")).unwrap_err().error,
        Error::Closed
    );
}

/// Found by the `proto` fuzz target: an inproc peer may hand over a message
/// whose header reaches past the backtrace (a raw REQ sends whatever header
/// it is given). The bytes past the backtrace are body, as they would be off
/// a byte stream; they were lost (cooked REP) or kept in the header.
#[test]
fn a_header_longer_than_the_backtrace_is_body_over_inproc_too() {
    let r = rt();
    let u = url("longhdr");
    let rep = Socket::new(Protocol::Rep0, r.clone());
    let raw_rep = Socket::new_raw(Protocol::Rep0, r.clone());
    let req = Socket::new_raw(Protocol::Req0, r.clone());
    rep.listen(&u).unwrap();
    let u2 = url("longhdr-raw");
    raw_rep.listen(&u2).unwrap();
    block_on(async {
        // Cooked REP: the id is the whole backtrace; "xy" starts the body.
        req.dial(&u).unwrap();
        let mut m = Message::from("body");
        m.set_header(&[0x80, 0, 0, 7, b'x', b'y']).unwrap();
        req.send(m).await.unwrap();
        let q = rep.recv().await.unwrap();
        assert!(q.header().is_empty());
        assert_eq!(q.body(), b"xybody");
        rep.send(Message::from("ok")).await.unwrap();
        let a = req.recv().await.unwrap();
        assert_eq!(a.header(), &[0x80, 0, 0, 7], "only the id came back");
        assert_eq!(a.body(), b"ok");
    });
    let req2 = Socket::new_raw(Protocol::Req0, r);
    req2.dial(&u2).unwrap();
    block_on(async {
        // Raw REP: header = pipe id + backtrace, nothing more.
        let mut m = Message::from("b");
        m.set_header(&[0, 0, 0, 3, 0x80, 0, 0, 9, b'z']).unwrap();
        req2.send(m).await.unwrap();
        let q = raw_rep.recv().await.unwrap();
        assert_eq!(q.header().len(), 12, "pipe id + two backtrace words");
        assert_eq!(&q.header()[4..], &[0, 0, 0, 3, 0x80, 0, 0, 9]);
        assert_eq!(q.body(), b"zb");
    });
}

/// Runs `f` on a local pool until it stalls, advances virtual time by
/// `wait`, and runs again; returns what `f` returned (if it finished).
fn run_for<T: 'static>(
    r: &VirtualRuntime,
    wait: Duration,
    f: impl std::future::Future<Output = T> + 'static,
) -> Option<T> {
    let (mut pool, sp) = pool();
    let out = Rc::new(RefCell::new(None));
    let o = out.clone();
    sp.0.spawn_local(async move { *o.borrow_mut() = Some(f.await) })
        .unwrap();
    pool.run_until_stalled();
    r.advance(wait);
    pool.run_until_stalled();
    let v = out.borrow_mut().take();
    v
}

/// Issue 12, bug 1: the usual "retry on timeout" loop. A recv that timed
/// out ends its request (a late reply is dropped, recv without a send is
/// ProtocolState, as nng); the next send + recv gets its reply, not
/// Canceled. Same with a per-call timeout and with a dropped future, on the
/// socket and on a context.
#[test]
fn req_retry_after_a_timed_out_or_dropped_recv_gets_the_reply() {
    let r = rt();
    let rep = Socket::new(Protocol::Rep0, r.clone());
    let req = Socket::new(Protocol::Req0, r.clone());
    let u = url("retry");
    rep.listen(&u).unwrap();
    req.dial(&u).unwrap();
    req.set_opt(SockOpt::RecvTimeout(Some(Duration::from_millis(100))))
        .unwrap();
    let ctx = Rc::new(req.context().unwrap());
    for (how, on_ctx) in [
        ("recv-timeout", false),
        ("per-call", false),
        ("dropped", false),
        ("recv-timeout", true),
        ("dropped", true),
    ] {
        let send = |m: &'static str| {
            if on_ctx {
                block_on(ctx.send(Message::from(m))).unwrap()
            } else {
                block_on(req.send(Message::from(m))).unwrap()
            }
        };
        send("first");
        let (q, c) = (req.clone(), ctx.clone());
        let first = match how {
            "dropped" => {
                // Polled once (it waits), then dropped.
                let (q, c) = (q.clone(), c.clone());
                let mut f = Box::pin(async move {
                    if on_ctx {
                        c.recv().await
                    } else {
                        q.recv().await
                    }
                });
                let w = futures::task::noop_waker();
                let mut cx = std::task::Context::from_waker(&w);
                assert!(f.as_mut().poll(&mut cx).is_pending());
                drop(f);
                Err(Error::TimedOut)
            }
            "per-call" => run_for(&r, Duration::from_millis(100), async move {
                q.recv_timeout(Duration::from_millis(50)).await
            })
            .unwrap(),
            _ => run_for(&r, Duration::from_millis(100), async move {
                if on_ctx {
                    c.recv().await
                } else {
                    q.recv().await
                }
            })
            .unwrap(),
        };
        assert_eq!(first, Err(Error::TimedOut), "{how} ctx={on_ctx}");
        let again = if on_ctx {
            block_on(ctx.recv())
        } else {
            block_on(req.recv())
        };
        assert_eq!(again, Err(Error::ProtocolState), "{how}: request ended");
        // The server answers late: dropped, not kept for the next request.
        let m = rep.try_recv().unwrap();
        block_on(rep.send(m)).unwrap();
        send("second");
        let m = rep.try_recv().unwrap();
        block_on(rep.send(m)).unwrap();
        let got = if on_ctx {
            block_on(ctx.recv())
        } else {
            block_on(req.recv())
        };
        assert_eq!(got.unwrap().body(), b"second", "{how} ctx={on_ctx}");
    }
    assert!(req.stats().drops_stale >= 5, "every late reply dropped");
}

#[test]
fn surveyor_recv_timeout_or_drop_ends_the_survey_and_the_next_one_works() {
    let r = rt();
    let sv = Socket::new(Protocol::Surveyor0, r.clone());
    let resp = Socket::new(Protocol::Respondent0, r.clone());
    let u = url("svretry");
    sv.listen(&u).unwrap();
    resp.dial(&u).unwrap();
    sv.set_opt(SockOpt::SurveyTime(Duration::from_secs(10)))
        .unwrap();
    sv.set_opt(SockOpt::RecvTimeout(Some(Duration::from_millis(100))))
        .unwrap();
    for round in 0..3u8 {
        block_on(sv.send(Message::from(&[round][..]))).unwrap();
        let s = sv.clone();
        let first = run_for(
            &r,
            Duration::from_millis(100),
            async move { s.recv().await },
        );
        assert_eq!(first, Some(Err(Error::TimedOut)));
        assert_eq!(block_on(sv.recv()), Err(Error::ProtocolState), "ended");
        // A new survey: its answer arrives, not Canceled.
        block_on(sv.send(Message::from("again"))).unwrap();
        let q = loop {
            // Take the newest survey (the old one may be queued first).
            let q = resp.try_recv().unwrap();
            if q.body() == b"again" {
                break q;
            }
        };
        block_on(resp.send(q)).unwrap();
        assert_eq!(block_on(sv.recv()).unwrap().body(), b"again");
    }
    // A survey that expires while nobody waits: recv is ProtocolState (nng).
    sv.set_opt(SockOpt::SurveyTime(Duration::from_millis(500)))
        .unwrap();
    sv.set_opt(SockOpt::RecvTimeout(None)).unwrap();
    block_on(sv.send(Message::from("late"))).unwrap();
    r.advance(Duration::from_secs(1));
    assert_eq!(block_on(sv.recv()), Err(Error::ProtocolState));
}

#[test]
fn a_second_waiting_recv_on_req_or_rep_is_protocol_state() {
    let (rep, req) = linked(Protocol::Rep0, Protocol::Req0, "tworecv");
    let w = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&w);
    // REP with nothing queued, then REQ with a request out: one recv waits,
    // a second one on the same socket is refused at once (as nng).
    let mut a = Box::pin(rep.recv());
    assert!(a.as_mut().poll(&mut cx).is_pending());
    assert_eq!(block_on(rep.recv()), Err(Error::ProtocolState));
    block_on(req.send(Message::from("q"))).unwrap();
    let mut b = Box::pin(req.recv());
    assert!(b.as_mut().poll(&mut cx).is_pending());
    assert_eq!(block_on(req.recv()), Err(Error::ProtocolState));
    // The first ones carry on: REP gets the request, REQ its reply.
    let q = block_on(a).unwrap();
    block_on(rep.send(q)).unwrap();
    assert_eq!(block_on(b).unwrap().body(), b"q");
}

#[test]
fn operations_on_a_closed_socket_or_context_are_closed() {
    let r = rt();
    for p in [Protocol::Sub0, Protocol::Req0, Protocol::Surveyor0] {
        let s = Socket::new(p, r.clone());
        let ctx = s.context().unwrap();
        s.close();
        assert_eq!(s.set_opt(SockOpt::RecvBuffer(4)), Err(Error::Closed));
        assert_eq!(s.listen(&url("closed")), Err(Error::Closed));
        assert_eq!(s.dial(&url("closed")), Err(Error::Closed));
        assert_eq!(
            ctx.set_opt(SockOpt::RecvTimeout(None)),
            Err(Error::Closed),
            "{p:?}"
        );
        assert_eq!(s.context().err(), Some(Error::Closed));
        if p == Protocol::Sub0 {
            assert_eq!(s.subscribe(b"x"), Err(Error::Closed));
            assert_eq!(ctx.subscribe(b"x"), Err(Error::Closed));
        }
        assert_eq!(block_on(s.recv()), Err(Error::Closed));
        assert_eq!(block_on(ctx.recv()), Err(Error::Closed));
    }
}

#[test]
fn a_context_takes_the_socket_timeouts_when_opened_and_has_its_own() {
    let r = rt();
    let rep = Socket::new(Protocol::Rep0, r.clone());
    rep.set_opt(SockOpt::RecvTimeout(Some(Duration::from_millis(100))))
        .unwrap();
    let c1 = Rc::new(rep.context().unwrap());
    rep.set_opt(SockOpt::RecvTimeout(None)).unwrap();
    let c = c1.clone();
    let got = run_for(
        &r,
        Duration::from_millis(100),
        async move { c.recv().await },
    );
    assert_eq!(got, Some(Err(Error::TimedOut)), "copied at open");
    c1.set_opt(SockOpt::RecvTimeout(Some(Duration::from_millis(300))))
        .unwrap();
    let c = c1.clone();
    let got = run_for(
        &r,
        Duration::from_millis(200),
        async move { c.recv().await },
    );
    assert_eq!(got, None, "its own, longer timeout");
    let c2 = rep.context().unwrap();
    c2.set_opt(SockOpt::SendTimeout(Some(Duration::ZERO)))
        .unwrap();
    assert_eq!(
        block_on(c2.send(Message::from("x"))).unwrap_err().error,
        Error::ProtocolState
    );
}
