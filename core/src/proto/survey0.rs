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
//! * **Contexts**: each runs its own survey with its own id and timer.
//!
//! **RESPONDENT** is REP's machine ([`crate::proto::reqrep0::Rep0`]): it keeps
//! the backtrace of the survey it received and answers once, to that pipe.
//!
//! **Raw SURVEYOR** sends header + body as given to every pipe and puts the
//! survey id (and any backtrace) of responses in the header.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::time::Duration;

use super::backtrace::{self, Backtrace};
use super::{CtxId, Delivery, DropReason, Io, Machine};
use crate::{Error, Instant, Message, PipeId, ProtocolError, SendError, SockOpt};

/// Default `surveyor:survey-time`.
pub const DEFAULT_SURVEY_TIME: Duration = Duration::from_secs(1);
const RESPONSES: usize = 128;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Active { id: u32, deadline: Instant },
    Expired,
}

struct SurvCtx {
    state: State,
    responses: VecDeque<Message>,
    canceled: bool,
    recv_waiting: bool,
    time: Duration,
}

impl SurvCtx {
    fn new(time: Duration) -> Self {
        SurvCtx {
            state: State::Idle,
            responses: VecDeque::new(),
            canceled: false,
            recv_waiting: false,
            time,
        }
    }
}

/// The SURVEYOR machine.
pub struct Surveyor0 {
    raw: bool,
    pipes: Vec<PipeId>,
    next_id: u32,
    ctxs: BTreeMap<CtxId, SurvCtx>,
    by_id: BTreeMap<u32, CtxId>,
    time: Duration,
    recvq: VecDeque<Message>,
    ttl: u8,
}

impl Surveyor0 {
    /// A new machine; `seed` picks the first survey id.
    pub fn new(raw: bool, seed: u32) -> Self {
        let mut ctxs = BTreeMap::new();
        ctxs.insert(CtxId::SOCKET, SurvCtx::new(DEFAULT_SURVEY_TIME));
        Surveyor0 {
            raw,
            pipes: Vec::new(),
            next_id: seed,
            ctxs,
            by_id: BTreeMap::new(),
            time: DEFAULT_SURVEY_TIME,
            recvq: VecDeque::new(),
            ttl: 8,
        }
    }

    fn broadcast(&self, io: &mut Io<'_>, m: Message) {
        if let Some((&last, rest)) = self.pipes.split_last() {
            for &p in rest {
                if io.try_send(p, m.clone()).is_err() {
                    io.count_drop(DropReason::QueueFull);
                }
            }
            if io.try_send(last, m).is_err() {
                io.count_drop(DropReason::QueueFull);
            }
        }
    }

    fn end(&mut self, io: &mut Io<'_>, c: CtxId, cancel: bool) {
        let Some(ctx) = self.ctxs.get_mut(&c) else {
            return;
        };
        if let State::Active { id, .. } = ctx.state {
            self.by_id.remove(&id);
            ctx.responses.clear();
            if cancel {
                ctx.state = State::Idle;
                if ctx.recv_waiting {
                    ctx.canceled = true;
                    ctx.recv_waiting = false;
                    io.notify_recv_ctx(c);
                }
            } else if ctx.recv_waiting {
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
}

impl Machine for Surveyor0 {
    fn add_pipe(&mut self, _io: &mut Io<'_>, p: PipeId) -> Result<(), Error> {
        self.pipes.push(p);
        Ok(())
    }

    fn remove_pipe(&mut self, _io: &mut Io<'_>, p: PipeId) {
        self.pipes.retain(|&q| q != p);
    }

    fn pipe_recv(&mut self, io: &mut Io<'_>, _p: PipeId, mut m: Message) -> Delivery {
        if self.raw {
            return match backtrace::parse(&m, self.ttl) {
                Backtrace::Words(n) => match m.move_wire_to_header(4 * n) {
                    Ok(()) => {
                        if self.recvq.len() >= RESPONSES {
                            io.count_drop(DropReason::QueueFull);
                        } else {
                            self.recvq.push_back(m);
                            io.notify_recv();
                        }
                        Delivery::Taken
                    }
                    Err(e) => Delivery::Close(e),
                },
                Backtrace::TooManyHops => {
                    io.count_drop(DropReason::HopLimit);
                    Delivery::Taken
                }
                Backtrace::Malformed => Delivery::Close(ProtocolError::MalformedHeader.into()),
            };
        }
        let Some(id) = m.wire_word(0) else {
            return Delivery::Close(ProtocolError::MalformedHeader.into());
        };
        let Some(&c) = self.by_id.get(&id) else {
            io.count_drop(DropReason::Stale);
            return Delivery::Taken;
        };
        let ctx = self.ctxs.get_mut(&c).expect("ids map to live contexts");
        let live = matches!(ctx.state, State::Active { deadline, .. } if io.now() < deadline);
        if !live || ctx.responses.len() >= RESPONSES {
            io.count_drop(if live {
                DropReason::QueueFull
            } else {
                DropReason::Stale
            });
            return Delivery::Taken;
        }
        if m.move_wire_to_header(4).is_err() {
            return Delivery::Close(ProtocolError::MalformedHeader.into());
        }
        m.clear_header();
        ctx.responses.push_back(m);
        io.notify_recv_ctx(c);
        Delivery::Taken
    }

    fn send(&mut self, io: &mut Io<'_>, c: CtxId, mut m: Message) -> Result<(), SendError> {
        if self.raw {
            self.broadcast(io, m);
            return Ok(());
        }
        if !self.ctxs.contains_key(&c) {
            return Err(SendError::new(Error::Closed, m));
        }
        self.end(io, c, true);
        let id = loop {
            self.next_id = self.next_id.wrapping_add(1);
            let id = self.next_id | 0x8000_0000;
            if !self.by_id.contains_key(&id) {
                break id;
            }
        };
        m.clear_header();
        m.push_header(&id.to_be_bytes()).expect("4 bytes fit");
        self.broadcast(io, m);
        let ctx = self.ctxs.get_mut(&c).expect("checked");
        let deadline = io.now() + ctx.time;
        io.arm(deadline);
        ctx.state = State::Active { id, deadline };
        self.by_id.insert(id, c);
        Ok(())
    }

    fn recv(&mut self, _io: &mut Io<'_>, c: CtxId) -> Result<Message, Error> {
        if self.raw {
            return self.recvq.pop_front().ok_or(Error::WouldBlock);
        }
        let ctx = self.ctxs.get_mut(&c).ok_or(Error::Closed)?;
        if core::mem::take(&mut ctx.canceled) {
            return Err(Error::Canceled);
        }
        if let Some(m) = ctx.responses.pop_front() {
            // Nobody waits any more: a new survey must not cancel a recv.
            ctx.recv_waiting = false;
            return Ok(m);
        }
        match ctx.state {
            State::Active { .. } => Err(Error::WouldBlock),
            State::Expired => {
                ctx.state = State::Idle;
                ctx.recv_waiting = false;
                Err(Error::TimedOut)
            }
            State::Idle => Err(Error::ProtocolState),
        }
    }

    fn set_option(&mut self, _io: &mut Io<'_>, c: CtxId, o: &SockOpt) -> Result<(), Error> {
        match *o {
            SockOpt::SurveyTime(d) if !self.raw => {
                if c == CtxId::SOCKET {
                    self.time = d;
                }
                self.ctxs.get_mut(&c).ok_or(Error::Closed)?.time = d;
                Ok(())
            }
            SockOpt::TtlMax(t) if (1..=15).contains(&t) => {
                self.ttl = t;
                Ok(())
            }
            SockOpt::TtlMax(_) => Err(Error::InvalidArgument),
            _ => Err(Error::NotSupported),
        }
    }

    fn recv_parked(&mut self, _io: &mut Io<'_>, c: CtxId) {
        if let Some(ctx) = self.ctxs.get_mut(&c).filter(|_| !self.raw) {
            ctx.recv_waiting = true;
        }
    }

    fn recv_cancelled(&mut self, _io: &mut Io<'_>, c: CtxId) {
        if self.raw {
            return;
        }
        let Some(ctx) = self.ctxs.get_mut(&c) else {
            return;
        };
        ctx.canceled = false;
        if !core::mem::take(&mut ctx.recv_waiting) {
            return;
        }
        // As nng: a recv that timed out or was dropped ends the survey; its
        // late responses are dropped and a recv without a new survey is
        // ProtocolState.
        if let State::Active { id, .. } = ctx.state {
            self.by_id.remove(&id);
        }
        ctx.responses.clear();
        ctx.state = State::Idle;
    }

    fn open_ctx(&mut self, _io: &mut Io<'_>, c: CtxId) -> Result<(), Error> {
        if self.raw {
            return Err(Error::NotSupported);
        }
        self.ctxs.insert(c, SurvCtx::new(self.time));
        Ok(())
    }

    fn close_ctx(&mut self, io: &mut Io<'_>, c: CtxId) {
        self.end(io, c, true);
        self.ctxs.remove(&c);
    }

    fn uses_time(&self) -> bool {
        !self.raw
    }

    fn deadline(&self, c: CtxId) -> Option<Instant> {
        match self.ctxs.get(&c)?.state {
            State::Active { deadline, .. } => Some(deadline),
            _ => None,
        }
    }

    fn expire(&mut self, io: &mut Io<'_>, c: CtxId) {
        self.end(io, c, false);
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.ctxs
            .values()
            .filter_map(|x| match x.state {
                State::Active { deadline, .. } => Some(deadline),
                _ => None,
            })
            .min()
    }

    fn on_timer(&mut self, io: &mut Io<'_>) {
        let now = io.now();
        let due: Vec<CtxId> = self
            .ctxs
            .iter()
            .filter(|(_, x)| matches!(x.state, State::Active { deadline, .. } if deadline <= now))
            .map(|(&c, _)| c)
            .collect();
        for c in due {
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
            h.m.deadline(CtxId::SOCKET),
            Some(Instant::from_micros(1_000_000))
        );
        h.now = Instant::from_micros(1_000_000);
        h.deliver(1, &resp); // late: dropped
        h.with(|m, io| m.expire(io, CtxId::SOCKET));
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
        h.now = h.m.deadline(CtxId::SOCKET).unwrap();
        h.with(|m, io| m.expire(io, CtxId::SOCKET));
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
