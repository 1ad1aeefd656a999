//! SURVEYOR (0x62) / RESPONDENT (0x63): ask everyone, collect answers for a while.
//!
//! **SURVEYOR, cooked**
//! * **Who receives a survey**: every connected respondent. A pipe whose queue
//!   is full misses it (counted as a drop); `send` never blocks.
//! * **Ids and deadline**: each survey carries a 32-bit id with bit 31 set
//!   (random start, shared by the socket's contexts) and collects responses
//!   for `surveyor:survey-time` (default 1 s, as nng and mangos; the RFC's 60 s
//!   is used by nobody).
//! * **State** (as nng): a new survey cancels the previous one on that socket
//!   or context (a waiting `recv` gets [`Error::Canceled`]). When the deadline
//!   passes, unread responses are discarded, a `recv` then waiting reports
//!   [`Error::TimedOut`], and later ones [`Error::ProtocolState`] until the
//!   next survey (also when nobody was waiting as it ended). A `recv` that
//!   times out on its own (`recv-timeout` shorter than the survey) or whose
//!   future is dropped ends the survey too. `recv` with no survey is
//!   [`Error::ProtocolState`].
//! * **What is dropped**: responses after the deadline, with an old or unknown
//!   id, or beyond 128 queued per survey.
//! * **What closes a pipe**: a response shorter than 4 bytes (as nng).
//! * **Contexts**: each runs its own survey with its own id and timer (a
//!   context opened later starts with the socket's survey time).
//!
//! **RESPONDENT** is REP's machine ([`crate::proto::reqrep0`]): it keeps
//! the backtrace of the survey it received and answers once, to that pipe.
//!
//! **Raw SURVEYOR** sends header + body as given to every pipe and puts the
//! survey id (and any backtrace) of responses in the header.

use alloc::collections::VecDeque;
use core::time::Duration;

use super::common::{self, Contexts, Ctx, Fanout, Ids, RecvQueue, RecvWait, WhenFull, TTL_DEFAULT};
use super::wire::RequestId;
use super::{CtxId, Delivery, DropReason, Io, Machine, Raw};
use crate::{Error, Instant, Message, PipeId, SendError, SockOpt};

/// Default `surveyor:survey-time`.
pub const DEFAULT_SURVEY_TIME: Duration = Duration::from_secs(1);
/// Responses kept per survey (raw: in all).
const RESPONSES: usize = 128;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// No survey: `recv` is [`Error::ProtocolState`].
    Idle,
    /// Collecting responses until `deadline`.
    Active { id: u32, deadline: Instant },
    /// Ended while a `recv` waited: that `recv` reports [`Error::TimedOut`].
    Expired,
}

struct SurvCtx {
    state: State,
    responses: VecDeque<Message>,
    /// The `recv` waiting on the survey (still waiting while `Expired`).
    recv: RecvWait,
    time: Duration,
}

impl SurvCtx {
    fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Active { deadline, .. } => Some(deadline),
            _ => None,
        }
    }
}

impl Ctx for SurvCtx {
    type Settings = Duration;
    fn open(time: &Duration) -> Self {
        SurvCtx {
            state: State::Idle,
            responses: VecDeque::new(),
            recv: RecvWait::Idle,
            time: *time,
        }
    }
}

impl AsMut<RecvWait> for SurvCtx {
    fn as_mut(&mut self) -> &mut RecvWait {
        &mut self.recv
    }
}

impl AsMut<Duration> for SurvCtx {
    fn as_mut(&mut self) -> &mut Duration {
        &mut self.time
    }
}

/// The SURVEYOR machine.
pub(crate) struct Surveyor0 {
    raw: Raw,
    pipes: Fanout,
    ids: Ids,
    ctxs: Contexts<SurvCtx>,
    /// Raw mode: responses (backtrace in the header) for the application.
    recvq: RecvQueue,
    ttl: u8,
}

impl Surveyor0 {
    /// A new machine; `seed` picks the first survey id.
    pub(crate) fn new(raw: bool, seed: u32) -> Self {
        Surveyor0 {
            raw: Raw::new(raw),
            pipes: Fanout::new(),
            ids: Ids::new(seed),
            ctxs: Contexts::new(DEFAULT_SURVEY_TIME),
            recvq: RecvQueue::new(RESPONSES),
            ttl: TTL_DEFAULT,
        }
    }

    /// Ends `c`'s survey: cancelled by a new one (or the context closing),
    /// or at its deadline.
    fn end(&mut self, io: &mut Io<'_>, c: CtxId, cancel: bool) {
        let Some(ctx) = self.ctxs.get_mut(c) else {
            return;
        };
        if let State::Active { id, .. } = ctx.state {
            self.ids.remove(id);
            ctx.responses.clear();
            if cancel {
                ctx.state = State::Idle;
                ctx.recv.cancel(io, c);
            } else if ctx.recv.is_waiting() {
                // The waiting recv reports the end; later ones are
                // ProtocolState until the next survey.
                ctx.state = State::Expired;
                io.notify_recv_ctx(c);
            } else {
                // Nobody waits: the survey is simply over (as nng).
                ctx.state = State::Idle;
            }
        }
    }

    fn recv_raw(&mut self, io: &mut Io<'_>, mut m: Message) -> Delivery {
        if let Err(d) = common::split_backtrace(io, &mut m, self.ttl) {
            return d;
        }
        if self.recvq.full() {
            io.count_drop(DropReason::QueueFull);
        } else {
            self.recvq.push(m);
            io.notify_recv();
        }
        Delivery::Taken
    }
}

impl Machine for Surveyor0 {
    fn add_pipe(&mut self, io: &mut Io<'_>, p: PipeId) -> Result<(), Error> {
        self.pipes.add(io, p);
        Ok(())
    }

    fn remove_pipe(&mut self, _io: &mut Io<'_>, p: PipeId) {
        self.pipes.remove(p);
    }

    fn pipe_recv(&mut self, io: &mut Io<'_>, _p: PipeId, mut m: Message) -> Delivery {
        if self.raw.on() {
            return self.recv_raw(io, m);
        }
        let Ok(RequestId(id)) = RequestId::parse(&m) else {
            return Delivery::malformed();
        };
        let Some(c) = self.ids.get(id) else {
            io.count_drop(DropReason::Stale);
            return Delivery::Taken;
        };
        let ctx = self.ctxs.get_mut(c).expect("ids map to live contexts");
        let live = ctx.deadline().is_some_and(|d| io.now() < d);
        if !live || ctx.responses.len() >= RESPONSES {
            io.count_drop(if live {
                DropReason::QueueFull
            } else {
                DropReason::Stale
            });
            return Delivery::Taken;
        }
        if let Err(d) = common::strip(&mut m, RequestId::LEN) {
            return d;
        }
        ctx.responses.push_back(m);
        io.notify_recv_ctx(c);
        Delivery::Taken
    }

    fn send(&mut self, io: &mut Io<'_>, c: CtxId, mut m: Message) -> Result<(), SendError> {
        if self.raw.on() {
            self.pipes.send(io, m, None, WhenFull::DropNew);
            return Ok(());
        }
        if !self.ctxs.contains(c) {
            return Err(SendError::new(Error::Closed, m));
        }
        self.end(io, c, true);
        let id = self.ids.fresh();
        RequestId(id).emit(&mut m);
        self.pipes.send(io, m, None, WhenFull::DropNew);
        let ctx = self.ctxs.get_mut(c).expect("checked");
        let deadline = io.now() + ctx.time;
        io.arm(deadline);
        ctx.state = State::Active { id, deadline };
        self.ids.insert(id, c);
        Ok(())
    }

    fn recv(&mut self, _io: &mut Io<'_>, c: CtxId) -> Result<Message, Error> {
        if self.raw.on() {
            return self.recvq.recv();
        }
        let ctx = self.ctxs.get_mut(c).ok_or(Error::Closed)?;
        ctx.recv.check()?;
        if let Some(m) = ctx.responses.pop_front() {
            // Nobody waits any more: a new survey must not cancel a recv.
            ctx.recv.done();
            return Ok(m);
        }
        match ctx.state {
            State::Active { .. } => Err(Error::WouldBlock),
            State::Expired => {
                ctx.state = State::Idle;
                ctx.recv.done();
                Err(Error::TimedOut)
            }
            State::Idle => Err(Error::ProtocolState),
        }
    }

    fn set_option(&mut self, _io: &mut Io<'_>, c: CtxId, o: &SockOpt) -> Result<(), Error> {
        match *o {
            SockOpt::SurveyTime(d) if !self.raw.on() => {
                self.ctxs.set(c, |t| *t = d)?;
                Ok(())
            }
            SockOpt::TtlMax(t) => {
                self.ttl = common::ttl_max(t)?;
                Ok(())
            }
            _ => Err(Error::NotSupported),
        }
    }

    fn recv_parked(&mut self, _io: &mut Io<'_>, c: CtxId) {
        if !self.raw.on() {
            self.ctxs.park(c);
        }
    }

    fn recv_cancelled(&mut self, _io: &mut Io<'_>, c: CtxId) {
        // As nng: a recv that timed out or was dropped ends the survey; its
        // late responses are dropped and a recv without a new survey is
        // ProtocolState.
        let Some(ctx) = self.ctxs.abandon(c).filter(|_| !self.raw.on()) else {
            return;
        };
        if let State::Active { id, .. } = ctx.state {
            self.ids.remove(id);
        }
        ctx.responses.clear();
        ctx.state = State::Idle;
    }

    fn open_ctx(&mut self, _io: &mut Io<'_>, c: CtxId) -> Result<(), Error> {
        self.ctxs.open(self.raw.on(), c)
    }

    fn close_ctx(&mut self, io: &mut Io<'_>, c: CtxId) {
        self.end(io, c, true);
        self.ctxs.close(c);
    }

    fn uses_time(&self) -> bool {
        !self.raw.on()
    }

    fn tracks_receives(&self) -> bool {
        !self.raw.on()
    }

    fn deadline(&self, c: CtxId) -> Option<Instant> {
        self.ctxs.get(c)?.deadline()
    }

    fn expire(&mut self, io: &mut Io<'_>, c: CtxId) {
        self.end(io, c, false);
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.ctxs.earliest(SurvCtx::deadline)
    }

    fn on_timer(&mut self, io: &mut Io<'_>) {
        for c in self.ctxs.due(io.now(), SurvCtx::deadline) {
            self.end(io, c, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;
    use core::time::Duration;

    use crate::proto::testing::Harness;
    use crate::{CtxId, Error, Instant, Protocol};

    #[test]
    fn survey_goes_to_all_and_collects_until_the_deadline() {
        let mut h = Harness::new(Protocol::Surveyor0, false);
        h.add(1, 4).unwrap();
        h.add(2, 4).unwrap();
        assert_eq!(h.recv(), Err(Error::ProtocolState));
        h.send(b"who?").unwrap();
        let f1 = h.sent(1).remove(0);
        assert_eq!(h.sent(2), vec![f1.clone()]);
        assert!(f1[0] & 0x80 != 0);
        let mut resp = f1[..4].to_vec();
        resp.extend_from_slice(b"me");
        h.deliver(2, &resp);
        assert_eq!(h.recv().unwrap().body(), b"me");
        assert_eq!(h.wait_recv(), Err(Error::WouldBlock));
        assert_eq!(
            h.deadline(CtxId::SOCKET),
            Some(Instant::from_micros(1_000_000))
        );
        h.now = Instant::from_micros(1_000_000);
        h.deliver(1, &resp); // late: dropped
        h.expire_due(CtxId::SOCKET);
        assert_eq!(h.repoll(), Err(Error::TimedOut), "the waiting recv");
        assert_eq!(h.wait_recv(), Err(Error::ProtocolState));
    }

    #[test]
    fn expiry_with_nobody_waiting_and_a_cancelled_recv_end_the_survey() {
        let mut h = Harness::new(Protocol::Surveyor0, false);
        h.add(1, 4).unwrap();
        // Expiry while nobody waits: the next recv is ProtocolState (nng).
        h.send(b"1").unwrap();
        let f = h.sent(1).remove(0);
        h.now = h.deadline(CtxId::SOCKET).unwrap();
        h.expire_due(CtxId::SOCKET);
        assert_eq!(h.wait_recv(), Err(Error::ProtocolState));
        // A recv that timed out (recv-timeout < survey-time) ends it too.
        h.send(b"2").unwrap();
        let f2 = h.sent(1).remove(0);
        assert_eq!(h.wait_recv(), Err(Error::WouldBlock));
        h.cancel_recv();
        h.deliver(1, &f2[..4]);
        h.deliver(1, &f[..4]);
        assert_eq!(h.stats.drops_stale, 2);
        assert_eq!(h.wait_recv(), Err(Error::ProtocolState));
        // And the next survey is not cancelled by the old recv.
        h.send(b"3").unwrap();
        let f3 = h.sent(1).remove(0);
        h.deliver(1, &f3[..4]);
        assert!(h.wait_recv().is_ok());
    }

    #[test]
    fn a_finished_recv_is_not_canceled_by_the_next_survey() {
        let mut h = Harness::new(Protocol::Surveyor0, false);
        h.add(1, 4).unwrap();
        for round in 0..3u8 {
            h.send(&[round]).unwrap();
            assert_eq!(h.recv(), Err(Error::WouldBlock), "waits for answers");
            let mut resp = h.sent(1).remove(0)[..4].to_vec();
            resp.push(round);
            h.deliver(1, &resp);
            assert_eq!(h.recv().unwrap().body(), &[round]);
        }
    }

    #[test]
    fn new_survey_cancels_the_old_one() {
        let mut h = Harness::new(Protocol::Surveyor0, false);
        h.set(crate::SockOpt::SurveyTime(Duration::from_secs(5)))
            .unwrap();
        h.add(1, 4).unwrap();
        h.send(b"1").unwrap();
        let old = h.sent(1).remove(0);
        assert_eq!(h.wait_recv(), Err(Error::WouldBlock));
        h.send(b"2").unwrap();
        assert_eq!(h.repoll(), Err(Error::Canceled));
        let mut resp = old[..4].to_vec();
        resp.push(b'x');
        h.deliver(1, &resp);
        assert_eq!(
            h.recv(),
            Err(Error::WouldBlock),
            "old survey's answer dropped"
        );
        assert_eq!(h.stats.drops, 1);
    }
}
