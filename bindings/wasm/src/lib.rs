//! # nanosp-wasm — the `nanosp` npm package
//!
//! JavaScript bindings (wasm-bindgen) over [`nanosp_web`]: SP sockets for web
//! pages, workers and Node, speaking nng's WebSocket mapping. The JavaScript
//! surface:
//!
//! ```js
//! import init, { Socket } from "nanosp";
//! await init();
//! const sock = new Socket("req");
//! await sock.dial("ws://127.0.0.1:8080/sp");
//! await sock.send("hello");          // string, Uint8Array, ArrayBuffer or any view
//! const reply = await sock.recv();   // Uint8Array
//! sock.setOption("recv-timeout", 1000);
//! sock.close();
//! ```
//!
//! Every failure is an `Error` whose `code` is nng's name for it
//! (`"ETIMEDOUT"`, `"ECLOSED"`, `"ESTATE"`, ...), see [`error_code`].
//! Protocol names and error names come from the core's tables
//! ([`nanosp_core::Protocol`]'s names, [`nanosp_core::Error::nng_name`]).
#![warn(missing_docs)]
#![no_std]

extern crate alloc;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, OnceCell, RefCell};

/// The allocator: talc's WebAssembly one, much smaller than the standard
/// library's dlmalloc (the package's size has a budget, issue 14). The page
/// has one thread, as this build assumes (no `atomics`).
#[cfg(all(not(target_feature = "atomics"), target_family = "wasm"))]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
use alloc::rc::Rc;

use nanosp_web::nanosp_core;

use js_sys::{Array, ArrayBuffer, Function, Object, Promise, Reflect, Uint8Array};
use nanosp_core::{Error, Message, PipeEvent, PipeInfo, Protocol, SockOpt, SocketContext};
use nanosp_web::{DialEvent, DialMode, WebRuntime};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;

/// A promise of `f`'s outcome. The future is boxed so `future_to_promise`
/// and its task are compiled once, not once per async method (about 6 KB of
/// the package).
fn promise(f: impl core::future::Future<Output = Result<JsValue, JsValue>> + 'static) -> Promise {
    let f: core::pin::Pin<Box<dyn core::future::Future<Output = Result<JsValue, JsValue>>>> =
        Box::pin(f);
    future_to_promise(f)
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Socket protocols: nng's names, or the versioned spelling of nng's API
 *  (`"req0"`, `"pair1"`); ASCII case is ignored. `"pair"` is PAIR v0, as in
 *  nng (before nanosp 0.2 it meant v1: write `"pair1"`). */
export type ProtocolName =
  | "pair" | "pair0" | "pair1" | "pub" | "pub0" | "sub" | "sub0"
  | "push" | "push0" | "pull" | "pull0" | "req" | "req0" | "rep" | "rep0"
  | "surveyor" | "surveyor0" | "respondent" | "respondent0"
  | "bus" | "bus0" | "star" | "star0";

/** What `send` accepts: text is sent as UTF-8. */
export type Payload = string | Uint8Array | ArrayBuffer | ArrayBufferView;

/** The stable `code` of every error nanosp throws or rejects with: nng's
 *  names (`nng.h` without `NNG_`). `"EIO"` and `"EINTERNAL"` are no longer
 *  produced (operating-system errors now have nng's names); they stay here
 *  so that code testing for them still compiles. */
export type ErrorCode =
  | "ECLOSED" | "ETIMEDOUT" | "EAGAIN" | "ESTATE" | "ENOTSUP" | "ECANCELED"
  | "EMSGSIZE" | "EPROTO" | "ECONNREFUSED" | "ECONNRESET" | "ECONNSHUT"
  | "EADDRINUSE" | "EADDRINVAL" | "EBUSY" | "EINVAL" | "ENOENT" | "EPERM"
  | "EEXIST" | "ENOMEM" | "ENOFILES" | "EINTR" | "ESYSERR" | "EIO" | "EINTERNAL";

/** An `Error` from nanosp: `code` says what happened. */
export interface NanospError extends Error {
  name: "NanospError";
  code: ErrorCode;
}

/** What a dialer did (the same events as nanosp's dialers on every target). */
export type DialEvent =
  | { type: "connected" }
  | { type: "failed"; error: NanospError }
  | { type: "pipe-closed"; reason: NanospError }
  | { type: "backoff"; wait: number };

/** Options of `Socket.dial`. */
export interface DialOptions {
  /** Resolve at once and keep trying in the background (nng's NNG_FLAG_NONBLOCK).
   *  Without it the first attempt's error rejects the promise and nothing retries. */
  nonblocking?: boolean;
  /** Called for each thing the dialer does: `"connected"`, `"failed"` (an
   *  attempt's error), `"pipe-closed"` (why its connection went),
   *  `"backoff"` (ms it waits before redialing). A first attempt that
   *  rejects the promise is not reported. */
  onEvent?: (event: DialEvent) => void;
}

/** A connection of a socket. */
export interface PipeInfo {
  /** 31-bit id, unique among the socket's live pipes. */
  id: number;
  /** The URL that was dialed. */
  url: string;
  /** The peer's protocol name. */
  peer: string;
  /** True for dialed pipes (always, in a browser). */
  dialed: boolean;
  /** In a `"remove"` event: why the connection closed (`ECONNSHUT` the peer
   *  closed it, `EMSGSIZE` a message over `recv-size-max`, `EPROTO` bad
   *  input, `ECONNRESET` it broke, `ECLOSED` the socket closed it).
   *  Absent otherwise. */
  reason?: NanospError;
}

/** Pipe events: `"add-pre"` before a pipe joins (return `false` to refuse it),
 *  `"add"` once it has joined, `"remove"` when it has left. */
export type PipeEventName = "add-pre" | "add" | "remove";

/** Called for every pipe event. */
export type PipeCallback = (event: PipeEventName, pipe: PipeInfo) => boolean | void;

/** Counters of a socket. */
export interface SocketStats {
  msgsIn: number; bytesIn: number; msgsOut: number; bytesOut: number;
  /** All drops, then by reason. */
  drops: number; dropsQueueFull: number; dropsHopLimit: number; dropsStale: number;
  dropsUnroutable: number; dropsMalformed: number; dropsUnwanted: number;
  lost: number; pipesAdded: number; pipesRemoved: number;
  pipesRejected: number; handshakeFailures: number; protocolErrors: number;
  /** Connections closed for a message over `recv-size-max` (part of `protocolErrors`). */
  oversized: number;
  reconnects: number;
  /** Failed accepts of listeners: always 0 in a browser, which cannot listen. */
  acceptErrors: number;
}

/** Counters of one live pipe. */
export interface PipeStats {
  msgsIn: number; bytesIn: number; msgsOut: number; bytesOut: number;
  /** Messages evicted from this pipe's full queue (PUB's slow subscriber). */
  evicted: number;
}
"#;

/// nng's name for an error: the `code` of every JavaScript error nanosp
/// produces, from the core's one table ([`Error::nng_name`]). Stable: new
/// error kinds get new codes, existing codes keep their meaning.
pub fn error_code(e: &Error) -> &'static str {
    e.nng_name()
}

/// A JavaScript `Error` named `NanospError` with a `code` property.
fn js_error(code: &str, message: &str) -> JsValue {
    let err = js_sys::Error::new(message);
    err.set_name("NanospError");
    let _ = Reflect::set(&err, &"code".into(), &code.into());
    err.into()
}

fn to_js(e: Error) -> JsValue {
    js_error(error_code(&e), &e.message())
}

/// The `ENOTSUP` error for a WebSocket URL in a JavaScript environment with
/// no global `WebSocket` class (Node 20 and 21 without the `ws` package or
/// `--experimental-websocket`), so that `dial` says what is missing instead
/// of failing inside `new WebSocket`. `None` when there is one, or when the
/// URL is not a WebSocket URL (then `dial` reports that).
fn no_websocket(url: &str) -> Option<JsValue> {
    let ws_url = nanosp_core::Url::parse(url)
        .is_ok_and(|u| matches!(u.scheme, nanosp_core::Scheme::Ws | nanosp_core::Scheme::Wss));
    let have = Reflect::get(&js_sys::global(), &"WebSocket".into()).is_ok_and(|c| c.is_function());
    (ws_url && !have).then(|| {
        js_error(
            "ENOTSUP",
            "no WebSocket in this JavaScript environment: on Node 20 or 21 install the \
             `ws` package next to nanosp (npm install ws; nanosp's Node entry loads it) \
             or run node --experimental-websocket; Node 22 and later have one built in. \
             Elsewhere set globalThis.WebSocket to a WHATWG WebSocket class before dialing",
        )
    })
}

fn invalid(message: &str) -> JsValue {
    js_error("EINVAL", message)
}

/// Copies a payload (string, Uint8Array, ArrayBuffer, any view) into a message.
fn to_message(data: &JsValue) -> Result<Message, JsValue> {
    if let Some(s) = data.as_string() {
        return Ok(Message::from_slice(s.as_bytes()));
    }
    let bytes = to_u8_array(data)?;
    let n = bytes.length() as usize;
    let mut m = Message::with_capacity(n);
    m.body_mut().resize(n, 0);
    nanosp_web::bytes::copy_to(&bytes, m.body_mut());
    Ok(m)
}

fn to_u8_array(data: &JsValue) -> Result<Uint8Array, JsValue> {
    if let Some(a) = data.dyn_ref::<Uint8Array>() {
        return Ok(a.clone());
    }
    if let Some(b) = data.dyn_ref::<ArrayBuffer>() {
        return Ok(Uint8Array::new(b));
    }
    if ArrayBuffer::is_view(data) {
        let get = |k: &str| Reflect::get(data, &k.into()).unwrap_or(JsValue::UNDEFINED);
        let buf = get("buffer");
        let off = get("byteOffset").as_f64().unwrap_or(0.0) as u32;
        let len = get("byteLength").as_f64().unwrap_or(0.0) as u32;
        return Ok(Uint8Array::new_with_byte_offset_and_length(&buf, off, len));
    }
    Err(invalid(
        "payload must be a string, Uint8Array, ArrayBuffer or ArrayBuffer view",
    ))
}

fn body_array(m: &Message) -> Uint8Array {
    nanosp_web::bytes::to_js(m.body())
}

/// What a `send` or `recv` goes through: the socket itself or one of its
/// contexts. One promise body serves both classes (each of the four
/// methods had its own, about 2 KB of code in all).
enum Target {
    Socket(nanosp_web::Socket),
    Context(Rc<SocketContext<WebRuntime>>),
}

/// `send` on `t`, as a promise.
fn send_promise(t: Target, m: Message) -> Promise {
    promise(async move {
        let r = match &t {
            Target::Socket(s) => s.send(m).await,
            Target::Context(c) => c.send(m).await,
        };
        r.map_err(|e| to_js(e.error))?;
        Ok(JsValue::UNDEFINED)
    })
}

/// `recv` on `t`, as a promise of the body's bytes or, with `text`, of
/// the body decoded as UTF-8 (invalid bytes become U+FFFD).
fn recv_promise(t: Target, text: bool) -> Promise {
    promise(async move {
        let r = match &t {
            Target::Socket(s) => s.recv().await,
            Target::Context(c) => c.recv().await,
        };
        let m = r.map_err(to_js)?;
        Ok(if text {
            utf8_lossy(m.body())
        } else {
            body_array(&m).into()
        })
    })
}

fn topic_bytes(topic: &JsValue) -> Result<Vec<u8>, JsValue> {
    if let Some(s) = topic.as_string() {
        return Ok(s.into_bytes());
    }
    Ok(nanosp_web::bytes::to_vec(&to_u8_array(topic)?))
}

/// Parses `setOption(name, value)`: numbers are milliseconds or sizes,
/// booleans and strings as nng takes them; SUB topics may be bytes.
fn parse_option(name: &str, value: &JsValue) -> Result<SockOpt, JsValue> {
    if matches!(name, "sub:subscribe" | "sub:unsubscribe") && !value.is_string() {
        let t = topic_bytes(value)?;
        return Ok(if name == "sub:subscribe" {
            SockOpt::Subscribe(t)
        } else {
            SockOpt::Unsubscribe(t)
        });
    }
    let text = if let Some(s) = value.as_string() {
        s
    } else if let Some(b) = value.as_bool() {
        String::from(if b { "true" } else { "false" })
    } else if let Some(n) = value.as_f64() {
        if !n.is_finite() || n != n as i64 as f64 {
            return Err(invalid("option values are whole numbers"));
        }
        int_text(n as i64)
    } else {
        return Err(invalid("option values are numbers, booleans or strings"));
    };
    SockOpt::parse(name, &text).map_err(|e| match e {
        Error::NotSupported => js_error("ENOTSUP", &text_of(&["unknown option \"", name, "\""])),
        e => js_error(
            error_code(&e),
            &text_of(&["bad value \"", &text, "\" for option \"", name, "\""]),
        ),
    })
}

/// `parts` joined: messages are built without `core::fmt` (its machinery
/// is kilobytes of the package).
fn text_of(parts: &[&str]) -> String {
    let mut s = String::new();
    for p in parts {
        s.push_str(p);
    }
    s
}

/// `n` in decimal, without `core::fmt`.
fn int_text(n: i64) -> String {
    let mut s = String::from(if n < 0 { "-" } else { "" });
    nanosp_core::text::push_decimal(&mut s, n.unsigned_abs());
    s
}

fn ms(d: Option<core::time::Duration>) -> f64 {
    d.map_or(-1.0, millis)
}

/// Whole milliseconds, without `Duration::as_millis`' 128-bit integer
/// (whose conversion to a float is compiler-builtin code in the package).
fn millis(d: core::time::Duration) -> f64 {
    d.as_secs() as f64 * 1000.0 + f64::from(d.subsec_millis())
}

fn set(obj: &Object, key: &str, v: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &key.into(), &v.into());
}

fn pipe_object(p: &PipeInfo) -> Object {
    let o = Object::new();
    set(&o, "id", p.id.0);
    set(&o, "url", p.url.as_str());
    let peer = Protocol::from_number(p.peer).map_or("unknown", |q| q.name());
    set(&o, "peer", peer);
    set(&o, "dialed", p.dialed);
    if let Some(why) = p.closed {
        set(&o, "reason", to_js(why));
    }
    o
}

/// A dialer's event as the JavaScript object `DialEvent`.
fn dial_event_object(ev: DialEvent) -> Option<Object> {
    let o = Object::new();
    match ev {
        DialEvent::Connected => set(&o, "type", "connected"),
        DialEvent::Failed(e) => {
            set(&o, "type", "failed");
            set(&o, "error", to_js(e));
        }
        DialEvent::PipeClosed(why) => {
            set(&o, "type", "pipe-closed");
            set(&o, "reason", to_js(why));
        }
        DialEvent::Backoff(d) => {
            set(&o, "type", "backoff");
            set(&o, "wait", d.as_secs_f64() * 1000.0);
        }
        _ => return None,
    }
    Some(o)
}

/// A static on the one thread this build runs on.
struct Local<T>(T);

// SAFETY: without the `atomics` target feature a wasm module has one
// thread; nothing else can reach the value.
#[cfg(not(target_feature = "atomics"))]
unsafe impl<T> Sync for Local<T> {}

impl<T> Local<T> {
    fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.0)
    }
}

/// Pipe callbacks by socket id. The core wants a `Send + Sync` hook;
/// JavaScript functions are neither, so the hook holds only the id and
/// the function stays here, on the one thread there is.
/// Socket id -> (generation, callback).
static PIPE_CALLBACKS: Local<RefCell<Callbacks>> = Local(RefCell::new(Callbacks(Vec::new())));
static NEXT_SOCKET_ID: Local<Cell<u32>> = Local(Cell::new(1));
static NEXT_GENERATION: Local<Cell<u64>> = Local(Cell::new(1));

/// Socket id -> (generation, callback): a list, as a page has few sockets
/// with callbacks (a hash map's code would be most of a kilobyte gzipped).
struct Callbacks(Vec<(u32, u64, Function)>);

impl Callbacks {
    fn get(&self, id: u32) -> Option<&(u32, u64, Function)> {
        self.0.iter().find(|e| e.0 == id)
    }
    fn insert(&mut self, id: u32, generation: u64, f: Function) {
        self.remove(id);
        self.0.push((id, generation, f));
    }
    fn remove(&mut self, id: u32) {
        self.0.retain(|e| e.0 != id);
    }
}

/// Held by a socket's pipe hook: when the socket goes (its last handle,
/// including contexts and pending operations, is dropped), so does its
/// JavaScript callback.
/// The generation tells this hook's callback from a newer one installed
/// while the old hook was still running (its drop must not remove that).
struct CallbackKey(u32, u64);

impl Drop for CallbackKey {
    fn drop(&mut self) {
        PIPE_CALLBACKS.with(|c| {
            if let Ok(mut map) = c.try_borrow_mut() {
                if map.get(self.0).is_some_and(|e| e.1 == self.1) {
                    map.remove(self.0);
                }
            }
        });
    }
}

fn call_pipe_callback(id: u32, ev: PipeEvent, info: &PipeInfo) -> bool {
    let Some(f) = PIPE_CALLBACKS.with(|c| c.borrow().get(id).map(|e| e.2.clone())) else {
        return true;
    };
    let name = match ev {
        PipeEvent::AddPre => "add-pre",
        PipeEvent::AddPost => "add",
        PipeEvent::RemPost => "remove",
    };
    match f.call2(&JsValue::NULL, &name.into(), &pipe_object(info)) {
        // Only an explicit `false` from "add-pre" refuses the pipe.
        Ok(v) => !(ev == PipeEvent::AddPre && v.as_bool() == Some(false)),
        // A throwing callback does not take the connection down with it.
        Err(_) => true,
    }
}

#[wasm_bindgen]
extern "C" {
    /// The platform's UTF-8 decoder (browsers and Node have one).
    type TextDecoder;
    #[wasm_bindgen(constructor)]
    fn new(label: &str, options: &Object) -> TextDecoder;
    #[wasm_bindgen(method)]
    fn decode(this: &TextDecoder, bytes: &[u8]) -> JsValue;
}

/// Replaces bad sequences with U+FFFD and keeps a leading BOM, as
/// `String::from_utf8_lossy` does, without its code in the package.
static LOSSY: Local<OnceCell<TextDecoder>> = Local(OnceCell::new());

/// `bytes` as a JavaScript string, bad UTF-8 replaced with U+FFFD.
fn utf8_lossy(bytes: &[u8]) -> JsValue {
    LOSSY.with(|d| {
        d.get_or_init(|| {
            let opts = Object::new();
            let _ = Reflect::set(&opts, &"ignoreBOM".into(), &JsValue::TRUE);
            TextDecoder::new("utf-8", &opts)
        })
        .decode(bytes)
    })
}

/// A panic ends the module (the build aborts on panic; with no standard
/// library there is no message to print, and none was visible before).
/// Not for docs: documented beside nanosp-web with its default features,
/// the standard library is linked and brings its own. (Build and check
/// this crate on its own, `-p nanosp-wasm`, not with `--workspace`, for
/// the same reason.)
#[cfg(all(target_family = "wasm", not(test), not(doc)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// The core's lock on the one thread there is.
struct OneThread;
critical_section::set_impl!(OneThread);

// SAFETY: one thread, and nothing interrupts wasm code: there is nothing
// to exclude.
unsafe impl critical_section::Impl for OneThread {
    unsafe fn acquire() -> critical_section::RawRestoreState {}
    unsafe fn release(_: critical_section::RawRestoreState) {}
}

/// An SP socket. It closes on `close()`, or when it has been freed (or
/// garbage-collected) and no context or pending operation still uses it.
#[wasm_bindgen]
pub struct Socket {
    inner: nanosp_web::Socket,
    id: u32,
}

#[wasm_bindgen]
impl Socket {
    /// Opens a socket of `protocol`, by nng's name or the versioned
    /// spelling (the core's table, [`Protocol::from_name`]): `"req"`,
    /// `"rep"`, `"pub"`, `"sub"`, `"push"`, `"pull"`, `"surveyor"`,
    /// `"respondent"`, `"bus"`, `"pair"` (= `"pair0"`), `"pair1"`, `"star"`;
    /// or `"req0"`, `"pair0"`, ...
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "ProtocolName")] protocol: &str,
    ) -> Result<Socket, JsValue> {
        let p = Protocol::from_name(protocol)
            .map_err(|_| invalid(&text_of(&["unknown protocol \"", protocol, "\""])))?;
        let id = NEXT_SOCKET_ID.with(|n| {
            let id = n.get();
            n.set(id.wrapping_add(1).max(1));
            id
        });
        let inner = nanosp_web::Socket::new(p, WebRuntime);
        nanosp_web::start_timers(&inner);
        Ok(Socket { inner, id })
    }

    /// The socket's protocol, nng's name (`"req"`, `"pair"`, `"pair1"`, ...).
    #[wasm_bindgen(getter)]
    pub fn protocol(&self) -> String {
        self.inner.protocol().name().into()
    }

    /// The protocol name a peer must have (`"rep"` for a REQ socket).
    #[wasm_bindgen(getter, js_name = peerProtocol)]
    pub fn peer_protocol(&self) -> String {
        self.inner.protocol().peer_name().into()
    }

    /// True once the socket is closed.
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Connects to a WebSocket listener (`ws://host:port/path`, `wss://...`)
    /// of the peer protocol, offering the subprotocol
    /// `<peer>.sp.nanomsg.org`. Resolves once connected; a lost connection
    /// is redialed with back-off (`reconnect-time-min`/`-max`) until the
    /// socket closes. With `{ nonblocking: true }` it resolves at once and
    /// keeps trying in the background; without it the first failure
    /// rejects (`ECONNREFUSED`, `ETIMEDOUT`, `EPROTO`, `EADDRINVAL`) and
    /// nothing retries. Either way it rejects at once with `ENOTSUP` when
    /// there is no `WebSocket` class (Node 20 without the `ws` package).
    /// `{ onEvent }` is told what the dialer does (see `DialEvent`).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn dial(
        &self,
        url: String,
        #[wasm_bindgen(unchecked_optional_param_type = "DialOptions")] options: JsValue,
    ) -> Promise {
        let nonblocking = options.is_object()
            && Reflect::get(&options, &"nonblocking".into())
                .map(|v| v.is_truthy())
                .unwrap_or(false);
        let mode = if nonblocking {
            DialMode::NonBlocking
        } else {
            DialMode::Blocking
        };
        let on_event = if options.is_object() {
            Reflect::get(&options, &"onEvent".into())
                .ok()
                .and_then(|f| f.dyn_into::<Function>().ok())
        } else {
            None
        };
        if let Some(e) = no_websocket(&url) {
            return Promise::reject(&e);
        }
        let sock = self.inner.clone();
        promise(async move {
            let on = move |ev: DialEvent| {
                if let (Some(f), Some(o)) = (&on_event, dial_event_object(ev)) {
                    // A throwing callback does not stop the dialer.
                    let _ = f.call1(&JsValue::NULL, &o);
                }
            };
            nanosp_web::dial_observed(&sock, &url, mode, on)
                .await
                .map_err(to_js)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Browsers cannot accept connections: always rejects with `ENOTSUP`.
    #[wasm_bindgen(unchecked_return_type = "Promise<never>")]
    pub fn listen(&self, _url: String) -> Promise {
        Promise::reject(&js_error(
            "ENOTSUP",
            "a browser cannot listen; dial a WebSocket listener instead",
        ))
    }

    /// Sends a message, waiting for room up to `send-timeout`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn send(&self, #[wasm_bindgen(unchecked_param_type = "Payload")] data: JsValue) -> Promise {
        match to_message(&data) {
            Ok(m) => send_promise(Target::Socket(self.inner.clone()), m),
            Err(e) => Promise::reject(&e),
        }
    }

    /// Receives a message body, waiting up to `recv-timeout`
    /// (rejects with `ETIMEDOUT`).
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array>")]
    pub fn recv(&self) -> Promise {
        recv_promise(Target::Socket(self.inner.clone()), false)
    }

    /// Receives a message and decodes it as UTF-8 text (invalid bytes
    /// become U+FFFD).
    #[wasm_bindgen(js_name = recvText, unchecked_return_type = "Promise<string>")]
    pub fn recv_text(&self) -> Promise {
        recv_promise(Target::Socket(self.inner.clone()), true)
    }

    /// Sends only if it can go at once; throws `EAGAIN` otherwise.
    #[wasm_bindgen(js_name = trySend)]
    pub fn try_send(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Payload")] data: JsValue,
    ) -> Result<(), JsValue> {
        let m = to_message(&data)?;
        self.inner.try_send(m).map_err(|e| to_js(e.error))
    }

    /// A message if one is waiting; throws `EAGAIN` otherwise.
    #[wasm_bindgen(js_name = tryRecv)]
    pub fn try_recv(&self) -> Result<Uint8Array, JsValue> {
        let m = self.inner.try_recv().map_err(to_js)?;
        Ok(body_array(&m))
    }

    /// SUB: receive messages whose body starts with `topic` (`""` = all).
    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] topic: JsValue,
    ) -> Result<(), JsValue> {
        self.inner.subscribe(&topic_bytes(&topic)?).map_err(to_js)
    }

    /// SUB: stop receiving `topic` (`ENOENT` if not subscribed).
    pub fn unsubscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] topic: JsValue,
    ) -> Result<(), JsValue> {
        self.inner.unsubscribe(&topic_bytes(&topic)?).map_err(to_js)
    }

    /// Sets an option by its nng name, durations in milliseconds (`-1` =
    /// forever): `"recv-timeout"`, `"send-timeout"`, `"recv-size-max"`
    /// (bytes, 0 = unlimited; default 1 MiB), `"send-buffer"`,
    /// `"recv-buffer"`, `"reconnect-time-min"`, `"reconnect-time-max"`,
    /// `"handshake-timeout"`, `"linger"` (ms, see `closeLinger`),
    /// `"ttl-max"`, `"req:resend-time"`, `"surveyor:survey-time"`,
    /// `"sub:subscribe"`, `"sub:unsubscribe"`, `"sub:prefnew"`.
    /// Unknown names throw `ENOTSUP`, bad values `EINVAL`.
    #[wasm_bindgen(js_name = setOption)]
    pub fn set_option(
        &self,
        name: &str,
        #[wasm_bindgen(unchecked_param_type = "number | string | boolean | Uint8Array")]
        value: JsValue,
    ) -> Result<(), JsValue> {
        self.inner
            .set_opt(parse_option(name, &value)?)
            .map_err(to_js)
    }

    /// Reads a socket-level option: `"recv-timeout"`, `"send-timeout"`,
    /// `"reconnect-time-min"`, `"reconnect-time-max"` (ms, `-1` = forever),
    /// `"recv-size-max"` (bytes), `"ttl-max"`, `"linger"` (ms). Others throw
    /// `ENOTSUP`.
    #[wasm_bindgen(js_name = getOption)]
    pub fn get_option(&self, name: &str) -> Result<f64, JsValue> {
        let o = self.inner.options();
        Ok(match name {
            "recv-timeout" => ms(o.recv_timeout),
            "send-timeout" => ms(o.send_timeout),
            "reconnect-time-min" => ms(Some(o.reconnect_min)),
            "reconnect-time-max" => ms(Some(o.reconnect_max)),
            "recv-size-max" => o.recv_max_size as f64,
            "ttl-max" => f64::from(o.ttl_max),
            "linger" => millis(o.linger),
            _ => {
                return Err(js_error(
                    "ENOTSUP",
                    &text_of(&["option \"", name, "\" cannot be read"]),
                ))
            }
        })
    }

    /// Opens a context: its own request/reply (or survey, or subscription)
    /// state sharing this socket's connections, so several requests can be
    /// outstanding at once. REQ, REP, SURVEYOR, RESPONDENT and SUB only
    /// (`ENOTSUP` otherwise).
    pub fn context(&self) -> Result<Context, JsValue> {
        let c = self.inner.context().map_err(to_js)?;
        Ok(Context {
            inner: RefCell::new(Some(Rc::new(c))),
        })
    }

    /// Calls `callback(event, pipe)` for every connection event: `"add-pre"`
    /// (return `false` to refuse the connection), `"add"`, `"remove"` (with
    /// `pipe.reason`, why it closed). `null` removes the callback.
    #[wasm_bindgen(js_name = onPipe)]
    pub fn on_pipe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "PipeCallback | null")] callback: Option<Function>,
    ) {
        let id = self.id;
        match callback {
            Some(f) => {
                let generation = NEXT_GENERATION.with(|g| {
                    let n = g.get();
                    g.set(n + 1);
                    n
                });
                PIPE_CALLBACKS.with(|c| c.borrow_mut().insert(id, generation, f));
                let key = CallbackKey(id, generation);
                self.inner.set_pipe_hook(move |ev, info| {
                    let key = &key;
                    call_pipe_callback(key.0, ev, info)
                });
            }
            None => {
                PIPE_CALLBACKS.with(|c| c.borrow_mut().remove(id));
            }
        }
    }

    /// The live connections.
    #[wasm_bindgen(unchecked_return_type = "PipeInfo[]")]
    pub fn pipes(&self) -> Array {
        self.inner.pipes().iter().map(pipe_object).collect()
    }

    /// A snapshot of one live pipe's counters (`id` from `pipes()` or a
    /// pipe callback), or `undefined` once the pipe is gone.
    #[wasm_bindgen(js_name = pipeStats, unchecked_return_type = "PipeStats | undefined")]
    pub fn pipe_stats(&self, id: u32) -> JsValue {
        let Some(s) = self.inner.pipe_stats(nanosp_core::PipeId(id)) else {
            return JsValue::UNDEFINED;
        };
        counters(&[
            ("msgsIn", s.msgs_in),
            ("bytesIn", s.bytes_in),
            ("msgsOut", s.msgs_out),
            ("bytesOut", s.bytes_out),
            ("evicted", s.evicted),
        ])
        .into()
    }

    /// A snapshot of the socket's counters.
    #[wasm_bindgen(unchecked_return_type = "SocketStats")]
    pub fn stats(&self) -> Object {
        let s = self.inner.stats();
        counters(&[
            ("msgsIn", s.msgs_in),
            ("bytesIn", s.bytes_in),
            ("msgsOut", s.msgs_out),
            ("bytesOut", s.bytes_out),
            ("drops", s.drops),
            ("dropsQueueFull", s.drops_queue_full),
            ("dropsHopLimit", s.drops_hop_limit),
            ("dropsStale", s.drops_stale),
            ("dropsUnroutable", s.drops_unroutable),
            ("dropsMalformed", s.drops_malformed),
            ("dropsUnwanted", s.drops_unwanted),
            ("lost", s.lost),
            ("pipesAdded", s.pipes_added),
            ("pipesRemoved", s.pipes_removed),
            ("pipesRejected", s.pipes_rejected),
            ("handshakeFailures", s.handshake_failures),
            ("protocolErrors", s.protocol_errors),
            ("oversized", s.oversized),
            ("reconnects", s.reconnects),
            ("acceptErrors", s.accept_errors),
        ])
    }

    /// Resolves once every message queued on a connection has been handed to
    /// its WebSocket (which sends what it holds even after it is closed, as
    /// long as the page lives). Messages the protocol still holds (a REQ
    /// request with no connection yet) are not included.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn flush(&self) -> Promise {
        let sock = self.inner.clone();
        promise(async move {
            sock.flush().await;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Closes the socket after waiting up to the `linger` option (ms,
    /// default 0) for queued messages to be handed to their WebSocket, so a
    /// page that sends and then closes delivers what it sent; what is still
    /// queued when the time is up is dropped, as by `close()`. nng has no
    /// linger; this is mangos' option.
    ///
    /// ```js
    /// sock.setOption("linger", 2000);
    /// await sock.send(bigMessage);
    /// await sock.closeLinger(); // written, then closed
    /// ```
    #[wasm_bindgen(js_name = closeLinger, unchecked_return_type = "Promise<void>")]
    pub fn close_linger(&self) -> Promise {
        let sock = self.inner.clone();
        let id = self.id;
        promise(async move {
            sock.close_linger().await;
            PIPE_CALLBACKS.with(|c| c.borrow_mut().remove(id));
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Closes the socket: connections and dialers end, pending operations
    /// reject with `ECLOSED`; messages still queued are dropped (see
    /// `closeLinger`).
    pub fn close(&self) {
        self.inner.close();
        // The callback may hold this very object; let both go.
        PIPE_CALLBACKS.with(|c| c.borrow_mut().remove(self.id));
    }
}

/// A context of a socket (see `Socket.context()`): independent protocol
/// state on the socket's connections.
#[wasm_bindgen]
pub struct Context {
    inner: RefCell<Option<Rc<SocketContext<WebRuntime>>>>,
}

impl Context {
    fn get(&self) -> Result<Rc<SocketContext<WebRuntime>>, JsValue> {
        self.inner
            .borrow()
            .clone()
            .ok_or_else(|| to_js(Error::Closed))
    }
}

#[wasm_bindgen]
impl Context {
    /// Sends on this context (the socket's `send-timeout` applies). On REQ
    /// a new request abandons the previous one (its `recv` rejects with
    /// `ECANCELED`).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn send(&self, #[wasm_bindgen(unchecked_param_type = "Payload")] data: JsValue) -> Promise {
        match self.get().and_then(|c| Ok((c, to_message(&data)?))) {
            Ok((c, m)) => send_promise(Target::Context(c), m),
            Err(e) => Promise::reject(&e),
        }
    }

    /// Receives on this context (the socket's `recv-timeout` applies).
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array>")]
    pub fn recv(&self) -> Promise {
        match self.get() {
            Ok(c) => recv_promise(Target::Context(c), false),
            Err(e) => Promise::reject(&e),
        }
    }

    /// Receives and decodes UTF-8 text.
    #[wasm_bindgen(js_name = recvText, unchecked_return_type = "Promise<string>")]
    pub fn recv_text(&self) -> Promise {
        match self.get() {
            Ok(c) => recv_promise(Target::Context(c), true),
            Err(e) => Promise::reject(&e),
        }
    }

    /// Sets a protocol option for this context only (`"req:resend-time"`,
    /// `"surveyor:survey-time"`, SUB topics).
    #[wasm_bindgen(js_name = setOption)]
    pub fn set_option(
        &self,
        name: &str,
        #[wasm_bindgen(unchecked_param_type = "number | string | boolean | Uint8Array")]
        value: JsValue,
    ) -> Result<(), JsValue> {
        self.get()?
            .set_opt(parse_option(name, &value)?)
            .map_err(to_js)
    }

    /// SUB: subscribe this context to `topic`.
    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] topic: JsValue,
    ) -> Result<(), JsValue> {
        self.get()?.subscribe(&topic_bytes(&topic)?).map_err(to_js)
    }

    /// Closes the context. Operations already pending finish on their own
    /// (timeout, reply); new ones reject with `ECLOSED`.
    pub fn close(&self) {
        self.inner.borrow_mut().take();
    }
}

/// The package version.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").into()
}

/// A JavaScript object of named counters.
fn counters(pairs: &[(&str, u64)]) -> Object {
    let o = Object::new();
    for &(k, v) in pairs {
        set(&o, k, v as f64);
    }
    o
}
