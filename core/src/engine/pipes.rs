//! Pipe lifecycle: a pipe joins the socket (protocol check, the hook's
//! `AddPre` veto, the machine's consent) and leaves it (the machine is told,
//! what was still queued is counted as lost, the hook hears `RemPost` with
//! the reason).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::task::Waker;

use portable_atomic::{AtomicU32, Ordering};
use portable_atomic_util::task::Wake;

use super::inbound::PUMP_TURN;
use super::Core;
use crate::chan::Chan;
use crate::pipe::TlsFacts;
use crate::proto::{PipeTx, Pipes, Wakes};
use crate::sync::{Arc, Weak};
use crate::vecmap::VecMap;
use crate::{Error, PipeEvent, PipeId, PipeInfo, PipeStats, ProtocolError, Runtime};

type HookFn = dyn Fn(PipeEvent, &PipeInfo) -> bool + Send + Sync;
/// The application's pipe-event hook.
pub(crate) struct Hook(pub(crate) Box<HookFn>);
/// Run once when a pipe (or a socket) closes.
pub(crate) type OnClose = Box<dyn FnOnce() + Send>;

static NEXT_PIPE: AtomicU32 = AtomicU32::new(1);

/// One pipe as the socket holds it.
pub(crate) struct PipeSlot {
    pub(crate) info: PipeInfo,
    pub(crate) tx: Arc<Chan>,
    pub(crate) rx: Arc<Chan>,
    pub(crate) refill: Waker,
    pub(crate) stats: PipeStats,
    pub(crate) pump: Waker,
    on_close: Option<OnClose>,
}

/// The machine's window on the pipe table.
pub(super) struct Table<'a>(pub(super) &'a mut VecMap<PipeId, PipeSlot>);

impl Pipes for Table<'_> {
    fn tx(&mut self, p: PipeId) -> Option<PipeTx<'_>> {
        self.0.get_mut(&p).map(|s| PipeTx {
            chan: &s.tx,
            refill: &s.refill,
            stats: &mut s.stats,
        })
    }
}

/// Runs the socket's pump for a pipe that received messages.
struct PumpWake<R: Runtime> {
    core: Weak<Core<R>>,
    pipe: PipeId,
    rx: Arc<Chan>,
}

impl<R: Runtime> Wake for PumpWake<R> {
    fn wake(this: Arc<Self>) {
        Self::wake_by_ref(&this);
    }
    fn wake_by_ref(this: &Arc<Self>) {
        if let Some(core) = this.core.upgrade() {
            let me = Waker::from(this.clone());
            if core
                .pump(this.pipe, &this.rx, &me, PUMP_TURN, false)
                .yielded
            {
                core.unblock();
            }
        }
    }
}

/// Tells the machine that a pipe's full outgoing queue has room.
struct RefillWake<R: Runtime> {
    core: Weak<Core<R>>,
    pipe: PipeId,
}

impl<R: Runtime> Wake for RefillWake<R> {
    fn wake(this: Arc<Self>) {
        Self::wake_by_ref(&this);
    }
    fn wake_by_ref(this: &Arc<Self>) {
        if let Some(core) = this.core.upgrade() {
            core.refill(this.pipe);
        }
    }
}

impl<R: Runtime> Core<R> {
    /// Joins a pipe made of two channels to the socket.
    pub(crate) fn attach(
        &self,
        peer: u16,
        url: &str,
        dialed: bool,
        (tx, rx): (Arc<Chan>, Arc<Chan>),
        on_close: Option<OnClose>,
        tls: TlsFacts,
    ) -> Result<PipeId, Error> {
        let expected = self.proto.peer_number();
        if peer != expected {
            self.count(|s| s.pipes_rejected += 1);
            return Err(ProtocolError::PeerMismatch {
                expected,
                got: peer,
            }
            .into());
        }
        let (id, hook) = self.st.lock(|st| {
            if st.closed {
                return Err(Error::Closed);
            }
            loop {
                let n = NEXT_PIPE.fetch_add(1, Ordering::Relaxed) & 0x7fff_ffff;
                if n != 0 && !st.pipes.contains_key(&PipeId(n)) {
                    return Ok((PipeId(n), st.hook.clone()));
                }
            }
        })?;
        let info = PipeInfo {
            id,
            peer,
            url: url.into(),
            dialed,
            closed: None,
            #[cfg(feature = "tls")]
            tls,
        };
        #[cfg(not(feature = "tls"))]
        let crate::pipe::NoTls = tls;
        if let Some(h) = &hook {
            if !(h.0)(PipeEvent::AddPre, &info) {
                self.count(|s| s.pipes_rejected += 1);
                return Err(Error::Rejected);
            }
        }
        let weak = self.me.clone();
        let pump = Waker::from(Arc::new(PumpWake {
            core: weak.clone(),
            pipe: id,
            rx: rx.clone(),
        }));
        let refill = Waker::from(Arc::new(RefillWake {
            core: weak,
            pipe: id,
        }));
        let slot = PipeSlot {
            info: info.clone(),
            tx,
            rx: rx.clone(),
            refill,
            stats: PipeStats::default(),
            pump: pump.clone(),
            on_close,
        };
        // A refused slot is dropped after the lock is released.
        let mut refused: Option<PipeSlot> = None;
        let mut wakes = Wakes::default();
        let r = self.lock_now(|st| {
            if st.closed {
                refused = Some(slot);
                return Err(Error::Closed);
            }
            st.pipes.insert(id, slot);
            match st.call(&mut wakes, |m, io| m.add_pipe(io, id)) {
                Ok(()) => {
                    st.stats.pipes_added += 1;
                    // Popped, not drained (less code); the order of
                    // these wakes does not matter.
                    while let Some(w) = st.pipe_waiters.pop() {
                        wakes.push(w);
                    }
                    Ok(())
                }
                Err(e) => {
                    st.stats.pipes_rejected += 1;
                    refused = st.pipes.remove(&id);
                    Err(e)
                }
            }
        });
        wakes.wake_all();
        if let Err(e) = r {
            // Refused: the caller still owns the transport and closes it; the
            // on-close callback is dropped unrun (the dialer decides).
            drop(refused);
            return Err(e);
        }
        if let Some(h) = &hook {
            (h.0)(PipeEvent::AddPost, &info);
        }
        // Messages may have arrived before we were listening.
        if self.pump(id, &rx, &pump, PUMP_TURN, false).yielded {
            self.unblock();
        }
        Ok(id)
    }

    /// Removes pipe `p` because of `why` (which the hook's `RemPost` sees in
    /// [`PipeInfo::closed`]).
    pub(crate) fn remove_pipe(&self, p: PipeId, why: Error) {
        // Not `transact`: the hook hears `RemPost` before anyone is woken
        // (a woken inproc peer may redial and attach at once).
        let mut wakes = Wakes::default();
        let (slot, closes, hook) = self.lock_now(|st| {
            let Some(slot) = st.pipes.remove(&p) else {
                return (None, Vec::new(), None);
            };
            st.call(&mut wakes, |m, io| m.remove_pipe(io, p));
            st.stats.pipes_removed += 1;
            st.blocked.retain(|&q| q != p);
            // A closed socket's last pipe takes the hook with it (see close).
            let hook = if st.closed && st.pipes.is_empty() {
                st.hook.take()
            } else {
                st.hook.clone()
            };
            for w in slot.tx.close().into_iter().chain(slot.rx.close()).flatten() {
                wakes.push(w);
            }
            // What we had queued and the peer never took is lost, and counted
            // here. What the peer queued for us is the peer's to count (an
            // inproc peer counts it when it sees the closure).
            st.stats.lost += slot.tx.clear() as u64;
            (Some(slot), core::mem::take(&mut st.closes), hook)
        });
        if let Some(mut slot) = slot {
            slot.info.closed = Some(why);
            if let Some(h) = hook {
                (h.0)(PipeEvent::RemPost, &slot.info);
            }
            if let Some(f) = slot.on_close.take() {
                f();
            }
        }
        self.finish(&mut wakes, closes);
    }

    /// The live pipes.
    pub(crate) fn pipes(&self) -> Vec<PipeInfo> {
        self.st
            .lock(|st| st.pipes.values().map(|s| s.info.clone()).collect())
    }

    /// What one live pipe is.
    pub(crate) fn pipe_info(&self, p: PipeId) -> Option<PipeInfo> {
        self.st.lock(|st| st.pipes.get(&p).map(|s| s.info.clone()))
    }

    /// The counters of one live pipe.
    pub(crate) fn pipe_stats(&self, p: PipeId) -> Option<PipeStats> {
        self.st.lock(|st| st.pipes.get(&p).map(|s| s.stats))
    }

    /// Installs the hook (a closed socket keeps none). Whatever is not kept
    /// is dropped outside the lock (it may hold a socket handle).
    pub(crate) fn set_hook(&self, h: Hook) {
        let h = Arc::new(h);
        let unused = self.st.lock(|st| {
            if st.closed {
                Some(h)
            } else {
                st.hook.replace(h)
            }
        });
        drop(unused);
    }
}
