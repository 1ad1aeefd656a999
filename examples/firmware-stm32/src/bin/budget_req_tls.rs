//! Flash and RAM budget on the Cortex-M4F (STM32F429): the REQ client of
//! `budget-req` over TLS 1.3 (`nanosp_embassy::tls`, embedded-tls), the
//! server verified against a CA, keys from the hardware RNG.
#![no_std]
#![no_main]

#[path = "../board.rs"]
mod board;

use embassy_executor::Spawner;
use embassy_net::{IpEndpoint, Ipv4Address};
use embassy_time::Timer;
use nanosp_core::{Message, Protocol};
use nanosp_embassy::tls::{dial_tls, TlsBuffers, TlsClient, RECORD_READ_MIN};
use nanosp_embassy::{EmbassyRuntime, Socket, TcpBuffers};
use {defmt_rtt as _, panic_probe as _};

/// The CA certificate (DER) the server's must be signed by. A product
/// flashes its own here; the size budget only needs the verifier linked.
static CA_DER: [u8; 480] = [0; 480];

#[embassy_executor::main]
async fn main(spawner: Spawner) -> ! {
    let (stack, mut rng) = board::init_with_rng(spawner).await;
    let (mut rx, mut tx) = ([0u8; board::TCP_BUF], [0u8; board::TCP_BUF]);
    let (mut rec_in, mut rec_out) = ([0u8; RECORD_READ_MIN], [0u8; 2048]);
    let req = Socket::new(Protocol::Req0, EmbassyRuntime);
    let ep = IpEndpoint::new(Ipv4Address::new(192, 168, 1, 10).into(), 5555);
    let client = TlsClient {
        server_name: "sp.example",
        ca: Some(&CA_DER),
        client_cert: None,
    };
    let ask = async {
        loop {
            if req.send(Message::from("ping")).await.is_ok() {
                let _ = req.recv().await;
            }
            Timer::after_secs(1).await;
        }
    };
    embassy_futures::join::join(
        dial_tls(
            &req,
            stack,
            ep,
            TlsBuffers {
                tcp: TcpBuffers {
                    rx: &mut rx,
                    tx: &mut tx,
                },
                record_read: &mut rec_in,
                record_write: &mut rec_out,
            },
            &client,
            &mut rng,
        ),
        ask,
    )
    .await;
    loop {
        Timer::after_secs(3600).await;
    }
}
