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

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::{CtxId, Delivery, DropReason, Io, Machine};
use crate::{Error, Message, PipeId, SendError, SockOpt};

/// The STAR machine.
pub struct Star0 {
    raw: bool,
    pipes: Vec<PipeId>,
    recvq: VecDeque<Message>,
    ttl: u8,
}

impl Star0 {
    /// A new machine.
    pub fn new(raw: bool) -> Self {
        Star0 {
            raw,
            pipes: Vec::new(),
            recvq: VecDeque::new(),
            ttl: 8,
        }
    }

    fn to_all_but(&self, io: &mut Io<'_>, skip: Option<PipeId>, m: &Message) {
        for &p in &self.pipes {
            if Some(p) != skip && io.try_send(p, m.clone()).is_err() {
                io.count_drop(DropReason::QueueFull);
            }
        }
    }
}

impl Machine for Star0 {
    fn add_pipe(&mut self, _io: &mut Io<'_>, p: PipeId) -> Result<(), Error> {
        self.pipes.push(p);
        Ok(())
    }

    fn remove_pipe(&mut self, _io: &mut Io<'_>, p: PipeId) {
        self.pipes.retain(|&q| q != p);
    }

    fn pipe_recv(&mut self, io: &mut Io<'_>, p: PipeId, mut m: Message) -> Delivery {
        let Some(w) = m.wire_word(0) else {
            io.count_drop(DropReason::Malformed);
            return Delivery::Taken;
        };
        let hops = w & 0xff;
        if w >> 8 != 0 || m.move_wire_to_header(4).is_err() {
            io.count_drop(DropReason::Malformed);
            return Delivery::Taken;
        }
        if hops >= u32::from(self.ttl) {
            io.count_drop(DropReason::HopLimit);
            return Delivery::Taken;
        }
        m.header_mut()[3] = hops as u8 + 1;
        m.set_pipe(None);
        self.to_all_but(io, Some(p), &m);
        if self.recvq.len() >= 128 {
            io.count_drop(DropReason::QueueFull);
            return Delivery::Taken;
        }
        if !self.raw {
            m.clear_header();
        }
        m.set_pipe(Some(p));
        self.recvq.push_back(m);
        io.notify_recv();
        Delivery::Taken
    }

    fn send(&mut self, io: &mut Io<'_>, _c: CtxId, mut m: Message) -> Result<(), SendError> {
        if self.raw {
            if m.header().len() != 4 {
                io.count_drop(DropReason::Unroutable);
                return Ok(());
            }
        } else {
            m.set_header(&[0, 0, 0, 0]).expect("4 bytes fit");
        }
        m.set_pipe(None);
        self.to_all_but(io, None, &m);
        Ok(())
    }

    fn recv(&mut self, _io: &mut Io<'_>, _c: CtxId) -> Result<Message, Error> {
        self.recvq.pop_front().ok_or(Error::WouldBlock)
    }

    fn set_option(&mut self, _io: &mut Io<'_>, _c: CtxId, o: &SockOpt) -> Result<(), Error> {
        match *o {
            SockOpt::TtlMax(t) if (1..=15).contains(&t) => {
                self.ttl = t;
                Ok(())
            }
            SockOpt::TtlMax(_) => Err(Error::InvalidArgument),
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
