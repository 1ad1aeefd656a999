//! Pieces of `spcat`, the nngcat-compatible command-line tool: the output
//! formats (byte for byte as nngcat prints them) and the protocol flags.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io::{self, Write};

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

/// The protocol flags: (flag, alias, protocol name for
/// `nanosp::Protocol::from_name`, role).
pub const PROTOCOLS: &[(&str, Option<&str>, &str, Role)] = &[
    ("req0", Some("req"), "req", Role::Request),
    ("rep0", Some("rep"), "rep", Role::Reply),
    ("pub0", Some("pub"), "pub", Role::SendOnly),
    ("sub0", Some("sub"), "sub", Role::RecvOnly),
    ("push0", Some("push"), "push", Role::SendOnly),
    ("pull0", Some("pull"), "pull", Role::RecvOnly),
    ("surveyor0", Some("surveyor"), "surveyor", Role::Request),
    ("respondent0", Some("respondent"), "respondent", Role::Reply),
    ("bus0", Some("bus"), "bus", Role::Both),
    ("pair0", None, "pair0", Role::Both),
    ("pair1", None, "pair1", Role::Both),
    ("pair", None, "pair", Role::Both),
    ("star", None, "star", Role::Both),
];

/// The text of an error as nng's `nng_strerror` writes it (capitalised).
pub fn strerror(e: &nanosp_std::Error) -> String {
    let s = e.to_string();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => s,
    }
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
