//! # nanosp — the Scalability Protocols on tokio
//!
//! Sockets of the [`nanosp_core`] core with the transports a server or desktop
//! program needs:
//!
//! | URL | transport |
//! |---|---|
//! | `tcp://host:port`, `tcp://*:port`, `tcp://[::1]:port`, `tcp4://`, `tcp6://` | TCP, TCP_NODELAY on, keepalive optional ([`Socket::set_tcp_keepalive`], [`Socket::set_tcp_keepalive_timings`], [`Socket::set_tcp_user_timeout`]) |
//! | `ipc:///path`, `unix:///path` | Unix domain sockets, stale socket files replaced (docs/wire.md §2.3) |
//! | `abstract://name` | Linux abstract Unix sockets |
//! | `ws://host:port/path`, `ws4://`, `ws6://` | WebSocket client and server (docs/wire.md §3); sockets may share a port on different paths |
//! | `inproc://name` | the core's in-process transport |
//! | `tls+tcp://host:port`, `tls+tcp4://`, `tls+tcp6://` | TCP under TLS 1.2/1.3 (rustls, `ring`); see [`tls`] |
//! | `wss://host:port/path`, `wss4://`, `wss6://` | WebSocket under TLS; `wss://` listeners share a port by path |
//!
//! **TLS** is configured with a [`TlsConfig`] (nng's `nng_tls_config` and
//! option names: `tls-ca-file`, `tls-cert-key-file`, `tls-server-name`,
//! `tls-auth-mode`) on the socket ([`Socket::set_tls_config`]) or for one
//! dialer or listener ([`Socket::dial_tls`], [`Socket::listen_tls`]);
//! [`Socket::pipe_tls`] tells what a pipe knows of its peer (`tls-verified`,
//! subject, common name). Failures are [`Error::Tls`] with a [`TlsError`]
//! naming the cause; on a listener they close that one connection.
//!
//! Two APIs over the same sockets:
//!
//! * [`Socket`]: async, `Send + Sync + Clone`, usable from any tokio task. Made
//!   inside a tokio runtime it runs its transports there; made elsewhere it
//!   uses a shared background runtime.
//! * [`blocking::Socket`]: plain blocking calls for programs without async; it
//!   needs no runtime set-up (transports run on the shared runtime,
//!   [`rt::shared_handle`], which a thread waiting in a call runs itself).
//!   Do not call it from inside an async task.
//!
//! ```
//! use nanosp::{Protocol, Message, Socket};
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let pull = Socket::new(Protocol::Pull0);
//! let l = pull.listen("tcp://127.0.0.1:0").await.unwrap(); // port 0: any free port
//! let push = Socket::new(Protocol::Push0);
//! push.dial(l.url()).await.unwrap();
//! push.send(Message::from("job")).await.unwrap();
//! assert_eq!(pull.recv().await.unwrap().body(), b"job");
//! # }
//! ```
//!
//! **Options** are the core's [`SockOpt`], with nng's names and defaults:
//! the table is in [`options`]. **Errors** are one [`Error`] enum with nng's
//! meanings (`ECLOSED`, `ETIMEDOUT`, `ESTATE`, ...; see its variants), and
//! [`Error::nng_name`] / [`Error::nng_code`] give nng's name and number.
//! **Protocols** have nng's names ([names](Protocol#names): `"pair"` is
//! PAIR v0, `"pair1"` v1). Each protocol's rules (who receives, what is
//! dropped, what is retried) are on its module in [`nanosp_core::proto`], e.g.
//! [`nanosp_core::proto::reqrep0`].
//!
//! **Call for call like nng** (checked by a differential test against
//! nng through pynng): a REQ or SURVEYOR `recv` that times out or is
//! dropped ends the request or survey (the next `recv` without a `send` is
//! [`Error::ProtocolState`]; the next `send` + `recv` works); one `recv` at a
//! time waits on a REQ or REP socket or context; a closed socket refuses
//! everything with [`Error::Closed`]; a context takes the socket's timeouts
//! when opened. Where nanosp differs on purpose:
//!
//! * [`Socket::try_recv`] on SURVEYOR leaves the survey running when
//!   nothing is there (nng's non-blocking receive ends it), so a polling
//!   loop gets the responses (REQ keeps its request in both);
//! * [`Socket::close`] may be called again (nng: `ECLOSED`);
//! * the `linger` option ([`SockOpt::Linger`]) is nanosp's and mangos' (nng
//!   1.x has none);
//! * `recv-size-max` counts the body, not the header (see [`SockOpt::RecvMaxSize`]).
//!
//! Several receives waiting on one socket or context are served in the
//! order they began to wait, as in nng.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use nanosp_core::{
    options, CtxId, DropReason, Error, IoErrorKind, Message, Options, PipeEvent, PipeId, PipeInfo,
    PipeStats, Protocol, ProtocolError, Scheme, SendError, SockOpt, Stats, TlsPeer, Url, UrlError,
    HEADER_CAPACITY,
};

/// A context of a [`Socket`] (REQ, REP, SURVEYOR, RESPONDENT, SUB): its own
/// protocol state on the socket's connections. See [`nanosp_core::SocketContext`].
///
/// ```
/// use nanosp::{Message, Protocol, Socket, SocketContext};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let rep = Socket::new(Protocol::Rep0);
/// let l = rep.listen("tcp://127.0.0.1:0").await.unwrap();
/// let worker: SocketContext = rep.context().unwrap();
/// let req = Socket::new(Protocol::Req0);
/// req.dial(l.url()).await.unwrap();
/// req.send(Message::from("2+2")).await.unwrap();
/// let q = worker.recv().await.unwrap();
/// worker.send(Message::from("4")).await.unwrap();
/// assert_eq!(req.recv().await.unwrap().body(), b"4");
/// # }
/// ```
pub type SocketContext = nanosp_core::SocketContext<TokioRuntime>;

/// Spawns the dialer loop after a synchronous (or skipped) first attempt.
/// A macro, not a generic function: tokio needs the loop future to be `Send`,
/// which the compiler proves only where the pipe types are concrete.
macro_rules! start_dialer {
    ($rt:expr, $sref:expr, $connect:expr, $nonblocking:expr, $url:expr, $stop:expr) => {{
        let connect = $connect;
        let first = if $nonblocking {
            None
        } else {
            Some(connect().await?)
        };
        let url: String = $url;
        let run = nanosp_core::transport::dialer_loop_observed($sref, first, connect, move |ev| {
            crate::events::dialer(&url, ev)
        });
        let stop: crate::DialerStop = $stop;
        // Dropping the loop (when its Dialer is closed) drops its pipe.
        $rt.spawn(async move {
            let run = std::pin::pin!(run);
            let stopped = std::pin::pin!(stop.stopped());
            futures_util::future::select(run, stopped).await;
        });
        Ok(())
    }};
}

/// The dialer loop's side of [`Dialer::close`].
pub(crate) struct DialerStop(tokio::sync::watch::Receiver<bool>);

impl DialerStop {
    /// Completes when the dialer is closed; never if its handle was
    /// dropped without closing it (the dialer then lives on with its socket).
    async fn stopped(mut self) {
        if self.0.wait_for(|closed| *closed).await.is_err() {
            std::future::pending::<()>().await
        }
    }
}

/// A dialer (see [`Socket::dial`]): it keeps a connection to one URL,
/// redialing when it drops, until its socket closes or [`Dialer::close`].
/// Dropping this handle leaves the dialer running.
#[derive(Debug)]
pub struct Dialer {
    url: String,
    stop: Option<tokio::sync::watch::Sender<bool>>,
}

impl Dialer {
    fn new(url: &str, inproc: bool) -> (Dialer, DialerStop) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let d = Dialer {
            url: url.to_string(),
            stop: (!inproc).then_some(tx),
        };
        (d, DialerStop(rx))
    }

    /// The URL it dials.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops the dialer and closes its pipe (nng's `nng_dialer_close`); the
    /// socket and its other dialers, listeners and pipes carry on. Inproc
    /// dialers end only with their socket.
    ///
    /// ```
    /// use nanosp::{Protocol, Socket};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let rep = Socket::new(Protocol::Rep0);
    /// let l = rep.listen("tcp://127.0.0.1:0").await.unwrap();
    /// let req = Socket::new(Protocol::Req0);
    /// let d = req.dial(l.url()).await.unwrap();
    /// req.wait_for_pipes(1).await.unwrap();
    /// d.close(); // the connection goes, and is not redialed
    /// # }
    /// ```
    pub fn close(&self) {
        if let Some(s) = &self.stop {
            s.send_replace(true);
        }
    }
}

pub mod blocking;
pub mod events;
mod ready;
pub mod rt;
mod stream;
pub mod tls;
mod ws;
pub use nanosp_core::TlsError;
pub use tls::{TlsAuthMode, TlsConfig};
#[doc(hidden)]
pub use ws::fuzzing;
pub use ws::MAX_RECV_FRAME_UNLIMITED;

pub use rt::TokioRuntime;

/// TCP keepalive timings: how fast a peer that vanished without closing
/// (cable cut, host powered off, network partition) is noticed on an idle
/// connection. Linux counts them in whole seconds (at least 1 s).
///
/// With the defaults of [`TcpKeepalive::new`] a dead idle peer is noticed
/// after about `idle + interval * retries` = 1 s + 3 × 1 s. The kernel's
/// defaults (7200 s, 75 s, 9 probes) take over two hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpKeepalive {
    /// Idle time before the first probe (`TCP_KEEPIDLE`).
    pub idle: Duration,
    /// Time between unanswered probes (`TCP_KEEPINTVL`).
    pub interval: Duration,
    /// Unanswered probes before the connection is dropped (`TCP_KEEPCNT`).
    pub retries: u32,
}

impl TcpKeepalive {
    /// Short timings for fast detection: 1 s idle, 1 s interval, 3 probes.
    pub const fn new() -> Self {
        TcpKeepalive {
            idle: Duration::from_secs(1),
            interval: Duration::from_secs(1),
            retries: 3,
        }
    }
}

impl Default for TcpKeepalive {
    fn default() -> Self {
        Self::new()
    }
}

/// TCP settings applied to each connection when it is made or accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TcpTuning {
    pub(crate) keepalive: bool,
    pub(crate) timings: Option<TcpKeepalive>,
    pub(crate) user_timeout: Option<Duration>,
}

/// The TCP settings of a socket, read anew for every connection.
#[derive(Clone, Default)]
pub(crate) struct TcpSettings(Arc<Mutex<TcpTuning>>);

impl TcpSettings {
    pub(crate) fn get(&self) -> TcpTuning {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn update(&self, f: impl FnOnce(&mut TcpTuning)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// What every clone of a [`Socket`] shares.
pub(crate) struct Shared {
    pub(crate) sock: nanosp_core::Socket<TokioRuntime>,
    pub(crate) tcp: TcpSettings,
    /// The TLS configuration for dialers and listeners without their own.
    pub(crate) tls: Mutex<Option<TlsConfig>>,
}

/// An SP socket on tokio: cooked or raw, any protocol of the core, dialing
/// and listening on tcp, ipc, abstract, ws and inproc URLs.
///
/// Clones share one socket. The socket closes when [`Socket::close`] is
/// called or the last clone is dropped; its dialers, listeners and pipes end
/// then.
#[derive(Clone)]
pub struct Socket {
    sh: Arc<Shared>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.sh.sock.fmt(f)
    }
}

impl Socket {
    /// A cooked socket of protocol `p`, on the current tokio runtime if there
    /// is one, else on the shared background runtime.
    pub fn new(p: Protocol) -> Socket {
        Self::wrap(nanosp_core::Socket::new(
            p,
            TokioRuntime::current_or_shared(),
        ))
    }

    /// A raw socket of protocol `p` (headers are the application's).
    pub fn new_raw(p: Protocol) -> Socket {
        Self::wrap(nanosp_core::Socket::new_raw(
            p,
            TokioRuntime::current_or_shared(),
        ))
    }

    /// A socket on an explicit tokio runtime.
    pub fn with_runtime(p: Protocol, raw: bool, rt: TokioRuntime) -> Socket {
        Self::wrap(if raw {
            nanosp_core::Socket::new_raw(p, rt)
        } else {
            nanosp_core::Socket::new(p, rt)
        })
    }

    fn wrap(sock: nanosp_core::Socket<TokioRuntime>) -> Socket {
        let timers = sock.transport_ref();
        if timers.has_timers() {
            // REQ resends and survey deadlines on time, as nng's timers.
            sock.runtime().spawn(timers.run_timers());
        }
        Socket {
            sh: Arc::new(Shared {
                sock,
                tcp: TcpSettings::default(),
                tls: Mutex::new(None),
            }),
        }
    }

    /// The core socket, for everything this wrapper does not repeat.
    pub fn core(&self) -> &nanosp_core::Socket<TokioRuntime> {
        &self.sh.sock
    }

    /// Opens a context (REQ, REP, SURVEYOR, RESPONDENT, SUB in cooked mode):
    /// independent protocol state on this socket's connections, e.g. one per
    /// concurrent request in a server.
    pub fn context(&self) -> Result<SocketContext, Error> {
        self.core().context()
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.sh.sock.protocol()
    }

    /// True for a raw socket.
    pub fn is_raw(&self) -> bool {
        self.sh.sock.is_raw()
    }

    /// Sends `m`, waiting for room up to `send-timeout`; a failure hands the
    /// message back.
    pub async fn send(&self, m: Message) -> Result<(), SendError> {
        self.sh.sock.send(m).await
    }

    /// Receives a message, waiting up to `recv-timeout`.
    pub async fn recv(&self) -> Result<Message, Error> {
        self.sh.sock.recv().await
    }

    /// Receives up to `max` messages into `out`: waits for the first as
    /// [`Socket::recv`] does, then takes those already there in one pass of
    /// the socket's lock ([`nanosp_core::Socket::recv_many`]). Returns how
    /// many it added (at least one, unless `max` is 0).
    ///
    /// ```
    /// use nanosp::{Message, Protocol, Socket};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let pull = Socket::new(Protocol::Pull0);
    /// let push = Socket::new(Protocol::Push0);
    /// pull.listen("inproc://recv-many").await.unwrap();
    /// push.dial("inproc://recv-many").await.unwrap();
    /// for i in 0..10u8 {
    ///     push.send(Message::from(&[i][..])).await.unwrap();
    /// }
    /// let mut batch = Vec::new();
    /// while batch.len() < 10 {
    ///     pull.recv_many(&mut batch, 64).await.unwrap();
    /// }
    /// assert!(batch.iter().enumerate().all(|(i, m)| m.body() == [i as u8]));
    /// # }
    /// ```
    pub async fn recv_many(&self, out: &mut Vec<Message>, max: usize) -> Result<usize, Error> {
        self.sh.sock.recv_many(out, max).await
    }

    /// Takes up to `max` messages that are already there into `out`,
    /// without waiting, in one pass of the socket's lock; returns how many
    /// ([`nanosp_core::Socket::try_recv_many`]).
    pub fn try_recv_many(&self, out: &mut Vec<Message>, max: usize) -> usize {
        self.sh.sock.try_recv_many(out, max)
    }

    /// Sends `m`, waiting up to `timeout` for this call only.
    pub async fn send_timeout(&self, m: Message, timeout: Duration) -> Result<(), SendError> {
        self.sh.sock.send_timeout(m, timeout).await
    }

    /// Receives, waiting up to `timeout` for this call only (`recv-timeout`
    /// does not apply). On REQ and SURVEYOR a receive that times out ends
    /// the request or survey, as in nng.
    ///
    /// ```
    /// use std::time::Duration;
    /// use nanosp::{Error, Protocol, Socket};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let pull = Socket::new(Protocol::Pull0);
    /// let r = pull.recv_timeout(Duration::from_millis(10)).await;
    /// assert_eq!(r.unwrap_err(), Error::TimedOut);
    /// # }
    /// ```
    pub async fn recv_timeout(&self, timeout: Duration) -> Result<Message, Error> {
        self.sh.sock.recv_timeout(timeout).await
    }

    /// Completes once `n` pipes are attached ([`Error::Closed`] if the socket
    /// closes first): wait for peers instead of polling [`Socket::pipes`].
    /// Bound it with `tokio::time::timeout` if the peers may never come.
    ///
    /// ```
    /// use nanosp::{Protocol, Socket};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let publisher = Socket::new(Protocol::Pub0);
    /// let l = publisher.listen("tcp://127.0.0.1:0").await.unwrap();
    /// let sub = Socket::new(Protocol::Sub0);
    /// sub.dial(l.url()).await.unwrap();
    /// publisher.wait_for_pipes(1).await.unwrap(); // the subscriber is there
    /// # }
    /// ```
    pub async fn wait_for_pipes(&self, n: usize) -> Result<(), Error> {
        self.sh.sock.wait_for_pipes(n).await
    }

    /// Completes once every message queued on a pipe has been written.
    pub async fn flush(&self) {
        self.sh.sock.flush().await
    }

    /// Closes after waiting up to the `linger` option ([`SockOpt::Linger`],
    /// default zero) for queued messages to be written
    /// ([`nanosp_core::Socket::close_linger`]). [`Socket::close`] does not wait.
    ///
    /// ```
    /// use std::time::Duration;
    /// use nanosp::{Message, Protocol, Socket, SockOpt};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let pull = Socket::new(Protocol::Pull0);
    /// let l = pull.listen("tcp://127.0.0.1:0").await.unwrap();
    /// let push = Socket::new(Protocol::Push0);
    /// push.set_opt(SockOpt::Linger(Duration::from_secs(5))).unwrap();
    /// push.dial(l.url()).await.unwrap();
    /// for i in 0..10u8 {
    ///     push.send(Message::from(&[i][..])).await.unwrap();
    /// }
    /// push.close_linger().await; // all ten are written before it closes
    /// for i in 0..10u8 {
    ///     assert_eq!(pull.recv().await.unwrap().body(), [i]);
    /// }
    /// # }
    /// ```
    pub async fn close_linger(&self) {
        self.sh.sock.close_linger().await
    }

    /// Sends without waiting ([`Error::WouldBlock`] if it cannot go now).
    pub fn try_send(&self, m: Message) -> Result<(), SendError> {
        self.sh.sock.try_send(m)
    }

    /// Receives without waiting ([`Error::WouldBlock`] if nothing is there).
    pub fn try_recv(&self) -> Result<Message, Error> {
        self.sh.sock.try_recv()
    }

    /// Sets an option (names and defaults: [`nanosp_core::options`]).
    pub fn set_opt(&self, o: SockOpt) -> Result<(), Error> {
        self.sh.sock.set_opt(o)
    }

    /// The engine options now in force.
    pub fn options(&self) -> Options {
        self.sh.sock.options()
    }

    /// TCP keepalive (nng's `tcp-keepalive`, default off) for connections
    /// made or accepted from now on (tcp and ws), with the system's timings
    /// unless [`Socket::set_tcp_keepalive_timings`] chose others.
    /// TCP_NODELAY is always on.
    pub fn set_tcp_keepalive(&self, on: bool) {
        self.sh.tcp.update(|t| t.keepalive = on);
    }

    /// The TCP keepalive setting.
    pub fn tcp_keepalive(&self) -> bool {
        self.sh.tcp.get().keepalive
    }

    /// Keepalive timings for connections made or accepted from now on;
    /// `Some` also turns keepalive on, `None` returns to the system's
    /// timings. With [`TcpKeepalive::new`] an idle connection to a vanished
    /// peer closes within about 4 s, and its dialer redials.
    pub fn set_tcp_keepalive_timings(&self, k: Option<TcpKeepalive>) {
        self.sh.tcp.update(|t| {
            t.timings = k;
            t.keepalive |= k.is_some();
        });
    }

    /// The keepalive timings, if chosen.
    pub fn tcp_keepalive_timings(&self) -> Option<TcpKeepalive> {
        self.sh.tcp.get().timings
    }

    /// `TCP_USER_TIMEOUT` (Linux; ignored elsewhere) for connections made or
    /// accepted from now on: a connection whose sent data stays
    /// unacknowledged this long is closed, so a peer that vanished while
    /// data was in flight (where keepalive does not probe) is noticed. It
    /// also bounds each TCP connect of a dialer, so redials are not stuck in
    /// SYN retries while a link is down. `None` (the default, as nng): the
    /// system's timeouts (many minutes).
    pub fn set_tcp_user_timeout(&self, t: Option<Duration>) {
        self.sh
            .tcp
            .update(|s| s.user_timeout = t.filter(|d| !d.is_zero()));
    }

    /// The `TCP_USER_TIMEOUT` setting.
    pub fn tcp_user_timeout(&self) -> Option<Duration> {
        self.sh.tcp.get().user_timeout
    }

    /// The counters of one pipe, while it is open.
    pub fn pipe_stats(&self, p: PipeId) -> Option<PipeStats> {
        self.sh.sock.pipe_stats(p)
    }

    /// SUB: receive messages whose body starts with `topic` (empty = all).
    pub fn subscribe(&self, topic: &[u8]) -> Result<(), Error> {
        self.sh.sock.subscribe(topic)
    }

    /// SUB: drop a subscription.
    pub fn unsubscribe(&self, topic: &[u8]) -> Result<(), Error> {
        self.sh.sock.unsubscribe(topic)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.sh.sock.stats()
    }

    /// The live pipes.
    pub fn pipes(&self) -> Vec<PipeInfo> {
        self.sh.sock.pipes()
    }

    /// Closes one pipe (its dialer, if any, redials).
    pub fn close_pipe(&self, p: PipeId) {
        self.sh.sock.close_pipe(p)
    }

    /// Installs the pipe-event hook (nng's `nng_pipe_notify`); returning
    /// `false` on [`PipeEvent::AddPre`] refuses the pipe.
    pub fn set_pipe_hook(&self, f: impl Fn(PipeEvent, &PipeInfo) -> bool + Send + Sync + 'static) {
        self.sh.sock.set_pipe_hook(f)
    }

    /// Closes the socket, its pipes, dialers and listeners; pending
    /// operations return [`Error::Closed`].
    pub fn close(&self) {
        self.sh.sock.close()
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.sh.sock.is_closed()
    }

    /// Completes when the socket closes.
    pub async fn closed(&self) {
        self.sh.sock.closed().await
    }

    /// Dials `url`. The first attempt is made now and its error returned (no
    /// retry, as nng's `nng_dial`); once connected, the dialer redials in the
    /// background with back-off whenever the connection drops. The returned
    /// [`Dialer`] closes this dialer alone ([`Dialer::close`]).
    pub async fn dial(&self, url: &str) -> Result<Dialer, Error> {
        let tls = self.tls_config();
        self.dial_with(url, tls).await
    }

    /// Dials a `tls+tcp://` or `wss://` URL with its own TLS configuration
    /// (as nng sets a TLS config on one dialer); otherwise as [`Socket::dial`].
    /// The configuration is read now: later changes do not reach this dialer.
    ///
    /// A dialer checks the server's certificate against the configuration's
    /// CAs and the URL's host (or [`TlsConfig::with_server_name`]); with no
    /// CA and the default [`TlsAuthMode::Required`] every server is
    /// refused ([`TlsError::UnknownIssuer`]).
    pub async fn dial_tls(&self, url: &str, tls: &TlsConfig) -> Result<Dialer, Error> {
        self.dial_with(url, Some(tls.clone())).await
    }

    async fn dial_with(&self, url: &str, tls: Option<TlsConfig>) -> Result<Dialer, Error> {
        let (d, stop) = Dialer::new(url, is_inproc(url));
        let url = url.to_string();
        self.on_runtime(move |s| async move { s.dial_here(&url, false, stop, tls).await })
            .await?;
        Ok(d)
    }

    /// Sets the TLS configuration of the dialers and listeners started from
    /// now on without one of their own ([`Socket::dial_tls`],
    /// [`Socket::listen_tls`]); `None` removes it.
    ///
    /// ```
    /// use nanosp::{Protocol, Socket, TlsAuthMode, TlsConfig};
    /// let s = Socket::new(Protocol::Pair1);
    /// // nngcat's --insecure: take any server certificate.
    /// s.set_tls_config(Some(TlsConfig::new().with_auth_mode(TlsAuthMode::None)));
    /// ```
    pub fn set_tls_config(&self, tls: Option<TlsConfig>) {
        *self.sh.tls.lock().unwrap_or_else(|e| e.into_inner()) = tls;
    }

    /// The socket's TLS configuration ([`Socket::set_tls_config`]).
    pub fn tls_config(&self) -> Option<TlsConfig> {
        self.sh
            .tls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// What a TLS pipe knows of its peer: whether its certificate verified
    /// (nng's `tls-verified`), its subject and common name (`tls-peer-cn`),
    /// the TLS version. `None` for a pipe that is not TLS or is gone. A
    /// pipe hook ([`Socket::set_pipe_hook`]) sees the same in
    /// [`PipeInfo::tls`] from `AddPre` on, so it can refuse a peer by its
    /// certificate (as nng's pipe notify reads `tls-verified`).
    pub fn pipe_tls(&self, p: PipeId) -> Option<TlsPeer> {
        self.sh.sock.pipe_info(p).and_then(|i| i.tls.map(|t| *t))
    }

    /// Dials `url` without failing on an absent peer: connects in the
    /// background and keeps trying (nng's `NNG_FLAG_NONBLOCK`). Only a bad
    /// URL is an error.
    pub fn dial_nonblocking(&self, url: &str) -> Result<Dialer, Error> {
        let u = Url::parse(url)?;
        let (d, stop) = Dialer::new(url, u.scheme == nanosp_core::Scheme::Inproc);
        if u.scheme == nanosp_core::Scheme::Inproc {
            self.sh.sock.dial_nonblocking(url)?;
            return Ok(d);
        }
        if self.is_closed() {
            return Err(Error::Closed);
        }
        check_dialable(&u)?;
        let me = self.clone();
        let url = url.to_string();
        let rt = self.sh.sock.runtime().clone();
        // The loop holds only a SocketRef, so spawning through a short task
        // that drops `me` keeps "last handle dropped closes" true.
        let tls = self.tls_config();
        rt.spawn(async move {
            let _ = me.dial_here(&url, true, stop, tls).await;
        });
        Ok(d)
    }

    /// Runs transport set-up on the socket's runtime, so that sockets work
    /// from any executor (tokio I/O registers with the runtime it runs on).
    async fn on_runtime<T, F>(&self, f: impl FnOnce(Socket) -> F) -> Result<T, Error>
    where
        F: std::future::Future<Output = Result<T, Error>> + Send + 'static,
        T: Send + 'static,
    {
        let rt = self.sh.sock.runtime().clone();
        match rt.handle().spawn(f(self.clone())).await {
            Ok(r) => r,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(Error::Closed),
        }
    }

    async fn dial_here(
        &self,
        url: &str,
        nonblocking: bool,
        stop: DialerStop,
        tls: Option<TlsConfig>,
    ) -> Result<(), Error> {
        let u = Url::parse(url)?;
        if self.is_closed() {
            return Err(Error::Closed);
        }
        use nanosp_core::Scheme as S;
        match u.scheme {
            S::Inproc if nonblocking => self.sh.sock.dial_nonblocking(url),
            S::Inproc => self.sh.sock.dial(url),
            S::Ws | S::Ws4 | S::Ws6 => {
                ws::dial(&self.sh, u, url.to_string(), nonblocking, stop, None).await
            }
            S::Wss | S::Wss4 | S::Wss6 => {
                let c = tls.unwrap_or_default().client(&u.host)?;
                ws::dial(&self.sh, u, url.to_string(), nonblocking, stop, Some(c)).await
            }
            _ => stream::dial(&self.sh, u, url.to_string(), nonblocking, stop, tls).await,
        }
    }

    /// Listens on `url`. For TCP and WebSocket, port 0 takes any free port:
    /// [`Listener::url`] tells the real address. The listener runs until the
    /// socket closes or [`Listener::close`].
    pub async fn listen(&self, url: &str) -> Result<Listener, Error> {
        let tls = self.tls_config();
        self.listen_with(url, tls).await
    }

    /// Listens on a `tls+tcp://` or `wss://` URL with its own TLS
    /// configuration, which must hold a certificate and key (else
    /// [`Error::InvalidArgument`]). Client certificates are asked for with
    /// [`TlsAuthMode::Optional`] or [`TlsAuthMode::Required`] (which needs
    /// a CA). `wss://` listeners sharing a port share its TLS: the first
    /// one's configuration serves them all, and `ws://` and `wss://` cannot
    /// share a port ([`Error::AddressInUse`]).
    pub async fn listen_tls(&self, url: &str, tls: &TlsConfig) -> Result<Listener, Error> {
        self.listen_with(url, Some(tls.clone())).await
    }

    async fn listen_with(&self, url: &str, tls: Option<TlsConfig>) -> Result<Listener, Error> {
        let url = url.to_string();
        self.on_runtime(move |s| async move { s.listen_here(&url, tls).await })
            .await
    }

    async fn listen_here(&self, url: &str, tls: Option<TlsConfig>) -> Result<Listener, Error> {
        let u = Url::parse(url)?;
        if self.is_closed() {
            return Err(Error::Closed);
        }
        use nanosp_core::Scheme as S;
        match u.scheme {
            S::Inproc => {
                self.sh.sock.listen(url)?;
                Ok(Listener::new(url.to_string(), None, None))
            }
            S::Ws | S::Ws4 | S::Ws6 => ws::listen(&self.sh, u, None).await,
            S::Wss | S::Wss4 | S::Wss6 => {
                let srv = tls.unwrap_or_default().server()?;
                ws::listen(&self.sh, u, Some(srv)).await
            }
            _ => stream::listen(&self.sh, u, tls).await,
        }
    }
}

fn is_inproc(url: &str) -> bool {
    url.starts_with("inproc://")
}

fn check_dialable(u: &Url) -> Result<(), Error> {
    match u.scheme {
        #[cfg(not(target_os = "linux"))]
        nanosp_core::Scheme::Abstract => Err(Error::TransportUnavailable),
        _ if u.scheme.has_host() && u.is_wildcard_host() => {
            Err(Error::AddressInvalid(nanosp_core::UrlError::BadHost))
        }
        _ => Ok(()),
    }
}

/// A running listener. Dropping this handle leaves the listener running; it
/// stops when its socket closes or on [`Listener::close`].
#[derive(Debug)]
pub struct Listener {
    url: String,
    local: Option<SocketAddr>,
    task: Option<tokio::task::AbortHandle>,
}

impl Listener {
    pub(crate) fn new(
        url: String,
        local: Option<SocketAddr>,
        task: Option<tokio::task::AbortHandle>,
    ) -> Self {
        Listener { url, local, task }
    }

    /// The URL it listens on, with the real port (`tcp://127.0.0.1:40123`,
    /// `ws://127.0.0.1:40123/path`): dial this.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound TCP address (tcp and ws listeners).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local
    }

    /// The bound TCP port (tcp and ws listeners).
    pub fn port(&self) -> Option<u16> {
        self.local.map(|a| a.port())
    }

    /// Stops accepting (pipes already made stay; an IPC socket file is
    /// removed). Inproc listeners end only with their socket.
    pub fn close(&self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}
