//! Board bring-up shared by the budget binaries: an STM32G0B1 (Cortex-M0+,
//! thumbv6m) with a WIZnet W5500 Ethernet chip on SPI1 (SCK PA5, MISO PA6,
//! MOSI PA7, CS PB0, INT PB1, RESET PB2), as on a NUCLEO-G0B1RE with a W5500
//! module; the embassy-net stack on 192.168.1.51/24.

use core::mem::MaybeUninit;

use embassy_embedded_hal::shared_bus::asynch::spi::SpiDevice;
use embassy_executor::Spawner;
use embassy_net::{Ipv4Address, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_net_wiznet::chip::W5500;
use embassy_net_wiznet::{Device, Runner, State};
use embassy_stm32::exti::{self, ExtiInput};
use embassy_stm32::gpio::{Level, Output, Pull, Speed};
use embassy_stm32::mode::Async;
use embassy_stm32::spi::{self, Spi};
use embassy_stm32::time::Hertz;
use embassy_stm32::{bind_interrupts, dma, interrupt, peripherals};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_sync::mutex::Mutex;
use embedded_alloc::LlffHeap as Heap;
use nanosp_embassy::EmbassyRuntime;
use static_cell::StaticCell;

bind_interrupts!(struct Irqs {
    DMA1_CHANNEL1 => dma::InterruptHandler<peripherals::DMA1_CH1>;
    DMA1_CHANNEL2_3 => dma::InterruptHandler<peripherals::DMA1_CH2>;
    EXTI0_1 => exti::InterruptHandler<interrupt::typelevel::EXTI0_1>;
});

#[global_allocator]
static HEAP: Heap = Heap::empty();
/// The TCP buffers (each way) the budget binaries give their connection.
#[allow(dead_code)]
pub const TCP_BUF: usize = 1024;

/// Messages in flight and pipe state live here.
pub const HEAP_SIZE: usize = 16 * 1024;

type Bus = Mutex<NoopRawMutex, Spi<'static, Async, spi::mode::Master>>;
type Chip = SpiDevice<'static, NoopRawMutex, Spi<'static, Async, spi::mode::Master>, Output<'static>>;

#[embassy_executor::task]
async fn eth_task(runner: Runner<'static, W5500, Chip, ExtiInput<'static, Async>, Output<'static>>) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Device<'static>>) -> ! {
    runner.run().await
}

/// Brings the board and the network up; returns the stack once configured.
pub async fn init(spawner: Spawner) -> Stack<'static> {
    {
        static mut HEAP_MEM: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];
        // SAFETY: called once, before any allocation; the memory is static.
        #[allow(static_mut_refs)]
        unsafe {
            HEAP.init(HEAP_MEM.as_ptr() as usize, HEAP_SIZE)
        }
    }
    let p = embassy_stm32::init(Default::default());
    // No RNG on this chip: the unique device id seeds the socket's ids and
    // the TCP stack (enough to keep two boards apart, not a secret).
    let uid = embassy_stm32::uid::uid();
    let seed = u32::from_le_bytes([uid[0], uid[1], uid[2], uid[3]])
        ^ u32::from_le_bytes([uid[4], uid[5], uid[6], uid[7]])
        ^ u32::from_le_bytes([uid[8], uid[9], uid[10], uid[11]]);
    EmbassyRuntime::seed(seed);

    let mut cfg = spi::Config::default();
    cfg.frequency = Hertz(16_000_000);
    let spi = Spi::new(p.SPI1, p.PA5, p.PA7, p.PA6, p.DMA1_CH1, p.DMA1_CH2, Irqs, cfg);
    static BUS: StaticCell<Bus> = StaticCell::new();
    let bus = BUS.init(Mutex::new(spi));
    let cs = Output::new(p.PB0, Level::High, Speed::VeryHigh);
    let int = ExtiInput::new(p.PB1, p.EXTI1, Pull::Up, Irqs);
    let reset = Output::new(p.PB2, Level::High, Speed::Low);
    let mac = [0x02, 0x00, 0x4e, 0x53, 0x50, 0x02];
    static STATE: StaticCell<State<2, 2>> = StaticCell::new();
    let (device, runner) = defmt::unwrap!(
        embassy_net_wiznet::new(mac, STATE.init(State::new()), SpiDevice::new(bus, cs), int, reset).await
    );
    spawner.spawn(defmt::unwrap!(eth_task(runner)));

    let config = embassy_net::Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(Ipv4Address::new(192, 168, 1, 51), 24),
        gateway: Some(Ipv4Address::new(192, 168, 1, 1)),
        dns_servers: Default::default(),
    });
    static RESOURCES: StaticCell<StackResources<4>> = StaticCell::new();
    let (stack, runner) = embassy_net::new(
        device,
        config,
        RESOURCES.init(StackResources::new()),
        u64::from(seed),
    );
    spawner.spawn(defmt::unwrap!(net_task(runner)));
    stack.wait_config_up().await;
    stack
}
