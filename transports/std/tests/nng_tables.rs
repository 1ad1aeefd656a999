//! The core's two tables against nng itself: error names and numbers
//! (`Error::nng_name`, `Error::nng_code`) against the installed `nng.h`,
//! protocol numbers and names (`Protocol`) against what nng reports for its
//! sockets (`NNG_OPT_PROTONAME`, `NNG_OPT_PEERNAME` through pynng). Skipped
//! with a note when nng's header or pynng is missing, unless
//! `NANOSP_REQUIRE_PEERS` is set.

use std::collections::HashMap;
use std::process::Command;

use nanosp::{Error, IoErrorKind, Protocol, ProtocolError, UrlError};

fn missing(what: &str) {
    assert!(
        std::env::var_os("NANOSP_REQUIRE_PEERS").is_none(),
        "{what} is required (NANOSP_REQUIRE_PEERS is set)"
    );
    eprintln!("{what} not installed: skipping");
}

/// `NNG_EXXX = n` from nng.h, as ("EXXX", n).
fn nng_h_errors() -> Option<HashMap<String, u32>> {
    let h = std::fs::read_to_string("/usr/include/nng/nng.h").ok()?;
    let mut m = HashMap::new();
    for line in h.lines() {
        let l = line.trim().trim_end_matches(',');
        let Some((name, value)) = l.split_once('=') else {
            continue;
        };
        let Some(name) = name.trim().strip_prefix("NNG_") else {
            continue;
        };
        if !name.starts_with('E') || name.contains(' ') {
            continue;
        }
        let v = value.trim();
        let n = match v.strip_prefix("0x") {
            Some(hex) => u32::from_str_radix(hex, 16),
            None => v.parse(),
        };
        if let Ok(n) = n {
            m.insert(name.to_string(), n);
        }
    }
    Some(m)
}

#[test]
fn error_names_and_codes_are_nngs() {
    let Some(nng) = nng_h_errors() else {
        return missing("nng.h (libnng-dev)");
    };
    assert_eq!(nng.get("ETIMEDOUT"), Some(&5), "parsed nng.h: {nng:?}");
    use IoErrorKind as K;
    let cases = [
        (Error::Closed, "ECLOSED"),
        (Error::TimedOut, "ETIMEDOUT"),
        (Error::WouldBlock, "EAGAIN"),
        (Error::ProtocolState, "ESTATE"),
        (Error::NotSupported, "ENOTSUP"),
        (Error::TransportUnavailable, "ENOTSUP"),
        (Error::Canceled, "ECANCELED"),
        (Error::MessageTooLong { len: 2, limit: 1 }, "EMSGSIZE"),
        (Error::Protocol(ProtocolError::BadMagic), "EPROTO"),
        (Error::Protocol(ProtocolError::BadSubprotocol), "EPROTO"),
        (Error::ConnectionRefused, "ECONNREFUSED"),
        (Error::Rejected, "ECONNREFUSED"),
        (Error::ConnectionReset, "ECONNRESET"),
        (Error::ConnectionShutdown, "ECONNSHUT"),
        (Error::AddressInUse, "EADDRINUSE"),
        (Error::AddressInvalid(UrlError::BadHost), "EADDRINVAL"),
        (Error::Busy, "EBUSY"),
        (Error::InvalidArgument, "EINVAL"),
        (Error::NotFound, "ENOENT"),
        (Error::Io(K::NotFound), "ENOENT"),
        (Error::Io(K::PermissionDenied), "EPERM"),
        (Error::Io(K::AlreadyExists), "EEXIST"),
        (Error::Io(K::AddressNotAvailable), "EADDRINVAL"),
        (Error::Io(K::InvalidInput), "EINVAL"),
        (Error::Io(K::OutOfMemory), "ENOMEM"),
        (Error::Io(K::OutOfFiles), "ENOFILES"),
        (Error::Io(K::Unsupported), "ENOTSUP"),
        (Error::Io(K::Interrupted), "EINTR"),
        (Error::Io(K::InvalidData), "ESYSERR"),
        (Error::Io(K::WriteZero), "ESYSERR"),
        (Error::Io(K::NotConnected), "ESYSERR"),
        (Error::Io(K::Other), "ESYSERR"),
        (Error::Tls(nanosp::TlsError::NotTls), "ECRYPTO"),
        (Error::Tls(nanosp::TlsError::Handshake), "ECRYPTO"),
        (Error::Tls(nanosp::TlsError::UnknownIssuer), "EPEERAUTH"),
        (Error::Tls(nanosp::TlsError::NoCertificate), "EPEERAUTH"),
    ];
    for (e, name) in cases {
        assert_eq!(e.nng_name(), name, "{e:?}");
        assert_eq!(Some(&e.nng_code()), nng.get(name), "{e:?} is NNG_{name}");
    }
}

#[test]
fn protocol_names_and_numbers_are_nngs() {
    let script = r#"
import pynng
for c in [pynng.Pair0, pynng.Pair1, pynng.Pub0, pynng.Sub0, pynng.Req0, pynng.Rep0,
          pynng.Push0, pynng.Pull0, pynng.Surveyor0, pynng.Respondent0, pynng.Bus0]:
    s = c()
    print(c.__name__, s.protocol, s.protocol_name, s.peer, s.peer_name)
    s.close()
"#;
    let out = match Command::new("python3").args(["-c", script]).output() {
        Ok(o) if o.status.success() => o,
        _ => return missing("pynng"),
    };
    let text = String::from_utf8(out.stdout).unwrap();
    let mut seen = 0;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [class, number, name, peer, peer_name] = f[..] else {
            panic!("unexpected line {line:?}");
        };
        // pynng's class is the versioned name, capitalised.
        let p = Protocol::from_name(class).unwrap_or_else(|_| panic!("{class}"));
        assert_eq!(
            p.versioned_name().to_ascii_lowercase(),
            class.to_ascii_lowercase()
        );
        assert_eq!(p.number().to_string(), number, "{class}");
        assert_eq!(p.name(), name, "{class}");
        assert_eq!(p.peer_number().to_string(), peer, "{class}");
        assert_eq!(p.peer_name(), peer_name, "{class}");
        assert_eq!(Protocol::from_name(name), Ok(p), "{class}: nng's name");
        seen += 1;
    }
    assert_eq!(seen, 11, "{text}");
}
