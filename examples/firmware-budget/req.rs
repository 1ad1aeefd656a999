// The flash budget of a REQ client asking 192.168.1.10:5555 once a second.
// Included by each firmware example's `budget-req` binary, over its own
// `board` module.

use embassy_executor::Spawner;
use embassy_net::{IpEndpoint, Ipv4Address};
use embassy_time::Timer;
use nanosp_core::{Message, Protocol};
use nanosp_embassy::{dial, EmbassyRuntime, Socket, TcpBuffers};
use {defmt_rtt as _, panic_probe as _};

#[embassy_executor::main]
async fn main(spawner: Spawner) -> ! {
    let stack = board::init(spawner).await;
    let (mut rx, mut tx) = ([0u8; board::TCP_BUF], [0u8; board::TCP_BUF]);
    let req = Socket::new(Protocol::Req0, EmbassyRuntime);
    let ep = IpEndpoint::new(Ipv4Address::new(192, 168, 1, 10).into(), 5555);
    let ask = async {
        loop {
            if req.send(Message::from("ping")).await.is_ok() {
                let _ = req.recv().await;
            }
            Timer::after_secs(1).await;
        }
    };
    embassy_futures::join::join(
        dial(
            &req,
            stack,
            ep,
            TcpBuffers {
                rx: &mut rx,
                tx: &mut tx,
            },
        ),
        ask,
    )
    .await;
    loop {
        Timer::after_secs(3600).await;
    }
}
