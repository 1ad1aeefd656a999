//! TLS: `tls+tcp://` and `wss://` between nanosp sockets (certificates made
//! here with rcgen, no key in the repository), each mistake as its typed
//! error with the listener serving on, and interop with nng: Debian's
//! `nngcat` (nng 1.5.2, mbedTLS 2.28, TLS 1.2) and pynng (nng 1.11, TLS 1.3).
//! Peers missing are skipped with a note unless `NANOSP_REQUIRE_PEERS` is set.
//!
//! A tiny `tracing` subscriber (this binary's global one) records the
//! listeners' handshake failures, so a test can read the error a listener
//! saw.

mod common;

use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::*;
use nanosp::{Error, Message, Protocol, SockOpt, Socket, TlsAuthMode, TlsConfig, TlsError};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use tokio::process::{Child, Command};

// ---------------------------------------------------------------- events

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

struct Line(String);
impl tracing::field::Visit for Line {
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={v:?}", f.name()));
    }
}

impl tracing::Subscriber for Recorder {
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        m.target() == "nanosp"
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        let mut l = Line(String::new());
        e.record(&mut l);
        self.0.lock().unwrap().push(l.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn recorder() -> &'static Recorder {
    static R: OnceLock<Recorder> = OnceLock::new();
    R.get_or_init(|| {
        let r = Recorder::default();
        tracing::subscriber::set_global_default(r.clone()).unwrap();
        r
    })
}

/// Waits until a listener on `port` reported a handshake failure with
/// `text` in its error.
async fn listener_saw(port: u16, text: &str) {
    let r = recorder();
    let port = format!(":{port}");
    until(&format!("listener error {text:?}"), || {
        r.0.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("handshake failed") && l.contains(&port) && l.contains(text))
    })
    .await;
}

// ---------------------------------------------------------- certificates

/// A test PKI: a CA and what it signed, as PEM.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

struct Leaf {
    cert_pem: String,
    key_pem: String,
}

impl Leaf {
    fn both(&self) -> String {
        format!("{}{}", self.cert_pem, self.key_pem)
    }
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    fn issue_with(&self, cn: &str, names: &[&str], f: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.distinguished_name
            .push(DnType::OrganizationName, "nanosp tests");
        f(&mut p);
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A certificate for `localhost` and 127.0.0.1.
    fn issue(&self, cn: &str) -> Leaf {
        self.issue_with(cn, &["localhost", "127.0.0.1"], |_| {})
    }
}

/// One CA with a server and a client certificate.
struct Pki {
    ca: Ca,
    server: Leaf,
    client: Leaf,
}

fn pki() -> Pki {
    recorder();
    let ca = Ca::new("nanosp test CA");
    let server = ca.issue("server");
    let client = ca.issue("client");
    Pki { ca, server, client }
}

impl Pki {
    fn server_cfg(&self) -> TlsConfig {
        TlsConfig::new()
            .with_cert_key_pem(self.server.both().as_bytes())
            .unwrap()
    }
    /// The server asking for client certificates signed by the CA.
    fn server_mtls(&self, mode: TlsAuthMode) -> TlsConfig {
        self.server_cfg()
            .with_ca_pem(self.ca.pem().as_bytes())
            .unwrap()
            .with_auth_mode(mode)
    }
    fn client_cfg(&self) -> TlsConfig {
        TlsConfig::new()
            .with_ca_pem(self.ca.pem().as_bytes())
            .unwrap()
    }
    fn client_with_cert(&self) -> TlsConfig {
        self.client_cfg()
            .with_cert_and_key_pem(
                self.client.cert_pem.as_bytes(),
                self.client.key_pem.as_bytes(),
            )
            .unwrap()
    }
}

const SCHEMES: [&str; 2] = ["tls+tcp", "wss"];

fn listen_at(scheme: &str) -> String {
    match scheme {
        "wss" => "wss://127.0.0.1:0/sp".into(),
        s => format!("{s}://127.0.0.1:0"),
    }
}

/// The listener's URL with `localhost` for the host (the certificates'
/// DNS name).
fn dial_at(scheme: &str, port: u16) -> String {
    match scheme {
        "wss" => format!("wss://localhost:{port}/sp"),
        s => format!("{s}://localhost:{port}"),
    }
}

fn short_handshake(s: &Socket) {
    s.set_opt(SockOpt::HandshakeTimeout(Duration::from_millis(300)))
        .unwrap();
}

async fn round_trip(req: &Socket, rep: &Socket, body: &[u8]) {
    req.send(Message::from(body)).await.unwrap();
    let q = tokio::time::timeout(LIMIT, rep.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(q.body(), body);
    rep.send(Message::from(&b"ok"[..])).await.unwrap();
    let a = tokio::time::timeout(LIMIT, req.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.body(), b"ok");
}

// ------------------------------------------------------------ nanosp only

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn req_rep_over_tls_with_peer_info_and_1_mib() {
    let k = pki();
    for scheme in SCHEMES {
        let rep = Socket::new(Protocol::Rep0);
        let l = rep
            .listen_tls(&listen_at(scheme), &k.server_cfg())
            .await
            .unwrap();
        let req = Socket::new(Protocol::Req0);
        req.dial_tls(&dial_at(scheme, l.port().unwrap()), &k.client_cfg())
            .await
            .unwrap();
        round_trip(&req, &rep, &binary(1 << 20)).await;
        let p = &req.pipes()[0];
        let t = req.pipe_tls(p.id).expect("a TLS pipe");
        assert!(t.verified, "{scheme}");
        assert_eq!(t.common_name.as_deref(), Some("server"));
        assert_eq!(
            t.subject.as_deref(),
            Some("CN=server, O=nanosp tests"),
            "{scheme}"
        );
        assert_eq!(t.version, "TLSv1.3");
        let p = &rep.pipes()[0];
        let t = rep.pipe_tls(p.id).expect("a TLS pipe");
        assert!(!t.verified && t.subject.is_none(), "no client certificate");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protocol_pair_over_tls_tcp_and_wss() {
    let k = pki();
    for (i, (a, b)) in pairs().into_iter().enumerate() {
        let scheme = SCHEMES[i % 2];
        let rx = Socket::new(b);
        if b == Protocol::Sub0 {
            rx.subscribe(b"").unwrap();
        }
        let l = rx
            .listen_tls(&listen_at(scheme), &k.server_cfg())
            .await
            .unwrap();
        let tx = Socket::new(a);
        tx.dial_tls(&dial_at(scheme, l.port().unwrap()), &k.client_cfg())
            .await
            .unwrap();
        rx.wait_for_pipes(1).await.unwrap();
        tx.wait_for_pipes(1).await.unwrap();
        tx.send(Message::from(&b"x"[..])).await.unwrap();
        let m = tokio::time::timeout(LIMIT, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.body(), b"x", "{a:?} -> {b:?} over {scheme}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_required_and_optional() {
    let k = pki();
    let other = Ca::new("another CA").issue("stranger");
    for scheme in SCHEMES {
        // Required: the client's certificate is verified and named.
        let pull = Socket::new(Protocol::Pull0);
        let l = pull
            .listen_tls(&listen_at(scheme), &k.server_mtls(TlsAuthMode::Required))
            .await
            .unwrap();
        let push = Socket::new(Protocol::Push0);
        push.dial_tls(&dial_at(scheme, l.port().unwrap()), &k.client_with_cert())
            .await
            .unwrap();
        push.send(Message::from(&b"hi"[..])).await.unwrap();
        assert_eq!(pull.recv().await.unwrap().body(), b"hi");
        let t = pull.pipe_tls(pull.pipes()[0].id).unwrap();
        assert!(t.verified);
        assert_eq!(t.common_name.as_deref(), Some("client"), "{scheme}");

        // Optional: a stranger's certificate gets in, unverified.
        let pull = Socket::new(Protocol::Pull0);
        let l = pull
            .listen_tls(&listen_at(scheme), &k.server_mtls(TlsAuthMode::Optional))
            .await
            .unwrap();
        let push = Socket::new(Protocol::Push0);
        let cfg = k
            .client_cfg()
            .with_cert_key_pem(other.both().as_bytes())
            .unwrap();
        push.dial_tls(&dial_at(scheme, l.port().unwrap()), &cfg)
            .await
            .unwrap();
        let t = tls_of(&pull, 1).await.remove(0);
        assert!(!t.verified, "{scheme}");
        assert_eq!(t.common_name.as_deref(), Some("stranger"));
        // ... and a trusted one verified.
        let push2 = Socket::new(Protocol::Push0);
        push2
            .dial_tls(&dial_at(scheme, l.port().unwrap()), &k.client_with_cert())
            .await
            .unwrap();
        assert!(tls_of(&pull, 2).await.iter().any(|t| t.verified));
    }
}

/// The TLS facts of a socket's first `n` pipes, once they are there (a
/// pipe carries them from the moment it joins).
async fn tls_of(s: &Socket, n: usize) -> Vec<nanosp::TlsPeer> {
    s.wait_for_pipes(n).await.unwrap();
    let all: Vec<_> = s.pipes().iter().filter_map(|p| s.pipe_tls(p.id)).collect();
    assert_eq!(all.len(), s.pipes().len(), "every pipe says what it knows");
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipe_hook_sees_the_peer_certificate_and_refuses_by_name() {
    let k = pki();
    for scheme in SCHEMES {
        let pull = Socket::new(Protocol::Pull0);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        pull.set_pipe_hook(move |ev, info| {
            let t = info.tls.as_deref();
            s2.lock().unwrap().push((
                ev,
                t.and_then(|t| t.common_name.clone()),
                t.is_some_and(|t| t.verified),
            ));
            // Only the board called "client" may join.
            ev != nanosp::PipeEvent::AddPre
                || t.is_some_and(|t| t.verified && t.common_name.as_deref() == Some("client"))
        });
        let l = pull
            .listen_tls(&listen_at(scheme), &k.server_mtls(TlsAuthMode::Optional))
            .await
            .unwrap();
        let url = dial_at(scheme, l.port().unwrap());
        // A stranger's certificate (another CA): refused by the hook.
        let stranger = Socket::new(Protocol::Push0);
        short_handshake(&stranger);
        let other = Ca::new("another CA").issue("stranger");
        let cfg = k
            .client_cfg()
            .with_cert_key_pem(other.both().as_bytes())
            .unwrap();
        stranger.set_tls_config(Some(cfg));
        stranger.dial_nonblocking(&url).unwrap();
        until("the stranger refused", || pull.stats().pipes_rejected >= 1).await;
        assert!(pull.pipes().is_empty(), "{scheme}");
        // The trusted client joins, and its pipe says who it is.
        let push = Socket::new(Protocol::Push0);
        push.dial_tls(&url, &k.client_with_cert()).await.unwrap();
        push.send(Message::from(&b"let in"[..])).await.unwrap();
        let m = tokio::time::timeout(LIMIT, pull.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.body(), b"let in");
        let info = pull.pipes().pop().unwrap();
        assert_eq!(
            info.tls.as_deref().and_then(|t| t.common_name.as_deref()),
            Some("client")
        );
        let seen = seen.lock().unwrap().clone();
        assert!(
            seen.contains(&(nanosp::PipeEvent::AddPre, Some("stranger".into()), false)),
            "{scheme}: {seen:?}"
        );
        assert!(
            seen.contains(&(nanosp::PipeEvent::AddPre, Some("client".into()), true)),
            "{scheme}: {seen:?}"
        );
        assert!(
            seen.contains(&(nanosp::PipeEvent::AddPost, Some("client".into()), true)),
            "{scheme}: {seen:?}"
        );
        stranger.close();
    }
}

/// After a bad connection, the listener still serves a good one.
async fn serves_on(scheme: &str, l: &nanosp::Listener, good: &TlsConfig, rx: &Socket) {
    let tx = Socket::new(Protocol::Push0);
    tx.dial_tls(&dial_at(scheme, l.port().unwrap()), good)
        .await
        .unwrap();
    tx.send(Message::from(&b"still here"[..])).await.unwrap();
    let m = tokio::time::timeout(LIMIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.body(), b"still here");
}

async fn dial_err(scheme: &str, port: u16, cfg: &TlsConfig) -> Error {
    let s = Socket::new(Protocol::Push0);
    s.dial_tls(&dial_at(scheme, port), cfg).await.unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_certificate_mistakes_are_named() {
    let k = pki();
    let stranger = Ca::new("another CA");
    let expired = k.ca.issue_with("old", &["localhost"], |p| {
        p.not_before = rcgen::date_time_ymd(2000, 1, 1);
        p.not_after = rcgen::date_time_ymd(2001, 1, 1);
    });
    let elsewhere = k.ca.issue_with("elsewhere", &["elsewhere.example"], |_| {});
    for scheme in SCHEMES {
        let pull = Socket::new(Protocol::Pull0);
        let l = pull
            .listen_tls(&listen_at(scheme), &k.server_cfg())
            .await
            .unwrap();
        let port = l.port().unwrap();
        let untrusting = TlsConfig::new()
            .with_ca_pem(stranger.pem().as_bytes())
            .unwrap();
        assert_eq!(
            dial_err(scheme, port, &untrusting).await,
            Error::Tls(TlsError::UnknownIssuer),
            "{scheme}"
        );
        // No CA at all and the default (required) mode: nothing is trusted.
        assert_eq!(
            dial_err(scheme, port, &TlsConfig::new()).await,
            Error::Tls(TlsError::UnknownIssuer)
        );
        // The name checked is tls-server-name when set.
        let named = k.client_cfg().with_server_name("nobody.example");
        assert_eq!(
            dial_err(scheme, port, &named).await,
            Error::Tls(TlsError::WrongName)
        );
        // The dialer sees the listener refuse; the listener names it too.
        listener_saw(port, "CA").await;
        serves_on(scheme, &l, &k.client_cfg(), &pull).await;
        // Insecure (auth none): any certificate, unverified.
        let insecure = TlsConfig::new().with_auth_mode(TlsAuthMode::None);
        let push = Socket::new(Protocol::Push0);
        push.dial_tls(&dial_at(scheme, port), &insecure)
            .await
            .unwrap();
        push.wait_for_pipes(1).await.unwrap();
        assert!(!push.pipe_tls(push.pipes()[0].id).unwrap().verified);

        for (leaf, want) in [
            (&expired, TlsError::Expired),
            (&elsewhere, TlsError::WrongName),
        ] {
            let pull = Socket::new(Protocol::Pull0);
            let cfg = TlsConfig::new()
                .with_cert_key_pem(leaf.both().as_bytes())
                .unwrap();
            let l = pull.listen_tls(&listen_at(scheme), &cfg).await.unwrap();
            let e = dial_err(scheme, l.port().unwrap(), &k.client_cfg()).await;
            assert_eq!(e, Error::Tls(want), "{scheme}");
            assert_eq!(e.nng_name(), "EPEERAUTH");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_missing_or_untrusted_is_refused() {
    let k = pki();
    let stranger = Ca::new("another CA").issue("stranger");
    for scheme in SCHEMES {
        let pull = Socket::new(Protocol::Pull0);
        let l = pull
            .listen_tls(&listen_at(scheme), &k.server_mtls(TlsAuthMode::Required))
            .await
            .unwrap();
        let port = l.port().unwrap();
        // TLS 1.3: the client learns of the refusal on its first read,
        // during the SP (or WebSocket) handshake; the error names it.
        let e = dial_err(scheme, port, &k.client_cfg()).await;
        assert_eq!(e, Error::Tls(TlsError::RefusedByPeer), "{scheme}");
        listener_saw(port, "client certificate required").await;
        let cfg = k
            .client_cfg()
            .with_cert_key_pem(stranger.both().as_bytes())
            .unwrap();
        let e = dial_err(scheme, port, &cfg).await;
        assert_eq!(e, Error::Tls(TlsError::RefusedByPeer), "{scheme}");
        listener_saw(port, "not signed by a trusted CA").await;
        serves_on(scheme, &l, &k.client_with_cert(), &pull).await;
        assert!(pull.stats().handshake_failures >= 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_and_tls_mixed_up() {
    let k = pki();
    // A plaintext dialer at a TLS listener.
    for (plain, scheme) in [("tcp", "tls+tcp"), ("ws", "wss")] {
        let pull = Socket::new(Protocol::Pull0);
        let l = pull
            .listen_tls(&listen_at(scheme), &k.server_cfg())
            .await
            .unwrap();
        let port = l.port().unwrap();
        let push = Socket::new(Protocol::Push0);
        let url = match plain {
            "ws" => format!("ws://127.0.0.1:{port}/sp"),
            _ => format!("tcp://127.0.0.1:{port}"),
        };
        assert!(push.dial(&url).await.is_err());
        listener_saw(port, "does not speak TLS").await;
        serves_on(scheme, &l, &k.client_cfg(), &pull).await;
    }
    // A TLS dialer at a plaintext listener.
    for (plain, scheme) in [("tcp", "tls+tcp"), ("ws", "wss")] {
        let pull = Socket::new(Protocol::Pull0);
        let l = pull.listen(&listen_url(plain)).await.unwrap();
        let push = Socket::new(Protocol::Push0);
        let url = match scheme {
            "wss" => format!("wss://localhost:{}{}", l.port().unwrap(), "/x"),
            _ => dial_at(scheme, l.port().unwrap()),
        };
        let e = push.dial_tls(&url, &k.client_cfg()).await.unwrap_err();
        // A ws:// server answers a ClientHello with plain HTTP 400.
        assert_eq!(e, Error::Tls(TlsError::NotTls), "{scheme}");
        assert_eq!(e.nng_name(), "ECRYPTO");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_stalling_mid_handshake_is_timed_out() {
    use tokio::io::AsyncWriteExt;
    let k = pki();
    for scheme in SCHEMES {
        // At a listener: half a ClientHello, then nothing.
        let pull = Socket::new(Protocol::Pull0);
        short_handshake(&pull);
        let l = pull
            .listen_tls(&listen_at(scheme), &k.server_cfg())
            .await
            .unwrap();
        let port = l.port().unwrap();
        let mut stall = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        stall
            .write_all(&[0x16, 0x03, 0x01, 0x01, 0x00, 0x01])
            .await
            .unwrap();
        // Accepting goes on meanwhile.
        serves_on(scheme, &l, &k.client_cfg(), &pull).await;
        listener_saw(port, "timed out").await;
        drop(stall);

        // At a dialer: a server that accepts and never answers.
        let quiet = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = quiet.local_addr().unwrap().port();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let (s, _) = quiet.accept().await.unwrap();
                held.push(s);
            }
        });
        let push = Socket::new(Protocol::Push0);
        short_handshake(&push);
        let e = push
            .dial_tls(&dial_at(scheme, port), &k.client_cfg())
            .await
            .unwrap_err();
        assert_eq!(e, Error::TimedOut, "{scheme}");
        hold.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_tls_connects_and_closes() {
    let k = pki();
    let rep = Socket::new(Protocol::Rep0);
    let l = rep
        .listen_tls("tls+tcp://127.0.0.1:0", &k.server_cfg())
        .await
        .unwrap();
    let url = dial_at("tls+tcp", l.port().unwrap());
    let cfg = k.client_cfg();
    for i in 0..300 {
        let req = Socket::new(Protocol::Req0);
        req.dial_tls(&url, &cfg).await.unwrap();
        if i % 50 == 0 {
            round_trip(&req, &rep, b"ping").await;
        }
        req.close();
    }
    until("the listener's pipes to go", || rep.pipes().is_empty()).await;
    let req = Socket::new(Protocol::Req0);
    req.dial_tls(&url, &cfg).await.unwrap();
    round_trip(&req, &rep, b"last").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_listeners_share_a_port_by_path() {
    let k = pki();
    let a = Socket::new(Protocol::Pull0);
    let la = a
        .listen_tls("wss://127.0.0.1:0/a", &k.server_cfg())
        .await
        .unwrap();
    let port = la.port().unwrap();
    let b = Socket::new(Protocol::Pull0);
    b.listen_tls(&format!("wss://127.0.0.1:{port}/b"), &k.server_cfg())
        .await
        .unwrap();
    // ws:// cannot join a wss:// port.
    let c = Socket::new(Protocol::Pull0);
    assert_eq!(
        c.listen(&format!("ws://127.0.0.1:{port}/c"))
            .await
            .unwrap_err(),
        Error::AddressInUse
    );
    for (path, rx) in [("a", &a), ("b", &b)] {
        let tx = Socket::new(Protocol::Push0);
        tx.dial_tls(&format!("wss://localhost:{port}/{path}"), &k.client_cfg())
            .await
            .unwrap();
        tx.send(Message::from(path.as_bytes())).await.unwrap();
        assert_eq!(rx.recv().await.unwrap().body(), path.as_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_tls_config_and_nng_option_names() {
    let k = pki();
    let dir = tmpdir();
    let (ca, both) = (dir.join("ca.pem"), dir.join("server.pem"));
    std::fs::write(&ca, k.ca.pem()).unwrap();
    std::fs::write(&both, k.server.both()).unwrap();
    let mut srv = TlsConfig::new();
    srv.set("tls-cert-key-file", both.to_str().unwrap())
        .unwrap();
    let mut cli = TlsConfig::new();
    cli.set("tls-ca-file", ca.to_str().unwrap()).unwrap();
    cli.set("tls-server-name", "localhost").unwrap();
    cli.set("tls-auth-mode", "required").unwrap();
    assert_eq!(
        cli.set("tls-auth-mode", "maybe"),
        Err(Error::InvalidArgument)
    );
    assert_eq!(cli.set("tls-nonsense", "x"), Err(Error::NotSupported));
    let pair = Socket::new(Protocol::Pair1);
    pair.set_tls_config(Some(srv));
    let l = pair.listen("tls+tcp4://127.0.0.1:0").await.unwrap();
    assert!(l.url().starts_with("tls+tcp4://127.0.0.1:"));
    let other = Socket::new(Protocol::Pair1);
    other.set_tls_config(Some(cli));
    // The IP address, and tls-server-name checked instead.
    other
        .dial(&format!("tls+tcp://127.0.0.1:{}", l.port().unwrap()))
        .await
        .unwrap();
    other.send(Message::from(&b"hi"[..])).await.unwrap();
    assert_eq!(pair.recv().await.unwrap().body(), b"hi");
    // A listener without a certificate cannot start.
    let s = Socket::new(Protocol::Pair1);
    assert_eq!(
        s.listen("tls+tcp://127.0.0.1:0").await.unwrap_err(),
        Error::InvalidArgument
    );
}

// ------------------------------------------------------- nng peers: nngcat

fn spawn(cmd: &str, args: &[&str]) -> Child {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("peer runs")
}

/// Waits for a peer to exit; its standard output.
async fn output(c: Child) -> Vec<u8> {
    let out = tokio::time::timeout(LIMIT, c.wait_with_output())
        .await
        .expect("peer did not finish")
        .unwrap();
    assert!(
        out.status.success(),
        "peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// One msgpack bin of nngcat's `--msgpack` output.
fn msgpack_one(b: &[u8]) -> Vec<u8> {
    let (n, h) = match b[0] {
        0xc4 => (b[1] as usize, 2),
        0xc5 => (u16::from_be_bytes([b[1], b[2]]) as usize, 3),
        0xc6 => (u32::from_be_bytes([b[1], b[2], b[3], b[4]]) as usize, 5),
        x => panic!("not msgpack bin: {x:#x} ({} bytes)", b.len()),
    };
    b[h..h + n].to_vec()
}

/// Files for nngcat: the CA, the server's and the client's cert and key.
struct Files {
    ca: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
}

fn files(k: &Pki) -> Files {
    let d = tmpdir();
    let w = |name: &str, text: &str| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    Files {
        ca: w("ca.pem", &k.ca.pem()),
        server_cert: w("server.crt", &k.server.cert_pem),
        server_key: w("server.key", &k.server.key_pem),
        client_cert: w("client.crt", &k.client.cert_pem),
        client_key: w("client.key", &k.client.key_pem),
    }
}

/// A URL nngcat can listen on (it cannot report a port-0 binding).
fn peer_url(scheme: &str) -> String {
    match scheme {
        "wss" => format!("wss://localhost:{}/nng", free_port()),
        s => format!("{s}://localhost:{}", free_port()),
    }
}

fn dial_soon(s: &Socket, url: &str, cfg: &TlsConfig) {
    s.set_opt(SockOpt::ReconnectTimeMin(Duration::from_millis(20)))
        .unwrap();
    s.set_tls_config(Some(cfg.clone()));
    s.dial_nonblocking(url).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nngcat_dials_us_tls12_with_and_without_client_cert() {
    if !have_nngcat() {
        return;
    }
    let k = pki();
    let f = files(&k);
    let big = binary(1 << 20);
    let data = dir_file(&big);
    for scheme in SCHEMES {
        for mutual in [false, true] {
            let pull = Socket::new(Protocol::Pull0);
            let cfg = if mutual {
                k.server_mtls(TlsAuthMode::Required)
            } else {
                k.server_cfg()
            };
            let l = pull.listen_tls(&listen_at(scheme), &cfg).await.unwrap();
            let url = dial_at(scheme, l.port().unwrap());
            let mut args = vec![
                "--push0", "--dial", &url, "--cacert", &f.ca, "--file", &data,
            ];
            if mutual {
                args.extend(["--cert", &f.client_cert, "--key", &f.client_key]);
            }
            let c = spawn("nngcat", &args);
            let m = tokio::time::timeout(LIMIT, pull.recv())
                .await
                .unwrap()
                .unwrap();
            assert!(m.body() == &big[..], "{scheme} mutual={mutual}");
            let t = pull.pipe_tls(pull.pipes()[0].id).unwrap();
            assert_eq!(t.version, "TLSv1.2", "mbedTLS 2.28 speaks TLS 1.2");
            assert_eq!(t.verified, mutual);
            if mutual {
                assert_eq!(t.common_name.as_deref(), Some("client"));
            }
            drop(c);
        }
    }
}

fn dir_file(data: &[u8]) -> String {
    let p = tmpdir().join("payload.bin");
    std::fs::write(&p, data).unwrap();
    p.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_dial_nngcat_tls12() {
    if !have_nngcat() {
        return;
    }
    let k = pki();
    let f = files(&k);
    let big = binary(1 << 20);
    for (scheme, (ours, theirs)) in [("tls+tcp", ("req", "--rep0")), ("wss", ("push", "--pull0"))] {
        let url = peer_url(scheme);
        let mut args = vec![
            theirs,
            "--listen",
            &url,
            "--cert",
            &f.server_cert,
            "--key",
            &f.server_key,
            "--msgpack",
            "--count",
            "1",
        ];
        if theirs == "--rep0" {
            args.extend(["--data", "pong"]);
        }
        let mut c = spawn("nngcat", &args);
        if ours == "req" {
            // nngcat prints the 1 MiB request before it answers: read its
            // output meanwhile, or it blocks on a full pipe.
            let mut out = c.stdout.take().unwrap();
            let printed = tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut v = Vec::new();
                let _ = out.read_to_end(&mut v).await;
                v
            });
            let req = Socket::new(Protocol::Req0);
            dial_soon(&req, &url, &k.client_cfg());
            req.send_timeout(Message::from(&big[..]), LIMIT)
                .await
                .unwrap();
            let a = tokio::time::timeout(LIMIT, req.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(a.body(), b"pong");
            let t = req.pipe_tls(req.pipes()[0].id).unwrap();
            assert!(t.verified);
            assert_eq!(t.version, "TLSv1.2");
            // nngcat --rep0 --count 1 answers once, then goes on listening.
            let _ = c.kill().await;
            let out = tokio::time::timeout(LIMIT, printed).await.unwrap().unwrap();
            assert!(msgpack_one(&out) == big, "{scheme}");
        } else {
            let push = Socket::new(Protocol::Push0);
            // Client certificate too: nngcat 1.5 never asks for one, so it is
            // offered and ignored.
            dial_soon(&push, &url, &k.client_with_cert());
            push.send_timeout(Message::from(&big[..]), LIMIT)
                .await
                .unwrap();
            assert!(msgpack_one(&output(c).await) == big, "{scheme}");
        }
    }
}

// -------------------------------------------------------- nng peers: pynng

const PYNNG_PEER: &str = r#"
import sys, pynng
role, url, ca, cert, auth, n = sys.argv[1:7]
n = int(n)
server = role.endswith("listen")
mode = pynng.TLSConfig.MODE_SERVER if server else pynng.TLSConfig.MODE_CLIENT
# nng 1.11 (mbedTLS 3.6) takes no server name from the URL: without one
# its client fails every handshake with ECRYPTO.
kw = {} if server else {"server_name": "localhost"}
if ca: kw["ca_files"] = [ca]
if cert: kw["cert_key_file"] = cert
if auth == "required": kw["auth_mode"] = pynng.TLSConfig.AUTH_MODE_REQUIRED
if auth == "optional": kw["auth_mode"] = pynng.TLSConfig.AUTH_MODE_OPTIONAL
if auth == "none": kw["auth_mode"] = pynng.TLSConfig.AUTH_MODE_NONE
tls = pynng.TLSConfig(mode, **kw)
kind = role.split("-")[0]
with getattr(pynng, kind)(recv_timeout=10000, send_timeout=10000, tls_config=tls) as s:
    if role.endswith("listen"):
        s.listen(url)
        print("listening", flush=True)
    else:
        s.dial(url, block=False)
    if kind in ("Pull0", "Rep0"):
        m = s.recv()
        sys.stdout.write("%d %d\n" % (len(m), sum(m) % 65521))
        if kind == "Rep0":
            s.send(b"pong")
            import time; time.sleep(0.5)
    else:
        s.send(bytes(i % 251 for i in range(n)))
        if kind == "Req0":
            sys.stdout.write(s.recv().decode() + "\n")
        else:
            import time; time.sleep(0.5)
    sys.stdout.flush()
"#;

fn have_pynng_tls() -> bool {
    have_peer(
        "python3",
        &["-c", "import pynng; pynng.TLSConfig"],
        true,
        "pip install pynng (0.9 has TLS)",
    )
}

fn sum(b: &[u8]) -> u32 {
    (b.iter().map(|&x| x as u64).sum::<u64>() % 65521) as u32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pynng_tls13_both_directions() {
    if !have_pynng_tls() {
        return;
    }
    let k = pki();
    let f = files(&k);
    let dir = tmpdir();
    let both = |name: &str, l: &Leaf| {
        let p = dir.join(name);
        std::fs::write(&p, l.both()).unwrap();
        p.to_str().unwrap().to_string()
    };
    let server_both = both("server-both.pem", &k.server);
    let client_both = both("client-both.pem", &k.client);
    let n = 1usize << 20;
    let want: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
    let ns = n.to_string();
    // pynng dials us: PUSH -> our PULL, over both schemes, with and without
    // a client certificate (required by us when given).
    for scheme in SCHEMES {
        for mutual in [false, true] {
            let pull = Socket::new(Protocol::Pull0);
            let cfg = if mutual {
                k.server_mtls(TlsAuthMode::Required)
            } else {
                k.server_cfg()
            };
            let l = pull.listen_tls(&listen_at(scheme), &cfg).await.unwrap();
            let url = dial_at(scheme, l.port().unwrap());
            let cert = if mutual { client_both.as_str() } else { "" };
            let c = spawn(
                "python3",
                &["-c", PYNNG_PEER, "Push0-dial", &url, &f.ca, cert, "", &ns],
            );
            let Ok(m) = tokio::time::timeout(LIMIT, pull.recv()).await else {
                let mut c = c;
                let _ = c.kill().await;
                let o = c.wait_with_output().await.unwrap();
                let ev = recorder().0.lock().unwrap().clone();
                panic!("pynng: {} {ev:?}", String::from_utf8_lossy(&o.stderr));
            };
            let m = m.unwrap();
            assert!(m.body() == &want[..], "{scheme} mutual={mutual}");
            let t = pull.pipe_tls(pull.pipes()[0].id).unwrap();
            assert_eq!(t.version, "TLSv1.3");
            assert_eq!(t.verified, mutual);
            drop(c);
        }
    }
    // We dial pynng: our REQ -> its REP (pynng requires our certificate),
    // and our PUSH -> its PULL without one.
    for (scheme, mutual) in [
        ("tls+tcp", true),
        ("wss", false),
        ("wss", true),
        ("tls+tcp", false),
    ] {
        let url = peer_url(scheme);
        let auth = if mutual { "required" } else { "none" };
        let (kind, ours) = if mutual {
            ("Rep0-listen", Protocol::Req0)
        } else {
            ("Pull0-listen", Protocol::Push0)
        };
        let ca = if mutual { f.ca.as_str() } else { "" };
        let mut c = spawn(
            "python3",
            &["-c", PYNNG_PEER, kind, &url, ca, &server_both, auth, "0"],
        );
        // Wait until it listens (its first line), no sleeping.
        let mut out = c.stdout.take().unwrap();
        let mut line = Vec::new();
        {
            use tokio::io::AsyncReadExt;
            let mut b = [0u8; 1];
            while !line.ends_with(b"\n") {
                let k = tokio::time::timeout(LIMIT, out.read(&mut b))
                    .await
                    .unwrap()
                    .unwrap();
                assert!(k > 0, "pynng ended: {:?}", c.wait_with_output().await);
                line.push(b[0]);
            }
        }
        let s = Socket::new(ours);
        let cfg = if mutual {
            k.client_with_cert()
        } else {
            k.client_cfg()
        };
        s.dial_tls(&url, &cfg).await.unwrap();
        let t = s.pipe_tls(s.pipes()[0].id).unwrap();
        assert_eq!(t.version, "TLSv1.3");
        assert!(t.verified);
        s.send_timeout(Message::from(&want[..]), LIMIT)
            .await
            .unwrap();
        if mutual {
            let a = tokio::time::timeout(LIMIT, s.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(a.body(), b"pong");
        }
        let rest = {
            use tokio::io::AsyncReadExt;
            let mut v = Vec::new();
            tokio::time::timeout(LIMIT, out.read_to_end(&mut v))
                .await
                .unwrap()
                .unwrap();
            v
        };
        let got = String::from_utf8_lossy(&rest);
        assert_eq!(
            got.trim(),
            format!("{n} {}", sum(&want)),
            "{scheme} mutual={mutual}"
        );
        let _ = c.wait().await;
    }
}

// ------------------------------------------------- hostile peers under TLS

/// A TLS client of our own (rustls) trusting `k`'s CA: raw bytes under TLS.
async fn raw_tls(k: &Pki, port: u16) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(k.ca.cert.der().clone()).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_under_tls_close_only_their_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const PULL_HEADER: [u8; 8] = [0, b'S', b'P', 0, 0, 0x51, 0, 0];
    const PUSH_HEADER: [u8; 8] = [0, b'S', b'P', 0, 0, 0x50, 0, 0];
    let k = pki();
    let pull = Socket::new(Protocol::Pull0);
    short_handshake(&pull);
    let l = pull
        .listen_tls("tls+tcp://127.0.0.1:0", &k.server_cfg())
        .await
        .unwrap();
    let port = l.port().unwrap();
    let mut huge = PUSH_HEADER.to_vec();
    huge.extend_from_slice(&(1u64 << 40).to_be_bytes());
    let mut reserved = PUSH_HEADER.to_vec();
    reserved.extend_from_slice(&[0xf0, 0, 0, 0, 0, 0, 0, 1, 0]);
    let cases: [(&str, Vec<u8>); 5] = [
        (
            "HTTP instead of SP",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        ("wrong peer protocol", PULL_HEADER.to_vec()),
        ("a 1 TiB length", huge),
        ("reserved length bits", reserved),
        ("silence after TLS (SP handshake timeout)", Vec::new()),
    ];
    for (what, bytes) in cases {
        let mut c = raw_tls(&k, port).await;
        c.write_all(&bytes).await.unwrap();
        c.flush().await.unwrap();
        // Our SP header comes, then the end.
        let mut h = [0u8; 8];
        c.read_exact(&mut h).await.unwrap();
        assert_eq!(h, PULL_HEADER, "{what}");
        let mut b = [0u8; 64];
        let r = tokio::time::timeout(LIMIT, c.read(&mut b))
            .await
            .unwrap_or_else(|_| panic!("{what}: not closed"));
        assert!(matches!(r, Ok(0) | Err(_)), "{what}: stayed open: {r:?}");
        serves_on("tls+tcp", &l, &k.client_cfg(), &pull).await;
    }
    // A stall mid-TLS-handshake of many peers at once does not stop accepts.
    let before = pull.stats().handshake_failures;
    let mut stalls = Vec::new();
    for _ in 0..20 {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).await.unwrap();
        stalls.push(s);
    }
    serves_on("tls+tcp", &l, &k.client_cfg(), &pull).await;
    until("the stalled handshakes to time out", || {
        pull.stats().handshake_failures >= before + 20
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_wss_clients_close_only_their_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let k = pki();
    let pull = Socket::new(Protocol::Pull0);
    short_handshake(&pull);
    let l = pull
        .listen_tls("wss://127.0.0.1:0/sp", &k.server_cfg())
        .await
        .unwrap();
    let port = l.port().unwrap();
    let upgrade = |path: &str, token: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {token}\r\n\r\n"
        )
        .into_bytes()
    };
    // A 2^62-byte binary frame, masked as a client's must be.
    let mut huge = vec![0x82, 0xff];
    huge.extend_from_slice(&(1u64 << 62).to_be_bytes());
    huge.extend_from_slice(&[1, 2, 3, 4]);
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("garbage", b"\x00SP\x00\x00\x50\x00\x00".to_vec(), ""),
        (
            "unknown path",
            upgrade("/nope", "pull.sp.nanomsg.org"),
            "404",
        ),
        (
            "wrong subprotocol",
            upgrade("/sp", "rep.sp.nanomsg.org"),
            "400",
        ),
        (
            "a 2^62-byte frame",
            [upgrade("/sp", "pull.sp.nanomsg.org"), huge].concat(),
            "101",
        ),
        ("silence after TLS (handshake timeout)", Vec::new(), ""),
    ];
    for (what, bytes, status) in cases {
        let mut c = raw_tls(&k, port).await;
        c.write_all(&bytes).await.unwrap();
        c.flush().await.unwrap();
        let mut got = Vec::new();
        let r = tokio::time::timeout(LIMIT, c.read_to_end(&mut got))
            .await
            .unwrap_or_else(|_| panic!("{what}: not closed"));
        // Closed, with the HTTP refusal where there is one. (After a 101
        // the close may come as a reset that loses what was unread.)
        let text = String::from_utf8_lossy(&got);
        if status != "101" {
            assert!(text.contains(status), "{what}: {text} {r:?}");
        }
        serves_on("wss", &l, &k.client_cfg(), &pull).await;
    }
}
