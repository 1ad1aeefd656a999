//! Byte-stream transports: TCP (`tcp://`, `tcp4://`, `tcp6://`) and Unix
//! domain sockets (`ipc://`, `unix://`, and `abstract://` on Linux). Each
//! connection becomes a pipe through the core's [`establish_ready`] (SP
//! handshake, framing, gathered writes, no buffer held while idle); this
//! module only connects, accepts and configures sockets.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use embedded_io_adapters::tokio_1::FromTokio;
use nanosp_core::frame::Framing;
use nanosp_core::ready::{establish_ready, ReadyRead, ReadyReader, ReadyWrite, ReadyWriter};
use nanosp_core::stream::{establish_tls, StreamConfig, StreamReader, StreamWriter};
use nanosp_core::transport::{accept_loop, PipeDriver};
use nanosp_core::{Error, Scheme, SocketRef, Url, UrlError};
use tokio::net::{tcp, unix, TcpListener, TcpStream, UnixListener, UnixStream};

use crate::events;
use crate::ready::Ready;
use crate::rt::{TokioRuntime, TokioSpawner};
use crate::tls::{MaybeTls, TlsClient, TlsConfig, TlsServer};
use crate::{Listener, Shared, TcpTuning};

type Sref = SocketRef<TokioRuntime>;
type TcpDriver = PipeDriver<
    TokioRuntime,
    ReadyReader<Ready<tcp::OwnedReadHalf>>,
    ReadyWriter<Ready<tcp::OwnedWriteHalf>>,
>;
type TlsDriver = PipeDriver<
    TokioRuntime,
    StreamReader<FromTokio<tokio::io::ReadHalf<MaybeTls>>>,
    StreamWriter<FromTokio<tokio::io::WriteHalf<MaybeTls>>>,
>;
type UnixDriver = PipeDriver<
    TokioRuntime,
    ReadyReader<Ready<unix::OwnedReadHalf>>,
    ReadyWriter<Ready<unix::OwnedWriteHalf>>,
>;

/// Maps an OS error to the core's error.
pub(crate) fn io_error(e: io::Error) -> Error {
    // EMFILE and ENFILE (the same numbers on Linux and the BSDs) are nng's
    // ENOFILES; std has no kind of its own for them.
    #[cfg(unix)]
    if matches!(e.raw_os_error(), Some(23 | 24)) {
        return Error::Io(nanosp_core::IoErrorKind::OutOfFiles);
    }
    Error::from_io_kind(embedded_io_async::Error::kind(&e))
}

/// The addresses a TCP or WebSocket URL names, in resolver order, filtered by
/// the scheme's family (`tcp4`/`ws4`, `tcp6`/`ws6`). `listen` maps the
/// wildcard host (`""` or `*`) to the unspecified address of the family.
pub(crate) async fn resolve(u: &Url, listen: bool) -> Result<Vec<SocketAddr>, Error> {
    let v6_only = matches!(
        u.scheme,
        Scheme::Tcp6 | Scheme::Ws6 | Scheme::TlsTcp6 | Scheme::Wss6
    );
    let v4_only = matches!(
        u.scheme,
        Scheme::Tcp4 | Scheme::Ws4 | Scheme::TlsTcp4 | Scheme::Wss4
    );
    if u.is_wildcard_host() {
        if !listen {
            return Err(Error::AddressInvalid(UrlError::BadHost));
        }
        let ip: std::net::IpAddr = if v6_only {
            std::net::Ipv6Addr::UNSPECIFIED.into()
        } else {
            std::net::Ipv4Addr::UNSPECIFIED.into()
        };
        return Ok(vec![SocketAddr::new(ip, u.port)]);
    }
    let addrs: Vec<SocketAddr> = match u.host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, u.port)],
        Err(_) => tokio::net::lookup_host((u.host.as_str(), u.port))
            .await
            .map_err(|_| Error::AddressInvalid(UrlError::BadHost))?
            .collect(),
    };
    let addrs: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| !(v4_only && a.is_ipv6() || v6_only && a.is_ipv4()))
        .collect();
    if addrs.is_empty() {
        return Err(Error::AddressInvalid(UrlError::BadHost));
    }
    Ok(addrs)
}

/// Connects to the first address of `u` that answers, TCP_NODELAY on and
/// keepalive as configured. A user timeout, if set, bounds each connect.
pub(crate) async fn tcp_connect(u: &Url, tcp: TcpTuning) -> Result<TcpStream, Error> {
    let mut last = Error::ConnectionRefused;
    for a in resolve(u, false).await? {
        let r = match tcp.user_timeout {
            Some(t) => match tokio::time::timeout(t, TcpStream::connect(a)).await {
                Ok(r) => r.map_err(io_error),
                Err(_) => Err(Error::TimedOut),
            },
            None => TcpStream::connect(a).await.map_err(io_error),
        };
        match r {
            Ok(s) => {
                configure_tcp(&s, tcp);
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// TCP_NODELAY on (SP is message-oriented); keepalive, its timings and the
/// user timeout as configured. Failures leave the system's defaults.
pub(crate) fn configure_tcp(s: &TcpStream, tcp: TcpTuning) {
    let _ = s.set_nodelay(true);
    let sr = socket2::SockRef::from(s);
    if let Some(k) = tcp.timings {
        let ka = socket2::TcpKeepalive::new()
            .with_time(k.idle)
            .with_interval(k.interval)
            .with_retries(k.retries);
        let _ = sr.set_tcp_keepalive(&ka);
    }
    if tcp.keepalive || tcp.timings.is_some() {
        let _ = sr.set_keepalive(true);
    }
    #[cfg(target_os = "linux")]
    if let Some(t) = tcp.user_timeout {
        let _ = sr.set_tcp_user_timeout(Some(t));
    }
}

/// Binds a TCP listener for `u` (first resolved address that binds).
pub(crate) async fn tcp_bind(u: &Url) -> Result<TcpListener, Error> {
    let mut last = Error::AddressInvalid(UrlError::BadHost);
    for a in resolve(u, true).await? {
        match TcpListener::bind(a).await {
            Ok(l) => return Ok(l),
            Err(e) => last = io_error(e),
        }
    }
    Err(last)
}

/// `tcp://` URL text for an address (IPv6 in brackets).
pub(crate) fn addr_url(scheme: &str, a: SocketAddr, path: &str) -> String {
    format!("{scheme}://{a}{path}")
}

async fn tcp_pipe(sref: &Sref, u: &Url, url: &str, tcp: TcpTuning) -> Result<TcpDriver, Error> {
    let s = tcp_connect(u, tcp)
        .await
        .inspect_err(|e| events::dial_failed(url, e))?;
    let (r, w) = s.into_split();
    establish_dialed(sref, Ready(r), Ready(w), Framing::Tcp, url).await
}

/// Handshakes a connection a dialer made, reporting a failure.
async fn establish_dialed<Rd, Wr>(
    sref: &Sref,
    rd: Rd,
    wr: Wr,
    framing: Framing,
    url: &str,
) -> Result<PipeDriver<TokioRuntime, ReadyReader<Rd>, ReadyWriter<Wr>>, Error>
where
    Rd: ReadyRead,
    Wr: ReadyWrite + Send + 'static,
{
    establish_ready(sref, rd, wr, framing, url, true)
        .await
        .inspect_err(|e| events::handshake_failed(url, true, e))
}

async fn unix_connect(u: &Url) -> Result<UnixStream, Error> {
    match u.scheme {
        #[cfg(target_os = "linux")]
        Scheme::Abstract => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(u.name_bytes())
                .map_err(io_error)?;
            // A Unix connect completes at once (or fails): no need to go async.
            let s = std::os::unix::net::UnixStream::connect_addr(&addr).map_err(io_error)?;
            s.set_nonblocking(true).map_err(io_error)?;
            UnixStream::from_std(s).map_err(io_error)
        }
        // No socket file (or no directory) is "nobody listens": nng's
        // ECONNREFUSED, as for an abstract name or a TCP port.
        Scheme::Ipc | Scheme::Unix => UnixStream::connect(&u.path).await.map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Error::ConnectionRefused
            } else {
                io_error(e)
            }
        }),
        _ => Err(Error::TransportUnavailable),
    }
}

async fn unix_pipe(sref: &Sref, u: &Url, url: &str) -> Result<UnixDriver, Error> {
    let s = unix_connect(u)
        .await
        .inspect_err(|e| events::dial_failed(url, e))?;
    let (r, w) = s.into_split();
    establish_dialed(sref, Ready(r), Ready(w), Framing::Ipc, url).await
}

/// Handshakes an accepted connection and runs its pipe, reporting failures
/// and the close reason.
// Not an `async fn`: that would copy its arguments once more into the
// task's future (about 70 bytes per idle pipe).
#[allow(clippy::manual_async_fn)]
fn serve_accepted<Rd, Wr>(
    sref: Sref,
    rd: Rd,
    wr: Wr,
    framing: Framing,
    url: String,
) -> impl std::future::Future<Output = ()>
where
    Rd: ReadyRead,
    Wr: ReadyWrite + Send + 'static,
{
    // An async block rather than an async fn: its captures are not copied
    // again into locals. The driver is moved into its run future inside the
    // match arm, so the task's future does not keep a second copy of it.
    async move {
        let run = match establish_ready(&sref, rd, wr, framing, &url, false).await {
            Ok(p) => p.run(),
            Err(e) => return events::handshake_failed(&url, false, &e),
        };
        let why = run.await;
        if !sref.is_closed() {
            events::pipe_closed(&url, false, &why);
        }
    }
}

/// Counts and reports a failed TLS handshake.
fn tls_failed(sref: &Sref, url: &str, dialed: bool, e: &Error) {
    sref.count(|s| s.handshake_failures += 1);
    events::handshake_failed(url, dialed, e);
}

/// One `tls+tcp://` dial attempt: TCP connect, TLS handshake (bounded by
/// the handshake timeout), SP handshake.
async fn tls_pipe(
    sref: &Sref,
    u: &Url,
    url: &str,
    tcp: TcpTuning,
    client: &TlsClient,
) -> Result<TlsDriver, Error> {
    let s = tcp_connect(u, tcp)
        .await
        .inspect_err(|e| events::dial_failed(url, e))?;
    let hs = sref.options().handshake_timeout;
    let (s, peer) = match tokio::time::timeout(hs, client.connect(s)).await {
        Ok(r) => r,
        Err(_) => Err(Error::TimedOut),
    }
    .inspect_err(|e| tls_failed(sref, url, true, e))?;
    let seen = s.seen();
    let (r, w) = tokio::io::split(s);
    establish_tls(
        sref,
        FromTokio::new(r),
        FromTokio::new(w),
        StreamConfig::new(Framing::Tcp),
        url,
        true,
        peer,
    )
    .await
    .map_err(|e| seen.explain(e))
    .inspect_err(|e| events::handshake_failed(url, true, e))
}

/// Serves an accepted `tls+tcp://` connection: TLS handshake (bounded by
/// the handshake timeout), SP handshake, then the pipe.
async fn serve_tls(sref: Sref, s: TcpStream, server: TlsServer, url: String) {
    let hs = sref.options().handshake_timeout;
    let (s, peer) = match tokio::time::timeout(hs, server.accept(s)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return tls_failed(&sref, &url, false, &e),
        Err(_) => return tls_failed(&sref, &url, false, &Error::TimedOut),
    };
    let seen = s.seen();
    let (r, w) = tokio::io::split(s);
    match establish_tls(
        &sref,
        FromTokio::new(r),
        FromTokio::new(w),
        StreamConfig::new(Framing::Tcp),
        &url,
        false,
        peer,
    )
    .await
    {
        Ok(p) => {
            let why = p.run().await;
            if !sref.is_closed() {
                events::pipe_closed(&url, false, &why);
            }
        }
        Err(e) => events::handshake_failed(&url, false, &seen.explain(e)),
    }
}

/// Starts a dialer: a synchronous first attempt (its error returned, no
/// retry) unless `nonblocking`, then [`dialer_loop`] in the background.
pub(crate) async fn dial(
    sh: &Shared,
    u: Url,
    url: String,
    nonblocking: bool,
    stop: crate::DialerStop,
    tls: Option<TlsConfig>,
) -> Result<(), Error> {
    let sref = sh.sock.transport_ref();
    let rt = sh.sock.runtime().clone();
    match u.scheme {
        Scheme::TlsTcp | Scheme::TlsTcp4 | Scheme::TlsTcp6 => {
            let client = tls.unwrap_or_default().client(&u.host)?;
            let tcp = sh.tcp.clone();
            let (s2, u2, url2) = (sref.clone(), u.clone(), url.clone());
            let connect = move || {
                let (s, u, url, t) = (s2.clone(), u2.clone(), url2.clone(), tcp.get());
                let c = client.clone();
                async move { tls_pipe(&s, &u, &url, t, &c).await }
            };
            start_dialer!(rt, sref, connect, nonblocking, url, stop)
        }
        Scheme::Tcp | Scheme::Tcp4 | Scheme::Tcp6 => {
            let tcp = sh.tcp.clone();
            let (s2, u2, url2) = (sref.clone(), u.clone(), url.clone());
            let connect = move || {
                let (s, u, url, t) = (s2.clone(), u2.clone(), url2.clone(), tcp.get());
                async move { tcp_pipe(&s, &u, &url, t).await }
            };
            start_dialer!(rt, sref, connect, nonblocking, url, stop)
        }
        Scheme::Ipc | Scheme::Unix | Scheme::Abstract => {
            let (s2, u2, url2) = (sref.clone(), u.clone(), url.clone());
            let connect = move || {
                let (s, u, url) = (s2.clone(), u2.clone(), url2.clone());
                async move { unix_pipe(&s, &u, &url).await }
            };
            start_dialer!(rt, sref, connect, nonblocking, url, stop)
        }
        _ => Err(Error::TransportUnavailable),
    }
}

/// Binds a TCP listener for `u` and starts its accept loop: `serve` runs
/// each accepted connection (TCP options applied), given the listener's URL.
async fn tcp_listen<F, Fut>(sh: &Shared, u: &Url, mut serve: F) -> Result<Listener, Error>
where
    F: FnMut(Sref, TcpStream, String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let sref = sh.sock.transport_ref();
    let rt = sh.sock.runtime().clone();
    let spawner = TokioSpawner(rt.handle().clone());
    let l = Arc::new(tcp_bind(u).await?);
    let local = l.local_addr().map_err(io_error)?;
    let url = addr_url(u.scheme.as_str(), local, "");
    let tcp = sh.tcp.clone();
    let (url1, url2) = (url.clone(), url.clone());
    let task = rt.spawn(accept_loop(
        sref,
        spawner,
        move || {
            let (l, url) = (l.clone(), url1.clone());
            async move {
                l.accept()
                    .await
                    .map(|(s, _)| s)
                    .map_err(|e| accepting(&url, e))
            }
        },
        move |sref, s: TcpStream| {
            configure_tcp(&s, tcp.get());
            serve(sref, s, url2.clone())
        },
    ));
    events::listener_bound(&url);
    Ok(Listener::new(url, Some(local), Some(task)))
}

/// Binds and starts the accept loop of a `tcp://`, `tls+tcp://` or `ipc://`
/// listener.
pub(crate) async fn listen(sh: &Shared, u: Url, tls: Option<TlsConfig>) -> Result<Listener, Error> {
    let sref = sh.sock.transport_ref();
    let rt = sh.sock.runtime().clone();
    let spawner = TokioSpawner(rt.handle().clone());
    match u.scheme {
        Scheme::TlsTcp | Scheme::TlsTcp4 | Scheme::TlsTcp6 => {
            let server = tls.unwrap_or_default().server()?;
            tcp_listen(sh, &u, move |sref, s, url| {
                serve_tls(sref, s, server.clone(), url)
            })
            .await
        }
        Scheme::Tcp | Scheme::Tcp4 | Scheme::Tcp6 => {
            tcp_listen(sh, &u, |sref, s, url| {
                let (r, w) = s.into_split();
                serve_accepted(sref, Ready(r), Ready(w), Framing::Tcp, url)
            })
            .await
        }
        Scheme::Ipc | Scheme::Unix | Scheme::Abstract => {
            let (l, cleanup) = {
                let _g = rt.handle().enter();
                unix_bind(&u)?
            };
            let l = Arc::new(l);
            let url = u.to_string();
            let (url1, url2) = (url.clone(), url.clone());
            let task = rt.spawn(accept_loop(
                sref,
                spawner,
                move || {
                    let (l, url) = (l.clone(), url1.clone());
                    let _keep = &cleanup; // the socket file goes when the loop ends
                    async move {
                        l.accept()
                            .await
                            .map(|(s, _)| s)
                            .map_err(|e| accepting(&url, e))
                    }
                },
                move |sref, s: UnixStream| {
                    let (r, w) = s.into_split();
                    let (r, w) = (Ready(r), Ready(w));
                    serve_accepted(sref, r, w, Framing::Ipc, url2.clone())
                },
            ));
            events::listener_bound(&url);
            Ok(Listener::new(url, None, Some(task)))
        }
        _ => Err(Error::TransportUnavailable),
    }
}

/// Maps an accept error, reporting it (the accept loop then pauses).
pub(crate) fn accepting(url: &str, e: io::Error) -> Error {
    events::accept_failed(url, &e);
    io_error(e)
}

/// Removes an IPC socket file when the listener that made it stops.
pub(crate) struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Binds a Unix listener. For a path that is in use, docs/wire.md §2.3: if the
/// file is a socket nobody answers on (connect refused), it is stale: remove
/// it and bind again; if someone answers, the address is in use.
fn unix_bind(u: &Url) -> Result<(UnixListener, RemoveOnDrop), Error> {
    use std::os::unix::net::{UnixListener as StdListener, UnixStream as StdStream};
    let l = match u.scheme {
        #[cfg(target_os = "linux")]
        Scheme::Abstract => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(u.name_bytes())
                .map_err(io_error)?;
            let l = StdListener::bind_addr(&addr).map_err(io_error)?;
            l.set_nonblocking(true).map_err(io_error)?;
            return Ok((
                UnixListener::from_std(l).map_err(io_error)?,
                RemoveOnDrop(None),
            ));
        }
        Scheme::Ipc | Scheme::Unix => {
            let path = Path::new(&u.path);
            match StdListener::bind(path) {
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                    use std::os::unix::fs::FileTypeExt;
                    let is_socket = std::fs::symlink_metadata(path)
                        .map(|m| m.file_type().is_socket())
                        .unwrap_or(false);
                    let stale = is_socket
                        && matches!(StdStream::connect(path),
                            Err(ce) if ce.kind() == io::ErrorKind::ConnectionRefused);
                    if !stale {
                        return Err(Error::AddressInUse);
                    }
                    let _ = std::fs::remove_file(path);
                    StdListener::bind(path).map_err(io_error)?
                }
                r => r.map_err(io_error)?,
            }
        }
        _ => return Err(Error::TransportUnavailable),
    };
    l.set_nonblocking(true).map_err(io_error)?;
    let guard = RemoveOnDrop(Some(PathBuf::from(&u.path)));
    Ok((UnixListener::from_std(l).map_err(io_error)?, guard))
}
