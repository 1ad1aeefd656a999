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

use super::common::{self, Contexts, Ctx, Fanout, WhenFull};
use super::{CtxId, Delivery, DropReason, Io, Machine, Raw};
use crate::{Error, Message, PipeId, ProtocolError, SendError, SockOpt};

/// The PUB machine.
pub(crate) struct Pub0 {
    pipes: Fanout,
}

impl Pub0 {
    /// A new machine.
    pub(crate) fn new(_raw: bool) -> Self {
        Pub0 {
            pipes: Fanout::with_pipe_queue(16),
        }
    }
}

impl Machine for Pub0 {
    fn add_pipe(&mut self, io: &mut Io<'_>, p: PipeId) -> Result<(), Error> {
        self.pipes.add(io, p);
        Ok(())
    }

    fn remove_pipe(&mut self, _io: &mut Io<'_>, p: PipeId) {
        self.pipes.remove(p);
    }

    fn pipe_recv(&mut self, _io: &mut Io<'_>, _p: PipeId, _m: Message) -> Delivery {
        Delivery::Close(ProtocolError::UnexpectedMessage.into())
    }

    fn send(&mut self, io: &mut Io<'_>, _ctx: CtxId, mut m: Message) -> Result<(), SendError> {
        m.clear_header();
        m.set_pipe(None);
        self.pipes.send(io, m, None, WhenFull::DropOldest);
        Ok(())
    }

    fn recv(&mut self, _io: &mut Io<'_>, _ctx: CtxId) -> Result<Message, Error> {
        Err(Error::NotSupported)
    }

    fn set_option(&mut self, io: &mut Io<'_>, _ctx: CtxId, o: &SockOpt) -> Result<(), Error> {
        match *o {
            SockOpt::SendBuffer(n) => self.pipes.set_pipe_queue(io, n),
            _ => Err(Error::NotSupported),
        }
    }
}

/// What a SUB context copies from the socket when it opens.
#[derive(Clone)]
struct SubSettings {
    /// `recv-buffer`.
    cap: usize,
    /// `sub:prefnew`.
    prefer_new: bool,
}

struct SubCtx {
    topics: Vec<Vec<u8>>,
    q: VecDeque<Message>,
    s: SubSettings,
}

impl Ctx for SubCtx {
    type Settings = SubSettings;
    fn open(s: &SubSettings) -> Self {
        SubCtx {
            topics: Vec::new(),
            q: VecDeque::with_capacity(s.cap.min(128)),
            s: s.clone(),
        }
    }
}

impl AsMut<SubSettings> for SubCtx {
    fn as_mut(&mut self) -> &mut SubSettings {
        &mut self.s
    }
}

impl SubCtx {
    fn wants(&self, raw: bool, body: &[u8]) -> bool {
        raw || self.topics.iter().any(|t| body.starts_with(t))
    }

    /// Queues `m`; true if something was dropped.
    fn put(&mut self, raw: bool, m: Message) -> bool {
        if self.q.len() >= self.s.cap.max(1) {
            if raw || !self.s.prefer_new {
                return true;
            }
            self.q.pop_front();
            self.q.push_back(m);
            return true;
        }
        self.q.push_back(m);
        false
    }
}

/// The SUB machine. Each context (and the socket itself) has its own topics
/// and queue; a message is offered to each of them.
pub(crate) struct Sub0 {
    raw: Raw,
    ctxs: Contexts<SubCtx>,
}

impl Sub0 {
    /// A new machine.
    pub(crate) fn new(raw: bool) -> Self {
        Sub0 {
            raw: Raw::new(raw),
            ctxs: Contexts::new(SubSettings {
                cap: 128,
                prefer_new: true,
            }),
        }
    }
}

impl Machine for Sub0 {
    fn add_pipe(&mut self, _io: &mut Io<'_>, _p: PipeId) -> Result<(), Error> {
        Ok(())
    }

    fn remove_pipe(&mut self, _io: &mut Io<'_>, _p: PipeId) {}

    fn pipe_recv(&mut self, io: &mut Io<'_>, _p: PipeId, m: Message) -> Delivery {
        let raw = self.raw.on();
        let mut hits: heapless::Vec<CtxId, 4> = heapless::Vec::new();
        let mut many = false;
        for (c, ctx) in self.ctxs.iter() {
            if ctx.wants(raw, m.body()) && hits.push(c).is_err() {
                many = true;
                break;
            }
        }
        if many {
            // Many contexts: offer a shared copy to each that wants it.
            for (c, ctx) in self.ctxs.iter_mut() {
                if ctx.wants(raw, m.body()) {
                    if ctx.put(raw, m.clone()) {
                        io.count_drop(DropReason::QueueFull);
                    }
                    io.notify_recv_ctx(c);
                }
            }
            return Delivery::Taken;
        }
        let mut m = Some(m);
        let n = hits.len();
        for (i, c) in hits.into_iter().enumerate() {
            let msg = if i + 1 == n {
                m.take().expect("last one")
            } else {
                m.as_ref().expect("kept").clone()
            };
            if self.ctxs.get_mut(c).expect("listed").put(raw, msg) {
                io.count_drop(DropReason::QueueFull);
            }
            io.notify_recv_ctx(c);
        }
        Delivery::Taken
    }

    fn send(&mut self, _io: &mut Io<'_>, _c: CtxId, m: Message) -> Result<(), SendError> {
        Err(SendError::new(Error::NotSupported, m))
    }

    fn recv(&mut self, _io: &mut Io<'_>, c: CtxId) -> Result<Message, Error> {
        let ctx = self.ctxs.get_mut(c).ok_or(Error::Closed)?;
        ctx.q.pop_front().ok_or(Error::WouldBlock)
    }

    fn set_option(&mut self, _io: &mut Io<'_>, c: CtxId, o: &SockOpt) -> Result<(), Error> {
        let raw = self.raw.on();
        let ctx = self.ctxs.get_mut(c).ok_or(Error::Closed)?;
        match o {
            SockOpt::Subscribe(t) if !raw => {
                if !ctx.topics.contains(t) {
                    ctx.topics.push(t.clone());
                }
            }
            SockOpt::Unsubscribe(t) if !raw => {
                let Some(i) = ctx.topics.iter().position(|x| x == t) else {
                    return Err(Error::NotFound);
                };
                ctx.topics.swap_remove(i);
                let topics = &ctx.topics;
                ctx.q
                    .retain(|m| topics.iter().any(|t| m.body().starts_with(t)));
            }
            SockOpt::Subscribe(_) | SockOpt::Unsubscribe(_) => return Err(Error::NotSupported),
            SockOpt::RecvBuffer(n) => {
                let n = common::buffer(*n)?;
                let ctx = self.ctxs.set(c, |s| s.cap = n)?;
                while ctx.q.len() > n.max(1) {
                    ctx.q.pop_front();
                }
            }
            SockOpt::SubPreferNew(b) => {
                self.ctxs.set(c, |s| s.prefer_new = *b)?;
            }
            _ => return Err(Error::NotSupported),
        }
        Ok(())
    }

    fn open_ctx(&mut self, _io: &mut Io<'_>, c: CtxId) -> Result<(), Error> {
        self.ctxs.open(self.raw.on(), c)
    }

    fn close_ctx(&mut self, _io: &mut Io<'_>, c: CtxId) {
        self.ctxs.close(c);
    }
}

#[cfg(test)]
mod tests {
    use crate::proto::testing::{Delivery, Harness};
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
