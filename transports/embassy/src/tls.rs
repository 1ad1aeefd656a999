//! SP over TLS 1.3 (`tls+tcp://`) for dialers, on
//! [embedded-tls](https://crates.io/crates/embedded-tls) (feature `tls`).
//!
//! [`dial_tls`] is [`dial`](crate::dial) with a TLS 1.3 session between the
//! TCP connection and the SP handshake, so a board reaches a `tls+tcp://`
//! listener of nanosp, nng (built with mbedTLS 3 or wolfSSL, TLS 1.3) or
//! mangos. What embedded-tls offers, and so what a board gets:
//!
//! * TLS 1.3 only, cipher suite `TLS_AES_128_GCM_SHA256`, key exchange on
//!   P-256 (every TLS 1.3 server must accept them; rustls and mbedTLS do);
//! * the server is verified against one CA certificate ([`TlsClient::ca`],
//!   DER) whose key and the server's are ECDSA P-256, and its name against
//!   [`TlsClient::server_name`] (the certificate's DNS names or common name).
//!   Boards seldom know the date, so validity dates are not checked. Without
//!   a CA nothing is verified (nngcat's `--insecure`);
//! * a client certificate for listeners that ask for one
//!   ([`TlsClient::client_cert`], an ECDSA P-256 certificate and its PKCS#8
//!   key, both DER).
//!
//! Memory: the caller's TCP buffers as for [`dial`](crate::dial), plus one
//! record buffer each way ([`TlsBuffers`]): a TLS record is up to 16 KiB
//! plus 256 B of overhead, so `record_read` must hold 16 640 B; `record_write`
//! may be smaller (each write becomes records of its size), 4 KiB is plenty.
//!
//! ```ignore
//! let client = TlsClient { server_name: "sensors.example", ca: Some(CA_DER), client_cert: None };
//! nanosp_embassy::tls::dial_tls(&sock, stack, endpoint, bufs, &client, &mut rng).await;
//! ```

use core::cell::RefCell;

use embassy_net::tcp::{TcpReader, TcpSocket, TcpWriter};
use embassy_net::{IpEndpoint, Stack};
use embedded_io_async::{ErrorType, Read, Write};
use embedded_tls::pki::CertVerifier;
use embedded_tls::{
    Aes128GcmSha256, Certificate, CryptoProvider, CryptoRngCore, FlushPolicy, NoClock,
    SignatureScheme, TlsConfig, TlsConnection, TlsContext, TlsVerifier,
};
use nanosp_core::backoff::{Counter, DialEvent};
use nanosp_core::frame::Framing;
use nanosp_core::stream::StreamConfig;
use nanosp_core::{Error, SocketRef, TlsError, TlsPeer};
use p256::ecdsa::signature::SignerMut;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::DecodePrivateKey;

use crate::{fmt, log_dial_event, Connection, EmbassyRuntime, Socket, TcpBuffers};

/// The largest server certificate chain the verifier holds while it checks
/// the server's signature (bytes).
const CERT_CHAIN_MAX: usize = 4096;

/// The smallest `record_read` buffer that holds any TLS record.
pub const RECORD_READ_MIN: usize = 16_640;

/// A TLS dialer's buffers: the TCP connection's, and one TLS record each way.
pub struct TlsBuffers<'a> {
    /// The TCP connection's buffers.
    pub tcp: TcpBuffers<'a>,
    /// Where a received record is decrypted: at least [`RECORD_READ_MIN`].
    pub record_read: &'a mut [u8],
    /// Where an outgoing record is built (4 KiB is plenty).
    pub record_write: &'a mut [u8],
}

/// How a TLS dialer checks the server, and what it shows of itself.
#[derive(Clone, Copy, Debug)]
pub struct TlsClient<'a> {
    /// The name the server's certificate must carry, sent as SNI (nng's
    /// `tls-server-name`).
    pub server_name: &'a str,
    /// The CA that signed the server's certificate (DER, ECDSA P-256). `None`
    /// verifies nothing: any server is accepted (nngcat's `--insecure`).
    pub ca: Option<&'a [u8]>,
    /// A client certificate and its private key (DER; the key PKCS#8, ECDSA
    /// P-256), for listeners that ask for one (nng's `tls-auth-mode`
    /// optional or required).
    pub client_cert: Option<(&'a [u8], &'a [u8])>,
}

/// [`dial`](crate::dial) over TLS 1.3: connects to a `tls+tcp://` listener
/// at `endpoint`, verifies it as `client` says, then runs SP as `dial` does,
/// redialing with back-off until the socket closes. A TLS handshake that
/// fails or outlasts `handshake-timeout` counts in `handshake_failures`;
/// [`Error::Tls`] says why: [`TlsError::BadCertificate`] (the server's
/// certificate is not signed by the CA or is for another name; embedded-tls
/// does not tell which), [`TlsError::RefusedByPeer`] (the server refused our
/// certificate or its absence), [`TlsError::NotTls`] (a plaintext listener),
/// [`TlsError::Handshake`] (anything else). `rng` makes the key shares: use
/// the board's hardware RNG.
pub async fn dial_tls(
    sock: &Socket,
    stack: Stack<'_>,
    endpoint: IpEndpoint,
    bufs: TlsBuffers<'_>,
    client: &TlsClient<'_>,
    rng: &mut impl CryptoRngCore,
) -> Error {
    dial_tls_observed(sock, stack, endpoint, bufs, client, rng, log_dial_event).await
}

/// [`dial_tls`] telling `on` what happens, as [`dial_observed`](crate::dial_observed).
pub async fn dial_tls_observed(
    sock: &Socket,
    stack: Stack<'_>,
    endpoint: IpEndpoint,
    bufs: TlsBuffers<'_>,
    client: &TlsClient<'_>,
    rng: &mut impl CryptoRngCore,
    on: impl FnMut(DialEvent),
) -> Error {
    let TlsBuffers {
        tcp,
        record_read,
        record_write,
    } = bufs;
    let mut session = Tls {
        client,
        rng,
        record_read,
        record_write,
    };
    let url = crate::endpoint_url("tls+tcp", endpoint);
    crate::dial_with(sock, stack, endpoint, tcp, &url, &mut session, on).await
}

/// One TLS session per connection.
struct Tls<'c, 'b, R> {
    client: &'c TlsClient<'c>,
    rng: &'c mut R,
    record_read: &'b mut [u8],
    record_write: &'b mut [u8],
}

impl<R: CryptoRngCore> Connection for Tls<'_, '_, R> {
    async fn run(
        &mut self,
        sref: &SocketRef<EmbassyRuntime>,
        s: &mut TcpSocket<'_>,
        url: &str,
        attached: impl FnOnce(),
    ) -> Result<Error, Error> {
        let (r, w) = s.split();
        let (r, w) = (RefCell::new(r), RefCell::new(w));
        let io = Halves { rd: &r, wr: &w };
        let mut conn: TlsConnection<'_, _, Aes128GcmSha256> =
            TlsConnection::new(io, self.record_read, self.record_write);
        // Records leave when the SP writer flushes; waiting for the peer's
        // ACK as well (embassy-net's flush) would only slow it down.
        conn.set_flush_policy(FlushPolicy::Relaxed);
        let config = TlsConfig::new().with_server_name(self.client.server_name);
        let provider = Provider::new(self.client, &mut *self.rng);
        let timeout = sref.options().handshake_timeout;
        let opened = embassy_time::with_timeout(
            embassy_time::Duration::from_micros(timeout.as_micros() as u64),
            conn.open(TlsContext::new(&config, provider)),
        )
        .await;
        let failed = match opened {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(tls_error(e)),
            Err(_) => Some(Error::TimedOut),
        };
        if let Some(e) = failed {
            fmt::warning!("nanosp: TLS handshake failed: {}", e);
            sref.count(|s| Counter::HandshakeFailures.bump(s));
            return Err(e);
        }
        let (tr, tw) = conn.split();
        // The TLS writer builds a record until it is flushed: flush after
        // every batch.
        let cfg = StreamConfig {
            flush: true,
            ..StreamConfig::small(Framing::Tcp)
        };
        // What the board knows of the server: verified if a CA was given
        // (embedded-tls keeps neither the certificate nor its subject).
        let peer = TlsPeer {
            verified: self.client.ca.is_some(),
            subject: None,
            common_name: None,
            certificate: None,
            version: "TLSv1.3",
        };
        match crate::boxed(nanosp_core::stream::establish_tls(
            sref, tr, tw, cfg, url, true, peer,
        ))
        .await
        {
            Ok(pipe) => {
                attached();
                Ok(crate::boxed(pipe.run()).await)
            }
            Err(e) => Err(e),
        }
    }
}

/// The core's error for a failed TLS handshake.
fn tls_error(e: embedded_tls::TlsError) -> Error {
    use embedded_tls::alert::AlertDescription as A;
    use embedded_tls::TlsError as E;
    Error::Tls(match e {
        E::Io(kind) => return Error::from_io_kind(kind),
        E::IoError | E::ConnectionClosed => return Error::ConnectionReset,
        E::HandshakeAborted(_, A::CertificateRequired | A::BadCertificate | A::UnknownCa)
        | E::HandshakeAborted(_, A::UnsupportedCertificate | A::AccessDenied) => {
            TlsError::RefusedByPeer
        }
        E::InvalidCertificate | E::InvalidSignature | E::InvalidCertificateEntry => {
            TlsError::BadCertificate
        }
        // A record type TLS does not have; embedded-tls calls type 0 (an SP
        // header's first byte, from a plaintext listener) Unimplemented.
        E::InvalidRecord | E::UnknownContentType | E::Unimplemented => TlsError::NotTls,
        _ => TlsError::Handshake,
    })
}

/// The TCP connection's halves, shared by the TLS session's reader and
/// writer: embedded-tls splits a connection by cloning its transport.
#[derive(Clone, Copy)]
struct Halves<'s, 'b> {
    rd: &'s RefCell<TcpReader<'b>>,
    wr: &'s RefCell<TcpWriter<'b>>,
}

impl ErrorType for Halves<'_, '_> {
    type Error = embassy_net::tcp::Error;
}

// Each borrow is held across the await on purpose: only the TLS reader
// reads and only the TLS writer writes (the handshake, before the split,
// does one at a time), so no borrow ever meets another.
#[allow(clippy::await_holding_refcell_ref)]
impl Read for Halves<'_, '_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.rd.borrow_mut().read(buf).await
    }
}

#[allow(clippy::await_holding_refcell_ref)]
impl Write for Halves<'_, '_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.wr.borrow_mut().write(buf).await
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.wr.borrow_mut().flush().await
    }
}

/// embedded-tls's crypto for one handshake: the caller's RNG, the CA
/// verifier and the client certificate.
struct Provider<'a, R> {
    rng: &'a mut R,
    verifier: Option<CertVerifier<'a, Aes128GcmSha256, NoClock, CERT_CHAIN_MAX>>,
    client_cert: Option<(&'a [u8], &'a [u8])>,
}

impl<'a, R: CryptoRngCore> Provider<'a, R> {
    fn new(client: &TlsClient<'a>, rng: &'a mut R) -> Self {
        Provider {
            rng,
            verifier: client.ca.map(|ca| CertVerifier::new(Certificate::X509(ca))),
            client_cert: client.client_cert,
        }
    }
}

impl<R: CryptoRngCore> CryptoProvider for Provider<'_, R> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = DerSignature;

    fn rng(&mut self) -> impl CryptoRngCore {
        &mut *self.rng
    }

    fn verifier(
        &mut self,
    ) -> Result<&mut impl TlsVerifier<Aes128GcmSha256>, embedded_tls::TlsError> {
        // No CA: embedded-tls skips verification.
        self.verifier
            .as_mut()
            .ok_or(embedded_tls::TlsError::Unimplemented)
    }

    fn signer(
        &mut self,
    ) -> Result<(impl SignerMut<DerSignature>, SignatureScheme), embedded_tls::TlsError> {
        let (_, key) = self
            .client_cert
            .ok_or(embedded_tls::TlsError::InvalidPrivateKey)?;
        let key = SigningKey::from_pkcs8_der(key)
            .map_err(|_| embedded_tls::TlsError::InvalidPrivateKey)?;
        Ok((key, SignatureScheme::EcdsaSecp256r1Sha256))
    }

    fn client_cert(&mut self) -> Option<Certificate<impl AsRef<[u8]>>> {
        self.client_cert.map(|(cert, _)| Certificate::X509(cert))
    }
}
