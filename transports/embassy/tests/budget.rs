//! RAM budgets of nanosp on a microcontroller, measured on the host with a
//! counting allocator (the heap use is the same code on thumbv7em; pointer
//! sizes differ, so the firmware needs at most these figures). Printed for
//! the README and bounded so growth fails the test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use embedded_io_async::{Read, Write};
use futures::executor::block_on;
use futures::join;
use nanosp_core::frame::Framing;
use nanosp_core::stream::{establish_with, StreamConfig};
use nanosp_core::testing::duplex;
use nanosp_core::{testing::VirtualRuntime, Message, Protocol, Socket};

struct Counting;
thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static BYTES: Cell<i64> = const { Cell::new(0) };
}
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if ON.with(|c| c.get()) {
            BYTES.with(|b| b.set(b.get() + l.size() as i64));
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if ON.with(|c| c.get()) {
            BYTES.with(|b| b.set(b.get() - l.size() as i64));
        }
        unsafe { System.dealloc(p, l) }
    }
}
#[global_allocator]
static A: Counting = Counting;

fn live_bytes<T>(f: impl FnOnce() -> T) -> (T, i64) {
    BYTES.with(|b| b.set(0));
    ON.with(|c| c.set(true));
    let t = f();
    ON.with(|c| c.set(false));
    (t, BYTES.with(|b| b.get()))
}

#[test]
fn ram_per_socket_pipe_and_message() {
    let rt = VirtualRuntime::new(1);
    let (sock, socket_bytes) = live_bytes(|| Socket::new(Protocol::Rep0, rt.clone()));
    let (a, b) = duplex(4096);
    let (ar, aw) = a.split();
    let (mut br, mut bw) = b.split();
    let sref = sock.transport_ref();
    let (pipe, pipe_bytes) = live_bytes(|| {
        block_on(async {
            let peer = async {
                bw.write_all(&[0, b'S', b'P', 0, 0, 0x30, 0, 0])
                    .await
                    .unwrap();
                let mut h = [0u8; 8];
                br.read_exact(&mut h).await.unwrap();
            };
            let cfg = StreamConfig::small(Framing::Tcp);
            let (p, ()) = join!(establish_with(&sref, ar, aw, cfg, "mem://", false), peer);
            p.unwrap()
        })
    });
    // nanosp-embassy runs a pipe as a boxed future (its state machine out
    // of the firmware's main task, see `boxed`): that box is pipe memory too.
    let (pipe, run_bytes) = live_bytes(|| Box::pin(pipe.run()));
    let pipe_bytes = pipe_bytes + run_bytes;
    let (msg, msg_bytes) = live_bytes(|| Message::from(&[7u8; 64][..]));
    println!("| what | heap bytes |");
    println!("|---|---|");
    println!("| a socket (REP) | {socket_bytes} |");
    println!("| a TCP pipe (small buffers, queues empty), running | {pipe_bytes} (of which its future {run_bytes}) |");
    println!("| a 64-byte message in flight | {msg_bytes} |");
    println!(
        "| each queued message slot (inline) | {} |",
        std::mem::size_of::<Message>()
    );
    // Issue 14's budgets: a socket at most 1 KiB, a pipe at most 4 KiB
    // beyond the TCP buffers the caller passes (its queues are allocated on
    // first use, so an idle pipe holds none).
    assert!(socket_bytes <= 1024, "socket: {socket_bytes}");
    assert!(pipe_bytes <= 4096, "pipe: {pipe_bytes}");
    assert!(msg_bytes <= 64 + 64, "message: {msg_bytes}");
    drop((pipe, msg));
}

/// The same budgets on the lean path ([`nanosp_core::solo`]): a `Solo`
/// socket and one attached connection with the firmware's buffers
/// (`nanosp_embassy::solo`'s: 512-byte reads, 1 KiB gathered writes).
#[test]
fn ram_of_a_solo_socket_and_connection() {
    use nanosp_core::solo::Solo;
    let rt = VirtualRuntime::new(1);
    let (mut sock, socket_bytes) = live_bytes(|| Solo::new(Protocol::Req0, rt.clone()));
    let (a, b) = duplex(4096);
    let (ar, aw) = a.split();
    let (mut br, mut bw) = b.split();
    let (conn, conn_bytes) = live_bytes(|| {
        block_on(async {
            let peer = async {
                bw.write_all(&[0, b'S', b'P', 0, 0, 0x31, 0, 0])
                    .await
                    .unwrap();
                let mut h = [0u8; 8];
                br.read_exact(&mut h).await.unwrap();
            };
            let cfg = StreamConfig {
                flush: false,
                ..StreamConfig::small(Framing::Tcp)
            };
            let (c, ()) = join!(sock.attach(ar, aw, cfg), peer);
            c.unwrap()
        })
    });
    println!("| a Solo socket (REQ) | {socket_bytes} |");
    println!("| its connection (small buffers), attached | {conn_bytes} |");
    assert!(socket_bytes <= 1024, "socket: {socket_bytes}");
    assert!(conn_bytes <= 4096, "connection: {conn_bytes}");
    drop(conn);
}
