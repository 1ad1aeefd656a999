//! Steady-state inproc traffic allocates nothing: a counting global allocator
//! watches 10,000 round trips after a warm-up.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::{rt, url};
use futures::executor::block_on;
use nanosp_core::{Message, Protocol, Socket};

struct Counting;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static N: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if ON.with(|c| c.get()) {
            N.with(|n| n.set(n.get() + 1));
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if ON.with(|c| c.get()) {
            N.with(|c| c.set(c.get() + 1));
        }
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn counted<T>(f: impl FnOnce() -> T) -> (T, u64) {
    N.with(|n| n.set(0));
    ON.with(|c| c.set(true));
    let t = f();
    ON.with(|c| c.set(false));
    (t, N.with(|n| n.get()))
}

fn round_trips(a: Protocol, b: Protocol, n: usize) -> u64 {
    let r = rt();
    let x = Socket::new(a, r.clone());
    let y = Socket::new(b, r);
    let u = url("alloc");
    x.listen(&u).unwrap();
    y.dial(&u).unwrap();
    let mut m = Message::from(&[7u8; 64][..]);
    let go = |m: Message, k: usize| {
        block_on(async {
            let mut m = m;
            for _ in 0..k {
                y.send(m).await.unwrap();
                m = x.recv().await.unwrap();
                x.send(m).await.unwrap();
                m = y.recv().await.unwrap();
            }
            m
        })
    };
    m = go(m, 100); // warm-up: queues and pools reach their working size
    let (m, allocs) = counted(|| go(m, n));
    assert_eq!(m.body(), [7u8; 64]);
    allocs
}

#[test]
fn pair1_round_trips_allocate_nothing() {
    let a = round_trips(Protocol::Pair1, Protocol::Pair1, 10_000);
    assert!(a <= 4, "{a} allocations in 10,000 round trips");
}

#[test]
fn pair0_round_trips_allocate_nothing() {
    let a = round_trips(Protocol::Pair0, Protocol::Pair0, 10_000);
    assert!(a <= 4, "{a} allocations in 10,000 round trips");
}

#[test]
fn push_pull_and_pub_sub_allocate_nothing() {
    for (a, b) in [
        (Protocol::Pull0, Protocol::Push0),
        (Protocol::Sub0, Protocol::Pub0),
    ] {
        let r = rt();
        let x = Socket::new(a, r.clone());
        let y = Socket::new(b, r);
        let u = url("alloc1");
        x.listen(&u).unwrap();
        y.dial(&u).unwrap();
        if a == Protocol::Sub0 {
            x.subscribe(b"").unwrap();
        }
        let go = |mut m: Message, k: usize| {
            block_on(async {
                for _ in 0..k {
                    y.send(m).await.unwrap();
                    m = x.recv().await.unwrap();
                }
                m
            })
        };
        let m = go(Message::from(&[1u8; 100][..]), 100);
        let (_, allocs) = counted(|| go(m, 10_000));
        assert!(
            allocs <= 4,
            "{a:?}: {allocs} allocations in 10,000 messages"
        );
    }
}

#[test]
fn fresh_messages_come_from_the_pool() {
    // Allocating and dropping messages of one size reuses pooled bodies.
    for _ in 0..10 {
        drop(Message::with_capacity(1000));
    }
    let (_, allocs) = counted(|| {
        for _ in 0..10_000 {
            let mut m = Message::with_capacity(1000);
            m.extend(&[1; 1000]);
            drop(m);
        }
    });
    assert!(
        allocs <= 2,
        "{allocs} allocations for 10,000 pooled messages"
    );
}

#[test]
fn the_counter_counts() {
    let (v, allocs) = counted(|| Vec::<u8>::with_capacity(10));
    drop(v);
    assert_eq!(allocs, 1);
    let (_, allocs) = counted(|| Message::from(vec![1u8; 3]));
    assert!(allocs >= 2, "a fresh Vec and its shared cell");
}

#[test]
fn pub_fan_out_to_many_subscribers_allocates_nothing() {
    let r = rt();
    let publ = Socket::new(Protocol::Pub0, r.clone());
    let u = url("fanout");
    publ.listen(&u).unwrap();
    let subs: Vec<_> = (0..20)
        .map(|_| {
            let s = Socket::new(Protocol::Sub0, r.clone());
            s.dial(&u).unwrap();
            s.subscribe(b"").unwrap();
            s
        })
        .collect();
    let mut m = Message::from(&[3u8; 32][..]);
    let mut go = |k: usize| {
        for _ in 0..k {
            publ.try_send(m.clone()).unwrap();
            for s in &subs {
                m = s.try_recv().unwrap();
            }
        }
    };
    go(50);
    let (_, allocs) = counted(|| go(1000));
    assert!(
        allocs <= 4,
        "{allocs} allocations for 1,000 sends to 20 subscribers"
    );
}
