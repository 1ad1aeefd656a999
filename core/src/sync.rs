//! The one lock of the core, chosen by feature: `std::sync::Mutex` with `std`,
//! a `critical-section` mutex around a `RefCell` without it (the embassy idiom:
//! a no-op-cheap critical section on single-core microcontrollers).
//!
//! Locks are taken through a closure so a guard can never be held across an
//! `.await`, and never two at a time except in the documented orders
//! registry → socket → channel and readiness writer → channel (a
//! [`crate::ready::ReadyWriter`]'s own lock, under which it pops its queue;
//! the socket's refill runs only after that lock is released).

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
    /// As [`Mutex::lock`] if nobody holds the lock; else `None` at once.
    #[inline]
    pub(crate) fn try_lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let mut g = match self.0.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        Some(f(&mut g))
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
    /// As [`Mutex::lock`] if nobody holds the lock; else `None` at once.
    #[inline]
    #[allow(dead_code)]
    pub(crate) fn try_lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        critical_section::with(|cs| {
            let mut g = self.0.borrow(cs).try_borrow_mut().ok()?;
            Some(f(&mut g))
        })
    }
}
