//! # tidings-browser
//!
//! The Tidings core driven from JavaScript: browsers, Web Workers, Node 18
//! and later, and workerd. Requests go through the global `fetch`, one
//! `setTimeout` is kept armed for the core's next deadline, time comes
//! from `performance.now()` and `Date.now()`, and the seed from
//! `crypto.getRandomValues`.
//!
//! [`TidingsCore`] is the wasm-bindgen class (and `TidingsWorkersCore`, in
//! [`workers`], its timer-free twin for Cloudflare Workers); applications use the ESM
//! wrapper `js/index.js` (class `Tidings`), which serializes properties with
//! `JSON.stringify` and turns its errors into clear `TypeError`s.
//!
//! Nothing here panics on input from JavaScript: every value is checked and
//! refused with a thrown `TypeError` / `RangeError` / `Error` whose message
//! names the option or argument.
//!
//! Later slices plug in here: a persisted anonymous id ([`identity`]),
//! unload-safe sends, storage of unacknowledged events (the `Delivered` /
//! `Dropped` notices in [`driver`]) and offline pauses.

mod driver;
mod error;
pub mod identity;
mod js;
mod options;
mod workers;

use std::time::Duration;

use js_sys::{Function, Object, Promise, Reflect};
use serde_json::value::RawValue;
use tidings::{CaptureError, Core, Event, Stats, Uuid, WallTime};
use wasm_bindgen::prelude::*;

use crate::driver::{Shared, drive, flush_result, set, shutdown_result};
use crate::error::{error, range_error, type_error};
use crate::options::{js_names, type_name};

/// How long `flush()` and `shutdown()` wait when given no timeout.
const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// The wasm side of `Tidings` (see `js/index.js`): one core, its timer and
/// its requests. Usable directly, but the wrapper is the supported API.
#[wasm_bindgen]
pub struct TidingsCore {
    shared: Shared,
    distinct_id: String,
}

#[wasm_bindgen]
impl TidingsCore {
    /// Checks `options` (see `index.d.ts` for the list) and starts a client.
    /// Throws a `TypeError` or `RangeError` naming the offending option.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<TidingsCore, JsValue> {
        let settings = options::parse(&options)?;
        let core = new_core(settings.config)?;
        let distinct_id = settings.distinct_id.unwrap_or_else(identity::anonymous_id);
        Ok(TidingsCore {
            shared: driver::Inner::new(core),
            distinct_id,
        })
    }

    /// Queues an event. `properties_json` is `undefined` or the JSON text of
    /// an object; `options` may hold `distinctId`, `uuid` and `timestamp`
    /// (a `Date`, epoch milliseconds or an RFC 3339 string).
    ///
    /// Returns the event's uuid, or `undefined` when the event was valid but
    /// not accepted (queue full, client shut down): those are counted in
    /// `stats().dropped` and logged once per interval, never thrown, so a
    /// page keeps running when the endpoint is down. Invalid input throws.
    pub fn capture(
        &self,
        event: JsValue,
        properties_json: JsValue,
        options: JsValue,
    ) -> Result<Option<String>, JsValue> {
        let event = build_event(&event, &properties_json, &options, &self.distinct_id)?;
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

    /// The `distinct_id` of events captured without one.
    #[wasm_bindgen(getter, js_name = distinctId)]
    pub fn distinct_id(&self) -> String {
        self.distinct_id.clone()
    }

    /// Sends everything captured so far; resolves `{ completed, pending }`
    /// once all of it is delivered or dropped, or when `timeoutMs` (default
    /// 10 000) passes. Never rejects.
    pub fn flush(&self, timeout_ms: JsValue) -> Result<Promise, JsValue> {
        let timeout = wait_time("flush", &timeout_ms)?;
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
    pub fn shutdown(&self, timeout_ms: JsValue) -> Result<Promise, JsValue> {
        let timeout = wait_time("shutdown", &timeout_ms)?;
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

/// Counts captures the wrapper refused as too large before they reached
/// the core: captured, and dropped as `too_large`.
fn add_refused_too_large(stats: &mut Stats, refused: u64) {
    if refused > 0 {
        stats.captured += refused;
        *stats
            .dropped
            .entry(tidings::DropReason::TooLarge)
            .or_default() += refused;
    }
}

/// A core with a random seed, or the `RangeError` naming the bad option.
/// One call site for both classes (it is large once inlined).
#[inline(never)]
fn new_core(config: tidings::Config) -> Result<Core, JsValue> {
    Core::new(config, identity::random_u64()).map_err(|e| options::config_error(&e))
}

/// `capture`'s answer: the uuid, `undefined` for a counted refusal, or a
/// thrown error for invalid input.
fn capture_result(result: Result<Uuid, CaptureError>) -> Result<Option<String>, JsValue> {
    match result {
        Ok(uuid) => Ok(Some(uuid.to_string())),
        Err(e @ CaptureError::InvalidEvent(_)) => {
            Err(type_error(&format!("tidings: capture refused: {e}")))
        }
        Err(e @ CaptureError::TooLarge { .. }) => Err(range_error(&format!(
            "tidings: capture refused: {}",
            js_names(&e.to_string())
        ))),
        Err(_) => Ok(None),
    }
}

fn stats_object(s: &Stats) -> Object {
    let o = Object::new();
    let n = |v: u64| JsValue::from_f64(v as f64);
    set(&o, "captured", &n(s.captured));
    set(&o, "delivered", &n(s.delivered));
    set(&o, "pending", &n(s.pending));
    set(&o, "queued", &n(s.queued));
    set(&o, "retrying", &n(s.retrying));
    set(&o, "inFlight", &n(s.in_flight));
    set(&o, "pendingBytes", &n(s.pending_bytes));
    set(&o, "requests", &n(s.requests));
    set(&o, "retries", &n(s.retries));
    set(&o, "droppedTotal", &n(s.dropped_total()));
    let dropped = Object::new();
    for (reason, count) in &s.dropped {
        set(&dropped, &reason.to_string(), &n(*count));
    }
    set(&o, "dropped", &dropped);
    o
}

/// A promise and its `resolve` function.
fn new_promise() -> Result<(Promise, Function), JsValue> {
    let mut resolve_fn = None;
    let promise = Promise::new(&mut |resolve, _reject| resolve_fn = Some(resolve));
    let resolve = resolve_fn.ok_or_else(|| error("tidings: Promise executor did not run"))?;
    Ok((promise, resolve))
}

/// A timeout argument in milliseconds; `undefined` means the default.
fn wait_time(what: &str, value: &JsValue) -> Result<Duration, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(DEFAULT_WAIT);
    }
    match value.as_f64() {
        Some(ms) if (0.0..=9.0e12).contains(&ms) => Ok(Duration::from_micros((ms * 1000.0) as u64)),
        Some(ms) => Err(range_error(&format!(
            "tidings: {what}(timeoutMs) must be from 0 to 9e12 milliseconds, got {}",
            options::show_number(ms)
        ))),
        None => Err(type_error(&format!(
            "tidings: {what}(timeoutMs) must be a number of milliseconds, got {}",
            type_name(value)
        ))),
    }
}

fn build_event(
    name: &JsValue,
    properties_json: &JsValue,
    options: &JsValue,
    default_distinct_id: &str,
) -> Result<Event, JsValue> {
    let Some(name) = name.as_string() else {
        return Err(type_error(&format!(
            "tidings: capture(event) needs the event name as a string, got {}",
            type_name(name)
        )));
    };
    if name.trim().is_empty() {
        return Err(type_error(
            "tidings: capture(event) needs a non-empty event name",
        ));
    }

    let mut distinct_id = None;
    let mut uuid = None;
    let mut timestamp = None;
    if !options.is_undefined() && !options.is_null() {
        if !options.is_object() || js_sys::Array::is_array(options) {
            return Err(type_error(&format!(
                "tidings: capture options must be an object like {{ distinctId, uuid, timestamp }}, got {}",
                type_name(options)
            )));
        }
        let get = |key: &str| -> Result<Option<JsValue>, JsValue> {
            let v = Reflect::get(options, &JsValue::from_str(key))?;
            Ok((!v.is_undefined() && !v.is_null()).then_some(v))
        };
        if let Some(v) = get("distinctId")? {
            match v.as_string() {
                Some(id) if !id.trim().is_empty() => distinct_id = Some(id),
                _ => {
                    return Err(type_error(&format!(
                        "tidings: capture option \"distinctId\" must be a non-empty string, got {}",
                        type_name(&v)
                    )));
                }
            }
        }
        if let Some(v) = get("uuid")? {
            let parsed = v.as_string().and_then(|s| Uuid::parse_str(&s).ok());
            match parsed {
                Some(u) => uuid = Some(u),
                None => {
                    return Err(type_error(&format!(
                        "tidings: capture option \"uuid\" must be a UUID string, got {}",
                        type_name(&v)
                    )));
                }
            }
        }
        if let Some(v) = get("timestamp")? {
            timestamp = Some(parse_timestamp(&v)?);
        }
    }

    let mut event = Event::new(
        name,
        distinct_id.unwrap_or_else(|| default_distinct_id.to_owned()),
    );
    if !properties_json.is_undefined() && !properties_json.is_null() {
        let Some(text) = properties_json.as_string() else {
            return Err(type_error(&format!(
                "tidings: properties must be JSON text (the wrapper passes JSON.stringify(properties)), got {}",
                type_name(properties_json)
            )));
        };
        if !text.starts_with('{') {
            return Err(type_error(
                "tidings: properties must be a plain object (not an array, string or number)",
            ));
        }
        let raw = RawValue::from_string(text)
            .map_err(|e| type_error(&format!("tidings: properties are not valid JSON: {e}")))?;
        event = event.properties(&raw);
    }
    if let Some(u) = uuid {
        event = event.uuid(u);
    }
    if let Some(t) = timestamp {
        event = event.timestamp(t);
    }
    Ok(event)
}

/// A `Date`, epoch milliseconds, or an RFC 3339 string.
fn parse_timestamp(v: &JsValue) -> Result<WallTime, JsValue> {
    let millis = if let Some(date) = v.dyn_ref::<js_sys::Date>() {
        date.get_time()
    } else if let Some(n) = v.as_f64() {
        n
    } else if let Some(s) = v.as_string() {
        return WallTime::parse_rfc3339(&s).ok_or_else(|| {
            range_error(&format!(
                "tidings: capture option \"timestamp\" is not an RFC 3339 date: {s:?}"
            ))
        });
    } else {
        return Err(type_error(&format!(
            "tidings: capture option \"timestamp\" must be a Date, epoch milliseconds or an RFC 3339 string, got {}",
            type_name(v)
        )));
    };
    if !millis.is_finite() || millis < 0.0 {
        return Err(range_error(&format!(
            "tidings: capture option \"timestamp\" must be a valid date at or after 1970, got {}",
            options::show_number(millis)
        )));
    }
    Ok(WallTime::from_unix_millis(millis as u64))
}
