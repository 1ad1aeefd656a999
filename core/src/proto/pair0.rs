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

use super::common::{self, RecvQueue, SendQueue, TTL_DEFAULT};
use super::{pair1, CtxId, Delivery, Io, Machine, Raw};
use crate::{Error, Message, PipeId, SendError, SockOpt};

/// The PAIR machine: v0 (`V1 = false`, no header) or v1 (`V1 = true`, a hop
/// count: [`super::pair1`]). Both versions are one peer, back-pressure both
/// ways and no drops of valid traffic.
pub(crate) struct Pair<const V1: bool> {
    raw: Raw,
    ttl: u8,
    pipe: Option<PipeId>,
    sendq: SendQueue,
    recvq: RecvQueue,
}

/// The PAIR v0 machine (`raw` changes nothing).
pub(crate) type Pair0 = Pair<false>;

impl<const V1: bool> Pair<V1> {
    /// A new machine.
    pub(crate) fn new(raw: bool) -> Self {
        Pair {
            raw: Raw::new(raw),
            ttl: TTL_DEFAULT,
            pipe: None,
            sendq: SendQueue::new(0),
            recvq: RecvQueue::new(0),
        }
    }

    fn flush(&mut self, io: &mut Io<'_>) {
        let pipe = self.pipe;
        self.sendq.flush(io, |io, m| to_peer(io, pipe, m));
    }
}

/// Queues `m` on the peer's pipe, if there is one and it has room.
fn to_peer(io: &mut Io<'_>, pipe: Option<PipeId>, m: Message) -> Result<(), Message> {
    match pipe {
        Some(p) => io.try_send(p, m),
        None => Err(m),
    }
}

impl<const V1: bool> Machine for Pair<V1> {
    fn recv_room(&self) -> bool {
        self.recvq.room()
    }

    fn add_pipe(&mut self, io: &mut Io<'_>, p: PipeId) -> Result<(), Error> {
        if self.pipe.is_some() {
            return Err(Error::Busy);
        }
        self.pipe = Some(p);
        self.flush(io);
        Ok(())
    }

    fn remove_pipe(&mut self, _io: &mut Io<'_>, p: PipeId) {
        if self.pipe == Some(p) {
            self.pipe = None;
        }
    }

    fn pipe_writable(&mut self, io: &mut Io<'_>, p: PipeId) {
        if self.pipe == Some(p) {
            self.flush(io);
        }
    }

    fn pipe_recv(&mut self, io: &mut Io<'_>, _p: PipeId, mut m: Message) -> Delivery {
        if self.recvq.full() {
            // Handed back untouched: it is parsed again when it is retried.
            return Delivery::Full(m);
        }
        if V1 {
            if let Err(d) = pair1::split_header(io, &mut m, self.raw.on(), self.ttl) {
                return d;
            }
        }
        self.recvq.deliver(io, m)
    }

    fn send(&mut self, io: &mut Io<'_>, _ctx: CtxId, mut m: Message) -> Result<(), SendError> {
        if V1 {
            if let Err(e) = pair1::put_header(&mut m, self.raw.on()) {
                return Err(SendError::new(e, m));
            }
        } else {
            m.clear_header();
        }
        let pipe = self.pipe;
        self.sendq.send(io, m, |io, m| to_peer(io, pipe, m))
    }

    fn recv(&mut self, _io: &mut Io<'_>, _ctx: CtxId) -> Result<Message, Error> {
        self.recvq.recv()
    }

    fn set_option(&mut self, io: &mut Io<'_>, _ctx: CtxId, o: &SockOpt) -> Result<(), Error> {
        io.notify_send();
        match *o {
            SockOpt::TtlMax(t) if V1 => {
                self.ttl = common::ttl_max(t)?;
                Ok(())
            }
            SockOpt::SendBuffer(n) => self.sendq.set_cap(n),
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
