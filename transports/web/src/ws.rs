//! One SP pipe over one browser `WebSocket` (docs/wire.md §3).
//!
//! The SP rules are the core's [`nanosp_core::ws`], shared with nanosp: each
//! SP message is one binary WebSocket message (the protocol header then the
//! body); the dialer offers exactly one subprotocol, `<peer>.sp.nanomsg.org`,
//! and checks the echo ([`nanosp_core::ws::check_echo`]); a text message or one
//! over `recv-size-max` ends the connection with a close code saying why
//! ([`nanosp_core::ws::app_close_code`]: the browser may send only 1000 and
//! 3000–4999); the peer's close code becomes the pipe's close reason. A
//! failed or timed-out handshake counts in `handshake_failures`.
//!
//! The browser API has no receive back-pressure: messages arrive through
//! `onmessage` whether or not anyone reads. They wait in a queue that the
//! pipe's reader drains into the socket; a peer that outruns the application
//! by more than [`MAX_PENDING`] messages has its connection closed (and
//! redialed) instead of growing memory without bound.

use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::string::String;
use core::cell::RefCell;
use core::future::{poll_fn, Future};
use core::task::{Poll, Waker};
use core::time::Duration;

use js_sys::{ArrayBuffer, Reflect, Uint8Array};
use nanosp_core::backoff::Counter;
use nanosp_core::transport::{PipeDriver, PipeRead, PipeWrite};
use nanosp_core::ws::{self as rules, DataKind};
use nanosp_core::{Error, Message, Runtime, SocketRef};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, WebSocket};

use crate::runtime::WebRuntime;

/// Received messages a pipe holds for a reader that does not keep up.
pub const MAX_PENDING: usize = 4096;

/// Received bytes a pipe holds for such a reader (at least one message of
/// `recv-size-max` always fits). Browsers cannot pause a WebSocket, so a
/// peer that outruns the page has its connection closed instead.
pub const MAX_PENDING_BYTES: usize = 16 << 20;

/// Above this many bytes in the browser's send buffer, a writer waits.
const SEND_HIGH_WATER: u32 = 1 << 20;

/// How often a waiting writer looks at `bufferedAmount` again (the
/// WebSocket API has no event for it draining).
const SEND_POLL: Duration = Duration::from_millis(4);

/// A pipe made by [`connect`].
pub type WsPipe = PipeDriver<WebRuntime, WsRead, WsWrite>;

struct Inbox {
    queue: VecDeque<Message>,
    queued_bytes: usize,
    /// The connection, to close it when we end it (bad input, overflow).
    ws: Option<WebSocket>,
    /// The end was our decision: report it before anything still queued.
    local_end: bool,
    opened: bool,
    /// Why the connection ended (the first reason wins).
    end: Option<Error>,
    waker: Option<Waker>,
    /// `recv-size-max` when the connection was made (0 = unlimited).
    limit: usize,
}

impl Inbox {
    /// Ends the connection because of what the peer sent: drop what is
    /// queued, close the WebSocket saying why, wake the reader.
    fn fail(&mut self, e: Error) {
        if self.end.is_none() {
            self.end = Some(e);
            self.local_end = true;
            self.queue.clear();
            self.queued_bytes = 0;
            if let Some(ws) = self.ws.take() {
                close_saying_why(&ws, &e);
            }
        }
        self.wake();
    }

    fn finish(&mut self, e: Error) {
        if self.end.is_none() {
            self.end = Some(e);
        }
        self.wake();
    }
    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// Closes `ws` with the close code of `why` and its text as the reason.
fn close_saying_why(ws: &WebSocket, why: &Error) {
    let mut reason = why.message();
    // A close reason holds at most 123 bytes.
    while reason.len() > 123 {
        reason.pop();
    }
    let _ = ws.close_with_code_and_reason(rules::app_close_code(why), &reason);
}

/// The connection both pipe halves share; dropping it closes the socket.
struct Conn {
    ws: WebSocket,
    inbox: Rc<RefCell<Inbox>>,
    _handlers: [Closure<dyn FnMut(JsValue)>; 4],
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Detach the handlers before their closures are freed, or a late
        // event would call into freed memory and throw.
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onerror(None);
        let _ = self.ws.close();
    }
}

/// The receiving half of a WebSocket pipe.
pub struct WsRead {
    conn: Rc<Conn>,
}

/// The sending half of a WebSocket pipe.
pub struct WsWrite {
    conn: Rc<Conn>,
}

impl PipeRead for WsRead {
    async fn recv(&mut self) -> Result<Message, Error> {
        let inbox = &self.conn.inbox;
        poll_fn(|cx| {
            let mut ib = inbox.borrow_mut();
            if ib.local_end {
                if let Some(e) = ib.end {
                    return Poll::Ready(Err(e));
                }
            }
            if let Some(m) = ib.queue.pop_front() {
                ib.queued_bytes -= m.len();
                return Poll::Ready(Ok(m));
            }
            if let Some(e) = ib.end {
                return Poll::Ready(Err(e));
            }
            ib.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl PipeWrite for WsWrite {
    async fn send(&mut self, batch: &mut VecDeque<Message>) -> Result<(), Error> {
        let ws = &self.conn.ws;
        // Popped, not drained (`VecDeque::drain` is a kilobyte of code).
        while let Some(m) = batch.pop_front() {
            if let Some(e) = self.conn.inbox.borrow().end {
                return Err(e);
            }
            if ws.ready_state() != WebSocket::OPEN {
                return Err(Error::ConnectionShutdown);
            }
            // One fresh JavaScript buffer per message: header and body are
            // copied once, and nothing the socket queues points into wasm
            // memory (Node's `ws` masks and writes the buffer it is given
            // later, in place).
            let (h, b) = (m.header(), m.body());
            let buf = Uint8Array::new_with_length((h.len() + b.len()) as u32);
            crate::bytes::copy_from(&buf, h);
            crate::bytes::copy_from(&buf.subarray(h.len() as u32, buf.length()), b);
            drop(m);
            ws.send_with_array_buffer_view(&buf)
                .map_err(|_| Error::ConnectionShutdown)?;
        }
        while ws.buffered_amount() > SEND_HIGH_WATER {
            if let Some(e) = self.conn.inbox.borrow().end {
                return Err(e);
            }
            let rt = WebRuntime;
            rt.sleep_until(rt.now().plus(SEND_POLL)).await;
        }
        Ok(())
    }

    async fn close(&mut self, why: &Error) {
        let ws = &self.conn.ws;
        if ws.ready_state() == WebSocket::OPEN {
            close_saying_why(ws, why);
        }
    }
}

/// The subprotocol a dialer of `sock`'s protocol offers (docs/wire.md §3):
/// the *peer's* name, e.g. `rep.sp.nanomsg.org` for a REQ socket
/// ([`nanosp_core::ws::dialer_token`]).
pub fn subprotocol(sock: &SocketRef<WebRuntime>) -> String {
    rules::dialer_token(sock.protocol())
}

/// Opens one WebSocket to `url` and joins it to the socket as a pipe: the
/// connection must open and echo the subprotocol within the socket's
/// handshake timeout. Errors: [`Error::ConnectionRefused`] when the browser
/// could not connect (it tells no more: refused, HTTP 404 and TLS failures
/// look alike), [`Error::TimedOut`],
/// `nanosp_core::ProtocolError::BadSubprotocol`
/// for a wrong echo, [`Error::Closed`] when the socket closes meanwhile. A
/// timeout and a wrong echo count in `handshake_failures`, as on std.
pub async fn connect(sock: SocketRef<WebRuntime>, url: String) -> Result<WsPipe, Error> {
    let conn = open(&sock, &url).await.inspect_err(|e| {
        if rules::is_handshake_failure(e) {
            sock.count(|s| Counter::HandshakeFailures.bump(s));
        }
    })?;
    let peer = sock.protocol().peer_number();
    nanosp_core::transport::attach(
        &sock,
        peer,
        &url,
        true,
        WsRead { conn: conn.clone() },
        WsWrite { conn },
    )
}

/// Opens the WebSocket and checks the echo, within the handshake timeout.
async fn open(sock: &SocketRef<WebRuntime>, url: &str) -> Result<Rc<Conn>, Error> {
    let token = subprotocol(sock);
    let ws = WebSocket::new_with_str(url, &token).map_err(|_| Error::InvalidArgument)?;
    ws.set_binary_type(BinaryType::Arraybuffer);
    let opts = sock.options();
    let inbox = Rc::new(RefCell::new(Inbox {
        queue: VecDeque::new(),
        queued_bytes: 0,
        ws: Some(ws.clone()),
        local_end: false,
        opened: false,
        end: None,
        waker: None,
        limit: opts.frame_limit(),
    }));

    let ib = inbox.clone();
    let onopen = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        let mut ib = ib.borrow_mut();
        ib.opened = true;
        ib.wake();
    });
    let ib = inbox.clone();
    let onmessage = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
        let data = Reflect::get(&ev, &JsValue::from_str("data")).unwrap_or(JsValue::UNDEFINED);
        on_message(&mut ib.borrow_mut(), data);
    });
    let ib = inbox.clone();
    let onclose = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
        let code = Reflect::get(&ev, &JsValue::from_str("code"))
            .ok()
            .and_then(|c| c.as_f64())
            .unwrap_or(1006.0) as u16;
        let mut ib = ib.borrow_mut();
        let e = if ib.opened {
            rules::peer_closed(Some(code))
        } else {
            Error::ConnectionRefused
        };
        ib.finish(e);
    });
    let ib = inbox.clone();
    let onerror = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        let mut ib = ib.borrow_mut();
        let e = if ib.opened {
            Error::ConnectionReset
        } else {
            Error::ConnectionRefused
        };
        ib.finish(e);
    });
    ws.set_onopen(Some(onopen.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    ws.set_onclose(Some(onclose.as_ref().unchecked_ref()));
    ws.set_onerror(Some(onerror.as_ref().unchecked_ref()));
    let conn = Rc::new(Conn {
        ws,
        inbox,
        _handlers: [onopen, onmessage, onclose, onerror],
    });

    let rt = WebRuntime;
    let deadline = rt.now().plus(opts.handshake_timeout);
    let mut sleep = core::pin::pin!(rt.sleep_until(deadline));
    let mut closed = core::pin::pin!(sock.closed());
    poll_fn(|cx| {
        {
            let mut ib = conn.inbox.borrow_mut();
            if ib.opened {
                return Poll::Ready(Ok(()));
            }
            if let Some(e) = ib.end {
                return Poll::Ready(Err(e));
            }
            ib.waker = Some(cx.waker().clone());
        }
        if closed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(Error::Closed));
        }
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(Error::TimedOut));
        }
        Poll::Pending
    })
    .await?;

    // Browsers already fail a connection whose server picked a protocol we
    // did not offer; nng also insists on the echo, so do we.
    rules::check_echo(sock.protocol(), Some(&conn.ws.protocol()))?;
    Ok(conn)
}

fn on_message(ib: &mut Inbox, data: JsValue) {
    if ib.end.is_some() {
        return;
    }
    let Some(buf) = data.dyn_ref::<ArrayBuffer>() else {
        // A text message: SP is binary only.
        let len = data.as_string().map_or(0, |t| t.len());
        if let Err(e) = rules::check_message(DataKind::Text, len, ib.limit) {
            ib.fail(e);
        }
        return;
    };
    let len = buf.byte_length() as usize;
    if let Err(e) = rules::check_message(DataKind::Binary, len, ib.limit) {
        ib.fail(e);
        return;
    }
    let over_bytes = !ib.queue.is_empty() && ib.queued_bytes + len > MAX_PENDING_BYTES;
    if ib.queue.len() >= MAX_PENDING || over_bytes {
        ib.fail(Error::ConnectionReset);
        return;
    }
    let mut m = Message::with_capacity(len);
    let body = m.body_mut();
    body.resize(len, 0);
    crate::bytes::copy_to(&Uint8Array::new(buf), body);
    ib.queued_bytes += len;
    ib.queue.push_back(m);
    ib.wake();
}
