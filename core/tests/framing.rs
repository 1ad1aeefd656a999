//! Property tests of the SP stream framing (docs/wire.md §2.1–2.3, §2.5): the
//! handshake, the encoder and the incremental decoder, through the public API.

use nanosp_core::frame::{
    encode_message, encode_prefix, handshake, parse_handshake, Decoder, Framing, HANDSHAKE_LEN,
    MAX_PREFIX,
};
use nanosp_core::{Error, Message, ProtocolError};
use proptest::prelude::*;

fn framing() -> impl Strategy<Value = Framing> {
    prop_oneof![Just(Framing::Tcp), Just(Framing::Ipc)]
}

/// A message with a protocol header of up to 16 bytes and a body.
fn message(max_body: usize) -> impl Strategy<Value = Message> {
    (
        proptest::collection::vec(any::<u8>(), 0..=16),
        proptest::collection::vec(any::<u8>(), 0..max_body),
    )
        .prop_map(|(h, b)| {
            let mut m = Message::from(&b[..]);
            m.set_header(&h).unwrap();
            m
        })
}

/// What the decoder yields for `m`: header and body together, as the body.
fn payload(m: &Message) -> Vec<u8> {
    let mut v = m.header().to_vec();
    v.extend_from_slice(m.body());
    v
}

fn prefix(f: Framing, len: u64) -> Vec<u8> {
    let mut p = [0; MAX_PREFIX];
    let n = encode_prefix(f, len, &mut p);
    p[..n].to_vec()
}

/// Feeds `wire` in chunks whose sizes cycle through `chunks`; collects every
/// message. Panics on a decode error.
fn decode_chunked(dec: &mut Decoder, wire: &[u8], chunks: &[usize]) -> Vec<Message> {
    let mut out = Vec::new();
    let mut rest = wire;
    let mut sizes = chunks.iter().copied().cycle();
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(1).clamp(1, rest.len());
        let mut chunk = &rest[..n];
        rest = &rest[n..];
        loop {
            let before = chunk.len();
            match dec.decode(&mut chunk).expect("valid stream") {
                Some(m) => out.push(m),
                None => {
                    assert!(chunk.is_empty(), "Ok(None) must consume all input");
                    break;
                }
            }
            assert!(chunk.len() <= before);
            if chunk.is_empty() {
                break;
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn round_trip(f in framing(), m in message(5000)) {
        let mut wire = Vec::new();
        encode_message(f, &m, &mut wire);
        prop_assert_eq!(wire.len(), f.prefix_len() + m.len());
        prop_assert_eq!(&wire[..f.prefix_len()], &prefix(f, m.len() as u64)[..]);

        let mut dec = Decoder::new(f, 0);
        let mut input = &wire[..];
        let got = dec.decode(&mut input).unwrap().expect("one whole message");
        prop_assert!(input.is_empty());
        prop_assert!(got.header().is_empty());
        prop_assert_eq!(got.body(), &payload(&m)[..]);
        prop_assert!(dec.is_idle());
    }

    #[test]
    fn any_chunking_yields_the_same_messages(
        f in framing(),
        msgs in proptest::collection::vec(message(2000), 0..20),
        chunks in proptest::collection::vec(1usize..700, 1..10),
        one_byte in any::<bool>(),
    ) {
        let mut wire = Vec::new();
        for m in &msgs {
            encode_message(f, m, &mut wire);
        }
        let chunks = if one_byte { vec![1] } else { chunks };
        let mut dec = Decoder::new(f, 4096);
        let got = decode_chunked(&mut dec, &wire, &chunks);
        prop_assert_eq!(got.len(), msgs.len());
        for (g, m) in got.iter().zip(&msgs) {
            prop_assert!(g.header().is_empty());
            prop_assert_eq!(g.body(), &payload(m)[..]);
        }
        prop_assert!(dec.is_idle());
    }

    #[test]
    fn one_message_per_call(f in framing(), a in message(100), b in message(100)) {
        let mut wire = Vec::new();
        encode_message(f, &a, &mut wire);
        encode_message(f, &b, &mut wire);
        let mut dec = Decoder::new(f, 0);
        let mut input = &wire[..];
        let first = dec.decode(&mut input).unwrap().unwrap();
        prop_assert_eq!(first.body(), &payload(&a)[..]);
        prop_assert_eq!(input.len(), f.prefix_len() + b.len());
        let second = dec.decode(&mut input).unwrap().unwrap();
        prop_assert_eq!(second.body(), &payload(&b)[..]);
        prop_assert!(input.is_empty());
    }

    #[test]
    fn limit_is_inclusive(f in framing(), limit in 1u64..3000) {
        // len == limit passes.
        let body = vec![0xA5; limit as usize];
        let mut wire = Vec::new();
        encode_message(f, &Message::from(&body[..]), &mut wire);
        let mut dec = Decoder::new(f, limit);
        let got = decode_chunked(&mut dec, &wire, &[977]);
        prop_assert_eq!(got.len(), 1);
        prop_assert_eq!(got[0].body(), &body[..]);

        // limit + 1 fails on the prefix alone, before any payload is fed.
        let p = prefix(f, limit + 1);
        let mut dec = Decoder::new(f, limit);
        let (head, last) = p.split_at(p.len() - 1);
        prop_assert!(dec.decode(&mut &head[..]).unwrap().is_none());
        prop_assert_eq!(
            dec.decode(&mut &last[..]).unwrap_err(),
            Error::MessageTooLong { len: limit + 1, limit }
        );
    }

    #[test]
    fn set_limit_applies_to_next_prefix(f in framing(), limit in 1u64..100) {
        let mut dec = Decoder::new(f, 0);
        dec.set_limit(limit);
        prop_assert_eq!(dec.limit(), limit);
        prop_assert_eq!(
            dec.decode(&mut &prefix(f, limit + 1)[..]).unwrap_err(),
            Error::MessageTooLong { len: limit + 1, limit }
        );
        let mut dec = Decoder::new(f, limit);
        dec.set_limit(0);
        prop_assert!(dec.decode(&mut &prefix(f, limit + 1)[..]).unwrap().is_none());
    }

    #[test]
    fn reserved_length_bits_are_refused(
        f in framing(),
        top in 1u64..16,
        low in 0u64..(1 << 60),
        limit in prop_oneof![Just(0u64), 1u64..100],
    ) {
        let len = top << 60 | low;
        let mut dec = Decoder::new(f, limit);
        prop_assert_eq!(
            dec.decode(&mut &prefix(f, len)[..]).unwrap_err(),
            Error::Protocol(ProtocolError::ReservedLengthBits)
        );
    }

    #[test]
    fn bad_ipc_type_is_refused_at_once(t in any::<u8>().prop_filter("not 1", |t| *t != 1)) {
        let mut dec = Decoder::new(Framing::Ipc, 0);
        prop_assert_eq!(
            dec.decode(&mut &[t][..]).unwrap_err(),
            Error::Protocol(ProtocolError::BadIpcType(t))
        );
        // TCP framing has no type byte: the same byte is just length.
        let mut dec = Decoder::new(Framing::Tcp, 0);
        prop_assert!(dec.decode(&mut &[t][..]).unwrap().is_none());
    }

    #[test]
    fn body_buf_path(
        f in framing(),
        msgs in proptest::collection::vec(message(3000), 1..8),
        reads in proptest::collection::vec(1usize..900, 1..8),
        via_decode in proptest::collection::vec(any::<bool>(), 1..8),
    ) {
        let mut dec = Decoder::new(f, 0);
        let mut reads = reads.iter().copied().cycle();
        let mut via_decode = via_decode.iter().copied().cycle();
        for m in &msgs {
            let want = payload(m);
            let mut wire = Vec::new();
            encode_message(f, m, &mut wire);
            let (pre, mut body) = wire.split_at(f.prefix_len());
            prop_assert!(dec.body_buf().is_none());
            let mut got = dec.decode(&mut &pre[..]).unwrap();
            while got.is_none() {
                let n = reads.next().unwrap().min(body.len());
                if via_decode.next().unwrap() {
                    let mut chunk = &body[..n];
                    got = dec.decode(&mut chunk).unwrap();
                    prop_assert!(chunk.is_empty());
                } else {
                    let buf = dec.body_buf().expect("a body is pending");
                    prop_assert!(!buf.is_empty() && buf.len() <= body.len());
                    let n = n.min(buf.len());
                    buf[..n].copy_from_slice(&body[..n]);
                    got = dec.advance_body(n);
                }
                body = &body[n..];
            }
            prop_assert!(body.is_empty());
            let got = got.unwrap();
            prop_assert_eq!(got.body(), &want[..]);
            prop_assert!(dec.is_idle());
        }
    }

    #[test]
    fn garbage_never_panics(
        f in framing(),
        limit in prop_oneof![Just(0u64), 1u64..64],
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        chunk in 1usize..40,
    ) {
        let mut dec = Decoder::new(f, limit);
        for mut c in bytes.chunks(chunk) {
            while !c.is_empty() {
                match dec.decode(&mut c) {
                    Ok(_) => {}
                    Err(_) => return Ok(()),
                }
            }
        }
    }

    #[test]
    fn handshake_round_trip(proto in any::<u16>()) {
        let h = handshake(proto);
        prop_assert_eq!(&h[..4], &[0, b'S', b'P', 0][..]);
        prop_assert_eq!(&h[6..], &[0, 0][..]);
        prop_assert_eq!(parse_handshake(&h), Ok(proto));
    }

    #[test]
    fn handshake_failures(proto in any::<u16>(), i in 0usize..HANDSHAKE_LEN, x in 1u8..=255) {
        let mut h = handshake(proto);
        h[i] ^= x;
        let expected = match i {
            0..=2 => Err(ProtocolError::BadMagic),
            3 => Err(ProtocolError::BadVersion(x)),
            4 | 5 => Ok(u16::from_be_bytes([h[4], h[5]])),
            _ => Err(ProtocolError::BadReserved),
        };
        prop_assert_eq!(parse_handshake(&h), expected);
    }
}

#[test]
fn handshake_examples() {
    // docs/wire.md §2.1: a REQ socket.
    assert_eq!(
        handshake(0x30),
        [0x00, 0x53, 0x50, 0x00, 0x00, 0x30, 0x00, 0x00]
    );
    let good = handshake(0x31);
    assert_eq!(parse_handshake(&good), Ok(0x31));
    for (i, b) in [(0, 1), (1, b's'), (2, b'p')] {
        let mut h = good;
        h[i] = b;
        assert_eq!(
            parse_handshake(&h),
            Err(ProtocolError::BadMagic),
            "byte {i}"
        );
    }
    let mut h = good;
    h[3] = 1;
    assert_eq!(parse_handshake(&h), Err(ProtocolError::BadVersion(1)));
    for i in [6, 7] {
        let mut h = good;
        h[i] = 0x80;
        assert_eq!(
            parse_handshake(&h),
            Err(ProtocolError::BadReserved),
            "byte {i}"
        );
    }
    // Magic is checked first, then the version, then the reserved bytes.
    assert_eq!(
        parse_handshake(&[1, 0, 0, 9, 0, 0, 9, 9]),
        Err(ProtocolError::BadMagic)
    );
    assert_eq!(
        parse_handshake(&[0, b'S', b'P', 9, 0, 0, 9, 9]),
        Err(ProtocolError::BadVersion(9))
    );
}

#[test]
fn wire_examples() {
    // docs/wire.md §2.2 and §2.3: REQ sends "hi" with request id 0x80000001.
    let mut m = Message::from("hi");
    m.set_header(&[0x80, 0, 0, 1]).unwrap();
    let mut tcp = Vec::new();
    encode_message(Framing::Tcp, &m, &mut tcp);
    assert_eq!(tcp, [0, 0, 0, 0, 0, 0, 0, 6, 0x80, 0, 0, 1, 0x68, 0x69]);
    let mut ipc = Vec::new();
    encode_message(Framing::Ipc, &m, &mut ipc);
    assert_eq!(ipc, [1, 0, 0, 0, 0, 0, 0, 0, 6, 0x80, 0, 0, 1, 0x68, 0x69]);
}

#[test]
fn zero_length_messages() {
    for f in [Framing::Tcp, Framing::Ipc] {
        let mut wire = Vec::new();
        for _ in 0..3 {
            encode_message(f, &Message::new(), &mut wire);
        }
        assert_eq!(wire.len(), 3 * f.prefix_len());
        let mut dec = Decoder::new(f, 1);
        let got = decode_chunked(&mut dec, &wire, &[1]);
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|m| m.is_empty()));
        assert!(dec.is_idle());
    }
}

#[test]
fn huge_announced_length_allocates_nothing_up_front() {
    // With no limit, a peer announcing up to 2^60 - 1 bytes and sending a few
    // must cost us only what it sent: allocating the announced size would
    // abort the test process.
    for f in [Framing::Tcp, Framing::Ipc] {
        for len in [1u64 << 59, (1 << 60) - 1, 1 << 40] {
            let mut dec = Decoder::new(f, 0);
            let p = prefix(f, len);
            assert!(dec.decode(&mut &p[..]).unwrap().is_none());
            assert!(!dec.is_idle());
            assert!(dec.decode(&mut &[1, 2, 3, 4][..]).unwrap().is_none());
            let buf = dec.body_buf().expect("a body is pending");
            assert!(buf.len() <= 256 << 10);
            buf[0] = 5;
            assert!(dec.advance_body(1).is_none());
            assert!(!dec.is_idle());
        }
    }
}

#[test]
fn idle_tracks_partial_frames() {
    let mut dec = Decoder::new(Framing::Ipc, 0);
    assert!(dec.is_idle());
    assert_eq!(dec.framing(), Framing::Ipc);
    assert!(dec.decode(&mut &[1][..]).unwrap().is_none());
    assert!(!dec.is_idle());
    assert!(dec
        .decode(&mut &[0, 0, 0, 0, 0, 0, 0, 2, b'a'][..])
        .unwrap()
        .is_none());
    assert!(!dec.is_idle());
    let m = dec.decode(&mut &b"b"[..]).unwrap().unwrap();
    assert_eq!(m.body(), b"ab");
    assert!(dec.is_idle());
}

#[test]
fn advance_body_without_a_body_is_harmless() {
    let mut dec = Decoder::new(Framing::Tcp, 0);
    assert!(dec.body_buf().is_none());
    assert!(dec.advance_body(10).is_none());
    assert!(dec.is_idle());
    // advancing more than was lent is clamped to what was lent.
    dec.decode(&mut &prefix(Framing::Tcp, 3)[..]).unwrap();
    assert!(dec.advance_body(2).is_none(), "nothing lent yet");
    let buf = dec.body_buf().unwrap();
    assert_eq!(buf.len(), 3);
    buf.copy_from_slice(b"xyz");
    assert_eq!(dec.advance_body(usize::MAX).unwrap().body(), b"xyz");
}
