//! A machine with pipes and no engine: the unit tests' harness, and (with
//! the `fuzzing` feature) the fuzz crate's way into every protocol machine.
//! Not API: hidden, and its shape follows the tests' needs. It calls the
//! machine as the engine does (see the contract on `Machine`), with a clock
//! the test moves by hand.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::task::Waker;

pub use super::machine::Delivery;
use super::machine::{Io, Machine, PipeTx, Pipes, Wakes};
use super::{machine, CtxId, Protocol};
use crate::chan::Chan;
use crate::stats::{PipeStats, Stats};
use crate::sync::Arc;
use crate::{Error, Instant, Message, PipeId, SendError, SockOpt};

/// A test pipe: an outgoing queue and its counters.
struct TestPipe {
    tx: Arc<Chan>,
    stats: PipeStats,
}

/// One machine, its pipes (each an outgoing queue), its counters and clock.
pub struct Harness {
    m: Box<dyn Machine>,
    pipes: BTreeMap<PipeId, TestPipe>,
    /// The socket's counters, as the machine left them.
    pub stats: Stats,
    /// True once the machine woke a receiver (of any context).
    pub recv_ready: bool,
    /// True once the machine woke a sender (of any context).
    pub send_ready: bool,
    /// The time every call sees; move it by hand.
    pub now: Instant,
}

struct Table<'a>(&'a mut BTreeMap<PipeId, TestPipe>);

impl Pipes for Table<'_> {
    fn tx(&mut self, p: PipeId) -> Option<PipeTx<'_>> {
        self.0.get_mut(&p).map(|t| PipeTx {
            chan: &t.tx,
            refill: Waker::noop(),
            stats: &mut t.stats,
        })
    }
}

impl Harness {
    /// `p`'s machine, cooked or raw, with a fixed id seed.
    pub fn new(p: Protocol, raw: bool) -> Self {
        Harness {
            m: machine(p, raw, 0x1234_5678),
            pipes: BTreeMap::new(),
            stats: Stats::default(),
            recv_ready: false,
            send_ready: false,
            now: Instant::from_micros(0),
        }
    }

    /// Runs `f` on the machine with an [`Io`] over the harness's pipes.
    pub(crate) fn with<R>(&mut self, f: impl FnOnce(&mut dyn Machine, &mut Io<'_>) -> R) -> R {
        let mut wakes = Wakes::default();
        let mut table = Table(&mut self.pipes);
        let mut io = Io::new(&mut table, &mut wakes, &mut self.stats, self.now);
        let r = f(&mut *self.m, &mut io);
        self.recv_ready |= io.recv_ready.any();
        self.send_ready |= io.send_ready.any();
        r
    }

    /// Adds pipe `id` with an outgoing queue of `cap` messages.
    pub fn add(&mut self, id: u32, cap: usize) -> Result<(), Error> {
        let p = PipeId(id);
        self.pipes.insert(
            p,
            TestPipe {
                tx: Arc::new(Chan::new(cap)),
                stats: PipeStats::default(),
            },
        );
        let r = self.with(|m, io| m.add_pipe(io, p));
        if r.is_err() {
            self.pipes.remove(&p);
        }
        r
    }

    /// True if pipe `id` is attached.
    pub fn has(&self, id: u32) -> bool {
        self.pipes.contains_key(&PipeId(id))
    }

    /// Removes pipe `id`, then tells the machine (as the engine does: the
    /// pipe is out of reach by then).
    pub fn remove(&mut self, id: u32) {
        let p = PipeId(id);
        self.pipes.remove(&p);
        self.with(|m, io| m.remove_pipe(io, p));
    }

    /// A message from pipe `id`, as the engine hands it over (its pipe set).
    pub fn deliver_msg(&mut self, id: u32, mut msg: Message) -> Delivery {
        let p = PipeId(id);
        msg.set_pipe(Some(p));
        self.with(|m, io| m.pipe_recv(io, p, msg))
    }

    /// `body` (the whole wire view) from pipe `id`.
    pub fn deliver(&mut self, id: u32, body: &[u8]) -> Delivery {
        self.deliver_msg(id, Message::from(body))
    }

    /// A send on context `c`, after its due deadline fired (as the engine).
    pub fn send_on(&mut self, c: CtxId, msg: Message) -> Result<(), SendError> {
        self.expire_due(c);
        self.with(|m, io| m.send(io, c, msg))
    }

    /// A send on the socket.
    pub fn send_msg(&mut self, msg: Message) -> Result<(), SendError> {
        self.send_on(CtxId::SOCKET, msg)
    }

    /// A send of `body` on the socket.
    pub fn send(&mut self, body: &[u8]) -> Result<(), Error> {
        self.send_msg(Message::from(body)).map_err(|e| e.error)
    }

    /// One non-blocking attempt on context `c`, as `try_recv`.
    pub fn recv_on(&mut self, c: CtxId) -> Result<Message, Error> {
        self.expire_due(c);
        self.with(|m, io| m.recv(io, c))
    }

    /// One non-blocking attempt on the socket, as `try_recv`.
    pub fn recv(&mut self) -> Result<Message, Error> {
        self.recv_on(CtxId::SOCKET)
    }

    /// The first attempt of a blocking `recv` on the socket, as the engine
    /// makes it: begin, attempt, and park on [`Error::WouldBlock`].
    pub fn wait_recv(&mut self) -> Result<Message, Error> {
        self.expire_due(CtxId::SOCKET);
        self.with(|m, io| {
            m.recv_begin(io, CtxId::SOCKET)?;
            attempt(m, io, CtxId::SOCKET)
        })
    }

    /// A later attempt of the blocking `recv` that waits (after a wake).
    pub fn repoll(&mut self) -> Result<Message, Error> {
        self.expire_due(CtxId::SOCKET);
        self.with(|m, io| attempt(m, io, CtxId::SOCKET))
    }

    /// The first attempt of a blocking `recv` on context `c`: begin,
    /// attempt, and park on [`Error::WouldBlock`].
    pub fn wait_recv_on(&mut self, c: CtxId) -> Result<Message, Error> {
        self.expire_due(c);
        self.with(|m, io| {
            m.recv_begin(io, c)?;
            attempt(m, io, c)
        })
    }

    /// A later attempt of the blocking `recv` waiting on context `c`.
    pub fn repoll_on(&mut self, c: CtxId) -> Result<Message, Error> {
        self.expire_due(c);
        self.with(|m, io| attempt(m, io, c))
    }

    /// The machine (tests look at what it keeps).
    #[cfg(test)]
    pub(crate) fn machine(&self) -> &dyn Machine {
        &*self.m
    }

    /// The waiting `recv` on context `c` times out or is dropped.
    pub fn cancel_recv_on(&mut self, c: CtxId) {
        self.with(|m, io| m.recv_cancelled(io, c))
    }

    /// The waiting `recv` on the socket times out or is dropped.
    pub fn cancel_recv(&mut self) {
        self.cancel_recv_on(CtxId::SOCKET)
    }

    /// Opens context `c`.
    pub fn open_ctx(&mut self, c: CtxId) -> Result<(), Error> {
        self.with(|m, io| m.open_ctx(io, c))
    }

    /// Closes context `c`.
    pub fn close_ctx(&mut self, c: CtxId) {
        self.with(|m, io| m.close_ctx(io, c))
    }

    /// Sets an option on context `c`.
    pub fn set_on(&mut self, c: CtxId, o: &SockOpt) -> Result<(), Error> {
        self.with(|m, io| m.set_option(io, c, o))
    }

    /// Sets an option on the socket.
    pub fn set(&mut self, o: SockOpt) -> Result<(), Error> {
        self.set_on(CtxId::SOCKET, &o)
    }

    /// When context `c` next needs its timer.
    pub fn deadline(&self, c: CtxId) -> Option<Instant> {
        self.m.deadline(c)
    }

    /// Fires `c`'s timer if its deadline has passed, as an operation on `c`
    /// does before each attempt.
    pub fn expire_due(&mut self, c: CtxId) {
        if self.m.deadline(c).is_some_and(|d| d <= self.now) {
            self.with(|m, io| m.expire(io, c));
        }
    }

    /// The socket's timer task wakes: fires every deadline that has passed.
    pub fn run_timers(&mut self) {
        if self.m.next_deadline().is_some_and(|d| d <= self.now) {
            self.with(|m, io| m.on_timer(io));
        }
    }

    /// Drains what was queued on pipe `id`, as messages.
    pub fn sent_msgs(&mut self, id: u32) -> Vec<Message> {
        let Some(slot) = self.pipes.get_mut(&PipeId(id)) else {
            return Vec::new();
        };
        let mut out = VecDeque::new();
        let mut cx = core::task::Context::from_waker(Waker::noop());
        let _ = slot.tx.poll_pop(&mut cx, &mut out, usize::MAX);
        // Popping made room: tell the machine, as the engine would.
        self.with(|m, io| m.pipe_writable(io, PipeId(id)));
        out.into_iter().collect()
    }

    /// Drains what was queued on pipe `id`, as header+body bytes.
    pub fn sent(&mut self, id: u32) -> Vec<Vec<u8>> {
        self.sent_msgs(id)
            .into_iter()
            .map(|m| {
                let mut v = m.header().to_vec();
                v.extend_from_slice(m.body());
                v
            })
            .collect()
    }
}

/// An attempt of a blocking receive: parks on [`Error::WouldBlock`].
fn attempt(m: &mut dyn Machine, io: &mut Io<'_>, c: CtxId) -> Result<Message, Error> {
    let r = m.recv(io, c);
    if r == Err(Error::WouldBlock) {
        m.recv_parked(io, c);
    }
    r
}
