//! Parses arbitrary strings as SP URLs: never panics, and the display form of
//! any URL it accepts parses back to the same URL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nanosp_core::Url;

fuzz_target!(|s: &str| {
    if let Ok(u) = Url::parse(s) {
        let shown = u.to_string();
        let again = Url::parse(&shown).expect("display form must parse");
        assert_eq!(again, u, "{s:?} -> {shown:?}");
    }
});
