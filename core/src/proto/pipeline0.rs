//! PUSH (0x50) / PULL (0x51): load-balanced pipeline.
//!
//! **PUSH**
//! * **Who receives**: one peer per message, round-robin over the pipes that
//!   have room (a pipe whose queue is full is skipped until it drains), so
//!   a slow peer gets less and a fast one more.
//! * **What blocks**: with no pipe ready, up to `send-buffer` messages
//!   (default 0, as nng) wait in the socket; beyond that `send` waits, up to
//!   `send-timeout`, then fails with [`Error::TimedOut`] and hands the message
//!   back.
//! * **What is dropped**: anything a PULL peer sends to us (counted).
//!
//! **PULL**
//! * **Who it hears**: every pipe, fair-queued: a pipe that delivered waits
//!   behind the others that have something, as nng's one-message-per-pipe rule.
//! * **What blocks**: `recv` waits for a message; a full queue
//!   (`recv-buffer`, default 0 = one message) pushes back to the peers.
//! * **What is dropped**: nothing. `send` is [`Error::NotSupported`].
//!
//! Raw mode is the same for both (no header).

use super::common::{RecvQueue, RoundRobin, SendQueue};
use super::{CtxId, Delivery, DropReason, Io, Machine};
use crate::{Error, Message, PipeId, SendError, SockOpt};

/// The PUSH machine.
pub(crate) struct Push0 {
    rr: RoundRobin,
    sendq: SendQueue,
}

impl Push0 {
    /// A new machine.
    pub(crate) fn new(_raw: bool) -> Self {
        Push0 {
            rr: RoundRobin::default(),
            sendq: SendQueue::new(0),
        }
    }

    fn flush(&mut self, io: &mut Io<'_>) {
        let rr = &mut self.rr;
        self.sendq.flush(io, |io, m| rr.place(io, m).map(drop));
    }
}

impl Machine for Push0 {
    fn add_pipe(&mut self, io: &mut Io<'_>, p: PipeId) -> Result<(), Error> {
        self.rr.add(p);
        self.flush(io);
        Ok(())
    }

    fn remove_pipe(&mut self, _io: &mut Io<'_>, p: PipeId) {
        self.rr.remove(p);
    }

    fn pipe_writable(&mut self, io: &mut Io<'_>, p: PipeId) {
        self.rr.writable(p);
        self.flush(io);
    }

    fn pipe_recv(&mut self, io: &mut Io<'_>, _p: PipeId, _m: Message) -> Delivery {
        io.count_drop(DropReason::Unwanted);
        Delivery::Taken
    }

    fn send(&mut self, io: &mut Io<'_>, _ctx: CtxId, mut m: Message) -> Result<(), SendError> {
        m.clear_header();
        let rr = &mut self.rr;
        self.sendq.send(io, m, |io, m| rr.place(io, m).map(drop))
    }

    fn recv(&mut self, _io: &mut Io<'_>, _ctx: CtxId) -> Result<Message, Error> {
        Err(Error::NotSupported)
    }

    fn set_option(&mut self, io: &mut Io<'_>, _ctx: CtxId, o: &SockOpt) -> Result<(), Error> {
        match *o {
            SockOpt::SendBuffer(n) => {
                self.sendq.set_cap(n)?;
                io.notify_send();
                Ok(())
            }
            _ => Err(Error::NotSupported),
        }
    }
}

/// The PULL machine.
pub(crate) struct Pull0 {
    recvq: RecvQueue,
}

impl Pull0 {
    /// A new machine.
    pub(crate) fn new(_raw: bool) -> Self {
        Pull0 {
            recvq: RecvQueue::new(0),
        }
    }
}

impl Machine for Pull0 {
    fn recv_room(&self) -> bool {
        self.recvq.room()
    }

    fn add_pipe(&mut self, _io: &mut Io<'_>, _p: PipeId) -> Result<(), Error> {
        Ok(())
    }

    fn remove_pipe(&mut self, _io: &mut Io<'_>, _p: PipeId) {}

    fn pipe_recv(&mut self, io: &mut Io<'_>, _p: PipeId, m: Message) -> Delivery {
        self.recvq.deliver(io, m)
    }

    fn send(&mut self, _io: &mut Io<'_>, _ctx: CtxId, m: Message) -> Result<(), SendError> {
        Err(SendError::new(Error::NotSupported, m))
    }

    fn recv(&mut self, _io: &mut Io<'_>, _ctx: CtxId) -> Result<Message, Error> {
        self.recvq.recv()
    }

    fn set_option(&mut self, _io: &mut Io<'_>, _ctx: CtxId, o: &SockOpt) -> Result<(), Error> {
        match *o {
            SockOpt::RecvBuffer(n) => self.recvq.set_cap(n),
            _ => Err(Error::NotSupported),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::proto::testing::{Delivery, Harness};
    use crate::{Error, Protocol, SockOpt};
    use alloc::vec;

    #[test]
    fn push_round_robin_skips_full_pipes() {
        let mut h = Harness::new(Protocol::Push0, false);
        h.add(1, 2).unwrap();
        h.add(2, 1).unwrap();
        for b in [b"a", b"b", b"c"] {
            h.send(b).unwrap();
        }
        // 1 got a, c; 2 got b then was full.
        assert_eq!(h.send(b"d"), Err(Error::WouldBlock));
        assert_eq!(h.sent(2), vec![b"b".to_vec()]);
        h.send(b"d").unwrap();
        assert_eq!(h.sent(1), vec![b"a".to_vec(), b"c".to_vec()]);
        assert_eq!(h.sent(2), vec![b"d".to_vec()]);
    }

    #[test]
    fn push_send_buffer_then_block() {
        let mut h = Harness::new(Protocol::Push0, false);
        assert_eq!(h.send(b"x"), Err(Error::WouldBlock));
        h.set(SockOpt::SendBuffer(2)).unwrap();
        h.send(b"1").unwrap();
        h.send(b"2").unwrap();
        assert_eq!(h.send(b"3"), Err(Error::WouldBlock));
        h.add(7, 8).unwrap();
        assert_eq!(h.sent(7), vec![b"1".to_vec(), b"2".to_vec()]);
        assert!(h.send_ready);
        assert_eq!(h.recv(), Err(Error::NotSupported));
        assert!(matches!(h.deliver(7, b"junk"), Delivery::Taken));
        assert_eq!(h.stats.drops, 1);
    }

    #[test]
    fn pull_queue_and_pushback() {
        let mut h = Harness::new(Protocol::Pull0, false);
        h.add(1, 4).unwrap();
        assert!(matches!(h.deliver(1, b"a"), Delivery::Taken));
        assert!(matches!(h.deliver(1, b"b"), Delivery::Full(_)));
        assert_eq!(h.recv().unwrap().body(), b"a");
        assert_eq!(h.recv(), Err(Error::WouldBlock));
        assert_eq!(h.send(b"no"), Err(Error::NotSupported));
    }
}
