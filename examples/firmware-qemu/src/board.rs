//! Board bring-up for QEMU's MPS2-AN386 (Cortex-M4F at 25 MHz): a console
//! on UART0, a 1 kHz SysTick time driver for embassy-time, the heap, the
//! LAN9118 Ethernet controller and the embassy-net stack on
//! 192.168.69.2/24 (gateway 192.168.69.1, the host end of the TAP device
//! `tools/qemu-test.sh` makes).
//!
//! The board has no peripheral access crate: its few registers are written
//! here and in `lan9118.rs`, and its one interrupt is taken by cortex-m-rt's
//! `DefaultHandler`.

use core::cell::{Cell, RefCell};
use core::fmt::Write as _;
use core::mem::MaybeUninit;
use core::ptr::{read_volatile, write_volatile};

use cortex_m::interrupt::InterruptNumber;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use critical_section::Mutex;
use embassy_executor::Spawner;
use embassy_net::{Ipv4Address, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_time_queue_utils::Queue;
use embedded_alloc::LlffHeap as Heap;
use nanosp_embassy::EmbassyRuntime;
use static_cell::StaticCell;

#[path = "lan9118.rs"]
pub mod lan9118;

use lan9118::Lan9118;

/// The firmware's address, and the host's on the other end of the TAP link.
pub const ADDRESS: Ipv4Address = Ipv4Address::new(192, 168, 69, 2);
pub const HOST: Ipv4Address = Ipv4Address::new(192, 168, 69, 1);

/// The CPU (and SysTick) clock of the MPS2 FPGA images.
const SYSCLK_HZ: u32 = 25_000_000;

// ---- console: CMSDK APB UART0 -------------------------------------------

const UART0: usize = 0x4000_4000;
const UART_DATA: usize = 0x0;
const UART_STATE: usize = 0x4;
const UART_CTRL: usize = 0x8;
const UART_BAUDDIV: usize = 0x10;

fn uart_write(reg: usize, value: u32) {
    // SAFETY: a register of the UART mapped at UART0.
    unsafe { write_volatile((UART0 + reg) as *mut u32, value) }
}

fn uart_read(reg: usize) -> u32 {
    // SAFETY: as in `uart_write`.
    unsafe { read_volatile((UART0 + reg) as *const u32) }
}

/// Writes to UART0 (QEMU's `-serial`), byte by byte.
pub struct Console;

impl core::fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            while uart_read(UART_STATE) & 1 != 0 {}
            uart_write(UART_DATA, u32::from(b));
        }
        Ok(())
    }
}

/// Prints a line on the console.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::board::Console, $($arg)*);
    }};
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let _ = writeln!(Console, "panic: {info}");
    loop {
        cortex_m::asm::wfi();
    }
}

// ---- time: SysTick at 1 kHz ---------------------------------------------

struct SysTickDriver {
    ticks: Mutex<Cell<u64>>,
    /// The tick at which the queue next needs looking at.
    alarm: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
}

impl embassy_time_driver::Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.ticks.borrow(cs).get())
    }

    fn schedule_wake(&self, at: u64, waker: &core::task::Waker) {
        critical_section::with(|cs| {
            let mut queue = self.queue.borrow_ref_mut(cs);
            if queue.schedule_wake(at, waker) {
                let now = self.ticks.borrow(cs).get();
                self.alarm.borrow(cs).set(queue.next_expiration(now));
            }
        })
    }
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    ticks: Mutex::new(Cell::new(0)),
    alarm: Mutex::new(Cell::new(u64::MAX)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let now = DRIVER.ticks.borrow(cs).get() + 1;
        DRIVER.ticks.borrow(cs).set(now);
        if now >= DRIVER.alarm.borrow(cs).get() {
            let next = DRIVER.queue.borrow_ref_mut(cs).next_expiration(now);
            DRIVER.alarm.borrow(cs).set(next);
        }
    })
}

// ---- the Ethernet interrupt ---------------------------------------------

#[derive(Clone, Copy)]
struct Irq(u16);

// SAFETY: the number is a device interrupt of this board.
unsafe impl InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == lan9118::IRQ as i16 {
        lan9118::on_interrupt();
    }
}

// ---- bring-up -----------------------------------------------------------

#[global_allocator]
static HEAP: Heap = Heap::empty();

/// Messages in flight and pipe state live here.
pub const HEAP_SIZE: usize = 64 * 1024;

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Lan9118>) -> ! {
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
    uart_write(UART_BAUDDIV, 16);
    uart_write(UART_CTRL, 1); // transmitter on

    let mut core = cortex_m::Peripherals::take().expect("taken once");
    core.SYST.set_clock_source(SystClkSource::Core);
    core.SYST.set_reload(SYSCLK_HZ / 1000 - 1);
    core.SYST.clear_current();
    core.SYST.enable_interrupt();
    core.SYST.enable_counter();

    let device = match Lan9118::new([0x02, 0x00, 0x4e, 0x53, 0x50, 0x02]) {
        Ok(d) => d,
        Err(e) => panic!("Ethernet: {e:?}"),
    };
    let m = device.mac();
    println!(
        "LAN9118 up, MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    );
    // No hardware RNG on this board: the Ethernet controller's free-running
    // counter at start-up differs from boot to boot under QEMU.
    let seed = Lan9118::free_run();
    EmbassyRuntime::seed(seed);
    // SAFETY: the handler (DefaultHandler above) is in place.
    unsafe { cortex_m::peripheral::NVIC::unmask(Irq(lan9118::IRQ)) };

    let config = embassy_net::Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(ADDRESS, 24),
        gateway: Some(HOST),
        dns_servers: Default::default(),
    });
    static RESOURCES: StaticCell<StackResources<12>> = StaticCell::new();
    let (stack, runner) = embassy_net::new(
        device,
        config,
        RESOURCES.init(StackResources::new()),
        u64::from(seed) << 32 | u64::from(seed.rotate_left(13)),
    );
    spawner.spawn(net_task(runner).expect("one net_task"));
    stack.wait_config_up().await;
    stack
}
