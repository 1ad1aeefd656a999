//! Flash budget: a REP server on port 5555 echoing requests.
#![no_std]
#![no_main]

#[path = "../board.rs"]
mod board;

use embassy_executor::Spawner;
use embassy_time::Timer;
use nanosp_core::Protocol;
use nanosp_embassy::{listen, EmbassyRuntime, Socket, TcpBuffers};
use {defmt_rtt as _, panic_probe as _};

#[embassy_executor::main]
async fn main(spawner: Spawner) -> ! {
    let stack = board::init(spawner).await;
    let (mut rx, mut tx) = ([0u8; 2048], [0u8; 2048]);
    let rep = Socket::new(Protocol::Rep0, EmbassyRuntime);
    let serve = async {
        loop {
            if let Ok(m) = rep.recv().await {
                let _ = rep.send(m).await;
            }
        }
    };
    let mut bufs = [TcpBuffers {
        rx: &mut rx,
        tx: &mut tx,
    }];
    embassy_futures::join::join(listen(&rep, stack, 5555, &mut bufs), serve).await;
    loop {
        Timer::after_secs(3600).await;
    }
}
