//! The few host functions the adapter uses, bound on the global object so
//! the same module runs in browsers, Web Workers, Node >= 18 and workerd
//! (where `web_sys::window()` is `None`).
//!
//! Every import that could throw is bound with `catch`: a JS exception
//! unwinding through Rust frames would skip destructors (and leave a
//! `RefCell` borrowed forever).

use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The global `fetch(url, init)`.
    #[wasm_bindgen(js_name = fetch, catch)]
    pub fn fetch(url: &str, init: &Object) -> Result<Promise, JsValue>;

    /// The global `setTimeout`; its handle is a number in browsers and an
    /// object in Node, so it stays opaque.
    #[wasm_bindgen(js_name = setTimeout, catch)]
    pub fn set_timeout(callback: &Function, ms: f64) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_name = clearTimeout, catch)]
    pub fn clear_timeout(handle: &JsValue) -> Result<(), JsValue>;

    /// `performance.now()`: milliseconds on a monotonic clock.
    #[wasm_bindgen(js_namespace = performance, js_name = now, catch)]
    pub fn performance_now() -> Result<f64, JsValue>;

    /// `Date.now()`: wall-clock milliseconds since the Unix epoch.
    #[wasm_bindgen(js_namespace = Date, js_name = now)]
    pub fn date_now() -> f64;

    /// `crypto.getRandomValues(bytes)`, which fills `bytes` in place.
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    pub fn get_random_values(bytes: &mut [u8]) -> Result<JsValue, JsValue>;

    /// `AbortSignal.timeout(ms)` (browsers since 2022, Node >= 17.3, workerd).
    #[wasm_bindgen(js_namespace = AbortSignal, js_name = timeout, catch)]
    pub fn abort_signal_timeout(ms: f64) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_namespace = console, js_name = warn)]
    pub fn console_warn(message: &str);

    /// What `fetch` resolves to (only the parts read here).
    pub type FetchResponse;
    #[wasm_bindgen(method, getter)]
    pub fn status(this: &FetchResponse) -> f64;
    #[wasm_bindgen(method, getter)]
    pub fn headers(this: &FetchResponse) -> FetchHeaders;
    #[wasm_bindgen(method, js_name = arrayBuffer, catch)]
    pub fn array_buffer(this: &FetchResponse) -> Result<Promise, JsValue>;

    pub type FetchHeaders;
    #[wasm_bindgen(method, catch)]
    pub fn get(this: &FetchHeaders, name: &str) -> Result<Option<String>, JsValue>;
}

/// Monotonic milliseconds, falling back to `Date.now()` where
/// `performance` is missing.
pub fn monotonic_ms() -> f64 {
    performance_now().unwrap_or_else(|_| date_now())
}

#[cfg(feature = "timers")]
/// A short description of a thrown JS value, for error messages.
pub fn describe(value: &JsValue) -> String {
    if let Some(error) = value.dyn_ref::<js_sys::Error>() {
        let name = String::from(error.name());
        let message = String::from(error.message());
        return format!("{name}: {message}");
    }
    value
        .as_string()
        .unwrap_or_else(|| "unknown error".to_owned())
}

#[cfg(feature = "timers")]
/// Whether a thrown value is the abort of `AbortSignal.timeout`.
pub fn is_timeout(value: &JsValue) -> bool {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| {
            let name = String::from(e.name());
            name == "TimeoutError" || name == "AbortError"
        })
        .unwrap_or(false)
}

#[cfg(feature = "timers")]
/// Whether the global object looks like a page or a Web Worker, where the
/// browser sets `User-Agent` itself.
pub fn in_browser() -> bool {
    let global = js_sys::global();
    ["document", "importScripts"]
        .iter()
        .any(|name| js_sys::Reflect::has(&global, &JsValue::from_str(name)).unwrap_or(false))
}

/// `target[key] = value`, ignoring the (impossible) failure on a plain object.
pub fn set(target: &Object, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(target, &JsValue::from_str(key), value);
}
