//! Incoming messages: each pipe's *pump* moves what its transport delivered
//! into the machine on the delivering task; a pipe whose messages find no
//! room (or that had its turn) parks in `blocked` and the parked pipes then
//! take turns, oldest first, one message each, as the application makes
//! room. *Refill* tells the machine a full outgoing queue has room again.

use core::task::Waker;

use super::Core;
use crate::chan::Chan;
use crate::proto::{Delivery, Wakes};
use crate::sync::Arc;
use crate::{Error, Message, PipeId, Runtime};

/// Messages a pump hands the machine per turn before letting others in.
pub(super) const PUMP_TURN: usize = 64;

pub(super) struct Pumped {
    delivered: usize,
    pub(super) refused: bool,
    /// Parked out of turn with messages left: someone must call `unblock`.
    pub(super) yielded: bool,
}

impl<R: Runtime> Core<R> {
    /// Moves up to `limit` messages from `rx` into the machine.
    pub(super) fn pump(
        &self,
        p: PipeId,
        rx: &Arc<Chan>,
        me: &Waker,
        limit: usize,
        park_front: bool,
    ) -> Pumped {
        let mut out = Pumped {
            delivered: 0,
            refused: false,
            yielded: false,
        };
        let mut first = true;
        loop {
            let mut batch: heapless::Vec<Message, 8> = heapless::Vec::new();
            let want = limit.saturating_sub(out.delivered);
            let taken = if first {
                first = false;
                match rx.pump_start(&mut batch, want) {
                    Some(t) => t,
                    None => return out,
                }
            } else {
                rx.pump_take(&mut batch, want)
            };
            if let Some(w) = taken.wake {
                w.wake();
            }
            let mut wakes = Wakes::default();
            let mut leftovers: heapless::Vec<Message, 8> = heapless::Vec::new();
            let mut gone = false;
            let mut parked = false;
            let closes = self.lock_now(|st| {
                if !st.pipes.contains_key(&p) {
                    gone = true;
                    return core::mem::take(&mut st.closes);
                }
                // Drained by reference: moving the array would copy all of it.
                let mut it = batch.drain(..);
                let (mut n_in, mut b_in) = (0u64, 0u64);
                while let Some(mut m) = it.next() {
                    let len = m.len() as u64;
                    m.set_pipe(Some(p));
                    match st.call(&mut wakes, |mch, io| mch.pipe_recv(io, p, m)) {
                        Delivery::Taken => {
                            out.delivered += 1;
                            n_in += 1;
                            b_in += len;
                        }
                        Delivery::Full(m) => {
                            let _ = leftovers.push(m);
                            for m in it.by_ref() {
                                let _ = leftovers.push(m);
                            }
                            out.refused = true;
                            parked = true;
                            break;
                        }
                        Delivery::Close(e) => {
                            st.stats.protocol_errors += 1;
                            st.closes.push((p, e));
                            gone = true;
                            break;
                        }
                    }
                }
                drop(it);
                st.stats.msgs_in += n_in;
                st.stats.bytes_in += b_in;
                if let Some(slot) = st.pipes.get_mut(&p) {
                    slot.stats.msgs_in += n_in;
                    slot.stats.bytes_in += b_in;
                }
                if !parked && !gone && out.delivered >= limit && rx.len() > 0 {
                    parked = true; // out of turn: others go first
                    out.yielded = true;
                }
                if parked && !st.blocked.contains(&p) {
                    if park_front && out.refused {
                        st.blocked.push_front(p);
                    } else {
                        st.blocked.push_back(p);
                    }
                }
                core::mem::take(&mut st.closes)
            });
            if !leftovers.is_empty() {
                rx.unpop(leftovers.drain(..));
            }
            self.finish(&mut wakes, closes);
            if gone {
                rx.pump_abort();
                return out;
            }
            if taken.closed {
                rx.pump_abort();
                self.remove_pipe(p, Error::ConnectionShutdown);
                return out;
            }
            if !rx.pump_end(parked, me) {
                return out;
            }
        }
    }

    /// A pipe's outgoing queue has room (or closed).
    pub(super) fn refill(&self, p: PipeId) {
        let dead = self.transact(|st, wakes| match st.pipes.get(&p) {
            None => false,
            Some(s) if s.tx.is_closed() => true,
            Some(_) => {
                st.call(wakes, |m, io| m.pipe_writable(io, p));
                false
            }
        });
        if dead {
            self.remove_pipe(p, Error::ConnectionShutdown);
        }
    }

    /// Lets parked pipes deliver, oldest first, one message each per round
    /// (a pipe parked alone takes a whole turn at once).
    pub(super) fn unblock(&self) {
        loop {
            let next = self.st.lock(|st| {
                while let Some(p) = st.blocked.pop_front() {
                    if let Some(s) = st.pipes.get(&p) {
                        let turn = if st.blocked.is_empty() { PUMP_TURN } else { 1 };
                        return Some((p, s.rx.clone(), s.pump.clone(), turn));
                    }
                }
                None
            });
            let Some((p, rx, w, turn)) = next else { return };
            let r = self.pump(p, &rx, &w, turn, true);
            if r.refused {
                return;
            }
        }
    }
}
