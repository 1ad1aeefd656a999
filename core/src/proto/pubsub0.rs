//! PUB (0x20) / SUB (0x21): topic broadcast.
//!
//! **PUB**
//! * **Who receives**: every connected subscriber gets every message (one
//!   shared body, no copies); filtering happens at the SUB.
//! * **What blocks**: nothing, ever. Each pipe has its own queue of
//!   `send-buffer` messages (default 16, as nng); when a slow subscriber's
//!   queue is full the **oldest** queued message is dropped for that pipe and
//!   counted in [`Stats::drops`](crate::Stats::drops) — the others are not
//!   slowed.
//! * **A message from a subscriber** closes that pipe, as nng does (SUB never
//!   transmits; mangos discards instead).
//! * `recv` is [`Error::NotSupported`].
//!
//! **SUB**
//! * **What it receives**: messages whose body starts with one of its topics
//!   (byte prefix); the empty topic matches everything; no topic, nothing.
//!   Subscriptions are local: nothing is ever sent to the publisher.
//! * **What is dropped**: messages matching no topic (silently); when the
//!   queue (`recv-buffer`, default 128) is full, the oldest queued message
//!   (`sub:prefnew` true, the default) or the new one (false) — counted.
//!   Unsubscribing purges queued messages that no longer match.
//! * **What blocks**: only `recv`, waiting for a message. `send` is
//!   [`Error::NotSupported`].
//!
//! Raw PUB is the same as cooked. Raw SUB does no filtering and drops the new
//! message when full.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::{Delivery, Io, Machine};
use crate::{Error, Message, PipeId, ProtocolError, SendError, SockOpt};

/// The PUB machine.
pub struct Pub0 {
    pipes: Vec<PipeId>,
    per_pipe: usize,
}

impl Pub0 {
    /// A new machine.
    pub fn new(_raw: bool) -> Self {
        Pub0 {
            pipes: Vec::new(),
            per_pipe: 16,
        }
    }
}

impl Machine for Pub0 {
    fn add_pipe(&mut self, io: &mut Io<'_>, p: PipeId) -> Result<(), Error> {
        io.set_pipe_queue(p, self.per_pipe);
        self.pipes.push(p);
        Ok(())
    }

    fn remove_pipe(&mut self, _io: &mut Io<'_>, p: PipeId) {
        self.pipes.retain(|&q| q != p);
    }

    fn pipe_recv(&mut self, _io: &mut Io<'_>, _p: PipeId, _m: Message) -> Delivery {
        Delivery::Close(ProtocolError::UnexpectedMessage.into())
    }

    fn send(&mut self, io: &mut Io<'_>, mut m: Message) -> Result<(), SendError> {
        m.clear_header();
        m.set_pipe(None);
        if let Some((&last, rest)) = self.pipes.split_last() {
            for &p in rest {
                if io.send_evict(p, m.clone()).is_some() {
                    io.count_drop();
                }
            }
            if io.send_evict(last, m).is_some() {
                io.count_drop();
            }
        }
        Ok(())
    }

    fn recv(&mut self, _io: &mut Io<'_>) -> Result<Message, Error> {
        Err(Error::NotSupported)
    }

    fn set_option(&mut self, io: &mut Io<'_>, o: &SockOpt) -> Result<(), Error> {
        match *o {
            SockOpt::SendBuffer(n) if (1..=8192).contains(&n) => {
                self.per_pipe = n;
                for &p in &self.pipes {
                    io.set_pipe_queue(p, n);
                }
                Ok(())
            }
            SockOpt::SendBuffer(_) => Err(Error::InvalidArgument),
            _ => Err(Error::NotSupported),
        }
    }
}

/// The SUB machine.
pub struct Sub0 {
    raw: bool,
    topics: Vec<Vec<u8>>,
    q: VecDeque<Message>,
    cap: usize,
    prefer_new: bool,
}

impl Sub0 {
    /// A new machine.
    pub fn new(raw: bool) -> Self {
        Sub0 {
            raw,
            topics: Vec::new(),
            q: VecDeque::with_capacity(128),
            cap: 128,
            prefer_new: true,
        }
    }

    fn matches(topics: &[Vec<u8>], body: &[u8]) -> bool {
        topics.iter().any(|t| body.starts_with(t))
    }
}

impl Machine for Sub0 {
    fn add_pipe(&mut self, _io: &mut Io<'_>, _p: PipeId) -> Result<(), Error> {
        Ok(())
    }

    fn remove_pipe(&mut self, _io: &mut Io<'_>, _p: PipeId) {}

    fn pipe_recv(&mut self, io: &mut Io<'_>, _p: PipeId, m: Message) -> Delivery {
        if !self.raw && !Self::matches(&self.topics, m.body()) {
            return Delivery::Taken;
        }
        if self.q.len() >= self.cap.max(1) {
            io.count_drop();
            if self.raw || !self.prefer_new {
                return Delivery::Taken;
            }
            self.q.pop_front();
        }
        self.q.push_back(m);
        io.notify_recv();
        Delivery::Taken
    }

    fn send(&mut self, _io: &mut Io<'_>, m: Message) -> Result<(), SendError> {
        Err(SendError::new(Error::NotSupported, m))
    }

    fn recv(&mut self, _io: &mut Io<'_>) -> Result<Message, Error> {
        self.q.pop_front().ok_or(Error::WouldBlock)
    }

    fn set_option(&mut self, _io: &mut Io<'_>, o: &SockOpt) -> Result<(), Error> {
        match o {
            SockOpt::Subscribe(t) if !self.raw => {
                if !self.topics.contains(t) {
                    self.topics.push(t.clone());
                }
            }
            SockOpt::Unsubscribe(t) if !self.raw => {
                let Some(i) = self.topics.iter().position(|x| x == t) else {
                    return Err(Error::NotFound);
                };
                self.topics.swap_remove(i);
                let topics = &self.topics;
                self.q.retain(|m| Self::matches(topics, m.body()));
            }
            SockOpt::Subscribe(_) | SockOpt::Unsubscribe(_) => return Err(Error::NotSupported),
            SockOpt::RecvBuffer(n) if *n <= 8192 => {
                self.cap = *n;
                while self.q.len() > self.cap.max(1) {
                    self.q.pop_front();
                }
            }
            SockOpt::RecvBuffer(_) => return Err(Error::InvalidArgument),
            SockOpt::SubPreferNew(b) => self.prefer_new = *b,
            _ => return Err(Error::NotSupported),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::proto::testing::Harness;
    use crate::proto::Delivery;
    use crate::{Error, Protocol, SockOpt};
    use alloc::vec;
    use alloc::vec::Vec;

    #[test]
    fn pub_fans_out_and_drops_oldest_for_slow_pipe() {
        let mut h = Harness::new(Protocol::Pub0, false);
        h.add(1, 16).unwrap();
        h.add(2, 16).unwrap();
        h.set(SockOpt::SendBuffer(2)).unwrap();
        for b in [b"1", b"2", b"3"] {
            h.send(b).unwrap();
        }
        assert_eq!(h.stats.drops, 2, "one per pipe");
        assert_eq!(h.sent(1), vec![b"2".to_vec(), b"3".to_vec()]);
        assert_eq!(h.sent(2), vec![b"2".to_vec(), b"3".to_vec()]);
        assert!(matches!(h.deliver(1, b"x"), Delivery::Close(_)));
        assert_eq!(h.recv(), Err(Error::NotSupported));
    }

    #[test]
    fn sub_filters_by_prefix() {
        let mut h = Harness::new(Protocol::Sub0, false);
        h.add(1, 4).unwrap();
        h.deliver(1, b"weather rain");
        assert_eq!(
            h.recv(),
            Err(Error::WouldBlock),
            "no subscription = nothing"
        );
        h.set(SockOpt::Subscribe(b"news".to_vec())).unwrap();
        h.set(SockOpt::Subscribe(b"news".to_vec())).unwrap(); // duplicate ignored
        h.deliver(1, b"weather rain");
        h.deliver(1, b"news: hi");
        assert_eq!(h.recv().unwrap().body(), b"news: hi");
        h.set(SockOpt::Subscribe(Vec::new())).unwrap();
        h.deliver(1, b"anything");
        assert_eq!(h.recv().unwrap().body(), b"anything");
        assert_eq!(
            h.set(SockOpt::Unsubscribe(b"nope".to_vec())),
            Err(Error::NotFound)
        );
        assert_eq!(h.send(b"x"), Err(Error::NotSupported));
    }

    #[test]
    fn sub_queue_overflow_and_purge() {
        let mut h = Harness::new(Protocol::Sub0, false);
        h.add(1, 4).unwrap();
        h.set(SockOpt::RecvBuffer(2)).unwrap();
        h.set(SockOpt::Subscribe(b"a".to_vec())).unwrap();
        h.set(SockOpt::Subscribe(b"b".to_vec())).unwrap();
        h.deliver(1, b"a1");
        h.deliver(1, b"b1");
        h.deliver(1, b"a2");
        assert_eq!(h.stats.drops, 1);
        h.set(SockOpt::Unsubscribe(b"b".to_vec())).unwrap();
        assert_eq!(
            h.recv().unwrap().body(),
            b"a2",
            "b1 purged, a1 dropped as oldest"
        );
        assert_eq!(h.recv(), Err(Error::WouldBlock));
        h.set(SockOpt::SubPreferNew(false)).unwrap();
        h.deliver(1, b"a3");
        h.deliver(1, b"a4");
        h.deliver(1, b"a5");
        assert_eq!(h.recv().unwrap().body(), b"a3");
        assert_eq!(h.recv().unwrap().body(), b"a4");
    }

    #[test]
    fn raw_sub_takes_everything() {
        let mut h = Harness::new(Protocol::Sub0, true);
        h.add(1, 4).unwrap();
        h.deliver(1, b"z");
        assert_eq!(h.recv().unwrap().body(), b"z");
        assert_eq!(
            h.set(SockOpt::Subscribe(b"a".to_vec())),
            Err(Error::NotSupported)
        );
    }
}
