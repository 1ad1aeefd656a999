//! Flash budget on the Cortex-M4F (STM32F429): baseline: the board and a plain TCP echo, without nanosp
//! (`examples/firmware-budget/base.rs`).
#![no_std]
#![no_main]

#[path = "../board.rs"]
mod board;

include!("../../../firmware-budget/base.rs");
