//! `Solo`, the one-connection socket of the firmware path, against the
//! full engine's `Socket` (itself tested against nng) and against raw
//! bytes, over in-memory streams in virtual time: round trips for the
//! protocols, REQ's resend and its pending request carried to the next
//! connection, timeouts, cancellation, and bad input failing one
//! connection while the socket carries on.

// A test that drives a `Solo` through virtual time runs it in a task
// (`spawn_on`) that borrows it from a `RefCell` for its whole run; the test
// reads it only after the task is done.
#![allow(clippy::await_holding_refcell_ref)]

mod common;

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use common::{pool, rt, Local};
use embedded_io_async::{Read, Write};
use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;
use nanosp_core::frame::Framing;
use nanosp_core::solo::Solo;
use nanosp_core::stream::{establish, StreamConfig};
use nanosp_core::testing::{duplex, MemReader, MemWriter, VirtualRuntime};
use nanosp_core::{Error, Message, Protocol, ProtocolError, SockOpt, Socket};

type Sock = Socket<VirtualRuntime>;

fn cfg() -> StreamConfig {
    StreamConfig::small(Framing::Tcp)
}

/// A full socket on one end of a fresh in-memory connection (its pipe runs
/// on the pool); the other end for a `Solo`.
fn socket_peer(sock: &Sock, sp: &Local) -> (MemReader, MemWriter) {
    let (a, b) = duplex(1 << 16);
    let (ar, aw) = a.split();
    let sref = sock.transport_ref();
    sp.0.spawn_local(async move {
        if let Ok(p) = establish(&sref, ar, aw, Framing::Tcp, "mem://solo", false).await {
            p.run().await;
        }
    })
    .unwrap();
    b.split()
}

fn run<F: std::future::Future>(pool: &mut LocalPool, f: F) -> F::Output {
    pool.run_until(f)
}

/// A connection buffering `cap` bytes each way whose far end (the second
/// pair, driven by hand) has already sent the SP header of protocol
/// number `peer`.
fn raw_end(cap: usize, peer: u8) -> ((MemReader, MemWriter), (MemReader, MemWriter)) {
    let (a, b) = duplex(cap);
    let (br, mut bw) = b.split();
    futures::executor::block_on(bw.write_all(&[0, b'S', b'P', 0, 0, peer, 0, 0])).unwrap();
    (a.split(), (br, bw))
}

type Shared = Rc<RefCell<Solo<VirtualRuntime>>>;

/// Runs `f` on `solo` in a task of the pool (which the test then drives
/// through virtual time); what it returns, once it has.
fn spawn_on<T: 'static>(
    sp: &Local,
    solo: &Shared,
    f: impl AsyncFnOnce(&mut Solo<VirtualRuntime>) -> T + 'static,
) -> Rc<RefCell<Option<T>>> {
    let got = Rc::new(RefCell::new(None));
    let (s, g) = (solo.clone(), got.clone());
    sp.0.spawn_local(async move {
        let t = f(&mut s.borrow_mut()).await;
        *g.borrow_mut() = Some(t);
    })
    .unwrap();
    got
}

#[test]
fn req_and_rep_round_trips_against_the_full_socket() {
    let (mut pool, sp) = pool();
    let r = rt();
    // Solo REQ against a Socket REP.
    let rep = Socket::new(Protocol::Rep0, r.clone());
    let (rd, wr) = socket_peer(&rep, &sp);
    let mut req = Solo::new(Protocol::Req0, r.clone());
    let echo = rep.clone();
    sp.0.spawn_local(async move {
        while let Ok(m) = echo.recv().await {
            if echo.send(m).await.is_err() {
                return;
            }
        }
    })
    .unwrap();
    run(&mut pool, async {
        let mut c = req.attach(rd, wr, cfg()).await.unwrap();
        for i in 0..50u32 {
            c.send(Message::from(&i.to_be_bytes()[..])).await.unwrap();
            let m = c.recv().await.unwrap();
            assert_eq!(m.body(), i.to_be_bytes());
            assert!(m.header().is_empty(), "a cooked reply has no header");
        }
    });
    assert_eq!(req.stats().msgs_out, 50);
    assert_eq!(req.stats().msgs_in, 50);
    assert_eq!(req.stats().pipes_added, 1);
    assert_eq!(req.stats().pipes_removed, 1, "the connection was dropped");

    // Solo REP against a Socket REQ.
    let sreq = Socket::new(Protocol::Req0, r.clone());
    let (rd, wr) = socket_peer(&sreq, &sp);
    let mut rep = Solo::new(Protocol::Rep0, r);
    let out = Rc::new(RefCell::new(Vec::new()));
    let o = out.clone();
    let asker = sreq.clone();
    sp.0.spawn_local(async move {
        for i in 0..20u8 {
            asker.send(Message::from(&[i][..])).await.unwrap();
            let b = asker.recv().await.unwrap().body()[0];
            o.borrow_mut().push(b);
        }
    })
    .unwrap();
    run(&mut pool, async {
        let mut c = rep.attach(rd, wr, cfg()).await.unwrap();
        for _ in 0..20 {
            let m = c.recv().await.unwrap();
            let v = m.body()[0];
            c.send(Message::from(&[v + 100][..])).await.unwrap();
        }
    });
    pool.run_until_stalled();
    assert_eq!(*out.borrow(), (100..120).collect::<Vec<u8>>());
}

#[test]
fn handshake_and_frames_are_byte_exact() {
    let (mut pool, _sp) = pool();
    let ((ar, aw), (mut br, mut bw)) = raw_end(4096, 0x31);
    let mut req = Solo::new(Protocol::Req0, rt());
    run(&mut pool, async {
        let mut c = req.attach(ar, aw, cfg()).await.unwrap();
        let mut h = [0u8; 8];
        br.read_exact(&mut h).await.unwrap();
        assert_eq!(h, [0, b'S', b'P', 0, 0, 0x30, 0, 0]);
        c.send(Message::from("ping")).await.unwrap();
        let mut f = [0u8; 16];
        br.read_exact(&mut f).await.unwrap();
        assert_eq!(&f[..8], &[0, 0, 0, 0, 0, 0, 0, 8]);
        assert!(f[8] & 0x80 != 0, "a request id has its top bit set");
        assert_eq!(&f[12..], b"ping");
        // The reply: the same id, then a body.
        let mut reply = vec![0, 0, 0, 0, 0, 0, 0, 7];
        reply.extend_from_slice(&f[8..12]);
        reply.extend_from_slice(b"pon");
        bw.write_all(&reply).await.unwrap();
        assert_eq!(c.recv().await.unwrap().body(), b"pon");
    });
}

#[test]
fn req_resends_while_waiting_and_a_timed_out_recv_ends_the_request() {
    let (mut pool, sp) = pool();
    let r = rt();
    let rep = Socket::new(Protocol::Rep0, r.clone());
    let (rd, wr) = socket_peer(&rep, &sp);
    let req: Shared = Rc::new(RefCell::new(Solo::new(Protocol::Req0, r.clone())));
    req.borrow_mut()
        .set_opt(SockOpt::ReqResendTime(Some(Duration::from_secs(2))))
        .unwrap();
    req.borrow_mut()
        .set_opt(SockOpt::RecvTimeout(Some(Duration::from_secs(5))))
        .unwrap();
    let first = Rc::new(RefCell::new(None));
    let f = first.clone();
    let result = spawn_on(&sp, &req, async move |s| {
        let mut c = s.attach(rd, wr, cfg()).await.unwrap();
        c.send(Message::from("once")).await.unwrap();
        *f.borrow_mut() = Some(c.recv().await);
        // The request ended with that receive: a receive without a new
        // request is a state error (as nng).
        assert_eq!(c.recv().await.unwrap_err(), Error::ProtocolState);
        // A new request gets its own reply, not the old one's.
        c.send(Message::from("twice")).await.unwrap();
        assert_eq!(c.recv().await.unwrap().body(), b"twice");
    });
    pool.run_until_stalled();
    assert_eq!(rep.try_recv().unwrap().body(), b"once");
    assert_eq!(rep.try_recv(), Err(Error::WouldBlock));
    r.advance(Duration::from_secs(2));
    pool.run_until_stalled();
    assert_eq!(rep.try_recv().unwrap().body(), b"once", "resent after 2 s");
    r.advance(Duration::from_secs(2));
    pool.run_until_stalled();
    let old = rep.try_recv().unwrap();
    assert_eq!(old.body(), b"once", "and again");
    assert!(first.borrow().is_none());
    r.advance(Duration::from_secs(1));
    pool.run_until_stalled();
    assert_eq!(first.borrow_mut().take(), Some(Err(Error::TimedOut)));
    // The old request's reply, late (REP answers the last request its
    // application received), then the new one's.
    pool.run_until_stalled();
    rep.send(old).await_now().unwrap();
    let new = rep.try_recv().unwrap();
    assert_eq!(new.body(), b"twice");
    rep.send(new).await_now().unwrap();
    pool.run_until_stalled();
    assert_eq!(result.borrow_mut().take(), Some(()), "the task ended");
    assert_eq!(req.borrow().stats().drops_stale, 1, "the late reply");
}

trait Now: std::future::Future + Sized {
    fn await_now(self) -> Self::Output {
        futures::executor::block_on(self)
    }
}
impl<F: std::future::Future> Now for F {}

#[test]
fn a_pending_request_goes_out_again_on_the_next_connection() {
    let (mut pool, sp) = pool();
    let r = rt();
    let rep = Socket::new(Protocol::Rep0, r.clone());
    let mut req = Solo::new(Protocol::Req0, r.clone());
    // First connection: the request leaves, the connection dies unanswered.
    let ((ar, aw), (mut br, bw)) = raw_end(4096, 0x31);
    run(&mut pool, async {
        let mut c = req.attach(ar, aw, cfg()).await.unwrap();
        c.send(Message::from("again")).await.unwrap();
        let mut got = [0u8; 8 + 8 + 5];
        br.read_exact(&mut got).await.unwrap();
        drop(bw);
        let e = c.recv().await.unwrap_err();
        assert_eq!(c.error(), Some(e), "the connection failed");
    });
    drop(br);
    assert_eq!(req.stats().pipes_removed, 1);
    // Second connection, to a REP that answers: the request is sent again.
    let (rd, wr) = socket_peer(&rep, &sp);
    let echo = rep.clone();
    sp.0.spawn_local(async move {
        let m = echo.recv().await.unwrap();
        echo.send(m).await.unwrap();
    })
    .unwrap();
    run(&mut pool, async {
        let mut c = req.attach(rd, wr, cfg()).await.unwrap();
        assert_eq!(c.recv().await.unwrap().body(), b"again");
    });
}

/// As on `Socket` and in nng: a receive that waited and was dropped, or
/// timed out (even with a zero timeout), ends REQ's request.
#[test]
fn a_dropped_or_timed_out_recv_ends_the_request() {
    let (mut pool, sp) = pool();
    let r = rt();
    let rep = Socket::new(Protocol::Rep0, r.clone());
    let (rd, wr) = socket_peer(&rep, &sp);
    let mut req = Solo::new(Protocol::Req0, r);
    run(&mut pool, async {
        let mut c = req.attach(rd, wr, cfg()).await.unwrap();
        c.send(Message::from("q")).await.unwrap();
        {
            let mut f = std::pin::pin!(c.recv());
            let waker = futures::task::noop_waker();
            let mut cx = std::task::Context::from_waker(&waker);
            assert!(f.as_mut().poll(&mut cx).is_pending());
        } // dropped while it waited
        assert_eq!(
            c.recv().await.unwrap_err(),
            Error::ProtocolState,
            "no request any more"
        );
        c.set_opt(SockOpt::RecvTimeout(Some(Duration::ZERO)))
            .unwrap();
        c.send(Message::from("q2")).await.unwrap();
        assert_eq!(c.recv().await.unwrap_err(), Error::TimedOut);
        assert_eq!(c.recv().await.unwrap_err(), Error::ProtocolState);
    });
}

#[test]
fn bad_input_fails_that_connection_and_the_socket_carries_on() {
    let (mut pool, sp) = pool();
    let r = rt();
    let mut pair = Solo::new(Protocol::Pair1, r.clone());
    pair.set_opt(SockOpt::RecvMaxSize(16)).unwrap();
    // A frame over recv-size-max.
    let ((ar, aw), (_br, mut bw)) = raw_end(4096, 0x11);
    run(&mut pool, async {
        let mut c = pair.attach(ar, aw, cfg()).await.unwrap();
        bw.write_all(&[0, 0, 0, 0, 0, 0, 1, 0]).await.unwrap();
        let e = c.recv().await.unwrap_err();
        assert!(matches!(e, Error::MessageTooLong { .. }), "{e:?}");
        assert_eq!(c.recv().await.unwrap_err(), e, "it stays failed");
    });
    assert_eq!(pair.stats().oversized, 1);
    // PAIR1 without its hop-count header.
    let ((ar, aw), (_br, mut bw)) = raw_end(4096, 0x11);
    run(&mut pool, async {
        let mut c = pair.attach(ar, aw, cfg()).await.unwrap();
        bw.write_all(&[0, 0, 0, 0, 0, 0, 0, 2, b'h', b'i'])
            .await
            .unwrap();
        assert!(matches!(c.recv().await, Err(Error::Protocol(_))));
    });
    assert_eq!(pair.stats().protocol_errors, 2);
    // A peer of the wrong protocol, and one that never answers.
    let ((ar, aw), _peer) = raw_end(4096, 0x30);
    run(&mut pool, async {
        let e = pair.attach(ar, aw, cfg()).await.err();
        assert_eq!(
            e,
            Some(Error::Protocol(ProtocolError::PeerMismatch {
                expected: 0x11,
                got: 0x30
            }))
        );
    });
    let (a, b) = duplex(4096);
    let (ar, aw) = a.split();
    let silent = b.split();
    let p: Shared = Rc::new(RefCell::new(pair));
    let got = spawn_on(&sp, &p, async move |s| s.attach(ar, aw, cfg()).await.err());
    pool.run_until_stalled();
    assert!(got.borrow().is_none());
    r.advance(Duration::from_secs(10)); // nng's handshake timeout
    pool.run_until_stalled();
    assert_eq!(got.borrow_mut().take(), Some(Some(Error::TimedOut)));
    drop(silent);
    assert_eq!(p.borrow().stats().handshake_failures, 2);
    assert_eq!(p.borrow().stats().pipes_rejected, 1, "the wrong protocol");
    // The socket carries on with a good peer.
    let peer = Socket::new(Protocol::Pair1, r);
    let (rd, wr) = socket_peer(&peer, &sp);
    let mut s = p.borrow_mut();
    run(&mut pool, async {
        let mut c = s.attach(rd, wr, cfg()).await.unwrap();
        c.send(Message::from("fine")).await.unwrap();
        assert_eq!(peer.recv().await.unwrap().body(), b"fine");
        peer.send(Message::from("yes")).await.unwrap();
        assert_eq!(c.recv().await.unwrap().body(), b"yes");
    });
}

#[test]
fn push_sub_and_pair_talk_to_the_full_socket() {
    let (mut pool, sp) = pool();
    let r = rt();
    // PUSH -> PULL.
    let pull = Socket::new(Protocol::Pull0, r.clone());
    let (rd, wr) = socket_peer(&pull, &sp);
    let mut push = Solo::new(Protocol::Push0, r.clone());
    run(&mut pool, async {
        let mut c = push.attach(rd, wr, cfg()).await.unwrap();
        for i in 0..40u8 {
            c.send(Message::from(&[i][..])).await.unwrap();
        }
        for i in 0..40u8 {
            assert_eq!(pull.recv().await.unwrap().body(), [i]);
        }
    });
    // PUB -> SUB (solo), with a topic.
    let publ = Socket::new(Protocol::Pub0, r.clone());
    let (rd, wr) = socket_peer(&publ, &sp);
    let mut sub = Solo::new(Protocol::Sub0, r.clone());
    sub.set_opt(SockOpt::Subscribe(b"t/".to_vec())).unwrap();
    run(&mut pool, async {
        let mut c = sub.attach(rd, wr, cfg()).await.unwrap();
        while publ.stats().pipes_added == 0 {
            futures::pending!();
        }
        publ.send(Message::from("x/no")).await.unwrap();
        publ.send(Message::from("t/yes")).await.unwrap();
        assert_eq!(c.recv().await.unwrap().body(), b"t/yes");
    });
    // PAIR0 both ways.
    let peer = Socket::new(Protocol::Pair0, r.clone());
    let (rd, wr) = socket_peer(&peer, &sp);
    let mut pair = Solo::new(Protocol::Pair0, r);
    run(&mut pool, async {
        let mut c = pair.attach(rd, wr, cfg()).await.unwrap();
        for i in 0..10u8 {
            c.send(Message::from(&[i][..])).await.unwrap();
            let m = peer.recv().await.unwrap();
            peer.send(m).await.unwrap();
            assert_eq!(c.recv().await.unwrap().body(), [i]);
        }
    });
}

#[test]
fn writes_that_cannot_finish_fail_the_connection() {
    let r = rt();
    let (mut pool, sp) = pool();
    // 1. A send dropped in the middle of its write: half a frame may be in
    //    the stream, so the connection is failed, never written to again.
    let ((ar, aw), (mut br, _bw)) = raw_end(64, 0x11);
    let mut pair = Solo::new(Protocol::Pair1, r.clone());
    run(&mut pool, async {
        let mut c = pair.attach(ar, aw, cfg()).await.unwrap();
        let mut h = [0u8; 8];
        br.read_exact(&mut h).await.unwrap();
        {
            let mut f = std::pin::pin!(c.send(Message::from(&[7u8; 200][..])));
            let waker = futures::task::noop_waker();
            let mut cx = std::task::Context::from_waker(&waker);
            assert!(
                f.as_mut().poll(&mut cx).is_pending(),
                "the peer reads nothing"
            );
        }
        assert_eq!(c.error(), Some(Error::ConnectionShutdown));
        let e = c.send(Message::from("next")).await.unwrap_err();
        assert_eq!(e.error, Error::ConnectionShutdown);
        assert_eq!(e.message.body(), b"next", "handed back");
        assert_eq!(c.recv().await.unwrap_err(), Error::ConnectionShutdown);
    });

    // 2. send-timeout: the machine took the message, the write did not
    //    finish in time: the connection fails and says why.
    let ((ar, aw), (_br, _bw)) = raw_end(64, 0x11);
    let pair: Shared = Rc::new(RefCell::new(Solo::new(Protocol::Pair1, r.clone())));
    pair.borrow_mut()
        .set_opt(SockOpt::SendTimeout(Some(Duration::from_millis(500))))
        .unwrap();
    let got = spawn_on(&sp, &pair, async move |s| {
        let mut c = s.attach(ar, aw, cfg()).await.unwrap();
        let sent = c
            .send(Message::from(&[7u8; 200][..]))
            .await
            .map_err(|e| e.error);
        (sent, c.error())
    });
    pool.run_until_stalled();
    assert!(got.borrow().is_none(), "waits for the peer");
    r.advance(Duration::from_millis(500));
    pool.run_until_stalled();
    assert_eq!(
        got.borrow_mut().take(),
        Some((Ok(()), Some(Error::TimedOut))),
        "taken, then the connection failed"
    );
    assert_eq!(pair.borrow().stats().pipes_removed, 1);

    // 3. recv-timeout bounds the resend a waiting receive writes: REQ's
    //    request fits the peer's 64 bytes, its resend does not.
    let ((ar, aw), (_br, _bw)) = raw_end(64, 0x31);
    let req: Shared = Rc::new(RefCell::new(Solo::new(Protocol::Req0, r.clone())));
    req.borrow_mut()
        .set_opt(SockOpt::ReqResendTime(Some(Duration::from_secs(1))))
        .unwrap();
    req.borrow_mut()
        .set_opt(SockOpt::RecvTimeout(Some(Duration::from_secs(3))))
        .unwrap();
    let got = spawn_on(&sp, &req, async move |s| {
        let mut c = s.attach(ar, aw, cfg()).await.unwrap();
        c.send(Message::from(&[1u8; 30][..])).await.unwrap();
        let r = c.recv().await;
        (r.err(), c.error())
    });
    pool.run_until_stalled();
    r.advance(Duration::from_secs(1)); // the resend starts and sticks
    pool.run_until_stalled();
    assert!(got.borrow().is_none());
    r.advance(Duration::from_secs(2));
    pool.run_until_stalled();
    assert_eq!(
        got.borrow_mut().take(),
        Some((Some(Error::TimedOut), Some(Error::TimedOut))),
        "recv ends at its timeout; the half-written connection is failed"
    );
}

#[test]
fn a_frame_split_across_a_resend_arrives_whole() {
    let r = rt();
    let (mut pool, sp) = pool();
    let ((ar, aw), (mut br, mut bw)) = raw_end(4096, 0x31);
    let req: Shared = Rc::new(RefCell::new(Solo::new(Protocol::Req0, r.clone())));
    req.borrow_mut()
        .set_opt(SockOpt::ReqResendTime(Some(Duration::from_secs(1))))
        .unwrap();
    let got = spawn_on(&sp, &req, async move |s| {
        let mut c = s.attach(ar, aw, cfg()).await.unwrap();
        c.send(Message::from("ask")).await.unwrap();
        // Our handshake, then the request: prefix, id, body.
        let mut h = [0u8; 8 + 8 + 4 + 3];
        br.read_exact(&mut h).await.unwrap();
        // The reply's first half now, the rest after a resend.
        let mut reply = vec![0, 0, 0, 0, 0, 0, 0, 10];
        reply.extend_from_slice(&h[16..20]);
        reply.extend_from_slice(b"answer");
        let (first, rest) = reply.split_at(10);
        bw.write_all(first).await.unwrap();
        let rest = rest.to_vec();
        let reader = async {
            let mut again = [0u8; 8 + 4 + 3];
            br.read_exact(&mut again).await.unwrap();
            assert_eq!(again, h[8..], "the resend is the same request");
            bw.write_all(&rest).await.unwrap();
        };
        let (m, ()) = futures::join!(c.recv(), reader);
        m.map(|m| m.body().to_vec())
    });
    pool.run_until_stalled();
    assert!(got.borrow().is_none(), "half a reply");
    r.advance(Duration::from_secs(1));
    pool.run_until_stalled();
    assert_eq!(got.borrow_mut().take(), Some(Ok(b"answer".to_vec())));
}
