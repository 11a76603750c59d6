//! The few host functions the adapter calls itself, bound on the global
//! object so the same module runs in browsers, Web Workers, Node >= 18 and
//! workerd (where `web_sys::window()` is `None`). Requests are made by the
//! JavaScript wrapper (`js/`), which owns `fetch` and its options.

#[cfg(feature = "workers")]
use js_sys::Object;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`: milliseconds on a monotonic clock.
    #[wasm_bindgen(js_namespace = performance, js_name = now, catch)]
    fn performance_now() -> Result<f64, JsValue>;

    /// `Date.now()`: wall-clock milliseconds since the Unix epoch. Caught:
    /// it runs while the core is borrowed, and a page may replace it.
    #[wasm_bindgen(js_namespace = Date, js_name = now, catch)]
    fn date_now() -> Result<f64, JsValue>;

    /// `crypto.getRandomValues(bytes)`, which fills `bytes` in place.
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    pub fn get_random_values(bytes: &mut [u8]) -> Result<JsValue, JsValue>;

    /// Caught: a page may replace `console.warn` with one that throws.
    #[cfg(feature = "workers")]
    #[wasm_bindgen(js_namespace = console, js_name = warn, catch)]
    fn console_warn_js(message: &str) -> Result<(), JsValue>;
}

/// `console.warn(message)`, never throwing (the timer build's host logs).
#[cfg(feature = "workers")]
pub fn console_warn(message: &str) {
    let _ = console_warn_js(message);
}

/// `Date.now()`, or 0 where it throws.
pub fn wall_ms() -> f64 {
    date_now().unwrap_or(0.0)
}

thread_local! {
    /// The last `performance.now()` reading (NaN before the first).
    static LAST_MONOTONIC_MS: std::cell::Cell<f64> = const { std::cell::Cell::new(f64::NAN) };
}

/// Monotonic milliseconds: `performance.now()`; where it throws, the last
/// reading (never `Date.now()` once `performance` has answered: mixing the
/// clocks would move the core's time by decades and back), and
/// `Date.now()` where `performance` is missing.
pub fn monotonic_ms() -> f64 {
    LAST_MONOTONIC_MS.with(|last| match performance_now() {
        Ok(ms) => {
            last.set(ms);
            ms
        }
        Err(_) if last.get().is_nan() => wall_ms(),
        Err(_) => last.get(),
    })
}

/// Both clocks, sampled together; monotonic time counts from `origin_ms`
/// (a `performance.now()` reading).
pub fn now(origin_ms: f64) -> tidings::Now {
    let since_origin = (monotonic_ms() - origin_ms).max(0.0);
    // `as` saturates (and maps NaN to 0): no panic on odd clocks.
    let monotonic = tidings::Instant::from_duration(std::time::Duration::from_micros(
        (since_origin * 1000.0) as u64,
    ));
    let wall = tidings::WallTime::from_unix_millis(wall_ms().max(0.0) as u64);
    tidings::Now::new(monotonic, wall)
}

/// `target[key] = value`, ignoring the (impossible) failure on a plain object.
#[cfg(feature = "workers")]
pub fn set(target: &Object, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(target, &JsValue::from_str(key), value);
}

/// A request's headers for the JS transport (`js/transport.js`): names and
/// values alternating, one per line (header values hold no line breaks).
#[inline(never)]
pub fn header_lines(headers: &[(String, String)]) -> String {
    let mut lines = String::new();
    for (name, value) in headers {
        for part in [name, value] {
            if !lines.is_empty() {
                lines.push('\n');
            }
            lines.push_str(part);
        }
    }
    lines
}
