//! A pipe's one direction: a bounded queue of messages between a producer and
//! a consumer, each of which is either a task (a transport's reader or writer)
//! or a socket (woken through a waker that runs the socket's pump or refill
//! synchronously). An inproc pipe is two of these shared by two sockets.
//!
//! Wakers are handed back to the caller instead of being woken under the lock,
//! so a caller can wake them after releasing its own locks (lock order:
//! socket → channel, never the other way).

use alloc::collections::VecDeque;
use core::task::{Context, Poll, Waker};

use portable_atomic::{AtomicBool, Ordering};

use crate::sync::Mutex;
use crate::Message;

pub(crate) struct Chan {
    st: Mutex<State>,
    /// A task consumer popped messages and has not said it wrote them.
    /// Outside the lock: the writer clears it after every write, and takes
    /// the lock only when someone waits for the flush (linger).
    busy: AtomicBool,
    flush_wanted: AtomicBool,
    /// The pipe delivered messages since a direct writer last wrote an
    /// answer (see [`crate::ready::ReadyWriter`]).
    answered: AtomicBool,
}

struct State {
    q: VecDeque<Message>,
    cap: usize,
    closed: bool,
    /// The consumer waits for a message or for closure.
    rx_waker: Option<Waker>,
    /// The producer waits for room or for closure.
    tx_waker: Option<Waker>,
    /// A socket consumer is inside its pump loop.
    pumping: bool,
    /// Something arrived (or the channel closed) while pumping: go round once more.
    again: bool,
    /// Held: pushes are refused until released (a connection being set up).
    held: bool,
    /// Someone waits only for closure (a transport stuck in a write).
    close_waker: Option<Waker>,
    /// A socket consumer that parked (its socket had no room): pushes do
    /// not wake it (it waits its turn), but closure does, so a dead pipe is
    /// removed at once rather than at the application's next receive.
    park_waker: Option<Waker>,
    /// Someone waits until everything queued was written (linger).
    flush_waker: Option<Waker>,
}

/// Outcome of a pop.
pub(crate) struct Taken {
    pub closed: bool,
    pub wake: Option<Waker>,
}

impl Chan {
    pub(crate) fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        Chan {
            st: Mutex::new(State {
                // Allocated on first use: an idle pipe holds no queue memory.
                q: VecDeque::new(),
                cap,
                closed: false,
                rx_waker: None,
                tx_waker: None,
                pumping: false,
                again: false,
                held: false,
                close_waker: None,
                park_waker: None,
                flush_waker: None,
            }),
            busy: AtomicBool::new(false),
            flush_wanted: AtomicBool::new(false),
            answered: AtomicBool::new(false),
        }
    }

    /// A channel that refuses pushes until [`Chan::release`].
    #[cfg(feature = "inproc")]
    pub(crate) fn new_held(cap: usize) -> Self {
        let c = Chan::new(cap);
        c.st.lock(|s| s.held = true);
        c
    }

    /// Lets pushes in; returns the producer's waker to wake.
    #[cfg(feature = "inproc")]
    pub(crate) fn release(&self) -> Option<Waker> {
        self.st.lock(|s| {
            s.held = false;
            s.tx_waker.take()
        })
    }

    /// Pushes if there is room; else registers `refill` (if given) to be woken
    /// when there is, and hands the message back. On success returns the
    /// consumer's waker to wake.
    pub(crate) fn try_push(
        &self,
        m: Message,
        refill: Option<&Waker>,
    ) -> Result<Option<Waker>, Message> {
        self.st.lock(|s| {
            if s.closed {
                return Err(m);
            }
            if s.q.len() >= s.cap || s.held {
                if let Some(w) = refill {
                    s.tx_waker = Some(w.clone());
                }
                return Err(m);
            }
            s.q.push_back(m);
            Ok(s.notify_consumer())
        })
    }

    /// Pushes, evicting the oldest queued message when full (PUB's policy).
    /// Returns the evicted message (or `m` itself if closed) and the waker.
    pub(crate) fn push_evict(&self, m: Message) -> (Option<Message>, Option<Waker>) {
        self.st.lock(|s| {
            if s.closed || s.held {
                return (Some(m), None);
            }
            let old = if s.q.len() >= s.cap {
                s.q.pop_front()
            } else {
                None
            };
            s.q.push_back(m);
            (old, s.notify_consumer())
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.st.lock(|s| s.q.len())
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.st.lock(|s| s.closed)
    }

    pub(crate) fn set_capacity(&self, cap: usize) {
        self.st.lock(|s| s.cap = cap.max(1));
    }

    /// Closes; returns every waker so both sides learn of it.
    pub(crate) fn close(&self) -> [Option<Waker>; 5] {
        self.st.lock(|s| {
            s.closed = true;
            if s.pumping {
                s.again = true;
            }
            [
                s.rx_waker.take(),
                s.tx_waker.take(),
                s.close_waker.take(),
                s.park_waker.take(),
                s.flush_waker.take(),
            ]
        })
    }

    /// Completes once everything queued has been taken and written (a task
    /// consumer reports writes with [`Chan::written`]), or the channel closed.
    pub(crate) fn poll_flushed(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.st.lock(|s| {
            // Announced before `busy` is read: a writer finishing now sees it.
            self.flush_wanted.store(true, Ordering::SeqCst);
            if s.closed || (s.q.is_empty() && !self.busy.load(Ordering::SeqCst)) {
                Poll::Ready(())
            } else {
                s.flush_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    }

    /// On a pipe's outgoing queue: the pipe has just delivered messages,
    /// so the next one queued answers them (only pipe drivers with `std`
    /// say so).
    #[cfg_attr(
        not(all(feature = "std", not(target_family = "wasm"))),
        allow(dead_code)
    )]
    pub(crate) fn answered(&self) {
        self.answered.store(true, Ordering::Release);
    }

    /// Takes the flag [`Chan::answered`] raised.
    pub(crate) fn take_answered(&self) -> bool {
        self.answered.swap(false, Ordering::AcqRel)
    }

    /// Task consumer: what it popped last has been written.
    pub(crate) fn written(&self) {
        self.busy.store(false, Ordering::SeqCst);
        if !self.flush_wanted.load(Ordering::SeqCst) {
            return;
        }
        let w = self.st.lock(|s| {
            if s.q.is_empty() {
                s.flush_waker.take()
            } else {
                None
            }
        });
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Completes once the channel is closed.
    pub(crate) fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.st.lock(|s| {
            if s.closed {
                Poll::Ready(())
            } else {
                s.close_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    }

    /// Takes everything queued (the consumer writes it at once, without
    /// waiting to be woken). True if a producer waited for room.
    pub(crate) fn take_all(&self, out: &mut VecDeque<Message>) -> bool {
        self.st.lock(|s| {
            while let Some(m) = s.q.pop_front() {
                out.push_back(m);
            }
            s.tx_waker.take().is_some()
        })
    }

    /// Drops everything queued (after the pipe closed).
    pub(crate) fn clear(&self) -> usize {
        let q = self.st.lock(|s| core::mem::take(&mut s.q));
        q.len()
    }

    // ---- task side -------------------------------------------------------

    /// Task producer: pushes messages from the front of `msgs` while there is
    /// room (one lock and one wake for all of them); waits for room while any
    /// are left.
    pub(crate) fn poll_push_many(
        &self,
        cx: &mut Context<'_>,
        msgs: &mut VecDeque<Message>,
    ) -> Poll<Result<(), ()>> {
        let (r, w) = self.st.lock(|s| {
            if s.closed {
                return (Poll::Ready(Err(())), None);
            }
            let room = if s.held {
                0
            } else {
                s.cap.saturating_sub(s.q.len())
            };
            let n = room.min(msgs.len());
            // One message at a time, not `drain`/`extend`: their code is
            // larger (flash), and a batch is a few messages.
            for _ in 0..n {
                if let Some(m) = msgs.pop_front() {
                    s.q.push_back(m);
                }
            }
            let w = if n > 0 { s.notify_consumer() } else { None };
            if msgs.is_empty() {
                (Poll::Ready(Ok(())), w)
            } else {
                s.tx_waker = Some(cx.waker().clone());
                (Poll::Pending, w)
            }
        });
        if let Some(w) = w {
            w.wake();
        }
        r
    }

    /// Task producer: completes once the consumer has taken everything
    /// queued (or the channel closed). A socket consumer has taken a message
    /// only when its pump is over: until then the message may still be
    /// refused and put back.
    pub(crate) fn poll_drained(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.st.lock(|s| {
            if s.closed || (s.q.is_empty() && !s.pumping) {
                Poll::Ready(())
            } else {
                s.tx_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    }

    /// Task consumer: take messages until they hold `max_bytes` (at least
    /// one), or wait. `Err` once closed and drained.
    pub(crate) fn poll_pop(
        &self,
        cx: &mut Context<'_>,
        out: &mut VecDeque<Message>,
        max_bytes: usize,
    ) -> Poll<Result<(), ()>> {
        let (r, w) = self.pop_or_park(cx.waker(), out, max_bytes);
        if let Some(w) = w {
            w.wake();
        }
        r
    }

    /// [`Chan::poll_pop`] parking `park` rather than a task's own waker,
    /// and handing back the producer's waker (room again) instead of
    /// waking it: the readiness writer ([`crate::ready`]) wakes it once
    /// its own lock is released.
    pub(crate) fn pop_or_park(
        &self,
        park: &Waker,
        out: &mut VecDeque<Message>,
        max_bytes: usize,
    ) -> (Poll<Result<(), ()>>, Option<Waker>) {
        self.st.lock(|s| {
            if s.closed {
                return (Poll::Ready(Err(())), None);
            }
            if s.q.is_empty() {
                if !s.rx_waker.as_ref().is_some_and(|w| w.will_wake(park)) {
                    s.rx_waker = Some(park.clone());
                }
                return (Poll::Pending, None);
            }
            // Firmware and wasm pipes pass no bound (see the pipe driver's
            // writer): they take everything.
            #[cfg(all(feature = "std", not(target_family = "wasm")))]
            {
                let mut bytes = 0;
                while bytes < max_bytes {
                    let Some(m) = s.q.pop_front() else { break };
                    bytes += m.len();
                    out.push_back(m);
                }
            }
            #[cfg(not(all(feature = "std", not(target_family = "wasm"))))]
            {
                for _ in 0..s.q.len().min(max_bytes) {
                    if let Some(m) = s.q.pop_front() {
                        out.push_back(m);
                    }
                }
            }
            self.busy.store(true, Ordering::Relaxed);
            (Poll::Ready(Ok(())), s.tx_waker.take())
        })
    }

    // ---- socket-consumer side (the pump) ----------------------------------

    /// Enters the pump and takes up to `max` messages; `None` if another
    /// pump is running (it will go round again).
    pub(crate) fn pump_start<const N: usize>(
        &self,
        out: &mut heapless::Vec<Message, N>,
        max: usize,
    ) -> Option<Taken> {
        self.st.lock(|s| {
            if s.pumping {
                s.again = true;
                return None;
            }
            s.pumping = true;
            s.again = false;
            Some(s.take(out, max))
        })
    }

    /// Enters the pump; false if another pump is running (it will go round again).
    #[allow(dead_code)]
    pub(crate) fn pump_begin(&self) -> bool {
        self.st.lock(|s| {
            if s.pumping {
                s.again = true;
                false
            } else {
                s.pumping = true;
                s.again = false;
                true
            }
        })
    }

    /// Takes up to `max` messages for the pump.
    pub(crate) fn pump_take<const N: usize>(
        &self,
        out: &mut heapless::Vec<Message, N>,
        max: usize,
    ) -> Taken {
        self.st.lock(|s| s.take(out, max))
    }

    /// Puts messages the socket refused back at the front, in order.
    pub(crate) fn unpop<I: DoubleEndedIterator<Item = Message>>(&self, msgs: I) {
        self.st.lock(|s| {
            for m in msgs.rev() {
                s.q.push_front(m);
            }
        })
    }

    /// Leaves the pump. When not `parked` (refused or out of turn) and the queue
    /// is empty, registers `waker` for the next push. Returns true if the pump
    /// must go round again.
    pub(crate) fn pump_end(&self, parked: bool, waker: &Waker) -> bool {
        let drained = self.st.lock(|s| {
            if s.again {
                s.again = false;
                return Err(());
            }
            if !parked {
                if !s.q.is_empty() || s.closed {
                    return Err(());
                }
                s.rx_waker = Some(waker.clone());
                s.park_waker = None;
            } else if s.closed && s.q.is_empty() {
                return Err(()); // nothing left to deliver: go round to see the end
            } else {
                s.park_waker = Some(waker.clone());
            }
            s.pumping = false;
            Ok(s.drained_waker())
        });
        match drained {
            Err(()) => true,
            Ok(w) => {
                if let Some(w) = w {
                    w.wake();
                }
                false
            }
        }
    }

    /// Leaves the pump for good (the pipe is gone).
    pub(crate) fn pump_abort(&self) {
        let w = self.st.lock(|s| {
            s.pumping = false;
            s.again = false;
            s.drained_waker()
        });
        if let Some(w) = w {
            w.wake();
        }
    }
}

impl State {
    fn take<const N: usize>(&mut self, out: &mut heapless::Vec<Message, N>, max: usize) -> Taken {
        let n = self.q.len().min(max).min(N - out.len());
        for _ in 0..n {
            if let Some(m) = self.q.pop_front() {
                let _ = out.push(m);
            }
        }
        Taken {
            closed: self.closed && self.q.is_empty(),
            wake: if n > 0 { self.tx_waker.take() } else { None },
        }
    }

    /// The producer's waker once a pump left nothing behind: a producer
    /// waiting in [`Chan::poll_drained`] learns the socket took it all.
    fn drained_waker(&mut self) -> Option<Waker> {
        if self.q.is_empty() {
            self.tx_waker.take()
        } else {
            None
        }
    }

    fn notify_consumer(&mut self) -> Option<Waker> {
        if self.pumping {
            self.again = true;
            None
        } else {
            self.rx_waker.take()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader whose peer has gone waits in `poll_drained` before the pipe
    /// closes. A message the pump has taken but not yet handed over (it may
    /// be refused and put back) is not drained: closing then would lose it.
    #[test]
    fn drained_waits_for_the_pump_to_hand_over() {
        let c = Chan::new(4);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(c.try_push(Message::from("last"), None).is_ok());
        let mut batch: heapless::Vec<Message, 8> = heapless::Vec::new();
        assert!(c.pump_start(&mut batch, 8).is_some());
        assert!(
            c.poll_drained(&mut cx).is_pending(),
            "taken, not handed over"
        );
        // The socket had no room: back it goes, and the pump parks.
        c.unpop(batch.drain(..));
        assert!(!c.pump_end(true, Waker::noop()));
        assert!(c.poll_drained(&mut cx).is_pending(), "put back");
        // Its turn comes: the machine takes it.
        assert!(c.pump_start(&mut batch, 1).is_some());
        assert_eq!(batch.len(), 1);
        assert!(!c.pump_end(false, Waker::noop()));
        assert!(c.poll_drained(&mut cx).is_ready());
    }
}
