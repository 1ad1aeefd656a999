//! Protocol state machines, one module per protocol, named as nng names them.
//! Each module opens with the protocol's semantics: who receives a message,
//! what blocks, what is dropped, what closes a pipe, what raw mode changes.
//!
//! A machine is plain synchronous state, private to the crate: the socket
//! engine calls it with events (a pipe added or removed, a pipe has room
//! again, a message from a pipe, the application sends, receives, sets an
//! option, opens or closes a context, a deadline passed) and it acts through
//! a window on the pipes the engine lends it for that one call (queue a
//! message on a pipe, wake the application's waiting operations, arm the
//! socket's timer, count a drop). No async, no clock, no I/O: every machine
//! is unit-tested without a runtime, and fuzzed the same way.
//!
//! The calling contract (which calls are inputs, in what order the engine
//! makes them, what a machine may do in each, how time reaches it) is
//! written on the crate-private `Machine` trait in `proto/machine.rs`. In
//! short: pipe events come from the task that runs the pipe; a blocking
//! receive *begins*, *attempts*, *parks* while it must wait and is
//! *cancelled* if it is abandoned after waiting; a machine with timers
//! reports each context's deadline, which the waiting operation or the
//! socket's timer task fires, whichever comes first.
//!
//! SP headers (backtraces, request and survey ids, PAIR v1's hop count,
//! STAR's header) are parsed and emitted in one place, `proto/wire.rs`, as
//! checked views and typed representations; what several machines share
//! (option checks, queues, round robin, fan-out, contexts, ids) is in
//! `proto/common.rs`.

use alloc::boxed::Box;

pub use crate::protocol::{name_of, Protocol};
pub use crate::stats::{DropReason, Stats};

mod common;
mod machine;
mod wire;

#[cfg(feature = "bus0")]
pub mod bus0;
// One machine, `pair0::Pair<V1>`, serves both versions.
#[cfg(any(feature = "pair0", feature = "pair1"))]
pub mod pair0;
#[cfg(any(feature = "pair0", feature = "pair1"))]
pub mod pair1;
#[cfg(any(feature = "push0", feature = "pull0"))]
pub mod pipeline0;
#[cfg(any(feature = "pub0", feature = "sub0"))]
pub mod pubsub0;
#[cfg(any(feature = "req0", feature = "rep0", feature = "respondent0"))]
pub mod reqrep0;
#[cfg(feature = "star0")]
pub mod star;
#[cfg(feature = "surveyor0")]
pub mod survey0;
mod unbuilt;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod testing;

pub(crate) use machine::{Delivery, Io, Machine, Notify, PipeTx, Pipes, Wakes};

/// The machine of protocol `p`, cooked or raw; `seed` picks the first
/// request or survey id.
/// A protocol whose cargo feature is off, or a raw socket without the `raw`
/// feature, gets [`unbuilt::Unbuilt`], which refuses everything with
/// [`Error::NotSupported`](crate::Error::NotSupported).
pub(crate) fn machine(p: Protocol, raw: bool, seed: u32) -> Box<dyn Machine> {
    let _ = (raw, seed);
    if raw && !cfg!(feature = "raw") {
        return Box::new(unbuilt::Unbuilt);
    }
    match p {
        #[cfg(feature = "req0")]
        Protocol::Req0 => Box::new(reqrep0::Req0::new(raw, seed)),
        #[cfg(feature = "rep0")]
        Protocol::Rep0 => Box::new(reqrep0::Rep0::new(raw)),
        #[cfg(feature = "respondent0")]
        Protocol::Respondent0 => Box::new(reqrep0::Rep0::new(raw)),
        #[cfg(feature = "surveyor0")]
        Protocol::Surveyor0 => Box::new(survey0::Surveyor0::new(raw, seed)),
        #[cfg(feature = "bus0")]
        Protocol::Bus0 => Box::new(bus0::Bus0::new(raw)),
        #[cfg(feature = "star0")]
        Protocol::Star0 => Box::new(star::Star0::new(raw)),
        #[cfg(feature = "pair0")]
        Protocol::Pair0 => Box::new(pair0::Pair0::new(raw)),
        #[cfg(feature = "pair1")]
        Protocol::Pair1 => Box::new(pair1::Pair1::new(raw)),
        #[cfg(feature = "pub0")]
        Protocol::Pub0 => Box::new(pubsub0::Pub0::new(raw)),
        #[cfg(feature = "sub0")]
        Protocol::Sub0 => Box::new(pubsub0::Sub0::new(raw)),
        #[cfg(feature = "push0")]
        Protocol::Push0 => Box::new(pipeline0::Push0::new(raw)),
        #[cfg(feature = "pull0")]
        Protocol::Pull0 => Box::new(pipeline0::Pull0::new(raw)),
        #[allow(unreachable_patterns)]
        _ => Box::new(unbuilt::Unbuilt),
    }
}

/// A machine's raw mode. Without the `raw` cargo feature it reads as off
/// whatever it was made with, so the optimiser removes the raw paths of the
/// machines (a raw socket then gets no machine: see [`machine`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Raw(bool);

#[allow(dead_code)] // some builds have no machine that reads it
impl Raw {
    pub(crate) fn new(raw: bool) -> Self {
        Raw(raw)
    }

    /// True in raw mode.
    #[inline(always)]
    pub(crate) fn on(self) -> bool {
        cfg!(feature = "raw") && self.0
    }
}

/// A context of a socket: an independent protocol state (own request id,
/// backtrace, survey, subscriptions) sharing the socket's pipes. The socket
/// itself is context [`CtxId::SOCKET`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CtxId(pub u32);

impl CtxId {
    /// The socket's own context.
    pub const SOCKET: CtxId = CtxId(0);
}
