//! The REP machine, also RESPONDENT's (semantics in the module above).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::super::common::{self, Contexts, Ctx, RecvQueue, TTL_DEFAULT};
use super::super::wire::{set_header, PipeWord, SavedBacktrace};
use super::super::{CtxId, Delivery, DropReason, Io, Machine, Raw};
use crate::{Error, Message, PipeId, SendError, SockOpt};

struct RepCtx {
    /// The request the next `send` answers: where it came from, and its
    /// backtrace.
    pending: Option<(PipeId, SavedBacktrace)>,
    /// Waiting in `recv`: the mark of its entry in `Rep0::waiting` (older
    /// entries of this context are stale and skipped).
    waits: Option<u32>,
    /// A request waits for it in `Rep0::handed`.
    handed: bool,
}

impl Ctx for RepCtx {
    type Settings = ();
    fn open(_: &()) -> Self {
        RepCtx {
            pending: None,
            waits: None,
            handed: false,
        }
    }
}

/// The REP machine (and RESPONDENT's: the two behave alike), cooked or raw.
pub(crate) struct Rep0 {
    raw: Raw,
    ttl: u8,
    recvq: RecvQueue,
    ctxs: Contexts<RepCtx>,
    /// Contexts waiting in `recv`, oldest first: each request wakes one.
    /// An entry counts only while its context's `waits` holds its mark, so
    /// that leaving the queue costs nothing with thousands of contexts.
    waiting: VecDeque<(CtxId, u32)>,
    /// The last mark given out.
    mark: u32,
    /// Contexts waiting (live entries of `waiting`).
    live: usize,
    /// Requests handed to a waiting context's `recv`, not yet taken (kept
    /// apart from the contexts so that an idle socket stays small).
    handed: Vec<(CtxId, Message)>,
}

impl Rep0 {
    /// A new machine.
    pub(crate) fn new(raw: bool) -> Self {
        Rep0 {
            raw: Raw::new(raw),
            ttl: TTL_DEFAULT,
            recvq: RecvQueue::new(128),
            ctxs: Contexts::new(()),
            waiting: VecDeque::new(),
            mark: 0,
            live: 0,
            handed: Vec::new(),
        }
    }

    /// `c` no longer waits. Stale entries are dropped from `waiting` once
    /// they outnumber the live ones (a REP that times out again and again
    /// with nothing coming must not grow).
    fn unwait(&mut self, c: CtxId) {
        let Some(ctx) = self.ctxs.get_mut(c) else {
            return;
        };
        if ctx.waits.take().is_none() {
            return;
        }
        self.live -= 1;
        if self.waiting.len() > 2 * self.live + 8 {
            let ctxs = &self.ctxs;
            self.waiting
                .retain(|&(c, mark)| ctxs.get(c).is_some_and(|x| x.waits == Some(mark)));
        }
    }

    fn take_handed(&mut self, c: CtxId) -> Option<Message> {
        let ctx = self.ctxs.get_mut(c)?;
        if !core::mem::replace(&mut ctx.handed, false) {
            return None;
        }
        let i = self.handed.iter().position(|h| h.0 == c)?;
        Some(self.handed.swap_remove(i).1)
    }

    /// Hands request `m` to the context that has waited longest (as nng:
    /// receivers are served in order), or queues it when nobody waits.
    fn deliver(&mut self, io: &mut Io<'_>, m: Message, front: bool) {
        while let Some((c, mark)) = self.waiting.pop_front() {
            if let Some(ctx) = self.ctxs.get_mut(c) {
                if ctx.waits == Some(mark) {
                    ctx.waits = None;
                    self.live -= 1;
                    ctx.handed = true;
                    self.handed.push((c, m));
                    io.notify_recv_ctx(c);
                    return;
                }
            }
        }
        if front {
            self.recvq.push_front(m);
        } else {
            self.recvq.push(m);
        }
    }
}

impl Machine for Rep0 {
    fn recv_room(&self) -> bool {
        self.recvq.room()
    }

    fn add_pipe(&mut self, _io: &mut Io<'_>, _p: PipeId) -> Result<(), Error> {
        Ok(())
    }

    fn remove_pipe(&mut self, _io: &mut Io<'_>, _p: PipeId) {
        // Requests already queued from a gone pipe stay: the application
        // still receives them (as nng; a fire-and-forget request is not
        // lost), and the reply is discarded.
    }

    fn pipe_writable(&mut self, io: &mut Io<'_>, _p: PipeId) {
        io.notify_send();
    }

    fn pipe_recv(&mut self, io: &mut Io<'_>, p: PipeId, mut m: Message) -> Delivery {
        if self.recvq.full() {
            return Delivery::Full(m);
        }
        if let Err(d) = common::split_backtrace(io, &mut m, self.ttl) {
            return d;
        }
        if self.raw.on() && PipeWord(p).emit_front(&mut m).is_err() {
            // The pipe word no longer fits in front of the backtrace.
            io.count_drop(DropReason::HopLimit);
            return Delivery::Taken;
        }
        m.set_pipe(Some(p));
        self.deliver(io, m, false);
        Delivery::Taken
    }

    fn send(&mut self, io: &mut Io<'_>, c: CtxId, mut m: Message) -> Result<(), SendError> {
        if self.raw.on() {
            let Some(PipeWord(p)) = PipeWord::take_front(&mut m) else {
                io.count_drop(DropReason::Unroutable);
                return Ok(());
            };
            if io.try_send(p, m).is_err() {
                io.count_drop(DropReason::Unroutable);
            }
            return Ok(());
        }
        let Some(ctx) = self.ctxs.get_mut(c) else {
            return Err(SendError::new(Error::Closed, m));
        };
        let Some((p, bt)) = ctx.pending.take() else {
            return Err(SendError::new(Error::ProtocolState, m));
        };
        set_header(&mut m, &bt);
        match io.try_send(p, m) {
            Ok(()) => Ok(()),
            Err(mut m) if io.has_pipe(p) => {
                m.clear_header();
                ctx.pending = Some((p, bt));
                Err(SendError::new(Error::WouldBlock, m))
            }
            Err(_) => Ok(()), // the requester is gone: the reply is discarded
        }
    }

    fn recv(&mut self, _io: &mut Io<'_>, c: CtxId) -> Result<Message, Error> {
        if !self.ctxs.contains(c) {
            return Err(Error::Closed);
        }
        let Some(mut m) = self.take_handed(c).or_else(|| self.recvq.pop()) else {
            return Err(Error::WouldBlock);
        };
        self.unwait(c);
        if !self.raw.on() {
            let p = m.pipe().expect("set on receipt");
            // Same capacity: it always fits (and no panic path is linked).
            let bt = SavedBacktrace::from_slice(m.header()).unwrap_or_default();
            self.ctxs.get_mut(c).expect("checked").pending = Some((p, bt));
            m.clear_header();
        }
        Ok(m)
    }

    fn set_option(&mut self, _io: &mut Io<'_>, _c: CtxId, o: &SockOpt) -> Result<(), Error> {
        match *o {
            SockOpt::TtlMax(t) => {
                self.ttl = common::ttl_max(t)?;
                Ok(())
            }
            SockOpt::RecvBuffer(n) => self.recvq.set_cap(n),
            _ => Err(Error::NotSupported),
        }
    }

    fn open_ctx(&mut self, _io: &mut Io<'_>, c: CtxId) -> Result<(), Error> {
        self.ctxs.open(self.raw.on(), c)
    }

    fn close_ctx(&mut self, io: &mut Io<'_>, c: CtxId) {
        self.recv_cancelled(io, c);
        self.ctxs.close(c);
    }

    fn tracks_receives(&self) -> bool {
        true // raw too: a device's receives are handed requests in order
    }

    fn one_recv_per_ctx(&self) -> bool {
        true // recv_begin refuses a second one, raw too
    }

    #[cfg(test)]
    fn waiter_entries(&self) -> usize {
        self.waiting.len()
    }

    fn recv_begin(&mut self, _io: &mut Io<'_>, c: CtxId) -> Result<(), Error> {
        let Some(ctx) = self.ctxs.get(c) else {
            return Err(Error::Closed);
        };
        // One waiting recv per context, as nng.
        if ctx.waits.is_some() || ctx.handed {
            return Err(Error::ProtocolState);
        }
        Ok(())
    }

    fn recv_parked(&mut self, _io: &mut Io<'_>, c: CtxId) {
        if let Some(ctx) = self.ctxs.get_mut(c) {
            if ctx.waits.is_none() {
                self.mark = self.mark.wrapping_add(1);
                ctx.waits = Some(self.mark);
                self.live += 1;
                self.waiting.push_back((c, self.mark));
            }
        }
    }

    fn recv_cancelled(&mut self, io: &mut Io<'_>, c: CtxId) {
        self.unwait(c);
        // A request handed to the abandoned recv goes to the next waiting
        // context, or back to the front of the queue.
        if let Some(m) = self.take_handed(c) {
            self.deliver(io, m, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use crate::proto::testing::{Delivery, Harness};
    use crate::{Error, Message, Protocol};

    #[test]
    fn rep_keeps_requests_of_a_requester_that_left() {
        let mut h = Harness::new(Protocol::Rep0, false);
        h.add(1, 4).unwrap();
        h.deliver(1, &[0x80, 0, 0, 1, b'a']);
        h.remove(1);
        assert_eq!(h.wait_recv().unwrap().body(), b"a", "as nng");
        h.send(b"nobody hears").unwrap();
        assert_eq!(h.wait_recv(), Err(Error::WouldBlock));
        assert_eq!(h.wait_recv(), Err(Error::ProtocolState), "one recv waits");
    }

    #[test]
    fn rep_lock_step_and_backtraces() {
        let mut h = Harness::new(Protocol::Rep0, false);
        h.add(1, 4).unwrap();
        assert_eq!(h.send(b"x"), Err(Error::ProtocolState));
        h.deliver(1, &[0, 0, 0, 7, 0x80, 0, 0, 9, b'h', b'i']);
        let m = h.recv().unwrap();
        assert_eq!(m.body(), b"hi");
        assert!(m.header().is_empty());
        h.send(b"ok").unwrap();
        assert_eq!(h.sent(1), vec![vec![0, 0, 0, 7, 0x80, 0, 0, 9, b'o', b'k']]);
        assert_eq!(h.send(b"again"), Err(Error::ProtocolState));
        // Malformed: no word with the high bit.
        assert!(matches!(
            h.deliver(1, &[0, 0, 0, 1, 0, 0]),
            Delivery::Close(_)
        ));
        // Too many hops: dropped, pipe kept.
        let mut long = vec![];
        for _ in 0..8 {
            long.extend_from_slice(&[0, 0, 0, 1]);
        }
        long.extend_from_slice(&[0x80, 0, 0, 1]);
        assert!(matches!(h.deliver(1, &long), Delivery::Taken));
        assert_eq!(h.stats.drops, 1);
        assert_eq!(h.recv(), Err(Error::WouldBlock));
    }

    #[test]
    fn rep_second_recv_abandons_first_and_gone_pipe_discards() {
        let mut h = Harness::new(Protocol::Rep0, false);
        h.add(1, 4).unwrap();
        h.add(2, 4).unwrap();
        h.deliver(1, &[0x80, 0, 0, 1, b'a']);
        h.deliver(2, &[0x80, 0, 0, 2, b'b']);
        h.recv().unwrap();
        h.recv().unwrap();
        h.send(b"r").unwrap();
        assert!(h.sent(1).is_empty());
        assert_eq!(h.sent(2), vec![vec![0x80, 0, 0, 2, b'r']]);
        h.deliver(1, &[0x80, 0, 0, 3, b'c']);
        h.recv().unwrap();
        h.remove(1);
        h.send(b"late").unwrap();
    }

    /// Contexts get requests in the order they began to wait, whatever
    /// came before: a context that waited and gave up a thousand times (a
    /// polling loop with a timeout) leaves nothing behind.
    #[test]
    fn rep_contexts_served_in_waiting_order_after_many_timeouts() {
        use crate::proto::CtxId;
        let mut h = Harness::new(Protocol::Rep0, false);
        h.add(1, 8).unwrap();
        let (a, b, c) = (CtxId(1), CtxId(2), CtxId(3));
        for x in [a, b, c] {
            h.open_ctx(x).unwrap();
        }
        for _ in 0..1000 {
            assert_eq!(h.wait_recv_on(a), Err(Error::WouldBlock));
            h.cancel_recv_on(a);
        }
        assert!(h.machine().waiter_entries() <= 16, "stale entries dropped");
        assert_eq!(h.wait_recv_on(b), Err(Error::WouldBlock));
        assert_eq!(h.wait_recv_on(c), Err(Error::WouldBlock));
        assert_eq!(h.wait_recv_on(a), Err(Error::WouldBlock));
        // One waiting recv per context, as nng.
        assert_eq!(h.wait_recv_on(b), Err(Error::ProtocolState));
        for id in 1..=3u8 {
            h.deliver(1, &[0x80, 0, 0, id, b'0' + id]);
        }
        assert_eq!(h.repoll_on(b).unwrap().body(), b"1");
        assert_eq!(h.repoll_on(c).unwrap().body(), b"2");
        assert_eq!(h.repoll_on(a).unwrap().body(), b"3");
        // Handed and answered: each context may wait again.
        for x in [a, b, c] {
            h.send_on(x, Message::from("r")).unwrap();
            assert_eq!(h.wait_recv_on(x), Err(Error::WouldBlock));
        }
        // Closing a waiting context hands its turn on.
        h.close_ctx(a);
        h.deliver(1, &[0x80, 0, 0, 4, b'4']);
        assert_eq!(h.repoll_on(b).unwrap().body(), b"4");
        assert_eq!(h.repoll_on(c), Err(Error::WouldBlock));
    }

    #[test]
    fn raw_rep_pushes_and_pops_the_pipe_id() {
        let mut h = Harness::new(Protocol::Rep0, true);
        h.add(5, 4).unwrap();
        h.deliver(5, &[0x80, 0, 0, 1, b'q']);
        let m = h.recv().unwrap();
        assert_eq!(m.header(), &[0, 0, 0, 5, 0x80, 0, 0, 1]);
        h.send_msg(m).unwrap();
        assert_eq!(h.sent(5), vec![vec![0x80, 0, 0, 1, b'q']]);
    }
}
