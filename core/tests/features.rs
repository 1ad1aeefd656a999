//! Protocols, inproc, devices, contexts and raw sockets left out with cargo
//! features.
//!
//! With the default features every protocol is built and only the first
//! test has something to check; CI also runs this file on a build with
//! just REQ, PUSH, PULL and inproc:
//! `cargo test -p nanosp-core --no-default-features --features req0,push0,pull0,inproc --test features`,
//! and on one with REQ, REP and inproc but no contexts:
//! `cargo test -p nanosp-core --no-default-features --features req0,rep0,inproc --test features`.

use futures::executor::block_on;
use nanosp_core::testing::VirtualRuntime;
use nanosp_core::{Error, Message, Protocol, SockOpt, Socket};

const ALL: [Protocol; 12] = Protocol::ALL;

#[test]
fn is_built_says_which_protocols_are_compiled_in() {
    let want = [
        cfg!(feature = "pair0"),
        cfg!(feature = "pair1"),
        cfg!(feature = "pub0"),
        cfg!(feature = "sub0"),
        cfg!(feature = "push0"),
        cfg!(feature = "pull0"),
        cfg!(feature = "req0"),
        cfg!(feature = "rep0"),
        cfg!(feature = "surveyor0"),
        cfg!(feature = "respondent0"),
        cfg!(feature = "bus0"),
        cfg!(feature = "star0"),
    ];
    for (p, built) in ALL.into_iter().zip(want) {
        assert_eq!(p.is_built(), built, "{p:?}");
    }
}

/// Every operation on a socket of a protocol that is not built fails with
/// `NotSupported`, at once (nothing waits), and a send hands the message
/// back.
#[test]
fn a_protocol_left_out_refuses_every_operation() {
    let rt = VirtualRuntime::new(1);
    let mut refused = 0;
    for p in ALL.into_iter().filter(|p| !p.is_built()) {
        let s = Socket::new(p, rt.clone());
        refuses_everything(&s, p);
        // A pipe to it is refused: a built peer's dial fails.
        refused += usize::from(refuses_a_peer(&s, p, &rt, "unbuilt"));
    }
    // The CI run above has REP (left out) facing REQ (built).
    if Protocol::Req0.is_built() && !Protocol::Rep0.is_built() && cfg!(feature = "inproc") {
        assert!(refused > 0);
    }
}

#[cfg(all(feature = "push0", feature = "pull0", feature = "inproc"))]
#[test]
fn the_protocols_built_work() {
    let rt = VirtualRuntime::new(1);
    let pull = Socket::new(Protocol::Pull0, rt.clone());
    let push = Socket::new(Protocol::Push0, rt);
    pull.listen("inproc://features-built").unwrap();
    push.dial("inproc://features-built").unwrap();
    block_on(async {
        push.send(Message::from("one")).await.unwrap();
        assert_eq!(pull.recv().await.unwrap().body(), b"one");
    });
}

#[cfg(not(feature = "inproc"))]
#[test]
fn inproc_left_out_is_an_unavailable_transport() {
    let s = Socket::new(Protocol::Req0, VirtualRuntime::new(1));
    assert_eq!(
        s.listen("inproc://x").unwrap_err(),
        Error::TransportUnavailable
    );
    assert_eq!(
        s.dial("inproc://x").unwrap_err(),
        Error::TransportUnavailable
    );
}

/// REQ and REP work at the socket level whether contexts are built or not
/// (CI also runs this file with `req0,rep0,inproc` and no `contexts` or
/// `raw`); without them `context()` is `NotSupported`. The resend timer
/// runs on the socket's own context either way. With `raw` the REP is raw,
/// and shows that the resent request carries the same id.
#[cfg(all(feature = "req0", feature = "rep0", feature = "inproc"))]
#[test]
fn req_and_rep_work_with_or_without_contexts() {
    use core::time::Duration;
    let rt = VirtualRuntime::new(1);
    let raw = cfg!(feature = "raw");
    let rep = if raw {
        Socket::new_raw(Protocol::Rep0, rt.clone())
    } else {
        Socket::new(Protocol::Rep0, rt.clone())
    };
    let req = Socket::new(Protocol::Req0, rt.clone());
    rep.listen("inproc://features-reqrep").unwrap();
    req.dial("inproc://features-reqrep").unwrap();
    let want = if cfg!(feature = "contexts") {
        Ok(())
    } else {
        Err(Error::NotSupported)
    };
    assert_eq!(req.context().map(drop), want);
    req.set_opt(SockOpt::ReqResendTime(Some(Duration::from_secs(60))))
        .unwrap();
    block_on(req.send(Message::from("please"))).unwrap();
    let first = rep.try_recv().unwrap();
    assert_eq!(first.body(), b"please");
    rt.advance(Duration::from_secs(60));
    assert_eq!(req.try_recv().unwrap_err(), Error::WouldBlock);
    let again = rep.try_recv().unwrap();
    assert_eq!(again.body(), b"please", "resent");
    let mut answer = Message::from("answer");
    if raw {
        assert_eq!(first.header(), again.header(), "resent with the same id");
        answer.set_header(again.header()).unwrap();
    }
    rep.try_send(answer).unwrap();
    assert_eq!(block_on(req.recv()).unwrap().body(), b"answer");
}

/// Without the `raw` feature a raw socket, of any protocol, refuses every
/// operation with `NotSupported` (a send hands the message back), and a
/// peer's pipe to it, as a protocol left out does.
#[cfg(not(feature = "raw"))]
#[test]
fn raw_left_out_refuses_every_operation() {
    let rt = VirtualRuntime::new(1);
    let mut refused = 0;
    for p in ALL {
        let s = Socket::new_raw(p, rt.clone());
        assert!(s.is_raw());
        refuses_everything(&s, p);
        refused += usize::from(refuses_a_peer(&s, p, &rt, "raw-left-out"));
    }
    // Both CI runs without `raw` have inproc and a built peer.
    assert_eq!(refused > 0, cfg!(feature = "inproc"));
}

/// With inproc and a built peer protocol: `s` listens, and a cooked peer's
/// dial fails with `NotSupported` (its pipe was refused). False when there
/// is no such peer to try.
fn refuses_a_peer(s: &Socket<VirtualRuntime>, p: Protocol, rt: &VirtualRuntime, tag: &str) -> bool {
    let _ = (s, p, rt, tag);
    #[cfg(feature = "inproc")]
    if let Some(q) = ALL
        .into_iter()
        .find(|q| q.is_built() && q.number() == p.peer_number())
    {
        let url = format!("inproc://{tag}-{}", p.name());
        s.listen(&url).unwrap();
        let peer = Socket::new(q, rt.clone());
        assert_eq!(
            peer.dial(&url).unwrap_err(),
            Error::NotSupported,
            "{p:?} pipe"
        );
        return true;
    }
    false
}

/// Send, receive, an option and a context all fail with `NotSupported`, at
/// once (nothing waits), and the send hands its message back.
fn refuses_everything(s: &Socket<VirtualRuntime>, p: Protocol) {
    block_on(async {
        let e = s.send(Message::from("hi")).await.unwrap_err();
        assert_eq!(e.error, Error::NotSupported, "{p:?} send");
        assert_eq!(e.message.body(), b"hi");
        assert_eq!(
            s.recv().await.unwrap_err(),
            Error::NotSupported,
            "{p:?} recv"
        );
    });
    assert_eq!(
        s.set_opt(SockOpt::Subscribe(b"x".to_vec())).unwrap_err(),
        Error::NotSupported,
        "{p:?} option"
    );
    assert!(s.context().is_err(), "{p:?} context");
}
