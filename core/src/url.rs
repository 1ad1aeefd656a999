//! SP URLs: `tcp://`, `ipc://`, `inproc://`, `ws://` and friends (docs/wire.md §2.4).
//!
//! The accepted forms, as nng spells them:
//!
//! | URL | host | port | path |
//! |---|---|---|---|
//! | `tcp://example.com:5555` | `example.com` | 5555 | `""` |
//! | `tcp://*:5555`, `tcp://:5555` (listen on all) | `""` | 5555 | `""` |
//! | `tcp6://[::1]:5555` | `::1` | 5555 | `""` |
//! | `tls+tcp://host:443` | `host` | 443 | `""` |
//! | `ipc:///tmp/sock`, `unix:///tmp/sock` | `""` | 0 | `/tmp/sock` |
//! | `ipc://rel/sock` (relative to the working directory) | `""` | 0 | `rel/sock` |
//! | `abstract://my%00name` (Linux abstract socket) | `""` | 0 | `"my\0name"` |
//! | `inproc://anything at all` | `""` | 0 | `anything at all` |
//! | `ws://host` | `host` | 80 | `/` |
//! | `wss://host:8443/sp?x=1` | `host` | 8443 | `/sp?x=1` |
//!
//! Schemes are matched without regard to ASCII case. TCP-style URLs need a
//! port (0 lets the system pick one when listening) and take no path.
//! WebSocket URLs default the port to 80 (`wss`: 443) and the path to `/`;
//! the query stays in the path because the HTTP request line carries both.
//! Parsing does no name resolution: `host` is whatever was written.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write as _};
use core::str::FromStr;

use crate::frame::Framing;

/// The transport a URL names.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `tcp://host:port`
    Tcp,
    /// `tcp4://` (IPv4 only)
    Tcp4,
    /// `tcp6://` (IPv6 only)
    Tcp6,
    /// `ipc://path`
    Ipc,
    /// `unix://path` (alias of ipc)
    Unix,
    /// `abstract://name` (Linux abstract socket)
    Abstract,
    /// `inproc://name`
    Inproc,
    /// `ws://host[:port][/path]`
    Ws,
    /// `ws4://`
    Ws4,
    /// `ws6://`
    Ws6,
    /// `wss://`
    Wss,
    /// `tls+tcp://`
    TlsTcp,
    /// `tls+tcp4://`
    TlsTcp4,
    /// `tls+tcp6://`
    TlsTcp6,
    /// `wss4://`
    Wss4,
    /// `wss6://`
    Wss6,
}

/// Every scheme with its canonical name (kept equal to `as_str` by a test).
const SCHEMES: [(Scheme, &str); 16] = [
    (Scheme::Tcp, "tcp"),
    (Scheme::Tcp4, "tcp4"),
    (Scheme::Tcp6, "tcp6"),
    (Scheme::Ipc, "ipc"),
    (Scheme::Unix, "unix"),
    (Scheme::Abstract, "abstract"),
    (Scheme::Inproc, "inproc"),
    (Scheme::Ws, "ws"),
    (Scheme::Ws4, "ws4"),
    (Scheme::Ws6, "ws6"),
    (Scheme::Wss, "wss"),
    (Scheme::TlsTcp, "tls+tcp"),
    (Scheme::TlsTcp4, "tls+tcp4"),
    (Scheme::TlsTcp6, "tls+tcp6"),
    (Scheme::Wss4, "wss4"),
    (Scheme::Wss6, "wss6"),
];

/// How the part after `scheme://` is laid out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `host:port`, port required, no path.
    HostPort,
    /// `host[:port][/path]`.
    Web,
    /// A filesystem path, taken as written.
    Path,
    /// A percent-encoded name.
    Encoded,
    /// Any non-empty string, taken as written.
    Name,
}

impl Scheme {
    /// The canonical (lowercase) name, as written before `://`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Tcp => "tcp",
            Scheme::Tcp4 => "tcp4",
            Scheme::Tcp6 => "tcp6",
            Scheme::Ipc => "ipc",
            Scheme::Unix => "unix",
            Scheme::Abstract => "abstract",
            Scheme::Inproc => "inproc",
            Scheme::Ws => "ws",
            Scheme::Ws4 => "ws4",
            Scheme::Ws6 => "ws6",
            Scheme::Wss => "wss",
            Scheme::TlsTcp => "tls+tcp",
            Scheme::TlsTcp4 => "tls+tcp4",
            Scheme::TlsTcp6 => "tls+tcp6",
            Scheme::Wss4 => "wss4",
            Scheme::Wss6 => "wss6",
        }
    }

    /// The scheme called `name` (ASCII case-insensitive), if nanosp knows it.
    pub fn from_name(name: &str) -> Option<Scheme> {
        SCHEMES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(s, _)| *s)
    }

    /// The stream framing this transport uses, or `None` for transports that
    /// carry whole messages (inproc, WebSocket).
    pub fn framing(self) -> Option<Framing> {
        match self {
            Scheme::Tcp
            | Scheme::Tcp4
            | Scheme::Tcp6
            | Scheme::TlsTcp
            | Scheme::TlsTcp4
            | Scheme::TlsTcp6 => Some(Framing::Tcp),
            Scheme::Ipc | Scheme::Unix | Scheme::Abstract => Some(Framing::Ipc),
            Scheme::Inproc
            | Scheme::Ws
            | Scheme::Ws4
            | Scheme::Ws6
            | Scheme::Wss
            | Scheme::Wss4
            | Scheme::Wss6 => None,
        }
    }

    /// True for transports over a byte stream with SP framing (TCP, TLS, IPC).
    pub fn is_stream(self) -> bool {
        self.framing().is_some()
    }

    /// True for the WebSocket schemes.
    pub fn is_websocket(self) -> bool {
        matches!(
            self,
            Scheme::Ws | Scheme::Ws4 | Scheme::Ws6 | Scheme::Wss | Scheme::Wss4 | Scheme::Wss6
        )
    }

    /// True for schemes that run over TLS (`tls+tcp`, `wss`).
    pub fn is_tls(self) -> bool {
        matches!(
            self,
            Scheme::TlsTcp
                | Scheme::TlsTcp4
                | Scheme::TlsTcp6
                | Scheme::Wss
                | Scheme::Wss4
                | Scheme::Wss6
        )
    }

    /// True for schemes whose URL has a host and port.
    pub fn has_host(self) -> bool {
        matches!(self.shape(), Shape::HostPort | Shape::Web)
    }

    /// The port used when the URL gives none (WebSocket only: 80, or 443 for
    /// `wss`).
    pub fn default_port(self) -> Option<u16> {
        match self {
            Scheme::Ws | Scheme::Ws4 | Scheme::Ws6 => Some(80),
            Scheme::Wss | Scheme::Wss4 | Scheme::Wss6 => Some(443),
            _ => None,
        }
    }

    fn shape(self) -> Shape {
        match self {
            Scheme::Tcp
            | Scheme::Tcp4
            | Scheme::Tcp6
            | Scheme::TlsTcp
            | Scheme::TlsTcp4
            | Scheme::TlsTcp6 => Shape::HostPort,
            Scheme::Ws | Scheme::Ws4 | Scheme::Ws6 | Scheme::Wss | Scheme::Wss4 | Scheme::Wss6 => {
                Shape::Web
            }
            Scheme::Ipc | Scheme::Unix => Shape::Path,
            Scheme::Abstract => Shape::Encoded,
            Scheme::Inproc => Shape::Name,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a URL was refused.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum UrlError {
    /// No `scheme://`.
    MissingScheme,
    /// A scheme nanosp does not know.
    UnknownScheme,
    /// A TCP or WebSocket URL without a port where one is required.
    MissingPort,
    /// The port is not a number in 0..=65535.
    BadPort,
    /// The host is malformed (e.g. an unclosed `[`).
    BadHost,
    /// An empty ipc path, abstract name or inproc name.
    EmptyPath,
    /// A bad `%xx` escape, or an abstract name that does not decode to UTF-8.
    BadEscape,
    /// A path, query or fragment on a scheme that takes none (`tcp://h:1/x`).
    UnexpectedPath,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl UrlError {
    /// The message [`Display`](fmt::Display) writes.
    pub const fn as_str(&self) -> &'static str {
        match self {
            UrlError::MissingScheme => "missing scheme (expected e.g. tcp://)",
            UrlError::UnknownScheme => "unknown scheme",
            UrlError::MissingPort => "missing port",
            UrlError::BadPort => "bad port number",
            UrlError::BadHost => "bad host",
            UrlError::EmptyPath => "empty path or name",
            UrlError::BadEscape => "bad %-escape",
            UrlError::UnexpectedPath => "this scheme takes no path",
        }
    }
}

impl core::error::Error for UrlError {}

/// A parsed SP URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// The transport.
    pub scheme: Scheme,
    /// Host for tcp/ws (`""` or `"*"` = all interfaces; IPv6 without brackets).
    pub host: String,
    /// Port for tcp/ws (ws defaults to 80, wss to 443); 0 otherwise or for "any".
    pub port: u16,
    /// Path for ipc/ws, name for inproc/abstract (percent-decoded for abstract).
    pub path: String,
}

impl Url {
    /// Parses `s`.
    ///
    /// ```
    /// use nanosp_core::{Scheme, Url};
    /// let u = Url::parse("tcp://[::1]:5555").unwrap();
    /// assert_eq!((u.scheme, u.host.as_str(), u.port), (Scheme::Tcp, "::1", 5555));
    /// assert_eq!(u.to_string(), "tcp://[::1]:5555");
    /// ```
    pub fn parse(s: &str) -> Result<Url, UrlError> {
        // By bytes, not `split_once("://")`: a string searcher and its
        // panic paths are kilobytes of the browser package.
        let (name, rest) = s
            .as_bytes()
            .windows(3)
            .position(|w| w == b"://")
            .and_then(|i| s.get(..i).zip(s.get(i + 3..)))
            .ok_or(UrlError::MissingScheme)?;
        if name.is_empty() {
            return Err(UrlError::MissingScheme);
        }
        let scheme = Scheme::from_name(name).ok_or(UrlError::UnknownScheme)?;
        let mut url = Url {
            scheme,
            host: String::new(),
            port: 0,
            path: String::new(),
        };
        match scheme.shape() {
            Shape::HostPort => {
                if rest.contains(['/', '?', '#']) {
                    return Err(UrlError::UnexpectedPath);
                }
                let (host, port) = split_host_port(rest)?;
                url.host = host.into();
                url.port = parse_port(port.ok_or(UrlError::MissingPort)?)?;
            }
            Shape::Web => {
                let at = rest.find(['/', '?']).unwrap_or(rest.len());
                let (authority, path) = rest.split_at_checked(at).ok_or(UrlError::BadHost)?;
                if authority.contains('#') {
                    return Err(UrlError::BadHost);
                }
                let (host, port) = split_host_port(authority)?;
                url.host = host.into();
                url.port = match port {
                    Some(p) => parse_port(p)?,
                    None => scheme.default_port().unwrap_or(0),
                };
                url.path = match path.as_bytes().first() {
                    None => "/".into(),
                    Some(b'?') => {
                        let mut p = String::from("/");
                        p.push_str(path);
                        p
                    }
                    Some(_) => path.into(),
                };
            }
            Shape::Path | Shape::Name => {
                if rest.is_empty() {
                    return Err(UrlError::EmptyPath);
                }
                url.path = rest.into();
            }
            Shape::Encoded => {
                if rest.is_empty() {
                    return Err(UrlError::EmptyPath);
                }
                let bytes = percent_decode(rest)?;
                url.path = String::from_utf8(bytes).map_err(|_| UrlError::BadEscape)?;
            }
        }
        Ok(url)
    }

    /// True for transports over a byte stream with SP framing (TCP, TLS, IPC).
    pub fn is_stream(&self) -> bool {
        self.scheme.is_stream()
    }

    /// The stream framing of this URL's transport, if it has one.
    pub fn framing(&self) -> Option<Framing> {
        self.scheme.framing()
    }

    /// True when the host means "all interfaces" (written `""` or `"*"`).
    pub fn is_wildcard_host(&self) -> bool {
        self.host.is_empty() || self.host == "*"
    }

    /// The abstract socket name as bytes (percent-decoded, may hold NULs);
    /// for other schemes the path bytes.
    pub fn name_bytes(&self) -> &[u8] {
        self.path.as_bytes()
    }
}

impl FromStr for Url {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Url, UrlError> {
        Url::parse(s)
    }
}

impl fmt::Display for Url {
    /// The canonical form: lowercase scheme, IPv6 hosts in brackets, explicit
    /// ports for TCP and WebSocket, abstract names percent-encoded. Parsing
    /// the output gives back an equal `Url` (with `"*"` hosts read as `""`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        match self.scheme.shape() {
            Shape::HostPort => {
                // "*" is the wildcard spelling nanomsg, nng and mangos all take.
                if self.is_wildcard_host() {
                    f.write_char('*')?;
                } else {
                    write_host(f, &self.host)?;
                }
                write!(f, ":{}", self.port)
            }
            Shape::Web => {
                // An empty host is the HTTP spelling of "all interfaces".
                if self.host != "*" {
                    write_host(f, &self.host)?;
                }
                write!(f, ":{}", self.port)?;
                if !self.path.starts_with('/') {
                    f.write_char('/')?;
                }
                f.write_str(&self.path)
            }
            Shape::Path | Shape::Name => f.write_str(&self.path),
            Shape::Encoded => percent_encode(f, self.path.as_bytes()),
        }
    }
}

fn write_host(f: &mut fmt::Formatter<'_>, host: &str) -> fmt::Result {
    if host.contains(':') {
        write!(f, "[{host}]")
    } else {
        f.write_str(host)
    }
}

/// Splits `host[:port]` / `[v6]:port`; normalises a `*` host to `""`.
fn split_host_port(s: &str) -> Result<(&str, Option<&str>), UrlError> {
    let (host, port) = if let Some(inner) = s.strip_prefix('[') {
        let (host, after) = inner.split_once(']').ok_or(UrlError::BadHost)?;
        if host.is_empty() || !host.contains(':') || !host.bytes().all(is_v6_byte) {
            return Err(UrlError::BadHost);
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(UrlError::BadHost)?),
        };
        (host, port)
    } else {
        let (host, port) = match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        // A second colon means an IPv6 address without its brackets.
        let ambiguous = port.is_some_and(|p| p.contains(':'));
        if ambiguous || (host != "*" && !host.bytes().all(is_host_byte)) {
            return Err(UrlError::BadHost);
        }
        (if host == "*" { "" } else { host }, port)
    };
    Ok((host, port))
}

/// Bytes allowed in a host name or IPv4 address (RFC 3986 unreserved, plus
/// `%` for escapes, which name resolution will refuse if it must).
fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'%')
}

/// Bytes allowed inside `[...]`: hex digits, `:`, `.` (IPv4 tail) and a
/// `%zone` suffix.
fn is_v6_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'%' | b'-' | b'_' | b'~')
}

fn parse_port(p: &str) -> Result<u16, UrlError> {
    if p.is_empty() {
        return Err(UrlError::MissingPort);
    }
    // Digits only (no sign), at most 65535.
    if !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::BadPort);
    }
    crate::text::read_int(p)
        .and_then(|(_, n)| u16::try_from(n).ok())
        .ok_or(UrlError::BadPort)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn percent_decode(s: &str) -> Result<Vec<u8>, UrlError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = b.get(i + 1).copied().and_then(hex_value);
            let lo = b.get(i + 2).copied().and_then(hex_value);
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                _ => return Err(UrlError::BadEscape),
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn percent_encode(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            f.write_char(char::from(b))?;
        } else {
            write!(f, "%{b:02X}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn ok(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> UrlError {
        Url::parse(s).expect_err(s)
    }

    #[test]
    fn ports_are_decimal_numbers_up_to_65535() {
        for (port, want) in [
            ("0", Ok(0)),
            ("80", Ok(80)),
            ("00080", Ok(80)),
            ("65535", Ok(65535)),
            ("65536", Err(UrlError::BadPort)),
            ("99999999999", Err(UrlError::BadPort)),
            ("+80", Err(UrlError::BadPort)),
            ("-1", Err(UrlError::BadPort)),
            ("8 0", Err(UrlError::BadPort)),
            ("", Err(UrlError::MissingPort)),
        ] {
            assert_eq!(parse_port(port), want, "{port:?}");
            let u = alloc::format!("tcp://127.0.0.1:{port}");
            match want {
                Ok(n) => assert_eq!(ok(&u).port, n),
                Err(e) => assert_eq!(err(&u), e, "{u}"),
            }
        }
    }

    /// Parsing the display form gives the same URL back.
    fn round_trips(u: &Url) {
        let again = ok(&u.to_string());
        assert_eq!(&again, u, "{}", u);
    }

    #[test]
    fn tcp_forms() {
        let u = ok("tcp://127.0.0.1:5555");
        assert_eq!(u.scheme, Scheme::Tcp);
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.port, 5555);
        assert_eq!(u.path, "");
        assert_eq!(u.framing(), Some(Framing::Tcp));
        assert!(u.is_stream());
        round_trips(&u);

        for s in ["tcp://*:9999", "tcp://:9999"] {
            let u = ok(s);
            assert_eq!((u.host.as_str(), u.port), ("", 9999));
            assert!(u.is_wildcard_host());
            assert_eq!(u.to_string(), "tcp://*:9999");
            round_trips(&u);
        }
        assert_eq!(ok("tcp://0.0.0.0:0").port, 0);
        assert_eq!(ok("tcp://h:65535").port, 65535);
        assert_eq!(ok("tcp4://h:1").scheme, Scheme::Tcp4);
        assert_eq!(ok("tcp6://h:1").scheme, Scheme::Tcp6);
        assert_eq!(ok("TCP://Example.COM:1").host, "Example.COM");
        assert_eq!(ok("TCP://h:1").to_string(), "tcp://h:1");

        let t = ok("tls+tcp://example.com:4433");
        assert_eq!((t.scheme, t.port), (Scheme::TlsTcp, 4433));
        assert!(t.scheme.is_tls());
        assert_eq!(t.to_string(), "tls+tcp://example.com:4433");
    }

    #[test]
    fn ipv6_hosts() {
        let u = ok("tcp://[::1]:5555");
        assert_eq!((u.host.as_str(), u.port), ("::1", 5555));
        assert_eq!(u.to_string(), "tcp://[::1]:5555");
        round_trips(&u);
        assert_eq!(ok("tcp6://[fe80::1%eth0]:1").host, "fe80::1%eth0");
        assert_eq!(ok("tcp://[::ffff:1.2.3.4]:1").host, "::ffff:1.2.3.4");
        assert_eq!(err("tcp://[::1:5555"), UrlError::BadHost);
        assert_eq!(err("tcp://[]:5555"), UrlError::BadHost);
        assert_eq!(err("tcp://[::1]5555"), UrlError::BadHost);
        assert_eq!(err("tcp://[::1]"), UrlError::MissingPort);
        assert_eq!(err("tcp://[host]:1"), UrlError::BadHost);
        // Unbracketed IPv6 is ambiguous.
        assert_eq!(err("tcp://::1:5555"), UrlError::BadHost);
    }

    #[test]
    fn tcp_errors() {
        assert_eq!(err("tcp://host"), UrlError::MissingPort);
        assert_eq!(err("tcp://host:"), UrlError::MissingPort);
        assert_eq!(err("tcp://"), UrlError::MissingPort);
        assert_eq!(err("tcp://host:65536"), UrlError::BadPort);
        assert_eq!(err("tcp://host:-1"), UrlError::BadPort);
        assert_eq!(err("tcp://host:+1"), UrlError::BadPort);
        assert_eq!(err("tcp://host:http"), UrlError::BadPort);
        assert_eq!(err("tcp://host:99999999999999999999"), UrlError::BadPort);
        assert_eq!(err("tcp://host:1/"), UrlError::UnexpectedPath);
        assert_eq!(err("tcp://host:1?x"), UrlError::UnexpectedPath);
        assert_eq!(err("tcp://user@host:1"), UrlError::BadHost);
        assert_eq!(err("tcp://ho st:1"), UrlError::BadHost);
        assert_eq!(err("tcp://**:1"), UrlError::BadHost);
        assert_eq!(err("tcp4//host:1"), UrlError::MissingScheme);
        assert_eq!(err("host:1"), UrlError::MissingScheme);
        assert_eq!(err("://host:1"), UrlError::MissingScheme);
        assert_eq!(err("udp://host:1"), UrlError::UnknownScheme);
        assert_eq!(err("tls+udp://host:1"), UrlError::UnknownScheme);
        assert_eq!(ok("tls+tcp4://host:1").scheme, Scheme::TlsTcp4);
        assert_eq!(ok("wss6://[::1]/x").port, 443);
    }

    #[test]
    fn ipc_forms() {
        let u = ok("ipc:///tmp/sp.sock");
        assert_eq!((u.scheme, u.path.as_str()), (Scheme::Ipc, "/tmp/sp.sock"));
        assert_eq!(u.framing(), Some(Framing::Ipc));
        assert_eq!(u.to_string(), "ipc:///tmp/sp.sock");
        let r = ok("ipc://relative/path");
        assert_eq!(r.path, "relative/path");
        round_trips(&r);
        let x = ok("unix:///var/run/x");
        assert_eq!((x.scheme, x.path.as_str()), (Scheme::Unix, "/var/run/x"));
        round_trips(&x);
        assert_eq!(err("ipc://"), UrlError::EmptyPath);
        assert_eq!(err("unix://"), UrlError::EmptyPath);
    }

    #[test]
    fn abstract_names() {
        let u = ok("abstract://my%00name");
        assert_eq!(u.scheme, Scheme::Abstract);
        assert_eq!(u.name_bytes(), b"my\0name");
        assert_eq!(u.framing(), Some(Framing::Ipc));
        assert_eq!(u.to_string(), "abstract://my%00name");
        round_trips(&u);
        assert_eq!(ok("abstract://a%2fb%2Fc").path, "a/b/c");
        assert_eq!(ok("abstract://%C3%A9").path, "é");
        let odd = ok("abstract://a%20b%25c%3Ad");
        assert_eq!(odd.path, "a b%c:d");
        round_trips(&odd);
        assert_eq!(err("abstract://"), UrlError::EmptyPath);
        assert_eq!(err("abstract://a%"), UrlError::BadEscape);
        assert_eq!(err("abstract://a%4"), UrlError::BadEscape);
        assert_eq!(err("abstract://a%zz"), UrlError::BadEscape);
        assert_eq!(err("abstract://%ff"), UrlError::BadEscape);
    }

    #[test]
    fn inproc_names() {
        let u = ok("inproc://any thing/at:all?#%zz");
        assert_eq!(u.path, "any thing/at:all?#%zz");
        assert_eq!(u.framing(), None);
        assert!(!u.is_stream());
        round_trips(&u);
        assert_eq!(ok("inproc://x://y").path, "x://y");
        assert_eq!(err("inproc://"), UrlError::EmptyPath);
    }

    #[test]
    fn websocket_forms() {
        let u = ok("ws://example.com");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("example.com", 80, "/")
        );
        assert!(u.scheme.is_websocket());
        assert_eq!(u.to_string(), "ws://example.com:80/");
        round_trips(&u);

        let s = ok("wss://example.com/sp");
        assert_eq!((s.port, s.path.as_str()), (443, "/sp"));
        assert!(s.scheme.is_tls());

        let q = ok("ws://[::1]:8080/a/b?x=1&y=2");
        assert_eq!(
            (q.host.as_str(), q.port, q.path.as_str()),
            ("::1", 8080, "/a/b?x=1&y=2")
        );
        assert_eq!(q.to_string(), "ws://[::1]:8080/a/b?x=1&y=2");
        round_trips(&q);

        assert_eq!(ok("ws://h?x=1").path, "/?x=1");
        assert_eq!(ok("ws4://h:1/").scheme, Scheme::Ws4);
        assert_eq!(ok("ws6://h").scheme, Scheme::Ws6);

        for s in ["ws://:8080/p", "ws://*:8080/p"] {
            let w = ok(s);
            assert_eq!((w.host.as_str(), w.port), ("", 8080));
            assert_eq!(w.to_string(), "ws://:8080/p");
            round_trips(&w);
        }

        assert_eq!(err("ws://h:/p"), UrlError::MissingPort);
        assert_eq!(err("ws://h:x/p"), UrlError::BadPort);
        assert_eq!(err("ws://h#frag"), UrlError::BadHost);
        assert_eq!(err("ws://[::1/p"), UrlError::BadHost);
    }

    #[test]
    fn from_str_and_scheme_names() {
        let u: Url = "inproc://x".parse().unwrap();
        assert_eq!(u.scheme, Scheme::Inproc);
        for (s, n) in SCHEMES {
            assert_eq!(s.as_str(), n);
            assert_eq!(Scheme::from_name(n), Some(s));
            assert_eq!(
                s.has_host(),
                s.framing() == Some(Framing::Tcp) || s.is_websocket()
            );
        }
        assert_eq!(Scheme::from_name("WSS"), Some(Scheme::Wss));
        assert_eq!(Scheme::from_name("socket"), None);
    }

    #[test]
    fn url_errors_map_to_address_invalid() {
        let e: crate::Error = err("nope").into();
        assert_eq!(e, crate::Error::AddressInvalid(UrlError::MissingScheme));
    }
}
