//! Feeds arbitrary messages (arbitrary header/body split, arbitrary bytes,
//! or built backtraces and hop counts) from arbitrary pipes into one protocol
//! machine, cooked or raw, while the application sends, receives, opens and
//! closes contexts, sets options and time passes. No engine: the machine runs
//! in core's hidden harness (`nanosp_core::proto::testing`, feature `fuzzing`).
//!
//! Checks, beyond "never panics":
//! * a message handed back as `Full` has its wire view unchanged;
//! * for the header-parsing protocols (REP and RESPONDENT cooked and raw,
//!   raw REQ and raw SURVEYOR, PAIR1, STAR, BUS) an independent model of the
//!   wire rules predicts, per message, close / drop (and which counter) /
//!   deliver, and what the application receives: a cooked REP never delivers
//!   a request whose backtrace exceeds `ttl-max`; raw sockets keep the header
//!   intact (REP pushes the pipe id in front of it, STAR has the incremented
//!   count, BUS the source pipe); a PAIR1 hop count over `ttl-max` is dropped
//!   and counted in `drops_hop_limit`;
//! * what REP, STAR and BUS put on pipes equals the model's (replies go back
//!   with their backtrace to the pipe the request came from; STAR forwards with
//!   one more hop to every other pipe; raw REP routes by the header's pipe id);
//!   raw PAIR1 sends carry the received count plus one;
//! * cooked REQ and SURVEYOR only ever return a reply whose id they sent;
//! * bounded state: the model's queues never exceed the protocol's limits,
//!   and what can be received at the end is bounded.
//!
//! Input: byte 0 picks the protocol (`Protocol::ALL[b % 12]`), bit 0 of byte
//! 1 raw mode; then operations `op v [args]`, op % 13: 0 add a pipe (queue
//! 1 + v % 8), 1 close pipe v, 2–5 a message from pipe v, split after
//! v >> 4 bytes into header/body (2: arbitrary bytes; 3: k hop words and an
//! id, then a body; 4: a hop count, then a body; 5: the first k words of
//! what the machine last sent, then a body), 6 receive on context v, 7 send
//! on context v (raw: an arbitrary header, or with bit 7 the last received
//! one's), 8 drain pipe v, 9 time passes (v × 100 ms) and due deadlines
//! expire, 10 open (or with bit 7 close) a context, 11 set an option
//! (`ttl-max`, buffers, resend/survey time), 12 a receive is cancelled.
#![no_main]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use nanosp_core::proto::testing::{Delivery, Harness};
use nanosp_core::{CtxId, Error, Message, Protocol, SockOpt, HEADER_CAPACITY};

/// Reads the input; past its end every read is 0.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a.to_vec()
    }
    fn word(&mut self) -> u32 {
        u32::from_be_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

/// What the wire rules say about one message from a pipe.
#[derive(Debug, PartialEq)]
enum Verdict {
    Close,
    DropHop,
    DropMalformed,
    DropQueueFull,
    Full,
    /// Delivered to the application as this header and body.
    Deliver(Vec<u8>, Vec<u8>),
    /// Not modelled for this protocol.
    Unknown,
}

/// The backtrace rule (docs/wire.md §4.0): words until one with bit 31, at most
/// `ttl` of them; `None` = malformed (close), `Some(None)` = too many hops.
fn backtrace_len(wire: &[u8], ttl: u8) -> Option<Option<usize>> {
    let words: Vec<u32> = wire
        .chunks_exact(4)
        .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
        .collect();
    for i in 0..usize::from(ttl) {
        let w = *words.get(i)?;
        if w & 0x8000_0000 != 0 {
            return Some(Some(i + 1));
        }
    }
    if words.len() > usize::from(ttl) {
        Some(None)
    } else {
        None
    }
}

fn wire_of(m: &Message) -> Vec<u8> {
    let mut v = m.header().to_vec();
    v.extend_from_slice(m.body());
    v
}

struct Model {
    proto: Protocol,
    raw: bool,
    ttl: u8,
    recv_cap: usize,
    bus_cap: usize,
    /// Attached pipes and their outgoing capacity.
    pipes: BTreeMap<u32, usize>,
    next_pipe: u32,
    /// A message a pipe holds because the machine said `Full` (the engine
    /// retries it after a receive; that pipe reads nothing meanwhile).
    held: BTreeMap<u32, Message>,
    /// Messages the application will receive, in order, with their pipe.
    recvq: VecDeque<(u32, Vec<u8>, Vec<u8>)>,
    /// Messages the machine queued on each pipe, in order (exact model).
    out: BTreeMap<u32, VecDeque<Vec<u8>>>,
    ctxs: BTreeSet<u32>,
    /// Cooked REP: the request each context answers next.
    rep_pending: BTreeMap<u32, (u32, Vec<u8>)>,
    /// Cooked REQ/SURVEYOR: request ids seen on the wire; replies taken.
    ids_out: BTreeSet<u32>,
    replies: Vec<Vec<u8>>,
    /// Raw PAIR1: hop words the application sent (each leaves incremented).
    pair1_sent: Vec<Vec<u8>>,
    hop_drops: u64,
    malformed_drops: u64,
    queue_full_drops: u64,
}

impl Model {
    fn modelled(&self) -> bool {
        match self.proto {
            Protocol::Rep0 | Protocol::Respondent0 | Protocol::Pair1 | Protocol::Star0 => true,
            Protocol::Bus0 => true,
            Protocol::Req0 | Protocol::Surveyor0 => self.raw,
            _ => false,
        }
    }

    /// Models the queues of outgoing messages exactly.
    fn models_out(&self) -> bool {
        matches!(
            self.proto,
            Protocol::Rep0 | Protocol::Respondent0 | Protocol::Star0 | Protocol::Bus0
        )
    }

    fn cap_of(&self, p: u32) -> usize {
        if self.proto == Protocol::Bus0 {
            self.bus_cap
        } else {
            self.pipes[&p]
        }
    }

    fn room(&self, p: u32) -> bool {
        self.pipes.contains_key(&p) && self.out.get(&p).map_or(0, |q| q.len()) < self.cap_of(p)
    }

    /// What the wire rules say about `wire` from pipe `p` (machine state as now).
    fn verdict(&mut self, p: u32, wire: &[u8], header_len: usize) -> Verdict {
        let cap = self.recv_cap.max(1);
        match self.proto {
            Protocol::Rep0 | Protocol::Respondent0 => {
                if self.recvq.len() >= cap {
                    return Verdict::Full;
                }
                match backtrace_len(wire, self.ttl) {
                    None => Verdict::Close,
                    Some(None) => Verdict::DropHop,
                    Some(Some(n)) => {
                        assert!(n <= usize::from(self.ttl), "REP backtrace over ttl-max");
                        let (bt, body) = wire.split_at(4 * n);
                        if self.raw {
                            if 4 + bt.len() > HEADER_CAPACITY {
                                return Verdict::DropHop;
                            }
                            let mut h = (p & 0x7fff_ffff).to_be_bytes().to_vec();
                            h.extend_from_slice(bt);
                            Verdict::Deliver(h, body.to_vec())
                        } else {
                            // Cooked: the application sees the body; the
                            // backtrace (here in the header slot) is kept.
                            Verdict::Deliver(bt.to_vec(), body.to_vec())
                        }
                    }
                }
            }
            Protocol::Req0 | Protocol::Surveyor0 if self.raw => {
                let req = self.proto == Protocol::Req0;
                if req && self.recvq.len() >= cap {
                    return Verdict::Full;
                }
                match backtrace_len(wire, self.ttl) {
                    None => Verdict::Close,
                    Some(None) => Verdict::DropHop,
                    Some(Some(_)) if !req && self.recvq.len() >= 128 => Verdict::DropQueueFull,
                    Some(Some(n)) => {
                        let (bt, body) = wire.split_at(4 * n);
                        Verdict::Deliver(bt.to_vec(), body.to_vec())
                    }
                }
            }
            Protocol::Pair1 => {
                if self.recvq.len() >= cap {
                    return Verdict::Full;
                }
                if wire.len() < 4 {
                    return Verdict::Close;
                }
                let hops = u32::from_be_bytes([wire[0], wire[1], wire[2], wire[3]]);
                if hops > 0xff {
                    Verdict::Close
                } else if hops > u32::from(self.ttl) {
                    Verdict::DropHop
                } else if self.raw {
                    Verdict::Deliver(wire[..4].to_vec(), wire[4..].to_vec())
                } else {
                    Verdict::Deliver(Vec::new(), wire[4..].to_vec())
                }
            }
            Protocol::Star0 => {
                if wire.len() < 4 || wire[..3] != [0, 0, 0] {
                    return Verdict::DropMalformed;
                }
                let hops = wire[3];
                if hops >= self.ttl {
                    return Verdict::DropHop;
                }
                let h = vec![0, 0, 0, hops + 1];
                // Forwarded to every other pipe, with one more hop.
                let mut fwd = h.clone();
                fwd.extend_from_slice(&wire[4..]);
                let others: Vec<u32> = self.pipes.keys().copied().filter(|&q| q != p).collect();
                for q in others {
                    self.queue_out(q, fwd.clone());
                }
                if self.recvq.len() >= 128 {
                    return Verdict::DropQueueFull;
                }
                let h = if self.raw { h } else { Vec::new() };
                Verdict::Deliver(h, wire[4..].to_vec())
            }
            Protocol::Bus0 => {
                if self.recvq.len() >= cap {
                    return Verdict::DropQueueFull;
                }
                if self.raw {
                    Verdict::Deliver((p & 0x7fff_ffff).to_be_bytes().to_vec(), wire.to_vec())
                } else {
                    // Cooked BUS passes the message as it came.
                    Verdict::Deliver(wire[..header_len].to_vec(), wire[header_len..].to_vec())
                }
            }
            _ => Verdict::Unknown,
        }
    }

    /// The machine puts `m` on pipe `q` if it has room, else drops it (counted).
    fn queue_out(&mut self, q: u32, m: Vec<u8>) {
        if self.room(q) {
            self.out.entry(q).or_default().push_back(m);
        } else {
            self.queue_full_drops += 1;
        }
    }

    fn remove_pipe(&mut self, p: u32) {
        self.pipes.remove(&p);
        self.held.remove(&p);
        self.out.remove(&p);
        // REP keeps queued requests of a gone pipe (as nng): the
        // application receives them and its replies are discarded.
    }
}

struct Run {
    h: Harness,
    m: Model,
    /// The last message the application received (a raw device sends its
    /// header back).
    last_in: Option<Message>,
}

impl Run {
    fn check_counters(&self) {
        if !self.m.modelled() {
            return;
        }
        let s = &self.h.stats;
        assert_eq!(s.drops_hop_limit, self.m.hop_drops, "hop-limit drops");
        assert_eq!(s.drops_malformed, self.m.malformed_drops, "malformed drops");
        if self.m.models_out() {
            assert_eq!(
                s.drops_queue_full, self.m.queue_full_drops,
                "queue-full drops"
            );
        }
    }

    /// Pipe `p` delivers `msg`; checks the machine against the model.
    fn deliver(&mut self, p: u32, msg: Message) {
        if !self.m.pipes.contains_key(&p) || self.m.held.contains_key(&p) {
            return;
        }
        let wire = wire_of(&msg);
        let header_len = msg.header().len();
        let v = if self.m.modelled() {
            self.m.verdict(p, &wire, header_len)
        } else {
            Verdict::Unknown
        };
        let got = self.h.deliver_msg(p, msg);
        match got {
            Delivery::Full(back) => {
                assert_eq!(
                    wire_of(&back),
                    wire,
                    "Full must hand the message back unchanged"
                );
                assert_eq!(
                    back.header().len(),
                    header_len,
                    "Full must not move the header"
                );
                assert!(
                    matches!(v, Verdict::Full | Verdict::Unknown),
                    "Full, model {v:?}"
                );
                self.m.held.insert(p, back);
            }
            Delivery::Close(e) => {
                assert!(
                    matches!(v, Verdict::Close | Verdict::Unknown),
                    "closed ({e}), model {v:?} for {wire:?}"
                );
                self.close(p);
            }
            Delivery::Taken => match v {
                Verdict::Full | Verdict::Close => panic!("taken, model {v:?} for {wire:?}"),
                Verdict::DropHop => self.m.hop_drops += 1,
                Verdict::DropMalformed => self.m.malformed_drops += 1,
                Verdict::DropQueueFull => self.m.queue_full_drops += 1,
                Verdict::Deliver(h, b) => self.m.recvq.push_back((p, h, b)),
                Verdict::Unknown => {
                    // Cooked REQ/SURVEYOR: a reply to an id we sent may be received.
                    if matches!(self.m.proto, Protocol::Req0 | Protocol::Surveyor0)
                        && wire.len() >= 4
                    {
                        let id = u32::from_be_bytes([wire[0], wire[1], wire[2], wire[3]]);
                        if self.m.ids_out.contains(&id) {
                            self.m.replies.push(wire[4..].to_vec());
                        }
                    }
                }
            },
        }
        self.check_counters();
    }

    fn pick_ctx(&self, v: u8) -> u32 {
        let n = self.m.ctxs.len();
        *self
            .m
            .ctxs
            .iter()
            .nth(usize::from(v) % n)
            .expect("socket context")
    }

    fn close(&mut self, p: u32) {
        self.h.remove(p);
        self.m.remove_pipe(p);
    }

    fn recv(&mut self, c: u32) {
        let r = self.h.recv_on(CtxId(c));
        match r {
            Ok(msg) => {
                if self.m.modelled() {
                    let (p, h, b) = self
                        .m
                        .recvq
                        .pop_front()
                        .expect("model has nothing to receive");
                    let cooked_rep = matches!(self.m.proto, Protocol::Rep0 | Protocol::Respondent0)
                        && !self.m.raw;
                    if cooked_rep {
                        // The application sees the body only; the backtrace is kept.
                        assert!(msg.header().is_empty(), "cooked REP shows a header");
                        assert_eq!(msg.body(), &b[..]);
                        self.m.rep_pending.insert(c, (p, h));
                    } else {
                        assert_eq!(msg.header(), &h[..], "header as the model says");
                        assert_eq!(msg.body(), &b[..], "body as the model says");
                    }
                } else if matches!(self.m.proto, Protocol::Req0 | Protocol::Surveyor0) {
                    assert!(msg.header().is_empty(), "cooked reply with a header");
                    let i = self
                        .m
                        .replies
                        .iter()
                        .position(|r| r[..] == *msg.body())
                        .expect("a reply whose id was never sent");
                    self.m.replies.swap_remove(i);
                }
                self.last_in = Some(msg);
                self.retry_held();
            }
            Err(Error::WouldBlock) => {
                if self.m.modelled() {
                    assert!(self.m.recvq.is_empty(), "model has a message, machine none");
                }
            }
            Err(_) => {}
        }
    }

    fn retry_held(&mut self) {
        let held: Vec<(u32, Message)> = std::mem::take(&mut self.m.held).into_iter().collect();
        for (p, msg) in held {
            self.deliver(p, msg);
        }
    }

    fn send(&mut self, c: u32, header: Vec<u8>, body: Vec<u8>) {
        let mut msg = Message::from(body.clone());
        if self.m.raw && msg.set_header(&header).is_err() {
            return;
        }
        let hdr = msg.header().to_vec();
        let r = self.h.send_on(CtxId(c), msg);
        let proto = self.m.proto;
        match proto {
            Protocol::Rep0 | Protocol::Respondent0 if !self.m.raw => {
                if !self.m.ctxs.contains(&c) {
                    assert_eq!(r.map_err(|e| e.error), Err(Error::Closed));
                    return;
                }
                match self.m.rep_pending.get(&c).cloned() {
                    None => assert_eq!(r.map_err(|e| e.error), Err(Error::ProtocolState)),
                    Some((p, bt)) => {
                        let mut wire = bt;
                        wire.extend_from_slice(&body);
                        if !self.m.pipes.contains_key(&p) {
                            assert!(r.is_ok(), "a reply to a gone pipe is discarded");
                            self.m.rep_pending.remove(&c);
                        } else if self.m.room(p) {
                            assert!(r.is_ok(), "reply with room refused: {r:?}");
                            self.m.rep_pending.remove(&c);
                            self.m.out.entry(p).or_default().push_back(wire);
                        } else {
                            let e = r.expect_err("reply queued on a full pipe");
                            assert_eq!(e.error, Error::WouldBlock);
                        }
                    }
                }
            }
            Protocol::Rep0 | Protocol::Respondent0 => {
                assert!(r.is_ok(), "raw REP send never fails");
                if hdr.len() < 4 {
                    return;
                }
                let p = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
                let mut wire = hdr[4..].to_vec();
                wire.extend_from_slice(&body);
                if self.m.room(p) {
                    self.m.out.entry(p).or_default().push_back(wire);
                }
            }
            Protocol::Star0 => {
                assert!(r.is_ok(), "STAR send never fails");
                let h = if self.m.raw { hdr } else { vec![0, 0, 0, 0] };
                if h.len() != 4 {
                    return;
                }
                let mut wire = h;
                wire.extend_from_slice(&body);
                let all: Vec<u32> = self.m.pipes.keys().copied().collect();
                for q in all {
                    self.m.queue_out(q, wire.clone());
                }
            }
            Protocol::Bus0 => {
                assert!(r.is_ok(), "BUS send never fails");
                let skip = (self.m.raw && hdr.len() >= 4)
                    .then(|| u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]));
                let all: Vec<u32> = self.m.pipes.keys().copied().collect();
                for q in all {
                    if Some(q) != skip {
                        self.m.queue_out(q, body.clone());
                    }
                }
            }
            Protocol::Pair1 if r.is_ok() => {
                if self.m.raw {
                    let v =
                        u32::from_be_bytes(hdr[..4].try_into().expect("raw PAIR1 needs 4 bytes"));
                    assert!(v < 0xff, "raw PAIR1 accepted hop count {v}");
                    let mut w = (v + 1).to_be_bytes().to_vec();
                    w.extend_from_slice(&body);
                    self.m.pair1_sent.push(w);
                } else {
                    let mut w = vec![0, 0, 0, 1];
                    w.extend_from_slice(&body);
                    self.m.pair1_sent.push(w);
                }
            }
            _ => {}
        }
        self.check_counters();
    }

    /// Pops everything queued on pipe `p` and checks it against the model.
    fn drain(&mut self, p: u32) -> Vec<Vec<u8>> {
        let got: Vec<Vec<u8>> = self.h.sent_msgs(p).iter().map(wire_of).collect();
        if self.m.models_out() {
            let want: Vec<Vec<u8>> = self.m.out.remove(&p).unwrap_or_default().into();
            assert_eq!(got, want, "what {:?} queued on pipe {p}", self.m.proto);
        }
        for w in &got {
            match self.m.proto {
                Protocol::Pair1 => {
                    let i = self
                        .m
                        .pair1_sent
                        .iter()
                        .position(|x| x == w)
                        .expect("PAIR1 sent something it was not given");
                    self.m.pair1_sent.remove(i);
                }
                Protocol::Req0 | Protocol::Surveyor0 if !self.m.raw => {
                    assert!(
                        w.len() >= 4 && w[0] & 0x80 != 0,
                        "request id without bit 31"
                    );
                    self.m
                        .ids_out
                        .insert(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
                }
                _ => {}
            }
        }
        // Draining made room: the machine was told; replies may have moved.
        got
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input(data);
    let proto = Protocol::ALL[usize::from(inp.byte()) % Protocol::ALL.len()];
    let raw = inp.byte() & 1 == 1;
    let mut run = Run {
        h: Harness::new(proto, raw),
        m: Model {
            proto,
            raw,
            ttl: 8,
            recv_cap: match proto {
                Protocol::Pair1 => 0,
                Protocol::Bus0 => 16,
                _ => 128,
            },
            bus_cap: 16,
            pipes: BTreeMap::new(),
            next_pipe: 1,
            held: BTreeMap::new(),
            recvq: VecDeque::new(),
            out: BTreeMap::new(),
            ctxs: [0].into_iter().collect(),
            rep_pending: BTreeMap::new(),
            ids_out: BTreeSet::new(),
            replies: Vec::new(),
            pair1_sent: Vec::new(),
            hop_drops: 0,
            malformed_drops: 0,
            queue_full_drops: 0,
        },
        last_in: None,
    };
    let mut last_out: Vec<u8> = Vec::new();
    let mut steps = 0;
    let mut next_ctx = 0u32;
    while !inp.done() && steps < 2000 {
        steps += 1;
        let op = inp.byte();
        let v = inp.byte();
        match op % 13 {
            0 => {
                // A new pipe with an outgoing queue of 1..=8.
                if run.m.pipes.len() < 6 {
                    let id = run.m.next_pipe;
                    run.m.next_pipe += 1;
                    let cap = 1 + usize::from(v % 8);
                    if run.h.add(id, cap).is_ok() {
                        run.m.pipes.insert(id, cap);
                    } else {
                        assert!(matches!(proto, Protocol::Pair0 | Protocol::Pair1));
                    }
                }
            }
            1 => {
                if let Some(&p) = run
                    .m
                    .pipes
                    .keys()
                    .nth(usize::from(v) % run.m.pipes.len().max(1))
                {
                    run.close(p);
                }
            }
            2 | 3 | 4 | 5 => {
                let Some(&p) = run
                    .m
                    .pipes
                    .keys()
                    .nth(usize::from(v) % run.m.pipes.len().max(1))
                else {
                    continue;
                };
                let mut wire = match op % 13 {
                    // Arbitrary bytes.
                    2 => {
                        let n = usize::from(inp.byte());
                        inp.bytes(n)
                    }
                    // A backtrace of k hop words and an id, then a body.
                    3 => {
                        let k = usize::from(inp.byte() % 20);
                        let mut w = Vec::new();
                        for _ in 0..k {
                            w.extend_from_slice(&(inp.word() & 0x7fff_ffff).to_be_bytes());
                        }
                        w.extend_from_slice(&(inp.word() | 0x8000_0000).to_be_bytes());
                        w
                    }
                    // A hop count (PAIR1, STAR), then a body.
                    4 => {
                        let hi = inp.byte();
                        let hops = if hi & 0x80 != 0 {
                            inp.word()
                        } else {
                            u32::from(hi % 20)
                        };
                        hops.to_be_bytes().to_vec()
                    }
                    // An answer to what the machine last sent: its first k words.
                    _ => {
                        let k = 4 * usize::from(inp.byte() % 17);
                        last_out[..k.min(last_out.len())].to_vec()
                    }
                };
                if op % 13 != 2 {
                    let n = usize::from(inp.byte() % 16);
                    wire.extend(inp.bytes(n));
                }
                // Split between header and body as an inproc peer might.
                let split = usize::from(v >> 4).min(wire.len()).min(HEADER_CAPACITY);
                let mut msg = Message::from(&wire[split..]);
                msg.set_header(&wire[..split]).expect("fits");
                run.deliver(p, msg);
            }
            6 => {
                // The engine only names contexts that exist.
                let c = run.pick_ctx(v);
                run.recv(c);
            }
            7 => {
                // Application send; raw sockets get an arbitrary header, or
                // the header of the last message received (a device).
                let c = run.pick_ctx(v);
                let n = usize::from(inp.byte() % 16);
                let body = inp.bytes(n);
                let header = if v & 0x80 != 0 {
                    run.last_in
                        .as_ref()
                        .map(|m| m.header().to_vec())
                        .unwrap_or_default()
                } else {
                    let n = usize::from(inp.byte() % 13);
                    inp.bytes(n)
                };
                run.send(c, header, body);
            }
            8 => {
                if let Some(&p) = run
                    .m
                    .pipes
                    .keys()
                    .nth(usize::from(v) % run.m.pipes.len().max(1))
                {
                    if let Some(w) = run.drain(p).pop() {
                        last_out = w;
                    }
                }
            }
            9 => {
                // Time passes; due deadlines expire.
                run.h.now = run.h.now + Duration::from_millis(u64::from(v) * 100);
                for c in run.m.ctxs.clone() {
                    run.h.expire_due(CtxId(c));
                }
            }
            10 => {
                // As the engine: a context id is fresh when opened, and
                // only open contexts are closed.
                if v & 0x80 != 0 {
                    let c = run.pick_ctx(v);
                    if c != 0 {
                        run.h.close_ctx(CtxId(c));
                        run.m.ctxs.remove(&c);
                        run.m.rep_pending.remove(&c);
                    }
                } else if run.m.ctxs.len() < 5 {
                    next_ctx += 1;
                    let c = next_ctx;
                    if run.h.open_ctx(CtxId(c)).is_ok() {
                        run.m.ctxs.insert(c);
                    }
                }
            }
            11 => {
                let arg = inp.byte();
                let o = match v % 5 {
                    0 => SockOpt::TtlMax(arg % 17),
                    1 => SockOpt::RecvBuffer(usize::from(arg)),
                    2 => SockOpt::SendBuffer(usize::from(arg)),
                    3 => SockOpt::ReqResendTime(Some(Duration::from_millis(u64::from(arg) * 100))),
                    _ => SockOpt::SurveyTime(Duration::from_millis(u64::from(arg) * 100)),
                };
                let ok = run.h.set(o.clone()).is_ok();
                if ok {
                    match o {
                        SockOpt::TtlMax(t) => run.m.ttl = t,
                        SockOpt::RecvBuffer(n) => run.m.recv_cap = n,
                        SockOpt::SendBuffer(n) if proto == Protocol::Bus0 => run.m.bus_cap = n,
                        _ => {}
                    }
                }
            }
            _ => {
                let c = run.pick_ctx(v);
                run.h.cancel_recv_on(CtxId(c));
            }
        }
        // Bounded state.
        assert!(run.m.recvq.len() <= 8192, "receive queue unbounded");
        assert!(run.m.held.len() <= run.m.pipes.len());
    }
    // Whatever is left to receive is bounded by the queues' limits.
    let mut left = 0usize;
    for c in run.m.ctxs.clone() {
        while run.h.recv_on(CtxId(c)).is_ok() {
            left += 1;
            assert!(left <= 8192 * 5, "unbounded receive queue");
        }
    }
});
