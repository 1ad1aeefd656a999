//! The one lock of the core, chosen by feature: `std::sync::Mutex` with `std`,
//! a `critical-section` mutex around a `RefCell` without it (the embassy idiom:
//! a no-op-cheap critical section on single-core microcontrollers).
//!
//! Locks are taken through a closure so a guard can never be held across an
//! `.await`, and never two at a time except in the documented order
//! registry → socket → channel.

pub(crate) use portable_atomic_util::{Arc, Weak};

#[cfg(feature = "std")]
pub(crate) struct Mutex<T>(std::sync::Mutex<T>);

#[cfg(feature = "std")]
impl<T> Mutex<T> {
    pub(crate) const fn new(t: T) -> Self {
        Mutex(std::sync::Mutex::new(t))
    }
    #[inline]
    pub(crate) fn lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }
}

#[cfg(not(feature = "std"))]
pub(crate) struct Mutex<T>(critical_section::Mutex<core::cell::RefCell<T>>);

#[cfg(not(feature = "std"))]
impl<T> Mutex<T> {
    pub(crate) const fn new(t: T) -> Self {
        Mutex(critical_section::Mutex::new(core::cell::RefCell::new(t)))
    }
    #[inline]
    pub(crate) fn lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        critical_section::with(|cs| f(&mut self.0.borrow_ref_mut(cs)))
    }
}
