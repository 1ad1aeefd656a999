//! Flash budget on the Cortex-M0+ (STM32G0B1 + W5500): baseline: the board and a plain TCP echo, without nanosp
//! (`examples/firmware-budget/base.rs`).
#![no_std]
#![no_main]

#[path = "../board.rs"]
mod board;

include!("../../../firmware-budget/base.rs");
