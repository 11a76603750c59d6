//! The timer-driven client (`TidingsCore`, the default build): browsers,
//! Web Workers and Node. Delivery runs on its own: one `setTimeout` is
//! kept armed for the core's next deadline (see [`crate::driver`]).

use std::time::Duration;

use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;

use crate::driver::{self, Shared, drive, flush_result, shutdown_result};
use crate::error::error;
use crate::{add_refused_too_large, build_event, capture_result, new_core, stats_object};

/// How long `flush()` and `shutdown()` wait when given no timeout.
const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// The wasm side of `Tidings` (see `js/index.js`): one core, its timer and
/// its requests. Usable directly, but the wrapper is the supported API.
#[wasm_bindgen]
pub struct TidingsCore {
    shared: Shared,
}

#[wasm_bindgen]
impl TidingsCore {
    /// Starts a client from options checked by `js/options.js` (see
    /// [`crate::options::config`]). Throws a `RangeError` naming the option
    /// when the core refuses the combination.
    #[wasm_bindgen(constructor)]
    pub fn new(
        host: String,
        api_key: String,
        names: Vec<String>,
        values: &[f64],
        headers: Vec<String>,
    ) -> Result<TidingsCore, JsValue> {
        let core = new_core(host, api_key, &names, values, &headers)?;
        Ok(TidingsCore {
            shared: driver::Inner::new(core),
        })
    }

    /// Queues an event (see [`crate::build_event`] for the arguments).
    ///
    /// Returns the event's uuid, or `undefined` when the event was valid but
    /// not accepted (queue full, client shut down): those are counted in
    /// `stats().dropped` and logged once per interval, never thrown, so a
    /// page keeps running when the endpoint is down. Invalid input throws.
    pub fn capture(
        &self,
        name: String,
        properties_json: Option<String>,
        distinct_id: String,
        uuid: Option<String>,
        timestamp_ms: f64,
    ) -> Result<Option<String>, JsValue> {
        let event = build_event(name, properties_json, distinct_id, uuid, timestamp_ms)?;
        let result = drive(&self.shared, false, |inner, now| {
            inner.core.capture(now, event)
        })?;
        capture_result(result)
    }

    /// Counts a capture the wrapper refused before calling into wasm (its
    /// JSON is longer than `maxEventBytes`).
    #[wasm_bindgen(js_name = noteTooLarge)]
    pub fn note_too_large(&self) {
        if let Ok(mut inner) = self.shared.try_borrow_mut() {
            inner.refused_too_large += 1;
        }
    }

    /// `maxEventBytes` after defaults.
    #[wasm_bindgen(getter, js_name = maxEventBytes)]
    pub fn max_event_bytes(&self) -> f64 {
        self.shared
            .try_borrow()
            .map(|inner| inner.core.config().max_event_bytes as f64)
            .unwrap_or(f64::MAX)
    }

    /// Sends everything captured so far; resolves `{ completed, pending }`
    /// once all of it is delivered or dropped, or when `timeoutMs` (default
    /// 10 000) passes. Never rejects.
    pub fn flush(&self, timeout_ms: Option<f64>) -> Result<Promise, JsValue> {
        let timeout = wait_time(timeout_ms);
        let (promise, resolve) = new_promise()?;
        drive(&self.shared, true, |inner, now| {
            if inner.core.is_shut_down() {
                let _ = resolve.call1(
                    &JsValue::UNDEFINED,
                    &flush_result(tidings::FlushOutcome::Completed),
                );
            } else {
                let id = inner.core.flush(now, timeout);
                inner.flush_waiters.insert(id, resolve);
            }
        })?;
        Ok(promise)
    }

    /// Stops accepting events, sends what is pending within `timeoutMs`
    /// (default 10 000) and drops the rest; resolves `{ drained, dropped }`.
    /// Calling it again resolves with the first outcome. Never rejects.
    pub fn shutdown(&self, timeout_ms: Option<f64>) -> Result<Promise, JsValue> {
        let timeout = wait_time(timeout_ms);
        let (promise, resolve) = new_promise()?;
        drive(&self.shared, true, |inner, now| {
            if let Some(outcome) = inner.core.shutdown_outcome() {
                let _ = resolve.call1(&JsValue::UNDEFINED, &shutdown_result(outcome));
            } else {
                inner.core.shutdown(now, timeout);
                inner.shutdown_waiters.push(resolve);
            }
        })?;
        Ok(promise)
    }

    /// The counters now, as a plain object: `captured`, `delivered`,
    /// `pending`, `queued`, `retrying`, `inFlight`, `pendingBytes`,
    /// `requests`, `retries`, `droppedTotal` and `dropped` (by reason).
    /// `captured === delivered + droppedTotal + pending` always holds.
    pub fn stats(&self) -> Result<Object, JsValue> {
        let inner = self
            .shared
            .try_borrow()
            .map_err(|_| error("tidings: stats() called from inside a tidings callback"))?;
        let mut stats = inner.core.stats();
        add_refused_too_large(&mut stats, inner.refused_too_large);
        Ok(stats_object(&stats))
    }
}

/// A promise and its `resolve` function.
fn new_promise() -> Result<(Promise, Function), JsValue> {
    let mut resolve_fn = None;
    let promise = Promise::new(&mut |resolve, _reject| resolve_fn = Some(resolve));
    let resolve = resolve_fn.ok_or_else(|| error("tidings: Promise executor did not run"))?;
    Ok((promise, resolve))
}

/// A timeout in milliseconds (checked by `js/options.js`); none means
/// the default. Saturating: never a panic.
fn wait_time(ms: Option<f64>) -> Duration {
    ms.map_or(DEFAULT_WAIT, |ms| Duration::from_micros((ms * 1000.0) as u64))
}
