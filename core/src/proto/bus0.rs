//! BUS (0x70): every peer hears every message; nothing is forwarded.
//!
//! * **Who receives**: a send goes to every connected pipe. A received message
//!   goes only to the application — BUS never forwards, so a mesh needs every
//!   node connected to every other (or a device).
//! * **What blocks**: nothing. A pipe whose queue (`send-buffer`, default 16)
//!   is full misses the message (counted as a drop).
//! * **What is dropped**: besides full pipes, a received message when the
//!   receive queue (`recv-buffer`, default 16, as nng) is full: the new one.
//! * **Raw mode**: a received message carries its source pipe's id in the
//!   header (4 bytes, local only, never on the wire); a send whose header holds
//!   a pipe id skips that pipe, so a one-socket device rebroadcasts without
//!   echoing a message back to its source. Cooked sends clear the header.

use super::common::{Fanout, RecvQueue, WhenFull};
use super::wire::PipeWord;
use super::{CtxId, Delivery, DropReason, Io, Machine, Raw};
use crate::{Error, Message, PipeId, SendError, SockOpt};

/// The BUS machine.
pub(crate) struct Bus0 {
    raw: Raw,
    pipes: Fanout,
    recvq: RecvQueue,
}

impl Bus0 {
    /// A new machine.
    pub(crate) fn new(raw: bool) -> Self {
        Bus0 {
            raw: Raw::new(raw),
            pipes: Fanout::with_pipe_queue(16),
            recvq: RecvQueue::new(16),
        }
    }
}

impl Machine for Bus0 {
    fn add_pipe(&mut self, io: &mut Io<'_>, p: PipeId) -> Result<(), Error> {
        self.pipes.add(io, p);
        Ok(())
    }

    fn remove_pipe(&mut self, _io: &mut Io<'_>, p: PipeId) {
        self.pipes.remove(p);
    }

    fn pipe_recv(&mut self, io: &mut Io<'_>, p: PipeId, mut m: Message) -> Delivery {
        if self.recvq.full() {
            io.count_drop(DropReason::QueueFull);
            return Delivery::Taken;
        }
        if self.raw.on() {
            // The header is local: whatever the peer sent is body.
            if let Err(e) = m.move_wire_to_header(0) {
                return Delivery::Close(e);
            }
            PipeWord(p).emit(&mut m);
        }
        self.recvq.push(m);
        io.notify_recv();
        Delivery::Taken
    }

    fn send(&mut self, io: &mut Io<'_>, _c: CtxId, mut m: Message) -> Result<(), SendError> {
        let skip = if self.raw.on() {
            PipeWord::parse(m.header()).map(|w| w.0)
        } else {
            None
        };
        m.clear_header();
        m.set_pipe(None);
        self.pipes.send(io, m, skip, WhenFull::DropNew);
        Ok(())
    }

    fn recv(&mut self, _io: &mut Io<'_>, _c: CtxId) -> Result<Message, Error> {
        self.recvq.recv()
    }

    fn set_option(&mut self, io: &mut Io<'_>, _c: CtxId, o: &SockOpt) -> Result<(), Error> {
        match *o {
            SockOpt::SendBuffer(n) => self.pipes.set_pipe_queue(io, n),
            SockOpt::RecvBuffer(n) => self.recvq.set_cap(n),
            _ => Err(Error::NotSupported),
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use crate::proto::testing::Harness;
    use crate::{Message, Protocol};

    #[test]
    fn bus_sends_to_all_and_raw_excludes_the_source() {
        let mut h = Harness::new(Protocol::Bus0, true);
        for p in 1..=3 {
            h.add(p, 4).unwrap();
        }
        h.deliver(2, b"from two");
        let m = h.recv().unwrap();
        assert_eq!(m.header(), &[0, 0, 0, 2]);
        h.send_msg(m).unwrap();
        assert_eq!(h.sent(1), vec![b"from two".to_vec()]);
        assert!(h.sent(2).is_empty(), "not echoed to its source");
        assert_eq!(h.sent(3), vec![b"from two".to_vec()]);
        h.send_msg(Message::from("all")).unwrap();
        for p in 1..=3 {
            assert_eq!(h.sent(p), vec![b"all".to_vec()]);
        }
    }

    #[test]
    fn full_receive_queue_drops_new() {
        let mut h = Harness::new(Protocol::Bus0, false);
        h.add(1, 4).unwrap();
        for i in 0..20u8 {
            h.deliver(1, &[i]);
        }
        assert_eq!(h.stats.drops, 4);
        assert_eq!(h.recv().unwrap().body(), &[0]);
    }
}
