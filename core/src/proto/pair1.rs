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

use super::pair0::Queues;
use super::{CtxId, Delivery, DropReason, Io, Machine};
use crate::{Error, Message, PipeId, ProtocolError, SendError, SockOpt};

/// The PAIR v1 machine.
pub struct Pair1 {
    raw: bool,
    pipe: Option<PipeId>,
    ttl: u8,
    q: Queues,
}

impl Pair1 {
    /// A new machine.
    pub fn new(raw: bool) -> Self {
        Pair1 {
            raw,
            pipe: None,
            ttl: 8,
            q: Queues::new(0, 0),
        }
    }
}

impl Machine for Pair1 {
    fn add_pipe(&mut self, io: &mut Io<'_>, p: PipeId) -> Result<(), Error> {
        if self.pipe.is_some() {
            return Err(Error::Busy);
        }
        self.pipe = Some(p);
        self.q.flush(io, p);
        Ok(())
    }

    fn remove_pipe(&mut self, _io: &mut Io<'_>, p: PipeId) {
        if self.pipe == Some(p) {
            self.pipe = None;
        }
    }

    fn pipe_writable(&mut self, io: &mut Io<'_>, p: PipeId) {
        if self.pipe == Some(p) {
            self.q.flush(io, p);
        }
    }

    fn pipe_recv(&mut self, io: &mut Io<'_>, _p: PipeId, mut m: Message) -> Delivery {
        if self.q.full() {
            // Handed back untouched: it is parsed again when it is retried.
            return Delivery::Full(m);
        }
        let Some(hops) = m.wire_word(0) else {
            return Delivery::Close(ProtocolError::MalformedHeader.into());
        };
        if hops > 0xff {
            return Delivery::Close(ProtocolError::MalformedHeader.into());
        }
        if hops > u32::from(self.ttl) {
            io.count_drop(DropReason::HopLimit);
            return Delivery::Taken;
        }
        if m.move_wire_to_header(4).is_err() {
            return Delivery::Close(ProtocolError::MalformedHeader.into());
        }
        if !self.raw {
            m.clear_header();
        }
        self.q.deliver(io, m)
    }

    fn send(&mut self, io: &mut Io<'_>, _ctx: CtxId, mut m: Message) -> Result<(), SendError> {
        let hops = if self.raw {
            let h = m.header();
            if h.len() != 4 {
                return Err(SendError::new(ProtocolError::MalformedHeader.into(), m));
            }
            let v = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
            if v >= 0xff {
                return Err(SendError::new(ProtocolError::MalformedHeader.into(), m));
            }
            v + 1
        } else {
            1
        };
        m.clear_header();
        m.push_header(&hops.to_be_bytes()).expect("4 bytes fit");
        self.q.send(io, self.pipe, m)
    }

    fn recv(&mut self, _io: &mut Io<'_>, _ctx: CtxId) -> Result<Message, Error> {
        self.q.recv()
    }

    fn set_option(&mut self, io: &mut Io<'_>, _ctx: CtxId, o: &SockOpt) -> Result<(), Error> {
        io.notify_send();
        match *o {
            SockOpt::TtlMax(t) if (1..=15).contains(&t) => {
                self.ttl = t;
                Ok(())
            }
            SockOpt::TtlMax(_) => Err(Error::InvalidArgument),
            _ => self.q.set_option(o),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::proto::testing::Harness;
    use crate::proto::Delivery;
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
