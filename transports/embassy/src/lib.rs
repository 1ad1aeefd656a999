//! # nanosp-embassy — Scalability Protocols on embassy-net
//!
//! SP sockets (REQ/REP, PUB/SUB, PUSH/PULL, PAIR, SURVEYOR/RESPONDENT, BUS)
//! for microcontrollers running [embassy](https://embassy.dev), over
//! embassy-net TCP, wire-compatible with nng, nanomsg and mangos.
//!
//! The protocol logic is the `nanosp` core; this crate only supplies:
//! * [`EmbassyRuntime`]: the core's clock, sleep and randomness on
//!   `embassy-time`;
//! * [`dial`]: a dialer that connects, runs the SP handshake, carries the pipe,
//!   closes gracefully and redials with back-off, forever;
//! * [`listen`]: a listener made of a pool of `TcpSocket`s, each waiting in
//!   `accept`, so N peers can be connected at once.
//!
//! Socket buffers are the caller's ([`TcpBuffers`]); nothing large is
//! allocated behind your back. Each connection's messages live on the heap
//! (`alloc`), bounded by the socket's `recv-size-max`.
//!
//! Like embassy-net's `Runner`, the dialer and listener are futures the
//! firmware runs in tasks of its own:
//!
//! ```ignore
//! #[embassy_executor::task]
//! async fn sp_server(sock: Socket, stack: Stack<'static>, bufs: &'static mut [TcpBuffers<'static>]) {
//!     nanosp_embassy::listen(&sock, stack, 5555, bufs).await;
//! }
//! ```
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

mod fmt;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::future::{poll_fn, Future};
use core::pin::Pin;
use core::task::Poll;

use embassy_futures::select::{select, Either};
use embassy_net::tcp::TcpSocket;
use embassy_net::{IpEndpoint, Stack};
use embassy_time::{Duration, Timer};
use nanosp::frame::Framing;
use nanosp::stream::StreamConfig;
use nanosp::transport::Backoff;
use nanosp::{Error, Instant, Runtime, SocketRef};
use portable_atomic::{AtomicU32, Ordering};

pub use nanosp;

static RNG: AtomicU32 = AtomicU32::new(0x9E37_79B9);

/// The core's runtime on embassy-time: a monotonic clock in microseconds,
/// `Timer::at` sleeps, and a xorshift generator (seed it with
/// [`EmbassyRuntime::seed`] from a hardware RNG if the board has one).
#[derive(Clone, Copy, Debug, Default)]
pub struct EmbassyRuntime;

impl EmbassyRuntime {
    /// Mixes `seed` into the generator (request ids, back-off jitter).
    pub fn seed(seed: u32) {
        RNG.fetch_xor(seed | 1, Ordering::Relaxed);
    }
}

impl Runtime for EmbassyRuntime {
    type Sleep = Timer;
    fn now(&self) -> Instant {
        Instant::from_micros(embassy_time::Instant::now().as_micros())
    }
    fn sleep_until(&self, deadline: Instant) -> Timer {
        Timer::at(embassy_time::Instant::from_micros(deadline.as_micros()))
    }
    fn random_u32(&self) -> u32 {
        let step = |mut x: u32| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let old = RNG
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| {
                Some(step(x.max(1)))
            })
            .unwrap_or(1);
        step(old.max(1))
    }
}

/// An SP socket on embassy.
pub type Socket = nanosp::Socket<EmbassyRuntime>;

/// The receive and transmit buffers of one TCP connection (the caller's memory).
pub struct TcpBuffers<'a> {
    /// TCP receive window.
    pub rx: &'a mut [u8],
    /// TCP transmit buffer.
    pub tx: &'a mut [u8],
}

/// Time a graceful close may take before the connection is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

async fn close_gracefully(s: &mut TcpSocket<'_>) {
    s.close();
    if embassy_time::with_timeout(CLOSE_GRACE, s.flush())
        .await
        .is_err()
    {
        // No orderly close in time: reset, and give the RST a moment to
        // leave before the socket is dropped (dropping discards it).
        s.abort();
        let _ = embassy_time::with_timeout(Duration::from_millis(100), s.flush()).await;
    }
}

/// Connects to `endpoint` and keeps connected until the socket closes: SP
/// handshake, then the pipe; when it ends (peer gone, bad input), a graceful
/// TCP close and a redial after `reconnect-time-min`/`-max` back-off with
/// jitter (nng's rule). Returns [`Error::Closed`] once the socket is closed.
pub async fn dial(
    sock: &Socket,
    stack: Stack<'_>,
    endpoint: IpEndpoint,
    bufs: TcpBuffers<'_>,
) -> Error {
    let sref = sock.transport_ref();
    let url = format!("tcp://{endpoint}");
    let TcpBuffers { rx, tx } = bufs;
    let o = sref.options();
    let mut backoff = Backoff::new(o.reconnect_min, o.reconnect_max);
    let mut first = true;
    loop {
        if sref.is_closed() {
            return Error::Closed;
        }
        if !first {
            let wait = backoff.next_wait(EmbassyRuntime.random_u32());
            // At least 1 ms, so a zero reconnect time cannot starve the
            // network task (a failing connect may not yield).
            let t = Timer::after(Duration::from_micros((wait.as_micros() as u64).max(1000)));
            if let Either::Second(()) = select(t, sref.closed()).await {
                return Error::Closed;
            }
            sref.count(|s| s.reconnects += 1);
        }
        first = false;
        let mut s = TcpSocket::new(stack, &mut *rx, &mut *tx);
        let connected = match select(s.connect(endpoint), sref.closed()).await {
            Either::First(r) => r,
            Either::Second(()) => return Error::Closed,
        };
        if let Err(_e) = connected {
            fmt::debug!("nanosp: connect failed: {}", _e);
            continue;
        }
        if run_connection(&sref, &mut s, &url, true).await {
            backoff.reset();
        }
        close_gracefully(&mut s).await;
    }
}

/// Handshakes and runs one connection; true if a pipe was attached.
async fn run_connection<R: Runtime>(
    sref: &SocketRef<R>,
    s: &mut TcpSocket<'_>,
    url: &str,
    dialed: bool,
) -> bool {
    let (r, w) = s.split();
    // embassy-net's flush waits for the peer's ACK: data leaves without it.
    let cfg = StreamConfig {
        flush: false,
        ..StreamConfig::small(Framing::Tcp)
    };
    match nanosp::stream::establish_with(sref, r, w, cfg, url, dialed).await {
        Ok(pipe) => {
            fmt::debug!("nanosp: pipe up");
            let _why = pipe.run().await;
            fmt::debug!("nanosp: pipe down: {}", _why);
            true
        }
        Err(_e) => {
            fmt::warning!("nanosp: handshake failed: {}", _e);
            false
        }
    }
}

/// Accepts SP connections on `port` with one `TcpSocket` per element of
/// `bufs`, all waiting in `accept` at once, so up to `bufs.len()` peers are
/// served together. Each connection must finish the SP handshake within the
/// socket's handshake timeout. Returns [`Error::Closed`] once the socket is
/// closed.
pub async fn listen(
    sock: &Socket,
    stack: Stack<'_>,
    port: u16,
    bufs: &mut [TcpBuffers<'_>],
) -> Error {
    let sref = sock.transport_ref();
    let url: String = format!("tcp://*:{port}");
    if bufs.is_empty() {
        return Error::InvalidArgument;
    }
    // A finished slot is dropped, never polled again.
    let mut slots: Vec<Option<Pin<Box<_>>>> = bufs
        .iter_mut()
        .map(|b| Some(Box::pin(serve_slot(&sref, stack, port, b, &url))))
        .collect();
    poll_fn(|cx| {
        for slot in slots.iter_mut() {
            if let Some(f) = slot {
                if f.as_mut().poll(cx).is_ready() {
                    *slot = None;
                }
            }
        }
        if slots.iter().all(Option::is_none) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    Error::Closed
}

async fn serve_slot(
    sref: &SocketRef<EmbassyRuntime>,
    stack: Stack<'_>,
    port: u16,
    bufs: &mut TcpBuffers<'_>,
    url: &str,
) {
    loop {
        if sref.is_closed() {
            return;
        }
        let mut s = TcpSocket::new(stack, &mut *bufs.rx, &mut *bufs.tx);
        let accepted = match select(s.accept(port), sref.closed()).await {
            Either::First(r) => r,
            Either::Second(()) => return,
        };
        if accepted.is_err() {
            // Out of sockets or similar: breathe, then wait again.
            Timer::after(Duration::from_millis(10)).await;
            continue;
        }
        run_connection(sref, &mut s, url, false).await;
        close_gracefully(&mut s).await;
    }
}
