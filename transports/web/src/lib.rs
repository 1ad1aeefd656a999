//! # nanosp-web — Scalability Protocols in the browser
//!
//! SP sockets (REQ/REP, PUB/SUB, PUSH/PULL, PAIR, SURVEYOR/RESPONDENT, BUS)
//! over the browser's `WebSocket`, wire-compatible with nng, mangos and
//! nanomsg WebSocket listeners. The protocol logic is the `nanosp` core;
//! this crate supplies:
//!
//! * [`WebRuntime`]: the core's clock (`performance.now()`), sleep
//!   (`setTimeout`) and randomness (`Math.random()`);
//! * [`dial`]: a WebSocket dialer (`ws://`, `wss://`) that offers the SP
//!   subprotocol, carries one SP message per WebSocket message, and redials
//!   with the socket's back-off when the connection drops.
//!
//! Browsers cannot listen, so there is no listener. Everything runs on the
//! page's (or worker's) one thread: background work is spawned with
//! `wasm_bindgen_futures::spawn_local`. Only the global `WebSocket`,
//! `setTimeout` and `performance` are used, so the crate also runs in web
//! workers and in Node (with a global `WebSocket`, e.g. from the `ws`
//! package).
//!
//! Cargo features, all on by default: `std` (the core locks with the
//! standard library's mutex; off, through `critical-section`, which the
//! final module implements), and `inproc`, `device` and `raw`, the core's
//! features of those names. The npm package turns them all off; a page
//! that drops only `std` takes `default-features = false, features =
//! ["inproc", "device", "raw"]`.
//!
//! ```no_run
//! use nanosp_core::{Message, Protocol};
//! use nanosp_web::{dial, DialMode, Socket, WebRuntime};
//!
//! # async fn example() -> Result<(), nanosp_core::Error> {
//! let req = Socket::new(Protocol::Req0, WebRuntime);
//! dial(&req, "ws://127.0.0.1:8080/sp", DialMode::Blocking).await?;
//! req.send(Message::from_slice(b"hello")).await?;
//! let reply = req.recv().await?;
//! # let _ = reply; Ok(()) }
//! ```
#![no_std]
#![warn(missing_docs)]
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

extern crate alloc;

#[doc(hidden)]
pub mod bytes;
mod runtime;
mod ws;

use alloc::boxed::Box;
use alloc::string::String;
use core::future::Future;
use core::pin::Pin;

use nanosp_core::url::{Scheme, Url};
use nanosp_core::Error;

pub use nanosp_core::backoff::DialEvent;

pub use nanosp_core;
pub use runtime::{Sleep, WebRuntime};
pub use ws::{connect, subprotocol, WsPipe, WsRead, WsWrite, MAX_PENDING};

/// An SP socket in the browser.
pub type Socket = nanosp_core::Socket<WebRuntime>;

/// How [`dial`] treats its first attempt (nng's `NNG_FLAG_NONBLOCK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DialMode {
    /// Wait for the first connection and return its error, without retrying
    /// (as `nng_dial`). Once connected, a lost connection is redialed.
    #[default]
    Blocking,
    /// Return at once and keep trying in the background until the socket
    /// closes.
    NonBlocking,
}

/// Starts `sock`'s timer task on the page's event loop, so REQ resends and
/// SURVEYOR deadlines fire on time even while nobody waits in `recv` (as
/// nng's timers do). Call it once per socket, after [`Socket::new`]; without
/// it those timers run only while a `recv` waits. A no-op for protocols
/// without timers; the task ends when the socket closes.
pub fn start_timers(sock: &Socket) {
    let sref = sock.transport_ref();
    if sref.has_timers() {
        wasm_bindgen_futures::spawn_local(sref.run_timers());
    }
}

/// Checks that `url` is a WebSocket URL a browser can open.
fn check_url(url: &str) -> Result<(), Error> {
    let u = Url::parse(url)?;
    match u.scheme {
        Scheme::Ws | Scheme::Wss => Ok(()),
        _ => Err(Error::TransportUnavailable),
    }
}

/// Dials `url` (`ws://host[:port][/path]` or `wss://...`) from `sock`.
///
/// The dialer lives until the socket closes: whenever its connection drops
/// (peer gone, bad input, the socket closed the pipe) it redials after a
/// wait drawn from the socket's `reconnect-time-min`/`-max` back-off, as nng
/// does. With [`DialMode::Blocking`] the first attempt's error is returned
/// and nothing keeps trying; see [`connect`] for the errors.
pub async fn dial(sock: &Socket, url: &str, mode: DialMode) -> Result<(), Error> {
    dial_observed(sock, url, mode, |_| {}).await
}

/// [`dial`] telling `on` what its dialer does, with the same events as every
/// target's dialer ([`DialEvent`]): connected, failed (with the error),
/// pipe closed (with the reason), back-off before each redial. The schedule
/// and the counters are the core's ([`nanosp_core::backoff::Redial`]). A first
/// attempt that fails with [`DialMode::Blocking`] is returned, not reported.
pub async fn dial_observed(
    sock: &Socket,
    url: &str,
    mode: DialMode,
    on: impl FnMut(DialEvent) + 'static,
) -> Result<(), Error> {
    check_url(url)?;
    if sock.is_closed() {
        return Err(Error::Closed);
    }
    let sref = sock.transport_ref();
    let url = String::from(url);
    // Boxed: the first attempt and the dialer's later ones then share one
    // copy of the connection's state machine instead of inlining one each
    // (1 KB of the npm package); one allocation per attempt.
    let attempt = {
        let sref = sref.clone();
        move || -> Pin<Box<dyn Future<Output = Result<WsPipe, Error>>>> {
            Box::pin(connect(sref.clone(), url.clone()))
        }
    };
    let first = match mode {
        DialMode::Blocking => Some(attempt().await?),
        DialMode::NonBlocking => None,
    };
    wasm_bindgen_futures::spawn_local(nanosp_core::transport::dialer_loop_observed(
        sref, first, attempt, on,
    ));
    Ok(())
}
