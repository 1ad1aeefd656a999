//! STAR (0x640, mangos only, experimental): every node forwards to every
//! other, with a hop count.
//!
//! * **Header** (docs/wire.md §4.7): 4 bytes `00 00 00 hh`, hh = hops so far. A
//!   cooked send puts `00 00 00 00`.
//! * **Who receives**: a send goes to every pipe. A message received with a
//!   valid header and hh below `ttl-max` (default 8) gets hh + 1 and is both
//!   **forwarded to every other pipe** and delivered to the application
//!   (cooked strips the header, raw keeps it). Forwarding happens in raw mode
//!   too. Topologies must be loop-free.
//! * **What is dropped**: bodies shorter than 4 bytes, headers whose first
//!   three bytes are not zero, hh at or over the limit, full pipes (counted),
//!   and new messages when the receive queue (128) is full. A raw send
//!   without a 4-byte header is dropped silently, as mangos does.
//! * **What blocks**: nothing.

use super::common::{self, Fanout, RecvQueue, WhenFull, TTL_DEFAULT};
use super::wire::{HeaderError, StarHeader};
use super::{CtxId, Delivery, DropReason, Io, Machine, Raw};
use crate::{Error, Message, PipeId, SendError, SockOpt};

/// The STAR machine.
pub(crate) struct Star0 {
    raw: Raw,
    pipes: Fanout,
    recvq: RecvQueue,
    ttl: u8,
}

impl Star0 {
    /// A new machine.
    pub(crate) fn new(raw: bool) -> Self {
        Star0 {
            raw: Raw::new(raw),
            pipes: Fanout::new(),
            recvq: RecvQueue::new(128),
            ttl: TTL_DEFAULT,
        }
    }
}

impl Machine for Star0 {
    fn add_pipe(&mut self, io: &mut Io<'_>, p: PipeId) -> Result<(), Error> {
        self.pipes.add(io, p);
        Ok(())
    }

    fn remove_pipe(&mut self, _io: &mut Io<'_>, p: PipeId) {
        self.pipes.remove(p);
    }

    fn pipe_recv(&mut self, io: &mut Io<'_>, p: PipeId, mut m: Message) -> Delivery {
        let hdr = match StarHeader::parse(&m, self.ttl) {
            Ok(h) => h,
            Err(HeaderError::Malformed) => {
                io.count_drop(DropReason::Malformed);
                return Delivery::Taken;
            }
            Err(HeaderError::TooManyHops) => {
                io.count_drop(DropReason::HopLimit);
                return Delivery::Taken;
            }
        };
        if m.move_wire_to_header(StarHeader::LEN).is_err() {
            io.count_drop(DropReason::Malformed);
            return Delivery::Taken;
        }
        hdr.next().emit(&mut m);
        m.set_pipe(None);
        self.pipes.send(io, m.clone(), Some(p), WhenFull::DropNew);
        if self.recvq.full() {
            io.count_drop(DropReason::QueueFull);
            return Delivery::Taken;
        }
        if !self.raw.on() {
            m.clear_header();
        }
        m.set_pipe(Some(p));
        self.recvq.push(m);
        io.notify_recv();
        Delivery::Taken
    }

    fn send(&mut self, io: &mut Io<'_>, _c: CtxId, mut m: Message) -> Result<(), SendError> {
        if !self.raw.on() {
            StarHeader { hops: 0 }.emit(&mut m);
        } else if m.header().len() != StarHeader::LEN {
            io.count_drop(DropReason::Unroutable);
            return Ok(());
        }
        m.set_pipe(None);
        self.pipes.send(io, m, None, WhenFull::DropNew);
        Ok(())
    }

    fn recv(&mut self, _io: &mut Io<'_>, _c: CtxId) -> Result<Message, Error> {
        self.recvq.recv()
    }

    fn set_option(&mut self, _io: &mut Io<'_>, _c: CtxId, o: &SockOpt) -> Result<(), Error> {
        match *o {
            SockOpt::TtlMax(t) => {
                self.ttl = common::ttl_max(t)?;
                Ok(())
            }
            _ => Err(Error::NotSupported),
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use crate::proto::testing::Harness;
    use crate::Protocol;

    #[test]
    fn star_forwards_with_one_more_hop_and_delivers() {
        let mut h = Harness::new(Protocol::Star0, false);
        for p in 1..=3 {
            h.add(p, 4).unwrap();
        }
        h.deliver(1, &[0, 0, 0, 2, b'x']);
        assert!(h.sent(1).is_empty());
        assert_eq!(h.sent(2), vec![vec![0, 0, 0, 3, b'x']]);
        assert_eq!(h.sent(3), vec![vec![0, 0, 0, 3, b'x']]);
        let m = h.recv().unwrap();
        assert_eq!(m.body(), b"x");
        assert!(m.header().is_empty());
        h.deliver(1, &[0, 0, 0, 8, b'y']); // at the limit
        h.deliver(1, &[0, 1, 0, 0, b'z']); // bad header
        h.deliver(1, &[0, 0]); // short
        assert_eq!(h.stats.drops, 3);
        h.send(b"hi").unwrap();
        assert_eq!(h.sent(2), vec![vec![0, 0, 0, 0, b'h', b'i']]);
    }
}
