//! The core's [`Runtime`] on the JavaScript event loop: `performance.now()`
//! for the clock, `setTimeout` for sleeping, `Math.random()` for jitter and
//! request ids.

use alloc::rc::Rc;
use core::cell::RefCell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use nanosp_core::{Instant, Runtime};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen]
extern "C" {
    // Global functions rather than `window.*`: they exist in pages, workers
    // and Node alike.
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &js_sys::Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(handle: &JsValue);
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// `setTimeout` delays above 2^31−1 ms fire at once; longer sleeps re-arm.
const MAX_TIMEOUT_MS: f64 = 2_147_483_647.0;

/// The browser runtime: a unit value, so it is `Send + Sync` as the core
/// asks, while every JavaScript object it uses lives inside the futures it
/// returns (wasm32-unknown-unknown runs on one thread).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebRuntime;

impl Runtime for WebRuntime {
    type Sleep = Sleep;

    fn now(&self) -> Instant {
        Instant::from_micros((performance_now() * 1000.0) as u64)
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep {
            deadline,
            timer: None,
        }
    }

    fn random_u32(&self) -> u32 {
        (js_sys::Math::random() * 4_294_967_296.0) as u32
    }
}

/// A future that completes at an instant, on `setTimeout`. Dropping it
/// clears the timeout.
pub struct Sleep {
    deadline: Instant,
    timer: Option<Timer>,
}

struct TimerState {
    fired: bool,
    waker: Option<Waker>,
}

struct Timer {
    handle: JsValue,
    state: Rc<RefCell<TimerState>>,
    // Kept alive until the timeout has fired or been cleared.
    _callback: Closure<dyn FnMut()>,
}

impl Drop for Timer {
    fn drop(&mut self) {
        if !self.state.borrow().fired {
            clear_timeout(&self.handle);
        }
    }
}

impl Timer {
    fn arm(ms: f64, waker: Waker) -> Timer {
        let state = Rc::new(RefCell::new(TimerState {
            fired: false,
            waker: Some(waker),
        }));
        let s = state.clone();
        let callback = Closure::<dyn FnMut()>::new(move || {
            let w = {
                let mut s = s.borrow_mut();
                s.fired = true;
                s.waker.take()
            };
            if let Some(w) = w {
                w.wake();
            }
        });
        let handle = set_timeout(callback.as_ref().unchecked_ref(), ms);
        Timer {
            handle,
            state,
            _callback: callback,
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let now = WebRuntime.now();
        if now >= self.deadline {
            self.timer = None;
            return Poll::Ready(());
        }
        if let Some(t) = &self.timer {
            let mut s = t.state.borrow_mut();
            if !s.fired {
                match &s.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => s.waker = Some(cx.waker().clone()),
                }
                return Poll::Pending;
            }
        }
        // Not armed yet, or fired a little early (timer and clock round
        // differently): arm for what is left, rounded up to whole ms.
        // In u64 (a u128 division links 1 KB of compiler builtins).
        let left_ms = (self.deadline.since(now).as_micros() as u64).div_ceil(1000) as f64;
        self.timer = Some(Timer::arm(
            left_ms.clamp(0.0, MAX_TIMEOUT_MS),
            cx.waker().clone(),
        ));
        Poll::Pending
    }
}
