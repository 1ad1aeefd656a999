//! The `tracing` events an operator relies on are emitted, with their
//! fields: listener bound, handshake failure with the typed error, pipe
//! closed with its reason, dial failure and back-off. A tiny subscriber
//! records them; it is the process's global one, hence this binary.
#![cfg(feature = "tracing")]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use nanosp::{Message, Protocol, SockOpt, Socket};
use tokio::io::AsyncWriteExt;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Each event as `LEVEL message field=value ...`.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

struct Line(String);
impl Visit for Line {
    fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
        if f.name() == "message" {
            self.0.push_str(&format!(" {v:?}"));
        } else {
            self.0.push_str(&format!(" {}={v:?}", f.name()));
        }
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.target() == "nanosp"
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, e: &Event<'_>) {
        let mut l = Line(e.metadata().level().to_string());
        e.record(&mut l);
        self.0.lock().unwrap().push(l.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Recorder {
    fn has(&self, parts: &[&str]) -> bool {
        self.0
            .lock()
            .unwrap()
            .iter()
            .any(|l| parts.iter().all(|p| l.contains(p)))
    }
}

#[tokio::test]
async fn operators_see_why_peers_are_refused_and_closed() {
    let rec = Recorder::default();
    tracing::subscriber::set_global_default(rec.clone()).unwrap();

    let pull = Socket::new(Protocol::Pull0);
    let l = pull.listen("tcp://127.0.0.1:0").await.unwrap();
    let url = l.url().to_string();
    until("listener bound", || {
        rec.has(&["INFO", "listener bound", &url])
    })
    .await;

    // A peer that sends garbage for a header: refused, with the typed error.
    let mut bad = tokio::net::TcpStream::connect(l.local_addr().unwrap())
        .await
        .unwrap();
    bad.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    until("handshake failed", || {
        rec.has(&["WARN", "handshake failed", "dialed=false", "error="])
    })
    .await;

    // A good peer connects, then goes away: its pipe closes with a reason,
    // seen from both ends; the dialer then backs off and fails to redial.
    let push = Socket::new(Protocol::Push0);
    push.set_opt(SockOpt::ReconnectTimeMin(std::time::Duration::from_millis(
        10,
    )))
    .unwrap();
    push.dial(&url).await.unwrap();
    push.send(Message::from("x")).await.unwrap();
    assert_eq!(pull.recv().await.unwrap().body(), b"x");
    pull.close();
    until("pipe closed (dialer)", || {
        rec.has(&["INFO", "pipe closed", "dialed=true", "reason="])
    })
    .await;
    until("back-off", || {
        rec.has(&["DEBUG", "redialing after back-off", "wait="])
    })
    .await;
    until("dial failed", || {
        rec.has(&["DEBUG", "dial failed", &url, "error="])
    })
    .await;
    push.close();
    for l in rec.0.lock().unwrap().iter() {
        println!("{l}");
    }
}
