//! Board bring-up shared by the firmware binaries: clocks, heap, RNG seed,
//! Ethernet (RMII, on-board LAN8742A) and the embassy-net stack on
//! 192.168.1.50/24.

use core::mem::MaybeUninit;

use embassy_executor::Spawner;
use embassy_net::{Ipv4Address, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_stm32::eth::{self, Ethernet, GenericPhy, PacketQueue, Sma};
use embassy_stm32::peripherals::{ETH, ETH_SMA};
use embassy_stm32::rng::{self, Rng};
use embassy_stm32::time::Hertz;
use embassy_stm32::{bind_interrupts, peripherals, Config};
use embedded_alloc::LlffHeap as Heap;
use nanosp_embassy::EmbassyRuntime;
use static_cell::StaticCell;

bind_interrupts!(struct Irqs {
    ETH => eth::InterruptHandler;
    HASH_RNG => rng::InterruptHandler<peripherals::RNG>;
});

#[global_allocator]
static HEAP: Heap = Heap::empty();
/// The TCP buffers (each way) the budget binaries give their connection.
#[allow(dead_code)]
pub const TCP_BUF: usize = 2048;

/// Messages in flight and pipe state live here.
pub const HEAP_SIZE: usize = 32 * 1024;

pub type Device = Ethernet<'static, ETH, GenericPhy<Sma<'static, ETH_SMA>>>;

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Device>) -> ! {
    runner.run().await
}

/// Brings the board and the network up; returns the stack once configured.
#[allow(dead_code)]
pub async fn init(spawner: Spawner) -> Stack<'static> {
    init_with_rng(spawner).await.0
}

/// [`init`], also handing over the hardware RNG (a TLS client's key
/// shares).
pub async fn init_with_rng(spawner: Spawner) -> (Stack<'static>, Rng<'static, peripherals::RNG>) {
    {
        static mut HEAP_MEM: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];
        // SAFETY: called once, before any allocation; the memory is static.
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
    spawner.spawn(defmt::unwrap!(net_task(runner)));
    stack.wait_config_up().await;
    (stack, rng)
}
