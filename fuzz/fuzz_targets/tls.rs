//! nanosp's `tls+tcp://` listener up to the SP handshake
//! (`nanosp::tls::fuzzing::tls_accept`, the code a listener runs), over an
//! in-memory stream.
//!
//! Input: byte 0 is control (bit 0: 0 = the input is the client's raw bytes,
//! TLS records included; 1 = a real rustls client does the TLS handshake and
//! the input is what it then sends, the SP header first; bits 1–4: protocol
//! index), the rest is the input.
//!
//! Checks: no panic; no hang (the futures are polled by hand and must finish
//! within a bound); every refusal is a typed error a peer can cause (TLS
//! errors named, protocol errors, the connection ending); a valid SP header
//! of the protocol's peer after a real TLS handshake is accepted.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use nanosp::tls::fuzzing::{tls_accept, Server};
use nanosp::TlsConfig;
use nanosp_core::{Error, Protocol};
use tokio::io::AsyncWriteExt;

/// The server and a client that trusts it, made once.
fn pki() -> &'static (Server, Arc<rustls::ClientConfig>) {
    static P: OnceLock<(Server, Arc<rustls::ClientConfig>)> = OnceLock::new();
    P.get_or_init(|| {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let both = format!("{}{}", c.cert.pem(), c.key_pair.serialize_pem());
        let server =
            Server::new(&TlsConfig::new().with_cert_key_pem(both.as_bytes()).unwrap()).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(c.cert.der().clone()).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        (server, Arc::new(client))
    })
}

fn run<F: Future>(f: F, bound: usize) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..bound {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("hangs: still pending after {bound} polls");
}

/// Runs the server's side with the client's (which never ends) until the
/// server is done.
fn served(
    srv: impl Future<Output = Result<u16, Error>>,
    peer: impl Future<Output = ()>,
) -> Result<u16, Error> {
    run(
        async {
            match futures::future::select(pin!(srv), pin!(peer)).await {
                futures::future::Either::Left((r, _)) => r,
                futures::future::Either::Right(_) => unreachable!("the peer never ends"),
            }
        },
        100_000,
    )
}

/// Errors a peer's bytes may cause.
fn peer_caused(e: &Error) -> bool {
    matches!(
        e,
        Error::Tls(_)
            | Error::Protocol(_)
            | Error::ConnectionShutdown
            | Error::ConnectionReset
            | Error::Io(_)
    )
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let ctl = data[0];
    let proto = Protocol::ALL[usize::from((ctl >> 1) & 0xf) % Protocol::ALL.len()];
    let input = &data[1..];
    let (server, client) = pki();
    let (a, mut b) = tokio::io::duplex(1 << 16);
    let r = if ctl & 1 == 0 {
        let feed = async move {
            let _ = b.write_all(input).await;
            let _ = b.shutdown().await;
            // Keep our end open until the server is done reading.
            std::future::pending::<()>().await
        };
        served(tls_accept(a, server, proto), feed)
    } else {
        let c = tokio_rustls::TlsConnector::from(client.clone());
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let cli = async move {
            let Ok(mut s) = c.connect(name, b).await else {
                return std::future::pending::<()>().await;
            };
            let _ = s.write_all(input).await;
            let _ = s.shutdown().await;
            std::future::pending::<()>().await
        };
        served(tls_accept(a, server, proto), cli)
    };
    match r {
        Ok(peer) => assert_eq!(peer, proto.peer_number()),
        Err(e) => {
            assert!(peer_caused(&e), "not a peer's error: {e:?}");
            if ctl & 1 == 1 && input.len() >= 8 {
                let h: [u8; 8] = input[..8].try_into().unwrap();
                if nanosp_core::frame::parse_handshake(&h) == Ok(proto.peer_number()) {
                    panic!("a valid SP header after TLS was refused: {e:?}");
                }
            }
        }
    }
});
