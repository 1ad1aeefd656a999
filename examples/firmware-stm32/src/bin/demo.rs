//! nanosp on a NUCLEO-F429ZI (STM32F429ZI, on-board LAN8742A PHY over RMII).
//!
//! * a REP server on `tcp://192.168.1.50:5555` that answers each request
//!   with `"ok: "` + the request;
//! * a PUB on `tcp://192.168.1.50:5556` publishing `"counter <n>"` every
//!   second.
//!
//! From a PC on the same network: `nngcat --req0 --dial tcp://192.168.1.50:5555 --data hi -A`
//! and `nngcat --sub0 --dial tcp://192.168.1.50:5556 --subscribe counter -A`.
//! Flash with `cargo run --release --bin nanosp-firmware-stm32` (probe-rs).
#![no_std]
#![no_main]

#[path = "../board.rs"]
mod board;

use defmt::{info, unwrap};
use embassy_executor::Spawner;
use embassy_net::Stack;
use embassy_time::Timer;
use nanosp_core::{Message, Protocol, SockOpt};
use nanosp_embassy::{listen, EmbassyRuntime, Socket, TcpBuffers};
use static_cell::StaticCell;
use {defmt_rtt as _, panic_probe as _};

/// Four TCP connections of 2 KiB receive + 2 KiB transmit for each server.
fn slots(store: &'static mut [[u8; 2048]; 8]) -> [TcpBuffers<'static>; 4] {
    let mut it = store.iter_mut();
    core::array::from_fn(|_| TcpBuffers {
        rx: it.next().expect("8 buffers"),
        tx: it.next().expect("8 buffers"),
    })
}

#[embassy_executor::task]
async fn rep_server(stack: Stack<'static>, bufs: &'static mut [TcpBuffers<'static>]) {
    let rep = Socket::new(Protocol::Rep0, EmbassyRuntime);
    unwrap!(rep.set_opt(SockOpt::RecvMaxSize(4096)));
    let serve = async {
        loop {
            let Ok(req) = rep.recv().await else { continue };
            let mut answer = Message::from("ok: ");
            answer.extend(req.body());
            let _ = rep.send(answer).await;
        }
    };
    embassy_futures::join::join(listen(&rep, stack, 5555, bufs), serve).await;
}

#[embassy_executor::task]
async fn publisher(stack: Stack<'static>, bufs: &'static mut [TcpBuffers<'static>]) {
    let publ = Socket::new(Protocol::Pub0, EmbassyRuntime);
    let tick = async {
        let mut n: u32 = 0;
        loop {
            let mut line = heapless::String::<24>::new();
            let _ = core::fmt::write(&mut line, format_args!("counter {n}"));
            let _ = publ.send(Message::from(line.as_str())).await;
            n = n.wrapping_add(1);
            Timer::after_secs(1).await;
        }
    };
    embassy_futures::join::join(listen(&publ, stack, 5556, bufs), tick).await;
}

#[embassy_executor::main]
async fn main(spawner: Spawner) -> ! {
    info!("nanosp firmware starting");
    let stack = board::init(spawner).await;
    info!("network up");
    static REP_BUFS: StaticCell<[[u8; 2048]; 8]> = StaticCell::new();
    static PUB_BUFS: StaticCell<[[u8; 2048]; 8]> = StaticCell::new();
    static REP_SLOTS: StaticCell<[TcpBuffers<'static>; 4]> = StaticCell::new();
    static PUB_SLOTS: StaticCell<[TcpBuffers<'static>; 4]> = StaticCell::new();
    let rep_bufs = REP_SLOTS.init_with(|| slots(REP_BUFS.init([[0; 2048]; 8])));
    let pub_bufs = PUB_SLOTS.init_with(|| slots(PUB_BUFS.init([[0; 2048]; 8])));
    spawner.spawn(unwrap!(rep_server(stack, rep_bufs)));
    spawner.spawn(unwrap!(publisher(stack, pub_bufs)));
    loop {
        Timer::after_secs(3600).await;
    }
}
