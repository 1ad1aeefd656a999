//! Two embassy-net stacks joined by an in-memory Ethernet cable, talking SP
//! through nanosp-embassy: REQ/REP, PUB/SUB and PUSH/PULL.

use core::future::Future;

use embassy_futures::join::join;
use embassy_futures::select::{select, select3, Either, Either3};
use embassy_net::{
    Config, IpEndpoint, Ipv4Address, Ipv4Cidr, Stack, StackResources, StaticConfigV4,
};
use embassy_net_driver_channel as ch;
use embassy_net_driver_channel::driver::{HardwareAddress, LinkState};
use embassy_time::{with_timeout, Duration};
use nanosp_core::{Message, Protocol};
use nanosp_embassy::{dial, listen, EmbassyRuntime, Socket, TcpBuffers};

const MTU: usize = 1514;
type Dev = ch::Device<'static, MTU>;

fn leak<T>(t: T) -> &'static mut T {
    Box::leak(Box::new(t))
}

fn stack(
    ip: u8,
) -> (
    Stack<'static>,
    embassy_net::Runner<'static, Dev>,
    ch::Runner<'static, MTU>,
) {
    let state = leak(ch::State::<MTU, 8, 8>::new());
    let (link, dev) = ch::new(state, HardwareAddress::Ethernet([2, 0, 0, 0, 0, ip]));
    let cfg = Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(Ipv4Address::new(10, 42, 0, ip), 24),
        gateway: None,
        dns_servers: Default::default(),
    });
    let (s, r) = embassy_net::new(dev, cfg, leak(StackResources::<8>::new()), u64::from(ip));
    (s, r, link)
}

async fn carry(tx: &mut ch::TxRunner<'static, MTU>, rx: &mut ch::RxRunner<'static, MTU>) {
    loop {
        let pkt = tx.tx_buf().await;
        let n = pkt.len();
        let dst = rx.rx_buf().await;
        dst[..n].copy_from_slice(pkt);
        rx.rx_done(n);
        tx.tx_done();
    }
}

async fn cable(a: ch::Runner<'static, MTU>, b: ch::Runner<'static, MTU>) {
    let (sa, mut rxa, mut txa) = a.split();
    let (sb, mut rxb, mut txb) = b.split();
    sa.set_link_state(LinkState::Up);
    sb.set_link_state(LinkState::Up);
    join(carry(&mut txa, &mut rxb), carry(&mut txb, &mut rxa)).await;
}

fn bufs(n: usize) -> &'static mut [TcpBuffers<'static>] {
    let v: Vec<TcpBuffers<'static>> = (0..n)
        .map(|_| TcpBuffers {
            rx: leak([0u8; 4096]).as_mut_slice(),
            tx: leak([0u8; 4096]).as_mut_slice(),
        })
        .collect();
    v.leak()
}

/// Runs `body` with server socket `srv` listening on stack A port 5555 and
/// `clients` dialing it from stack B.
async fn with_network<F: Future<Output = ()>>(srv: &Socket, clients: &[&Socket], body: F) {
    let (sa, mut ra, la) = stack(1);
    let (sb, mut rb, lb) = stack(2);
    let ep = IpEndpoint::new(Ipv4Address::new(10, 42, 0, 1).into(), 5555);
    let net = async {
        join(join(ra.run(), rb.run()), cable(la, lb)).await;
    };
    let sp = async {
        let dials = async {
            let mut v = Vec::new();
            for c in clients {
                let b = bufs(1).iter_mut().next().unwrap();
                let b = TcpBuffers {
                    rx: &mut *b.rx,
                    tx: &mut *b.tx,
                };
                v.push(Box::pin(dial(c, sb, ep, b)));
            }
            core::future::poll_fn(|cx| {
                for f in v.iter_mut() {
                    let _ = f.as_mut().poll(cx);
                }
                core::task::Poll::<()>::Pending
            })
            .await;
        };
        join(listen(srv, sa, 5555, bufs(4)), dials).await;
    };
    let r = with_timeout(Duration::from_secs(30), select3(net, sp, body)).await;
    match r {
        Ok(Either3::Third(())) => {}
        Ok(_) => panic!("network ended early"),
        Err(_) => panic!("test timed out"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn req_rep_over_two_stacks() {
    let rep = Socket::new(Protocol::Rep0, EmbassyRuntime);
    let req = Socket::new(Protocol::Req0, EmbassyRuntime);
    let body = async {
        for i in 0..20u32 {
            req.send(Message::from(&i.to_be_bytes()[..])).await.unwrap();
            let q = rep.recv().await.unwrap();
            assert_eq!(q.body(), i.to_be_bytes());
            rep.send(q).await.unwrap();
            assert_eq!(req.recv().await.unwrap().body(), i.to_be_bytes());
        }
        // A larger message than a TCP buffer crosses intact.
        let big: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
        req.send(Message::from(big.clone())).await.unwrap();
        let q = rep.recv().await.unwrap();
        assert_eq!(q.body(), &big[..]);
        rep.send(q).await.unwrap();
        assert_eq!(req.recv().await.unwrap().body(), &big[..]);
    };
    with_network(&rep, &[&req], body).await;
}

#[tokio::test(flavor = "current_thread")]
async fn pub_sub_over_two_stacks() {
    let publ = Socket::new(Protocol::Pub0, EmbassyRuntime);
    let sub = Socket::new(Protocol::Sub0, EmbassyRuntime);
    sub.subscribe(b"temp").unwrap();
    let body = async {
        // Publish until the subscriber is connected and hears one.
        loop {
            publ.send(Message::from("temp 20")).await.unwrap();
            if let Either::First(Ok(m)) =
                select(sub.recv(), embassy_time::Timer::after_millis(50)).await
            {
                assert_eq!(m.body(), b"temp 20");
                break;
            }
        }
        publ.send(Message::from("humidity 3")).await.unwrap();
        publ.send(Message::from("temp 21")).await.unwrap();
        assert_eq!(sub.recv().await.unwrap().body(), b"temp 21");
    };
    with_network(&publ, &[&sub], body).await;
}

#[tokio::test(flavor = "current_thread")]
async fn push_pull_over_two_stacks() {
    let pull = Socket::new(Protocol::Pull0, EmbassyRuntime);
    let push1 = Socket::new(Protocol::Push0, EmbassyRuntime);
    let push2 = Socket::new(Protocol::Push0, EmbassyRuntime);
    let body = async {
        for i in 0..50u8 {
            push1.send(Message::from(&[1, i][..])).await.unwrap();
            push2.send(Message::from(&[2, i][..])).await.unwrap();
        }
        let mut seen = [0u32; 3];
        for _ in 0..100 {
            let m = pull.recv().await.unwrap();
            seen[m.body()[0] as usize] += 1;
        }
        assert_eq!(seen, [0, 50, 50]);
    };
    with_network(&pull, &[&push1, &push2], body).await;
}

/// Closing a listening socket while a peer is connected ends `listen`
/// cleanly (a finished accept slot is never polled again).
#[tokio::test(flavor = "current_thread")]
async fn closing_a_busy_listener_ends_it_cleanly() {
    let rep = Socket::new(Protocol::Rep0, EmbassyRuntime);
    let req = Socket::new(Protocol::Req0, EmbassyRuntime);
    let (sa, mut ra, la) = stack(1);
    let (sb, mut rb, lb) = stack(2);
    let ep = IpEndpoint::new(Ipv4Address::new(10, 42, 0, 1).into(), 5555);
    let net = async {
        join(join(ra.run(), rb.run()), cable(la, lb)).await;
    };
    let b = bufs(1).iter_mut().next().unwrap();
    let client = dial(
        &req,
        sb,
        ep,
        TcpBuffers {
            rx: &mut *b.rx,
            tx: &mut *b.tx,
        },
    );
    let server = async {
        let served = listen(&rep, sa, 5555, bufs(2));
        let body = async {
            req.send(Message::from("hi")).await.unwrap();
            let q = rep.recv().await.unwrap();
            rep.send(q).await.unwrap();
            req.recv().await.unwrap();
            rep.close(); // a pipe is up; one slot is idle
        };
        let (why, ()) = join(served, body).await;
        why
    };
    let r = with_timeout(Duration::from_secs(30), select3(net, client, server)).await;
    match r {
        Ok(Either3::Third(why)) => assert_eq!(why, nanosp_core::Error::Closed),
        Ok(_) => panic!("network or dialer ended first"),
        Err(_) => panic!("listen did not end after close"),
    }
}

/// Why a pipe closed reaches the pipe hook on both sides, and the dialer
/// reports the same events as on every target: the listener closes the
/// dialer's pipe for an oversized message (its hook sees `MessageTooLong`),
/// the dialer sees the connection go, waits its back-off and redials.
#[tokio::test(flavor = "current_thread")]
async fn close_reasons_reach_the_hooks_and_the_dialer_reports_events() {
    use nanosp_core::backoff::DialEvent;
    use nanosp_core::{Error, PipeEvent, SockOpt};
    use std::sync::{Arc, Mutex};
    use std::time::Duration as StdDuration;

    let pull = Socket::new(Protocol::Pull0, EmbassyRuntime);
    let push = Socket::new(Protocol::Push0, EmbassyRuntime);
    pull.set_opt(SockOpt::RecvMaxSize(100)).unwrap();
    push.set_opt(SockOpt::ReconnectTimeMin(StdDuration::from_millis(20)))
        .unwrap();
    let closed = |s: &Socket| {
        let log: Arc<Mutex<Vec<Option<Error>>>> = Arc::default();
        let l = log.clone();
        s.set_pipe_hook(move |ev, info| {
            if ev == PipeEvent::RemPost {
                l.lock().unwrap().push(info.closed);
            }
            true
        });
        log
    };
    let (pull_closed, push_closed) = (closed(&pull), closed(&push));
    let events: Arc<Mutex<Vec<DialEvent>>> = Arc::default();

    let (sa, mut ra, la) = stack(1);
    let (sb, mut rb, lb) = stack(2);
    let ep = IpEndpoint::new(Ipv4Address::new(10, 42, 0, 1).into(), 5555);
    let net = async {
        join(join(ra.run(), rb.run()), cable(la, lb)).await;
    };
    let b = bufs(1).iter_mut().next().unwrap();
    let ev = events.clone();
    let client = nanosp_embassy::dial_observed(
        &push,
        sb,
        ep,
        TcpBuffers {
            rx: &mut *b.rx,
            tx: &mut *b.tx,
        },
        move |e| ev.lock().unwrap().push(e),
    );
    let server = async {
        let served = listen(&pull, sa, 5555, bufs(2));
        let body = async {
            push.send(Message::from("small")).await.unwrap();
            assert_eq!(pull.recv().await.unwrap().body(), b"small");
            push.send(Message::from(vec![7u8; 500])).await.unwrap();
            // The listener's pipe goes for the big message; the dialer's
            // follows, and it redials.
            while events
                .lock()
                .unwrap()
                .iter()
                .filter(|e| **e == DialEvent::Connected)
                .count()
                < 2
            {
                embassy_time::Timer::after_millis(5).await;
            }
            push.send(Message::from("again")).await.unwrap();
            assert_eq!(pull.recv().await.unwrap().body(), b"again");
            // The application closes the listener's pipe.
            let p = pull.pipes()[0].id;
            pull.close_pipe(p);
        };
        if let Either::First(why) = select(served, body).await {
            panic!("listen ended: {why:?}");
        }
    };
    let r = with_timeout(Duration::from_secs(30), select3(net, client, server)).await;
    assert!(
        matches!(r, Ok(Either3::Third(_))),
        "timed out or ended early"
    );

    let pulled = pull_closed.lock().unwrap().clone();
    assert_eq!(
        pulled,
        [
            Some(Error::MessageTooLong {
                len: 500,
                limit: 100 + nanosp_core::HEADER_CAPACITY as u64
            }),
            Some(Error::Closed)
        ]
    );
    let pushed = push_closed.lock().unwrap().clone();
    assert!(
        matches!(
            pushed.first(),
            Some(Some(Error::ConnectionShutdown | Error::ConnectionReset))
        ),
        "{pushed:?}"
    );
    let ev = events.lock().unwrap().clone();
    assert_eq!(ev[0], DialEvent::Connected, "{ev:?}");
    assert!(
        matches!(ev[1], DialEvent::PipeClosed(e) if e == pushed[0].unwrap()),
        "{ev:?}"
    );
    assert!(
        matches!(ev[2], DialEvent::Backoff(d) if d >= nanosp_core::backoff::REDIAL_FLOOR && d < StdDuration::from_millis(20)),
        "{ev:?}"
    );
    assert_eq!(ev[3], DialEvent::Connected, "{ev:?}");
    assert_eq!(push.stats().reconnects, 1);
}
