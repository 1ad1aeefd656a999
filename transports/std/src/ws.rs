//! WebSocket transport (`ws://`), docs/wire.md §3.
//!
//! The SP rules (subprotocol tokens and the echo check, binary messages
//! only, frame and message limits, close codes, what counts as a failed
//! handshake) are the core's [`nanosp_core::ws`], shared with the browser
//! transport. tokio-tungstenite does the HTTP upgrade; after it, frames
//! are the core's ([`nanosp_core::ws::pipe`]: no allocation per message,
//! pongs for pings, masking as a client).
//!
//! * Incoming fragments are reassembled up to `recv-size-max`; a single
//!   incoming frame is limited to `recv-size-max` too, and to
//!   [`MAX_RECV_FRAME_UNLIMITED`] when `recv-size-max` is 0.
//! * A pipe that ends sends a close frame saying why
//!   ([`nanosp_core::ws::close_code`]); a peer's close code becomes the pipe's
//!   close reason ([`nanosp_core::ws::peer_closed`]).
//! * Listeners share a port: each `host:port` has one HTTP server that routes
//!   upgrades by path to the listening socket; an unknown path gets HTTP 404,
//!   a wrong subprotocol HTTP 400. An accept error of that server counts in
//!   every socket listening there ([`nanosp_core::Stats::accept_errors`]).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use embedded_io_adapters::tokio_1::FromTokio;
use nanosp_core::backoff::AcceptPause;
use nanosp_core::transport::{accept_loop, attach_tls, PipeDriver, PipeRead};
use nanosp_core::ws::codec::Role;
use nanosp_core::ws::pipe::{halves, WsReader, WsWriter};
use nanosp_core::ws::{self as rules};
use nanosp_core::{Error, ProtocolError, Runtime, SocketRef, TlsPeer, Url, UrlError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::{tcp, TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{
    self,
    client::IntoClientRequest,
    handshake::server::{ErrorResponse, Request, Response},
    http::{header::SEC_WEBSOCKET_PROTOCOL, HeaderValue, StatusCode},
};

use crate::events;
use crate::rt::{TokioRuntime, TokioSpawner};
use crate::stream::{accepting, addr_url, configure_tcp, io_error, resolve, tcp_connect};
use crate::tls::{MaybeTls, TlsClient, TlsServer};
use crate::TcpTuning;
use crate::{Listener, Shared};

type Sref = SocketRef<TokioRuntime>;
type WsDriver = PipeDriver<
    TokioRuntime,
    WsReader<FromTokio<RdHalf>>,
    WsWriter<FromTokio<WrHalf>, TokioRuntime>,
>;

/// The largest incoming frame when `recv-size-max` is 0 (no message limit):
/// [`nanosp_core::ws::MAX_RECV_FRAME_UNLIMITED`]. Without it a peer announcing a
/// frame of 2^63 bytes made the reader panic (found by the `ws` fuzz target).
pub use nanosp_core::ws::MAX_RECV_FRAME_UNLIMITED;

fn ws_error(e: tungstenite::Error) -> Error {
    match e {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            Error::ConnectionShutdown
        }
        tungstenite::Error::Io(e) => io_error(e),
        tungstenite::Error::Http(r) => rules::upgrade_refused(r.status().as_u16()),
        // tungstenite checks the echo too, before nanosp's own check.
        tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::SecWebSocketSubProtocolError(_),
        ) => Error::Protocol(ProtocolError::BadSubprotocol),
        _ => Error::Protocol(ProtocolError::MalformedHeader),
    }
}

/// A stream during the HTTP upgrade: tungstenite reads the request or
/// response through it, and is never given a byte past the head's blank
/// line. What the peer sent after it (its first frames) stays here, for
/// nanosp's own framing ([`nanosp_core::ws::pipe`]) to read first.
struct HeadGuard<S> {
    inner: S,
    held: Vec<u8>,
    pos: usize,
    /// How much of `\r\n\r\n` the bytes handed out so far end with.
    matched: u8,
}

impl<S> HeadGuard<S> {
    fn new(inner: S) -> Self {
        HeadGuard {
            inner,
            held: Vec::new(),
            pos: 0,
            matched: 0,
        }
    }

    /// The stream, and the bytes read from it past the HTTP head.
    fn into_parts(mut self) -> (S, Vec<u8>) {
        self.held.drain(..self.pos);
        (self.inner, self.held)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HeadGuard<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if me.matched == 4 {
            // The head is whole: nothing more for the HTTP parser.
            return Poll::Ready(Ok(()));
        }
        if me.pos == me.held.len() {
            let mut tmp = [0u8; 4096];
            let mut rb = ReadBuf::new(&mut tmp);
            std::task::ready!(Pin::new(&mut me.inner).poll_read(cx, &mut rb))?;
            me.held.clear();
            me.held.extend_from_slice(rb.filled());
            me.pos = 0;
        }
        let avail = &me.held[me.pos..];
        let mut give = 0;
        for &b in avail.iter().take(buf.remaining()) {
            give += 1;
            me.matched = match (me.matched, b) {
                (2, b'\r') => 3,
                (_, b'\r') => 1,
                (1, b'\n') => 2,
                (3, b'\n') => 4,
                _ => 0,
            };
            if me.matched == 4 {
                break;
            }
        }
        buf.put_slice(&avail[..give]);
        me.pos += give;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HeadGuard<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The reading half of an upgraded connection: TCP's own half in the
/// clear, a shared TLS session's otherwise.
pub(crate) enum RdHalf {
    Plain(tcp::OwnedReadHalf),
    Tls(ReadHalf<MaybeTls>),
}

/// The writing half of an upgraded connection.
pub(crate) enum WrHalf {
    Plain(tcp::OwnedWriteHalf),
    Tls(WriteHalf<MaybeTls>),
}

impl AsyncRead for RdHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            RdHalf::Plain(s) => Pin::new(s).poll_read(cx, buf),
            RdHalf::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for WrHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WrHalf::Plain(s) => Pin::new(s).poll_write(cx, buf),
            WrHalf::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WrHalf::Plain(s) => Pin::new(s).poll_flush(cx),
            WrHalf::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WrHalf::Plain(s) => Pin::new(s).poll_shutdown(cx),
            WrHalf::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// The pipe halves of an upgraded connection: nanosp's framing from here
/// on, starting with the bytes `rest` the upgrade read past its head.
fn pipe_halves(
    s: MaybeTls,
    rest: &[u8],
    role: Role,
    limit: usize,
    rt: TokioRuntime,
) -> (
    WsReader<FromTokio<RdHalf>>,
    WsWriter<FromTokio<WrHalf>, TokioRuntime>,
) {
    let (r, w) = match s.into_plain() {
        Ok(tcp) => {
            let (r, w) = tcp.into_split();
            (RdHalf::Plain(r), WrHalf::Plain(w))
        }
        Err(tls) => {
            let (r, w) = tokio::io::split(tls);
            (RdHalf::Tls(r), WrHalf::Tls(w))
        }
    };
    halves(FromTokio::new(r), FromTokio::new(w), rest, role, limit, rt)
}

/// One dial attempt: TCP connect, TLS for `wss://`, upgrade offering the
/// peer's token, check the echo, attach; all within the handshake timeout.
/// A failure after the TCP connection was made is a failed handshake.
async fn ws_pipe(
    sref: &Sref,
    u: &Url,
    url: &str,
    tcp: TcpTuning,
    tls: Option<&TlsClient>,
) -> Result<WsDriver, Error> {
    let o = sref.options();
    let proto = sref.protocol();
    let start = tokio::time::Instant::now();
    let tcp = match tokio::time::timeout(o.handshake_timeout, tcp_connect(u, tcp)).await {
        Ok(r) => r,
        Err(_) => Err(Error::TimedOut),
    }
    .inspect_err(|e| events::dial_failed(url, e))?;
    let mut peer = None;
    let upgrade = async {
        let tcp = match tls {
            Some(c) => {
                let (s, p) = c.connect(tcp).await?;
                peer = Some(p);
                s
            }
            None => MaybeTls::plain(tcp),
        };
        let seen = tcp.seen();
        let host = if u.host.contains(':') {
            format!("[{}]", u.host)
        } else {
            u.host.clone()
        };
        let mut req = format!("ws://{host}:{}{}", u.port, u.path)
            .into_client_request()
            .map_err(|_| Error::AddressInvalid(UrlError::BadHost))?;
        let offer = rules::dialer_token(proto);
        req.headers_mut().insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_str(&offer).map_err(|_| Error::InvalidArgument)?,
        );
        let (ws, resp) = tokio_tungstenite::client_async(req, HeadGuard::new(tcp))
            .await
            .map_err(|e| seen.explain(ws_error(e)))?;
        let echoed = resp.headers().get(SEC_WEBSOCKET_PROTOCOL);
        rules::check_echo(proto, echoed.and_then(|v| v.to_str().ok()))?;
        Ok(ws.into_inner().into_parts())
    };
    let left = o.handshake_timeout.saturating_sub(start.elapsed());
    let (s, rest) = match tokio::time::timeout(left, upgrade).await {
        Ok(r) => r,
        Err(_) => Err(Error::TimedOut),
    }
    .inspect_err(|e| {
        if rules::is_handshake_failure(e) {
            sref.count(|s| s.handshake_failures += 1);
        }
        events::handshake_failed(url, true, e);
    })?;
    let rt = sref.runtime().clone();
    let (rd, wr) = pipe_halves(s, &rest, Role::Client, o.frame_limit(), rt);
    attach_tls(sref, proto.peer_number(), url, true, rd, wr, peer)
}

/// Starts a WebSocket dialer (first attempt synchronous unless `nonblocking`).
pub(crate) async fn dial(
    sh: &Shared,
    u: Url,
    url: String,
    nonblocking: bool,
    stop: crate::DialerStop,
    tls: Option<TlsClient>,
) -> Result<(), Error> {
    let sref = sh.sock.transport_ref();
    let rt = sh.sock.runtime().clone();
    let tcp = sh.tcp.clone();
    let (s2, url2) = (sref.clone(), url.clone());
    let connect = move || {
        let (s, u, url, t) = (s2.clone(), u.clone(), url2.clone(), tcp.get());
        let c = tls.clone();
        async move { ws_pipe(&s, &u, &url, t, c.as_ref()).await }
    };
    start_dialer!(rt, sref, connect, nonblocking, url, stop)
}

/// A connection the HTTP server upgraded, on its way to its route's listener.
struct Upgraded {
    s: MaybeTls,
    /// Bytes the client sent after its request (frames already).
    rest: Vec<u8>,
    peer: Option<TlsPeer>,
}

/// One listening socket's entry on a shared HTTP server.
#[derive(Clone)]
struct Route {
    proto: nanosp_core::Protocol,
    tx: mpsc::UnboundedSender<Upgraded>,
    /// The listening socket, whose stats count the server's accept errors.
    sref: Option<Sref>,
}

/// The HTTP server of one `host:port`, shared by every socket listening there.
struct Server {
    key: SocketAddr,
    routes: Mutex<HashMap<String, Route>>,
    task: Mutex<Option<tokio::task::AbortHandle>>,
    /// `wss://`: the TLS of every route on this port.
    tls: Option<TlsServer>,
}

fn servers() -> &'static Mutex<HashMap<SocketAddr, Arc<Server>>> {
    static S: OnceLock<Mutex<HashMap<SocketAddr, Arc<Server>>>> = OnceLock::new();
    S.get_or_init(Default::default)
}

impl Server {
    /// Bumps a counter of every socket listening on this server.
    fn count(&self, f: impl Fn(&mut nanosp_core::Stats)) {
        let socks: Vec<Sref> = {
            let r = self.routes.lock().unwrap();
            r.values().filter_map(|r| r.sref.clone()).collect()
        };
        for s in socks {
            s.count(&f);
        }
    }

    /// TLS (for `wss://`) and the upgrade of one connection, within the
    /// handshake timeout; the pipe goes to the route's listener.
    async fn serve(self: Arc<Server>, tcp: TcpStream, timeout: std::time::Duration) {
        let hs = async {
            let (s, peer) = match &self.tls {
                Some(t) => {
                    let (s, p) = t.accept(tcp).await?;
                    (s, Some(p))
                }
                None => (MaybeTls::plain(refuse_tls(tcp).await?), None),
            };
            let ((s, rest), r) =
                upgrade(s, |path| self.routes.lock().unwrap().get(path).cloned()).await?;
            Ok::<_, Error>((Upgraded { s, rest, peer }, r))
        };
        match tokio::time::timeout(timeout, hs).await {
            Ok(Ok((u, r))) => {
                let _ = r.tx.send(u);
            }
            Ok(Err(e @ Error::Tls(_))) => self.tls_failed(&e),
            Err(_) if self.tls.is_some() => self.tls_failed(&Error::TimedOut),
            _ => {}
        }
    }

    /// Counts a failed TLS handshake in every socket listening here.
    fn tls_failed(&self, e: &Error) {
        self.count(|s| s.handshake_failures += 1);
        let url = self.key.to_string();
        events::handshake_failed(&url, false, e);
    }
}

/// A TLS client at a `ws://` port (its first byte is a TLS handshake
/// record's, 0x16, which no HTTP request starts with) gets a plain HTTP 400:
/// its TLS reads that as "not TLS" ([`nanosp_core::TlsError::NotTls`]) where
/// a bare hang-up would say nothing. Its ClientHello is read first, so that
/// closing does not reset the connection under the answer. For this
/// listener it is a malformed request, as any other non-HTTP bytes.
async fn refuse_tls(mut tcp: TcpStream) -> Result<TcpStream, Error> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut first = [0u8; 1];
    if !matches!(tcp.peek(&mut first).await, Ok(1)) || first[0] != 0x16 {
        return Ok(tcp);
    }
    let mut hello = [0u8; 4096];
    let _ = tcp.read(&mut hello).await;
    let _ = tcp
        .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        .await;
    let _ = tcp.shutdown().await;
    Err(Error::Protocol(ProtocolError::MalformedHeader))
}

/// The listener side of one upgrade, on any stream: `route` finds the route
/// of the requested path; the request must offer that route's subprotocol,
/// which is echoed. No socket at the path is HTTP 404 (and
/// [`Error::ConnectionRefused`]), no matching subprotocol HTTP 400 (and
/// [`ProtocolError::BadSubprotocol`]); anything that is not an upgrade request fails with a
/// protocol error, a stream that ends early with a connection error.
async fn upgrade<S, F>(stream: S, route: F) -> Result<((S, Vec<u8>), Route), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: Fn(&str) -> Option<Route>,
{
    let mut chosen: Option<Route> = None;
    let mut bad_subprotocol = false;
    // The error type is tungstenite's, not ours to shrink.
    #[allow(clippy::result_large_err)]
    let cb = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let Some(route) = route(path) else {
            return Err(status(
                StatusCode::from_u16(rules::STATUS_NO_SOCKET).expect("a valid status"),
                "no SP socket at this path",
            ));
        };
        let offered = req
            .headers()
            .get(SEC_WEBSOCKET_PROTOCOL)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some(tok) = rules::select_offer(route.proto, Some(offered)) else {
            bad_subprotocol = true;
            return Err(status(
                StatusCode::from_u16(rules::STATUS_BAD_SUBPROTOCOL).expect("a valid status"),
                "SP protocol mismatch",
            ));
        };
        let v = HeaderValue::from_str(tok).expect("token came from a header value");
        resp.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, v);
        chosen = Some(route);
        Ok(resp)
    };
    let ws = tokio_tungstenite::accept_hdr_async(HeadGuard::new(stream), cb)
        .await
        .map_err(|e| {
            if bad_subprotocol {
                Error::Protocol(ProtocolError::BadSubprotocol)
            } else {
                ws_error(e)
            }
        })?;
    let route = chosen.ok_or(Error::Protocol(ProtocolError::HandshakeIncomplete))?;
    Ok((ws.into_inner().into_parts(), route))
}

/// Hooks for the fuzz crate (`fuzz/fuzz_targets/ws.rs`); not API.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// The listener-side WebSocket handshake of a socket of `proto` at
    /// `path`, on any stream, as a `ws://` listener runs it; then the reader
    /// half of the pipe it would attach (receive limit `limit`, 0 = none).
    /// The writer half is dropped.
    pub async fn ws_accept<S>(
        stream: S,
        path: &str,
        proto: nanosp_core::Protocol,
        limit: usize,
    ) -> Result<impl PipeRead, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (tx, _rx) = mpsc::unbounded_channel();
        let route = Route {
            proto,
            tx,
            sref: None,
        };
        let ((s, rest), _) = upgrade(stream, |p| (p == path).then(|| route.clone())).await?;
        let (r, w) = tokio::io::split(s);
        let rt = TokioRuntime::current_or_shared();
        let (rd, _wr) = halves(
            FromTokio::new(r),
            FromTokio::new(w),
            &rest,
            Role::Server,
            limit,
            rt,
        );
        Ok(rd)
    }
}

#[allow(clippy::result_large_err)]
fn status(code: StatusCode, why: &str) -> ErrorResponse {
    let mut r = ErrorResponse::new(Some(why.to_string()));
    *r.status_mut() = code;
    r
}

/// Removes a route when its listener stops; the last route stops the server.
struct RouteGuard {
    server: Arc<Server>,
    path: String,
}

impl Drop for RouteGuard {
    fn drop(&mut self) {
        let mut all = servers().lock().unwrap();
        let mut routes = self.server.routes.lock().unwrap();
        routes.remove(&self.path);
        if routes.is_empty() {
            if let Some(t) = self.server.task.lock().unwrap().take() {
                t.abort();
            }
            if all
                .get(&self.server.key)
                .is_some_and(|s| Arc::ptr_eq(s, &self.server))
            {
                all.remove(&self.server.key);
            }
        }
    }
}

/// Listens on `ws://host:port/path`: joins the server of `host:port` (starting
/// it if needed) with a route for `path`.
pub(crate) async fn listen(sh: &Shared, u: Url, tls: Option<TlsServer>) -> Result<Listener, Error> {
    let sref = sh.sock.transport_ref();
    let rt = sh.sock.runtime().clone();
    let o = sref.options();
    let addr = *resolve(&u, true)
        .await?
        .first()
        .ok_or(Error::InvalidArgument)?;
    let (tx, rx) = mpsc::unbounded_channel();
    let route = Route {
        proto: sref.protocol(),
        tx,
        sref: Some(sref.clone()),
    };
    // Join an existing server of this address, or bind a new one.
    let existing = if addr.port() != 0 {
        servers().lock().unwrap().get(&addr).cloned()
    } else {
        None
    };
    let server = match existing {
        // ws:// and wss:// cannot share a port.
        Some(s) if s.tls.is_some() != tls.is_some() => return Err(Error::AddressInUse),
        Some(s) => s,
        None => {
            let l = TcpListener::bind(addr).await.map_err(io_error)?;
            let local = l.local_addr().map_err(io_error)?;
            let server = Arc::new(Server {
                key: local,
                routes: Mutex::new(HashMap::new()),
                task: Mutex::new(None),
                tls,
            });
            let srv = server.clone();
            let tcp = sh.tcp.clone();
            let handshake = o.handshake_timeout;
            let handle = rt.handle().clone();
            let surl = addr_url(u.scheme.as_str(), local, "");
            let clock = rt.clone();
            let task = rt.spawn(async move {
                // The core's accept back-off, as every listener.
                let mut pause = AcceptPause::new();
                loop {
                    match l.accept().await {
                        Ok((s, _)) => {
                            pause.accepted();
                            configure_tcp(&s, tcp.get());
                            handle.spawn(srv.clone().serve(s, handshake));
                        }
                        Err(e) => {
                            let _ = accepting(&surl, e);
                            let p = pause.failed(clock.now());
                            srv.count(|s| p.counter.bump(s));
                            clock.sleep_until(p.until).await;
                        }
                    }
                }
            });
            *server.task.lock().unwrap() = Some(task);
            servers().lock().unwrap().insert(local, server.clone());
            server
        }
    };
    {
        let _all = servers().lock().unwrap();
        let mut routes = server.routes.lock().unwrap();
        if routes.contains_key(&u.path) {
            return Err(Error::AddressInUse);
        }
        routes.insert(u.path.clone(), route);
    }
    let guard = RouteGuard {
        server: server.clone(),
        path: u.path.clone(),
    };
    let local = server.key;
    let url = addr_url(u.scheme.as_str(), local, &u.path);
    let url2 = url.clone();
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let task = rt.spawn(async move {
        let _guard = guard;
        accept_loop(
            sref,
            TokioSpawner(tokio::runtime::Handle::current()),
            move || {
                let rx = rx.clone();
                async move { rx.lock().await.recv().await.ok_or(Error::Closed) }
            },
            move |sref: Sref, u: Upgraded| {
                let url = url2.clone();
                async move {
                    let limit = sref.options().frame_limit();
                    let rt = sref.runtime().clone();
                    let (rd, wr) = pipe_halves(u.s, &u.rest, Role::Server, limit, rt);
                    let peer = sref.protocol().peer_number();
                    match attach_tls(&sref, peer, &url, false, rd, wr, u.peer) {
                        Ok(p) => {
                            let why = p.run().await;
                            if !sref.is_closed() {
                                events::pipe_closed(&url, false, &why);
                            }
                        }
                        Err(e) => events::handshake_failed(&url, false, &e),
                    }
                }
            },
        )
        .await;
    });
    events::listener_bound(&url);
    Ok(Listener::new(url, Some(local), Some(task)))
}
