//! The handles an application holds: [`Socket`], [`SocketContext`], and the
//! transports' [`SocketRef`]. The work is the engine's ([`crate::engine`]).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::Poll;

use portable_atomic::{AtomicU32, Ordering};

use crate::engine::{ms_of, recv_on, send_on, Core, Hook};
use crate::proto::CtxId;
use crate::sync::Arc;
#[cfg(feature = "inproc")]
use crate::url::Scheme;
use crate::url::Url;
use crate::{
    Error, Message, Options, PipeEvent, PipeId, PipeInfo, PipeStats, Protocol, Runtime, SendError,
    SockOpt, Stats,
};

/// Closes the socket when the last application handle goes.
struct Handle<R: Runtime> {
    core: Arc<Core<R>>,
}

impl<R: Runtime> Drop for Handle<R> {
    fn drop(&mut self) {
        self.core.close();
    }
}

/// An SP socket. Cheap to clone; all clones are the same socket, usable from
/// any task (the handle is `Send + Sync` when the runtime is). The socket
/// closes when [`Socket::close`] is called or the last clone is dropped.
///
/// ```
/// use nanosp_core::{Socket, Protocol, testing::VirtualRuntime, Message};
/// # futures::executor::block_on(async {
/// let rt = VirtualRuntime::new(1);
/// let a = Socket::new(Protocol::Pair1, rt.clone());
/// let b = Socket::new(Protocol::Pair1, rt);
/// a.listen("inproc://socket-doc").unwrap();
/// b.dial("inproc://socket-doc").unwrap();
/// b.send(Message::from("ping")).await.unwrap();
/// let m = a.recv().await.unwrap();
/// a.send(m).await.unwrap();
/// assert_eq!(b.recv().await.unwrap().body(), b"ping");
/// # });
/// ```
pub struct Socket<R: Runtime> {
    h: Arc<Handle<R>>,
}

impl<R: Runtime> Clone for Socket<R> {
    fn clone(&self) -> Self {
        Socket { h: self.h.clone() }
    }
}

impl<R: Runtime> fmt::Debug for Socket<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.core().id)
            .field("protocol", &self.core().proto)
            .field("raw", &self.core().raw)
            .finish()
    }
}

impl<R: Runtime> Socket<R> {
    /// A cooked socket of protocol `p` on runtime `rt`.
    pub fn new(p: Protocol, rt: R) -> Self {
        Self::build(p, false, rt)
    }

    /// A raw socket: headers are the application's, no end-to-end state.
    /// Without the `raw` cargo feature it refuses sends, receives, protocol
    /// options, contexts and peers (a pipe to it is closed at once) with
    /// [`Error::NotSupported`].
    pub fn new_raw(p: Protocol, rt: R) -> Self {
        Self::build(p, true, rt)
    }

    fn build(p: Protocol, raw: bool, rt: R) -> Self {
        Socket {
            h: Arc::new(Handle {
                core: Core::new(p, raw, rt),
            }),
        }
    }

    pub(crate) fn core(&self) -> &Arc<Core<R>> {
        &self.h.core
    }

    /// The hold a transport task keeps on this socket: it reaches the engine
    /// but does not keep the socket open when the application drops it.
    pub fn transport_ref(&self) -> SocketRef<R> {
        SocketRef {
            core: self.h.core.clone(),
        }
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.core().proto
    }

    /// True for a raw socket.
    pub fn is_raw(&self) -> bool {
        self.core().raw
    }

    /// The runtime this socket runs on.
    pub fn runtime(&self) -> &R {
        &self.core().rt
    }

    /// Sends `m`, waiting for room up to `send-timeout`. A failure hands the
    /// message back in the [`SendError`].
    pub async fn send(&self, m: Message) -> Result<(), SendError> {
        let t = self.core().timeout(&self.core().send_timeout_ms);
        send_on(self.core(), CtxId::SOCKET, m, t).await
    }

    /// Sends `m`, waiting for room up to `timeout` for this call only
    /// (`send-timeout` does not apply).
    ///
    /// ```
    /// use core::time::Duration;
    /// use nanosp_core::{Error, Message, Protocol, Socket, testing::VirtualRuntime};
    /// # futures::executor::block_on(async {
    /// let push = Socket::new(Protocol::Push0, VirtualRuntime::new(1));
    /// // No peer: nothing can take it; a zero timeout gives up at once.
    /// let e = push.send_timeout(Message::from("job"), Duration::ZERO).await.unwrap_err();
    /// assert_eq!(e.error, Error::TimedOut);
    /// assert_eq!(e.message.body(), b"job"); // handed back
    /// # });
    /// ```
    pub async fn send_timeout(
        &self,
        m: Message,
        timeout: core::time::Duration,
    ) -> Result<(), SendError> {
        send_on(self.core(), CtxId::SOCKET, m, Some(timeout)).await
    }

    /// Sends without waiting: [`Error::WouldBlock`] if it cannot go now.
    pub fn try_send(&self, m: Message) -> Result<(), SendError> {
        let mut slot = Some(m);
        match self.core().poll_send(None, CtxId::SOCKET, &mut slot).0 {
            Poll::Ready(r) => r,
            Poll::Pending => unreachable!("no context, no parking"),
        }
    }

    /// Receives a message, waiting up to `recv-timeout`.
    pub async fn recv(&self) -> Result<Message, Error> {
        let t = self.core().timeout(&self.core().recv_timeout_ms);
        recv_on(self.core(), CtxId::SOCKET, t).await
    }

    /// Receives a message, waiting up to `timeout` for this call only
    /// (`recv-timeout` does not apply). On REQ and SURVEYOR a timed-out
    /// receive ends the request or survey, as any timed-out `recv` does.
    ///
    /// ```
    /// use core::time::Duration;
    /// use nanosp_core::{Error, Protocol, Socket, testing::VirtualRuntime};
    /// # futures::executor::block_on(async {
    /// let pull = Socket::new(Protocol::Pull0, VirtualRuntime::new(1));
    /// assert_eq!(pull.recv_timeout(Duration::ZERO).await.unwrap_err(), Error::TimedOut);
    /// # });
    /// ```
    pub async fn recv_timeout(&self, timeout: core::time::Duration) -> Result<Message, Error> {
        recv_on(self.core(), CtxId::SOCKET, Some(timeout)).await
    }

    /// Receives without waiting: [`Error::WouldBlock`] if nothing is there.
    pub fn try_recv(&self) -> Result<Message, Error> {
        match self.core().poll_recv(None, CtxId::SOCKET, None).0 {
            Poll::Ready(r) => r,
            Poll::Pending => unreachable!("no context, no parking"),
        }
    }

    /// Receives up to `max` messages into `out`: waits for the first as
    /// [`Socket::recv`] does (with its timeout and errors), then takes those
    /// already there in one pass of the socket's lock, so a receiver that
    /// keeps up with a fast sender pays once per batch. Returns how many it
    /// added: at least one, unless `max` is 0. On REQ and SURVEYOR it is
    /// like `recv` (one reply per request; a survey's responses as they
    /// come).
    ///
    /// ```
    /// use nanosp_core::{Message, Protocol, Socket, testing::VirtualRuntime};
    /// # futures::executor::block_on(async {
    /// let rt = VirtualRuntime::new(1);
    /// let pull = Socket::new(Protocol::Pull0, rt.clone());
    /// let push = Socket::new(Protocol::Push0, rt);
    /// pull.listen("inproc://recv-many-doc").unwrap();
    /// push.dial("inproc://recv-many-doc").unwrap();
    /// for i in 0..3u8 {
    ///     push.send(Message::from(&[i][..])).await.unwrap();
    /// }
    /// let mut got = Vec::new();
    /// while got.len() < 3 {
    ///     pull.recv_many(&mut got, 16).await.unwrap();
    /// }
    /// assert_eq!(got.iter().map(|m| m.body()[0]).collect::<Vec<_>>(), [0, 1, 2]);
    /// # });
    /// ```
    pub async fn recv_many(&self, out: &mut Vec<Message>, max: usize) -> Result<usize, Error> {
        if max == 0 {
            return Ok(0);
        }
        out.push(self.recv().await?);
        Ok(1 + self.try_recv_many(out, max - 1))
    }

    /// Takes up to `max` messages that are already there into `out`,
    /// without waiting (as [`Socket::try_recv`]), in one pass of the
    /// socket's lock. Returns how many it added (0 if none was there, or
    /// the socket is closed).
    pub fn try_recv_many(&self, out: &mut Vec<Message>, max: usize) -> usize {
        self.core().try_recv_many(CtxId::SOCKET, out, max)
    }

    /// Sets an option (see [`SockOpt`] for names and defaults). Protocol
    /// options set here also become the defaults of contexts opened later.
    pub fn set_opt(&self, o: SockOpt) -> Result<(), Error> {
        self.core().set_opt(CtxId::SOCKET, &o)
    }

    /// Opens a context: an independent protocol state on this socket (REQ,
    /// REP, SURVEYOR, RESPONDENT, SUB in cooked mode). Others return
    /// [`Error::NotSupported`], and so does every socket when nanosp-core
    /// is built without its `contexts` feature (on by default; a firmware
    /// may leave it out to save flash).
    pub fn context(&self) -> Result<SocketContext<R>, Error> {
        let id = self.core().open_ctx()?;
        let core = self.core();
        Ok(SocketContext {
            sock: self.clone(),
            id,
            closed: portable_atomic::AtomicBool::new(false),
            send_timeout_ms: AtomicU32::new(core.send_timeout_ms.load(Ordering::Relaxed)),
            recv_timeout_ms: AtomicU32::new(core.recv_timeout_ms.load(Ordering::Relaxed)),
        })
    }

    /// The engine-level options now in force.
    pub fn options(&self) -> Options {
        self.core().options()
    }

    /// SUB: receive messages starting with `topic` (empty = everything).
    pub fn subscribe(&self, topic: &[u8]) -> Result<(), Error> {
        self.set_opt(SockOpt::Subscribe(topic.to_vec()))
    }

    /// SUB: stop receiving `topic`; [`Error::NotFound`] if not subscribed.
    pub fn unsubscribe(&self, topic: &[u8]) -> Result<(), Error> {
        self.set_opt(SockOpt::Unsubscribe(topic.to_vec()))
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.core().stats()
    }

    /// The live pipes.
    pub fn pipes(&self) -> Vec<PipeInfo> {
        self.core().pipes()
    }

    /// What one live pipe is (`None` once it is gone).
    pub fn pipe_info(&self, p: PipeId) -> Option<PipeInfo> {
        self.core().pipe_info(p)
    }

    /// The counters of one live pipe.
    pub fn pipe_stats(&self, p: PipeId) -> Option<PipeStats> {
        self.core().pipe_stats(p)
    }

    /// Closes one pipe (the transport notices and its dialer may redial).
    pub fn close_pipe(&self, p: PipeId) {
        self.core().remove_pipe(p, Error::Closed);
    }

    /// Installs the pipe-event hook. It runs outside every lock, on the task
    /// that attached or removed the pipe; returning `false` from
    /// [`PipeEvent::AddPre`] refuses the pipe. [`Socket::close`] drops the
    /// hook, so a hook may hold a clone of its socket (to close pipes); such
    /// a socket then stays open until `close` is called, not merely dropped.
    pub fn set_pipe_hook(&self, f: impl Fn(PipeEvent, &PipeInfo) -> bool + Send + Sync + 'static) {
        self.core().set_hook(Hook(Box::new(f)));
    }

    /// Closes the socket: every pipe, dialer and listener ends, and every
    /// pending operation returns [`Error::Closed`]. Messages still queued on
    /// pipes are dropped (counted in [`Stats::lost`]), as nng does; see
    /// [`Socket::close_linger`] to let them go first.
    pub fn close(&self) {
        self.core().close();
    }

    /// Completes once every message queued on a pipe has been written by
    /// its transport (or its pipe closed). Messages the protocol still holds
    /// (a REQ request with no pipe yet) and sends still waiting are not
    /// included.
    pub async fn flush(&self) {
        let core = self.core();
        poll_fn(|cx| core.poll_flushed(cx)).await
    }

    /// Closes the socket after waiting up to `linger` ([`SockOpt::Linger`],
    /// default zero) for queued messages to be written: a program that sends
    /// and then closes (or, with the blocking API, returns from `main`)
    /// delivers what it sent. Whatever is still queued when the time is up is
    /// dropped, as by [`Socket::close`].
    ///
    /// ```
    /// use core::time::Duration;
    /// use nanosp_core::{Message, Protocol, Socket, SockOpt, testing::VirtualRuntime};
    /// # futures::executor::block_on(async {
    /// let rt = VirtualRuntime::new(1);
    /// let pull = Socket::new(Protocol::Pull0, rt.clone());
    /// let push = Socket::new(Protocol::Push0, rt);
    /// pull.listen("inproc://linger-doc").unwrap();
    /// push.dial("inproc://linger-doc").unwrap();
    /// push.set_opt(SockOpt::Linger(Duration::from_secs(1))).unwrap();
    /// push.send(Message::from("last words")).await.unwrap();
    /// push.close_linger().await;
    /// assert_eq!(pull.recv().await.unwrap().body(), b"last words");
    /// # });
    /// ```
    pub async fn close_linger(&self) {
        let core = self.core();
        let linger = core.options().linger;
        if !linger.is_zero() {
            let deadline = core.rt.now() + linger;
            let mut sleep = pin!(core.rt.sleep_until(deadline));
            poll_fn(|cx| {
                if core.poll_flushed(cx).is_ready() || sleep.as_mut().poll(cx).is_ready() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
        }
        core.close();
    }

    /// Completes once at least `n` pipes are attached (at once if they
    /// already are); [`Error::Closed`] if the socket closes first. Use it
    /// instead of polling [`Socket::pipes`], e.g. before a PUB publishes to
    /// subscribers that are still connecting.
    ///
    /// ```
    /// use nanosp_core::{Protocol, Socket, testing::VirtualRuntime};
    /// # futures::executor::block_on(async {
    /// let rt = VirtualRuntime::new(1);
    /// let publisher = Socket::new(Protocol::Pub0, rt.clone());
    /// publisher.listen("inproc://wait-doc").unwrap();
    /// let sub = Socket::new(Protocol::Sub0, rt);
    /// sub.dial("inproc://wait-doc").unwrap();
    /// publisher.wait_for_pipes(1).await.unwrap();
    /// # });
    /// ```
    pub async fn wait_for_pipes(&self, n: usize) -> Result<(), Error> {
        let core = self.core();
        poll_fn(|cx| core.poll_pipes(cx, n)).await
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.core().is_closed()
    }

    /// Completes when the socket closes (for transport tasks).
    pub async fn closed(&self) {
        let core = self.core();
        poll_fn(|cx| core.poll_closed(cx)).await
    }

    /// Listens on a URL this crate serves itself (`inproc://`). Runtime crates
    /// add `tcp://`, `ipc://`, `ws://`.
    pub fn listen(&self, url: &str) -> Result<(), Error> {
        let u = Url::parse(url)?;
        match u.scheme {
            #[cfg(feature = "inproc")]
            Scheme::Inproc => crate::inproc::listen(self.core(), &u.path),
            _ => Err(Error::TransportUnavailable),
        }
    }

    /// Dials a URL this crate serves itself (`inproc://`): the first attempt is
    /// synchronous and its error is returned (no retry), as nng's `nng_dial`.
    pub fn dial(&self, url: &str) -> Result<(), Error> {
        let u = Url::parse(url)?;
        match u.scheme {
            #[cfg(feature = "inproc")]
            Scheme::Inproc => crate::inproc::dial(self.core(), &u.path, false),
            _ => Err(Error::TransportUnavailable),
        }
    }

    /// Dials without failing: connects now if it can, else keeps trying in
    /// the background (nng's `NNG_FLAG_NONBLOCK`).
    pub fn dial_nonblocking(&self, url: &str) -> Result<(), Error> {
        let u = Url::parse(url)?;
        match u.scheme {
            #[cfg(feature = "inproc")]
            Scheme::Inproc => crate::inproc::dial(self.core(), &u.path, true),
            _ => Err(Error::TransportUnavailable),
        }
    }
}

/// A context of a socket (see [`Socket::context`]): its own protocol state,
/// sharing the socket's pipes. Closed when dropped.
pub struct SocketContext<R: Runtime> {
    sock: Socket<R>,
    id: CtxId,
    closed: portable_atomic::AtomicBool,
    /// The context's own `send-timeout` / `recv-timeout` (ms, `u32::MAX` =
    /// none), copied from the socket's when it was opened, as nng does.
    send_timeout_ms: AtomicU32,
    recv_timeout_ms: AtomicU32,
}

impl<R: Runtime> SocketContext<R> {
    /// The context's id.
    pub fn id(&self) -> CtxId {
        self.id
    }
    /// Sends on this context, waiting up to the context's `send-timeout`
    /// (the socket's when the context was opened, unless set on the context).
    pub async fn send(&self, m: Message) -> Result<(), SendError> {
        let t = self.sock.core().timeout(&self.send_timeout_ms);
        send_on(self.sock.core(), self.id, m, t).await
    }
    /// Receives on this context, waiting up to the context's `recv-timeout`
    /// (the socket's when the context was opened, unless set on the context).
    pub async fn recv(&self) -> Result<Message, Error> {
        let t = self.sock.core().timeout(&self.recv_timeout_ms);
        recv_on(self.sock.core(), self.id, t).await
    }
    /// Sends, waiting up to `timeout` for this call only.
    pub async fn send_timeout(
        &self,
        m: Message,
        timeout: core::time::Duration,
    ) -> Result<(), SendError> {
        send_on(self.sock.core(), self.id, m, Some(timeout)).await
    }
    /// Receives, waiting up to `timeout` for this call only.
    pub async fn recv_timeout(&self, timeout: core::time::Duration) -> Result<Message, Error> {
        recv_on(self.sock.core(), self.id, Some(timeout)).await
    }
    /// Sends without waiting.
    pub fn try_send(&self, m: Message) -> Result<(), SendError> {
        let mut slot = Some(m);
        match self.sock.core().poll_send(None, self.id, &mut slot).0 {
            Poll::Ready(r) => r,
            Poll::Pending => unreachable!("no context, no parking"),
        }
    }
    /// Receives without waiting.
    pub fn try_recv(&self) -> Result<Message, Error> {
        match self.sock.core().poll_recv(None, self.id, None).0 {
            Poll::Ready(r) => r,
            Poll::Pending => unreachable!("no context, no parking"),
        }
    }
    /// Sets an option for this context only: `send-timeout`, `recv-timeout`
    /// and the protocol's (`req:resend-time`, `surveyor:survey-time`, SUB
    /// topics). Others are [`Error::NotSupported`]; on a closed context or
    /// socket [`Error::Closed`].
    ///
    /// ```
    /// use core::time::Duration;
    /// use nanosp_core::{Error, Protocol, Socket, SockOpt, testing::VirtualRuntime};
    /// # futures::executor::block_on(async {
    /// let rep = Socket::new(Protocol::Rep0, VirtualRuntime::new(1));
    /// let ctx = rep.context().unwrap();
    /// ctx.set_opt(SockOpt::RecvTimeout(Some(Duration::ZERO))).unwrap();
    /// assert_eq!(ctx.recv().await.unwrap_err(), Error::TimedOut);
    /// # });
    /// ```
    pub fn set_opt(&self, o: SockOpt) -> Result<(), Error> {
        let core = self.sock.core();
        if self.closed.load(Ordering::Acquire) || core.is_closed() {
            return Err(Error::Closed);
        }
        match o {
            SockOpt::SendTimeout(d) => self.send_timeout_ms.store(ms_of(d), Ordering::Relaxed),
            SockOpt::RecvTimeout(d) => self.recv_timeout_ms.store(ms_of(d), Ordering::Relaxed),
            o => return core.set_opt(self.id, &o),
        }
        Ok(())
    }
    /// SUB: subscribe this context.
    pub fn subscribe(&self, topic: &[u8]) -> Result<(), Error> {
        self.set_opt(SockOpt::Subscribe(topic.to_vec()))
    }
    /// SUB: drop one of this context's subscriptions.
    pub fn unsubscribe(&self, topic: &[u8]) -> Result<(), Error> {
        self.set_opt(SockOpt::Unsubscribe(topic.to_vec()))
    }

    /// Closes the context now: what it was doing is abandoned and its pending
    /// and later operations return [`Error::Closed`]. Dropping it does the same.
    pub fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.sock.core().close_ctx(self.id);
        }
    }
}

impl<R: Runtime> fmt::Debug for SocketContext<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketContext")
            .field("socket", &self.sock)
            .field("id", &self.id)
            .finish()
    }
}

impl<R: Runtime> Drop for SocketContext<R> {
    fn drop(&mut self) {
        self.close();
    }
}

/// A transport's hold on a socket (see [`Socket::transport_ref`]).
pub struct SocketRef<R: Runtime> {
    pub(crate) core: Arc<Core<R>>,
}

impl<R: Runtime> Clone for SocketRef<R> {
    fn clone(&self) -> Self {
        SocketRef {
            core: self.core.clone(),
        }
    }
}

impl<R: Runtime> SocketRef<R> {
    /// The socket's protocol.
    pub fn protocol(&self) -> Protocol {
        self.core.proto
    }
    /// The runtime.
    pub fn runtime(&self) -> &R {
        &self.core.rt
    }
    /// The engine options now in force (receive limit, handshake time...).
    pub fn options(&self) -> Options {
        self.core.options()
    }
    /// True once the socket is closed.
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }
    /// Completes when the socket closes.
    pub async fn closed(&self) {
        poll_fn(|cx| self.core.poll_closed(cx)).await
    }
    /// Updates the counters (transports count handshakes, reconnects).
    pub fn count(&self, f: impl FnOnce(&mut Stats)) {
        self.core.count(f)
    }

    /// True if the protocol has timers ([`SocketRef::run_timers`] is worth
    /// spawning): cooked REQ (resend) and SURVEYOR (survey end).
    pub fn has_timers(&self) -> bool {
        self.core.uses_time
    }

    /// The socket's timer task: REQ resends and SURVEYOR deadlines fire on
    /// time even while nobody waits in `recv`, as nng's timers do. A runtime
    /// crate spawns it next to the socket (nanosp does); it ends when
    /// the socket closes. Without it, timers fire only while an operation
    /// waits on their context (and a late `recv` catches up at once).
    pub async fn run_timers(self) {
        self.core.run_timers().await
    }
}
