//! Flash budget on the Cortex-M4F (STM32F429): a REP server on the lean path
//! (`examples/firmware-budget/rep_solo.rs`).
#![no_std]
#![no_main]

#[path = "../board.rs"]
mod board;

include!("../../../firmware-budget/rep_solo.rs");
