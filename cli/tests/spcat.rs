//! spcat against nngcat: the same command lines give the same output bytes,
//! and the two talk to each other over tcp, ipc and ws. Skipped (with a
//! note) when nngcat is not installed; CI installs it.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const SPCAT: &str = env!("CARGO_BIN_EXE_spcat");
const LIMIT: Duration = Duration::from_secs(15);

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

fn tmpdir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "spcat-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn url(kind: &str) -> String {
    match kind {
        "tcp" => format!("tcp://127.0.0.1:{}", free_port()),
        "ws" => format!("ws://127.0.0.1:{}/cat", free_port()),
        "ipc" => format!("ipc://{}/cat.ipc", tmpdir().display()),
        _ => unreachable!(),
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

fn binary_file() -> (PathBuf, Vec<u8>) {
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 13 % 256) as u8).collect();
    let p = tmpdir().join("data.bin");
    std::fs::write(&p, &data).unwrap();
    (p, data)
}

/// A receiver (`rx_prog`) with `fmt` listening; nngcat or spcat pushes a
/// binary file and a text message to it. Returns the receiver's stdout.
fn received(rx_prog: &str, tx_prog: &str, kind: &str, fmt: &str) -> Vec<u8> {
    let u = url(kind);
    let (file, _) = binary_file();
    let rx = spawn(
        rx_prog,
        &["--pull0", "--listen", &u, "--format", fmt, "--count", "2"],
    );
    let f = file.to_str().unwrap();
    let t1 = spawn(tx_prog, &["--push0", "--async", "--dial", &u, "--file", f]);
    let o1 = finish(t1);
    assert!(
        o1.status.success(),
        "{}",
        String::from_utf8_lossy(&o1.stderr)
    );
    let t2 = spawn(
        tx_prog,
        &["--push0", "--async", "--dial", &u, "-D", "hi \"there\"\n"],
    );
    let o = finish(rx);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = finish(t2);
    o.stdout
}

#[test]
fn output_formats_are_nngcats_byte_for_byte() {
    if !have_nngcat() {
        return;
    }
    for fmt in ["ascii", "quoted", "hex", "msgpack", "raw", "no"] {
        let theirs = received("nngcat", "nngcat", "ipc", fmt);
        let ours = received(SPCAT, "nngcat", "ipc", fmt);
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "--format {fmt}"
        );
        assert_eq!(ours, theirs, "--format {fmt}");
    }
}

#[test]
fn spcat_and_nngcat_push_pull_over_every_transport() {
    if !have_nngcat() {
        return;
    }
    for kind in ["tcp", "ipc", "ws"] {
        let a = received(SPCAT, "nngcat", kind, "msgpack");
        let b = received("nngcat", SPCAT, kind, "msgpack");
        let c = received(SPCAT, SPCAT, kind, "msgpack");
        assert_eq!(a, b, "{kind}");
        assert_eq!(a, c, "{kind}");
        let (_, data) = binary_file();
        assert_eq!(&a[..3], b"\xc5\x0b\xb8", "{kind}");
        assert_eq!(&a[3..3 + data.len()], &data[..], "{kind}");
    }
}

#[test]
fn pair_and_pubsub_with_nngcat() {
    if !have_nngcat() {
        return;
    }
    for kind in ["tcp", "ipc", "ws"] {
        // spcat PAIR1 listens and answers nothing; nngcat sends once.
        let u = url(kind);
        let rx = spawn(SPCAT, &["--pair", "--listen", &u, "--hex", "--count", "1"]);
        let mut tx = spawn(
            "nngcat",
            &["--pair1", "--async", "--dial", &u, "-D", "a\x01b"],
        );
        let o = finish(rx);
        assert_eq!(o.stdout, b"\"\\x61\\x01\\x62\"\n", "{kind}");
        let _ = tx.kill(); // it goes on receiving
        let _ = tx.wait();

        // nngcat SUB listens with a topic; spcat PUB sends matching and not.
        let u = url(kind);
        let rx = spawn(
            "nngcat",
            &[
                "--sub",
                "--listen",
                &u,
                "--subscribe",
                "yes",
                "-Q",
                "--count",
                "1",
            ],
        );
        // Repeat every second until the subscriber is there (PUB drops
        // messages sent while nobody listens, as in nng).
        let mut tx1 = spawn(
            SPCAT,
            &["--pub", "--async", "--dial", &u, "-D", "no", "-i", "1"],
        );
        let mut tx2 = spawn(
            SPCAT,
            &["--pub", "--async", "--dial", &u, "-D", "yes!", "-i", "1"],
        );
        let o = finish(rx);
        let _ = tx1.kill();
        let _ = tx2.kill();
        let _ = tx1.wait();
        let _ = tx2.wait();
        assert_eq!(o.stdout, b"\"yes!\"\n", "{kind}");
    }
}

#[test]
fn verbose_prints_the_real_address() {
    let c = spawn(
        SPCAT,
        &[
            "--pull",
            "--listen",
            "tcp://127.0.0.1:0",
            "-v",
            "--recv-timeout",
            "1",
        ],
    );
    let o = finish(c);
    assert!(o.status.success());
    let s = String::from_utf8(o.stdout).unwrap();
    assert!(s.starts_with("Listening at: tcp://127.0.0.1:"), "{s}");
    assert!(!s.contains(":0\n"), "{s}");
}

#[test]
fn bad_command_lines_fail_clearly() {
    for (args, msg) in [
        (&["--pull0"][..], "No address specified."),
        (
            &["--pull0", "--push0", "--dial", "tcp://h:1"][..],
            "Only one protocol",
        ),
        (
            &["--push0", "--dial", "tcp://127.0.0.1:1"][..],
            "requires either --file or --data",
        ),
        (
            &["--pull0", "--dial", "tcp://127.0.0.1:1", "-D", "x"][..],
            "does not support --file",
        ),
        (
            &["--pull0", "--dial", "tcp://h:1", "--format", "zz"][..],
            "Invalid format",
        ),
        (
            &["--pull0", "--dial", "tcp://h:1", "--hex", "--raw"][..],
            "only once",
        ),
        (
            &["--pull0", "--dial", "tcp://h:1", "--count", "x"][..],
            "Integer argument expected",
        ),
        (&["--pull0", "--nonsense"][..], "unexpected argument"),
        (
            &["--pull0", "--dial", "tcp://127.0.0.1:1"][..],
            "Connection refused",
        ),
        (
            &["--pull0", "--dial", "nope://x"][..],
            "Unable to dial on nope://x",
        ),
    ] {
        let o = Command::new(SPCAT).args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains(msg), "{args:?}: {e}");
    }
    let o = Command::new(SPCAT).arg("--help").output().unwrap();
    assert!(o.status.success());
    let h = String::from_utf8_lossy(&o.stdout);
    for f in [
        "--req0",
        "--bind-ipc",
        "--msgpack",
        "--recv-maxsz",
        "--connect-local",
    ] {
        assert!(h.contains(f), "help lacks {f}");
    }
    // Unambiguous prefixes work as in nngcat.
    let o = Command::new(SPCAT)
        .args(["--pul", "--lis", "tcp://127.0.0.1:0", "--recv-t", "1"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Kills the child when dropped, so a failed assertion leaves no peer behind.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (bounded) until `ready` holds.
fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !ready() {
        assert!(t0.elapsed() < LIMIT, "{what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// nngcat answering every request (survey) with "pong", listening on IPC in
/// a fresh folder; returned once it completes an SP handshake, so that a
/// dial connects at once (a survey sent before that would reach nobody).
fn pong_peer(proto: &str) -> (Peer, String) {
    use std::io::{Read, Write};
    // The protocol number the probe announces: the peer of `proto`.
    let probe: u8 = match proto {
        "--rep0" => 0x30,        // req0
        "--respondent0" => 0x62, // surveyor0
        _ => unreachable!(),
    };
    let path = tmpdir().join("pong.ipc");
    let u = format!("ipc://{}", path.display());
    let peer = Peer(spawn("nngcat", &[proto, "--listen", &u, "--data", "pong"]));
    // A complete handshake, not a bare connect: nngcat 1.5.2 stops serving
    // its IPC listener after a connection that closes before the handshake.
    wait_until("nngcat did not listen", || {
        let Ok(mut c) = std::os::unix::net::UnixStream::connect(&path) else {
            return false;
        };
        let _ = c.set_read_timeout(Some(LIMIT));
        let mut theirs = [0u8; 8];
        c.write_all(&[0, b'S', b'P', 0, 0, probe, 0, 0]).is_ok()
            && c.read_exact(&mut theirs).is_ok()
            && theirs[..4] == [0, b'S', b'P', 0]
    });
    (peer, u)
}

/// Runs a requester (`prog`: spcat or nngcat) against `url`; its output.
fn ask(prog: &str, proto: &str, url: &str, extra: &[&str]) -> Output {
    let mut args = vec![proto, "--dial", url, "--data", "ping", "--quoted"];
    args.extend_from_slice(extra);
    finish(spawn(prog, &args))
}

fn pongs(o: &Output) -> usize {
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.lines().all(|l| l == "\"pong\""),
        "stdout {s:?}, stderr {}",
        String::from_utf8_lossy(&o.stderr)
    );
    s.lines().count()
}

/// Issue 12: with `--count N` the Nth request's reply was never awaited
/// (`--count 1` printed nothing). `--count` counts requests; each one's reply
/// is printed, the last one's awaited.
#[test]
fn req_count_prints_every_reply() {
    if !have_nngcat() {
        return;
    }
    let (_rep, u) = pong_peer("--rep0");
    for (extra, want) in [
        (&["--count", "1"][..], 1),
        (&["--count", "3"][..], 3),
        (&["--count", "3", "--interval", "1"][..], 3),
    ] {
        let o = ask(SPCAT, "--req0", &u, extra);
        assert_eq!(o.status.code(), Some(0), "{extra:?}: {o:?}");
        assert_eq!(pongs(&o), want, "{extra:?}");
        assert!(o.stderr.is_empty(), "{extra:?}: {o:?}");
    }
    // With an interval nngcat receives for the whole interval after each
    // request, the last one included: the same output.
    let extra = ["--count", "3", "--interval", "1"];
    let theirs = ask("nngcat", "--req0", &u, &extra);
    let ours = ask(SPCAT, "--req0", &u, &extra);
    assert_eq!(ours.stdout, theirs.stdout);
    // Back to back: each request abandons the one before (REQ keeps one),
    // so how many earlier replies make it depends on timing; the last is
    // awaited. The zero-length receive windows time out, and the receive
    // after that must not fail (it did: "Cannot receive: Operation
    // canceled", exit 1).
    for _ in 0..3 {
        let o = ask(SPCAT, "--req0", &u, &["--count", "3", "--interval", "0"]);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        assert!(o.stderr.is_empty(), "{o:?}");
        assert!((1..=3).contains(&pongs(&o)), "{o:?}");
    }
}

/// The same for SURVEYOR: `--count` counts surveys, and each one collects
/// until the survey time (1 s) is over, so the later surveys follow
/// receives that timed out.
#[test]
fn surveyor_count_prints_every_survey() {
    if !have_nngcat() {
        return;
    }
    let (_resp, u) = pong_peer("--respondent0");
    for (extra, want) in [(&["--count", "1"][..], 1), (&["--count", "2"][..], 2)] {
        let o = ask(SPCAT, "--surveyor0", &u, extra);
        assert_eq!(o.status.code(), Some(0), "{extra:?}: {o:?}");
        assert!(o.stderr.is_empty(), "{extra:?}: {o:?}");
        assert_eq!(pongs(&o), want, "{extra:?}");
    }
    let o = ask(
        SPCAT,
        "--surveyor0",
        &u,
        &["--count", "3", "--interval", "0"],
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(o.stderr.is_empty(), "{o:?}");
    assert!((1..=3).contains(&pongs(&o)), "{o:?}");
}

/// Issue 12: `--version`, ambiguous prefixes and a missing IPC directory,
/// worded as nngcat words them (its messages where it has them).
#[test]
fn version_ambiguity_and_missing_ipc_paths() {
    let run = |args: &[&str]| Command::new(SPCAT).args(args).output().unwrap();
    for v in ["--version", "-V", "--vers"] {
        let o = run(&[v]);
        assert!(o.status.success(), "{v}: {o:?}");
        // nngcat prints its library's version number alone: "1.5.2\n".
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            format!("{}\n", env!("CARGO_PKG_VERSION")),
            "{v}"
        );
    }

    // --re: --req, --rep, --recv-timeout, --recv-maxsz, --respondent...;
    // --ver: --verbose, --version; --pai: --pair, --pair0, --pair1.
    for prefix in ["--re", "--ver", "--pai"] {
        let args = [prefix, "--dial", "tcp://127.0.0.1:1"];
        let o = run(&args);
        assert_eq!(o.status.code(), Some(1), "{prefix}");
        let want = format!("Option {prefix} is ambiguous (specify in full).\n");
        assert_eq!(String::from_utf8_lossy(&o.stderr), want);
        if have_nngcat() {
            let n = Command::new("nngcat").args(args).output().unwrap();
            assert_eq!(n.status.code(), Some(1), "{prefix}");
            assert_eq!(String::from_utf8_lossy(&n.stderr), want, "nngcat");
        }
    }

    // nngcat: "Unable to listen on URL: Entry not found" and "Unable to
    // dial on URL: Connection refused"; spcat adds what is missing.
    let dir = tmpdir().join("no").join("such");
    let u = format!("ipc://{}/x.ipc", dir.display());
    for (verb, head) in [
        ("--listen", "Unable to listen on"),
        ("--dial", "Unable to dial on"),
    ] {
        let o = run(&["--pull0", verb, &u]);
        assert_eq!(o.status.code(), Some(1), "{verb}");
        let e = String::from_utf8_lossy(&o.stderr);
        let nng = if verb == "--dial" {
            "Connection refused"
        } else {
            "Entry not found"
        };
        assert_eq!(
            e,
            format!("{head} {u}: {nng} (no such directory: {})\n", dir.display()),
            "{verb}"
        );
    }
    // The folder is there, the socket file is not.
    let f = tmpdir().join("x.ipc");
    let u = format!("ipc://{}", f.display());
    let o = run(&["--pull0", "--dial", &u]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        e,
        format!(
            "Unable to dial on {u}: Connection refused (no such file: {})\n",
            f.display()
        )
    );
}

#[test]
fn verbose_prints_why_a_connection_closed() {
    // A listener whose receive limit the sender's message exceeds: the
    // connection is closed for it, and -v says so (on stderr).
    let u = url("tcp");
    let l = spawn(
        SPCAT,
        &[
            "--pull0",
            "--listen",
            &u,
            "-v",
            "--recv-maxsz",
            "10",
            "--recv-timeout",
            "2",
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    let big = "x".repeat(100);
    let p = spawn(SPCAT, &["--push0", "--dial", &u, "--data", &big]);
    let _ = finish(p);
    let o = finish(l);
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(
        err.contains(&format!("Disconnected: {u} (Message too long: 100 bytes")),
        "{err}"
    );
    // Data on stdout is untouched by it.
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.starts_with("Listening at: "), "{out}");
    assert!(!out.contains("Disconnected"), "{out}");
}
