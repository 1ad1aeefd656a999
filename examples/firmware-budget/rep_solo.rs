// The flash budget of a REP server on the lean path (`nanosp_embassy::solo`):
// answers one peer at a time on port 5555, echoing each request. Included
// by each firmware example's `budget-rep-solo` binary, over its own `board`
// module.

use embassy_executor::Spawner;
use embassy_time::Timer;
use nanosp_core::Protocol;
use nanosp_embassy::solo::{listen, Solo};
use nanosp_embassy::{EmbassyRuntime, TcpBuffers};
use {defmt_rtt as _, panic_probe as _};

#[embassy_executor::main]
async fn main(spawner: Spawner) -> ! {
    let stack = board::init(spawner).await;
    let (mut rx, mut tx) = ([0u8; board::TCP_BUF], [0u8; board::TCP_BUF]);
    let mut rep = Solo::new(Protocol::Rep0, EmbassyRuntime);
    let bufs = TcpBuffers {
        rx: &mut rx,
        tx: &mut tx,
    };
    listen(&mut rep, stack, 5555, bufs, async |conn| loop {
        match conn.recv().await {
            Ok(m) => {
                if let Err(e) = conn.send(m).await {
                    return e.error;
                }
            }
            Err(e) => {
                if conn.error().is_some() {
                    return e;
                }
            }
        }
    })
    .await;
    loop {
        Timer::after_secs(3600).await;
    }
}
