//! `spcat`: nngcat's command line on nanosp. Any nngcat invocation works with
//! `spcat` put in its place: the same flags (long names may be shortened to
//! any unambiguous prefix), the same output formats byte for byte, the same
//! loops per protocol, exit status 1 with a message on bad arguments.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::process::exit;
use std::time::{Duration, Instant};

use clap::{Arg, ArgAction, ArgMatches, Command};
use nanosp::blocking::Socket;
use nanosp::{Error, Message, PipeEvent, Protocol, SockOpt, TlsAuthMode, TlsConfig};
use nanosp_cli::{addr_strerror, strerror, Format, Role, PROTOCOLS};

fn fatal(msg: impl std::fmt::Display) -> ! {
    eprintln!("{msg}");
    exit(1)
}

const AFTER_HELP: &str = "\
Usage is nngcat's: spcat <proto> <addr>... [<fmt>] [<opts>...] [<src>]

Receivers (--pull, --sub, --rep/--respondent without data, --pair/--bus without
data) print each message in the chosen format until --count messages or until
--recv-timeout passes with nothing. Senders (--push, --pub) send the data once,
--count times, or every --interval seconds. --req/--surveyor (and --pair/--bus
with data) send, then print what comes back: once, or --count times, each send
after the previous reply (survey) or every --interval seconds; the last reply is
always awaited. --rep/--respondent with data answer every request with it. Formats: no (default, print nothing), ascii (unprintable
bytes as '.'), quoted (C string + newline), hex (\"\\x..\" + newline), msgpack (bin
header + bytes), raw (bytes as they are). Times are whole seconds.
URLs: tcp://host:port, tcp://*:port, ipc:///path, abstract://name, ws://host:port/path, inproc://name.";

fn command() -> Command {
    let flag = |name: &'static str| Arg::new(name).long(name).action(ArgAction::SetTrue);
    let value = |name: &'static str, v: &'static str| {
        Arg::new(name)
            .long(name)
            .value_name(v)
            .action(ArgAction::Append)
            .value_parser(clap::value_parser!(OsString))
            .allow_hyphen_values(true)
    };
    let mut c = Command::new("spcat")
        .about("Send and receive Scalability Protocols messages (an nngcat work-alike)")
        .version(env!("CARGO_PKG_VERSION"))
        .infer_long_args(true)
        .disable_version_flag(true)
        .after_help(AFTER_HELP);
    for p in PROTOCOLS {
        let mut a = flag(p.flag)
            .help_heading("Protocol (exactly one)")
            .help(match p.flag {
                "pair" => "PAIR v1 (v0 with --compat)".to_string(),
                "star" => "STAR (mangos)".to_string(),
                _ => format!("{} socket", p.protocol.name().to_uppercase()),
            });
        if let Some(al) = p.alias {
            a = a.visible_alias(al);
        }
        c = c.arg(a);
    }
    let addr = "Addresses (one or more, in order)";
    c = c
        .arg(
            value("dial", "URL")
                .visible_alias("connect")
                .help_heading(addr)
                .help("dial URL"),
        )
        .arg(
            value("listen", "URL")
                .visible_alias("bind")
                .help_heading(addr)
                .help("listen on URL"),
        )
        .arg(
            value("bind-local", "PORT")
                .short('L')
                .help_heading(addr)
                .help("listen on tcp://127.0.0.1:PORT"),
        )
        .arg(
            value("connect-local", "PORT")
                .short('l')
                .help_heading(addr)
                .help("dial tcp://127.0.0.1:PORT"),
        )
        .arg(
            value("bind-ipc", "PATH")
                .short('X')
                .help_heading(addr)
                .help("listen on ipc:///PATH"),
        )
        .arg(
            value("connect-ipc", "PATH")
                .short('x')
                .help_heading(addr)
                .help("dial ipc:///PATH"),
        );
    let fmt = "Output format (at most one)";
    c = c
        .arg(
            value("format", "no|ascii|hex|msgpack|quoted|raw")
                .help_heading(fmt)
                .help("output format"),
        )
        .arg(
            flag("ascii")
                .short('A')
                .help_heading(fmt)
                .help("--format ascii"),
        )
        .arg(
            flag("quoted")
                .short('Q')
                .help_heading(fmt)
                .help("--format quoted"),
        )
        .arg(flag("hex").help_heading(fmt).help("--format hex"))
        .arg(flag("msgpack").help_heading(fmt).help("--format msgpack"))
        .arg(flag("raw").help_heading(fmt).help("--format raw"));
    c = c.arg(
        flag("version")
            .short('V')
            .help("print the version and exit (as nngcat)"),
    );
    c.arg(value("subscribe", "TOPIC").help("SUB: subscribe to TOPIC (default: everything)"))
        .arg(flag("silent").short('q').help("print no status messages"))
        .arg(flag("verbose").short('v').help(
            "print \"Connected to\"/\"Listening at\" lines, and why each connection \
                     closed (\"Disconnected: URL (reason)\", on stderr)",
        ))
        .arg(
            value("count", "NUM")
                .short('C')
                .help("stop after NUM messages (or iterations)"),
        )
        .arg(
            value("delay", "SECS")
                .short('d')
                .help("wait SECS before the first send"),
        )
        .arg(
            value("interval", "SECS")
                .short('i')
                .help("send again every SECS"),
        )
        .arg(value("recv-timeout", "SECS").help("give up receiving after SECS"))
        .arg(value("send-timeout", "SECS").help("give up sending after SECS"))
        .arg(
            value("recv-maxsz", "SIZE")
                .short('Z')
                .help("largest message accepted, bytes (0 = no limit)"),
        )
        .arg(flag("compat").help("nanocat compatibility: --pair is PAIR v0, dials do not fail"))
        .arg(flag("async").help("dial in the background, retrying until the peer is there"))
        .arg(
            flag("insecure")
                .short('k')
                .help("TLS: do not verify the peer's certificate"),
        )
        .arg(value("cacert", "FILE").help(
            "TLS: trust the CA certificates of PEM FILE; a listener given it \
             requires and verifies client certificates",
        ))
        .arg(
            value("cert", "FILE")
                .short('E')
                .help("TLS: our certificate (PEM; with its key unless --key)"),
        )
        .arg(value("key", "FILE").help("TLS: the private key of --cert (PEM)"))
        .arg(value("zt-home", "PATH").help("ZeroTier: not supported"))
        .arg(
            value("file", "FILE")
                .short('F')
                .help("send the contents of FILE (- = standard input)"),
        )
        .arg(value("data", "DATA").short('D').help("send DATA"))
}

/// The TLS configuration of `--cacert`, `--cert`, `--key` and `--insecure`
/// (nngcat's meanings), for every dialer and listener; `None` without them.
/// One step past nngcat: a listener given `--cacert` requires a client
/// certificate signed by it (nngcat 1.5 loads the CA but never asks).
fn tls_config(m: &ArgMatches) -> Option<TlsConfig> {
    let path = |id: &str| once(m, id, id);
    let (ca, cert, key) = (path("cacert"), path("cert"), path("key"));
    let insecure = m.get_flag("insecure");
    if ca.is_none() && cert.is_none() && key.is_none() && !insecure {
        return None;
    }
    let read = |what: &str, f: &OsString| {
        std::fs::read(f).unwrap_or_else(|e| {
            fatal(format!(
                "Unable to read {what} {}: {e}",
                f.to_string_lossy()
            ))
        })
    };
    let mut c = TlsConfig::new();
    if let Some(f) = &ca {
        c = c
            .with_ca_pem(&read("CA file", f))
            .unwrap_or_else(|e| fatal(format!("Unable to load CA file: {}", strerror(&e))));
    }
    match (&cert, &key) {
        (Some(cf), k) => {
            let cert = read("certificate", cf);
            let key = k
                .as_ref()
                .map(|k| read("key", k))
                .unwrap_or_else(|| cert.clone());
            c = c.with_cert_and_key_pem(&cert, &key).unwrap_or_else(|e| {
                fatal(format!("Unable to load certificate/key: {}", strerror(&e)))
            });
        }
        (None, Some(_)) => fatal("Option --key requires --cert."),
        (None, None) => {}
    }
    if insecure {
        c = c.with_auth_mode(TlsAuthMode::None);
    } else if ca.is_some() {
        c = c.with_auth_mode(TlsAuthMode::Required);
    }
    Some(c)
}

/// One value of an argument given at most once.
fn once(m: &ArgMatches, id: &str, what: &str) -> Option<OsString> {
    let mut v: Vec<OsString> = m.get_many::<OsString>(id)?.cloned().collect();
    if v.len() > 1 {
        fatal(format!("{what} may be specified only once."));
    }
    v.pop()
}

/// nngcat's integer arguments: digits only, bounded.
fn intarg(v: &OsString, max: u64) -> u64 {
    let s = v.to_string_lossy();
    if s.is_empty() {
        fatal("Empty integer argument.");
    }
    let mut n: u64 = 0;
    for c in s.chars() {
        let d = c
            .to_digit(10)
            .unwrap_or_else(|| fatal("Integer argument expected."));
        n = n * 10 + d as u64;
        if n > max {
            fatal("Integer argument too large.");
        }
    }
    n
}

struct Run {
    sock: Socket,
    format: Format,
    count: Option<u64>,
    delay: Option<Duration>,
    interval: Option<Duration>,
    recv_timeout: Option<Duration>,
    data: Option<Vec<u8>>,
    out: std::io::Stdout,
}

impl Run {
    fn print(&mut self, m: &Message) {
        let mut o = self.out.lock();
        if self
            .format
            .write(&mut o, m.body())
            .and_then(|_| o.flush())
            .is_err()
        {
            exit(0); // stdout closed (e.g. `| head`): nothing left to do
        }
    }

    fn msg(&self) -> Message {
        Message::from(self.data.as_deref().unwrap_or_default())
    }

    fn send(&self) {
        if let Err(e) = self.sock.send(self.msg()) {
            fatal(format!("Send error: {}", strerror(&e.error)));
        }
    }

    fn recv_loop(&mut self) {
        let mut n = 0;
        loop {
            match self.sock.recv() {
                Ok(m) => {
                    self.print(&m);
                    n += 1;
                    if self.count.is_some_and(|c| n >= c) {
                        return;
                    }
                }
                Err(Error::TimedOut | Error::ProtocolState) => return,
                Err(e) => fatal(format!("Receive error: {}", strerror(&e))),
            }
        }
    }

    fn reply_loop(&mut self) {
        let mut n = 0;
        loop {
            match self.sock.recv() {
                Ok(m) => {
                    self.print(&m);
                    self.send();
                    n += 1;
                    if self.count.is_some_and(|c| n >= c) {
                        return;
                    }
                }
                Err(Error::TimedOut) => return,
                Err(e) => fatal(format!("Receive error: {}", strerror(&e))),
            }
        }
    }

    fn send_loop(&mut self) {
        if let Some(d) = self.delay {
            std::thread::sleep(d);
        }
        let mut n = 0;
        loop {
            let start = Instant::now();
            self.send();
            n += 1;
            if self.count.is_some_and(|c| n >= c) {
                return;
            }
            match self.interval {
                Some(iv) => std::thread::sleep(iv.saturating_sub(start.elapsed())),
                None if self.count.is_some() => {}
                None => return,
            }
        }
    }

    /// REQ, SURVEYOR (and PAIR, BUS with data): send, then print what comes
    /// back. With `--interval`, what comes back before the next send is due;
    /// without it, everything until the reply or survey is complete (REQ's
    /// next receive is a protocol-state error, a survey times out) or
    /// `--recv-timeout` passes. `--count` counts sends, and the last send's
    /// replies are always awaited that way: there is no next send to make
    /// way for (nngcat 1.5 stops after the last interval instead, and fails
    /// with `--count` and no `--interval`).
    fn send_recv(&mut self) {
        if let Some(d) = self.delay {
            std::thread::sleep(d);
        }
        let mut n = 0;
        loop {
            let start = Instant::now();
            self.send();
            n += 1;
            let last = match self.count {
                Some(c) => n >= c,
                None => self.interval.is_none(),
            };
            match self.interval.filter(|_| !last) {
                Some(iv) => {
                    self.recv_until(Some(start + iv));
                    std::thread::sleep(iv.saturating_sub(start.elapsed()));
                }
                None => self.recv_until(None),
            }
            if last {
                return;
            }
        }
    }

    /// Receives and prints until `deadline` (if any), `--recv-timeout`, or
    /// the end of the exchange (a protocol-state error).
    fn recv_until(&mut self, deadline: Option<Instant>) {
        let single = self.count.is_none() && self.interval.is_none();
        loop {
            let t = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    Some(self.recv_timeout.map_or(left, |r| r.min(left)))
                }
                None => self.recv_timeout.filter(|t| !t.is_zero()),
            };
            let _ = self.sock.set_opt(SockOpt::RecvTimeout(t));
            match self.sock.recv() {
                Ok(m) => self.print(&m),
                Err(Error::TimedOut | Error::ProtocolState) => return,
                // nngcat's two wordings: its plain receive loop, then the
                // loop it uses with --count or --interval.
                Err(e) if single => fatal(format!("Receive error: {}", strerror(&e))),
                Err(e) => fatal(format!("Cannot receive: {}", strerror(&e))),
            }
        }
    }

    /// Lets what was sent last be written before the process exits: the
    /// socket lingers (up to 2 s, for a peer that stopped reading) until its
    /// queues are written, then closes.
    fn linger(&self) {
        if self.sock.stats().msgs_out > 0 {
            let _ = self.sock.set_opt(SockOpt::Linger(Duration::from_secs(2)));
        }
        self.sock.close();
    }
}

/// nngcat's message for a long option given as a prefix of several
/// (`--re`: `--req`, `--rep`, `--recv-timeout`, ...), which clap reports as
/// an unknown argument.
fn ambiguous(cmd: &Command, e: &clap::Error) -> Option<String> {
    if e.kind() != clap::error::ErrorKind::UnknownArgument {
        return None;
    }
    let Some(clap::error::ContextValue::String(given)) =
        e.get(clap::error::ContextKind::InvalidArg)
    else {
        return None;
    };
    let prefix = given.strip_prefix("--")?.split('=').next()?;
    let matching = cmd
        .get_arguments()
        .filter(|a| {
            a.get_long()
                .into_iter()
                .chain(a.get_all_aliases().unwrap_or_default())
                .any(|n| n.starts_with(prefix))
        })
        .count();
    (!prefix.is_empty() && matching > 1)
        .then(|| format!("Option {given} is ambiguous (specify in full)."))
}

fn main() {
    let cmd = command();
    let m = match cmd.clone().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            if let Some(msg) = ambiguous(&cmd, &e) {
                fatal(msg);
            }
            let _ = e.print();
            exit(match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 1,
            });
        }
    };

    if m.get_flag("version") {
        // nngcat prints its library's version number, alone.
        println!("{}", env!("CARGO_PKG_VERSION"));
        exit(0);
    }

    // Protocol: exactly one.
    let given: Vec<_> = PROTOCOLS.iter().filter(|p| m.get_flag(p.flag)).collect();
    let p = match given.len() {
        0 => fatal("No protocol specified."),
        1 => given[0],
        _ => fatal("Only one protocol may be specified."),
    };
    let role = p.role;
    let compat = m.get_flag("compat");
    // nngcat's --pair is PAIR v1, or v0 with --compat.
    let proto = if p.flag == "pair" && compat {
        Protocol::Pair0
    } else {
        p.protocol
    };

    // Addresses, in command-line order.
    let mut addrs: Vec<(usize, bool, String)> = Vec::new();
    for (id, dial) in [
        ("dial", true),
        ("listen", false),
        ("connect-local", true),
        ("bind-local", false),
        ("connect-ipc", true),
        ("bind-ipc", false),
    ] {
        if let (Some(vals), Some(idx)) = (m.get_many::<OsString>(id), m.indices_of(id)) {
            for (v, i) in vals.zip(idx) {
                let v = v.to_string_lossy();
                let url = match id {
                    "connect-local" | "bind-local" => {
                        format!("tcp://127.0.0.1:{}", intarg(&OsString::from(&*v), 65535))
                    }
                    "connect-ipc" | "bind-ipc" => format!("ipc:///{v}"),
                    _ => v.into_owned(),
                };
                addrs.push((i, dial, url));
            }
        }
    }
    addrs.sort_by_key(|a| a.0);
    if addrs.is_empty() {
        fatal("No address specified.");
    }

    // Format.
    let mut formats = Vec::new();
    if let Some(v) = m.get_many::<OsString>("format") {
        for f in v {
            formats.push(
                Format::parse(&f.to_string_lossy())
                    .unwrap_or_else(|| fatal("Invalid format specified.")),
            );
        }
    }
    for (id, f) in [
        ("ascii", Format::Ascii),
        ("quoted", Format::Quoted),
        ("hex", Format::Hex),
        ("msgpack", Format::Msgpack),
        ("raw", Format::Raw),
    ] {
        if m.get_flag(id) {
            formats.push(f);
        }
    }
    if formats.len() > 1 {
        fatal("Format may be specified only once.");
    }
    let format = formats.pop();

    // Data.
    let file = once(&m, "file", "Data (--file, --data)");
    let data_arg = once(&m, "data", "Data (--file, --data)");
    let data = match (file, data_arg) {
        (Some(_), Some(_)) => fatal("Data (--file, --data) may be specified only once."),
        (Some(f), None) => {
            let mut v = Vec::new();
            let r = if f == "-" {
                std::io::stdin().read_to_end(&mut v)
            } else {
                match std::fs::File::open(&f) {
                    Ok(mut h) => h.read_to_end(&mut v),
                    Err(e) => fatal(format!("Cannot open file {}: {e}", f.to_string_lossy())),
                }
            };
            if let Err(e) = r {
                fatal(format!("Read from {} failed: {e}", f.to_string_lossy()));
            }
            Some(v)
        }
        (None, Some(d)) => Some(d.into_encoded_bytes()),
        (None, None) => None,
    };

    let int = |id: &str, max: u64| once(&m, id, id).map(|v| intarg(&v, max));
    let secs = |id: &str| int(id, 86400).map(Duration::from_secs);
    let count = int("count", u32::MAX as u64);
    let delay = secs("delay");
    let interval = secs("interval");
    let recv_timeout = secs("recv-timeout");
    let send_timeout = secs("send-timeout");
    let recv_maxsz = int("recv-maxsz", usize::MAX as u64);
    let topics: Vec<Vec<u8>> = m
        .get_many::<OsString>("subscribe")
        .map(|v| v.map(|t| t.clone().into_encoded_bytes()).collect())
        .unwrap_or_default();

    // Consistency checks, with nngcat's messages.
    if compat && m.get_flag("async") {
        fatal("Options --async and --compat are incompatible.");
    }
    if compat && count.is_some() {
        fatal("Options --count and --compat are incompatible.");
    }
    if compat && proto == Protocol::Pair1 {
        fatal("Protocol does not support --compat.");
    }
    if m.value_source("zt-home") == Some(clap::parser::ValueSource::CommandLine) {
        fatal("ZeroTier options are not supported by spcat.");
    }
    let tls = tls_config(&m);
    if proto != Protocol::Sub0 && !topics.is_empty() {
        fatal("Protocol does not support --subscribe.");
    }
    match role {
        Role::RecvOnly => {
            if data.is_some() {
                fatal("Protocol does not support --file or --data.");
            }
            if interval.is_some() {
                fatal("Protocol does not support --interval.");
            }
        }
        Role::SendOnly | Role::Request => {
            if data.is_none() {
                fatal("Protocol requires either --file or --data.");
            }
            if role == Role::SendOnly && format.is_some() {
                fatal("Protocol does not support --format options.");
            }
        }
        Role::Reply => {
            if interval.is_some() {
                fatal("Protocol does not support --interval.");
            }
        }
        Role::Both => {
            if interval.is_some() && data.is_none() {
                fatal("Option --interval requires either --file or --data.");
            }
        }
    }

    let sock = Socket::new(proto);
    sock.set_tls_config(tls);
    if proto == Protocol::Sub0 {
        let all = [Vec::new()];
        for t in if topics.is_empty() {
            &all[..]
        } else {
            &topics[..]
        } {
            if let Err(e) = sock.subscribe(t) {
                fatal(format!(
                    "Unable to subscribe to topic {}: {}",
                    String::from_utf8_lossy(t),
                    strerror(&e)
                ));
            }
        }
    }
    if let Some(t) = send_timeout.filter(|t| !t.is_zero()) {
        let _ = sock.set_opt(SockOpt::SendTimeout(Some(t)));
    }
    if let Some(t) = recv_timeout.filter(|t| !t.is_zero()) {
        let _ = sock.set_opt(SockOpt::RecvTimeout(Some(t)));
    }
    if let Some(n) = recv_maxsz {
        if let Err(e) = sock.set_opt(SockOpt::RecvMaxSize(n as usize)) {
            fatal(format!("Unable to set max receive size: {}", strerror(&e)));
        }
    }
    let verbose = m.get_flag("verbose") && !m.get_flag("silent");
    if verbose {
        // Why each connection went (the pipe's close reason), on stderr so
        // that received data on stdout stays intact. Pipes that spcat's own
        // exit closes are not reported.
        sock.set_pipe_hook(|ev, p| {
            match p.closed {
                Some(Error::Closed) | None => {}
                Some(why) if ev == PipeEvent::RemPost => {
                    eprintln!("Disconnected: {} ({})", p.url, strerror(&why))
                }
                Some(_) => {}
            }
            true
        });
    }
    let background = compat || m.get_flag("async");
    for (_, dial, url) in &addrs {
        if *dial {
            let r = if background {
                sock.dial_nonblocking(url)
            } else {
                sock.dial(url)
            };
            match r {
                Ok(_) if verbose => println!("Connected to: {url}"),
                Ok(_) => {}
                Err(e) => fatal(format!(
                    "Unable to dial on {url}: {}",
                    addr_strerror(&e, url, true)
                )),
            }
        } else {
            match sock.listen(url) {
                Ok(l) if verbose => println!("Listening at: {}", l.url()),
                Ok(_) => {}
                Err(e) => fatal(format!(
                    "Unable to listen on {url}: {}",
                    addr_strerror(&e, url, false)
                )),
            }
        }
    }

    let mut run = Run {
        sock,
        format: format.unwrap_or(Format::No),
        count,
        delay,
        interval,
        recv_timeout,
        data,
        out: std::io::stdout(),
    };
    match role {
        Role::RecvOnly => run.recv_loop(),
        Role::Reply if run.data.is_some() => run.reply_loop(),
        Role::Reply => run.recv_loop(),
        Role::SendOnly => run.send_loop(),
        Role::Both if run.data.is_some() => run.send_recv(),
        Role::Both => run.recv_loop(),
        Role::Request => run.send_recv(),
    }
    run.linger();
    exit(0);
}
