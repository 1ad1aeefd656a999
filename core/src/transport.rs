//! Transport traits and the loops every transport shares.
//!
//! A *pipe* is a message-oriented, full-duplex connection to one peer, split
//! into a [`PipeRead`] half and a [`PipeWrite`] half. Byte-stream transports
//! get both halves from [`crate::stream`]; message transports (WebSocket)
//! implement them directly. [`attach`] joins a pipe to a socket and returns a
//! [`PipeDriver`], the future that moves its messages until it closes.
//!
//! *Dialers* and *listeners* are loops over a runtime's connect and accept:
//! [`dialer_loop`] redials with back-off and jitter, [`accept_loop`] hands
//! each accepted connection to a [`Spawner`] so a slow handshake never delays
//! the next accept. When to redial and how long to pause after an accept
//! error are the sans-IO machines of [`crate::backoff`], which runtimes
//! whose connections do not fit these loops (embassy's borrowed sockets)
//! drive themselves.

use alloc::collections::VecDeque;
use alloc::string::String;
use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::{Context, Poll};

use crate::backoff::{AcceptPause, Redial};
use crate::chan::Chan;
use crate::engine::PIPE_QUEUE;
use crate::pipe::TlsFacts;
use crate::socket::SocketRef;
use crate::sync::Arc;
use crate::util::{select, Either};
use crate::{Error, Message, PipeId, Runtime};

/// The receiving half of a pipe.
pub trait PipeRead {
    /// The next whole message from the peer (SP header + body in the body).
    fn recv(&mut self) -> impl Future<Output = Result<Message, Error>>;

    /// A whole message that is already buffered (no I/O), if any. The
    /// driver collects these after each [`PipeRead::recv`] and hands them
    /// to the socket together: one lock and one wake-up for all of them.
    fn try_recv(&mut self) -> Option<Result<Message, Error>> {
        None
    }
}

/// Most messages a pipe driver hands to its socket at once.
const READ_BATCH: usize = 16;

/// After handing this many bytes to its socket (or to the stream), a pipe
/// driver's reader (writer) lets the other tasks of its executor run once
/// ([`Runtime::yield_now`]) before it goes on. Without it a pipe whose peer
/// keeps sending reads until the socket's receive queue is full while the
/// application waits for its turn: with large messages that is a hundred
/// buffers in flight (cold in the cache, more than the pool keeps), where a
/// queue drained as it fills reuses a few warm ones. And a stream the
/// kernel always takes (tcp on loopback takes megabytes at once) keeps a
/// small message of another pipe waiting behind it.
/// Only with `std`, and not on wasm: a firmware's messages are small and
/// its flash tight; the browser package's size has a budget, and its pipes
/// take messages from JavaScript events, not from a kernel socket they
/// could read far ahead of the page.
#[cfg(all(feature = "std", not(target_family = "wasm")))]
const YIELD_BYTES: usize = 256 << 10;

/// Bytes a pipe driver's writer takes from its queue at once: as many as
/// it moves before giving way (see [`YIELD_BYTES`]), or everything.
#[cfg(all(feature = "std", not(target_family = "wasm")))]
pub(crate) const POP_MOST: usize = YIELD_BYTES;
#[cfg(not(all(feature = "std", not(target_family = "wasm"))))]
pub(crate) const POP_MOST: usize = usize::MAX;

/// The sending half of a pipe.
pub trait PipeWrite {
    /// Sends every message in `batch` (draining it), in order, as few writes
    /// as the transport allows.
    fn send(&mut self, batch: &mut VecDeque<Message>) -> impl Future<Output = Result<(), Error>>;

    /// True when the writer has something of its own to send with no
    /// message queued (a WebSocket pong): the driver then calls
    /// [`PipeWrite::send`] with an empty batch. Asked each time the driver
    /// polls its writer, after a read woke the pipe's task.
    fn urgent(&self) -> bool {
        false
    }

    /// Ends the connection because the pipe closed for `why`, once, after
    /// the pipe has left its socket: a transport that can say why does so
    /// here (WebSocket close codes, [`crate::ws::close_code`]), and bounds
    /// the time it takes itself (a peer may not read). The default does
    /// nothing: dropping the halves closes the connection.
    fn close(&mut self, why: &Error) -> impl Future<Output = ()> {
        let _ = why;
        async {}
    }

    /// A writer that takes messages from the pipe's queue `q` itself (the
    /// core's readiness writer, [`crate::ready::ReadyWriter`], which writes
    /// an answer from the task that queued it): the pipe's task polls this
    /// instead of popping and awaiting [`PipeWrite::send`]: ready with
    /// `Ok` after a long run of bytes (the driver gives the executor's
    /// other tasks their turn, then polls again), with `Err` at the pipe's
    /// end. `None`, the default: no such writer.
    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn poll_direct(
        &mut self,
        cx: &mut Context<'_>,
        q: &Arc<Chan>,
    ) -> Option<Poll<Result<(), Error>>> {
        let _ = (cx, q);
        None
    }
}

/// Something that can run a future in the background (a runtime's spawn).
pub trait Spawner {
    /// Runs `f` to completion on its own.
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, f: F);
}

/// A pipe joined to a socket; [`PipeDriver::run`] drives it. Dropping it
/// (run or not, finished or cancelled) removes the pipe from the socket.
pub struct PipeDriver<R: Runtime, Rd, Wr> {
    guard: Detach<R>,
    rd: Rd,
    wr: Wr,
    tx: Arc<Chan>,
    rx: Arc<Chan>,
}

/// Removes a pipe from its socket when dropped.
struct Detach<R: Runtime> {
    sock: SocketRef<R>,
    id: PipeId,
    why: Error,
}

impl<R: Runtime> Drop for Detach<R> {
    fn drop(&mut self) {
        self.sock.core.remove_pipe(self.id, self.why);
    }
}

/// Joins a pipe whose peer announced protocol `peer` to the socket. A peer of
/// the wrong protocol, a refusing hook or protocol (PAIR's second peer) or a
/// closed socket is an error: the caller closes the connection.
pub fn attach<R: Runtime, Rd: PipeRead, Wr: PipeWrite>(
    sock: &SocketRef<R>,
    peer: u16,
    url: &str,
    dialed: bool,
    rd: Rd,
    wr: Wr,
) -> Result<PipeDriver<R, Rd, Wr>, Error> {
    attach_as(sock, peer, url, dialed, rd, wr, Default::default())
}

/// [`attach`] for a pipe over TLS: `tls` is what the session knows of the
/// peer, in the pipe's [`PipeInfo::tls`](crate::PipeInfo::tls) from the
/// hook's first event on. (Feature `tls`.)
#[cfg(feature = "tls")]
pub fn attach_tls<R: Runtime, Rd: PipeRead, Wr: PipeWrite>(
    sock: &SocketRef<R>,
    peer: u16,
    url: &str,
    dialed: bool,
    rd: Rd,
    wr: Wr,
    tls: Option<crate::TlsPeer>,
) -> Result<PipeDriver<R, Rd, Wr>, Error> {
    attach_as(
        sock,
        peer,
        url,
        dialed,
        rd,
        wr,
        tls.map(alloc::boxed::Box::new),
    )
}

pub(crate) fn attach_as<R: Runtime, Rd: PipeRead, Wr: PipeWrite>(
    sock: &SocketRef<R>,
    peer: u16,
    url: &str,
    dialed: bool,
    rd: Rd,
    wr: Wr,
    tls: TlsFacts,
) -> Result<PipeDriver<R, Rd, Wr>, Error> {
    let tx = Arc::new(Chan::new(PIPE_QUEUE));
    let rx = Arc::new(Chan::new(PIPE_QUEUE));
    let id = sock
        .core
        .attach(peer, url, dialed, (tx.clone(), rx.clone()), None, tls)?;
    Ok(PipeDriver {
        guard: Detach {
            sock: sock.clone(),
            id,
            why: Error::Closed,
        },
        rd,
        wr,
        tx,
        rx,
    })
}

impl<R: Runtime, Rd: PipeRead, Wr: PipeWrite> PipeDriver<R, Rd, Wr> {
    /// The pipe's id.
    pub fn id(&self) -> PipeId {
        self.guard.id
    }

    /// Moves messages both ways until the pipe closes (peer gone, bad input,
    /// socket closed, or the socket closed the pipe); returns why.
    #[allow(clippy::manual_async_fn)]
    pub fn run(self) -> impl Future<Output = Error> {
        // The driver is captured once and its fields used in place, and the
        // halves are pinned where they are made: the task's future holds
        // each of them once (an idle server pipe is mostly this future).
        let mut me = self;
        async move {
            let why = {
                let (rd, wr, tx, rx) = (&mut me.rd, &mut me.wr, &me.tx, &me.rx);
                #[cfg(all(feature = "std", not(target_family = "wasm")))]
                let rt = me.guard.sock.runtime();
                let mut reader = pin!(async {
                    // Grown on first use and kept: nothing per message, nothing while idle.
                    let mut got = VecDeque::new();
                    #[cfg(all(feature = "std", not(target_family = "wasm")))]
                    let mut since_yield = 0usize;
                    let why = loop {
                        match rd.recv().await {
                            Ok(m) => got.push_back(m),
                            Err(e) => break e,
                        }
                        let mut failed = None;
                        while got.len() < READ_BATCH {
                            match rd.try_recv() {
                                Some(Ok(m)) => got.push_back(m),
                                Some(Err(e)) => {
                                    failed = Some(e);
                                    break;
                                }
                                None => break,
                            }
                        }
                        #[cfg(all(feature = "std", not(target_family = "wasm")))]
                        {
                            since_yield += got.iter().map(Message::len).sum::<usize>();
                        }
                        // A reply may be written by whoever sends it (a
                        // direct writer, `crate::ready`).
                        #[cfg(all(feature = "std", not(target_family = "wasm")))]
                        tx.answered();
                        // What arrived before bad input is still delivered.
                        if poll_fn(|cx| rx.poll_push_many(cx, &mut got)).await.is_err() {
                            return Error::Closed;
                        }
                        #[cfg(all(feature = "std", not(target_family = "wasm")))]
                        if since_yield >= YIELD_BYTES {
                            since_yield = 0;
                            rt.yield_now().await;
                        }
                        if let Some(e) = failed {
                            break e;
                        }
                    };
                    // The peer is gone (or sent bad input), but what it sent before
                    // is the application's: the pipe stays until the socket has taken
                    // it (or closes), as a pipe that reads one message at a time
                    // would lose nothing either.
                    poll_fn(|cx| rx.poll_drained(cx)).await;
                    why
                });
                let mut writer = pin!(async {
                    // A writer that takes from the queue itself runs on its
                    // own from here.
                    #[cfg(all(feature = "std", not(target_family = "wasm")))]
                    loop {
                        let direct = poll_fn(|cx| match wr.poll_direct(cx, tx) {
                            None => Poll::Ready(None),
                            Some(p) => p.map(Some),
                        });
                        match direct.await {
                            None => break,
                            Some(Ok(())) => rt.yield_now().await,
                            Some(Err(why)) => return why,
                        }
                    }
                    let mut batch = VecDeque::new();
                    // As the reader: a stream the kernel always takes (tcp
                    // on loopback takes megabytes at once) must not keep
                    // the other tasks of the executor waiting.
                    #[cfg(all(feature = "std", not(target_family = "wasm")))]
                    let mut since_yield = 0usize;
                    loop {
                        let popped = poll_fn(|cx| match tx.poll_pop(cx, &mut batch, POP_MOST) {
                            Poll::Pending if wr.urgent() => Poll::Ready(Ok(())),
                            r => r,
                        });
                        if popped.await.is_err() {
                            return Error::Closed;
                        }
                        #[cfg(all(feature = "std", not(target_family = "wasm")))]
                        {
                            since_yield += batch.iter().map(Message::len).sum::<usize>();
                        }
                        if let Err(e) = wr.send(&mut batch).await {
                            return e;
                        }
                        batch.clear();
                        tx.written();
                        #[cfg(all(feature = "std", not(target_family = "wasm")))]
                        if since_yield >= YIELD_BYTES {
                            since_yield = 0;
                            rt.yield_now().await;
                        }
                    }
                });
                // A writer stuck in a write to a peer that stopped reading must still
                // end when the socket closes the pipe.
                poll_fn(|cx| {
                    if let Poll::Ready(e) = reader.as_mut().poll(cx) {
                        return Poll::Ready(e);
                    }
                    if let Poll::Ready(e) = writer.as_mut().poll(cx) {
                        return Poll::Ready(e);
                    }
                    tx.poll_closed(cx).map(|()| Error::Closed)
                })
                .await
            };
            let mut guard = me.guard;
            if matches!(why, Error::Protocol(_) | Error::MessageTooLong { .. }) {
                let big = matches!(why, Error::MessageTooLong { .. });
                guard.sock.count(|s| {
                    s.protocol_errors += 1;
                    s.oversized += u64::from(big);
                });
            }
            guard.why = why;
            drop(guard);
            me.wr.close(&why).await;
            why
        }
    }
}

pub use crate::backoff::{Backoff, DialEvent, ACCEPT_RETRY_MAX, ACCEPT_RETRY_MIN};

/// A dialer's life after its first attempt: run the pipe (if the first dial
/// made one), then redial with back-off whenever there is none, until the
/// socket closes. `connect` makes one attempt (connect + handshake + attach).
pub async fn dialer_loop<R, F, Fut, Rd, Wr>(
    sock: SocketRef<R>,
    first: Option<PipeDriver<R, Rd, Wr>>,
    connect: F,
) where
    R: Runtime,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<PipeDriver<R, Rd, Wr>, Error>>,
    Rd: PipeRead,
    Wr: PipeWrite,
{
    dialer_loop_observed(sock, first, connect, |_| {}).await
}

/// [`dialer_loop`] telling `on` what happens: attempts that fail, pipes that
/// close and why, and each back-off wait (a runtime crate logs them). The
/// schedule, the events and the counters are [`Redial`]'s, as on every
/// target.
pub async fn dialer_loop_observed<R, F, Fut, Rd, Wr, O>(
    sock: SocketRef<R>,
    first: Option<PipeDriver<R, Rd, Wr>>,
    mut connect: F,
    mut on: O,
) where
    R: Runtime,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<PipeDriver<R, Rd, Wr>, Error>>,
    Rd: PipeRead,
    Wr: PipeWrite,
    O: FnMut(DialEvent),
{
    let mut redial = Redial::from_options(&sock.options());
    let rt = sock.runtime();
    let mut attempt = first.map(Ok);
    loop {
        let result = match attempt.take() {
            Some(r) => r,
            None => match select(connect(), sock.closed()).await {
                Either::Left(r) => r,
                Either::Right(()) => return,
            },
        };
        let wait = match result {
            Ok(p) => {
                on(redial.attached());
                let why = p.run().await;
                if sock.is_closed() {
                    return;
                }
                redial.pipe_closed(why, rt.now(), rt.random_u32())
            }
            Err(e) => {
                if sock.is_closed() {
                    return;
                }
                redial.failed(e, rt.now(), rt.random_u32())
            }
        };
        for ev in wait.events() {
            on(ev);
        }
        if let Either::Right(()) = select(rt.sleep_until(wait.until), sock.closed()).await {
            return;
        }
        sock.count(|s| wait.counter().bump(s));
    }
}

/// A listener's accept loop: each accepted connection is handed to `serve`
/// and spawned, so its handshake runs in the background. Returns when the
/// socket closes or `accept` reports [`Error::Closed`].
///
/// Other accept errors (out of file descriptors, out of memory) are counted
/// in [`Stats::accept_errors`](crate::Stats::accept_errors) and the loop
/// pauses before retrying, as [`AcceptPause`] says (the same on every
/// target).
pub async fn accept_loop<R, S, A, AFut, C, F, CFut>(
    sock: SocketRef<R>,
    spawner: S,
    mut accept: A,
    mut serve: F,
) where
    R: Runtime,
    S: Spawner,
    A: FnMut() -> AFut,
    AFut: Future<Output = Result<C, Error>>,
    F: FnMut(SocketRef<R>, C) -> CFut,
    CFut: Future<Output = ()> + Send + 'static,
{
    let mut pause = AcceptPause::new();
    loop {
        match select(accept(), sock.closed()).await {
            Either::Right(()) => return,
            Either::Left(Ok(c)) => {
                pause.accepted();
                spawner.spawn(serve(sock.clone(), c))
            }
            Either::Left(Err(Error::Closed)) => return,
            Either::Left(Err(_)) => {
                let rt = sock.runtime();
                let p = pause.failed(rt.now());
                sock.count(|s| p.counter.bump(s));
                if let Either::Right(()) = select(rt.sleep_until(p.until), sock.closed()).await {
                    return;
                }
            }
        }
    }
}

/// A URL string for pipe info, from parts.
pub fn url_string(scheme: &str, rest: &str) -> String {
    let mut s = String::from(scheme);
    s.push_str("://");
    s.push_str(rest);
    s
}
