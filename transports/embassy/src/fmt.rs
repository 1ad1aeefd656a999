//! Logging shim: `defmt` when the feature is on, nothing (and no cost) when off.
#![allow(unused_macros)]

macro_rules! debug {
    ($($t:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::debug!($($t)*);
    }};
}

macro_rules! warning {
    ($($t:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::warn!($($t)*);
    }};
}

pub(crate) use {debug, warning};
