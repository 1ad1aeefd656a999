//! REQ (0x30) / REP (0x31): request and reply, with backtraces.
//!
//! **REQ, cooked**
//! * **Who receives a request**: one REP, round-robin over pipes with room
//!   (a busy pipe is skipped until it drains).
//! * **Ids**: each request carries a 32-bit id with bit 31 set, from a counter
//!   with a random start shared by all contexts of the socket.
//! * **Resend**: an unanswered request is sent again, with the **same id**,
//!   after `req:resend-time` (default 60 s, `None` disables), possibly to another
//!   pipe; and at once when the pipe that carried it closes. Timers run while
//!   the application waits in `recv` (a late `recv` resends at once if due).
//!   With resend disabled, a closed pipe fails the pending `recv` with
//!   [`Error::ConnectionReset`](crate::Error::ConnectionReset), as nng.
//! * **State** (as nng, call for call): a new `send` cancels the outstanding
//!   request (a `recv` waiting for it gets [`Error::Canceled`](crate::Error::Canceled)); a `recv`
//!   that times out (`recv-timeout`, a per-call timeout) or whose future is
//!   dropped **ends the request**: its late reply is dropped and the next
//!   `recv` without a new `send` is [`Error::ProtocolState`](crate::Error::ProtocolState), so the usual
//!   "send, recv with a timeout, send again" retry loop works. `recv` without
//!   a request is [`Error::ProtocolState`](crate::Error::ProtocolState), and so is a second `recv` while
//!   one already waits on the same socket or context. Replies with unknown or
//!   old ids are dropped, so the application sees exactly one reply per
//!   request even when REP saw duplicates (SP allows a REP to see a request
//!   more than once).
//! * **What blocks**: `send` waits while no pipe has room (send-timeout applies).
//! * **What closes a pipe**: a reply shorter than 4 bytes (as nng).
//! * **Contexts**: each has its own request, id, resend time and reply (a
//!   context opened later starts with the socket's resend time).
//!
//! **REP, cooked** (RESPONDENT is the same machine)
//! * **Lock-step**: `recv` strips the backtrace (hop words up to and including
//!   the id) and remembers it with the pipe it came from; the next `send` on
//!   that socket or context puts it back and goes to that pipe. A second `recv`
//!   abandons the first request. `send` without one is [`Error::ProtocolState`](crate::Error::ProtocolState),
//!   and so is a second `recv` while one already waits on the same socket or
//!   context (as nng).
//! * **A requester that leaves**: its requests already queued are still
//!   received (as nng: a fire-and-forget request is not lost); the replies
//!   are discarded.
//! * **What is dropped**: a request with more than `ttl-max` (default 8) words
//!   of backtrace (counted; pipe kept); a reply whose pipe has gone.
//! * **What blocks**: a reply waits while its pipe is full (send-timeout
//!   applies); `recv` waits for a request. Requests queue up to `recv-buffer`
//!   (default 128), then the pipes are pushed back.
//! * **What closes a pipe**: a request whose backtrace has no word with bit 31
//!   set (malformed; nng closes, mangos drops).
//! * **Contexts**: each holds its own pending request; 64 contexts serve 64
//!   requests at once. A request goes to the receive that has waited
//!   longest, whichever its context (as nng), else waits in the queue.
//!
//! **Raw modes** (for devices): raw REQ sends header + body as given,
//! load-balanced, and on receive moves the backtrace into the header. Raw
//! REP pushes the 4-byte id of the pipe a request came from in front of its
//! backtrace in the header; on send it pops that id to pick the pipe and
//! sends the rest; an unknown or full pipe drops the reply (never blocks: one
//! slow client cannot stall a device, as RFC and nng).

mod rep;
mod req;

pub(crate) use rep::Rep0;
pub(crate) use req::Req0;
pub use req::DEFAULT_RESEND;
