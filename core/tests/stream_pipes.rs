//! The stream adapter over in-memory byte streams: handshake, framing, bad
//! input closing one pipe only, handshake timeouts, write coalescing, and the
//! dialer's back-off, all in virtual time.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{pool, rt, url, Local};
use embedded_io_async::{ErrorType, Read, Write};
use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;
use nanosp_core::frame::Framing;
use nanosp_core::stream::establish;
use nanosp_core::testing::{duplex, MemReader, MemWriter};
use nanosp_core::transport::{accept_loop, dialer_loop, Spawner};
use nanosp_core::{
    testing::VirtualRuntime, Error, Message, Protocol, ProtocolError, Runtime, SockOpt, Socket,
};

type Sock = Socket<VirtualRuntime>;

/// Connects `sock` (as listener side) to a raw peer we drive by hand.
fn raw_peer(
    sock: &Sock,
    sp: &Local,
    framing: Framing,
) -> (MemReader, MemWriter, Rc<RefCell<Option<Error>>>) {
    let (a, b) = duplex(1 << 16);
    let (ar, aw) = a.split();
    let sref = sock.transport_ref();
    let why = Rc::new(RefCell::new(None));
    let w = why.clone();
    sp.0.spawn_local(async move {
        let e = match establish(&sref, ar, aw, framing, "mem://peer", false).await {
            Ok(p) => p.run().await,
            Err(e) => e,
        };
        *w.borrow_mut() = Some(e);
    })
    .unwrap();
    let (br, bw) = b.split();
    (br, bw, why)
}

fn run<F: std::future::Future>(pool: &mut LocalPool, f: F) -> F::Output {
    pool.run_until(f)
}

async fn read_n(r: &mut MemReader, n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    r.read_exact(&mut v).await.unwrap();
    v
}

#[test]
fn handshake_and_framing_are_byte_exact() {
    for framing in [Framing::Tcp, Framing::Ipc] {
        let (mut pool, sp) = pool();
        let s = Socket::new(Protocol::Pair1, rt());
        let (mut r, mut w, _) = raw_peer(&s, &sp, framing);
        let pre: &[u8] = if framing == Framing::Ipc { &[1] } else { &[] };
        run(&mut pool, async {
            assert_eq!(read_n(&mut r, 8).await, [0, b'S', b'P', 0, 0, 0x11, 0, 0]);
            w.write_all(&[0, b'S', b'P', 0, 0, 0x11, 0, 0])
                .await
                .unwrap();
            let mut frame = pre.to_vec();
            frame.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 1, b'h', b'i']);
            w.write_all(&frame).await.unwrap();
        });
        let m = run(&mut pool, s.recv()).unwrap();
        assert_eq!(m.body(), b"hi");
        run(&mut pool, s.send(Message::from("yo"))).unwrap();
        let got = run(&mut pool, read_n(&mut r, pre.len() + 14));
        let mut want = pre.to_vec();
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 1, b'y', b'o']);
        assert_eq!(got, want);
    }
}

#[test]
fn bad_frame_closes_only_that_pipe() {
    let (mut pool, sp) = pool();
    let s = Socket::new(Protocol::Pull0, rt());
    let (_r1, mut w1, why1) = raw_peer(&s, &sp, Framing::Tcp);
    let (mut r2, mut w2, why2) = raw_peer(&s, &sp, Framing::Tcp);
    let (_r3, mut w3, why3) = raw_peer(&s, &sp, Framing::Tcp);
    s.set_opt(SockOpt::RecvMaxSize(16)).unwrap();
    let hs = [0, b'S', b'P', 0, 0, 0x50, 0, 0];
    run(&mut pool, async {
        for w in [&mut w1, &mut w2, &mut w3] {
            w.write_all(&hs).await.unwrap();
        }
        // Pipe 2: a length with reserved top bits.
        w2.write_all(&[0x10, 0, 0, 0, 0, 0, 0, 1, 0]).await.unwrap();
    });
    pool.run_until_stalled();
    assert_eq!(
        *why2.borrow(),
        Some(Error::Protocol(ProtocolError::ReservedLengthBits))
    );
    assert!(why1.borrow().is_none() && why3.borrow().is_none());
    // Peer 2 sees its connection end (EOF after our handshake).
    run(&mut pool, async {
        let _ = read_n(&mut r2, 8).await;
        let mut b = [0u8; 1];
        assert_eq!(r2.read(&mut b).await.unwrap(), 0);
    });
    // Pipe 3: over the receive limit (16 bytes of body + 64 of header room:
    // 81 > 80), announced before any body byte.
    let limit = 16 + nanosp_core::HEADER_CAPACITY as u64;
    run(&mut pool, async {
        w3.write_all(&(limit + 1).to_be_bytes()).await.unwrap();
    });
    pool.run_until_stalled();
    assert_eq!(
        *why3.borrow(),
        Some(Error::MessageTooLong {
            len: limit + 1,
            limit
        })
    );
    // Pipe 1 carries on.
    run(&mut pool, async {
        w1.write_all(&[0, 0, 0, 0, 0, 0, 0, 2, b'o', b'k'])
            .await
            .unwrap();
    });
    assert_eq!(run(&mut pool, s.recv()).unwrap().body(), b"ok");
    assert_eq!(s.pipes().len(), 1);
    assert_eq!(s.stats().protocol_errors, 2);
}

#[test]
fn what_arrived_before_bad_input_or_eof_is_delivered_in_order() {
    // Many whole frames and then a bad one (or the end of the stream) arrive
    // in one read: more than one batch and more than the pipe queue and the
    // socket's queue hold. Every message is delivered, in order, before the
    // pipe goes.
    for bad in [true, false] {
        let (mut pool, sp) = pool();
        let s = Socket::new(Protocol::Pull0, rt());
        let (_r, mut w, why) = raw_peer(&s, &sp, Framing::Tcp);
        let mut bytes = vec![0, b'S', b'P', 0, 0, 0x50, 0, 0];
        for i in 0..100u8 {
            bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1, i]);
        }
        if bad {
            bytes.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 1, 0]); // reserved bits
        }
        run(&mut pool, async { w.write_all(&bytes).await.unwrap() });
        drop(w); // end of stream
        pool.run_until_stalled();
        for i in 0..100u8 {
            // Without waiting: a lost message fails here instead of hanging.
            assert_eq!(s.try_recv().unwrap().body(), [i], "message {i}");
            pool.run_until_stalled();
        }
        pool.run_until_stalled();
        let want = if bad {
            Error::Protocol(ProtocolError::ReservedLengthBits)
        } else {
            Error::ConnectionShutdown
        };
        assert_eq!(*why.borrow(), Some(want));
        assert_eq!(s.stats().msgs_in, 100);
        assert!(s.pipes().is_empty());
    }
}

#[test]
fn bad_handshakes_are_typed_and_counted() {
    let cases: [(&[u8], Error); 4] = [
        (b"GET / HT", ProtocolError::BadMagic.into()),
        (
            &[0, b'S', b'P', 1, 0, 0x50, 0, 0],
            ProtocolError::BadVersion(1).into(),
        ),
        (
            &[0, b'S', b'P', 0, 0, 0x50, 0, 1],
            ProtocolError::BadReserved.into(),
        ),
        (
            &[0, b'S', b'P', 0, 0, 0x21, 0, 0],
            ProtocolError::PeerMismatch {
                expected: 0x50,
                got: 0x21,
            }
            .into(),
        ),
    ];
    for (bytes, want) in cases {
        let (mut pool, sp) = pool();
        let s = Socket::new(Protocol::Pull0, rt());
        let (_r, mut w, why) = raw_peer(&s, &sp, Framing::Tcp);
        run(&mut pool, w.write_all(bytes)).unwrap();
        pool.run_until_stalled();
        assert_eq!(*why.borrow(), Some(want));
        assert_eq!(s.stats().handshake_failures, 1);
        assert!(s.pipes().is_empty());
    }
    // A peer that hangs up mid-handshake.
    let (mut pool, sp) = pool();
    let s = Socket::new(Protocol::Pull0, rt());
    let (_r, mut w, why) = raw_peer(&s, &sp, Framing::Tcp);
    run(&mut pool, w.write_all(&[0, b'S', b'P'])).unwrap();
    drop(w);
    pool.run_until_stalled();
    assert_eq!(
        *why.borrow(),
        Some(ProtocolError::HandshakeIncomplete.into())
    );
}

/// An accept source fed by the test: each item is one connection's socket side.
type Conn = (MemReader, MemWriter);

#[test]
fn silent_peer_cannot_stall_the_listener() {
    let r = rt();
    let (mut pool, sp) = pool();
    let s = Socket::new(Protocol::Pull0, r.clone());
    let (tx, rx) = futures::channel::mpsc::unbounded::<Conn>();
    let rx = Rc::new(futures::lock::Mutex::new(rx));
    let sref = s.transport_ref();
    // Spawner that also records the outcome of each connection.
    let spawner = Local(sp.0.clone());
    sp.0.spawn_local(accept_loop(
        sref,
        spawner,
        move || {
            let rx = rx.clone();
            async move {
                use futures::StreamExt;
                let next = rx.lock().await.next().await;
                next.ok_or(Error::Closed)
            }
        },
        move |sref, (rd, wr): Conn| async move {
            if let Ok(p) = establish(&sref, rd, wr, Framing::Tcp, "mem://l", false).await {
                p.run().await;
            }
        },
    ))
    .unwrap();
    // Connection 1 never says anything.
    let (a1, b1) = duplex(1024);
    tx.unbounded_send(a1.split()).unwrap();
    // Connection 2 is a real PUSH peer.
    let (a2, b2) = duplex(1024);
    tx.unbounded_send(a2.split()).unwrap();
    let push = Socket::new(Protocol::Push0, r.clone());
    let pref = push.transport_ref();
    let (b2r, b2w) = b2.split();
    sp.0.spawn_local(async move {
        if let Ok(p) = establish(&pref, b2r, b2w, Framing::Tcp, "mem://d", true).await {
            p.run().await;
        }
    })
    .unwrap();
    pool.run_until_stalled();
    assert_eq!(
        s.pipes().len(),
        1,
        "the second peer got in while the first is silent"
    );
    push.try_send(Message::from("through")).unwrap();
    pool.run_until_stalled();
    assert_eq!(s.try_recv().unwrap().body(), b"through");
    assert_eq!(s.stats().handshake_failures, 0);
    // Ten seconds later the silent one is cut off.
    r.advance(Duration::from_secs(10));
    pool.run_until_stalled();
    assert_eq!(s.stats().handshake_failures, 1);
    let (mut b1r, _b1w) = b1.split();
    run(&mut pool, async {
        let _ = read_n(&mut b1r, 8).await;
        let mut x = [0u8; 1];
        assert_eq!(b1r.read(&mut x).await.unwrap(), 0, "closed by us");
    });
}

/// A writer that counts write calls.
struct Counting(MemWriter, Arc<AtomicUsize>);
impl ErrorType for Counting {
    type Error = <MemWriter as ErrorType>::Error;
}
impl Write for Counting {
    async fn write(&mut self, b: &[u8]) -> Result<usize, Self::Error> {
        self.1.fetch_add(1, Ordering::Relaxed);
        self.0.write(b).await
    }
    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[test]
fn queued_messages_leave_in_one_write() {
    let (mut pool, sp) = pool();
    let s = Socket::new(Protocol::Push0, rt());
    let writes = Arc::new(AtomicUsize::new(0));
    let (a, b) = duplex(1 << 16);
    let (ar, aw) = a.split();
    let sref = s.transport_ref();
    let wc = writes.clone();
    let (mut br, mut bw) = b.split();
    sp.0.spawn_local(async move {
        let p = establish(&sref, ar, Counting(aw, wc), Framing::Tcp, "mem://c", true)
            .await
            .unwrap();
        p.run().await;
    })
    .unwrap();
    run(&mut pool, bw.write_all(&[0, b'S', b'P', 0, 0, 0x51, 0, 0])).unwrap();
    let _ = run(&mut pool, read_n(&mut br, 8));
    pool.run_until_stalled();
    let before = writes.load(Ordering::Relaxed);
    for i in 0..10u8 {
        s.try_send(Message::from(&[i; 20][..])).unwrap();
    }
    pool.run_until_stalled();
    assert_eq!(
        writes.load(Ordering::Relaxed) - before,
        1,
        "ten queued messages, one write"
    );
    let all = run(&mut pool, read_n(&mut br, 10 * 28));
    for i in 0..10usize {
        assert_eq!(all[i * 28 + 7], 20);
        assert_eq!(all[i * 28 + 8], i as u8);
    }
}

/// Sends 2 MiB of 64 KiB messages from a PUSH to a PULL socket joined by
/// `connect` (it spawns the pipes) and returns how many times the pipes
/// yielded to the runtime meanwhile: 8 turns of 256 KiB each way.
#[cfg(feature = "std")]
fn bulk_yields(connect: impl FnOnce(&Sock, &Sock, &Local)) -> u64 {
    let r = rt();
    let (mut pool, sp) = pool();
    let push = Socket::new(Protocol::Push0, r.clone());
    let pull = Socket::new(Protocol::Pull0, r.clone());
    push.set_opt(SockOpt::SendBuffer(64)).unwrap();
    pull.set_opt(SockOpt::RecvBuffer(64)).unwrap();
    connect(&push, &pull, &sp);
    pool.run_until_stalled();
    let before = r.yields();
    let body = Message::from(vec![7u8; 64 << 10]);
    let n = 32;
    let p = push.clone();
    sp.0.spawn_local(async move {
        for _ in 0..n {
            p.send(body.clone()).await.unwrap();
        }
    })
    .unwrap();
    for _ in 0..n {
        let m = run(&mut pool, pull.recv()).unwrap();
        assert_eq!(m.body().len(), 64 << 10);
    }
    r.yields() - before
}

/// A bulk stream gives way: a pipe's writer and reader let the runtime run
/// its other tasks (and, on tokio, its I/O) after every 256 KiB, so a small
/// message on another pipe is not held back behind megabytes (`std` only).
#[test]
#[cfg(feature = "std")]
fn a_bulk_stream_yields_to_the_runtime_every_256_kib() {
    let yields = bulk_yields(|push, pull, sp| {
        let (a, b) = duplex(1 << 16);
        for (sock, (rd, wr), dialed) in [(push, a.split(), true), (pull, b.split(), false)] {
            let sref = sock.transport_ref();
            sp.0.spawn_local(async move {
                let p = establish(&sref, rd, wr, Framing::Tcp, "mem://bulk", dialed)
                    .await
                    .unwrap();
                p.run().await;
            })
            .unwrap();
        }
    });
    assert!(yields >= 12, "{yields} yields for 2 MiB each way");
}

/// One direction of an in-memory stream with readiness
/// ([`nanosp_core::ready`]'s traits), holding at most `cap` bytes.
#[cfg(feature = "std")]
mod ready_mem {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Waker};

    use nanosp_core::ready::{ReadyRead, ReadyWrite};
    use nanosp_core::Error;

    #[derive(Default)]
    struct State {
        buf: VecDeque<u8>,
        cap: usize,
        reader: Option<Waker>,
        writer: Option<Waker>,
    }

    pub struct Rd(Arc<Mutex<State>>);
    pub struct Wr(Arc<Mutex<State>>);
    /// Looks at a pipe's bytes without taking them.
    pub struct Peek(Arc<Mutex<State>>);

    impl Rd {
        pub fn peek(&self) -> Peek {
            Peek(self.0.clone())
        }
    }

    impl Peek {
        /// Bytes written and not yet read.
        pub fn waiting(&self) -> usize {
            self.0.lock().unwrap().buf.len()
        }
    }

    pub fn pipe(cap: usize) -> (Rd, Wr) {
        let s = Arc::new(Mutex::new(State {
            cap,
            ..State::default()
        }));
        (Rd(s.clone()), Wr(s))
    }

    impl ReadyRead for Rd {
        fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
            let mut s = self.0.lock().unwrap();
            if s.buf.is_empty() {
                s.reader = Some(cx.waker().clone());
                return Poll::Pending;
            }
            Poll::Ready(Ok(()))
        }
        fn try_read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
            let (n, w) = {
                let mut s = self.0.lock().unwrap();
                let n = buf.len().min(s.buf.len());
                if n == 0 {
                    return Ok(None);
                }
                for (d, b) in buf.iter_mut().zip(s.buf.drain(..n)) {
                    *d = b;
                }
                (n, s.writer.take())
            };
            if let Some(w) = w {
                w.wake();
            }
            Ok(Some(n))
        }
        fn with_scratch<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
            f(&mut vec![0; nanosp_core::ready::SCRATCH])
        }
    }

    impl ReadyWrite for Wr {
        fn poll_writable(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
            let mut s = self.0.lock().unwrap();
            if s.buf.len() >= s.cap {
                s.writer = Some(cx.waker().clone());
                return Poll::Pending;
            }
            Poll::Ready(Ok(()))
        }
        fn try_write2(&mut self, a: &[u8], b: &[u8]) -> Result<Option<usize>, Error> {
            let (n, w) = {
                let mut s = self.0.lock().unwrap();
                let n = (s.cap - s.buf.len()).min(a.len() + b.len());
                if n == 0 {
                    return Ok(None);
                }
                let from_a = n.min(a.len());
                s.buf.extend(&a[..from_a]);
                s.buf.extend(&b[..n - from_a]);
                (n, s.reader.take())
            };
            if let Some(w) = w {
                w.wake();
            }
            Ok(Some(n))
        }
        fn with_scratch<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
            f(&mut vec![0; nanosp_core::ready::SCRATCH])
        }
    }
}

/// The same over readiness pipes (tokio's tcp and ipc), whose writer takes
/// its messages from the queue itself: a long run gives way through the
/// runtime's `yield_now`, which on tokio lets the I/O be seen first.
#[test]
#[cfg(feature = "std")]
fn a_bulk_stream_over_readiness_pipes_yields_to_the_runtime_every_256_kib() {
    use nanosp_core::ready::establish_ready;
    let yields = bulk_yields(|push, pull, sp| {
        let (ar, bw) = ready_mem::pipe(1 << 20);
        let (br, aw) = ready_mem::pipe(1 << 20);
        for (sock, rd, wr, dialed) in [(push, ar, aw, true), (pull, br, bw, false)] {
            let sref = sock.transport_ref();
            sp.0.spawn_local(async move {
                let p = establish_ready(&sref, rd, wr, Framing::Tcp, "mem://bulk", dialed)
                    .await
                    .unwrap();
                p.run().await;
            })
            .unwrap();
        }
    });
    // The reader's 8 turns and the writer's 7 (its first message goes at
    // once from the sending task); without the writer's: 8.
    assert!(yields >= 12, "{yields} yields for 2 MiB each way");
}

/// Over readiness pipes, a message that answers what the pipe delivered
/// (a reply, the next request) is on the wire when `send` returns: the
/// sending task wrote it. Any other message waits for the pipe's task,
/// which gathers. A pipe's first message is always the pipe's task's.
#[test]
#[cfg(feature = "std")]
fn over_readiness_pipes_an_answer_is_written_by_the_sender_and_the_rest_by_the_pipes_task() {
    use nanosp_core::ready::establish_ready;
    let r = rt();
    let (mut pool, sp) = pool();
    let req = Socket::new(Protocol::Req0, r.clone());
    let rep = Socket::new(Protocol::Rep0, r);
    let (req_rd, rep_wr) = ready_mem::pipe(1 << 20);
    let (rep_rd, req_wr) = ready_mem::pipe(1 << 20);
    let (to_req, to_rep) = (req_rd.peek(), rep_rd.peek());
    for (sock, rd, wr, dialed) in [(&req, req_rd, req_wr, true), (&rep, rep_rd, rep_wr, false)] {
        let sref = sock.transport_ref();
        sp.0.spawn_local(async move {
            let p = establish_ready(&sref, rd, wr, Framing::Tcp, "mem://answer", dialed)
                .await
                .unwrap();
            p.run().await;
        })
        .unwrap();
    }
    pool.run_until_stalled();
    // What `send` left on the wire: nothing in the first round (a pipe's
    // first message is its task's), the whole frame after (prefix 8, the
    // request id 4, the body).
    let on_wire = |peek: &ready_mem::Peek, round: usize, body: usize, what: &str| {
        if round == 0 {
            assert_eq!(peek.waiting(), 0, "the first message is the pipe's task's");
        } else {
            assert_eq!(peek.waiting(), 8 + 4 + body, "{what} went at once");
        }
    };
    for round in 0..3 {
        req.try_send(Message::from("ask")).unwrap();
        on_wire(&to_rep, round, 3, "the next request");
        pool.run_until_stalled();
        let ask = rep.try_recv().unwrap();
        assert_eq!(ask.body(), b"ask");
        rep.try_send(Message::from("answer")).unwrap();
        on_wire(&to_req, round, 6, "the reply");
        pool.run_until_stalled();
        assert_eq!(req.try_recv().unwrap().body(), b"answer");
    }
    // A second request with nothing delivered in between (REQ drops the
    // first) is not an answer: it waits for the pipe's task.
    req.try_send(Message::from("ask")).unwrap();
    assert_eq!(to_rep.waiting(), 15);
    req.try_send(Message::from("again")).unwrap();
    assert_eq!(to_rep.waiting(), 15, "not an answer: the pipe's task's");
    pool.run_until_stalled();
    assert_eq!(to_rep.waiting(), 0);
    assert_eq!(rep.try_recv().unwrap().body(), b"ask");
}

#[test]
fn pub_drops_for_a_slow_stream_subscriber_and_counts_them() {
    let r = rt();
    let (mut pool, sp) = pool();
    let publ = Socket::new(Protocol::Pub0, r.clone());
    let fast = Socket::new(Protocol::Sub0, r);
    let u = url("slowstream");
    publ.listen(&u).unwrap();
    fast.dial(&u).unwrap();
    fast.subscribe(b"").unwrap();
    // The slow subscriber shakes hands, then never reads; its buffer is tiny.
    let (a, b) = duplex(64);
    let (ar, aw) = a.split();
    let sref = publ.transport_ref();
    sp.0.spawn_local(async move {
        if let Ok(p) = establish(&sref, ar, aw, Framing::Tcp, "mem://slow", false).await {
            p.run().await;
        }
    })
    .unwrap();
    let (mut br, mut bw) = b.split();
    run(&mut pool, bw.write_all(&[0, b'S', b'P', 0, 0, 0x21, 0, 0])).unwrap();
    let _ = run(&mut pool, read_n(&mut br, 8));
    pool.run_until_stalled();
    assert_eq!(publ.pipes().len(), 2);
    for i in 0..100u32 {
        publ.try_send(Message::from(&i.to_be_bytes()[..])).unwrap();
        pool.run_until_stalled();
        assert_eq!(
            fast.try_recv().unwrap().body(),
            i.to_be_bytes(),
            "fast sub not slowed"
        );
    }
    let st = publ.stats();
    assert!(st.drops >= 60, "slow pipe's drops are counted: {st:?}");
}

#[test]
fn dialer_backs_off_redials_and_resets() {
    let r = rt();
    let (mut pool, sp) = pool();
    let s = Socket::new(Protocol::Push0, r.clone());
    s.set_opt(SockOpt::ReconnectTimeMin(Duration::from_millis(100)))
        .unwrap();
    s.set_opt(SockOpt::ReconnectTimeMax(Duration::from_millis(400)))
        .unwrap();
    let pull = Socket::new(Protocol::Pull0, r.clone());
    let attempts = Rc::new(RefCell::new(Vec::<u64>::new()));
    let sref = s.transport_ref();
    let a2 = attempts.clone();
    let pull_ref = pull.transport_ref();
    let spawn = Local(sp.0.clone());
    let rt2 = r.clone();
    let connect = move || {
        let a2 = a2.clone();
        let sref = sref.clone();
        let pull_ref = pull_ref.clone();
        let rt2 = rt2.clone();
        let n = a2.borrow().len();
        a2.borrow_mut().push(rt2.now().as_micros());
        let (a, b) = duplex(4096);
        if n >= 3 {
            let (br, bw) = b.split();
            spawn.spawn(async move {
                if let Ok(p) = establish(&pull_ref, br, bw, Framing::Tcp, "mem://pull", false).await
                {
                    p.run().await;
                }
            });
        }
        async move {
            if n < 3 {
                return Err(Error::ConnectionRefused);
            }
            let (ar, aw) = a.split();
            establish(&sref, ar, aw, Framing::Tcp, "mem://push", true).await
        }
    };
    sp.0.spawn_local(dialer_loop(s.transport_ref(), None, connect))
        .unwrap();
    pool.run_until_stalled();
    for _ in 0..3 {
        assert!(r.advance_to_next());
        pool.run_until_stalled();
    }
    assert_eq!(attempts.borrow().len(), 4);
    assert_eq!(s.pipes().len(), 1, "fourth attempt connected");
    let t = attempts.borrow().clone();
    let gaps: Vec<u64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(t[0], 0, "a non-blocking dial tries at once");
    for (g, cap) in gaps.iter().zip([100_000u64, 200_000, 400_000]) {
        assert!(*g < cap, "wait {g}us within [0, {cap}us): {gaps:?}");
    }
    assert_eq!(s.stats().reconnects, 3);
    s.try_send(Message::from("hello")).unwrap();
    pool.run_until_stalled();
    assert_eq!(pull.try_recv().unwrap().body(), b"hello");
    // The peer goes away: the dialer redials, with its back-off reset to min.
    pull.close();
    pool.run_until_stalled();
    assert!(s.pipes().is_empty());
    let before = r.now().as_micros();
    assert!(r.advance_to_next());
    pool.run_until_stalled();
    assert_eq!(attempts.borrow().len(), 5);
    assert!(attempts.borrow()[4] - before < 100_000);
    // Closing the socket ends the dialer.
    s.close();
    pool.run_until_stalled();
    assert!(r.next_deadline().is_none(), "no dialer timers left");
}

#[test]
fn accept_errors_back_off_and_the_loop_serves_again() {
    let r = rt();
    let (mut pool, sp) = pool();
    let s = Socket::new(Protocol::Pull0, r.clone());
    // The first five accepts fail (as with EMFILE), then a peer is accepted.
    let calls: Rc<RefCell<Vec<u64>>> = Rc::default();
    let (c2, r2) = (calls.clone(), r.clone());
    let (a, b) = duplex(1024);
    let mut conn = Some(a.split());
    sp.0.spawn_local(accept_loop(
        s.transport_ref(),
        Local(sp.0.clone()),
        move || {
            c2.borrow_mut().push(r2.now().as_micros());
            let n = c2.borrow().len();
            let next = if n <= 5 {
                Err(Error::Io(nanosp_core::IoErrorKind::Other))
            } else {
                conn.take().ok_or(Error::Closed)
            };
            async move {
                match next {
                    Err(Error::Closed) => futures::future::pending().await,
                    other => other,
                }
            }
        },
        move |sref, (rd, wr): Conn| async move {
            if let Ok(p) = establish(&sref, rd, wr, Framing::Tcp, "mem://l", false).await {
                p.run().await;
            }
        },
    ))
    .unwrap();
    let push = Socket::new(Protocol::Push0, r.clone());
    let pref = push.transport_ref();
    let (br, bw) = b.split();
    sp.0.spawn_local(async move {
        if let Ok(p) = establish(&pref, br, bw, Framing::Tcp, "mem://d", true).await {
            p.run().await;
        }
    })
    .unwrap();
    pool.run_until_stalled();
    while calls.borrow().len() < 6 {
        assert!(r.advance_to_next(), "the accept loop stopped retrying");
        pool.run_until_stalled();
    }
    let t = calls.borrow().clone();
    let gaps: Vec<u64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(
        gaps[..5],
        [10_000, 20_000, 40_000, 80_000, 160_000],
        "doubling pauses"
    );
    assert_eq!(s.stats().accept_errors, 5);
    assert_eq!(s.pipes().len(), 1, "served once accepts work again");
    push.try_send(Message::from("after")).unwrap();
    pool.run_until_stalled();
    assert_eq!(s.try_recv().unwrap().body(), b"after");
}
