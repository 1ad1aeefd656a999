// The flash budget's baseline: the board and a plain TCP echo on port 5555,
// the same network code an SP socket uses, without nanosp. Included by each
// firmware example's `budget-base` binary, over its own `board` module.

use embassy_executor::Spawner;
use embassy_time::Timer;
use {defmt_rtt as _, panic_probe as _};

#[embassy_executor::main]
async fn main(spawner: Spawner) -> ! {
    let stack = board::init(spawner).await;
    let (mut rx, mut tx) = ([0u8; board::TCP_BUF], [0u8; board::TCP_BUF]);
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
