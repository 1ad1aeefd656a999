//! TLS for `tls+tcp://` and `wss://`: rustls (TLS 1.2 and 1.3) with the
//! `ring` crypto provider.
//!
//! A [`TlsConfig`] is what nng's `nng_tls_config` is: trusted CAs, our
//! certificate chain and key, the server name a dialer checks, and the
//! authentication mode. It is set on a socket ([`crate::Socket::set_tls_config`],
//! for the dialers and listeners started after it) or given to one dialer or
//! listener ([`crate::Socket::dial_tls`], [`crate::Socket::listen_tls`]).
//! Failures are [`Error::Tls`] with a [`TlsError`] naming the cause.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use nanosp_core::{Error, TlsError, TlsPeer};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Whether a peer must present a certificate that verifies (nng's
/// `tls-auth-mode`). nng's defaults: dialers `Required` (the server's
/// certificate must verify), listeners `None` (no client certificate asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsAuthMode {
    /// Do not verify the peer (a listener does not ask for a certificate;
    /// a dialer accepts any server certificate: nngcat's `--insecure`).
    None,
    /// Ask for a certificate and verify it, but let the connection go on
    /// either way; [`TlsPeer::verified`] tells the result.
    Optional,
    /// The peer must present a certificate signed by a trusted CA.
    Required,
}

impl std::str::FromStr for TlsAuthMode {
    type Err = Error;
    /// nng's names: `none`, `optional`, `required`.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "optional" => Ok(Self::Optional),
            "required" => Ok(Self::Required),
            _ => Err(Error::InvalidArgument),
        }
    }
}

/// TLS settings of a dialer or listener (nng's `nng_tls_config`), built
/// from PEM files or PEM bytes in memory.
///
/// ```
/// use nanosp::{Protocol, Socket, TlsConfig};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// # let (cert_pem, key_pem) = (c.cert.pem(), c.key_pair.serialize_pem());
/// let both = format!("{cert_pem}{key_pem}"); // as in a tls-cert-key-file
/// let server = TlsConfig::new().with_cert_key_pem(both.as_bytes()).unwrap();
/// let client = TlsConfig::new().with_ca_pem(cert_pem.as_bytes()).unwrap();
/// let rep = Socket::new(Protocol::Rep0);
/// let l = rep.listen_tls("tls+tcp://127.0.0.1:0", &server).await.unwrap();
/// let req = Socket::new(Protocol::Req0);
/// // The certificate is for "localhost": dial that name.
/// let url = format!("tls+tcp://localhost:{}", l.port().unwrap());
/// req.dial_tls(&url, &client).await.unwrap();
/// let p = req.pipes()[0].id;
/// assert!(req.pipe_tls(p).unwrap().verified);
/// # }
/// ```
#[derive(Clone, Default)]
pub struct TlsConfig {
    ca: Vec<CertificateDer<'static>>,
    chain: Vec<CertificateDer<'static>>,
    key: Option<Arc<PrivateKeyDer<'static>>>,
    server_name: Option<String>,
    auth: Option<TlsAuthMode>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("ca_certificates", &self.ca.len())
            .field("chain", &self.chain.len())
            .field("key", &self.key.is_some())
            .field("server_name", &self.server_name)
            .field("auth_mode", &self.auth)
            .finish()
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(crate::stream::io_error)
}

impl TlsConfig {
    /// No CA, no certificate, nng's default authentication mode.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the CA certificates of PEM text to those trusted (nng's
    /// `tls-ca-file`, from memory). No certificate in it is
    /// [`Error::InvalidArgument`].
    pub fn with_ca_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        let certs = certs_of(pem)?;
        self.ca.extend(certs);
        Ok(self)
    }

    /// Adds the CA certificates of a PEM file (nng's `tls-ca-file`).
    pub fn with_ca_file(self, path: impl AsRef<Path>) -> Result<Self, Error> {
        let pem = read_file(path.as_ref())?;
        self.with_ca_pem(&pem)
    }

    /// Our certificate chain and private key from one PEM text holding
    /// both (nng's `tls-cert-key-file`, from memory): the first certificate
    /// is ours, the rest its chain.
    pub fn with_cert_key_pem(self, pem: &[u8]) -> Result<Self, Error> {
        self.with_cert_and_key_pem(pem, pem)
    }

    /// Our certificate chain and key from a PEM file with both (nng's
    /// `tls-cert-key-file`).
    pub fn with_cert_key_file(self, path: impl AsRef<Path>) -> Result<Self, Error> {
        let pem = read_file(path.as_ref())?;
        self.with_cert_key_pem(&pem)
    }

    /// Our certificate chain and key from two PEM texts (nngcat's `--cert`
    /// and `--key`).
    pub fn with_cert_and_key_pem(mut self, cert: &[u8], key: &[u8]) -> Result<Self, Error> {
        self.chain = certs_of(cert)?;
        let k = PrivateKeyDer::from_pem_slice(key).map_err(|_| Error::InvalidArgument)?;
        self.key = Some(Arc::new(k));
        Ok(self)
    }

    /// The name a dialer expects in the server's certificate and sends as
    /// SNI (nng's `tls-server-name`); default: the URL's host.
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Peer authentication (nng's `tls-auth-mode`); see [`TlsAuthMode`]
    /// for the defaults.
    pub fn with_auth_mode(mut self, mode: TlsAuthMode) -> Self {
        self.auth = Some(mode);
        self
    }

    /// Sets an option by nng's name: `tls-ca-file` (a path),
    /// `tls-cert-key-file` (a path), `tls-server-name`, `tls-auth-mode`
    /// (`none`, `optional`, `required`). Another name is
    /// [`Error::NotSupported`].
    ///
    /// ```
    /// use nanosp::{TlsConfig, Error};
    /// let mut c = TlsConfig::new();
    /// c.set("tls-auth-mode", "optional").unwrap();
    /// c.set("tls-server-name", "example.org").unwrap();
    /// assert_eq!(c.set("tls-ca-file", "/nonexistent").unwrap_err().nng_name(), "ENOENT");
    /// ```
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), Error> {
        let c = self.clone();
        *self = match name {
            "tls-ca-file" => c.with_ca_file(value)?,
            "tls-cert-key-file" => c.with_cert_key_file(value)?,
            "tls-server-name" => c.with_server_name(value),
            "tls-auth-mode" => c.with_auth_mode(value.parse()?),
            _ => return Err(Error::NotSupported),
        };
        Ok(())
    }

    /// The server name set with [`TlsConfig::with_server_name`].
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// The authentication mode in force for a dialer (`dialer`) or a
    /// listener.
    pub fn auth_mode(&self, dialer: bool) -> TlsAuthMode {
        self.auth.unwrap_or(if dialer {
            TlsAuthMode::Required
        } else {
            TlsAuthMode::None
        })
    }

    fn roots(&self) -> Result<Option<Arc<RootCertStore>>, Error> {
        if self.ca.is_empty() {
            return Ok(None);
        }
        let mut r = RootCertStore::empty();
        for c in &self.ca {
            r.add(c.clone()).map_err(|_| Error::InvalidArgument)?;
        }
        Ok(Some(Arc::new(r)))
    }

    /// The rustls client side of this configuration for a dialer of `host`.
    pub(crate) fn client(&self, host: &str) -> Result<TlsClient, Error> {
        let provider = provider();
        let name = self.server_name.as_deref().unwrap_or(host);
        let name = ServerName::try_from(name.to_string()).map_err(|_| Error::InvalidArgument)?;
        let webpki = match self.roots()? {
            Some(r) => Some(
                WebPkiServerVerifier::builder_with_provider(r, provider.clone())
                    .build()
                    .map_err(|_| Error::InvalidArgument)?,
            ),
            None => None,
        };
        let verifier = Arc::new(ServerVerifier {
            webpki: webpki.clone(),
            strict: self.auth_mode(true) == TlsAuthMode::Required,
            provider: provider.clone(),
        });
        let b = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .map_err(|_| Error::InvalidArgument)?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let cfg = match &self.key {
            Some(k) => b
                .with_client_auth_cert(self.chain.clone(), k.clone_key())
                .map_err(|_| Error::InvalidArgument)?,
            None => b.with_no_client_auth(),
        };
        Ok(TlsClient {
            cfg: Arc::new(cfg),
            name,
            webpki,
        })
    }

    /// The rustls server side; a listener needs a certificate and key, and
    /// a CA when it verifies clients.
    pub(crate) fn server(&self) -> Result<TlsServer, Error> {
        let provider = provider();
        let key = self.key.as_ref().ok_or(Error::InvalidArgument)?;
        let mode = self.auth_mode(false);
        let webpki = match self.roots()? {
            Some(r) => Some(
                WebPkiClientVerifier::builder_with_provider(r, provider.clone())
                    .build()
                    .map_err(|_| Error::InvalidArgument)?,
            ),
            None if mode == TlsAuthMode::Required => return Err(Error::InvalidArgument),
            None => None,
        };
        let b = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .map_err(|_| Error::InvalidArgument)?;
        let b = match (mode, &webpki) {
            (TlsAuthMode::None, _) => b.with_no_client_auth(),
            (TlsAuthMode::Required, Some(v)) => b.with_client_cert_verifier(v.clone()),
            _ => b.with_client_cert_verifier(Arc::new(LenientClientVerifier {
                webpki: webpki.clone(),
                provider,
            })),
        };
        let cfg = b
            .with_single_cert(self.chain.clone(), key.clone_key())
            .map_err(|_| Error::InvalidArgument)?;
        Ok(TlsServer {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(cfg)),
            webpki,
            mode,
        })
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs_of(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| Error::InvalidArgument)?;
    if certs.is_empty() {
        return Err(Error::InvalidArgument);
    }
    Ok(certs)
}

/// A dialer's TLS, built once per dialer.
#[derive(Clone)]
pub(crate) struct TlsClient {
    cfg: Arc<ClientConfig>,
    name: ServerName<'static>,
    webpki: Option<Arc<WebPkiServerVerifier>>,
}

/// A listener's TLS, built once per listener.
#[derive(Clone)]
pub(crate) struct TlsServer {
    acceptor: tokio_rustls::TlsAcceptor,
    webpki: Option<Arc<dyn ClientCertVerifier>>,
    mode: TlsAuthMode,
}

/// The handshake-signature checks of a verifier with a `provider` field:
/// the provider's, whatever the verifier decides about the certificate.
macro_rules! handshake_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(m, c, d, &self.provider.signature_verification_algorithms)
        }

        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(m, c, d, &self.provider.signature_verification_algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    };
}

/// The server-certificate check of a dialer: webpki's when the mode is
/// `Required`; otherwise any certificate passes the handshake (its
/// signature over the handshake is still checked) and whether it verifies
/// is found afterwards ([`TlsPeer::verified`]).
#[derive(Debug)]
struct ServerVerifier {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    strict: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end: &CertificateDer<'_>,
        inter: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match (&self.webpki, self.strict) {
            (_, false) => Ok(ServerCertVerified::assertion()),
            (Some(v), true) => v.verify_server_cert(end, inter, name, ocsp, now),
            (None, true) => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        }
    }

    handshake_signatures!();
}

/// A listener in `Optional` mode: asks for a client certificate, takes any
/// (or none); whether it verifies is found afterwards.
#[derive(Debug)]
struct LenientClientVerifier {
    webpki: Option<Arc<dyn ClientCertVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for LenientClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        match &self.webpki {
            Some(v) => v.root_hint_subjects(),
            None => &[],
        }
    }
    fn verify_client_cert(
        &self,
        _end: &CertificateDer<'_>,
        _inter: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    handshake_signatures!();
}

fn peer_of(
    certs: Option<&[CertificateDer<'static>]>,
    verified: bool,
    v: Option<rustls::ProtocolVersion>,
) -> TlsPeer {
    let end = certs.and_then(|c| c.first());
    let subject = end.and_then(|c| subject_of(c));
    let common_name = subject
        .as_ref()
        .and_then(|s| s.1.iter().find(|(k, _)| *k == "CN").map(|(_, v)| v.clone()));
    TlsPeer {
        verified,
        subject: subject.map(|s| s.0),
        common_name,
        certificate: end.map(|c| c.to_vec()),
        version: match v {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            _ => "TLSv1.2",
        },
    }
}

/// One DER element: (tag, contents, rest).
fn der(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, b) = b.split_first()?;
    let (&l, mut b) = b.split_first()?;
    let len = if l < 0x80 {
        l as usize
    } else {
        let n = (l & 0x7f) as usize;
        if n == 0 || n > 4 || b.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &x in &b[..n] {
            len = len << 8 | x as usize;
        }
        b = &b[n..];
        len
    };
    (b.len() >= len).then(|| (tag, &b[..len], &b[len..]))
}

/// The subject of a certificate as `CN=.., O=..` (mbedTLS's order, as nng
/// shows it), with its attributes.
#[allow(clippy::type_complexity)]
fn subject_of(cert: &[u8]) -> Option<(String, Vec<(&'static str, String)>)> {
    let (_, c, _) = der(cert)?;
    let (_, tbs, _) = der(c)?;
    let mut rest = tbs;
    let mut fields = Vec::new();
    while let Some((tag, body, r)) = der(rest) {
        if tag != 0xa0 {
            fields.push(body);
        }
        rest = r;
        if fields.len() == 5 {
            break;
        }
    }
    // serial, signature algorithm, issuer, validity, subject
    let subject = *fields.get(4)?;
    let mut attrs = Vec::new();
    let mut sets = subject;
    while let Some((_, set, r)) = der(sets) {
        sets = r;
        let mut atvs = set;
        while let Some((_, atv, r2)) = der(atvs) {
            atvs = r2;
            let Some((_, oid, v)) = der(atv) else {
                continue;
            };
            let Some((_, val, _)) = der(v) else { continue };
            let key = match oid {
                [0x55, 0x04, 0x03] => "CN",
                [0x55, 0x04, 0x06] => "C",
                [0x55, 0x04, 0x07] => "L",
                [0x55, 0x04, 0x08] => "ST",
                [0x55, 0x04, 0x0a] => "O",
                [0x55, 0x04, 0x0b] => "OU",
                _ => continue,
            };
            attrs.push((key, String::from_utf8_lossy(val).into_owned()));
        }
    }
    let text = attrs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ");
    Some((text, attrs))
}

/// The error a rustls failure means.
pub(crate) fn tls_error(e: &rustls::Error) -> TlsError {
    use rustls::{AlertDescription as A, InvalidMessage as M};
    match e {
        rustls::Error::InvalidMessage(M::InvalidContentType | M::UnknownProtocolVersion) => {
            TlsError::NotTls
        }
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => TlsError::UnknownIssuer,
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => TlsError::Expired,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsError::WrongName
            }
            _ => TlsError::BadCertificate,
        },
        rustls::Error::NoCertificatesPresented => TlsError::NoCertificate,
        rustls::Error::AlertReceived(
            A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA
            | A::CertificateRequired
            | A::AccessDenied,
        ) => TlsError::RefusedByPeer,
        _ => TlsError::Handshake,
    }
}

/// The TLS failure inside an I/O error from a TLS stream, if any.
fn tls_in(e: &io::Error) -> Option<TlsError> {
    e.get_ref()
        .and_then(|i| i.downcast_ref::<rustls::Error>())
        .map(tls_error)
}

/// An I/O error of a TLS handshake as nanosp's error.
pub(crate) fn handshake_error(e: io::Error) -> Error {
    match tls_in(&e) {
        Some(t) => Error::Tls(t),
        // A peer that closes at once after seeing our hello.
        None if e.kind() == io::ErrorKind::UnexpectedEof => {
            Error::Protocol(nanosp_core::ProtocolError::HandshakeIncomplete)
        }
        None => crate::stream::io_error(e),
    }
}

/// The first TLS failure seen on a stream after its handshake (e.g. TLS
/// 1.3's rejection of a client certificate, which the client learns on its
/// first read), so that the SP handshake's error can name it.
#[derive(Clone, Default)]
pub(crate) struct Seen(Arc<Mutex<Option<TlsError>>>);

impl Seen {
    fn note(&self, e: &io::Error) {
        if let Some(t) = tls_in(e) {
            self.0.lock().unwrap().get_or_insert(t);
        }
    }
    /// `e`, or the TLS failure behind it.
    pub(crate) fn explain(&self, e: Error) -> Error {
        match *self.0.lock().unwrap() {
            Some(t) => Error::Tls(t),
            None => e,
        }
    }
}

enum Inner {
    Plain(TcpStream),
    Client(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Server(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// A TCP connection, in the clear or under TLS: one type for the stream
/// transports and the WebSocket server, whichever the URL asks for.
#[doc(hidden)] // an implementation detail of the transports (its trait impls would only repeat tokio's docs)
pub struct MaybeTls {
    inner: Inner,
    seen: Seen,
}

impl MaybeTls {
    /// A connection in the clear.
    pub(crate) fn plain(s: TcpStream) -> Self {
        MaybeTls {
            inner: Inner::Plain(s),
            seen: Seen::default(),
        }
    }

    pub(crate) fn seen(&self) -> Seen {
        self.seen.clone()
    }

    /// The TCP stream of a connection in the clear (it splits into owned
    /// halves, without the lock `tokio::io::split` takes per call).
    pub(crate) fn into_plain(self) -> Result<TcpStream, Self> {
        match self.inner {
            Inner::Plain(s) => Ok(s),
            inner => Err(MaybeTls {
                inner,
                seen: self.seen,
            }),
        }
    }
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match &mut $self.inner {
            Inner::Plain($s) => $e,
            Inner::Client($s) => $e,
            Inner::Server($s) => $e,
        }
    };
}

fn noted<T>(seen: &Seen, p: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
    if let Poll::Ready(Err(e)) = &p {
        seen.note(e);
    }
    p
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let p = each!(me, s => Pin::new(s).poll_read(cx, buf));
        noted(&me.seen, p)
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        let p = each!(me, s => Pin::new(s).poll_write(cx, buf));
        noted(&me.seen, p)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        let p = each!(me, s => Pin::new(s).poll_write_vectored(cx, bufs));
        noted(&me.seen, p)
    }
    fn is_write_vectored(&self) -> bool {
        match &self.inner {
            Inner::Plain(s) => s.is_write_vectored(),
            Inner::Client(s) => s.is_write_vectored(),
            Inner::Server(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let p = each!(me, s => Pin::new(s).poll_flush(cx));
        noted(&me.seen, p)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let p = each!(me, s => Pin::new(s).poll_shutdown(cx));
        noted(&me.seen, p)
    }
}

impl TlsClient {
    /// The TLS handshake of a dialer over `tcp`.
    pub(crate) async fn connect(&self, tcp: TcpStream) -> Result<(MaybeTls, TlsPeer), Error> {
        let c = tokio_rustls::TlsConnector::from(self.cfg.clone());
        let s = c
            .connect(self.name.clone(), tcp)
            .await
            .map_err(handshake_error)?;
        let conn = s.get_ref().1;
        let certs = conn.peer_certificates();
        let verified = match (certs, &self.webpki) {
            (Some([end, inter @ ..]), Some(v)) => v
                .verify_server_cert(end, inter, &self.name, &[], UnixTime::now())
                .is_ok(),
            _ => false,
        };
        let peer = peer_of(certs, verified, conn.protocol_version());
        Ok((
            MaybeTls {
                inner: Inner::Client(Box::new(s)),
                seen: Seen::default(),
            },
            peer,
        ))
    }
}

impl TlsServer {
    /// The TLS handshake of a listener over an accepted `tcp`.
    pub(crate) async fn accept(&self, tcp: TcpStream) -> Result<(MaybeTls, TlsPeer), Error> {
        let s = self.acceptor.accept(tcp).await.map_err(handshake_error)?;
        let conn = s.get_ref().1;
        let certs = conn.peer_certificates();
        let verified = match (certs, &self.webpki) {
            (Some([end, inter @ ..]), Some(v)) if self.mode != TlsAuthMode::None => {
                self.mode == TlsAuthMode::Required
                    || v.verify_client_cert(end, inter, UnixTime::now()).is_ok()
            }
            _ => false,
        };
        let peer = peer_of(certs, verified, conn.protocol_version());
        Ok((
            MaybeTls {
                inner: Inner::Server(Box::new(s)),
                seen: Seen::default(),
            },
            peer,
        ))
    }
}

/// Hooks for the fuzz crate (`fuzz/fuzz_targets/tls.rs`); not API.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A listener's TLS, built from a configuration.
    pub struct Server(TlsServer);

    impl Server {
        /// As a `tls+tcp://` listener builds it.
        pub fn new(cfg: &TlsConfig) -> Result<Server, Error> {
            cfg.server().map(Server)
        }
    }

    /// The listener side of a `tls+tcp://` connection on any stream, as the
    /// listener runs it up to the SP handshake: the TLS handshake, our SP
    /// header out, the peer's header in and checked against `proto`'s peer.
    /// Returns the peer's protocol number.
    pub async fn tls_accept<S>(
        stream: S,
        server: &Server,
        proto: nanosp_core::Protocol,
    ) -> Result<u16, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut s = server
            .0
            .acceptor
            .accept(stream)
            .await
            .map_err(handshake_error)?;
        let io = |e: io::Error| match tls_in(&e) {
            Some(t) => Error::Tls(t),
            None => crate::stream::io_error(e),
        };
        let ours = nanosp_core::frame::handshake(proto.number());
        s.write_all(&ours).await.map_err(io)?;
        s.flush().await.map_err(io)?;
        let mut h = [0u8; nanosp_core::frame::HANDSHAKE_LEN];
        s.read_exact(&mut h).await.map_err(io)?;
        let peer = nanosp_core::frame::parse_handshake(&h)?;
        if peer != proto.peer_number() {
            return Err(Error::Protocol(nanosp_core::ProtocolError::PeerMismatch {
                expected: proto.peer_number(),
                got: peer,
            }));
        }
        Ok(peer)
    }
}
