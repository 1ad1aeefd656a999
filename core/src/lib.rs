//! # nanosp-core — the Scalability Protocols core
//!
//! `nanosp-core` is the `no_std` + `alloc` heart of a Rust implementation of the
//! Scalability Protocols (SP) known from nanomsg, nng and mangos: PAIR, PUSH/PULL,
//! PUB/SUB, REQ/REP, SURVEYOR/RESPONDENT, BUS and mangos' STAR, cooked and raw,
//! with contexts and devices. It speaks their wire format byte for byte.
//! Servers on tokio want the `nanosp` crate, which runs this core over tcp,
//! ipc and WebSocket; firmware adds `nanosp-embassy`, browsers `nanosp-web`.
//!
//! Everything that is not I/O lives here:
//!
//! * [`Message`]: header + body, pooled body buffers, cheap shared clones;
//! * [`frame`]: the sans-IO SP handshake and length framing (TCP and IPC);
//! * [`proto`]: one plain state machine per protocol, events in, actions out;
//! * [`Socket`]: the executor-agnostic engine that owns pipes, queues,
//!   deadlines and dialers, parameterised by a small [`Runtime`] (clock, sleep,
//!   randomness) that each runtime crate implements;
//! * [`solo::Solo`]: the lean alternative for firmware, one connection at a
//!   time driven by the task that sends and receives, over the same machines;
//! * [`inproc`]: in-process transport with zero-copy hand-off, no runtime needed;
//! * [`stream`]: one adapter that turns any `embedded-io-async` byte stream into
//!   an SP pipe (handshake, framing, write coalescing).
//!
//! ```
//! use nanosp_core::{Socket, Protocol, Message};
//! use nanosp_core::testing::VirtualRuntime;
//! # futures::executor::block_on(async {
//! let rt = VirtualRuntime::new(1);
//! let pull = Socket::new(Protocol::Pull0, rt.clone());
//! let push = Socket::new(Protocol::Push0, rt.clone());
//! pull.listen("inproc://doc-example").unwrap();
//! push.dial("inproc://doc-example").unwrap();
//! push.send(Message::from(&b"hello"[..])).await.unwrap();
//! assert_eq!(pull.recv().await.unwrap().body(), b"hello");
//! # });
//! ```
//!
//! ## Cargo features
//!
//! | feature | default | what |
//! |---|---|---|
//! | `req0`, `rep0`, `pub0`, `sub0`, `push0`, `pull0`, `surveyor0`, `respondent0`, `bus0`, `pair0`, `pair1`, `star0` (all: `all-protocols`) | on | each protocol's machine; one left out is not compiled, and a socket opened for it fails every operation with [`Error::NotSupported`] ([`Protocol::is_built`]) |
//! | `inproc` | on | the `inproc://` transport (module `inproc`) |
//! | `device` | on | `device` (nng's `nng_device`); turns on `raw` |
//! | `contexts` | on | several contexts per socket ([`Socket::context`]); off, a socket has only its own and `Socket::context` is [`Error::NotSupported`] |
//! | `raw` | on | raw sockets ([`Socket::new_raw`]); off, a raw socket refuses sends, receives, protocol options, contexts and peers with [`Error::NotSupported`], and the machines' raw paths are optimised out of release builds |
//! | `std` | off | `std::sync::Mutex` for the socket lock, `std::error::Error` |
//! | `tls` | off | TLS facts in pipe info, for runtime crates with TLS |
//! | `defmt` | off | `defmt::Format` for the public types |
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// With protocols left out (cargo features), helpers only they use are idle.
#![cfg_attr(not(feature = "all-protocols"), allow(dead_code, unused_imports))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod backoff;
mod chan;
#[cfg(feature = "device")]
mod device;
mod engine;
mod error;
pub mod frame;
mod header;
#[cfg(feature = "inproc")]
pub mod inproc;
mod mem;
mod message;
pub mod options;
mod pipe;
pub mod pool;
pub mod proto;
mod protocol;
pub mod ready;
mod socket;
pub mod solo;
mod stats;
pub mod stream;
mod sync;
pub mod testing;
#[doc(hidden)]
pub mod text;
mod time;
pub mod transport;
pub mod url;
mod util;
mod vecmap;
pub mod ws;

#[cfg(feature = "device")]
pub use device::device;
pub use error::{Error, IoErrorKind, ProtocolError, SendError, TlsError};
pub use header::{Header, HEADER_CAPACITY};
pub use message::Message;
pub use options::Options;
pub use options::SockOpt;
pub use pipe::{PipeEvent, PipeId, PipeInfo, TlsPeer};
pub use proto::CtxId;
pub use protocol::{Protocol, UnknownProtocol};
pub use socket::{Socket, SocketContext, SocketRef};
pub use stats::{DropReason, PipeStats, Stats};
pub use time::{Instant, Runtime};
pub use url::{Scheme, Url, UrlError};
