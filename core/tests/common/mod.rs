//! Shared helpers for the socket tests: a local executor and virtual time.
#![allow(dead_code)]

use std::future::Future;

use futures::executor::{LocalPool, LocalSpawner};
use futures::task::LocalSpawnExt;
use nanosp_core::transport::Spawner;
use nanosp_core::{testing::VirtualRuntime, Protocol, Socket};

pub struct Local(pub LocalSpawner);

impl Spawner for Local {
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, f: F) {
        self.0.spawn_local(f).expect("spawn");
    }
}

pub fn rt() -> VirtualRuntime {
    VirtualRuntime::new(42)
}

pub fn pool() -> (LocalPool, Local) {
    let p = LocalPool::new();
    let s = Local(p.spawner());
    (p, s)
}

/// A unique inproc URL per call, so parallel tests never share a name.
pub fn url(tag: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("inproc://{tag}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Socket `a` listening and socket `b` dialing on a fresh inproc name.
pub fn linked(
    a: Protocol,
    b: Protocol,
    tag: &str,
) -> (Socket<VirtualRuntime>, Socket<VirtualRuntime>) {
    let r = rt();
    let x = Socket::new(a, r.clone());
    let y = Socket::new(b, r);
    let u = url(tag);
    x.listen(&u).unwrap();
    y.dial(&u).unwrap();
    (x, y)
}
