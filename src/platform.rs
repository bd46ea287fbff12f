//! The browser's platform services for the core: time from `performance`, randomness
//! from `crypto.getRandomValues`. They work on the page and in a worker alike (they
//! read the global scope, whichever it is).

use edgeplay_host::platform::{Clock, Random, Validator};
use edgeplay_host::Platform;
use std::sync::Arc;
use wasm_bindgen::JsCast;

thread_local! {
    static PERFORMANCE: Option<web_sys::Performance> = js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok());
    static CRYPTO: Option<web_sys::Crypto> = js_sys::Reflect::get(&js_sys::global(), &"crypto".into())
        .ok()
        .and_then(|c| c.dyn_into::<web_sys::Crypto>().ok());
}

/// Milliseconds from `performance.now()` (monotonic; the browser coarsens it to
/// 0.1 ms unless the page is cross-origin isolated), or `Date.now()` without it.
pub fn now_ms() -> f64 {
    PERFORMANCE.with(|p| match p {
        Some(p) => p.now(),
        None => js_sys::Date::now(),
    })
}

/// Wall time from `performance.timeOrigin + performance.now()` (sub-millisecond),
/// monotonic time from `performance.now()`.
#[derive(Clone, Copy, Debug, Default)]
pub struct BrowserClock;

impl Clock for BrowserClock {
    fn unix_ns(&self) -> u64 {
        let ms = PERFORMANCE.with(|p| match p {
            Some(p) => p.time_origin() + p.now(),
            None => js_sys::Date::now(),
        });
        ms_to_ns(ms)
    }

    fn monotonic_ns(&self) -> u64 {
        ms_to_ns(now_ms())
    }
}

fn ms_to_ns(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        (ms * 1_000_000.0) as u64
    } else {
        0
    }
}

/// `crypto.getRandomValues`, 64 KiB at a time (its limit per call).
#[derive(Clone, Copy, Debug, Default)]
pub struct BrowserRandom;

impl Random for BrowserRandom {
    fn fill(&self, buf: &mut [u8]) {
        let ok = CRYPTO.with(|c| match c {
            Some(c) => buf
                .chunks_mut(65_536)
                .all(|chunk| c.get_random_values_with_u8_array(chunk).is_ok()),
            None => false,
        });
        if !ok {
            // No Web Crypto (never in a current browser): never fail a hostcall; fall
            // back to Math.random, which is not cryptographically secure.
            for b in buf.iter_mut() {
                *b = (js_sys::Math::random() * 256.0) as u8;
            }
        }
    }
}

/// The browser's own validator, `WebAssembly.validate`: compiled code, so an 11 MB
/// guest validates in a fraction of what wasmi (itself wasm) takes, and wasmi then
/// parses function bodies on their first call.
#[derive(Debug, Default)]
pub struct BrowserValidator;

impl Validator for BrowserValidator {
    fn validate(&self, wasm: &[u8]) -> bool {
        // A view, not a copy: `validate` is synchronous and allocates nothing in this
        // module's memory while it reads the bytes.
        let view = unsafe { js_sys::Uint8Array::view(wasm) };
        js_sys::WebAssembly::validate(&view).unwrap_or(false)
    }
}

/// The browser platform: [`BrowserClock`], [`BrowserRandom`] and [`BrowserValidator`].
pub fn browser_platform() -> Platform {
    Platform {
        clock: Arc::new(BrowserClock),
        random: Arc::new(BrowserRandom),
        validator: Some(Arc::new(BrowserValidator)),
    }
}
