//! The embassy TLS 1.3 client (feature `tls`) against a nanosp (tokio,
//! rustls) `tls+tcp://` listener on the host kernel's TCP: an embassy-net
//! stack on a TAP device inside a private network namespace this test makes
//! (`unshare -n`; needs root, as on CI), as the TAP test does. Certificates
//! are made here with rcgen; no key is in the repository. Without root,
//! `unshare` or `ip` the test says so loudly and is skipped.

use embassy_futures::select::{select, Either};
use embassy_net::{IpEndpoint, Ipv4Address, Stack};
use nanosp_core::backoff::DialEvent;
use nanosp_core::{Error, Message, Protocol, SockOpt, TlsError};
use nanosp_embassy::tls::{dial_tls_observed, TlsBuffers, TlsClient, RECORD_READ_MIN};
use nanosp_embassy::{EmbassyRuntime, Socket, TcpBuffers};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

const NAME: &str = "sp.nanosp.test";

mod common;
use common::{in_tap_namespace, leak, on_tap, HOST_IP};

#[test]
fn embassy_tls_client_talks_to_a_nanosp_tls_listener_over_tap() {
    in_tap_namespace(
        "embassy_tls_client_talks_to_a_nanosp_tls_listener_over_tap",
        &[],
        inner,
    );
}

/// A CA and what it signed: PEM for rustls, DER for embedded-tls.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

struct Leaf {
    cert_pem: String,
    key_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap(); // ECDSA P-256
        let cert = p.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    fn issue(&self, cn: &str, names: &[&str]) -> Leaf {
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        }
    }
}

/// A REP listener on the host side of tap0 that answers `echo:` + request;
/// returns it (keep it) and its port.
async fn rep_listener(tls: &nanosp::TlsConfig) -> (nanosp::Socket, u16) {
    let rep = nanosp::Socket::new(Protocol::Rep0);
    let l = rep
        .listen_tls(&format!("tls+tcp://{HOST_IP}:0"), tls)
        .await
        .unwrap();
    let port = l.port().unwrap();
    let r = rep.clone();
    tokio::spawn(async move {
        while let Ok(q) = r.recv().await {
            let mut a = Message::from(&b"echo:"[..]);
            a.extend(q.body());
            if r.send(a).await.is_err() {
                break;
            }
        }
    });
    (rep, port)
}

/// Buffers of one TLS dialer, leaked for the test's life.
fn tls_buffers() -> TlsBuffers<'static> {
    TlsBuffers {
        tcp: TcpBuffers {
            rx: leak([0u8; 8192]).as_mut_slice(),
            tx: leak([0u8; 8192]).as_mut_slice(),
        },
        record_read: leak([0u8; RECORD_READ_MIN]).as_mut_slice(),
        record_write: leak([0u8; 4096]).as_mut_slice(),
    }
}

fn endpoint(port: u16) -> IpEndpoint {
    IpEndpoint::new(Ipv4Address::new(192, 168, 69, 100).into(), port)
}

/// Dials `port` over TLS as `client` says and runs `body` with the REQ
/// socket; returns what `body` returns, or panics if the dialer ends.
async fn with_dialer<T>(
    stack: Stack<'static>,
    port: u16,
    client: &TlsClient<'_>,
    events: &std::cell::RefCell<Vec<DialEvent>>,
    body: impl AsyncFnOnce(&Socket) -> T,
) -> T {
    with_dialer_setup(stack, port, client, events, |_| {}, body).await
}

/// [`with_dialer`] with `setup` applied to the socket before it dials.
async fn with_dialer_setup<T>(
    stack: Stack<'static>,
    port: u16,
    client: &TlsClient<'_>,
    events: &std::cell::RefCell<Vec<DialEvent>>,
    setup: impl FnOnce(&Socket),
    body: impl AsyncFnOnce(&Socket) -> T,
) -> T {
    let req = Socket::new(Protocol::Req0, EmbassyRuntime);
    setup(&req);
    let mut rng = rand_core::OsRng;
    let dial = dial_tls_observed(
        &req,
        stack,
        endpoint(port),
        tls_buffers(),
        client,
        &mut rng,
        |e| events.borrow_mut().push(e),
    );
    match select(dial, body(&req)).await {
        Either::First(e) => panic!("dialer ended: {e}"),
        Either::Second(t) => t,
    }
}

/// Waits (polling the dialer's events as they come) for the first failed
/// attempt and returns its error.
async fn first_failure(stack: Stack<'static>, port: u16, client: &TlsClient<'_>) -> (Error, u64) {
    first_failure_with(stack, port, client, |_| {}).await
}

/// [`first_failure`] with `setup` applied to the socket first.
async fn first_failure_with(
    stack: Stack<'static>,
    port: u16,
    client: &TlsClient<'_>,
    setup: impl FnOnce(&Socket),
) -> (Error, u64) {
    let events = std::cell::RefCell::new(Vec::new());
    with_dialer_setup(stack, port, client, &events, setup, async |req: &Socket| {
        loop {
            if let Some(e) = events.borrow().iter().find_map(|e| match e {
                DialEvent::Failed(e) => Some(*e),
                _ => None,
            }) {
                return (e, req.stats().handshake_failures);
            }
            embassy_time::Timer::after_millis(5).await;
        }
    })
    .await
}

fn inner() {
    let ca = Ca::new("nanosp test CA");
    let server = ca.issue("sp server", &[NAME]);
    let client_leaf = ca.issue("board 17", &[]);
    let other_ca = Ca::new("another CA");
    let server_tls = nanosp::TlsConfig::new()
        .with_cert_and_key_pem(server.cert_pem.as_bytes(), server.key_pem.as_bytes())
        .unwrap();
    let ca_der = ca.cert.der().to_vec();
    let other_der = other_ca.cert.der().to_vec();
    on_tap(120, |stack| async move {
        // 1. Verified server, request and reply; a message of several
        //    TLS records each way.
        let (rep, port) = rep_listener(&server_tls).await;
        let client = TlsClient {
            server_name: NAME,
            ca: Some(&ca_der),
            client_cert: None,
        };
        let events = std::cell::RefCell::new(Vec::new());
        let big: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let (small, large, info) =
            with_dialer(stack, port, &client, &events, async |req: &Socket| {
                req.send(Message::from("ping")).await.unwrap();
                let a = req.recv().await.unwrap();
                req.send(Message::from(&big[..])).await.unwrap();
                let b = req.recv().await.unwrap();
                (a, b, req.pipes().pop().unwrap())
            })
            .await;
        // The board's pipe says what it knows: TLS 1.3, server verified.
        let t = info.tls.expect("a TLS pipe");
        assert!(t.verified);
        assert_eq!(t.version, "TLSv1.3");
        assert!(info.url.starts_with("tls+tcp://"), "{}", info.url);
        assert_eq!(small.body(), b"echo:ping");
        assert_eq!(&large.body()[..5], b"echo:");
        assert_eq!(&large.body()[5..], &big[..]);
        assert_eq!(events.borrow()[0], DialEvent::Connected);
        let pipes = rep.pipes();
        assert_eq!(pipes.len(), 1);
        assert_eq!(pipes[0].url.split(':').next(), Some("tls+tcp"));
        let peer = rep.pipe_tls(pipes[0].id).unwrap();
        assert!(!peer.verified, "no client certificate was asked for");
        rep.close();

        // 2. Mutual TLS: the listener requires a client certificate
        //    from the CA and sees who the board is.
        let mtls = server_tls
            .clone()
            .with_ca_pem(ca.cert.pem().as_bytes())
            .unwrap()
            .with_auth_mode(nanosp::TlsAuthMode::Required);
        let (rep, port) = rep_listener(&mtls).await;
        let with_cert = TlsClient {
            client_cert: Some((&client_leaf.cert_der, &client_leaf.key_der)),
            ..client
        };
        let reply = with_dialer(stack, port, &with_cert, &events, async |req: &Socket| {
            req.send(Message::from("mutual")).await.unwrap();
            req.recv().await.unwrap()
        })
        .await;
        assert_eq!(reply.body(), b"echo:mutual");
        let peer = rep.pipe_tls(rep.pipes()[0].id).unwrap();
        assert!(peer.verified, "the board's certificate verified");
        assert!(
            peer.subject.as_deref().unwrap_or("").contains("board 17"),
            "{:?}",
            peer.subject
        );

        // 3. The same listener refuses a board without a certificate;
        //    it serves on (a board with one still gets through). TLS 1.3
        //    refuses after the client's last handshake flight: the
        //    board's SP handshake meets the server's alert or, when the
        //    server's reset overtakes it, a reset connection.
        let (e, failures) = first_failure(stack, port, &client).await;
        assert!(
            matches!(
                e,
                Error::ConnectionReset | Error::Tls(TlsError::RefusedByPeer)
            ),
            "{e}"
        );
        assert!(failures >= 1, "counted as a failed handshake");
        let reply = with_dialer(stack, port, &with_cert, &events, async |req: &Socket| {
            req.send(Message::from("again")).await.unwrap();
            req.recv().await.unwrap()
        })
        .await;
        assert_eq!(reply.body(), b"echo:again");
        rep.close();

        // 4. A server certificate from another CA, or for another name.
        let (rep, port) = rep_listener(&server_tls).await;
        let wrong_ca = TlsClient {
            ca: Some(&other_der),
            ..client
        };
        let (e, _) = first_failure(stack, port, &wrong_ca).await;
        assert_eq!(e, Error::Tls(TlsError::BadCertificate), "{e}");
        let wrong_name = TlsClient {
            server_name: "elsewhere.nanosp.test",
            ..client
        };
        let (e, _) = first_failure(stack, port, &wrong_name).await;
        assert_eq!(e, Error::Tls(TlsError::BadCertificate), "{e}");
        // Without a CA nothing is verified (nngcat's --insecure).
        let insecure = TlsClient {
            ca: None,
            server_name: "elsewhere.nanosp.test",
            ..client
        };
        let reply = with_dialer(stack, port, &insecure, &events, async |req: &Socket| {
            req.send(Message::from("anyone")).await.unwrap();
            req.recv().await.unwrap()
        })
        .await;
        assert_eq!(reply.body(), b"echo:anyone");
        rep.close();

        // 5. A plaintext SP listener.
        let plain = nanosp::Socket::new(Protocol::Rep0);
        let l = plain.listen(&format!("tcp://{HOST_IP}:0")).await.unwrap();
        let (e, _) = first_failure(stack, l.port().unwrap(), &client).await;
        assert_eq!(e, Error::Tls(TlsError::NotTls), "{e}");
        plain.close();

        // 6. A server that accepts and never answers: the handshake
        //    timeout ends the attempt.
        let mute = tokio::net::TcpListener::bind((HOST_IP, 0)).await.unwrap();
        let port = mute.local_addr().unwrap().port();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((c, _)) = mute.accept().await {
                held.push(c);
            }
        });
        let (e, failures) = first_failure_with(stack, port, &client, |req| {
            req.set_opt(SockOpt::HandshakeTimeout(
                core::time::Duration::from_millis(300),
            ))
            .unwrap()
        })
        .await;
        assert_eq!(e, Error::TimedOut, "{e}");
        assert!(failures >= 1, "counted as a failed handshake");
        hold.abort();
    });
}
