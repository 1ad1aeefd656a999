//! The blocking API: the same sockets for programs without async.
//!
//! Nothing to set up: the transports run on a shared tokio runtime that
//! starts on first use on a background thread ([`crate::rt::shared_handle`]).
//! `send` and `recv` park the calling thread on the core's wakers, so a
//! message goes from the transport task straight to the waiting thread.
//!
//! Do not call these functions from inside an async task: they block the
//! thread. Use [`crate::Socket`] there (and [`Socket::as_async`] to share one
//! socket between both worlds).
//!
//! ```
//! use nanosp_std::blocking::Socket;
//! use nanosp_std::{Message, Protocol};
//! let rep = Socket::new(Protocol::Pair1);
//! let l = rep.listen("tcp://127.0.0.1:0").unwrap();
//! let req = Socket::new(Protocol::Pair1);
//! req.dial(l.url()).unwrap();
//! req.send(Message::from("ping")).unwrap();
//! assert_eq!(rep.recv().unwrap().body(), b"ping");
//! ```

use std::future::Future;

use crate::rt::{shared_handle, TokioRuntime};
use crate::{
    Error, Listener, Message, Options, PipeEvent, PipeId, PipeInfo, Protocol, SendError, SockOpt,
    Stats,
};

/// Runs `f` on the shared runtime and waits for it.
fn run<F>(f: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let task = shared_handle().spawn(f);
    match futures_executor::block_on(task) {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// A blocking SP socket. `Send + Sync + Clone`: clones share one socket,
/// which closes when [`Socket::close`] is called or the last clone drops.
#[derive(Clone, Debug)]
pub struct Socket {
    inner: crate::Socket,
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
        Socket {
            inner: crate::Socket::with_runtime(p, raw, rt),
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
        match self.inner.try_send(m) {
            Err(SendError {
                error: Error::WouldBlock,
                message,
            }) => futures_executor::block_on(self.inner.send(message)),
            r => r,
        }
    }

    /// Receives a message, blocking up to `recv-timeout`.
    pub fn recv(&self) -> Result<Message, Error> {
        match self.inner.try_recv() {
            Err(Error::WouldBlock) => futures_executor::block_on(self.inner.recv()),
            r => r,
        }
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
    pub fn dial(&self, url: &str) -> Result<(), Error> {
        let s = self.inner.clone();
        let url = url.to_string();
        run(async move { s.dial(&url).await })
    }

    /// Dials in the background, retrying until the peer is there.
    pub fn dial_nonblocking(&self, url: &str) -> Result<(), Error> {
        self.inner.dial_nonblocking(url)
    }

    /// Listens on `url` (port 0: any free port, see [`Listener::url`]).
    pub fn listen(&self, url: &str) -> Result<Listener, Error> {
        let s = self.inner.clone();
        let url = url.to_string();
        run(async move { s.listen(&url).await })
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

    /// Closes the socket.
    pub fn close(&self) {
        self.inner.close()
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}
