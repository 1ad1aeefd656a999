//! Flash budget on the Cortex-M0+ (STM32G0B1 + W5500): a REQ client
//! (`examples/firmware-budget/req.rs`).
#![no_std]
#![no_main]

#[path = "../board.rs"]
mod board;

include!("../../../firmware-budget/req.rs");
