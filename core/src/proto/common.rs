//! What several machines share: option checks, the receive and send
//! queues, round robin and fan-out over pipes, contexts, and request ids.

use alloc::collections::VecDeque;

use crate::vecmap::VecMap;
use alloc::vec::Vec;

use super::wire::{Backtrace, HeaderError, RequestId};
use super::{CtxId, Delivery, DropReason, Io};
use crate::{Error, Instant, Message, PipeId, SendError};

/// Default `ttl-max`, as nng.
pub(crate) const TTL_DEFAULT: u8 = 8;

/// Checks a `ttl-max`: 1 to 15 hops, as nng.
pub(crate) fn ttl_max(t: u8) -> Result<u8, Error> {
    if (1..=15).contains(&t) {
        Ok(t)
    } else {
        Err(Error::InvalidArgument)
    }
}

/// The most messages a `send-buffer` or `recv-buffer` holds, as nng.
const MAX_BUFFER: usize = 8192;

/// Checks a `send-buffer` or `recv-buffer` held by the socket: 0 to 8192.
pub(crate) fn buffer(n: usize) -> Result<usize, Error> {
    if n <= MAX_BUFFER {
        Ok(n)
    } else {
        Err(Error::InvalidArgument)
    }
}

/// Checks a `send-buffer` that sizes each pipe's queue: 1 to 8192.
pub(crate) fn pipe_queue(n: usize) -> Result<usize, Error> {
    if (1..=MAX_BUFFER).contains(&n) {
        Ok(n)
    } else {
        Err(Error::InvalidArgument)
    }
}

/// Moves the backtrace at the front of `m` into its header. `Err` is the
/// answer to give the engine instead: a message with too many hops is
/// dropped (counted; the pipe stays), a malformed one closes the pipe.
pub(crate) fn split_backtrace(io: &mut Io<'_>, m: &mut Message, ttl: u8) -> Result<(), Delivery> {
    match Backtrace::new_checked(m, ttl) {
        Ok(bt) => bt.split().map_err(Delivery::Close),
        Err(HeaderError::TooManyHops) => {
            io.count_drop(DropReason::HopLimit);
            Err(Delivery::Taken)
        }
        Err(HeaderError::Malformed) => Err(Delivery::malformed()),
    }
}

/// Removes the first `n` bytes of `m`'s wire view (a header the
/// application does not see); a message too short closes the pipe.
pub(crate) fn strip(m: &mut Message, n: usize) -> Result<(), Delivery> {
    m.move_wire_to_header(n)
        .map_err(|_| Delivery::malformed())?;
    m.clear_header();
    Ok(())
}

/// Messages waiting for the application: at most `recv-buffer` of them
/// (0 holds one, as nng).
pub(crate) struct RecvQueue {
    q: VecDeque<Message>,
    cap: usize,
}

impl RecvQueue {
    pub(crate) fn new(cap: usize) -> Self {
        RecvQueue {
            q: VecDeque::new(),
            cap,
        }
    }

    /// True when it cannot take another message.
    pub(crate) fn full(&self) -> bool {
        self.q.len() >= self.cap.max(1)
    }

    /// True when at most half full ([`Machine::recv_room`]).
    ///
    /// [`Machine::recv_room`]: super::Machine::recv_room
    pub(crate) fn room(&self) -> bool {
        self.q.len() <= self.cap.max(1) / 2
    }

    /// Queues `m` for the application and wakes every receiver, or hands
    /// it back when full (the engine retries after a receive).
    pub(crate) fn deliver(&mut self, io: &mut Io<'_>, m: Message) -> Delivery {
        if self.full() {
            return Delivery::Full(m);
        }
        self.q.push_back(m);
        io.notify_recv();
        Delivery::Taken
    }

    /// Queues `m` at the back; room is the caller's to check.
    pub(crate) fn push(&mut self, m: Message) {
        self.q.push_back(m);
    }

    /// Queues `m` at the front (it goes next).
    pub(crate) fn push_front(&mut self, m: Message) {
        self.q.push_front(m);
    }

    pub(crate) fn pop(&mut self) -> Option<Message> {
        self.q.pop_front()
    }

    /// The next message, or [`Error::WouldBlock`].
    pub(crate) fn recv(&mut self) -> Result<Message, Error> {
        self.pop().ok_or(Error::WouldBlock)
    }

    /// Sets `recv-buffer` (checked); what is queued stays.
    pub(crate) fn set_cap(&mut self, n: usize) -> Result<(), Error> {
        self.cap = buffer(n)?;
        Ok(())
    }
}

/// Messages the socket holds while no pipe takes them: at most
/// `send-buffer` (0 holds none), in order.
pub(crate) struct SendQueue {
    q: VecDeque<Message>,
    cap: usize,
}

impl SendQueue {
    pub(crate) fn new(cap: usize) -> Self {
        SendQueue {
            q: VecDeque::with_capacity(cap),
            cap,
        }
    }

    /// Sends `m` with `place` when nothing waits before it, else holds it;
    /// [`Error::WouldBlock`] (the message handed back) when it cannot hold
    /// more.
    pub(crate) fn send(
        &mut self,
        io: &mut Io<'_>,
        m: Message,
        mut place: impl FnMut(&mut Io<'_>, Message) -> Result<(), Message>,
    ) -> Result<(), SendError> {
        let m = if self.q.is_empty() {
            match place(io, m) {
                Ok(()) => return Ok(()),
                Err(m) => m,
            }
        } else {
            m
        };
        if self.q.len() < self.cap {
            self.q.push_back(m);
            Ok(())
        } else {
            Err(SendError::new(Error::WouldBlock, m))
        }
    }

    /// Sends held messages with `place` while it takes them, then wakes the
    /// senders (there may be room now).
    pub(crate) fn flush(
        &mut self,
        io: &mut Io<'_>,
        mut place: impl FnMut(&mut Io<'_>, Message) -> Result<(), Message>,
    ) {
        while let Some(m) = self.q.pop_front() {
            if let Err(m) = place(io, m) {
                self.q.push_front(m);
                break;
            }
        }
        io.notify_send();
    }

    /// Sets `send-buffer` (checked); what is held stays.
    pub(crate) fn set_cap(&mut self, n: usize) -> Result<(), Error> {
        self.cap = buffer(n)?;
        Ok(())
    }
}

/// Round robin over the pipes that have room: a pipe whose queue refuses a
/// message leaves the turn until the machine learns it has room again
/// ([`super::Machine::pipe_writable`]).
#[derive(Default)]
pub(crate) struct RoundRobin {
    ready: VecDeque<PipeId>,
}

impl RoundRobin {
    /// A new pipe takes its turn last.
    pub(crate) fn add(&mut self, p: PipeId) {
        self.ready.push_back(p);
    }

    pub(crate) fn remove(&mut self, p: PipeId) {
        self.ready.retain(|&q| q != p);
    }

    /// `p` has room again: back in the turn (last) unless it is there.
    pub(crate) fn writable(&mut self, p: PipeId) {
        if !self.ready.contains(&p) {
            self.ready.push_back(p);
        }
    }

    /// Queues `m` on the next pipe that takes it, which then goes last;
    /// the message back if none does.
    pub(crate) fn place(&mut self, io: &mut Io<'_>, mut m: Message) -> Result<PipeId, Message> {
        while let Some(p) = self.ready.pop_front() {
            match io.try_send(p, m) {
                Ok(()) => {
                    self.ready.push_back(p);
                    return Ok(p);
                }
                Err(back) => m = back,
            }
        }
        Err(m)
    }
}

/// What a fan-out does for a pipe whose queue is full.
#[derive(Clone, Copy)]
pub(crate) enum WhenFull {
    /// The pipe misses the new message (BUS, SURVEYOR, STAR).
    DropNew,
    /// The pipe's oldest queued message makes room (PUB).
    DropOldest,
}

/// Every pipe gets every message: one shared body, no copies; a full pipe
/// loses one message (counted as [`DropReason::QueueFull`]) and never
/// blocks the others. With `per_pipe`, each pipe's queue holds that many
/// messages (`send-buffer`).
pub(crate) struct Fanout {
    pipes: Vec<PipeId>,
    per_pipe: Option<usize>,
}

impl Fanout {
    /// Pipes keep the queue size the engine gives them.
    pub(crate) fn new() -> Self {
        Fanout {
            pipes: Vec::new(),
            per_pipe: None,
        }
    }

    /// Each pipe's queue holds `n` messages.
    pub(crate) fn with_pipe_queue(n: usize) -> Self {
        Fanout {
            pipes: Vec::new(),
            per_pipe: Some(n),
        }
    }

    pub(crate) fn add(&mut self, io: &mut Io<'_>, p: PipeId) {
        if let Some(n) = self.per_pipe {
            io.set_pipe_queue(p, n);
        }
        self.pipes.push(p);
    }

    pub(crate) fn remove(&mut self, p: PipeId) {
        self.pipes.retain(|&q| q != p);
    }

    /// Sets `send-buffer`, each pipe's queue (checked: 1 to 8192).
    pub(crate) fn set_pipe_queue(&mut self, io: &mut Io<'_>, n: usize) -> Result<(), Error> {
        let n = pipe_queue(n)?;
        self.per_pipe = Some(n);
        for &p in &self.pipes {
            io.set_pipe_queue(p, n);
        }
        Ok(())
    }

    /// Queues `m` on every pipe but `skip`.
    pub(crate) fn send(&self, io: &mut Io<'_>, m: Message, skip: Option<PipeId>, full: WhenFull) {
        let Some(last) = self.pipes.iter().rposition(|&p| Some(p) != skip) else {
            return;
        };
        for &p in &self.pipes[..last] {
            if Some(p) != skip {
                push(io, p, m.clone(), full);
            }
        }
        push(io, self.pipes[last], m, full);
    }
}

#[inline]
fn push(io: &mut Io<'_>, p: PipeId, m: Message, full: WhenFull) {
    let lost = match full {
        WhenFull::DropNew => io.try_send(p, m).is_err(),
        WhenFull::DropOldest => io.send_evict(p, m).is_some(),
    };
    if lost {
        io.count_drop(DropReason::QueueFull);
    }
}

/// The receive a REQ or SURVEYOR context lets wait (one at a time, as
/// nng), and what it learns when a new request or survey cancels it.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum RecvWait {
    /// No receive waits.
    #[default]
    Idle,
    /// A receive waits for an answer.
    Waiting,
    /// The receive that waited was cancelled by a new send: its next
    /// attempt is [`Error::Canceled`], whatever the new request's state.
    Canceled,
}

impl RecvWait {
    /// The receive parks ([`super::Machine::recv_parked`]).
    pub(crate) fn park(&mut self) {
        *self = RecvWait::Waiting;
    }

    pub(crate) fn is_waiting(&self) -> bool {
        *self == RecvWait::Waiting
    }

    /// What it waited for has come (an answer, a failure): it waits no more.
    pub(crate) fn done(&mut self) {
        if self.is_waiting() {
            *self = RecvWait::Idle;
        }
    }

    /// A new send ends what the receive on `c` waited for: it is woken to
    /// learn [`Error::Canceled`].
    pub(crate) fn cancel(&mut self, io: &mut Io<'_>, c: CtxId) {
        if self.is_waiting() {
            *self = RecvWait::Canceled;
            io.notify_recv_ctx(c);
        }
    }

    /// The receive's attempt: [`Error::Canceled`] once if it was cancelled.
    pub(crate) fn check(&mut self) -> Result<(), Error> {
        if *self == RecvWait::Canceled {
            *self = RecvWait::Idle;
            return Err(Error::Canceled);
        }
        Ok(())
    }

    /// The receive was abandoned ([`super::Machine::recv_cancelled`]): true
    /// if it was waiting (the request or survey ends with it, as nng). A
    /// cancel notice nobody read dies with the operation it was for.
    pub(crate) fn abandon(&mut self) -> bool {
        core::mem::take(self) == RecvWait::Waiting
    }
}

/// The state of one context, for [`Contexts`]. A context whose settings
/// change after it opens gives them with `AsMut<Settings>`.
pub(crate) trait Ctx {
    /// What a context copies from the socket when it opens (REQ's resend
    /// time, the survey time, SUB's queue size): each context then has its
    /// own.
    type Settings: Clone;
    /// A fresh context with these settings.
    fn open(s: &Self::Settings) -> Self;
}

/// The contexts of a cooked socket: its own ([`CtxId::SOCKET`], always
/// open) and those the application opened. Options set on the socket also
/// become the settings of contexts opened later, as nng.
#[cfg(feature = "contexts")]
pub(crate) struct Contexts<C: Ctx> {
    map: VecMap<CtxId, C>,
    defaults: C::Settings,
}

/// Without the `contexts` feature a socket has only its own context:
/// opening another is [`Error::NotSupported`], and nothing here keeps a map
/// (a firmware's REQ client links none of its code).
#[cfg(not(feature = "contexts"))]
pub(crate) struct Contexts<C: Ctx> {
    sock: C,
}

#[cfg(not(feature = "contexts"))]
impl<C: Ctx> Contexts<C> {
    /// The socket's context, with `defaults`.
    pub(crate) fn new(defaults: C::Settings) -> Self {
        Contexts {
            sock: C::open(&defaults),
        }
    }

    pub(crate) fn get(&self, c: CtxId) -> Option<&C> {
        (c == CtxId::SOCKET).then_some(&self.sock)
    }

    pub(crate) fn get_mut(&mut self, c: CtxId) -> Option<&mut C> {
        (c == CtxId::SOCKET).then_some(&mut self.sock)
    }

    pub(crate) fn contains(&self, c: CtxId) -> bool {
        c == CtxId::SOCKET
    }

    /// Contexts are not built in.
    pub(crate) fn open(&mut self, _raw: bool, _c: CtxId) -> Result<(), Error> {
        Err(Error::NotSupported)
    }

    /// Nothing to forget: only the socket's context exists.
    pub(crate) fn close(&mut self, _c: CtxId) {}

    /// Changes the socket's settings with `f`; [`Error::Closed`] for any
    /// other context.
    pub(crate) fn set(&mut self, c: CtxId, f: impl Fn(&mut C::Settings)) -> Result<&mut C, Error>
    where
        C: AsMut<C::Settings>,
    {
        let ctx = self.get_mut(c).ok_or(Error::Closed)?;
        f(ctx.as_mut());
        Ok(ctx)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (CtxId, &C)> {
        core::iter::once((CtxId::SOCKET, &self.sock))
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (CtxId, &mut C)> {
        core::iter::once((CtxId::SOCKET, &mut self.sock))
    }

    /// The socket context's deadline.
    pub(crate) fn earliest(&self, deadline: impl Fn(&C) -> Option<Instant>) -> Option<Instant> {
        deadline(&self.sock)
    }

    /// The socket's context if its deadline has passed at `now`.
    pub(crate) fn due(&self, now: Instant, deadline: impl Fn(&C) -> Option<Instant>) -> Vec<CtxId> {
        let mut v = Vec::new();
        if deadline(&self.sock).is_some_and(|t| t <= now) {
            v.push(CtxId::SOCKET);
        }
        v
    }
}

#[cfg(feature = "contexts")]
impl<C: Ctx> Contexts<C> {
    /// The socket's context, with `defaults`.
    pub(crate) fn new(defaults: C::Settings) -> Self {
        let mut map = VecMap::new();
        map.insert(CtxId::SOCKET, C::open(&defaults));
        Contexts { map, defaults }
    }

    pub(crate) fn get(&self, c: CtxId) -> Option<&C> {
        self.map.get(&c)
    }

    pub(crate) fn get_mut(&mut self, c: CtxId) -> Option<&mut C> {
        self.map.get_mut(&c)
    }

    pub(crate) fn contains(&self, c: CtxId) -> bool {
        self.map.contains_key(&c)
    }

    /// Opens `c` with the socket's settings; a raw socket has no contexts.
    pub(crate) fn open(&mut self, raw: bool, c: CtxId) -> Result<(), Error> {
        if raw {
            return Err(Error::NotSupported);
        }
        self.map.insert(c, C::open(&self.defaults));
        Ok(())
    }

    /// Forgets `c`.
    pub(crate) fn close(&mut self, c: CtxId) {
        self.map.remove(&c);
    }

    /// Changes `c`'s settings with `f` (the socket's: also the default of
    /// contexts opened later); [`Error::Closed`] if `c` is not open.
    pub(crate) fn set(&mut self, c: CtxId, f: impl Fn(&mut C::Settings)) -> Result<&mut C, Error>
    where
        C: AsMut<C::Settings>,
    {
        let ctx = self.map.get_mut(&c).ok_or(Error::Closed)?;
        f(ctx.as_mut());
        if c == CtxId::SOCKET {
            f(&mut self.defaults);
        }
        Ok(ctx)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (CtxId, &C)> {
        self.map.iter().map(|(&c, x)| (c, x))
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (CtxId, &mut C)> {
        self.map.iter_mut().map(|(&c, x)| (c, x))
    }

    /// The earliest of the contexts' deadlines.
    pub(crate) fn earliest(&self, deadline: impl Fn(&C) -> Option<Instant>) -> Option<Instant> {
        self.map.values().filter_map(deadline).min()
    }

    /// The contexts whose deadline has passed at `now`.
    pub(crate) fn due(&self, now: Instant, deadline: impl Fn(&C) -> Option<Instant>) -> Vec<CtxId> {
        self.iter()
            .filter(|(_, x)| deadline(x).is_some_and(|t| t <= now))
            .map(|(c, _)| c)
            .collect()
    }
}

impl<C: Ctx + AsMut<RecvWait>> Contexts<C> {
    /// The receive on `c` parks.
    pub(crate) fn park(&mut self, c: CtxId) {
        if let Some(x) = self.get_mut(c) {
            AsMut::<RecvWait>::as_mut(x).park();
        }
    }

    /// The receive on `c` was abandoned: the context, if that receive was
    /// waiting (what it waited for ends with it).
    pub(crate) fn abandon(&mut self, c: CtxId) -> Option<&mut C> {
        let x = self.get_mut(c)?;
        AsMut::<RecvWait>::as_mut(x).abandon().then_some(x)
    }
}

/// The request (or survey) ids of a socket, shared by its contexts: 32 bits
/// with bit 31 set, from a counter with a random start, each mapped to the
/// context that waits for its answers.
pub(crate) struct Ids {
    next: u32,
    live: VecMap<u32, CtxId>,
}

impl Ids {
    /// Counting from `seed`.
    pub(crate) fn new(seed: u32) -> Self {
        Ids {
            next: seed,
            live: VecMap::new(),
        }
    }

    /// The next id not in use.
    pub(crate) fn fresh(&mut self) -> u32 {
        loop {
            self.next = self.next.wrapping_add(1);
            let id = RequestId::from_counter(self.next).0;
            if !self.live.contains_key(&id) {
                return id;
            }
        }
    }

    /// `c` waits for the answers to `id`.
    pub(crate) fn insert(&mut self, id: u32, c: CtxId) {
        self.live.insert(id, c);
    }

    /// The context waiting for `id`'s answers.
    pub(crate) fn get(&self, id: u32) -> Option<CtxId> {
        self.live.get(&id).copied()
    }

    /// `id` is answered or abandoned: its late answers are dropped.
    pub(crate) fn remove(&mut self, id: u32) {
        self.live.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_ranges() {
        assert_eq!(ttl_max(1), Ok(1));
        assert_eq!(ttl_max(15), Ok(15));
        assert_eq!(ttl_max(0), Err(Error::InvalidArgument));
        assert_eq!(ttl_max(16), Err(Error::InvalidArgument));
        assert_eq!(buffer(0), Ok(0));
        assert_eq!(buffer(8192), Ok(8192));
        assert_eq!(buffer(8193), Err(Error::InvalidArgument));
        assert_eq!(pipe_queue(0), Err(Error::InvalidArgument));
        assert_eq!(pipe_queue(8192), Ok(8192));
    }

    #[test]
    fn ids_have_bit_31_and_skip_those_in_use() {
        let mut ids = Ids::new(u32::MAX - 1);
        let a = ids.fresh();
        assert_eq!(a, 0xffff_ffff);
        ids.insert(a, CtxId(1));
        assert_eq!(ids.fresh(), 0x8000_0000, "wraps");
        assert_eq!(ids.get(a), Some(CtxId(1)));
        // 0x7fff_ffff with bit 31 is `a`, in use: skipped.
        ids.next = 0x7fff_fffe;
        assert_eq!(ids.fresh(), 0x8000_0000);
        ids.remove(a);
        assert_eq!(ids.get(a), None);
    }
}
