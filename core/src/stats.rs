//! Counters, readable at any time on every target: per socket ([`Stats`])
//! and per pipe ([`PipeStats`]), with drops broken down by [`DropReason`].
//! A leaf module: it depends on nothing else here.

/// Counters of a socket, readable at any time on every target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages received from peers and taken by the protocol.
    pub msgs_in: u64,
    /// Bytes (header + body) of those.
    pub bytes_in: u64,
    /// Messages queued to peers.
    pub msgs_out: u64,
    /// Bytes of those.
    pub bytes_out: u64,
    /// Messages dropped by protocol policy, all reasons (the `drops_*`
    /// counters break it down; SUB's topic filtering is not a drop).
    pub drops: u64,
    /// ... because a queue was full (slow peer, full receive queue).
    pub drops_queue_full: u64,
    /// ... because they exceeded `ttl-max` hops.
    pub drops_hop_limit: u64,
    /// ... because they answered an old or unknown request or survey.
    pub drops_stale: u64,
    /// ... because a raw send named no pipe or a gone/full one.
    pub drops_unroutable: u64,
    /// ... because their header was bad in a way that is dropped, not closed.
    pub drops_malformed: u64,
    /// ... because the protocol never receives (e.g. PUSH, PUB's peers' input).
    pub drops_unwanted: u64,
    /// Messages lost because the pipe they were queued on closed.
    pub lost: u64,
    /// Pipes attached.
    pub pipes_added: u64,
    /// Pipes removed.
    pub pipes_removed: u64,
    /// Pipes refused (hook, protocol, wrong peer).
    pub pipes_rejected: u64,
    /// Failed SP handshakes (bad header, timeout, wrong peer).
    pub handshake_failures: u64,
    /// Pipes closed because the peer broke the protocol or a limit.
    pub protocol_errors: u64,
    /// ... of which because a message was larger than `recv-size-max`
    /// (the pipe's close reason is [`crate::Error::MessageTooLong`]).
    pub oversized: u64,
    /// Redials made by dialers.
    pub reconnects: u64,
    /// Failed accepts of listeners (e.g. out of file descriptors); each is
    /// followed by a pause, see [`crate::transport::accept_loop`].
    pub accept_errors: u64,
}

/// Counters of one pipe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipeStats {
    /// Messages received on this pipe and taken by the protocol.
    pub msgs_in: u64,
    /// Bytes of those.
    pub bytes_in: u64,
    /// Messages queued on this pipe.
    pub msgs_out: u64,
    /// Bytes of those.
    pub bytes_out: u64,
    /// Messages evicted from this pipe's full queue (PUB's slow subscriber).
    pub evicted: u64,
}

impl Stats {
    /// Counts a message dropped by the protocol, and why.
    pub(crate) fn count_drop(&mut self, why: DropReason) {
        self.drops += 1;
        match why {
            DropReason::QueueFull => self.drops_queue_full += 1,
            DropReason::HopLimit => self.drops_hop_limit += 1,
            DropReason::Stale => self.drops_stale += 1,
            DropReason::Unroutable => self.drops_unroutable += 1,
            DropReason::Malformed => self.drops_malformed += 1,
            DropReason::Unwanted => self.drops_unwanted += 1,
        }
    }
}

/// Why a protocol dropped a message (counted in [`crate::Stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// A queue was full (a slow subscriber, a full receive queue).
    QueueFull,
    /// More hops than `ttl-max`.
    HopLimit,
    /// A reply or response for an old, finished or unknown request or survey.
    Stale,
    /// A raw send naming no pipe, or a pipe that is gone or full.
    Unroutable,
    /// A header this protocol drops rather than closing the pipe for.
    Malformed,
    /// A message this protocol never receives (e.g. anything sent to PUSH).
    Unwanted,
}
