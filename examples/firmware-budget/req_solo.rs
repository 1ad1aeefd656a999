// The flash budget of a REQ client on the lean path (`nanosp_embassy::solo`):
// asks 192.168.1.10:5555 once a second, redialing with back-off. Included
// by each firmware example's `budget-req-solo` binary, over its own `board`
// module.

use embassy_executor::Spawner;
use embassy_net::{IpEndpoint, Ipv4Address};
use embassy_time::Timer;
use nanosp_core::{Message, Protocol};
use nanosp_embassy::solo::{dial, Solo};
use nanosp_embassy::{EmbassyRuntime, TcpBuffers};
use {defmt_rtt as _, panic_probe as _};

#[embassy_executor::main]
async fn main(spawner: Spawner) -> ! {
    let stack = board::init(spawner).await;
    let (mut rx, mut tx) = ([0u8; board::TCP_BUF], [0u8; board::TCP_BUF]);
    let mut req = Solo::new(Protocol::Req0, EmbassyRuntime);
    let ep = IpEndpoint::new(Ipv4Address::new(192, 168, 1, 10).into(), 5555);
    let bufs = TcpBuffers {
        rx: &mut rx,
        tx: &mut tx,
    };
    dial(&mut req, stack, ep, bufs, async |conn| loop {
        if let Err(e) = conn.send(Message::from("ping")).await {
            return e.error;
        }
        if let Err(e) = conn.recv().await {
            if conn.error().is_some() {
                return e;
            }
        }
        Timer::after_secs(1).await;
    })
    .await;
    loop {
        Timer::after_secs(3600).await;
    }
}
