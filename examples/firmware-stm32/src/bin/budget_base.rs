//! Flash budget baseline: the board and a plain TCP echo on port 5555, the
//! same network code an SP socket uses, without nanosp.
#![no_std]
#![no_main]

#[path = "../board.rs"]
mod board;

use embassy_executor::Spawner;
use embassy_time::Timer;
use {defmt_rtt as _, panic_probe as _};

#[embassy_executor::main]
async fn main(spawner: Spawner) -> ! {
    let stack = board::init(spawner).await;
    let (mut rx, mut tx) = ([0u8; 2048], [0u8; 2048]);
    loop {
        let mut s = embassy_net::tcp::TcpSocket::new(stack, &mut rx, &mut tx);
        if s.accept(5555).await.is_err() {
            Timer::after_millis(10).await;
            continue;
        }
        let mut buf = [0u8; 256];
        while let Ok(n) = embedded_io_async::Read::read(&mut s, &mut buf).await {
            if n == 0
                || embedded_io_async::Write::write_all(&mut s, &buf[..n])
                    .await
                    .is_err()
            {
                break;
            }
        }
        s.close();
    }
}
