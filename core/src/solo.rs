//! [`Solo`]: a socket with one connection at a time, driven by the task that
//! sends and receives. The lean path for firmware.
//!
//! [`Socket`](crate::Socket) is a whole engine: any number of pipes, each run
//! by a task of its own, operations from many tasks at once, contexts,
//! hooks, queues with back-pressure between them. A microcontroller that
//! asks one server (a REQ client) or answers one peer at a time (a REP
//! server) needs none of it, and its flash pays for all of it. `Solo` runs
//! the same protocol machine (the one `Socket` runs: the wire rules, request
//! ids, resends, backtraces and TTLs are written once) over one stream, with
//! no task, queue, lock or waker of its own:
//!
//! * [`Solo::attach`] makes the SP handshake on a connected stream and gives
//!   a [`Conn`], which borrows the socket until it is dropped (the machine
//!   then forgets the pipe, as when a `Socket` loses one);
//! * [`Conn::send`] hands the message to the machine and writes what it
//!   queued before returning;
//! * [`Conn::recv`] reads and decodes frames, hands each to the machine, and
//!   runs the machine's timers (REQ's resend), until the machine has a
//!   message for the application, an error, or `recv-timeout` passes.
//!
//! So nothing is read while the application is not in `recv` (bytes wait in
//! the stream's buffers, which is the back-pressure), and a REQ request is
//! resent only while a `recv` waits for its reply (which is when it
//! matters). A connection that fails (the peer closes, sends a malformed
//! frame or a message over `recv-size-max`, a write does not finish within
//! `send-timeout`, or within `recv-timeout` when `recv` writes a resend)
//! returns its error from then on, and [`Conn::error`] says so; drop the
//! `Conn` and attach a new stream. The machine's state (a pending request,
//! options) outlives connections: REQ resends a pending request on the next
//! one. So a [`Error::TimedOut`] from `recv` means one of two things: the
//! receive timed out (REQ then ends its request, as `Socket` and nng do;
//! [`Conn::error`] is `None`), or a write timed out and the connection
//! failed ([`Conn::error`] is `Some`; the request stays for the next
//! connection).
//!
//! The stream's reads must be cancel-safe (a read future dropped before it
//! completes consumes nothing), as embassy-net's `TcpReader` is: `recv`
//! stops waiting for bytes when a timer or its timeout comes, and its
//! decoder keeps any partial frame for the next read.
//!
//! ```
//! use nanosp_core::solo::Solo;
//! use nanosp_core::stream::StreamConfig;
//! use nanosp_core::frame::Framing;
//! use nanosp_core::testing::{duplex, VirtualRuntime};
//! use nanosp_core::{Message, Protocol};
//! # futures::executor::block_on(async {
//! let rt = VirtualRuntime::new(1);
//! let (a, b) = duplex(4096);
//! let (ar, aw) = a.split();
//! let (br, bw) = b.split();
//! let mut req = Solo::new(Protocol::Req0, rt.clone());
//! let mut rep = Solo::new(Protocol::Rep0, rt);
//! let cfg = StreamConfig::small(Framing::Tcp);
//! // Both handshakes at once (each writes its header, then reads the peer's).
//! let (c, s) = futures::join!(req.attach(ar, aw, cfg), rep.attach(br, bw, cfg));
//! let (mut c, mut s) = (c.unwrap(), s.unwrap());
//! c.send(Message::from("ping")).await.unwrap();
//! let q = s.recv().await.unwrap();
//! assert_eq!(q.body(), b"ping");
//! s.send(Message::from("pong")).await.unwrap();
//! assert_eq!(c.recv().await.unwrap().body(), b"pong");
//! # });
//! ```

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use core::pin::pin;
use core::task::Waker;

use embedded_io_async::{Read, Write};

use crate::chan::Chan;
use crate::engine::PIPE_QUEUE;
use crate::proto::{CtxId, Delivery, Io, Machine, PipeTx, Pipes, Wakes};
use crate::stream::{handshake_as, StreamConfig, StreamReader, StreamWriter};
use crate::transport::{PipeRead, PipeWrite};
use crate::util::with_deadline;
use crate::{
    Error, Instant, Message, Options, PipeId, PipeStats, Protocol, ProtocolError, Runtime,
    SendError, SockOpt, Stats,
};

/// A socket of one protocol over one connection at a time (see the
/// [module](self)). Options and counters are the same as
/// [`Socket`](crate::Socket)'s.
pub struct Solo<R: Runtime> {
    rt: R,
    proto: Protocol,
    m: Box<dyn Machine>,
    opts: Options,
    stats: Stats,
    uses_time: bool,
    tracks: bool,
    next_pipe: u32,
}

impl<R: Runtime> Solo<R> {
    /// A cooked socket of protocol `p` on runtime `rt` (its clock, sleeps
    /// and randomness). A protocol left out of the build (cargo features)
    /// refuses every operation with [`Error::NotSupported`].
    pub fn new(p: Protocol, rt: R) -> Self {
        let m = crate::proto::machine(p, false, rt.random_u32());
        Solo {
            uses_time: m.uses_time(),
            tracks: m.tracks_receives(),
            rt,
            proto: p,
            m,
            opts: Options::default(),
            stats: Stats::default(),
            next_pipe: 0,
        }
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.proto
    }

    /// The runtime.
    pub fn runtime(&self) -> &R {
        &self.rt
    }

    /// The socket's options as set (timeouts, limits, reconnect times).
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Updates the counters (a transport counts redials and failed accepts).
    pub fn count(&mut self, f: impl FnOnce(&mut Stats)) {
        f(&mut self.stats);
    }

    /// Sets an option, as [`Socket::set_opt`](crate::Socket::set_opt) does.
    pub fn set_opt(&mut self, o: SockOpt) -> Result<(), Error> {
        set_opt(self, None, o)
    }

    /// Makes the SP handshake on a connected stream (within the
    /// handshake timeout) and joins it to the socket, with `cfg`'s framing
    /// and buffers. A failed handshake is counted in
    /// [`Stats::handshake_failures`] (a peer of the wrong protocol also in
    /// [`Stats::pipes_rejected`]); drop the stream then. `rd`'s reads must
    /// be cancel-safe (see the [module](self)).
    pub async fn attach<Rd: Read, Wr: Write>(
        &mut self,
        mut rd: Rd,
        mut wr: Wr,
        cfg: StreamConfig,
    ) -> Result<Conn<'_, R, Rd, Wr>, Error> {
        let deadline = self.rt.now().plus(self.opts.handshake_timeout);
        let peer = {
            let hs = pin!(handshake_as(
                &mut rd,
                &mut wr,
                self.proto.number(),
                cfg.flush
            ));
            with_deadline(&self.rt, Some(deadline), hs).await
        };
        let peer = peer.unwrap_or(Err(Error::TimedOut)).and_then(|peer| {
            let expected = self.proto.peer_number();
            if peer == expected {
                Ok(peer)
            } else {
                Err(ProtocolError::PeerMismatch {
                    expected,
                    got: peer,
                }
                .into())
            }
        });
        if let Err(e) = peer {
            self.stats.handshake_failures += 1;
            if let Error::Protocol(ProtocolError::PeerMismatch { .. }) = e {
                self.stats.pipes_rejected += 1;
            }
            return Err(e);
        }
        self.next_pipe = self.next_pipe.wrapping_add(1).max(1) & 0x7fff_ffff;
        let limit = self.opts.frame_limit() as u64;
        let mut rd = StreamReader::with_buffer(rd, cfg.framing, limit, cfg.read_buf);
        rd.dec.set_max_reserve(cfg.max_reserve);
        let mut wr = StreamWriter::with_buffer(wr, cfg.framing, cfg.write_buf);
        wr.flush = cfg.flush;
        let mut c = Conn {
            id: PipeId(self.next_pipe.max(1)),
            s: self,
            tx: Chan::new(PIPE_QUEUE),
            pstats: PipeStats::default(),
            rd,
            wr,
            out: VecDeque::new(),
            held: None,
            broken: None,
            added: false,
        };
        let id = c.id;
        if let Err(e) = c.call(|m, io| m.add_pipe(io, id)) {
            c.s.stats.pipes_rejected += 1;
            return Err(e);
        }
        c.added = true;
        c.s.stats.pipes_added += 1;
        // What the machine queued now (REQ's pending request) leaves with
        // the first operation.
        Ok(c)
    }
}

/// The machine's window on the one pipe (or on none).
struct One<'a> {
    pipe: Option<(PipeId, &'a Chan, &'a mut PipeStats)>,
}

impl Pipes for One<'_> {
    fn tx(&mut self, p: PipeId) -> Option<PipeTx<'_>> {
        match &mut self.pipe {
            Some((id, chan, stats)) if *id == p => Some(PipeTx {
                chan,
                refill: Waker::noop(),
                stats,
            }),
            _ => None,
        }
    }
}

/// Calls the machine with the pipe `pipe` (its id, queue and counters), or
/// with none. The machine's notifications need no waking here: the task
/// that called asks the machine again itself.
fn call<R: Runtime, T>(
    s: &mut Solo<R>,
    pipe: Option<(PipeId, &Chan, &mut PipeStats)>,
    g: impl FnOnce(&mut dyn Machine, &mut Io<'_>) -> T,
) -> T {
    // The set-up around `g` is compiled once, not at each of the dozen
    // callers (flash).
    let (mut g, mut out) = (Some(g), None);
    call_dyn(s, One { pipe }, &mut |m, io| {
        if let Some(g) = g.take() {
            out = Some(g(m, io));
        }
    });
    match out {
        Some(t) => t,
        None => unreachable!(),
    }
}

fn call_dyn<R: Runtime>(
    s: &mut Solo<R>,
    mut one: One<'_>,
    g: &mut dyn FnMut(&mut dyn Machine, &mut Io<'_>),
) {
    let now = if s.uses_time {
        s.rt.now()
    } else {
        Instant::from_micros(0)
    };
    let mut wakes = Wakes::default();
    let mut io = Io::new(&mut one, &mut wakes, &mut s.stats, now);
    g(&mut *s.m, &mut io);
}

/// Sets `o` on the socket, its machine seeing the connection's pipe if
/// there is one (PUB's `send-buffer` sizes its queue).
fn set_opt<R: Runtime>(
    s: &mut Solo<R>,
    pipe: Option<(PipeId, &Chan, &mut PipeStats)>,
    o: SockOpt,
) -> Result<(), Error> {
    if s.opts.apply(&o)? {
        return Ok(());
    }
    let r = call(s, pipe, |m, io| m.set_option(io, CtxId::SOCKET, &o));
    match (r, o) {
        (Err(Error::NotSupported), SockOpt::TtlMax(_)) => Ok(()),
        (r, _) => r,
    }
}

/// A connection of a [`Solo`] socket: its operations (see the
/// [module](self)). Dropping it detaches the pipe; what it had not written
/// is counted as lost.
pub struct Conn<'s, R: Runtime, Rd: Read, Wr: Write> {
    s: &'s mut Solo<R>,
    id: PipeId,
    /// What the machine queued for the peer, written by the operation that
    /// queued it.
    tx: Chan,
    pstats: PipeStats,
    rd: StreamReader<Rd>,
    wr: StreamWriter<Wr>,
    out: VecDeque<Message>,
    /// A message the machine had no room for, offered again first.
    held: Option<Message>,
    broken: Option<Error>,
    added: bool,
}

impl<R: Runtime, Rd: Read, Wr: Write> Conn<'_, R, Rd, Wr> {
    fn call<T>(&mut self, g: impl FnOnce(&mut dyn Machine, &mut Io<'_>) -> T) -> T {
        call(self.s, Some((self.id, &self.tx, &mut self.pstats)), g)
    }

    /// The error this connection failed with, if it did.
    pub fn error(&self) -> Option<Error> {
        self.broken
    }

    fn fail(&mut self, e: Error) -> Error {
        if self.broken.is_none() {
            if matches!(e, Error::Protocol(_) | Error::MessageTooLong { .. }) {
                self.s.stats.protocol_errors += 1;
                self.s.stats.oversized += u64::from(matches!(e, Error::MessageTooLong { .. }));
            }
            self.broken = Some(e);
        }
        e
    }

    /// The socket's counters.
    pub fn stats(&self) -> &Stats {
        &self.s.stats
    }

    /// Sets an option on the socket (see [`Solo::set_opt`]); a new
    /// `recv-size-max` applies to the next message read.
    pub fn set_opt(&mut self, o: SockOpt) -> Result<(), Error> {
        set_opt(self.s, Some((self.id, &self.tx, &mut self.pstats)), o)?;
        self.rd.dec.set_limit(self.s.opts.frame_limit() as u64);
        Ok(())
    }

    /// Runs the machine's expired deadlines (REQ's resend), then writes
    /// what the machine queued, within `send-timeout` and by `until` (a
    /// receive's `recv-timeout`); a write that does not finish in time
    /// fails the connection (it may have left half a frame).
    async fn flush(&mut self, until: Option<Instant>) -> Result<(), Error> {
        if let Some(e) = self.error() {
            return Err(e);
        }
        if self.s.uses_time
            && self
                .s
                .m
                .next_deadline()
                .is_some_and(|d| self.s.rt.now() >= d)
        {
            self.call(|m, io| m.on_timer(io));
        }
        let deadline = match (self.s.opts.send_timeout, until) {
            (Some(d), Some(u)) => Some(self.s.rt.now().plus(d).min(u)),
            (Some(d), None) => Some(self.s.rt.now().plus(d)),
            (None, u) => u,
        };
        loop {
            let refill = self.tx.take_all(&mut self.out);
            if !self.out.is_empty() {
                // Until the write is over: an operation dropped in the
                // middle of it leaves half a frame in the stream.
                self.broken = Some(Error::ConnectionShutdown);
                let r = {
                    let w = pin!(self.wr.send(&mut self.out));
                    with_deadline(&self.s.rt, deadline, w).await
                };
                self.broken = None;
                match r {
                    Some(Ok(())) => {}
                    Some(Err(e)) => return Err(self.fail(e)),
                    None => return Err(self.fail(Error::TimedOut)),
                }
            }
            if !refill {
                return Ok(());
            }
            let id = self.id;
            self.call(|m, io| m.pipe_writable(io, id));
        }
    }

    /// Hands a message from the peer to the machine.
    fn deliver(&mut self, mut m: Message) -> Result<(), Error> {
        let (id, len) = (self.id, m.len() as u64);
        m.set_pipe(Some(id));
        match self.call(|mch, io| mch.pipe_recv(io, id, m)) {
            Delivery::Taken => {
                self.s.stats.msgs_in += 1;
                self.s.stats.bytes_in += len;
                Ok(())
            }
            Delivery::Full(m) => {
                self.held = Some(m);
                Ok(())
            }
            Delivery::Close(e) => {
                self.s.stats.protocol_errors += 1;
                self.broken = Some(e);
                Err(e)
            }
        }
    }

    /// Sends `m`: the machine takes it (or refuses it, as
    /// [`Socket::send`](crate::Socket::send) would), and what it queued is
    /// written before this returns. A message the machine took counts as
    /// sent even if the write then fails the connection (as a message
    /// queued on a pipe that closes): the next operation returns the error.
    pub async fn send(&mut self, m: Message) -> Result<(), SendError> {
        // One write path: before the machine takes the message (what is
        // due goes first), and after (the message).
        let (mut m, mut refused) = (Some(m), false);
        loop {
            if let Err(e) = self.flush(None).await {
                return match m {
                    Some(m) => Err(SendError::new(e, m)),
                    None => Ok(()),
                };
            }
            let Some(msg) = m.take() else {
                return Ok(());
            };
            match self.call(|mch, io| mch.send(io, CtxId::SOCKET, msg)) {
                Ok(()) => {}
                // No room: write what is queued, then once more.
                Err(SendError {
                    error: Error::WouldBlock,
                    message,
                }) if !refused => {
                    refused = true;
                    m = Some(message);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Receives: reads until the machine has a message for the
    /// application, within `recv-timeout` (see the [module](self)).
    pub async fn recv(&mut self) -> Result<Message, Error> {
        let deadline = self.s.opts.recv_timeout.map(|d| self.s.rt.now().plus(d));
        if let Some(e) = self.error() {
            return Err(e);
        }
        if self.s.tracks {
            self.call(|m, io| m.recv_begin(io, CtxId::SOCKET))?;
        }
        let mut op = RecvOp {
            c: self,
            parked: false,
            done: false,
            broke: false,
        };
        op.run(deadline).await
    }
}

impl<R: Runtime, Rd: Read, Wr: Write> Drop for Conn<'_, R, Rd, Wr> {
    fn drop(&mut self) {
        if !self.added {
            return;
        }
        // The machine no longer reaches the pipe (nothing more is queued on it).
        let id = self.id;
        call(self.s, None, |m, io| m.remove_pipe(io, id));
        let s = &mut self.s.stats;
        s.pipes_removed += 1;
        s.lost += (self.tx.clear() + self.out.len()) as u64;
    }
}

/// A receive in progress; dropped before the machine answered it after it
/// waited, the machine learns it was abandoned (REQ ends the request).
struct RecvOp<'c, 's, R: Runtime, Rd: Read, Wr: Write> {
    c: &'c mut Conn<'s, R, Rd, Wr>,
    parked: bool,
    done: bool,
    /// It ended because the connection failed.
    broke: bool,
}

impl<R: Runtime, Rd: Read, Wr: Write> RecvOp<'_, '_, R, Rd, Wr> {
    async fn run(&mut self, deadline: Option<Instant>) -> Result<Message, Error> {
        let r = self.attempts(deadline).await;
        self.broke = self.c.broken.is_some();
        r
    }

    async fn attempts(&mut self, deadline: Option<Instant>) -> Result<Message, Error> {
        loop {
            if let Some(m) = self.c.held.take() {
                self.c.deliver(m)?;
            }
            // Due timers first (a resend, a survey's end), and what they
            // wrote.
            self.c.flush(deadline).await?;
            match self.c.call(|m, io| m.recv(io, CtxId::SOCKET)) {
                Err(Error::WouldBlock) => {}
                r => {
                    self.done = true;
                    return r;
                }
            }
            // It waits (as on `Socket`, even a zero timeout waits first, so
            // a timed-out REQ receive ends its request).
            if self.c.s.tracks && !self.parked {
                self.c.call(|m, io| m.recv_parked(io, CtxId::SOCKET));
                self.parked = true;
            }
            if deadline.is_some_and(|d| self.c.s.rt.now() >= d) {
                return Err(Error::TimedOut);
            }
            if self.c.held.is_some() {
                continue; // no room: the machine has messages to give
            }
            let timer = if self.c.s.uses_time {
                self.c.s.m.next_deadline()
            } else {
                None
            };
            let wake = match (deadline, timer) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let got = {
                let c = &mut *self.c;
                let read = pin!(c.rd.recv());
                with_deadline(&c.s.rt, wake, read).await
            };
            match got {
                Some(Ok(m)) => self.c.deliver(m)?,
                Some(Err(e)) => return Err(self.c.fail(e)),
                None => {} // a deadline: checked at the top
            }
        }
    }
}

impl<R: Runtime, Rd: Read, Wr: Write> Drop for RecvOp<'_, '_, R, Rd, Wr> {
    fn drop(&mut self) {
        if self.parked && !self.done {
            if self.broke {
                self.c.call(|m, io| m.recv_interrupted(io, CtxId::SOCKET));
            } else {
                self.c.call(|m, io| m.recv_cancelled(io, CtxId::SOCKET));
            }
        }
    }
}
