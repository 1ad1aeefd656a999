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
//! The redial schedule and the accept pause are the core's
//! ([`nanosp_core::backoff`]), as on tokio and in the browser: the same waits,
//! the same [`DialEvent`]s ([`dial_observed`]) and the same counters
//! (`reconnects`, `handshake_failures`, `accept_errors`). Why a pipe closed
//! reaches the socket's pipe hook ([`nanosp_core::PipeInfo::closed`]).
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
pub mod solo;
#[cfg(feature = "tls")]
pub mod tls;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::future::{poll_fn, Future};
use core::pin::Pin;
use core::task::Poll;

use embassy_futures::select::{select, Either};
use embassy_net::tcp::TcpSocket;
use embassy_net::{IpAddress, IpEndpoint, Stack};
use embassy_time::{Duration, Timer};
use nanosp_core::backoff::{AcceptPause, DialEvent, Redial};
use nanosp_core::frame::Framing;
use nanosp_core::stream::StreamConfig;
use nanosp_core::{Error, Instant, IoErrorKind, Runtime, SocketRef};
use portable_atomic::{AtomicU32, Ordering};

pub use nanosp_core;

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
pub type Socket = nanosp_core::Socket<EmbassyRuntime>;

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
/// jitter (nng's rule, [`nanosp_core::backoff::Redial`]). Returns
/// [`Error::Closed`] once the socket is closed. Its events are logged
/// (feature `defmt`); [`dial_observed`] hands them to you.
pub async fn dial(
    sock: &Socket,
    stack: Stack<'_>,
    endpoint: IpEndpoint,
    bufs: TcpBuffers<'_>,
) -> Error {
    dial_observed(sock, stack, endpoint, bufs, log_dial_event).await
}

/// [`dial`] telling `on` what happens, as every target's dialer does:
/// [`DialEvent::Connected`], [`DialEvent::Failed`] (connect or handshake),
/// [`DialEvent::PipeClosed`] with the reason, [`DialEvent::Backoff`] before
/// each redial.
pub async fn dial_observed(
    sock: &Socket,
    stack: Stack<'_>,
    endpoint: IpEndpoint,
    bufs: TcpBuffers<'_>,
    on: impl FnMut(DialEvent),
) -> Error {
    let url = endpoint_url("tcp", endpoint);
    dial_with(sock, stack, endpoint, bufs, &url, &mut Plain, on).await
}

/// `scheme://a.b.c.d:port` for a pipe's URL, written without `core::fmt`
/// (its machinery and the address types' `Display` are kilobytes of flash).
pub(crate) fn endpoint_url(scheme: &str, ep: IpEndpoint) -> String {
    let mut s = String::from(scheme);
    s.push_str("://");
    match ep.addr {
        IpAddress::Ipv4(a) => {
            for (i, o) in a.octets().iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                push_decimal(&mut s, u32::from(*o));
            }
        }
        // With embassy-net's `proto-ipv6` (a firmware may turn it on).
        #[allow(unreachable_patterns)]
        other => {
            use core::fmt::Write;
            let _ = write!(s, "[{other}]");
        }
    }
    s.push(':');
    push_decimal(&mut s, u32::from(ep.port));
    s
}

/// Appends `n` in decimal (the core's, without `core::fmt`).
fn push_decimal(s: &mut String, n: u32) {
    nanosp_core::text::push_decimal(s, u64::from(n));
}

/// What runs on a connected TCP socket: the SP handshake and the pipe, with
/// or without a TLS session around them.
pub(crate) trait Connection {
    /// `Ok(why it closed)` once a pipe attached (`attached` is called
    /// then), `Err` if a handshake failed.
    async fn run(
        &mut self,
        sref: &SocketRef<EmbassyRuntime>,
        s: &mut TcpSocket<'_>,
        url: &str,
        attached: impl FnOnce(),
    ) -> Result<Error, Error>;
}

/// SP straight on TCP.
struct Plain;

impl Connection for Plain {
    async fn run(
        &mut self,
        sref: &SocketRef<EmbassyRuntime>,
        s: &mut TcpSocket<'_>,
        url: &str,
        attached: impl FnOnce(),
    ) -> Result<Error, Error> {
        run_connection(sref, s, url, true, attached).await
    }
}

/// The dialer's loop: connect, run `conn` on the connection, close it
/// gracefully, back off, again, until the socket closes.
pub(crate) async fn dial_with(
    sock: &Socket,
    stack: Stack<'_>,
    endpoint: IpEndpoint,
    bufs: TcpBuffers<'_>,
    url: &str,
    conn: &mut impl Connection,
    mut on: impl FnMut(DialEvent),
) -> Error {
    let sref = sock.transport_ref();
    let TcpBuffers { rx, tx } = bufs;
    let rt = EmbassyRuntime;
    let mut redial = Redial::from_options(&sref.options());
    loop {
        if sref.is_closed() {
            return Error::Closed;
        }
        let mut s = TcpSocket::new(stack, &mut *rx, &mut *tx);
        let connected = match select(s.connect(endpoint), sref.closed()).await {
            Either::First(r) => r,
            Either::Second(()) => return Error::Closed,
        };
        let outcome = match connected {
            Err(e) => {
                fmt::debug!("nanosp: connect failed: {}", e);
                Err(connect_error(e))
            }
            Ok(()) => {
                let r = conn.run(&sref, &mut s, url, || on(redial.attached())).await;
                close_gracefully(&mut s).await;
                r
            }
        };
        if sref.is_closed() {
            return Error::Closed;
        }
        let wait = match outcome {
            Ok(why) => redial.pipe_closed(why, rt.now(), rt.random_u32()),
            Err(e) => redial.failed(e, rt.now(), rt.random_u32()),
        };
        for ev in wait.events() {
            on(ev);
        }
        if let Either::Second(()) = select(rt.sleep_until(wait.until), sref.closed()).await {
            return Error::Closed;
        }
        sref.count(|s| wait.counter().bump(s));
    }
}

/// The core's error for a failed embassy-net connect.
fn connect_error(e: embassy_net::tcp::ConnectError) -> Error {
    use embassy_net::tcp::ConnectError as E;
    match e {
        E::ConnectionReset => Error::ConnectionRefused,
        E::TimedOut => Error::TimedOut,
        E::InvalidState => Error::Busy,
        E::NoRoute => Error::Io(IoErrorKind::AddressNotAvailable),
    }
}

/// [`dial`]'s observer: the events at debug level, failures as warnings.
pub(crate) fn log_dial_event(ev: DialEvent) {
    match ev {
        DialEvent::Connected => fmt::debug!("nanosp: pipe connected"),
        DialEvent::Failed(_e) => fmt::warning!("nanosp: dial failed: {}", _e),
        DialEvent::PipeClosed(_why) => fmt::debug!("nanosp: pipe closed: {}", _why),
        DialEvent::Backoff(_d) => {
            fmt::debug!(
                "nanosp: redialing in {} s {} ms",
                _d.as_secs(),
                _d.subsec_millis()
            )
        }
        _ => {}
    }
}

/// Handshakes and runs one connection: `Ok(why it closed)` once a pipe
/// attached (`attached` is called then), `Err` if the handshake failed.
async fn run_connection<R: Runtime>(
    sref: &SocketRef<R>,
    s: &mut TcpSocket<'_>,
    url: &str,
    dialed: bool,
    attached: impl FnOnce(),
) -> Result<Error, Error> {
    let (r, w) = s.split();
    // embassy-net's flush waits for the peer's ACK: data leaves without it.
    let cfg = StreamConfig {
        flush: false,
        ..StreamConfig::small(Framing::Tcp)
    };
    let pipe = boxed(nanosp_core::stream::establish_with(
        sref, r, w, cfg, url, dialed,
    ))
    .await;
    match pipe {
        Ok(pipe) => {
            attached();
            let why = boxed(pipe.run()).await;
            fmt::debug!("nanosp: pipe down: {}", why);
            Ok(why)
        }
        Err(e) => {
            fmt::warning!("nanosp: handshake failed: {}", e);
            Err(e)
        }
    }
}

/// `f` behind a pointer: its state machine is compiled as a function of
/// its own instead of being inlined into each caller's (the firmware's main
/// task), which is smaller in flash. Two allocations per connection: the
/// handshake's (freed when it ends) and the running pipe's (counted in the
/// `budget` test's pipe memory).
fn boxed<'a, T>(f: impl Future<Output = T> + 'a) -> Pin<Box<dyn Future<Output = T> + 'a>> {
    Box::pin(f)
}

/// Accepts SP connections on `port` with one `TcpSocket` per element of
/// `bufs`, all waiting in `accept` at once, so up to `bufs.len()` peers are
/// served together. Each connection must finish the SP handshake within the
/// socket's handshake timeout. An accept that fails is counted
/// (`accept_errors`) and that slot pauses as every listener does
/// ([`nanosp_core::backoff::AcceptPause`]). Returns [`Error::Closed`] once the
/// socket is closed.
pub async fn listen(
    sock: &Socket,
    stack: Stack<'_>,
    port: u16,
    bufs: &mut [TcpBuffers<'_>],
) -> Error {
    let sref = sock.transport_ref();
    let mut url = String::from("tcp://*:");
    push_decimal(&mut url, u32::from(port));
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
    let rt = EmbassyRuntime;
    let mut pause = AcceptPause::new();
    loop {
        if sref.is_closed() {
            return;
        }
        let mut s = TcpSocket::new(stack, &mut *bufs.rx, &mut *bufs.tx);
        let accepted = match select(s.accept(port), sref.closed()).await {
            Either::First(r) => r,
            Either::Second(()) => return,
        };
        if let Err(_e) = accepted {
            fmt::warning!("nanosp: accept failed: {}", _e);
            let p = pause.failed(rt.now());
            sref.count(|s| p.counter.bump(s));
            // At most ACCEPT_RETRY_MAX; a closed socket is seen next round.
            rt.sleep_until(p.until).await;
            continue;
        }
        pause.accepted();
        let _ = run_connection(sref, &mut s, url, false, || {}).await;
        close_gracefully(&mut s).await;
    }
}

#[cfg(test)]
mod url_tests {
    use super::*;

    #[test]
    fn pipe_urls_are_written_as_core_fmt_would() {
        for (addr, port) in [
            ([192, 168, 0, 17], 5555),
            ([0, 0, 0, 0], 0),
            ([255; 4], 65535),
        ] {
            let ep = IpEndpoint::new(IpAddress::v4(addr[0], addr[1], addr[2], addr[3]), port);
            assert_eq!(endpoint_url("tcp", ep), alloc::format!("tcp://{ep}"));
        }
        let ep = IpEndpoint::new(IpAddress::v4(10, 0, 0, 1), 443);
        assert_eq!(endpoint_url("tls+tcp", ep), "tls+tcp://10.0.0.1:443");
    }
}
