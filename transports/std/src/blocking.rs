//! The blocking API: the same sockets for programs without async.
//!
//! Nothing to set up: the transports run on a shared tokio runtime that
//! starts on first use ([`crate::rt::shared_handle`]). A thread that waits
//! in a call (`recv` with nothing there, `send` with a full queue, `dial`)
//! runs that runtime itself while it waits: the reply it waits for is read
//! from the socket, decoded and handed over by the waiting thread, with no
//! wake-up of another thread. A message that answers what a tcp or ipc
//! pipe just delivered (a reply, the next request) is written by the
//! sending thread itself; a stream of messages is left to the pipe's task,
//! which gathers them into few writes and runs at once.
//!
//! Between calls a background thread runs the runtime, once no thread has
//! for [`crate::rt::LEASE`] (1 ms), or at once when a send left work queued:
//! I/O nobody waits for (a message that comes while the application
//! computes, a peer connecting) and timers (REQ's resend) may wait that
//! long before they are looked at ([`crate::rt::shared_handle`] has the
//! details). Nothing is lost: the kernel holds the bytes. Pipe-event hooks
//! may run on any thread waiting in a call, and must not make a blocking
//! call that waits (it panics: it would wait for itself).
//!
//! Do not call these functions from inside an async task: they block the
//! thread. Use [`crate::Socket`] there (and [`Socket::as_async`] to share one
//! socket between both worlds).
//!
//! ```
//! use nanosp::blocking::Socket;
//! use nanosp::{Message, Protocol};
//! let rep = Socket::new(Protocol::Pair1);
//! let l = rep.listen("tcp://127.0.0.1:0").unwrap();
//! let req = Socket::new(Protocol::Pair1);
//! req.dial(l.url()).unwrap();
//! req.send(Message::from("ping")).unwrap();
//! assert_eq!(rep.recv().unwrap().body(), b"ping");
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use nanosp_core::Runtime;

use crate::rt::{shared_handle, TokioRuntime};
use crate::{
    Dialer, Error, Listener, Message, Options, PipeEvent, PipeId, PipeInfo, Protocol, SendError,
    SockOpt, Stats,
};

/// Waits for `f` on this thread, running the shared runtime here while it
/// waits ([`crate::rt::shared_handle`]), unless this thread runs a tokio
/// runtime (blocking it there could stall the very tasks `f` waits for):
/// `None`.
fn wait_here<F: Future>(f: F) -> Option<F::Output> {
    crate::rt::drive(f)
}

/// Waits for `f` on this thread: running the shared runtime here, or, on a
/// thread that runs a tokio runtime already (which these functions must
/// not be called from), parked until another thread's runtime completes it.
fn block<F: Future>(f: F) -> F::Output {
    assert!(
        !crate::rt::runs_shared(),
        "nanosp: a blocking call that waits, made where the shared runtime runs \
         (a pipe-event hook?), would wait for itself"
    );
    if tokio::runtime::Handle::try_current().is_ok() {
        return futures_executor::block_on(f);
    }
    crate::rt::drive(f).expect("not on a runtime's thread")
}

/// A send tried at once (no executor on the fast path); if it would block,
/// waits on `send` for the message handed back.
fn send_or_wait<F>(
    tried: Result<(), SendError>,
    send: impl FnOnce(Message) -> F,
) -> Result<(), SendError>
where
    F: Future<Output = Result<(), SendError>>,
{
    let r = match tried {
        Err(SendError {
            error: Error::WouldBlock,
            message,
        }) => block(send(message)),
        r => r,
    };
    // A message that did not go out from this thread (see the module's
    // docs) is written by its pipe's task: now, not at the end of a lease.
    crate::rt::run_queued();
    r
}

/// A receive tried at once; if nothing was there, waits on `recv`.
fn recv_or_wait<F>(
    tried: Result<Message, Error>,
    recv: impl FnOnce() -> F,
) -> Result<Message, Error>
where
    F: Future<Output = Result<Message, Error>>,
{
    match tried {
        Err(Error::WouldBlock) => block(recv()),
        r => r,
    }
}

/// Held by every clone of a blocking socket: when the last one goes, it
/// waits up to `linger` for queued messages to be written, so a program
/// that sends and returns from `main` delivers what it sent.
#[derive(Debug)]
struct LingerOnDrop(crate::Socket);

impl Drop for LingerOnDrop {
    fn drop(&mut self) {
        let s = &self.0;
        let linger = s.options().linger;
        if linger.is_zero() || s.is_closed() {
            return;
        }
        let rt = s.core().runtime().clone();
        let deadline = rt.now() + linger;
        let sleep = rt.sleep_until(deadline);
        let _ = wait_here(async {
            let flush = std::pin::pin!(s.flush());
            let sleep = std::pin::pin!(sleep);
            futures_util::future::select(flush, sleep).await;
        });
    }
}

/// Runs `f` on the shared runtime and waits for it.
fn run<F>(f: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let task = shared_handle().spawn(f);
    match block(task) {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// A blocking SP socket. `Send + Sync + Clone`: clones share one socket,
/// which closes when [`Socket::close`] is called or the last clone drops.
#[derive(Clone, Debug)]
pub struct Socket {
    inner: crate::Socket,
    _linger: Arc<LingerOnDrop>,
}

impl Socket {
    /// A cooked socket of protocol `p`.
    pub fn new(p: Protocol) -> Socket {
        Self::build(p, false)
    }

    /// A raw socket of protocol `p`.
    pub fn new_raw(p: Protocol) -> Socket {
        Self::build(p, true)
    }

    fn build(p: Protocol, raw: bool) -> Socket {
        let rt = TokioRuntime::new(shared_handle().clone());
        let inner = crate::Socket::with_runtime(p, raw, rt);
        Socket {
            _linger: Arc::new(LingerOnDrop(inner.clone())),
            inner,
        }
    }

    /// The same socket with the async API.
    pub fn as_async(&self) -> &crate::Socket {
        &self.inner
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.inner.protocol()
    }

    /// Sends `m`, blocking up to `send-timeout`; a failure hands it back.
    pub fn send(&self, m: Message) -> Result<(), SendError> {
        send_or_wait(self.inner.try_send(m), |message| self.inner.send(message))
    }

    /// Receives a message, blocking up to `recv-timeout`.
    pub fn recv(&self) -> Result<Message, Error> {
        recv_or_wait(self.inner.try_recv(), || self.inner.recv())
    }

    /// Receives up to `max` messages into `out`, blocking for the first
    /// ([`crate::Socket::recv_many`]). Returns how many it added.
    pub fn recv_many(&self, out: &mut Vec<Message>, max: usize) -> Result<usize, Error> {
        match self.inner.try_recv_many(out, max) {
            0 if max > 0 => block(self.inner.recv_many(out, max)),
            n => Ok(n),
        }
    }

    /// Takes up to `max` messages that are already there, without
    /// blocking ([`crate::Socket::try_recv_many`]).
    pub fn try_recv_many(&self, out: &mut Vec<Message>, max: usize) -> usize {
        self.inner.try_recv_many(out, max)
    }

    /// Sends `m`, blocking up to `timeout` for this call only.
    pub fn send_timeout(&self, m: Message, timeout: Duration) -> Result<(), SendError> {
        send_or_wait(self.inner.try_send(m), |message| {
            self.inner.send_timeout(message, timeout)
        })
    }

    /// Receives, blocking up to `timeout` for this call only (on REQ and
    /// SURVEYOR a receive that times out ends the request or survey).
    ///
    /// ```
    /// use std::time::Duration;
    /// use nanosp::blocking::Socket;
    /// use nanosp::{Error, Protocol};
    /// let pull = Socket::new(Protocol::Pull0);
    /// assert_eq!(pull.recv_timeout(Duration::from_millis(10)).unwrap_err(), Error::TimedOut);
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Message, Error> {
        recv_or_wait(self.inner.try_recv(), || self.inner.recv_timeout(timeout))
    }

    /// Blocks until `n` pipes are attached, or `timeout` passes
    /// ([`Error::TimedOut`]), or the socket closes ([`Error::Closed`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use nanosp::blocking::Socket;
    /// use nanosp::Protocol;
    /// let publisher = Socket::new(Protocol::Pub0);
    /// let l = publisher.listen("tcp://127.0.0.1:0").unwrap();
    /// let sub = Socket::new(Protocol::Sub0);
    /// sub.dial(l.url()).unwrap();
    /// publisher.wait_for_pipes(1, Duration::from_secs(10)).unwrap();
    /// ```
    pub fn wait_for_pipes(&self, n: usize, timeout: Duration) -> Result<(), Error> {
        let rt = self.inner.core().runtime().clone();
        let sleep = rt.sleep_until(rt.now() + timeout);
        block(async {
            let wait = std::pin::pin!(self.inner.wait_for_pipes(n));
            match futures_util::future::select(wait, std::pin::pin!(sleep)).await {
                futures_util::future::Either::Left((r, _)) => r,
                futures_util::future::Either::Right(_) => Err(Error::TimedOut),
            }
        })
    }

    /// Opens a context (REQ, REP, SURVEYOR, RESPONDENT, SUB in cooked mode).
    ///
    /// ```
    /// use nanosp::blocking::Socket;
    /// use nanosp::{Message, Protocol};
    /// let rep = Socket::new(Protocol::Rep0);
    /// let l = rep.listen("tcp://127.0.0.1:0").unwrap();
    /// let worker = rep.context().unwrap();
    /// let req = Socket::new(Protocol::Req0);
    /// req.dial(l.url()).unwrap();
    /// req.send(Message::from("ping")).unwrap();
    /// let q = worker.recv().unwrap();
    /// worker.send(q).unwrap();
    /// assert_eq!(req.recv().unwrap().body(), b"ping");
    /// ```
    pub fn context(&self) -> Result<Context, Error> {
        Ok(Context {
            inner: self.inner.context()?,
        })
    }

    /// Sends without blocking ([`Error::WouldBlock`] if it cannot go now).
    pub fn try_send(&self, m: Message) -> Result<(), SendError> {
        self.inner.try_send(m)
    }

    /// Receives without blocking ([`Error::WouldBlock`] if nothing is there).
    pub fn try_recv(&self) -> Result<Message, Error> {
        self.inner.try_recv()
    }

    /// Dials `url`; the first attempt's error is returned (see
    /// [`crate::Socket::dial`]).
    pub fn dial(&self, url: &str) -> Result<Dialer, Error> {
        let s = self.inner.clone();
        let url = url.to_string();
        run(async move { s.dial(&url).await })
    }

    /// Dials in the background, retrying until the peer is there.
    pub fn dial_nonblocking(&self, url: &str) -> Result<Dialer, Error> {
        self.inner.dial_nonblocking(url)
    }

    /// Listens on `url` (port 0: any free port, see [`Listener::url`]).
    pub fn listen(&self, url: &str) -> Result<Listener, Error> {
        let s = self.inner.clone();
        let url = url.to_string();
        run(async move { s.listen(&url).await })
    }

    /// The TLS configuration of the dialers and listeners started from now
    /// on ([`crate::Socket::set_tls_config`]).
    pub fn set_tls_config(&self, tls: Option<crate::TlsConfig>) {
        self.inner.set_tls_config(tls)
    }

    /// What a TLS pipe knows of its peer ([`crate::Socket::pipe_tls`]).
    pub fn pipe_tls(&self, p: crate::PipeId) -> Option<crate::TlsPeer> {
        self.inner.pipe_tls(p)
    }

    /// Sets an option.
    pub fn set_opt(&self, o: SockOpt) -> Result<(), Error> {
        self.inner.set_opt(o)
    }

    /// The engine options now in force.
    pub fn options(&self) -> Options {
        self.inner.options()
    }

    /// TCP keepalive for connections made from now on.
    pub fn set_tcp_keepalive(&self, on: bool) {
        self.inner.set_tcp_keepalive(on)
    }

    /// Keepalive timings ([`crate::Socket::set_tcp_keepalive_timings`]).
    pub fn set_tcp_keepalive_timings(&self, k: Option<crate::TcpKeepalive>) {
        self.inner.set_tcp_keepalive_timings(k)
    }

    /// `TCP_USER_TIMEOUT` ([`crate::Socket::set_tcp_user_timeout`]).
    pub fn set_tcp_user_timeout(&self, t: Option<std::time::Duration>) {
        self.inner.set_tcp_user_timeout(t)
    }

    /// SUB: subscribe to a topic prefix.
    pub fn subscribe(&self, topic: &[u8]) -> Result<(), Error> {
        self.inner.subscribe(topic)
    }

    /// SUB: drop a subscription.
    pub fn unsubscribe(&self, topic: &[u8]) -> Result<(), Error> {
        self.inner.unsubscribe(topic)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// The live pipes.
    pub fn pipes(&self) -> Vec<PipeInfo> {
        self.inner.pipes()
    }

    /// The counters of one pipe, while it is open.
    pub fn pipe_stats(&self, p: PipeId) -> Option<crate::PipeStats> {
        self.inner.pipe_stats(p)
    }

    /// Closes one pipe.
    pub fn close_pipe(&self, p: PipeId) {
        self.inner.close_pipe(p)
    }

    /// Installs the pipe-event hook.
    pub fn set_pipe_hook(&self, f: impl Fn(PipeEvent, &PipeInfo) -> bool + Send + Sync + 'static) {
        self.inner.set_pipe_hook(f)
    }

    /// Closes the socket, after waiting up to the `linger` option
    /// ([`SockOpt::Linger`], default zero) for queued messages to be
    /// written. Dropping the last clone waits the same way, so a program
    /// that sets a linger, sends and returns from `main` delivers what it
    /// sent.
    ///
    /// ```
    /// use std::time::Duration;
    /// use nanosp::blocking::Socket;
    /// use nanosp::{Message, Protocol, SockOpt};
    /// let pull = Socket::new(Protocol::Pull0);
    /// let l = pull.listen("tcp://127.0.0.1:0").unwrap();
    /// let push = Socket::new(Protocol::Push0);
    /// push.set_opt(SockOpt::Linger(Duration::from_secs(5))).unwrap();
    /// push.dial(l.url()).unwrap();
    /// for i in 0..10u8 {
    ///     push.send(Message::from(&[i][..])).unwrap();
    /// }
    /// drop(push); // waits until the ten are written
    /// for i in 0..10u8 {
    ///     assert_eq!(pull.recv().unwrap().body(), [i]);
    /// }
    /// ```
    pub fn close(&self) {
        if wait_here(self.inner.close_linger()).is_none() {
            self.inner.close()
        }
    }

    /// Closes at once, dropping what is still queued (as nng's close).
    pub fn close_now(&self) {
        self.inner.close()
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

/// A context of a blocking socket (see [`Socket::context`]): its own
/// protocol state on the socket's connections, with blocking calls. Closed
/// when dropped.
#[derive(Debug)]
pub struct Context {
    inner: crate::SocketContext,
}

impl Context {
    /// Sends, blocking up to the context's `send-timeout`.
    pub fn send(&self, m: Message) -> Result<(), SendError> {
        send_or_wait(self.inner.try_send(m), |message| self.inner.send(message))
    }

    /// Receives, blocking up to the context's `recv-timeout`.
    pub fn recv(&self) -> Result<Message, Error> {
        recv_or_wait(self.inner.try_recv(), || self.inner.recv())
    }

    /// Sends, blocking up to `timeout` for this call only.
    pub fn send_timeout(&self, m: Message, timeout: Duration) -> Result<(), SendError> {
        send_or_wait(self.inner.try_send(m), |message| {
            self.inner.send_timeout(message, timeout)
        })
    }

    /// Receives, blocking up to `timeout` for this call only.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Message, Error> {
        recv_or_wait(self.inner.try_recv(), || self.inner.recv_timeout(timeout))
    }

    /// Sends without blocking.
    pub fn try_send(&self, m: Message) -> Result<(), SendError> {
        self.inner.try_send(m)
    }

    /// Receives without blocking.
    pub fn try_recv(&self) -> Result<Message, Error> {
        self.inner.try_recv()
    }

    /// Sets an option for this context only (timeouts, `req:resend-time`,
    /// `surveyor:survey-time`, SUB topics).
    pub fn set_opt(&self, o: SockOpt) -> Result<(), Error> {
        self.inner.set_opt(o)
    }

    /// SUB: subscribe this context.
    pub fn subscribe(&self, topic: &[u8]) -> Result<(), Error> {
        self.inner.subscribe(topic)
    }

    /// The async context underneath.
    pub fn as_async(&self) -> &crate::SocketContext {
        &self.inner
    }

    /// Closes the context (dropping it does the same).
    pub fn close(&self) {
        self.inner.close()
    }
}
