//! nanosp on a NUCLEO-F429ZI (STM32F429ZI, on-board LAN8742A PHY over RMII).
//!
//! The services of `examples/firmware-app/demo.rs`, which the emulated board
//! of `examples/firmware-qemu` runs too:
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
#[path = "../../../firmware-app/demo.rs"]
mod demo;

use defmt::info;
use embassy_executor::Spawner;
use embassy_time::Timer;
use {defmt_rtt as _, panic_probe as _};

#[embassy_executor::main]
async fn main(spawner: Spawner) -> ! {
    info!("nanosp firmware starting");
    let stack = board::init(spawner).await;
    info!("network up");
    demo::start(spawner, stack);
    loop {
        Timer::after_secs(3600).await;
    }
}
