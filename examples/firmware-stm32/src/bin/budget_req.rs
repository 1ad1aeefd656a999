//! Flash budget on the Cortex-M4F (STM32F429): a REQ client
//! (`examples/firmware-budget/req.rs`).
#![no_std]
#![no_main]

#[path = "../board.rs"]
mod board;

include!("../../../firmware-budget/req.rs");
