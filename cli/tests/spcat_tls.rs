//! spcat's TLS flags (`--cacert`, `--cert`/`-E`, `--key`, `--insecure`/`-k`)
//! with nngcat's meanings, plus a listener given `--cacert` requiring client
//! certificates; spcat with spcat over `tls+tcp://` and `wss://`, and with
//! nngcat (skipped with a note when it is not installed). Certificates are
//! made here with rcgen.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

const SPCAT: &str = env!("CARGO_BIN_EXE_spcat");
const LIMIT: Duration = Duration::from_secs(15);

fn tmpdir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "spcat-tls-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// PEM files: a CA, a server and a client certificate it signed (DNS
/// `localhost`, which nngcat's mbedTLS needs), their keys, and a
/// certificate + key file of the client.
struct Files {
    ca: String,
    server: String,
    server_key: String,
    client: String,
    client_key: String,
    client_both: String,
}

fn files() -> Files {
    let d = tmpdir();
    let w = |name: &str, text: &str| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(DnType::CommonName, "spcat test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = p.self_signed(&ca_key).unwrap();
    let leaf = |cn: &str| {
        let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        let k = KeyPair::generate().unwrap();
        let c = p.signed_by(&k, &ca, &ca_key).unwrap();
        (c.pem(), k.serialize_pem())
    };
    let (sc, sk) = leaf("server");
    let (cc, ck) = leaf("client");
    Files {
        ca: w("ca.pem", &ca.pem()),
        server: w("server.crt", &sc),
        server_key: w("server.key", &sk),
        client: w("client.crt", &cc),
        client_key: w("client.key", &ck),
        client_both: w("client.pem", &format!("{cc}{ck}")),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn url(scheme: &str) -> String {
    match scheme {
        "wss" => format!("wss://localhost:{}/cat", free_port()),
        s => format!("{s}://localhost:{}", free_port()),
    }
}

fn spawn(prog: &str, args: &[&str]) -> Child {
    Command::new(prog)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{prog}: {e}"))
}

/// Waits (bounded) for a child and returns its output.
fn finish(mut c: Child) -> Output {
    let t0 = Instant::now();
    loop {
        if c.try_wait().unwrap().is_some() {
            return c.wait_with_output().unwrap();
        }
        if t0.elapsed() > LIMIT {
            let _ = c.kill();
            let o = c.wait_with_output().unwrap();
            panic!(
                "process did not finish; stderr: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A spcat PULL listening (`-v`: it says when it listens) for one message;
/// returns once it listens.
struct Rx {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

fn listening(args: &[&str]) -> Rx {
    let mut all = vec!["--pull0", "-v", "--count", "1", "--format", "raw"];
    all.extend_from_slice(args);
    let mut child = spawn(SPCAT, &all);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("Listening at:"), "spcat said {line:?}");
    Rx { child, out }
}

impl Rx {
    fn received(mut self) -> Vec<u8> {
        let o = finish(self.child);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut v = Vec::new();
        self.out.read_to_end(&mut v).unwrap();
        v
    }
}

fn push(url: &str, extra: &[&str]) -> Output {
    let mut args = vec!["--push0", "--dial", url, "-D", "hello tls"];
    args.extend_from_slice(extra);
    finish(spawn(SPCAT, &args))
}

#[test]
fn spcat_to_spcat_over_tls_tcp_and_wss() {
    let f = files();
    for scheme in ["tls+tcp", "wss"] {
        let u = url(scheme);
        let rx = listening(&["--listen", &u, "--cert", &f.server, "--key", &f.server_key]);
        let o = push(&u, &["--cacert", &f.ca]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(rx.received(), b"hello tls", "{scheme}");
    }
}

#[test]
fn a_listener_given_cacert_requires_a_client_certificate() {
    let f = files();
    for scheme in ["tls+tcp", "wss"] {
        let u = url(scheme);
        let rx = listening(&[
            "--listen",
            &u,
            "--cert",
            &f.server,
            "--key",
            &f.server_key,
            "--cacert",
            &f.ca,
        ]);
        let o = push(&u, &["--cacert", &f.ca]);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("refused our certificate"), "{scheme}: {err}");
        // -E with the certificate and key in one file.
        let o = push(&u, &["--cacert", &f.ca, "-E", &f.client_both]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(rx.received(), b"hello tls");
    }
}

#[test]
fn insecure_takes_any_server_and_no_ca_refuses() {
    let f = files();
    let u = url("tls+tcp");
    let rx = listening(&["--listen", &u, "--cert", &f.server, "--key", &f.server_key]);
    // nng's default for a dialer: the server must verify; no CA, no trust.
    let o = push(&u, &["--cert", &f.client, "--key", &f.client_key]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not signed by a trusted CA"), "{err}");
    let o = push(&u, &["-k"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(rx.received(), b"hello tls");
    // Bad files are named.
    let o = push(&u, &["--cacert", "/nonexistent/ca.pem"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("Unable to read CA file"));
    let o = push(&u, &["--key", &f.client_key]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--key requires --cert"));
}

fn have_nngcat() -> bool {
    let ok = Command::new("nngcat")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        assert!(
            std::env::var_os("NANOSP_REQUIRE_PEERS").is_none(),
            "nngcat is required (NANOSP_REQUIRE_PEERS is set)"
        );
        eprintln!("nngcat not installed: skipping (apt-get install nng-utils)");
    }
    ok
}

#[test]
fn spcat_and_nngcat_over_tls_both_ways() {
    if !have_nngcat() {
        return;
    }
    let f = files();
    for scheme in ["tls+tcp", "wss"] {
        // nngcat dials spcat (which requires nngcat's client certificate).
        let u = url(scheme);
        let rx = listening(&[
            "--listen",
            &u,
            "--cert",
            &f.server,
            "--key",
            &f.server_key,
            "--cacert",
            &f.ca,
        ]);
        let args = [
            "--push0",
            "--dial",
            &u,
            "--cacert",
            &f.ca,
            "--cert",
            &f.client,
            "--key",
            &f.client_key,
            "-D",
            "from nngcat",
        ];
        let o = finish(spawn("nngcat", &args));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(rx.received(), b"from nngcat", "{scheme}");

        // spcat dials nngcat.
        let u = url(scheme);
        let rx = spawn(
            "nngcat",
            &[
                "--pull0",
                "--listen",
                &u,
                "--cert",
                &f.server,
                "--key",
                &f.server_key,
                "--count",
                "1",
                "--raw",
            ],
        );
        let o = push(&u, &["--async", "--cacert", &f.ca]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let o = finish(rx);
        assert_eq!(o.stdout, b"hello tls", "{scheme}");
    }
}
