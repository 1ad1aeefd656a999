//! PAIR v0 (0x10): one peer, no header.
//!
//! * **Who receives**: the one connected peer. A second pipe is refused with
//!   [`Error::Busy`] and closed (nng logs `NNG-PAIR-BUSY`); it may connect
//!   once the first one is gone.
//! * **What blocks**: `send` waits while the peer's queue is full (or there is
//!   no peer), after `send-buffer` messages (default 0) are held by the socket;
//!   `recv` waits for a message.
//! * **What is dropped**: nothing. Back-pressure reaches the peer instead.
//! * Raw mode behaves the same (there is no header to expose).

use alloc::collections::VecDeque;

use super::{CtxId, Delivery, Io, Machine};
use crate::{Error, Message, PipeId, SendError, SockOpt};

/// Send and receive queues shared by the PAIR machines.
pub(crate) struct Queues {
    pub(crate) sendq: VecDeque<Message>,
    pub(crate) send_cap: usize,
    pub(crate) recvq: VecDeque<Message>,
    pub(crate) recv_cap: usize,
}

impl Queues {
    pub(crate) fn new(send_cap: usize, recv_cap: usize) -> Self {
        Queues {
            sendq: VecDeque::with_capacity(send_cap),
            send_cap,
            recvq: VecDeque::with_capacity(recv_cap.max(1)),
            recv_cap,
        }
    }

    /// True when the receive queue cannot take another message.
    pub(crate) fn full(&self) -> bool {
        self.recvq.len() >= self.recv_cap.max(1)
    }

    /// Queues for the application, or hands the message back when full.
    pub(crate) fn deliver(&mut self, io: &mut Io<'_>, m: Message) -> Delivery {
        if self.recvq.len() >= self.recv_cap.max(1) {
            return Delivery::Full(m);
        }
        self.recvq.push_back(m);
        io.notify_recv();
        Delivery::Taken
    }

    pub(crate) fn recv(&mut self) -> Result<Message, Error> {
        self.recvq.pop_front().ok_or(Error::WouldBlock)
    }

    /// Sends to `pipe` or queues; `WouldBlock` when both are full.
    pub(crate) fn send(
        &mut self,
        io: &mut Io<'_>,
        pipe: Option<PipeId>,
        m: Message,
    ) -> Result<(), SendError> {
        let m = if self.sendq.is_empty() {
            match pipe {
                Some(p) => match io.try_send(p, m) {
                    Ok(()) => return Ok(()),
                    Err(m) => m,
                },
                None => m,
            }
        } else {
            m
        };
        if self.sendq.len() < self.send_cap {
            self.sendq.push_back(m);
            Ok(())
        } else {
            Err(SendError::new(Error::WouldBlock, m))
        }
    }

    /// Moves queued messages to `p` while it has room.
    pub(crate) fn flush(&mut self, io: &mut Io<'_>, p: PipeId) {
        while let Some(m) = self.sendq.pop_front() {
            if let Err(m) = io.try_send(p, m) {
                self.sendq.push_front(m);
                break;
            }
        }
        io.notify_send();
    }

    pub(crate) fn set_option(&mut self, o: &SockOpt) -> Result<(), Error> {
        match *o {
            SockOpt::SendBuffer(n) if n <= 8192 => self.send_cap = n,
            SockOpt::RecvBuffer(n) if n <= 8192 => self.recv_cap = n,
            SockOpt::SendBuffer(_) | SockOpt::RecvBuffer(_) => return Err(Error::InvalidArgument),
            _ => return Err(Error::NotSupported),
        }
        Ok(())
    }
}

/// The PAIR v0 machine.
pub struct Pair0 {
    pipe: Option<PipeId>,
    q: Queues,
}

impl Pair0 {
    /// A new machine (`raw` changes nothing for PAIR v0).
    pub fn new(_raw: bool) -> Self {
        Pair0 {
            pipe: None,
            q: Queues::new(0, 0),
        }
    }
}

impl Machine for Pair0 {
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

    fn pipe_recv(&mut self, io: &mut Io<'_>, _p: PipeId, m: Message) -> Delivery {
        self.q.deliver(io, m)
    }

    fn send(&mut self, io: &mut Io<'_>, _ctx: CtxId, mut m: Message) -> Result<(), SendError> {
        m.clear_header();
        self.q.send(io, self.pipe, m)
    }

    fn recv(&mut self, _io: &mut Io<'_>, _ctx: CtxId) -> Result<Message, Error> {
        self.q.recv()
    }

    fn set_option(&mut self, io: &mut Io<'_>, _ctx: CtxId, o: &SockOpt) -> Result<(), Error> {
        io.notify_send();
        self.q.set_option(o)
    }
}

#[cfg(test)]
mod tests {
    use crate::proto::testing::Harness;
    use crate::proto::Delivery;
    use crate::{Error, Protocol, SockOpt};
    use alloc::vec;

    #[test]
    fn one_peer_only() {
        let mut h = Harness::new(Protocol::Pair0, false);
        h.add(1, 4).unwrap();
        assert_eq!(h.add(2, 4), Err(Error::Busy));
        h.remove(1);
        h.add(2, 4).unwrap();
    }

    #[test]
    fn back_pressure_without_drops() {
        let mut h = Harness::new(Protocol::Pair0, false);
        assert_eq!(h.send(b"x"), Err(Error::WouldBlock), "no peer, no buffer");
        h.add(1, 2).unwrap();
        h.send(b"a").unwrap();
        h.send(b"b").unwrap();
        assert_eq!(h.send(b"c"), Err(Error::WouldBlock));
        assert_eq!(h.sent(1), vec![b"a".to_vec(), b"b".to_vec()]);
        h.send(b"c").unwrap();
        h.set(SockOpt::SendBuffer(1)).unwrap();
        h.send(b"d").unwrap();
        h.send(b"e").unwrap(); // held by the socket
        assert_eq!(h.send(b"f"), Err(Error::WouldBlock));
        assert_eq!(h.sent(1), vec![b"c".to_vec(), b"d".to_vec()]);
        assert_eq!(h.sent(1), vec![b"e".to_vec()]);
    }

    #[test]
    fn receive_queue_pushes_back() {
        let mut h = Harness::new(Protocol::Pair0, false);
        h.add(1, 4).unwrap();
        assert!(matches!(h.deliver(1, b"one"), Delivery::Taken));
        assert!(h.recv_ready);
        assert!(matches!(h.deliver(1, b"two"), Delivery::Full(_)));
        assert_eq!(h.recv().unwrap().body(), b"one");
        assert_eq!(h.recv(), Err(Error::WouldBlock));
    }
}
