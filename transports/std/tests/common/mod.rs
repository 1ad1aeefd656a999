//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nanosp::{Protocol, Socket};

/// Safety net for every wait: generous, never a synchronisation device.
pub const LIMIT: Duration = Duration::from_secs(10);

/// Polls `f` until it is true; panics after [`LIMIT`].
pub async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < LIMIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Blocking variant of [`until`].
pub fn until_blocking(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `body` as one SP frame over tcp or ipc (8-byte length, then the body).
pub fn sp_frame(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u64).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// A fresh temporary directory for IPC socket files.
pub fn tmpdir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "nanosp-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A unique listen URL of each transport kind, port 0 where there is a port.
pub fn listen_url(kind: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    match kind {
        "tcp" => "tcp://127.0.0.1:0".into(),
        "ipc" => format!("ipc://{}/s.ipc", tmpdir().display()),
        "abstract" => format!("abstract://nanosp-test-{}-{n}", std::process::id()),
        "ws" => format!("ws://127.0.0.1:0/sp{n}"),
        "inproc" => format!("inproc://test-{n}"),
        _ => unreachable!(),
    }
}

/// The transports every test matrix covers.
pub const KINDS: [&str; 5] = ["tcp", "ipc", "abstract", "ws", "inproc"];

/// Socket pairs of the core's protocols: (sender, receiver). PAIR pairs
/// also send the other way.
pub fn pairs() -> Vec<(Protocol, Protocol)> {
    vec![
        (Protocol::Pair0, Protocol::Pair0),
        (Protocol::Pair1, Protocol::Pair1),
        (Protocol::Push0, Protocol::Pull0),
        (Protocol::Pub0, Protocol::Sub0),
    ]
}

/// Waits until `s` has at least `n` pipes.
pub async fn pipes(s: &Socket, n: usize) {
    until("pipes", || s.pipes().len() >= n).await;
}

/// A free TCP port on loopback for a peer that cannot report its own (nngcat
/// listening): bind port 0, read it, release it.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Bytes 0..=255 repeated, with zero bytes in them.
pub fn binary(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 256) as u8).collect()
}

/// Whether a peer program runs (`cmd args…` starts; with `must_succeed`,
/// also exits 0). A missing peer skips the test with a loud line, or fails
/// it when `NANOSP_REQUIRE_PEERS` is set (CI sets it).
pub fn have_peer(cmd: &str, args: &[&str], must_succeed: bool, hint: &str) -> bool {
    let ok = std::process::Command::new(cmd)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| !must_succeed || s.success());
    if !ok {
        assert!(
            std::env::var_os("NANOSP_REQUIRE_PEERS").is_none(),
            "{cmd} {} is required (NANOSP_REQUIRE_PEERS is set)",
            args.join(" ")
        );
        eprintln!("SKIPPED: {cmd} not usable ({hint})");
    }
    ok
}

/// nng's nngcat (Debian `nng-utils`). Its `--help` exits 1 and 1.5 has no
/// `--version`: any exit that ran will do.
pub fn have_nngcat() -> bool {
    have_peer("nngcat", &["--help"], false, "apt-get install nng-utils")
}

/// pynng (PyPI), importable by `python3`.
pub fn have_pynng() -> bool {
    have_peer(
        "python3",
        &["-c", "import pynng"],
        true,
        "pip install pynng",
    )
}
