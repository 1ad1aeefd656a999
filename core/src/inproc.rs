//! `inproc://` — sockets of one program joined directly, no runtime needed.
//!
//! A connection is two bounded channels shared by the two sockets: a send
//! moves the message (no copy) into the peer's channel and runs the peer's
//! pump on the sending task, so a message goes from `send` to the peer's
//! receive queue without waking another task.
//!
//! Rules, as nng's inproc:
//! * dialing a name nobody listens on is [`Error::ConnectionRefused`] (a
//!   non-blocking dial waits for a listener instead);
//! * a second listener on a name is [`Error::AddressInUse`];
//! * a peer of the wrong protocol is refused with
//!   [`ProtocolError::PeerMismatch`].
//!
//! Redial needs no timer here: a dialer whose pipe closes reconnects at once
//! if the listener is still there, else waits until a listener appears on the
//! name (or the listener loses a pipe, which may free a PAIR slot).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use portable_atomic::{AtomicBool, Ordering};

use crate::chan::Chan;
use crate::engine::{Core, PIPE_QUEUE};
use crate::sync::{Arc, Mutex, Weak};
use crate::{Error, PipeId, ProtocolError, Runtime};

type OnClose = Box<dyn FnOnce() + Send>;

/// One side of an inproc connection: a socket, type-erased.
trait End: Send + Sync {
    fn socket_id(&self) -> u64;
    fn number(&self) -> u16;
    fn peer_number(&self) -> u16;
    fn alive(&self) -> bool;
    fn attach(
        &self,
        peer: u16,
        url: &str,
        dialed: bool,
        tx: Arc<Chan>,
        rx: Arc<Chan>,
        on_close: Option<OnClose>,
    ) -> Result<PipeId, Error>;
    fn remove(&self, p: PipeId);
    fn dup(&self) -> Box<dyn End>;
    /// Set while this dialer is connecting.
    fn busy(&self) -> Arc<AtomicBool>;
}

struct SockEnd<R: Runtime> {
    core: Weak<Core<R>>,
    id: u64,
    number: u16,
    peer: u16,
    busy: Arc<AtomicBool>,
}

impl<R: Runtime> End for SockEnd<R> {
    fn socket_id(&self) -> u64 {
        self.id
    }
    fn number(&self) -> u16 {
        self.number
    }
    fn peer_number(&self) -> u16 {
        self.peer
    }
    fn alive(&self) -> bool {
        self.core.upgrade().is_some_and(|c| !c.is_closed())
    }
    fn attach(
        &self,
        peer: u16,
        url: &str,
        dialed: bool,
        tx: Arc<Chan>,
        rx: Arc<Chan>,
        on_close: Option<OnClose>,
    ) -> Result<PipeId, Error> {
        let core = self.core.upgrade().ok_or(Error::Closed)?;
        core.attach(peer, url, dialed, (tx, rx), on_close, Default::default())
    }
    fn remove(&self, p: PipeId) {
        if let Some(c) = self.core.upgrade() {
            c.remove_pipe(p, Error::ConnectionShutdown);
        }
    }
    fn dup(&self) -> Box<dyn End> {
        Box::new(SockEnd::<R> {
            core: self.core.clone(),
            id: self.id,
            number: self.number,
            peer: self.peer,
            busy: self.busy.clone(),
        })
    }
    fn busy(&self) -> Arc<AtomicBool> {
        self.busy.clone()
    }
}

fn end_of<R: Runtime>(core: &Arc<Core<R>>) -> Box<dyn End> {
    Box::new(SockEnd::<R> {
        core: Arc::downgrade(core),
        id: core.id,
        number: core.proto.number(),
        peer: core.proto.peer_number(),
        busy: Arc::new(AtomicBool::new(false)),
    })
}

struct Registry {
    listeners: BTreeMap<String, Box<dyn End>>,
    waiting: Vec<(String, Box<dyn End>)>,
}

static REG: Mutex<Registry> = Mutex::new(Registry {
    listeners: BTreeMap::new(),
    waiting: Vec::new(),
});

pub(crate) fn listen<R: Runtime>(core: &Arc<Core<R>>, name: &str) -> Result<(), Error> {
    if core.is_closed() {
        return Err(Error::Closed);
    }
    forget_on_close(core);
    REG.lock(|r| {
        if let Some(l) = r.listeners.get(name) {
            if l.alive() {
                return Err(Error::AddressInUse);
            }
        }
        r.listeners.insert(name.into(), end_of(core));
        Ok(())
    })?;
    retry_waiting(name);
    Ok(())
}

pub(crate) fn dial<R: Runtime>(
    core: &Arc<Core<R>>,
    name: &str,
    nonblocking: bool,
) -> Result<(), Error> {
    if core.is_closed() {
        return Err(Error::Closed);
    }
    forget_on_close(core);
    let me = end_of(core);
    me.busy().store(true, Ordering::Release);
    let r = connect(&*me, name);
    me.busy().store(false, Ordering::Release);
    match r {
        Ok(()) => Ok(()),
        Err(e) if nonblocking && !matches!(e, Error::Closed) => {
            REG.lock(|r| r.waiting.push((name.into(), me)));
            // A listener may have appeared between our try and our wait.
            retry_waiting(name);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Connects dialer `d` to the listener on `name`.
fn connect(d: &dyn End, name: &str) -> Result<(), Error> {
    let l = REG
        .lock(|r| r.listeners.get(name).map(|l| l.dup()))
        .ok_or(Error::ConnectionRefused)?;
    if !l.alive() {
        return Err(Error::ConnectionRefused);
    }
    if d.peer_number() != l.number() || l.peer_number() != d.number() {
        return Err(ProtocolError::PeerMismatch {
            expected: d.peer_number(),
            got: l.number(),
        }
        .into());
    }
    let url = format!("inproc://{name}");
    // Held until both sides accepted, so neither side's queued messages flow
    // into a connection the other side then refuses.
    let d2l = Arc::new(Chan::new_held(PIPE_QUEUE));
    let l2d = Arc::new(Chan::new_held(PIPE_QUEUE));
    let lname: String = name.into();
    let l_close: OnClose = Box::new(move || retry_waiting(&lname));
    let lp = l.attach(
        d.number(),
        &url,
        false,
        l2d.clone(),
        d2l.clone(),
        Some(l_close),
    )?;
    let redial_end = d.dup();
    let dname: String = name.into();
    let d_close: OnClose = Box::new(move || redial(redial_end, dname));
    match d.attach(
        l.number(),
        &url,
        true,
        d2l.clone(),
        l2d.clone(),
        Some(d_close),
    ) {
        Ok(_) => {
            for w in [d2l.release(), l2d.release()].into_iter().flatten() {
                w.wake();
            }
            Ok(())
        }
        Err(e) => {
            l.remove(lp);
            Err(e)
        }
    }
}

/// Tries to connect `d`, unless it is already inside a connection attempt
/// (a pipe refused from a hook while connecting): then it waits for the next
/// listener event instead, so a refusing peer cannot make us recurse.
fn try_connect(d: Box<dyn End>, name: String) {
    if !d.alive() {
        return;
    }
    let busy = d.busy();
    if busy.swap(true, Ordering::AcqRel) {
        REG.lock(|r| r.waiting.push((name, d)));
        return;
    }
    let r = connect(&*d, &name);
    busy.store(false, Ordering::Release);
    if r.is_err() && d.alive() {
        REG.lock(|r| r.waiting.push((name, d)));
    }
}

/// A dialer's pipe closed: reconnect now, or wait for the listener.
fn redial(d: Box<dyn End>, name: String) {
    try_connect(d, name);
}

/// Gives every dialer waiting on `name` a try.
fn retry_waiting(name: &str) {
    let mut mine = Vec::new();
    REG.lock(|r| {
        let mut i = 0;
        while i < r.waiting.len() {
            if r.waiting[i].0 == name {
                mine.push(r.waiting.swap_remove(i));
            } else {
                i += 1;
            }
        }
    });
    for (n, d) in mine {
        try_connect(d, n);
    }
}

/// Has the socket drop its names from the registry when it closes.
fn forget_on_close<R: Runtime>(core: &Arc<Core<R>>) {
    let id = core.id;
    core.on_close("inproc", Box::new(move || forget_socket(id)));
}

/// Drops a closed socket's listeners and waiting dialers.
fn forget_socket(id: u64) {
    let dropped = REG.lock(|r| {
        let names: Vec<String> = r
            .listeners
            .iter()
            .filter(|(_, e)| e.socket_id() == id)
            .map(|(n, _)| n.clone())
            .collect();
        let mut out: Vec<Box<dyn End>> = Vec::new();
        for n in names {
            if let Some(e) = r.listeners.remove(&n) {
                out.push(e);
            }
        }
        let mut i = 0;
        while i < r.waiting.len() {
            if r.waiting[i].1.socket_id() == id {
                out.push(r.waiting.swap_remove(i).1);
            } else {
                i += 1;
            }
        }
        out
    });
    drop(dropped); // outside the registry lock
}
