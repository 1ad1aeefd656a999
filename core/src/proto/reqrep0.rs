//! REQ (0x30) / REP (0x31): request and reply, with backtraces.
//!
//! **REQ, cooked**
//! * **Who receives a request**: one REP, round-robin over pipes with room
//!   (a busy pipe is skipped until it drains).
//! * **Ids**: each request carries a 32-bit id with bit 31 set, from a counter
//!   with a random start shared by all contexts of the socket.
//! * **Resend**: an unanswered request is sent again, with the **same id**,
//!   after `req:resend-time` (default 60 s, `None` disables), possibly to another
//!   pipe; and at once when the pipe that carried it closes. Timers run while
//!   the application waits in `recv` (a late `recv` resends at once if due).
//!   With resend disabled, a closed pipe fails the pending `recv` with
//!   [`Error::ConnectionReset`], as nng.
//! * **State** (as nng, call for call): a new `send` cancels the outstanding
//!   request (a `recv` waiting for it gets [`Error::Canceled`]); a `recv`
//!   that times out (`recv-timeout`, a per-call timeout) or whose future is
//!   dropped **ends the request**: its late reply is dropped and the next
//!   `recv` without a new `send` is [`Error::ProtocolState`], so the usual
//!   "send, recv with a timeout, send again" retry loop works. `recv` without
//!   a request is [`Error::ProtocolState`], and so is a second `recv` while
//!   one already waits on the same socket or context. Replies with unknown or
//!   old ids are dropped, so the application sees exactly one reply per
//!   request even when REP saw duplicates (SP allows a REP to see a request
//!   more than once).
//! * **What blocks**: `send` waits while no pipe has room (send-timeout applies).
//! * **What closes a pipe**: a reply shorter than 4 bytes (as nng).
//! * **Contexts**: each has its own request, id, resend time and reply.
//!
//! **REP, cooked** (RESPONDENT is the same machine)
//! * **Lock-step**: `recv` strips the backtrace (hop words up to and including
//!   the id) and remembers it with the pipe it came from; the next `send` on
//!   that socket or context puts it back and goes to that pipe. A second `recv`
//!   abandons the first request. `send` without one is [`Error::ProtocolState`],
//!   and so is a second `recv` while one already waits on the same socket or
//!   context (as nng).
//! * **A requester that leaves**: its requests already queued are still
//!   received (as nng: a fire-and-forget request is not lost); the replies
//!   are discarded.
//! * **What is dropped**: a request with more than `ttl-max` (default 8) words
//!   of backtrace (counted; pipe kept); a reply whose pipe has gone.
//! * **What blocks**: a reply waits while its pipe is full (send-timeout
//!   applies); `recv` waits for a request. Requests queue up to `recv-buffer`
//!   (default 128), then the pipes are pushed back.
//! * **What closes a pipe**: a request whose backtrace has no word with bit 31
//!   set (malformed; nng closes, mangos drops).
//! * **Contexts**: each holds its own pending request; 64 contexts serve 64
//!   requests at once.
//!
//! **Raw modes** (for devices): raw REQ sends header + body as given,
//! load-balanced, and on receive moves the backtrace into the header. Raw
//! REP pushes the 4-byte id of the pipe a request came from in front of its
//! backtrace in the header; on send it pops that id to pick the pipe and
//! sends the rest; an unknown or full pipe drops the reply (never blocks: one
//! slow client cannot stall a device, as RFC and nng).

use alloc::collections::{BTreeMap, VecDeque};
use core::time::Duration;

use super::backtrace::{self, Backtrace};
use super::{CtxId, Delivery, DropReason, Io, Machine};
use crate::{Error, Instant, Message, PipeId, ProtocolError, SendError, SockOpt, HEADER_CAPACITY};

/// Default `req:resend-time`.
pub const DEFAULT_RESEND: Duration = Duration::from_secs(60);

/// Round-robin over ready pipes (shared with SURVEYOR's raw side and PUSH's idea).
pub(crate) fn place(
    ready: &mut VecDeque<PipeId>,
    io: &mut Io<'_>,
    mut m: Message,
) -> Result<PipeId, Message> {
    while let Some(p) = ready.pop_front() {
        match io.try_send(p, m) {
            Ok(()) => {
                ready.push_back(p);
                return Ok(p);
            }
            Err(back) => m = back,
        }
    }
    Err(m)
}

struct Request {
    id: u32,
    msg: Message,
    pipe: Option<PipeId>,
    resend_at: Option<Instant>,
}

struct ReqCtx {
    req: Option<Request>,
    reply: Option<Message>,
    canceled: bool,
    failed: Option<Error>,
    recv_waiting: bool,
    resend: Option<Duration>,
}

impl ReqCtx {
    fn new(resend: Option<Duration>) -> Self {
        ReqCtx {
            req: None,
            reply: None,
            canceled: false,
            failed: None,
            recv_waiting: false,
            resend,
        }
    }
}

/// The REQ machine (cooked or raw).
pub struct Req0 {
    raw: bool,
    ready: VecDeque<PipeId>,
    next_id: u32,
    ctxs: BTreeMap<CtxId, ReqCtx>,
    by_id: BTreeMap<u32, CtxId>,
    /// Contexts whose request waits for a pipe.
    unsent: VecDeque<CtxId>,
    resend: Option<Duration>,
    recvq: VecDeque<Message>,
    recv_cap: usize,
    ttl: u8,
}

impl Req0 {
    /// A new machine; `seed` picks the first request id.
    pub fn new(raw: bool, seed: u32) -> Self {
        let mut ctxs = BTreeMap::new();
        ctxs.insert(CtxId::SOCKET, ReqCtx::new(Some(DEFAULT_RESEND)));
        Req0 {
            raw,
            ready: VecDeque::new(),
            next_id: seed,
            ctxs,
            by_id: BTreeMap::new(),
            unsent: VecDeque::new(),
            resend: Some(DEFAULT_RESEND),
            recvq: VecDeque::new(),
            recv_cap: 128,
            ttl: 8,
        }
    }

    fn new_id(&mut self) -> u32 {
        loop {
            self.next_id = self.next_id.wrapping_add(1);
            let id = self.next_id | 0x8000_0000;
            if !self.by_id.contains_key(&id) {
                return id;
            }
        }
    }

    /// Sends (or resends) `c`'s request to some ready pipe, or queues it.
    fn dispatch(&mut self, io: &mut Io<'_>, c: CtxId) {
        let Some(ctx) = self.ctxs.get_mut(&c) else {
            return;
        };
        let Some(req) = ctx.req.as_mut() else { return };
        match place(&mut self.ready, io, req.msg.clone()) {
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

    fn cancel(&mut self, io: &mut Io<'_>, c: CtxId) {
        let Some(ctx) = self.ctxs.get_mut(&c) else {
            return;
        };
        if let Some(old) = ctx.req.take() {
            self.by_id.remove(&old.id);
            self.unsent.retain(|&x| x != c);
            if ctx.recv_waiting {
                ctx.canceled = true;
                ctx.recv_waiting = false;
                io.notify_recv_ctx(c);
            }
        }
        ctx.reply = None;
    }
}

impl Machine for Req0 {
    fn add_pipe(&mut self, io: &mut Io<'_>, p: PipeId) -> Result<(), Error> {
        self.ready.push_back(p);
        self.drain_unsent(io);
        io.notify_send();
        Ok(())
    }

    fn remove_pipe(&mut self, io: &mut Io<'_>, p: PipeId) {
        self.ready.retain(|&q| q != p);
        let hit: alloc::vec::Vec<CtxId> = self
            .ctxs
            .iter()
            .filter(|(_, x)| x.req.as_ref().is_some_and(|r| r.pipe == Some(p)))
            .map(|(&c, _)| c)
            .collect();
        for c in hit {
            let ctx = self.ctxs.get_mut(&c).expect("listed");
            if ctx.resend.is_some() {
                self.dispatch(io, c);
            } else {
                let r = ctx.req.take().expect("listed");
                self.by_id.remove(&r.id);
                ctx.failed = Some(Error::ConnectionReset);
                ctx.recv_waiting = false;
                io.notify_recv_ctx(c);
            }
        }
    }

    fn pipe_writable(&mut self, io: &mut Io<'_>, p: PipeId) {
        if !self.ready.contains(&p) {
            self.ready.push_back(p);
        }
        self.drain_unsent(io);
        io.notify_send();
    }

    fn pipe_recv(&mut self, io: &mut Io<'_>, _p: PipeId, mut m: Message) -> Delivery {
        if self.raw {
            if self.recvq.len() >= self.recv_cap.max(1) {
                return Delivery::Full(m);
            }
            return match backtrace::parse(&m, self.ttl) {
                Backtrace::Words(n) => match m.move_wire_to_header(4 * n) {
                    Ok(()) => {
                        self.recvq.push_back(m);
                        io.notify_recv();
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
            io.count_drop(DropReason::Stale); // late, duplicate or unknown reply
            return Delivery::Taken;
        };
        if m.move_wire_to_header(4).is_err() {
            return Delivery::Close(ProtocolError::MalformedHeader.into());
        }
        m.clear_header();
        self.by_id.remove(&id);
        self.unsent.retain(|&x| x != c);
        let ctx = self.ctxs.get_mut(&c).expect("ids map to live contexts");
        ctx.req = None;
        ctx.reply = Some(m);
        ctx.recv_waiting = false;
        io.notify_recv_ctx(c);
        Delivery::Taken
    }

    fn send(&mut self, io: &mut Io<'_>, c: CtxId, mut m: Message) -> Result<(), SendError> {
        if self.raw {
            return match place(&mut self.ready, io, m) {
                Ok(_) => Ok(()),
                Err(m) => Err(SendError::new(Error::WouldBlock, m)),
            };
        }
        if !self.ctxs.contains_key(&c) {
            return Err(SendError::new(Error::Closed, m));
        }
        self.cancel(io, c);
        let id = self.new_id();
        m.clear_header();
        m.push_header(&id.to_be_bytes()).expect("4 bytes fit");
        match place(&mut self.ready, io, m.clone()) {
            Ok(p) => {
                let ctx = self.ctxs.get_mut(&c).expect("checked");
                let resend_at = ctx.resend.map(|d| io.now() + d);
                if let Some(at) = resend_at {
                    io.arm(at);
                }
                ctx.req = Some(Request {
                    id,
                    msg: m,
                    pipe: Some(p),
                    resend_at,
                });
                ctx.failed = None;
                self.by_id.insert(id, c);
                Ok(())
            }
            Err(mut m) => {
                m.clear_header();
                Err(SendError::new(Error::WouldBlock, m))
            }
        }
    }

    fn recv(&mut self, _io: &mut Io<'_>, c: CtxId) -> Result<Message, Error> {
        if self.raw {
            return self.recvq.pop_front().ok_or(Error::WouldBlock);
        }
        let ctx = self.ctxs.get_mut(&c).ok_or(Error::Closed)?;
        // A waiting recv cancelled by a new send learns it before it could
        // see the new request's reply.
        if core::mem::take(&mut ctx.canceled) {
            return Err(Error::Canceled);
        }
        if let Some(m) = ctx.reply.take() {
            ctx.recv_waiting = false;
            return Ok(m);
        }
        if let Some(e) = ctx.failed.take() {
            return Err(e);
        }
        if ctx.req.is_none() {
            return Err(Error::ProtocolState);
        }
        Err(Error::WouldBlock)
    }

    fn recv_begin(&mut self, _io: &mut Io<'_>, c: CtxId) -> Result<(), Error> {
        if self.raw {
            return Ok(());
        }
        match self.ctxs.get(&c) {
            None => Err(Error::Closed),
            Some(ctx) if ctx.recv_waiting => Err(Error::ProtocolState),
            Some(_) => Ok(()),
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
        // A cancel notice nobody read dies with the operation it was for.
        ctx.canceled = false;
        if !core::mem::take(&mut ctx.recv_waiting) {
            return;
        }
        // As nng: a recv that timed out or was dropped abandons the request,
        // so every request has at most one recv; a late reply is dropped and
        // a recv without a new send is ProtocolState.
        if let Some(old) = ctx.req.take() {
            self.by_id.remove(&old.id);
            self.unsent.retain(|&x| x != c);
        }
        ctx.reply = None;
        ctx.failed = None;
    }

    fn set_option(&mut self, _io: &mut Io<'_>, c: CtxId, o: &SockOpt) -> Result<(), Error> {
        match *o {
            SockOpt::ReqResendTime(d) if !self.raw => {
                let d = d.filter(|d| !d.is_zero());
                if c == CtxId::SOCKET {
                    self.resend = d;
                }
                let ctx = self.ctxs.get_mut(&c).ok_or(Error::Closed)?;
                ctx.resend = d;
                Ok(())
            }
            SockOpt::RecvBuffer(n) if n <= 8192 && self.raw => {
                self.recv_cap = n;
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

    fn open_ctx(&mut self, _io: &mut Io<'_>, c: CtxId) -> Result<(), Error> {
        if self.raw {
            return Err(Error::NotSupported);
        }
        self.ctxs.insert(c, ReqCtx::new(self.resend));
        Ok(())
    }

    fn close_ctx(&mut self, io: &mut Io<'_>, c: CtxId) {
        self.cancel(io, c);
        self.ctxs.remove(&c);
    }

    fn uses_time(&self) -> bool {
        !self.raw
    }

    fn deadline(&self, c: CtxId) -> Option<Instant> {
        self.ctxs.get(&c)?.req.as_ref()?.resend_at
    }

    fn expire(&mut self, io: &mut Io<'_>, c: CtxId) {
        self.dispatch(io, c);
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.ctxs
            .values()
            .filter_map(|x| x.req.as_ref()?.resend_at)
            .min()
    }

    fn on_timer(&mut self, io: &mut Io<'_>) {
        let now = io.now();
        let due: alloc::vec::Vec<CtxId> = self
            .ctxs
            .iter()
            .filter(|(_, x)| {
                x.req
                    .as_ref()
                    .and_then(|r| r.resend_at)
                    .is_some_and(|t| t <= now)
            })
            .map(|(&c, _)| c)
            .collect();
        for c in due {
            self.dispatch(io, c);
        }
    }
}

struct RepCtx {
    pending: Option<(PipeId, heapless::Vec<u8, HEADER_CAPACITY>)>,
}

impl RepCtx {
    fn new() -> Self {
        RepCtx { pending: None }
    }
}

/// The REP machine (and RESPONDENT's: the two behave alike), cooked or raw.
pub struct Rep0 {
    raw: bool,
    ttl: u8,
    recvq: VecDeque<Message>,
    recv_cap: usize,
    ctxs: BTreeMap<CtxId, RepCtx>,
    /// Contexts waiting in `recv`, oldest first: each request wakes one.
    waiting: VecDeque<CtxId>,
    /// Requests handed to a waiting context's `recv`, not yet taken (kept
    /// apart from the contexts so that an idle socket stays small).
    handed: alloc::vec::Vec<(CtxId, Message)>,
}

impl Rep0 {
    /// A new machine.
    pub fn new(raw: bool) -> Self {
        let mut ctxs = BTreeMap::new();
        ctxs.insert(CtxId::SOCKET, RepCtx::new());
        Rep0 {
            raw,
            ttl: 8,
            recvq: VecDeque::new(),
            recv_cap: 128,
            ctxs,
            waiting: VecDeque::new(),
            handed: alloc::vec::Vec::new(),
        }
    }

    fn take_handed(&mut self, c: CtxId) -> Option<Message> {
        let i = self.handed.iter().position(|h| h.0 == c)?;
        Some(self.handed.swap_remove(i).1)
    }

    /// Hands request `m` to the context that has waited longest (as nng:
    /// receivers are served in order), or queues it when nobody waits.
    fn deliver(&mut self, io: &mut Io<'_>, m: Message, front: bool) {
        while let Some(c) = self.waiting.pop_front() {
            if self.ctxs.contains_key(&c) {
                self.handed.push((c, m));
                io.notify_recv_ctx(c);
                return;
            }
        }
        if front {
            self.recvq.push_front(m);
        } else {
            self.recvq.push_back(m);
        }
    }
}

impl Machine for Rep0 {
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
        if self.recvq.len() >= self.recv_cap.max(1) {
            return Delivery::Full(m);
        }
        match backtrace::parse(&m, self.ttl) {
            Backtrace::Words(n) => {
                if let Err(e) = m.move_wire_to_header(4 * n) {
                    return Delivery::Close(e);
                }
                if self.raw {
                    let mut h = heapless::Vec::<u8, HEADER_CAPACITY>::new();
                    if h.extend_from_slice(&backtrace::pipe_word(p)).is_err()
                        || h.extend_from_slice(m.header()).is_err()
                    {
                        io.count_drop(DropReason::HopLimit);
                        return Delivery::Taken;
                    }
                    m.set_header(&h).expect("fits by construction");
                }
                m.set_pipe(Some(p));
                self.deliver(io, m, false);
                Delivery::Taken
            }
            Backtrace::TooManyHops => {
                io.count_drop(DropReason::HopLimit);
                Delivery::Taken
            }
            Backtrace::Malformed => Delivery::Close(ProtocolError::MalformedHeader.into()),
        }
    }

    fn send(&mut self, io: &mut Io<'_>, c: CtxId, mut m: Message) -> Result<(), SendError> {
        if self.raw {
            let Some(w) = backtrace::first_word(m.header()) else {
                io.count_drop(DropReason::Unroutable);
                return Ok(());
            };
            let rest: heapless::Vec<u8, HEADER_CAPACITY> =
                heapless::Vec::from_slice(&m.header()[4..]).expect("shorter than before");
            m.set_header(&rest).expect("fits");
            if io.try_send(PipeId(w), m).is_err() {
                io.count_drop(DropReason::Unroutable);
            }
            return Ok(());
        }
        let Some(ctx) = self.ctxs.get_mut(&c) else {
            return Err(SendError::new(Error::Closed, m));
        };
        let Some((p, bt)) = ctx.pending.take() else {
            return Err(SendError::new(Error::ProtocolState, m));
        };
        m.set_header(&bt).expect("a stored backtrace fits");
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
        if !self.ctxs.contains_key(&c) {
            return Err(Error::Closed);
        }
        let Some(mut m) = self.take_handed(c).or_else(|| self.recvq.pop_front()) else {
            return Err(Error::WouldBlock);
        };
        self.waiting.retain(|&x| x != c);
        if !self.raw {
            let p = m.pipe().expect("set on receipt");
            let bt = heapless::Vec::from_slice(m.header()).expect("same capacity");
            self.ctxs.get_mut(&c).expect("checked").pending = Some((p, bt));
            m.clear_header();
        }
        Ok(m)
    }

    fn set_option(&mut self, _io: &mut Io<'_>, _c: CtxId, o: &SockOpt) -> Result<(), Error> {
        match *o {
            SockOpt::TtlMax(t) if (1..=15).contains(&t) => {
                self.ttl = t;
                Ok(())
            }
            SockOpt::TtlMax(_) => Err(Error::InvalidArgument),
            SockOpt::RecvBuffer(n) if n <= 8192 => {
                self.recv_cap = n;
                Ok(())
            }
            SockOpt::RecvBuffer(_) => Err(Error::InvalidArgument),
            _ => Err(Error::NotSupported),
        }
    }

    fn open_ctx(&mut self, _io: &mut Io<'_>, c: CtxId) -> Result<(), Error> {
        if self.raw {
            return Err(Error::NotSupported);
        }
        self.ctxs.insert(c, RepCtx::new());
        Ok(())
    }

    fn close_ctx(&mut self, io: &mut Io<'_>, c: CtxId) {
        self.recv_cancelled(io, c);
        self.ctxs.remove(&c);
    }

    fn recv_begin(&mut self, _io: &mut Io<'_>, c: CtxId) -> Result<(), Error> {
        match self.ctxs.get(&c) {
            None => Err(Error::Closed),
            // One waiting recv per context, as nng.
            Some(_) if self.waiting.contains(&c) || self.handed.iter().any(|h| h.0 == c) => {
                Err(Error::ProtocolState)
            }
            Some(_) => Ok(()),
        }
    }

    fn recv_parked(&mut self, _io: &mut Io<'_>, c: CtxId) {
        if !self.waiting.contains(&c) {
            self.waiting.push_back(c);
        }
    }

    fn recv_cancelled(&mut self, io: &mut Io<'_>, c: CtxId) {
        self.waiting.retain(|&x| x != c);
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
    use core::time::Duration;

    use crate::proto::testing::Harness;
    use crate::proto::Delivery;
    use crate::{Error, Instant, Protocol, ProtocolError, SockOpt};

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
        let dl = h.m.deadline(crate::CtxId::SOCKET).unwrap();
        assert_eq!(dl, Instant::from_micros(5_000_000));
        h.now = dl;
        h.with(|m, io| m.expire(io, crate::CtxId::SOCKET));
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
