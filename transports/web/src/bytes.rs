//! Copies between JavaScript typed arrays and wasm memory.
//!
//! js-sys' `Uint8Array::copy_to`, `copy_from` and `to_vec` assert that both
//! sides have one length, and that assertion's message links `core::fmt`'s
//! `Debug` of `usize` into the browser package. These make the same
//! `Uint8Array.prototype.set` calls with the lengths checked here, without
//! a panic path. (Shared with the npm package; not a stable API.)

use alloc::vec::Vec;

use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `Uint8Array.prototype.set.call(dst, src)`: `dst` is a view of wasm
    /// memory, so this writes into it.
    #[wasm_bindgen(js_namespace = Uint8Array, js_name = "prototype.set.call")]
    fn set_into(dst: &mut [u8], src: &Uint8Array);
    /// The same call with `src` a view of wasm memory.
    #[wasm_bindgen(js_namespace = Uint8Array, js_name = "prototype.set.call")]
    fn set_from(dst: &Uint8Array, src: &[u8]);
}

/// Copies `src` into `dst`; false (and nothing copied) unless they have
/// the same length.
pub fn copy_to(src: &Uint8Array, dst: &mut [u8]) -> bool {
    let same = src.length() as usize == dst.len();
    if same {
        set_into(dst, src);
    }
    same
}

/// A new JavaScript array holding a copy of `src`.
pub fn to_js(src: &[u8]) -> Uint8Array {
    let out = Uint8Array::new_with_length(src.len() as u32);
    set_from(&out, src);
    out
}

/// Copies `src` into `dst` at its start; false (and nothing copied) if it
/// does not fit.
pub fn copy_from(dst: &Uint8Array, src: &[u8]) -> bool {
    let fits = src.len() <= dst.length() as usize;
    if fits {
        set_from(dst, src);
    }
    fits
}

/// `src`'s bytes in a new `Vec`.
pub fn to_vec(src: &Uint8Array) -> Vec<u8> {
    let mut v = alloc::vec![0; src.length() as usize];
    copy_to(src, &mut v);
    v
}
