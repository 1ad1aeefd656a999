//! nanosp on a NUCLEO-F429ZI (STM32F429ZI, on-board LAN8742A PHY over RMII).
//!
//! * a REP server on `tcp://192.168.1.50:5555` that answers each request
//!   with `"ok: "` + the request;
//! * a PUB on `tcp://192.168.1.50:5556` publishing `"counter <n>"` every
//!   second.
//!
//! From a PC on the same network: `nngcat --req0 --dial tcp://192.168.1.50:5555 --data hi -A`
//! and `nngcat --sub0 --dial tcp://192.168.1.50:5556 --subscribe counter -A`.
//! Flash with `cargo run --release` (probe-rs).
#![no_std]
#![no_main]

use core::mem::MaybeUninit;

use defmt::{info, unwrap};
use embassy_executor::Spawner;
use embassy_net::{Ipv4Address, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_stm32::eth::{self, Ethernet, GenericPhy, PacketQueue, Sma};
use embassy_stm32::peripherals::{ETH, ETH_SMA};
use embassy_stm32::rng::{self, Rng};
use embassy_stm32::time::Hertz;
use embassy_stm32::{bind_interrupts, peripherals, Config};
use embassy_time::Timer;
use embedded_alloc::LlffHeap as Heap;
use nanosp::{Message, Protocol, SockOpt};
use nanosp_embassy::{listen, EmbassyRuntime, Socket, TcpBuffers};
use static_cell::StaticCell;
use {defmt_rtt as _, panic_probe as _};

bind_interrupts!(struct Irqs {
    ETH => eth::InterruptHandler;
    HASH_RNG => rng::InterruptHandler<peripherals::RNG>;
});

#[global_allocator]
static HEAP: Heap = Heap::empty();
/// Messages in flight live here (each message = its bytes + ~100 bytes).
const HEAP_SIZE: usize = 32 * 1024;

type Device = Ethernet<'static, ETH, GenericPhy<Sma<'static, ETH_SMA>>>;

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Device>) -> ! {
    runner.run().await
}

/// Four TCP connections of 2 KiB receive + 2 KiB transmit for each server.
fn slots(store: &'static mut [[u8; 2048]; 8]) -> [TcpBuffers<'static>; 4] {
    let mut it = store.iter_mut();
    core::array::from_fn(|_| TcpBuffers {
        rx: it.next().expect("8 buffers"),
        tx: it.next().expect("8 buffers"),
    })
}

fn buffers(s: &'static mut [TcpBuffers<'static>; 4]) -> &'static mut [TcpBuffers<'static>] {
    s.as_mut_slice()
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
    {
        static mut HEAP_MEM: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];
        #[allow(static_mut_refs)]
        unsafe {
            HEAP.init(HEAP_MEM.as_ptr() as usize, HEAP_SIZE)
        }
    }
    let mut config = Config::default();
    {
        use embassy_stm32::rcc::*;
        config.rcc.hse = Some(Hse {
            freq: Hertz(8_000_000),
            mode: HseMode::Bypass,
        });
        config.rcc.pll_src = PllSource::HSE;
        config.rcc.pll = Some(Pll {
            prediv: PllPreDiv::DIV4,
            mul: PllMul::MUL180,
            divp: Some(PllPDiv::DIV2),
            divq: None,
            divr: None,
        });
        config.rcc.ahb_pre = AHBPrescaler::DIV1;
        config.rcc.apb1_pre = APBPrescaler::DIV4;
        config.rcc.apb2_pre = APBPrescaler::DIV2;
        config.rcc.sys = Sysclk::PLL1_P;
    }
    let p = embassy_stm32::init(config);
    info!("nanosp firmware starting");

    let mut rng = Rng::new(p.RNG, Irqs);
    let mut seed = [0u8; 8];
    rng.fill_bytes(&mut seed);
    EmbassyRuntime::seed(u32::from_le_bytes([seed[0], seed[1], seed[2], seed[3]]));

    static PACKETS: StaticCell<PacketQueue<4, 4>> = StaticCell::new();
    let mac = [0x02, 0x00, 0x4e, 0x53, 0x50, 0x01];
    let device = Ethernet::new(
        PACKETS.init(PacketQueue::<4, 4>::new()),
        p.ETH,
        Irqs,
        p.PA1,
        p.PA7,
        p.PC4,
        p.PC5,
        p.PG13,
        p.PB13,
        p.PG11,
        mac,
        p.ETH_SMA,
        p.PA2,
        p.PC1,
    );
    let config = embassy_net::Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(Ipv4Address::new(192, 168, 1, 50), 24),
        gateway: Some(Ipv4Address::new(192, 168, 1, 1)),
        dns_servers: Default::default(),
    });
    static RESOURCES: StaticCell<StackResources<10>> = StaticCell::new();
    let (stack, runner) = embassy_net::new(
        device,
        config,
        RESOURCES.init(StackResources::new()),
        u64::from_le_bytes(seed),
    );
    spawner.spawn(unwrap!(net_task(runner)));
    stack.wait_config_up().await;
    info!("network up");

    static REP_BUFS: StaticCell<[[u8; 2048]; 8]> = StaticCell::new();
    static PUB_BUFS: StaticCell<[[u8; 2048]; 8]> = StaticCell::new();
    static REP_SLOTS: StaticCell<[TcpBuffers<'static>; 4]> = StaticCell::new();
    static PUB_SLOTS: StaticCell<[TcpBuffers<'static>; 4]> = StaticCell::new();
    let rep_bufs = buffers(REP_SLOTS.init_with(|| slots(REP_BUFS.init([[0; 2048]; 8]))));
    let pub_bufs = buffers(PUB_SLOTS.init_with(|| slots(PUB_BUFS.init([[0; 2048]; 8]))));
    spawner.spawn(unwrap!(rep_server(stack, rep_bufs)));
    spawner.spawn(unwrap!(publisher(stack, pub_bufs)));
    loop {
        Timer::after_secs(3600).await;
    }
}
