//! nanosp against itself over real sockets on loopback: every core
//! protocol over tcp, ipc, abstract, ws and inproc, each side dialing and
//! listening; URL forms, port 0, stale IPC files, WebSocket routing, limits,
//! and the blocking API.

mod common;

use std::time::Duration;

use common::*;
use nanosp::{Error, Message, Protocol, SockOpt, Socket};

async fn exchange(kind: &str, tx_p: Protocol, rx_p: Protocol, sender_listens: bool) {
    let tx = Socket::new(tx_p);
    let rx = Socket::new(rx_p);
    if rx_p == Protocol::Sub0 {
        rx.subscribe(b"").unwrap();
    }
    let url = listen_url(kind);
    let (l, d) = if sender_listens {
        (&tx, &rx)
    } else {
        (&rx, &tx)
    };
    let lst = l.listen(&url).await.unwrap();
    d.dial(lst.url()).await.unwrap();
    pipes(&tx, 1).await;
    pipes(&rx, 1).await;
    let what = format!("{kind} {tx_p:?}->{rx_p:?} sender_listens={sender_listens}");
    for i in 0..20u32 {
        let mut body = i.to_be_bytes().to_vec();
        body.extend_from_slice(&binary(i as usize * 100));
        tx.send(Message::from(&body[..])).await.unwrap();
        let m = tokio::time::timeout(LIMIT, rx.recv())
            .await
            .expect(&what)
            .unwrap();
        assert_eq!(m.body(), &body[..], "{what}");
    }
    if tx_p == rx_p {
        rx.send(Message::from("back")).await.unwrap();
        assert_eq!(tx.recv().await.unwrap().body(), b"back", "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protocol_over_every_transport_both_directions() {
    for kind in KINDS {
        for (a, b) in pairs() {
            for sender_listens in [false, true] {
                exchange(kind, a, b, sender_listens).await;
            }
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn works_on_a_current_thread_runtime() {
    exchange("tcp", Protocol::Pair1, Protocol::Pair1, true).await;
    exchange("ws", Protocol::Push0, Protocol::Pull0, false).await;
}

#[tokio::test]
async fn tcp_url_forms_and_real_port() {
    let s = Socket::new(Protocol::Pull0);
    let l = s.listen("tcp://*:0").await.unwrap();
    let port = l.port().unwrap();
    assert_ne!(port, 0);
    assert_eq!(l.url(), format!("tcp://0.0.0.0:{port}"));
    let p = Socket::new(Protocol::Push0);
    p.dial(&format!("tcp://127.0.0.1:{port}")).await.unwrap();
    p.send(Message::from("star")).await.unwrap();
    assert_eq!(s.recv().await.unwrap().body(), b"star");

    let p2 = Socket::new(Protocol::Push0);
    p2.dial(&format!("tcp://localhost:{port}")).await.unwrap();

    // IPv6 loopback, where the machine has it.
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        let s6 = Socket::new(Protocol::Pull0);
        let l6 = s6.listen("tcp://[::1]:0").await.unwrap();
        assert!(l6.url().starts_with("tcp://[::1]:"), "{}", l6.url());
        let p6 = Socket::new(Protocol::Push0);
        p6.dial(l6.url()).await.unwrap();
        p6.send(Message::from("six")).await.unwrap();
        assert_eq!(s6.recv().await.unwrap().body(), b"six");
    }
}

#[tokio::test]
async fn first_dial_reports_errors_and_nonblocking_dial_retries() {
    let port = free_port();
    let url = format!("tcp://127.0.0.1:{port}");
    let p = Socket::new(Protocol::Push0);
    assert_eq!(p.dial(&url).await.map(drop), Err(Error::ConnectionRefused));
    assert!(matches!(
        p.dial("tcp://:5").await,
        Err(Error::AddressInvalid(_))
    ));
    assert!(matches!(
        p.dial("nope://x").await,
        Err(Error::AddressInvalid(_))
    ));

    p.set_opt(SockOpt::ReconnectTimeMin(Duration::from_millis(20)))
        .unwrap();
    p.dial_nonblocking(&url).unwrap();
    let s = Socket::new(Protocol::Pull0);
    s.listen(&url).await.unwrap();
    pipes(&p, 1).await;
    p.send(Message::from("late")).await.unwrap();
    assert_eq!(s.recv().await.unwrap().body(), b"late");
}

#[tokio::test]
async fn dialer_reconnects_after_the_listener_restarts() {
    let port = free_port();
    let url = format!("tcp://127.0.0.1:{port}");
    let p = Socket::new(Protocol::Push0);
    p.set_opt(SockOpt::ReconnectTimeMin(Duration::from_millis(20)))
        .unwrap();
    let s1 = Socket::new(Protocol::Pull0);
    s1.listen(&url).await.unwrap();
    p.dial(&url).await.unwrap();
    pipes(&p, 1).await;
    s1.close();
    until("pipe gone", || p.pipes().is_empty()).await;
    // The port is free again once the listener's socket closed.
    let s2 = Socket::new(Protocol::Pull0);
    let mut bound = None;
    for _ in 0..500 {
        match s2.listen(&url).await {
            Ok(l) => {
                bound = Some(l);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(2)).await,
        }
    }
    assert!(bound.is_some(), "listener port not released");
    pipes(&p, 1).await;
    p.send(Message::from("again")).await.unwrap();
    assert_eq!(s2.recv().await.unwrap().body(), b"again");
    assert!(p.stats().reconnects >= 1);
}

#[tokio::test]
async fn listener_close_stops_accepting() {
    let s = Socket::new(Protocol::Pull0);
    let l = s.listen("tcp://127.0.0.1:0").await.unwrap();
    l.close();
    let p = Socket::new(Protocol::Push0);
    let url = l.url().to_string();
    until("listener closed", || {
        std::net::TcpStream::connect(url.trim_start_matches("tcp://")).is_err()
    })
    .await;
    assert_eq!(p.dial(&url).await.map(drop), Err(Error::ConnectionRefused));
}

#[tokio::test]
async fn ipc_stale_socket_file_is_replaced_live_one_is_in_use() {
    let dir = tmpdir();
    let path = dir.join("stale.ipc");
    // A socket file nobody listens on any more.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let url = format!("ipc://{}", path.display());
    let s = Socket::new(Protocol::Pull0);
    let l = s.listen(&url).await.unwrap();
    // Now it is live: a second listener must fail.
    let s2 = Socket::new(Protocol::Pull0);
    assert_eq!(s2.listen(&url).await.unwrap_err(), Error::AddressInUse);
    // A regular file is never removed.
    let file = dir.join("file.ipc");
    std::fs::write(&file, b"data").unwrap();
    let furl = format!("ipc://{}", file.display());
    assert_eq!(s2.listen(&furl).await.unwrap_err(), Error::AddressInUse);
    assert!(file.exists());
    // Closing the listener removes the socket file.
    l.close();
    until("socket file removed", || !path.exists()).await;
}

#[tokio::test]
async fn ws_sockets_share_a_port_unknown_path_is_refused() {
    let a = Socket::new(Protocol::Pull0);
    let la = a.listen("ws://127.0.0.1:0/a").await.unwrap();
    let port = la.port().unwrap();
    let b = Socket::new(Protocol::Pair1);
    let lb = b.listen(&format!("ws://127.0.0.1:{port}/b")).await.unwrap();
    assert_eq!(lb.url(), format!("ws://127.0.0.1:{port}/b"));
    assert_eq!(
        b.listen(&format!("ws://127.0.0.1:{port}/b"))
            .await
            .unwrap_err(),
        Error::AddressInUse
    );

    let pa = Socket::new(Protocol::Push0);
    pa.dial(la.url()).await.unwrap();
    let pb = Socket::new(Protocol::Pair1);
    pb.dial(lb.url()).await.unwrap();
    pa.send(Message::from("to a")).await.unwrap();
    pb.send(Message::from("to b")).await.unwrap();
    assert_eq!(a.recv().await.unwrap().body(), b"to a");
    assert_eq!(b.recv().await.unwrap().body(), b"to b");

    let lost = Socket::new(Protocol::Push0);
    assert_eq!(
        lost.dial(&format!("ws://127.0.0.1:{port}/nowhere"))
            .await
            .map(drop),
        Err(Error::ConnectionRefused)
    );
    // A PUSH offering "pull" at a PAIR1 path: wrong subprotocol.
    let wrong = Socket::new(Protocol::Push0);
    assert!(matches!(
        wrong.dial(lb.url()).await,
        Err(Error::Protocol(_))
    ));
    // The server answers 404 to a plain HTTP request for an unknown path.
    let mut c = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    c.write_all(
        b"GET /nowhere HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
          Sec-WebSocket-Protocol: pull.sp.nanomsg.org\r\n\r\n",
    )
    .await
    .unwrap();
    let mut resp = vec![0u8; 12];
    c.read_exact(&mut resp).await.unwrap();
    assert_eq!(&resp, b"HTTP/1.1 404");

    // When every socket on the port has closed, the port is released.
    a.close();
    b.close();
    until("ws port released", || {
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_and_the_receive_limit() {
    for kind in ["tcp", "ipc", "ws"] {
        let rx = Socket::new(Protocol::Pair1);
        let tx = Socket::new(Protocol::Pair1);
        rx.set_opt(SockOpt::RecvMaxSize(4 << 20)).unwrap();
        let l = rx.listen(&listen_url(kind)).await.unwrap();
        tx.dial(l.url()).await.unwrap();
        let big = binary(3 << 20);
        tx.send(Message::from(&big[..])).await.unwrap();
        let m = rx.recv().await.unwrap();
        assert!(m.body() == &big[..], "{kind}: 3 MiB message corrupted");

        // Over the limit: the pipe is closed, nothing delivered.
        let rx2 = Socket::new(Protocol::Pair1);
        rx2.set_opt(SockOpt::RecvMaxSize(1000)).unwrap();
        rx2.set_opt(SockOpt::RecvTimeout(Some(Duration::from_millis(200))))
            .unwrap();
        let l2 = rx2.listen(&listen_url(kind)).await.unwrap();
        let tx2 = Socket::new(Protocol::Pair1);
        tx2.dial(l2.url()).await.unwrap();
        pipes(&rx2, 1).await;
        tx2.send(Message::from(&binary(2000)[..])).await.unwrap();
        until("oversized pipe closed", || rx2.stats().protocol_errors == 1).await;
        assert_eq!(rx2.recv().await.unwrap_err(), Error::TimedOut);
    }
}

#[tokio::test]
async fn pipe_events_and_keepalive() {
    use std::sync::{Arc, Mutex};
    let s = Socket::new(Protocol::Pair0);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    s.set_pipe_hook(move |ev, info| {
        s2.lock().unwrap().push((ev, info.dialed));
        true
    });
    s.set_tcp_keepalive(true);
    assert!(s.tcp_keepalive());
    let l = s.listen("tcp://127.0.0.1:0").await.unwrap();
    let p = Socket::new(Protocol::Pair0);
    p.set_tcp_keepalive(true);
    p.dial(l.url()).await.unwrap();
    pipes(&s, 1).await;
    p.close();
    until("pipe removed", || s.pipes().is_empty()).await;
    use nanosp::PipeEvent::*;
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(AddPre, false), (AddPost, false), (RemPost, false)]
    );
}

#[test]
fn blocking_api_needs_no_runtime() {
    use nanosp::blocking::Socket as B;
    for kind in ["tcp", "ipc", "ws", "inproc"] {
        let pull = B::new(Protocol::Pull0);
        let l = pull.listen(&listen_url(kind)).unwrap();
        let push = B::new(Protocol::Push0);
        push.dial(l.url()).unwrap();
        // Batches of 10: inproc buffers only a few messages (no kernel buffer).
        for b in 0..10u32 {
            for i in b * 10..b * 10 + 10 {
                push.send(Message::from(&i.to_be_bytes()[..])).unwrap();
            }
            for i in b * 10..b * 10 + 10 {
                assert_eq!(pull.recv().unwrap().body(), i.to_be_bytes());
            }
        }
        pull.set_opt(SockOpt::RecvTimeout(Some(Duration::from_millis(50))))
            .unwrap();
        assert_eq!(pull.recv().unwrap_err(), Error::TimedOut);
    }
    // Threads share a socket.
    let pull = B::new(Protocol::Pull0);
    let l = pull.listen("tcp://127.0.0.1:0").unwrap();
    let url = l.url().to_string();
    let t = std::thread::spawn(move || {
        let push = B::new(Protocol::Push0);
        push.dial(&url).unwrap();
        push.send(Message::from("from a thread")).unwrap();
        push // kept open until joined: closing a socket drops what it has not written
    });
    assert_eq!(pull.recv().unwrap().body(), b"from a thread");
    t.join().unwrap();
}

/// A blocking call runs the shared runtime on the calling thread while it
/// waits; between calls the runtime must still run: a peer that connects
/// and sends while nobody calls is set up and read, with no call to make
/// it happen (a raw peer: a nanosp one would run the same shared runtime in
/// its own calls). That sends leave between calls: `tests/blocking_lease.rs`.
#[test]
fn between_blocking_calls_the_runtime_still_runs() {
    use nanosp::blocking::Socket as B;
    use std::io::Write;
    use std::net::TcpStream;
    let pull = B::new(Protocol::Pull0);
    let l = pull.listen("tcp://127.0.0.1:0").unwrap();
    let addr = l.url().strip_prefix("tcp://").unwrap().to_string();
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"\0SP\0\0\x50\0\0").unwrap();
    for i in 0..3u32 {
        c.write_all(&sp_frame(&i.to_be_bytes())).unwrap();
    }
    // (The socket's receive queue holds one; the rest wait in the pipe.)
    until_blocking("a message read with no call", || pull.stats().msgs_in == 1);
    for i in 0..3u32 {
        assert_eq!(pull.recv().unwrap().body(), i.to_be_bytes());
    }
}

/// Each side of a blocking PAIR1 sends a numbered stream while it reads
/// the other's: every read lets the next message be written by the sending
/// thread (the readiness writer's direct write), the rest goes through the
/// pipe's task, and sizes run past the kernel's buffer so writes split.
/// Both streams must arrive whole and in order.
#[test]
fn blocking_streams_both_ways_at_once_arrive_whole_and_in_order() {
    use nanosp::blocking::Socket as B;
    const N: u32 = 2000;
    fn body(i: u32) -> Vec<u8> {
        let len = match i % 100 {
            0 => 300_000,
            n => 4 + (n as usize * 37) % 2000,
        };
        let mut b = binary(len);
        b[..4].copy_from_slice(&i.to_be_bytes());
        b
    }
    for kind in ["tcp", "ipc"] {
        let a = B::new(Protocol::Pair1);
        let l = a.listen(&listen_url(kind)).unwrap();
        let b = B::new(Protocol::Pair1);
        b.dial(l.url()).unwrap();
        for s in [&a, &b] {
            s.set_opt(SockOpt::RecvTimeout(Some(LIMIT))).unwrap();
            s.set_opt(SockOpt::SendTimeout(Some(LIMIT))).unwrap();
        }
        // A sender and a receiver thread on each side, all at once.
        let mut threads = Vec::new();
        for (who, s) in [("listener", a.clone()), ("dialer", b.clone())] {
            let tx = s.clone();
            threads.push(std::thread::spawn(move || {
                for i in 0..N {
                    tx.send(Message::from(body(i))).unwrap();
                }
            }));
            threads.push(std::thread::spawn(move || {
                for i in 0..N {
                    let m = s
                        .recv()
                        .unwrap_or_else(|e| panic!("{kind} {who}: {i}: {e}"));
                    assert!(m.body() == body(i), "{kind} {who}: message {i} differs");
                }
            }));
        }
        for t in threads {
            t.join().unwrap();
        }
    }
}

/// A receive that waits on a socket's only tcp or ipc pipe, whose peer
/// goes away instead of answering, sees the pipe end and takes the next
/// peer's message; with two pipes, messages from both arrive. (The case a
/// receive that read its pipe's stream itself would have to get right: see
/// BENCHMARKS.md, "the read half".)
#[tokio::test(flavor = "current_thread")]
async fn a_receive_waiting_on_one_pipe_sees_it_end_and_takes_the_next_peers_message() {
    async fn waiting(s: &Socket) -> tokio::task::JoinHandle<Result<Message, Error>> {
        let s = s.clone();
        let r = tokio::spawn(async move { s.recv().await });
        // The receive runs until it waits (one runtime thread).
        tokio::task::yield_now().await;
        r
    }
    async fn got(r: tokio::task::JoinHandle<Result<Message, Error>>) -> Vec<u8> {
        let m = tokio::time::timeout(LIMIT, r)
            .await
            .expect("a message in time");
        m.unwrap().unwrap().body().to_vec()
    }
    for kind in ["tcp", "ipc"] {
        let s = Socket::new(Protocol::Pull0);
        let l = s.listen(&listen_url(kind)).await.unwrap();
        let p1 = Socket::new(Protocol::Push0);
        p1.dial(l.url()).await.unwrap();
        pipes(&s, 1).await;
        for body in ["one", "two", "three"] {
            let r = waiting(&s).await;
            p1.send(Message::from(body)).await.unwrap();
            assert_eq!(got(r).await, body.as_bytes(), "{kind}");
        }
        let r = waiting(&s).await;
        p1.close();
        until("the first pipe to end", || s.stats().pipes_removed == 1).await;
        let p2 = Socket::new(Protocol::Push0);
        p2.dial(l.url()).await.unwrap();
        p2.send(Message::from("next")).await.unwrap();
        assert_eq!(got(r).await, b"next", "{kind}");
        let p3 = Socket::new(Protocol::Push0);
        p3.dial(l.url()).await.unwrap();
        pipes(&s, 2).await;
        for i in 0..20u32 {
            let r = waiting(&s).await;
            let from = if i % 2 == 0 { &p2 } else { &p3 };
            from.send(Message::from(&i.to_be_bytes()[..]))
                .await
                .unwrap();
            assert_eq!(got(r).await, i.to_be_bytes(), "{kind}");
        }
    }
}

#[test]
fn async_socket_made_outside_tokio_uses_the_shared_runtime() {
    let s = Socket::new(Protocol::Pair1);
    let p = Socket::new(Protocol::Pair1);
    futures_executor_block_on(async {
        let l = s.listen("tcp://127.0.0.1:0").await.unwrap();
        p.dial(l.url()).await.unwrap();
        p.send(Message::from("x")).await.unwrap();
        assert_eq!(s.recv().await.unwrap().body(), b"x");
    });
}

fn futures_executor_block_on<F: std::future::Future>(f: F) -> F::Output {
    // A minimal thread-parking executor (the test has no tokio runtime).
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake};
    struct T(std::thread::Thread);
    impl Wake for T {
        fn wake(self: Arc<Self>) {
            self.0.unpark()
        }
    }
    let w = Arc::new(T(std::thread::current())).into();
    let mut cx = Context::from_waker(&w);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
