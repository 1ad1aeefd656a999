//! nanosp's demo firmware on QEMU's MPS2-AN386 (an emulated Cortex-M4F with
//! a LAN9118 Ethernet controller): the services of
//! `examples/firmware-app/demo.rs` that the NUCLEO-F429ZI firmware runs (a
//! REP server on port 5555, a PUB on 5556), and a REQ client that dials
//! the host at `tcp://192.168.69.1:5557` and asks `"ping <n>"` until it has
//! had three replies, printing each reply on the console; and the same on
//! the lean path (`nanosp_embassy::solo`), asking `"lean <n>"` at
//! `tcp://192.168.69.1:5558`.
//!
//! `tools/qemu-test.sh` boots it with its Ethernet on a TAP device in a
//! network namespace of its own and checks all three against nngcat.
//! Without a network: `cargo run --release` (from this folder) boots it in
//! QEMU with the console on stdio.
#![no_std]
#![no_main]

extern crate alloc;

#[path = "../board.rs"]
mod board;
#[path = "../../../firmware-app/demo.rs"]
mod demo;

use embassy_executor::Spawner;
use embassy_net::IpEndpoint;
use embassy_time::Timer;
use nanosp_core::{Message, Protocol};
use nanosp_embassy::{dial, EmbassyRuntime, Socket, TcpBuffers};

/// The host's REP listener the REQ client dials.
const HOST_REP_PORT: u16 = 5557;
/// The host's REP listener the lean-path REQ client dials.
const HOST_LEAN_REP_PORT: u16 = 5558;

/// The same asker on the lean path (`nanosp_embassy::solo`): one
/// connection, driven by this task, redialed with back-off until the host
/// listens.
#[embassy_executor::task]
async fn lean_asker(stack: embassy_net::Stack<'static>) {
    use nanosp_core::Error;
    use nanosp_embassy::solo::{self, Solo};
    static BUFS: static_cell::StaticCell<[[u8; 2048]; 2]> = static_cell::StaticCell::new();
    let [rx, tx] = BUFS.init([[0; 2048]; 2]);
    let mut req = Solo::new(Protocol::Req0, EmbassyRuntime);
    let ep = IpEndpoint::new(board::HOST.into(), HOST_LEAN_REP_PORT);
    let mut n = 0u32;
    solo::dial(&mut req, stack, ep, TcpBuffers { rx, tx }, async |conn| {
        while n < 3 {
            let question = alloc::format!("lean {n}");
            if let Err(e) = conn.send(Message::from(question.as_str())).await {
                return e.error;
            }
            match conn.recv().await {
                Ok(reply) => {
                    match core::str::from_utf8(reply.body()) {
                        Ok(text) => println!("lean reply {n}: {text}"),
                        Err(_) => println!("lean reply {n}: not UTF-8"),
                    }
                    n += 1;
                }
                Err(e) => {
                    println!("lean request {n} failed: {e}");
                    if conn.error().is_some() {
                        return e;
                    }
                }
            }
        }
        Error::Closed
    })
    .await;
    println!("lean asker done");
}

#[embassy_executor::task]
async fn asker(stack: embassy_net::Stack<'static>) {
    static BUFS: static_cell::StaticCell<[[u8; 2048]; 2]> = static_cell::StaticCell::new();
    let [rx, tx] = BUFS.init([[0; 2048]; 2]);
    let req = Socket::new(Protocol::Req0, EmbassyRuntime);
    let ask = async {
        let mut n = 0u32;
        while n < 3 {
            let question = alloc::format!("ping {n}");
            if req.send(Message::from(question.as_str())).await.is_err() {
                Timer::after_millis(100).await;
                continue;
            }
            match req.recv().await {
                Ok(reply) => {
                    let body = reply.body();
                    match core::str::from_utf8(body) {
                        Ok(text) => println!("reply {n}: {text}"),
                        Err(_) => println!("reply {n}: {} bytes, not UTF-8", body.len()),
                    }
                    n += 1;
                }
                Err(e) => println!("request {n} failed: {e}"),
            }
        }
        println!("asker done");
    };
    let ep = IpEndpoint::new(board::HOST.into(), HOST_REP_PORT);
    embassy_futures::select::select(dial(&req, stack, ep, TcpBuffers { rx, tx }), ask).await;
}

#[embassy_executor::main]
async fn main(spawner: Spawner) -> ! {
    let stack = board::init(spawner).await;
    println!("nanosp firmware up at {}", board::ADDRESS);
    demo::start(spawner, stack);
    spawner.spawn(asker(stack).expect("one asker"));
    spawner.spawn(lean_asker(stack).expect("one lean asker"));
    loop {
        Timer::after_secs(3600).await;
    }
}
