//! Flash budget on the Cortex-M0+ (STM32G0B1 + W5500): a REQ client on the
//! lean path (`examples/firmware-budget/req_solo.rs`).
#![no_std]
#![no_main]

#[path = "../board.rs"]
mod board;

include!("../../../firmware-budget/req_solo.rs");
