//! Pieces of `spcat`, the nngcat-compatible command-line tool: the output
//! formats (byte for byte as nngcat prints them) and the protocol flags.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io::{self, Write};
use std::path::Path;

use nanosp::{Error, IoErrorKind, Protocol, Url};

/// How received messages are printed (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `no`: nothing is printed (the default, as in nngcat).
    No,
    /// `ascii`: printable ASCII as is, every other byte as `.`; no separator.
    Ascii,
    /// `hex`: `"\x61\x62"` and a newline.
    Hex,
    /// `msgpack`: a MessagePack bin (`c4`/`c5`/`c6` + length) then the bytes.
    Msgpack,
    /// `quoted`: a C string: `\n \r \t \" \\` escaped, other unprintable
    /// bytes as `\xNN`, then a newline.
    Quoted,
    /// `raw`: the bytes as they are.
    Raw,
}

impl Format {
    /// Parses a `--format` value.
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "no" => Format::No,
            "ascii" => Format::Ascii,
            "hex" => Format::Hex,
            "msgpack" => Format::Msgpack,
            "quoted" => Format::Quoted,
            "raw" => Format::Raw,
            _ => return None,
        })
    }

    /// Writes one message in this format.
    pub fn write(self, out: &mut impl Write, b: &[u8]) -> io::Result<()> {
        let printable = |c: u8| (0x20..0x7f).contains(&c);
        match self {
            Format::No => Ok(()),
            Format::Raw => out.write_all(b),
            Format::Ascii => {
                let v: Vec<u8> = b
                    .iter()
                    .map(|&c| if printable(c) { c } else { b'.' })
                    .collect();
                out.write_all(&v)
            }
            Format::Quoted => {
                let mut v = Vec::with_capacity(b.len() + 3);
                v.push(b'"');
                for &c in b {
                    match c {
                        b'\n' => v.extend_from_slice(b"\\n"),
                        b'\r' => v.extend_from_slice(b"\\r"),
                        b'\t' => v.extend_from_slice(b"\\t"),
                        b'"' | b'\\' => v.extend_from_slice(&[b'\\', c]),
                        c if printable(c) => v.push(c),
                        c => v.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
                    }
                }
                v.extend_from_slice(b"\"\n");
                out.write_all(&v)
            }
            Format::Hex => {
                let mut s = String::with_capacity(b.len() * 4 + 3);
                s.push('"');
                for c in b {
                    s.push_str(&format!("\\x{c:02x}"));
                }
                s.push_str("\"\n");
                out.write_all(s.as_bytes())
            }
            Format::Msgpack => {
                let n = b.len();
                if n < 256 {
                    out.write_all(&[0xc4, n as u8])?;
                } else if n < 65536 {
                    out.write_all(&[0xc5, (n >> 8) as u8, n as u8])?;
                } else {
                    out.write_all(&[0xc6])?;
                    out.write_all(&(n as u32).to_be_bytes())?;
                }
                out.write_all(b)
            }
        }
    }
}

/// What a protocol does in spcat's main loop (as nngcat).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// PULL, SUB: receive and print.
    RecvOnly,
    /// PUSH, PUB: send the data.
    SendOnly,
    /// REP, RESPONDENT: receive and print; answer with the data if given.
    Reply,
    /// REQ, SURVEYOR: send, then print what comes back.
    Request,
    /// PAIR, BUS, STAR: send (if data) and receive.
    Both,
}

/// One protocol flag of the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolFlag {
    /// The flag (`--req0`).
    pub flag: &'static str,
    /// Its alias (`--req`), if any.
    pub alias: Option<&'static str>,
    /// The protocol it opens (`--pair`: see [`PROTOCOLS`]).
    pub protocol: Protocol,
    /// What the main loop does with it.
    pub role: Role,
}

const fn flag(protocol: Protocol, alias: bool, role: Role) -> ProtocolFlag {
    ProtocolFlag {
        flag: protocol.versioned_name(),
        alias: if alias { Some(protocol.name()) } else { None },
        protocol,
        role,
    }
}

/// The protocol flags, nngcat's: each protocol's versioned name
/// (`--req0`, `--pair1`) with nng's name as an alias (`--req`), from the
/// core's table ([`Protocol::name`]). Two are not names: nngcat's `--pair`
/// is PAIR v1 (its newest PAIR; v0 with `--compat`), so PAIR v0's name
/// `pair` is no alias of `--pair0`; and mangos' STAR is `--star`.
pub const PROTOCOLS: &[ProtocolFlag] = &[
    flag(Protocol::Req0, true, Role::Request),
    flag(Protocol::Rep0, true, Role::Reply),
    flag(Protocol::Pub0, true, Role::SendOnly),
    flag(Protocol::Sub0, true, Role::RecvOnly),
    flag(Protocol::Push0, true, Role::SendOnly),
    flag(Protocol::Pull0, true, Role::RecvOnly),
    flag(Protocol::Surveyor0, true, Role::Request),
    flag(Protocol::Respondent0, true, Role::Reply),
    flag(Protocol::Bus0, true, Role::Both),
    flag(Protocol::Pair0, false, Role::Both),
    flag(Protocol::Pair1, false, Role::Both),
    ProtocolFlag {
        flag: "pair",
        alias: None,
        protocol: Protocol::Pair1,
        role: Role::Both,
    },
    ProtocolFlag {
        flag: Protocol::Star0.name(),
        alias: None,
        protocol: Protocol::Star0,
        role: Role::Both,
    },
];

/// The text of an error as nng's `nng_strerror` writes it (capitalised):
/// the core's `Display` uses nng's words, operating-system errors
/// ([`Error::Io`]) included.
pub fn strerror(e: &Error) -> String {
    let s = e.to_string();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

/// [`strerror`] for a `dial` (`dialing`) or `listen` on `url` that failed,
/// saying what is missing where nng only says `Entry not found` (listen)
/// or `Connection refused` (dial): an IPC path's directory, or (dialing)
/// its socket file.
pub fn addr_strerror(e: &Error, url: &str, dialing: bool) -> String {
    let plain = strerror(e);
    // A missing path is `Io(NotFound)`, or (dialing) the "nobody listens"
    // it amounts to.
    let not_found = matches!(e, Error::Io(IoErrorKind::NotFound));
    if !(not_found || dialing && *e == Error::ConnectionRefused) {
        return plain;
    }
    let Ok(u) = Url::parse(url) else {
        return plain;
    };
    if !matches!(u.scheme.as_str(), "ipc" | "unix") {
        return plain;
    }
    let path = Path::new(&u.path);
    let missing = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() && !d.is_dir() => {
            format!("no such directory: {}", d.display())
        }
        _ if dialing && !path.exists() => format!("no such file: {}", path.display()),
        _ => return plain,
    };
    let nng = if dialing {
        "Connection refused"
    } else {
        "Entry not found"
    };
    format!("{nng} ({missing})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(f: Format, b: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        f.write(&mut v, b).unwrap();
        v
    }

    #[test]
    fn missing_ipc_paths_are_named() {
        let dir = std::env::temp_dir().join(format!("spcat-lib-{}", std::process::id()));
        let url = format!("ipc://{}/x.ipc", dir.join("no-such").display());
        let nf = Error::Io(IoErrorKind::NotFound);
        let listen = addr_strerror(&nf, &url, false);
        assert_eq!(
            listen,
            format!(
                "Entry not found (no such directory: {})",
                dir.join("no-such").display()
            )
        );
        let dial = addr_strerror(&nf, &url, true);
        assert!(
            dial.starts_with("Connection refused (no such directory: "),
            "{dial}"
        );
        // The folder exists, the socket file does not.
        let tmp = std::env::temp_dir();
        let url = format!("ipc://{}/spcat-no-such.ipc", tmp.display());
        assert!(addr_strerror(&nf, &url, true).contains("(no such file: "));
        assert_eq!(addr_strerror(&nf, &url, false), "Entry not found");
        // The transport may call a missing path what it amounts to.
        let refused = Error::ConnectionRefused;
        assert!(addr_strerror(&refused, &url, true).contains("(no such file: "));
        // A socket file nobody listens on: nothing to add.
        let stale = std::env::temp_dir().join(format!("spcat-lib-{}.ipc", std::process::id()));
        std::fs::write(&stale, b"").unwrap();
        let url = format!("ipc://{}", stale.display());
        assert_eq!(addr_strerror(&refused, &url, true), "Connection refused");
        std::fs::remove_file(&stale).unwrap();
        // Other errors and schemes: nng's words only.
        assert_eq!(
            addr_strerror(&Error::AddressInUse, &url, false),
            "Address in use"
        );
        assert_eq!(
            addr_strerror(&nf, "tcp://127.0.0.1:1", true),
            "Entry not found"
        );
        assert_eq!(
            strerror(&Error::Io(IoErrorKind::PermissionDenied)),
            "Permission denied"
        );
    }

    #[test]
    fn protocol_flags_are_nngcats() {
        let flags: Vec<(&str, Option<&str>, Protocol)> = PROTOCOLS
            .iter()
            .map(|f| (f.flag, f.alias, f.protocol))
            .collect();
        assert_eq!(
            flags,
            [
                ("req0", Some("req"), Protocol::Req0),
                ("rep0", Some("rep"), Protocol::Rep0),
                ("pub0", Some("pub"), Protocol::Pub0),
                ("sub0", Some("sub"), Protocol::Sub0),
                ("push0", Some("push"), Protocol::Push0),
                ("pull0", Some("pull"), Protocol::Pull0),
                ("surveyor0", Some("surveyor"), Protocol::Surveyor0),
                ("respondent0", Some("respondent"), Protocol::Respondent0),
                ("bus0", Some("bus"), Protocol::Bus0),
                ("pair0", None, Protocol::Pair0),
                ("pair1", None, Protocol::Pair1),
                ("pair", None, Protocol::Pair1),
                ("star", None, Protocol::Star0),
            ]
        );
    }

    #[test]
    fn io_errors_in_nngs_words() {
        assert_eq!(
            strerror(&Error::Io(IoErrorKind::OutOfFiles)),
            "Out of files"
        );
        assert_eq!(strerror(&Error::TimedOut), "Timed out");
        assert_eq!(strerror(&Error::Closed), "Object closed");
    }

    #[test]
    fn formats_match_nngcat() {
        let b = b"a\0b\"\\\n\x7f\xffz";
        assert_eq!(fmt(Format::Ascii, b), b"a.b\"\\...z");
        assert_eq!(
            fmt(Format::Quoted, b),
            b"\"a\\x00b\\\"\\\\\\n\\x7f\\xffz\"\n"
        );
        assert_eq!(fmt(Format::Hex, b"a\0"), b"\"\\x61\\x00\"\n".to_vec());
        assert_eq!(fmt(Format::Msgpack, b"hi"), b"\xc4\x02hi");
        assert_eq!(&fmt(Format::Msgpack, &[0; 300])[..3], b"\xc5\x01\x2c");
        assert_eq!(
            &fmt(Format::Msgpack, &[0; 70000])[..5],
            b"\xc6\x00\x01\x11\x70"
        );
        assert_eq!(fmt(Format::Raw, b), b);
        assert!(fmt(Format::No, b).is_empty());
    }
}
