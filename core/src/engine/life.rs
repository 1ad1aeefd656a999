//! The socket's life: closing (now, or after a linger), and waiting for it
//! to close, for its queues to drain, or for its pipes to attach.

use alloc::vec::Vec;
use core::task::{Context, Poll};

use super::{park, Core, OnClose};
use crate::{Error, PipeId, Runtime};

impl<R: Runtime> Core<R> {
    /// Closes the socket: every pipe goes (reason [`Error::Closed`]), every
    /// waiting operation wakes to [`Error::Closed`], the close callbacks run.
    pub(crate) fn close(&self) {
        let r = self.st.lock(|st| {
            if st.closed {
                return None;
            }
            st.closed = true;
            let pipes: Vec<PipeId> = st.pipes.keys().copied().collect();
            let mut w = core::mem::take(&mut st.close_waiters);
            w.append(&mut st.pipe_waiters);
            w.extend(st.timer_waker.take());
            // Popped, not drained: `VecDeque::drain`'s code is a kilobyte
            // of the browser package.
            while let Some(x) = st.recv_waiters.pop_front() {
                w.extend(x.waker);
            }
            while let Some((_, k)) = st.send_waiters.pop() {
                w.push(k);
            }
            // The hook goes with the last pipe (remove_pipe), or now if there
            // is none: it may hold a clone of this socket (the nng idiom of a
            // hook that closes pipes), a cycle that would never be freed.
            // Dropped outside the lock, since that may close a socket.
            let hook = if pipes.is_empty() {
                st.hook.take()
            } else {
                None
            };
            let callbacks = core::mem::take(&mut st.on_close);
            Some((pipes, w, hook, callbacks))
        });
        let Some((pipes, waiters, hook, callbacks)) = r else {
            return;
        };
        drop(hook);
        for (_, f) in callbacks {
            f();
        }
        for p in pipes {
            self.remove_pipe(p, Error::Closed);
        }
        for w in waiters {
            w.wake();
        }
    }

    /// Runs `f` when the socket closes (at once if it is closed); one
    /// callback per `key` (a transport registers itself once).
    #[cfg_attr(not(feature = "inproc"), allow(dead_code))] // inproc's, today
    pub(crate) fn on_close(&self, key: &'static str, f: OnClose) {
        let run_now = self.st.lock(|st| {
            if st.closed {
                return Some(f);
            }
            if !st.on_close.iter().any(|(k, _)| *k == key) {
                st.on_close.push((key, f));
            }
            None
        });
        if let Some(f) = run_now {
            f();
        }
    }

    pub(crate) fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.st.lock(|st| {
            if st.closed {
                Poll::Ready(())
            } else {
                park(&mut st.close_waiters, cx.waker());
                Poll::Pending
            }
        })
    }

    /// Ready once every pipe's queue has been written (or the pipe closed).
    pub(crate) fn poll_flushed(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.st.lock(|st| {
            for s in st.pipes.values() {
                if s.tx.poll_flushed(cx).is_pending() {
                    return Poll::Pending;
                }
            }
            Poll::Ready(())
        })
    }

    /// Ready once `n` pipes are attached; [`Error::Closed`] if the socket is.
    pub(crate) fn poll_pipes(&self, cx: &mut Context<'_>, n: usize) -> Poll<Result<(), Error>> {
        self.st.lock(|st| {
            if st.closed {
                Poll::Ready(Err(Error::Closed))
            } else if st.pipes.len() >= n {
                Poll::Ready(Ok(()))
            } else {
                park(&mut st.pipe_waiters, cx.waker());
                Poll::Pending
            }
        })
    }
}
