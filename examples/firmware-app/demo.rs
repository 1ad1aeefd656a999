// The demo firmware's two services, shared by every board that runs it
// (examples/firmware-stm32 on a NUCLEO-F429ZI, examples/firmware-qemu on an
// emulated MPS2-AN386): each board's `demo` binary includes this file beside
// its own `board` module and calls `start` once the network is up.
//
// * a REP server on TCP port 5555 answering each request with `"ok: "` and
//   the request's bytes;
// * a PUB on TCP port 5556 publishing `"counter <n>"` every second.
//
// Each server takes up to four connections, each with 2 KiB of TCP receive
// and 2 KiB of transmit buffer.

use embassy_executor::Spawner;
use embassy_net::Stack;
use embassy_time::Timer;
use nanosp_core::{Message, Protocol, SockOpt};
use nanosp_embassy::{listen, EmbassyRuntime, Socket, TcpBuffers};
use static_cell::StaticCell;

/// The REP server's TCP port.
pub const REP_PORT: u16 = 5555;
/// The publisher's TCP port.
pub const PUB_PORT: u16 = 5556;
/// The largest request the REP server takes (bytes of body).
pub const REP_RECV_MAX: usize = 4096;

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
    let _ = rep.set_opt(SockOpt::RecvMaxSize(REP_RECV_MAX));
    let serve = async {
        loop {
            let Ok(req) = rep.recv().await else { continue };
            let mut answer = Message::from("ok: ");
            answer.extend(req.body());
            let _ = rep.send(answer).await;
        }
    };
    embassy_futures::join::join(listen(&rep, stack, REP_PORT, bufs), serve).await;
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
    embassy_futures::join::join(listen(&publ, stack, PUB_PORT, bufs), tick).await;
}

/// Starts the REP server and the publisher on `stack`.
pub fn start(spawner: Spawner, stack: Stack<'static>) {
    static REP_BUFS: StaticCell<[[u8; 2048]; 8]> = StaticCell::new();
    static PUB_BUFS: StaticCell<[[u8; 2048]; 8]> = StaticCell::new();
    static REP_SLOTS: StaticCell<[TcpBuffers<'static>; 4]> = StaticCell::new();
    static PUB_SLOTS: StaticCell<[TcpBuffers<'static>; 4]> = StaticCell::new();
    let rep_bufs = REP_SLOTS.init_with(|| slots(REP_BUFS.init([[0; 2048]; 8])));
    let pub_bufs = PUB_SLOTS.init_with(|| slots(PUB_BUFS.init([[0; 2048]; 8])));
    spawner.spawn(rep_server(stack, rep_bufs).expect("one rep_server"));
    spawner.spawn(publisher(stack, pub_bufs).expect("one publisher"));
}
