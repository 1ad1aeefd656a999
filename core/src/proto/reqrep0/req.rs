//! The REQ machine (semantics in the module above).

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::time::Duration;

use super::super::common::{
    self, Contexts, Ctx, Ids, RecvQueue, RecvWait, RoundRobin, TTL_DEFAULT,
};
use super::super::wire::RequestId;
use super::super::{CtxId, Delivery, DropReason, Io, Machine, Raw};
use crate::{Error, Instant, Message, PipeId, SendError, SockOpt};

/// Default `req:resend-time`.
pub const DEFAULT_RESEND: Duration = Duration::from_secs(60);

/// A request sent (or waiting for a pipe), kept to be sent again.
struct Request {
    id: u32,
    /// Header (the id) and body, as sent.
    msg: Message,
    /// The pipe that carried it last; `None` while no pipe has taken it.
    pipe: Option<PipeId>,
    resend_at: Option<Instant>,
}

/// Where a context's request stands, as the next `recv` sees it.
enum State {
    /// No request: `recv` is [`Error::ProtocolState`].
    Idle,
    /// A request waits for its reply.
    Pending(Request),
    /// The reply came; the next `recv` takes it.
    Replied(Message),
    /// The request failed (its pipe closed with resend disabled); the next
    /// `recv` reports it.
    Failed(Error),
}

struct ReqCtx {
    state: State,
    /// The `recv` waiting on the request (only ever while one is pending).
    recv: RecvWait,
    resend: Option<Duration>,
}

impl ReqCtx {
    /// The pending request, if any.
    fn req(&self) -> Option<&Request> {
        match &self.state {
            State::Pending(req) => Some(req),
            _ => None,
        }
    }
}

impl Ctx for ReqCtx {
    type Settings = Option<Duration>;
    fn open(resend: &Option<Duration>) -> Self {
        ReqCtx {
            state: State::Idle,
            recv: RecvWait::Idle,
            resend: *resend,
        }
    }
}

impl AsMut<RecvWait> for ReqCtx {
    fn as_mut(&mut self) -> &mut RecvWait {
        &mut self.recv
    }
}

impl AsMut<Option<Duration>> for ReqCtx {
    fn as_mut(&mut self) -> &mut Option<Duration> {
        &mut self.resend
    }
}

/// The REQ machine (cooked or raw).
pub(crate) struct Req0 {
    raw: Raw,
    rr: RoundRobin,
    ids: Ids,
    ctxs: Contexts<ReqCtx>,
    /// Contexts whose request waits for a pipe, in the order they sent.
    unsent: VecDeque<CtxId>,
    /// Raw mode: replies (backtrace in the header) for the application.
    recvq: RecvQueue,
    ttl: u8,
}

impl Req0 {
    /// A new machine; `seed` picks the first request id.
    pub(crate) fn new(raw: bool, seed: u32) -> Self {
        Req0 {
            raw: Raw::new(raw),
            rr: RoundRobin::default(),
            ids: Ids::new(seed),
            ctxs: Contexts::new(Some(DEFAULT_RESEND)),
            unsent: VecDeque::new(),
            recvq: RecvQueue::new(128),
            ttl: TTL_DEFAULT,
        }
    }

    /// Sends (or resends) `c`'s request to some ready pipe, or queues it.
    fn dispatch(&mut self, io: &mut Io<'_>, c: CtxId) {
        let Some(ctx) = self.ctxs.get_mut(c) else {
            return;
        };
        let State::Pending(req) = &mut ctx.state else {
            return;
        };
        match self.rr.place(io, req.msg.clone()) {
            Ok(p) => {
                req.pipe = Some(p);
                req.resend_at = ctx.resend.map(|d| io.now() + d);
                if let Some(at) = req.resend_at {
                    io.arm(at);
                }
            }
            Err(_) => {
                req.pipe = None;
                req.resend_at = None;
                if !self.unsent.contains(&c) {
                    self.unsent.push_back(c);
                }
            }
        }
    }

    /// Sends the requests that wait for a pipe, oldest first, while pipes
    /// take them.
    fn drain_unsent(&mut self, io: &mut Io<'_>) {
        while let Some(c) = self.unsent.pop_front() {
            let before = self.unsent.len();
            self.dispatch(io, c);
            if self.unsent.len() > before {
                // Still no pipe: it went back to the tail; keep the order.
                let c = self.unsent.pop_back().expect("just pushed");
                self.unsent.push_front(c);
                break;
            }
        }
    }

    /// Forgets `c`'s request: its id (late replies are dropped) and its
    /// place among the unsent.
    fn forget(&mut self, c: CtxId, req: &Request) {
        self.ids.remove(req.id);
        self.unsent.retain(|&x| x != c);
    }

    /// Ends `c`'s request or reply (a new `send`, or the context closes);
    /// a `recv` waiting for it is cancelled.
    fn cancel(&mut self, io: &mut Io<'_>, c: CtxId) {
        let Some(ctx) = self.ctxs.get_mut(c) else {
            return;
        };
        match core::mem::replace(&mut ctx.state, State::Idle) {
            State::Pending(req) => {
                ctx.recv.cancel(io, c);
                self.forget(c, &req);
            }
            // A failure is reported until a new request is on its way.
            State::Failed(e) => ctx.state = State::Failed(e),
            State::Idle | State::Replied(_) => {}
        }
    }

    fn recv_raw(&mut self, io: &mut Io<'_>, mut m: Message) -> Delivery {
        if self.recvq.full() {
            return Delivery::Full(m);
        }
        if let Err(d) = common::split_backtrace(io, &mut m, self.ttl) {
            return d;
        }
        self.recvq.deliver(io, m)
    }
}

impl Machine for Req0 {
    fn recv_room(&self) -> bool {
        self.recvq.room()
    }

    fn add_pipe(&mut self, io: &mut Io<'_>, p: PipeId) -> Result<(), Error> {
        self.rr.add(p);
        self.drain_unsent(io);
        io.notify_send();
        Ok(())
    }

    fn remove_pipe(&mut self, io: &mut Io<'_>, p: PipeId) {
        self.rr.remove(p);
        let hit: Vec<CtxId> = self
            .ctxs
            .iter()
            .filter(|(_, x)| x.req().is_some_and(|r| r.pipe == Some(p)))
            .map(|(c, _)| c)
            .collect();
        for c in hit {
            let Some(ctx) = self.ctxs.get_mut(c) else {
                continue; // listed just above
            };
            if ctx.resend.is_some() {
                self.dispatch(io, c);
                continue;
            }
            // Resend disabled: the request fails, as nng.
            let old = core::mem::replace(&mut ctx.state, State::Failed(Error::ConnectionReset));
            if let State::Pending(req) = old {
                self.ids.remove(req.id);
            }
            ctx.recv.done();
            io.notify_recv_ctx(c);
        }
    }

    fn pipe_writable(&mut self, io: &mut Io<'_>, p: PipeId) {
        self.rr.writable(p);
        self.drain_unsent(io);
        io.notify_send();
    }

    fn pipe_recv(&mut self, io: &mut Io<'_>, _p: PipeId, mut m: Message) -> Delivery {
        if self.raw.on() {
            return self.recv_raw(io, m);
        }
        let Ok(RequestId(id)) = RequestId::parse(&m) else {
            return Delivery::malformed();
        };
        let Some(c) = self.ids.get(id) else {
            io.count_drop(DropReason::Stale); // late, duplicate or unknown reply
            return Delivery::Taken;
        };
        if let Err(d) = common::strip(&mut m, RequestId::LEN) {
            return d;
        }
        self.ids.remove(id);
        self.unsent.retain(|&x| x != c);
        // Ids map to live contexts (a context's close forgets its id).
        let Some(ctx) = self.ctxs.get_mut(c) else {
            io.count_drop(DropReason::Stale);
            return Delivery::Taken;
        };
        ctx.state = State::Replied(m);
        ctx.recv.done();
        io.notify_recv_ctx(c);
        Delivery::Taken
    }

    fn send(&mut self, io: &mut Io<'_>, c: CtxId, mut m: Message) -> Result<(), SendError> {
        if self.raw.on() {
            return match self.rr.place(io, m) {
                Ok(_) => Ok(()),
                Err(m) => Err(SendError::new(Error::WouldBlock, m)),
            };
        }
        if !self.ctxs.contains(c) {
            return Err(SendError::new(Error::Closed, m));
        }
        self.cancel(io, c);
        let id = self.ids.fresh();
        RequestId(id).emit(&mut m);
        match self.rr.place(io, m.clone()) {
            Ok(p) => {
                let ctx = self.ctxs.get_mut(c).expect("checked");
                let resend_at = ctx.resend.map(|d| io.now() + d);
                if let Some(at) = resend_at {
                    io.arm(at);
                }
                let req = Request {
                    id,
                    msg: m,
                    pipe: Some(p),
                    resend_at,
                };
                ctx.state = State::Pending(req);
                self.ids.insert(id, c);
                Ok(())
            }
            Err(mut m) => {
                m.clear_header();
                Err(SendError::new(Error::WouldBlock, m))
            }
        }
    }

    fn recv(&mut self, _io: &mut Io<'_>, c: CtxId) -> Result<Message, Error> {
        if self.raw.on() {
            return self.recvq.recv();
        }
        let ctx = self.ctxs.get_mut(c).ok_or(Error::Closed)?;
        // A waiting recv cancelled by a new send learns it before it could
        // see the new request's reply.
        ctx.recv.check()?;
        if let State::Pending(_) = ctx.state {
            return Err(Error::WouldBlock);
        }
        match core::mem::replace(&mut ctx.state, State::Idle) {
            State::Replied(m) => Ok(m),
            State::Failed(e) => Err(e),
            State::Idle | State::Pending(_) => Err(Error::ProtocolState),
        }
    }

    fn recv_begin(&mut self, _io: &mut Io<'_>, c: CtxId) -> Result<(), Error> {
        if self.raw.on() {
            return Ok(());
        }
        match self.ctxs.get(c) {
            None => Err(Error::Closed),
            // One waiting recv per context, as nng.
            Some(ctx) if ctx.recv.is_waiting() => Err(Error::ProtocolState),
            Some(_) => Ok(()),
        }
    }

    fn recv_parked(&mut self, _io: &mut Io<'_>, c: CtxId) {
        if !self.raw.on() {
            self.ctxs.park(c);
        }
    }

    fn recv_cancelled(&mut self, _io: &mut Io<'_>, c: CtxId) {
        // As nng: a recv that timed out or was dropped abandons the request,
        // so every request has at most one recv; a late reply is dropped and
        // a recv without a new send is ProtocolState.
        let Some(ctx) = self.ctxs.abandon(c).filter(|_| !self.raw.on()) else {
            return;
        };
        if let State::Pending(req) = core::mem::replace(&mut ctx.state, State::Idle) {
            self.forget(c, &req);
        }
    }

    fn recv_interrupted(&mut self, _io: &mut Io<'_>, c: CtxId) {
        // The request stays (resent on the next pipe); only the receive
        // stops waiting, so the next one may begin.
        if let Some(ctx) = self.ctxs.get_mut(c) {
            AsMut::<RecvWait>::as_mut(ctx).done();
        }
    }

    fn set_option(&mut self, _io: &mut Io<'_>, c: CtxId, o: &SockOpt) -> Result<(), Error> {
        match *o {
            SockOpt::ReqResendTime(d) if !self.raw.on() => {
                let d = d.filter(|d| !d.is_zero());
                self.ctxs.set(c, |r| *r = d)?;
                Ok(())
            }
            SockOpt::RecvBuffer(n) if self.raw.on() => self.recvq.set_cap(n),
            SockOpt::TtlMax(t) => {
                self.ttl = common::ttl_max(t)?;
                Ok(())
            }
            _ => Err(Error::NotSupported),
        }
    }

    fn open_ctx(&mut self, _io: &mut Io<'_>, c: CtxId) -> Result<(), Error> {
        self.ctxs.open(self.raw.on(), c)
    }

    fn close_ctx(&mut self, io: &mut Io<'_>, c: CtxId) {
        self.cancel(io, c);
        self.ctxs.close(c);
    }

    fn uses_time(&self) -> bool {
        !self.raw.on()
    }

    fn tracks_receives(&self) -> bool {
        !self.raw.on()
    }

    fn one_recv_per_ctx(&self) -> bool {
        !self.raw.on() // recv_begin refuses a second one
    }

    fn deadline(&self, c: CtxId) -> Option<Instant> {
        self.ctxs.get(c)?.req()?.resend_at
    }

    fn expire(&mut self, io: &mut Io<'_>, c: CtxId) {
        self.dispatch(io, c);
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.ctxs.earliest(|x| x.req()?.resend_at)
    }

    fn on_timer(&mut self, io: &mut Io<'_>) {
        for c in self.ctxs.due(io.now(), |x| x.req()?.resend_at) {
            self.dispatch(io, c);
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;
    use core::time::Duration;

    use crate::proto::testing::{Delivery, Harness};
    use crate::{CtxId, Error, Instant, Protocol, ProtocolError, SockOpt};

    fn id_of(frame: &[u8]) -> [u8; 4] {
        frame[..4].try_into().unwrap()
    }

    #[test]
    fn req_ids_have_the_high_bit_and_replies_match() {
        let mut h = Harness::new(Protocol::Req0, false);
        h.add(1, 4).unwrap();
        assert_eq!(h.recv(), Err(Error::ProtocolState), "recv before send");
        h.send(b"q").unwrap();
        let f = h.sent(1).remove(0);
        assert!(f[0] & 0x80 != 0);
        assert_eq!(&f[4..], b"q");
        assert_eq!(h.recv(), Err(Error::WouldBlock));
        // Unknown id: dropped. Right id: delivered, header stripped.
        let mut bad = id_of(&f).to_vec();
        bad[3] ^= 1;
        bad.extend_from_slice(b"no");
        assert!(matches!(h.deliver(1, &bad), Delivery::Taken));
        let mut good = id_of(&f).to_vec();
        good.extend_from_slice(b"yes");
        h.deliver(1, &good);
        let m = h.recv().unwrap();
        assert_eq!(m.body(), b"yes");
        assert!(m.header().is_empty());
        // A duplicate of the same reply is dropped.
        h.deliver(1, &good);
        assert_eq!(h.recv(), Err(Error::ProtocolState));
        assert!(matches!(
            h.deliver(1, &[1, 2]),
            Delivery::Close(Error::Protocol(ProtocolError::MalformedHeader))
        ));
    }

    #[test]
    fn req_resends_same_id_after_the_timer_and_when_the_pipe_closes() {
        let mut h = Harness::new(Protocol::Req0, false);
        h.set(SockOpt::ReqResendTime(Some(Duration::from_secs(5))))
            .unwrap();
        h.add(1, 4).unwrap();
        h.add(2, 4).unwrap();
        h.send(b"q").unwrap();
        let first = h.sent(1).remove(0);
        let dl = h.deadline(CtxId::SOCKET).unwrap();
        assert_eq!(dl, Instant::from_micros(5_000_000));
        h.now = dl;
        h.expire_due(CtxId::SOCKET);
        let again = h.sent(2).remove(0);
        assert_eq!(first, again, "same id, next pipe");
        h.remove(2);
        assert_eq!(h.sent(1), vec![first], "resent at once on the other pipe");
    }

    #[test]
    fn req_new_send_cancels_and_disabled_resend_fails_on_close() {
        let mut h = Harness::new(Protocol::Req0, false);
        h.set(SockOpt::ReqResendTime(None)).unwrap();
        h.add(1, 4).unwrap();
        h.send(b"a").unwrap();
        assert_eq!(h.wait_recv(), Err(Error::WouldBlock));
        h.send(b"b").unwrap();
        assert_eq!(h.repoll(), Err(Error::Canceled), "the waiting recv");
        assert_eq!(h.wait_recv(), Err(Error::WouldBlock), "b is pending");
        h.remove(1);
        assert_eq!(h.recv(), Err(Error::ConnectionReset));
        assert_eq!(h.send(b"c"), Err(Error::WouldBlock), "no pipe");
    }

    /// Issue 12, bug 1: after a recv timed out (or was dropped), the next
    /// send + recv gets the reply; a recv without a new send is
    /// ProtocolState and the late reply is dropped (as nng).
    #[test]
    fn req_timed_out_recv_abandons_the_request_and_the_next_one_works() {
        let mut h = Harness::new(Protocol::Req0, false);
        h.add(1, 4).unwrap();
        h.send(b"first").unwrap();
        let first = h.sent(1).remove(0);
        assert_eq!(h.wait_recv(), Err(Error::WouldBlock));
        h.cancel_recv(); // recv-timeout passed, or the future was dropped
        assert_eq!(h.wait_recv(), Err(Error::ProtocolState), "no request now");
        let mut late = id_of(&first).to_vec();
        late.extend_from_slice(b"late");
        h.deliver(1, &late);
        assert_eq!(h.stats.drops_stale, 1, "the abandoned request's reply");
        assert_eq!(h.wait_recv(), Err(Error::ProtocolState));
        for round in [&b"second"[..], b"third"] {
            h.send(round).unwrap();
            let f = h.sent(1).remove(0);
            assert_eq!(h.wait_recv(), Err(Error::WouldBlock));
            let mut reply = id_of(&f).to_vec();
            reply.extend_from_slice(round);
            h.deliver(1, &reply);
            assert_eq!(h.repoll().unwrap().body(), round, "not Canceled");
        }
        // A reply that came before recv is kept for it; a timed-out recv
        // that never waited (the reply was there) changes nothing.
        h.send(b"x").unwrap();
        let f = h.sent(1).remove(0);
        h.deliver(1, &id_of(&f));
        assert!(h.wait_recv().is_ok());
    }

    #[test]
    fn req_second_waiting_recv_is_protocol_state_and_a_send_cancels_the_first() {
        let mut h = Harness::new(Protocol::Req0, false);
        h.add(1, 4).unwrap();
        h.send(b"a").unwrap();
        assert_eq!(h.wait_recv(), Err(Error::WouldBlock));
        assert_eq!(h.wait_recv(), Err(Error::ProtocolState), "one recv waits");
        h.send(b"b").unwrap();
        assert_eq!(h.repoll(), Err(Error::Canceled));
        // The cancelled recv is gone: its drop must not cancel b.
        h.cancel_recv();
        let f = h.sent(1).pop().unwrap();
        assert_eq!(h.wait_recv(), Err(Error::WouldBlock));
        h.deliver(1, &f[..4]);
        assert!(h.repoll().is_ok());
    }
}
