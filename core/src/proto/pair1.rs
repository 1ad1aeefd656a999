//! PAIR v1 (0x11), monogamous: one peer, a 4-byte hop-count header.
//!
//! * **Who receives**: the one connected peer; a second pipe is refused with
//!   [`Error::Busy`] as in PAIR v0.
//! * **Header** (docs/wire.md §4.6): one big-endian 32-bit word, the hop count.
//!   As nng does, a cooked send puts 1 on the wire (the count is incremented
//!   as the message leaves); mangos puts 0, and both are accepted.
//! * **What is dropped**: a message whose hop count exceeds `ttl-max`
//!   (default 8) is dropped silently and counted; the pipe stays.
//! * **What closes the pipe**: a message shorter than 4 bytes or with a hop
//!   count above 255 is malformed; nng closes the pipe, and so do we.
//! * **What blocks**: as PAIR v0 (back-pressure, no drops of valid traffic).
//! * **Raw mode**: the received header (with the count as received) is given
//!   to the application; a raw send must carry a 4-byte header with a count
//!   below 255, which is incremented on the way out (a forwarding device adds
//!   its hop). Anything else is refused with a protocol error.

use super::common;
use super::wire::{HeaderError, HopCount};
use super::{Delivery, DropReason, Io};
use crate::{Error, Message, ProtocolError};

/// The PAIR v1 machine: PAIR v0's, with the hop count below.
pub(crate) type Pair1 = super::pair0::Pair<true>;

/// Splits the hop count off a received message (raw: into its header,
/// cooked: away). `Err` is the answer to give the engine instead.
pub(super) fn split_header(
    io: &mut Io<'_>,
    m: &mut Message,
    raw: bool,
    ttl: u8,
) -> Result<(), Delivery> {
    match HopCount::parse(m, ttl) {
        Ok(_) if raw => m
            .move_wire_to_header(HopCount::LEN)
            .map_err(|_| Delivery::malformed()),
        Ok(_) => common::strip(m, HopCount::LEN),
        Err(HeaderError::TooManyHops) => {
            io.count_drop(DropReason::HopLimit);
            Err(Delivery::Taken)
        }
        Err(HeaderError::Malformed) => Err(Delivery::malformed()),
    }
}

/// Puts the hop count on a message the application sends: 1 (cooked), or
/// one more than the header it carries (raw; anything but one word below
/// 255 is refused, the message untouched).
pub(super) fn put_header(m: &mut Message, raw: bool) -> Result<(), Error> {
    let hops = if raw {
        HopCount::parse_outgoing(m.header())
            .map_err(|_| Error::from(ProtocolError::MalformedHeader))?
            .next()
    } else {
        HopCount(1)
    };
    hops.emit(m);
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::proto::testing::{Delivery, Harness};
    use crate::{Error, Message, Protocol, ProtocolError, SockOpt};
    use alloc::vec;

    #[test]
    fn cooked_sends_hop_one_and_strips_on_receive() {
        let mut h = Harness::new(Protocol::Pair1, false);
        h.add(1, 4).unwrap();
        h.send(b"hi").unwrap();
        assert_eq!(h.sent(1), vec![vec![0, 0, 0, 1, b'h', b'i']]);
        assert!(matches!(h.deliver(1, &[0, 0, 0, 0, b'x']), Delivery::Taken));
        let m = h.recv().unwrap();
        assert_eq!(m.header(), b"");
        assert_eq!(m.body(), b"x");
    }

    #[test]
    fn hop_limits() {
        let mut h = Harness::new(Protocol::Pair1, false);
        h.add(1, 4).unwrap();
        assert!(matches!(h.deliver(1, &[0, 0, 0, 9, 1]), Delivery::Taken));
        assert_eq!(h.stats.drops, 1);
        assert_eq!(h.recv(), Err(Error::WouldBlock));
        h.set(SockOpt::TtlMax(9)).unwrap();
        assert!(matches!(h.deliver(1, &[0, 0, 0, 9, 1]), Delivery::Taken));
        assert_eq!(h.recv().unwrap().body(), &[1]);
        assert_eq!(h.set(SockOpt::TtlMax(16)), Err(Error::InvalidArgument));
    }

    #[test]
    fn malformed_closes() {
        let mut h = Harness::new(Protocol::Pair1, false);
        h.add(1, 4).unwrap();
        assert!(matches!(
            h.deliver(1, &[0, 0, 1]),
            Delivery::Close(Error::Protocol(ProtocolError::MalformedHeader))
        ));
        assert!(matches!(h.deliver(1, &[0, 0, 1, 0]), Delivery::Close(_)));
    }

    #[test]
    fn raw_keeps_and_increments() {
        let mut h = Harness::new(Protocol::Pair1, true);
        h.add(1, 4).unwrap();
        assert!(matches!(h.deliver(1, &[0, 0, 0, 3, 7]), Delivery::Taken));
        let m = h.recv().unwrap();
        assert_eq!(m.header(), &[0, 0, 0, 3]);
        h.send_msg(m).unwrap();
        assert_eq!(h.sent(1), vec![vec![0, 0, 0, 4, 7]]);
        let bad = Message::from(&b"no header"[..]);
        assert!(h.send_msg(bad).is_err());
        let mut full = Message::new();
        full.set_header(&[0, 0, 0, 0xff]).unwrap();
        assert!(h.send_msg(full).is_err());
    }
}
