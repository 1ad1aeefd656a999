//! A driver for the SMSC LAN9118 Ethernet controller as QEMU emulates it on
//! the MPS2 boards (at `0x4020_0000`, interrupt 13 on the AN385/AN386), for
//! embassy-net.
//!
//! Programmed I/O through the controller's FIFOs, 32-bit access, one frame
//! at a time: a received frame's status word is popped, then its words
//! (frame + 4 CRC bytes, little-endian); a frame is sent as TX command A
//! (first + last segment, length), command B (length), then its words. The
//! RX-status-level interrupt wakes the network task; nothing polls.
//!
//! Registers and their behaviour: the LAN9118 datasheet (SMSC, rev. 1.5)
//! and QEMU's model (`hw/net/lan9118.c`), which this follows where they
//! differ (QEMU sends each frame at once, so the TX FIFO never fills).

use core::ptr::{read_volatile, write_volatile};
use core::task::Context;

use embassy_net_driver::{Capabilities, HardwareAddress, LinkState};
use embassy_sync::waitqueue::AtomicWaker;

const BASE: usize = 0x4020_0000;
/// The controller's interrupt line on the MPS2-AN385/AN386.
pub const IRQ: u16 = 13;

const RX_DATA_FIFO: usize = 0x00;
const TX_DATA_FIFO: usize = 0x20;
const RX_STATUS_FIFO: usize = 0x40;
const ID_REV: usize = 0x50;
const IRQ_CFG: usize = 0x54;
const INT_STS: usize = 0x58;
const INT_EN: usize = 0x5c;
const BYTE_TEST: usize = 0x64;
const TX_CFG: usize = 0x70;
const HW_CFG: usize = 0x74;
const RX_FIFO_INF: usize = 0x7c;
const TX_FIFO_INF: usize = 0x80;
const FREE_RUN: usize = 0x9c;
const MAC_CSR_CMD: usize = 0xa4;
const MAC_CSR_DATA: usize = 0xa8;

/// IRQ_CFG: enabled, push-pull, active high (QEMU inverts the line otherwise).
const IRQ_CFG_EN_HIGH: u32 = 0x0000_0111;
/// INT_STS / INT_EN: the RX status FIFO passed its level (0: any frame).
const RSFL_INT: u32 = 0x0000_0008;
/// TX_CFG: transmitter on; the TX status FIFO may overrun (never read).
const TX_CFG_ON_SAO: u32 = 0x0000_0006;
const HW_CFG_SRST: u32 = 0x0000_0001;
const MAC_CSR_BUSY: u32 = 0x8000_0000;
const MAC_CSR_READ: u32 = 0x4000_0000;
const MAC_CR: u32 = 1;
const MAC_ADDRH: u32 = 2;
const MAC_ADDRL: u32 = 3;
/// MAC_CR: full duplex, transmitter and receiver on (exact address match,
/// broadcasts taken).
const MAC_CR_FDPX_TXEN_RXEN: u32 = 0x0010_000c;
/// RX status: the error summary bit.
const RX_STS_ERROR: u32 = 0x0000_8000;
/// TX command A: first and last segment of a frame.
const TX_CMD_A_FIRST_LAST: u32 = 0x0000_3000;

/// The largest frame taken or sent, without its CRC (Ethernet MTU 1500 + 14).
pub const MTU: usize = 1514;

static RX_WAKER: AtomicWaker = AtomicWaker::new();

fn read(reg: usize) -> u32 {
    // SAFETY: a register of the device mapped at BASE (32-bit aligned).
    unsafe { read_volatile((BASE + reg) as *const u32) }
}

fn write(reg: usize, value: u32) {
    // SAFETY: as in `read`.
    unsafe { write_volatile((BASE + reg) as *mut u32, value) }
}

fn mac_wait() {
    while read(MAC_CSR_CMD) & MAC_CSR_BUSY != 0 {}
}

fn mac_read(reg: u32) -> u32 {
    write(MAC_CSR_CMD, MAC_CSR_BUSY | MAC_CSR_READ | reg);
    mac_wait();
    read(MAC_CSR_DATA)
}

fn mac_write(reg: u32, value: u32) {
    write(MAC_CSR_DATA, value);
    write(MAC_CSR_CMD, MAC_CSR_BUSY | reg);
    mac_wait();
}

/// Why the controller could not be brought up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Nothing that answers like a LAN9118 (or LAN9220) is at `0x4020_0000`:
    /// the BYTE_TEST or ID_REV register read back this value.
    NotFound(u32),
}

/// The controller, with one frame's buffer each way.
pub struct Lan9118 {
    mac: [u8; 6],
    rx: [u8; MTU + 4],
    tx: [u8; MTU],
}

impl Lan9118 {
    /// Resets the controller and starts its receiver and transmitter, with
    /// the MAC address it has (QEMU's `-nic ...,mac=`), or `fallback` when it
    /// has none. Its interrupt must then be routed to [`on_interrupt`] and
    /// unmasked.
    pub fn new(fallback: [u8; 6]) -> Result<Self, Error> {
        let test = read(BYTE_TEST);
        if test != 0x8765_4321 {
            return Err(Error::NotFound(test));
        }
        let id = read(ID_REV) >> 16;
        if id != 0x0118 && id != 0x9220 {
            return Err(Error::NotFound(id));
        }
        write(HW_CFG, HW_CFG_SRST);
        while read(HW_CFG) & HW_CFG_SRST != 0 {}
        let (lo, hi) = (mac_read(MAC_ADDRL), mac_read(MAC_ADDRH));
        let mut mac = [
            lo as u8,
            (lo >> 8) as u8,
            (lo >> 16) as u8,
            (lo >> 24) as u8,
            hi as u8,
            (hi >> 8) as u8,
        ];
        if mac == [0; 6] || mac == [0xff; 6] {
            mac = fallback;
            mac_write(
                MAC_ADDRL,
                u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]),
            );
            mac_write(MAC_ADDRH, u32::from_le_bytes([mac[4], mac[5], 0, 0]));
        }
        write(TX_CFG, TX_CFG_ON_SAO);
        mac_write(MAC_CR, MAC_CR_FDPX_TXEN_RXEN);
        write(INT_STS, u32::MAX);
        write(INT_EN, RSFL_INT);
        write(IRQ_CFG, IRQ_CFG_EN_HIGH);
        Ok(Self {
            mac,
            rx: [0; MTU + 4],
            tx: [0; MTU],
        })
    }

    /// The controller's free-running 25 MHz counter: some entropy for a
    /// board with no random number generator.
    pub fn free_run() -> u32 {
        read(FREE_RUN)
    }

    /// The MAC address in use.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }
}

/// The controller's interrupt handler: acknowledges the received frames and
/// wakes the network task, which takes them.
pub fn on_interrupt() {
    write(INT_STS, RSFL_INT);
    RX_WAKER.wake();
}

/// Pops one received frame into `buf`; `Some(len)` of the frame without its
/// CRC, `None` when the frame was bad or too long (its words are dropped).
fn pop_frame(buf: &mut [u8; MTU + 4]) -> Option<usize> {
    let status = read(RX_STATUS_FIFO);
    let len = ((status >> 16) & 0x3fff) as usize;
    let words = len.div_ceil(4);
    let good = status & RX_STS_ERROR == 0 && (14 + 4..=MTU + 4).contains(&len);
    for i in 0..words {
        let word = read(RX_DATA_FIFO).to_le_bytes();
        if good {
            let at = i * 4;
            let n = (len - at).min(4);
            buf[at..at + n].copy_from_slice(&word[..n]);
        }
    }
    good.then_some(len - 4)
}

impl embassy_net_driver::Driver for Lan9118 {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, cx: &mut Context) -> Option<(RxToken<'_>, TxToken<'_>)> {
        // Registered before looking, so a frame that lands after the look
        // still wakes the task.
        RX_WAKER.register(cx.waker());
        while (read(RX_FIFO_INF) >> 16) & 0xff != 0 {
            if let Some(len) = pop_frame(&mut self.rx) {
                return Some((
                    RxToken {
                        frame: &mut self.rx[..len],
                    },
                    TxToken { buf: &mut self.tx },
                ));
            }
        }
        None
    }

    fn transmit(&mut self, cx: &mut Context) -> Option<TxToken<'_>> {
        // Room for a whole frame and its two command words (bytes free in
        // the TX data FIFO). QEMU sends each frame at once; real hardware
        // drains in microseconds, so a full FIFO is polled, not awaited.
        if (read(TX_FIFO_INF) & 0xffff) < (MTU + 8) as u32 {
            cx.waker().wake_by_ref();
            return None;
        }
        Some(TxToken { buf: &mut self.tx })
    }

    fn link_state(&mut self, _cx: &mut Context) -> LinkState {
        LinkState::Up
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.max_transmission_unit = MTU;
        caps.max_burst_size = Some(1);
        caps
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(self.mac)
    }
}

/// A received frame.
pub struct RxToken<'a> {
    frame: &'a mut [u8],
}

impl embassy_net_driver::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

/// Room for one frame to send.
pub struct TxToken<'a> {
    buf: &'a mut [u8; MTU],
}

impl embassy_net_driver::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let len = len.min(MTU);
        let frame = &mut self.buf[..len];
        let r = f(frame);
        write(TX_DATA_FIFO, TX_CMD_A_FIRST_LAST | len as u32);
        write(TX_DATA_FIFO, len as u32);
        for chunk in frame.chunks(4) {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            write(TX_DATA_FIFO, u32::from_le_bytes(word));
        }
        r
    }
}
