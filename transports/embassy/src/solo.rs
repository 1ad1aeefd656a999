//! The lean path: a [`Solo`] socket (one connection at a time, driven by the
//! application's own task; see [`nanosp_core::solo`]) over embassy-net TCP.
//!
//! [`dial`] and [`listen`] make the connections, with the same back-off,
//! handshake timeout and graceful close as the [`Socket`](crate::Socket)
//! dialer and listener, and run your code on each one: it gets the
//! [`SoloConn`] and returns why it stopped, normally the connection's error.
//! A REQ client that asks once a second:
//!
//! ```ignore
//! let mut req = Solo::new(Protocol::Req0, EmbassyRuntime);
//! nanosp_embassy::solo::dial(&mut req, stack, endpoint, bufs, async |conn| loop {
//!     if let Err(e) = conn.send(Message::from("ping")).await {
//!         return e.error;
//!     }
//!     match conn.recv().await {
//!         Ok(reply) => defmt::info!("{=[u8]}", reply.body()),
//!         Err(e) if conn.error().is_some() => return e, // the connection failed
//!         Err(_) => {}                                   // e.g. recv-timeout
//!     }
//!     Timer::after_secs(1).await;
//! })
//! .await;
//! ```
//!
//! What it costs and saves: see the crate's README (flash budget).

use embassy_net::tcp::{TcpReader, TcpSocket, TcpWriter};
use embassy_net::{IpEndpoint, Stack};
use nanosp_core::backoff::{AcceptPause, DialEvent, Redial};
use nanosp_core::frame::Framing;
use nanosp_core::stream::StreamConfig;
use nanosp_core::{Error, Runtime};

use crate::{close_gracefully, connect_error, fmt, log_dial_event, EmbassyRuntime, TcpBuffers};

/// A [`nanosp_core::solo::Solo`] socket on embassy.
pub type Solo = nanosp_core::solo::Solo<EmbassyRuntime>;

/// A connection of a [`Solo`] socket over embassy-net TCP.
pub type SoloConn<'s, 't> =
    nanosp_core::solo::Conn<'s, EmbassyRuntime, TcpReader<'t>, TcpWriter<'t>>;

/// Microcontroller buffers (512-byte reads, 1 KiB gathered writes); no
/// flush, which on embassy-net waits for the peer's ACK.
fn config() -> StreamConfig {
    StreamConfig {
        flush: false,
        ..StreamConfig::small(Framing::Tcp)
    }
}

/// Connects to `endpoint`, makes the SP handshake and runs `app` on the
/// connection; when `app` returns, closes the connection gracefully and
/// redials after the socket's back-off (`reconnect-time-min`/`-max`, with
/// jitter, as every nanosp dialer), forever. `app` returns why it stopped:
/// [`Error::Closed`] ends `dial` (which returns it); anything else counts
/// as the connection's end and redials. Events are logged (feature
/// `defmt`); [`dial_observed`] hands them to you.
pub async fn dial(
    sock: &mut Solo,
    stack: Stack<'_>,
    endpoint: IpEndpoint,
    bufs: TcpBuffers<'_>,
    app: impl AsyncFnMut(&mut SoloConn<'_, '_>) -> Error,
) -> Error {
    dial_observed(sock, stack, endpoint, bufs, app, log_dial_event).await
}

/// [`dial`] telling `on` what happens ([`DialEvent`]).
pub async fn dial_observed(
    sock: &mut Solo,
    stack: Stack<'_>,
    endpoint: IpEndpoint,
    bufs: TcpBuffers<'_>,
    mut app: impl AsyncFnMut(&mut SoloConn<'_, '_>) -> Error,
    mut on: impl FnMut(DialEvent),
) -> Error {
    let TcpBuffers { rx, tx } = bufs;
    let rt = EmbassyRuntime;
    let mut redial = Redial::from_options(sock.options());
    loop {
        let mut s = TcpSocket::new(stack, &mut *rx, &mut *tx);
        let outcome = match s.connect(endpoint).await {
            Err(e) => {
                fmt::debug!("nanosp: connect failed: {}", e);
                Err(connect_error(e))
            }
            Ok(()) => {
                let (r, w) = s.split();
                let r = match crate::boxed(sock.attach(r, w, config())).await {
                    Ok(mut conn) => {
                        on(redial.attached());
                        Ok(crate::boxed(app(&mut conn)).await)
                    }
                    Err(e) => Err(e),
                };
                close_gracefully(&mut s).await;
                r
            }
        };
        let wait = match outcome {
            Ok(Error::Closed) => return Error::Closed,
            Ok(why) => redial.pipe_closed(why, rt.now(), rt.random_u32()),
            Err(e) => redial.failed(e, rt.now(), rt.random_u32()),
        };
        for ev in wait.events() {
            on(ev);
        }
        rt.sleep_until(wait.until).await;
        sock.count(|s| wait.counter().bump(s));
    }
}

/// Accepts connections on `port`, one at a time, and runs `app` on each
/// (after the SP handshake, within the handshake timeout); when it
/// returns, closes the connection gracefully and accepts the next.
/// [`Error::Closed`] from `app` ends `listen`. A failed accept pauses as
/// every nanosp listener does ([`AcceptPause`]).
pub async fn listen(
    sock: &mut Solo,
    stack: Stack<'_>,
    port: u16,
    bufs: TcpBuffers<'_>,
    mut app: impl AsyncFnMut(&mut SoloConn<'_, '_>) -> Error,
) -> Error {
    let TcpBuffers { rx, tx } = bufs;
    let rt = EmbassyRuntime;
    let mut pause = AcceptPause::new();
    loop {
        let mut s = TcpSocket::new(stack, &mut *rx, &mut *tx);
        if let Err(_e) = s.accept(port).await {
            fmt::warning!("nanosp: accept failed: {}", _e);
            let p = pause.failed(rt.now());
            sock.count(|s| p.counter.bump(s));
            rt.sleep_until(p.until).await;
            continue;
        }
        pause.accepted();
        let (r, w) = s.split();
        let why = match crate::boxed(sock.attach(r, w, config())).await {
            Ok(mut conn) => {
                let why = crate::boxed(app(&mut conn)).await;
                fmt::debug!("nanosp: pipe down: {}", why);
                why
            }
            Err(e) => {
                fmt::warning!("nanosp: handshake failed: {}", e);
                e
            }
        };
        close_gracefully(&mut s).await;
        if why == Error::Closed {
            return why;
        }
    }
}
