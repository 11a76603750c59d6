//! The timer-driven client (`TidingsCore`, the default build): browsers,
//! Web Workers and Node. Delivery runs on its own: one timer is kept armed
//! for the core's next deadline, and the JavaScript host performs the
//! requests (see [`crate::driver`]).

use std::time::Duration;

use tidings::{RequestId, Response, TransportError};
use wasm_bindgen::prelude::*;

use crate::driver::{self, DEFAULT_WAIT, Host, Shared, drive};
use crate::error::error;
use crate::{build_event, capture_result, meter_result, new_core, stats_json};

/// The wasm side of `Tidings` (see `js/index.js`): one core and its timer.
/// Usable directly, but the wrapper is the supported API.
#[wasm_bindgen]
pub struct TidingsCore {
    shared: Shared,
}

#[wasm_bindgen]
impl TidingsCore {
    /// Starts a client from options checked by `js/options.js` (see
    /// [`crate::options::config`]); requests and notices go to `host`.
    /// Throws a `RangeError` naming the option when the core refuses the
    /// combination.
    #[wasm_bindgen(constructor)]
    pub fn new(
        host_url: String,
        api_key: String,
        names: String,
        values: &[f64],
        headers: String,
        host: Host,
    ) -> Result<TidingsCore, JsValue> {
        let core = new_core(host_url, api_key, &names, values, &headers)?;
        Ok(TidingsCore {
            shared: driver::Inner::new(core, host),
        })
    }

    /// Queues an event (see [`crate::build_event`] for the arguments).
    ///
    /// Returns the event's uuid, or `undefined` when the event was valid but
    /// not accepted (queue full, client shut down): those are counted in
    /// `stats().dropped` and logged once per interval, never thrown, so a
    /// page keeps running when the endpoint is down. Invalid input throws.
    #[allow(clippy::too_many_arguments)]
    pub fn capture(
        &self,
        name: String,
        properties_json: Option<String>,
        distinct_id: String,
        uuid: Option<String>,
        timestamp_ms: f64,
        session_id: Option<String>,
        window_id: Option<String>,
    ) -> Result<Option<String>, JsValue> {
        let event = build_event(
            name,
            properties_json,
            distinct_id,
            uuid,
            timestamp_ms,
            session_id,
            window_id,
        )?;
        let result = drive(&self.shared, |inner, now| inner.core.capture(now, event))?;
        capture_result(result)
    }

    /// Adds `value` to the counter `(tenant, metric, tags)` of the current
    /// metering window; `tags_json` is `JSON.stringify` of an object (key
    /// order does not matter) or undefined. Throws a `RangeError` when the
    /// core refuses the update (nothing is recorded then).
    pub fn count(
        &self,
        tenant: String,
        metric: String,
        value: f64,
        tags_json: Option<String>,
    ) -> Result<(), JsValue> {
        meter_result(drive(&self.shared, |inner, now| {
            inner
                .core
                .count_json(now, &tenant, &metric, value, tags_json.as_deref())
        })?)
    }

    /// Sets the gauge `(tenant, metric, tags)`: the window keeps the last value.
    pub fn gauge(
        &self,
        tenant: String,
        metric: String,
        value: f64,
        tags_json: Option<String>,
    ) -> Result<(), JsValue> {
        meter_result(drive(&self.shared, |inner, now| {
            inner
                .core
                .gauge_json(now, &tenant, &metric, value, tags_json.as_deref())
        })?)
    }

    /// Closes the metering window now (its entries become events in the
    /// queue); returns how many entries it had.
    #[wasm_bindgen(js_name = flushMeters)]
    pub fn flush_meters(&self) -> Result<f64, JsValue> {
        drive(&self.shared, |inner, now| {
            inner.core.flush_meters(now).len() as f64
        })
    }

    /// Metering keys buffered in the current window.
    #[wasm_bindgen(getter, js_name = meterKeys)]
    pub fn meter_keys(&self) -> f64 {
        self.shared
            .try_borrow()
            .map_or(0.0, |inner| inner.core.meter_keys() as f64)
    }

    /// Milliseconds since the oldest buffered metering entry was written,
    /// or undefined when none is buffered.
    #[wasm_bindgen(getter, js_name = meterOldestAgeMs)]
    pub fn meter_oldest_age_ms(&self) -> Option<f64> {
        let inner = self.shared.try_borrow().ok()?;
        let now = inner.now();
        inner
            .core
            .meter_oldest_age(now.monotonic)
            .map(|d| d.as_micros() as f64 / 1000.0)
    }

    /// Reports the answer to the request handed out as `id`.
    pub fn answer(
        &self,
        id: f64,
        status: f64,
        retry_after: Option<String>,
        body: Option<Vec<u8>>,
    ) -> Result<(), JsValue> {
        let status = if (100.0..1000.0).contains(&status) {
            status as u16
        } else {
            0
        };
        let response = Response {
            status,
            retry_after,
            body: body.unwrap_or_default(),
        };
        self.report(id, Ok(response))
    }

    /// Reports that a request got no answer: `timedOut` for an abort at its
    /// timeout, otherwise a connection error described by `message`.
    #[wasm_bindgen(js_name = answerError)]
    pub fn answer_error(&self, id: f64, timed_out: bool, message: String) -> Result<(), JsValue> {
        let error = if timed_out {
            TransportError::Timeout
        } else {
            TransportError::Connection(message)
        };
        self.report(id, Err(error))
    }

    /// Feeds an answer to the core (an id it does not know is ignored).
    fn report(&self, id: f64, outcome: Result<Response, TransportError>) -> Result<(), JsValue> {
        // `as` saturates: a bogus number is just an unknown id.
        let id = RequestId::from_u64(id as u64);
        drive(&self.shared, |inner, now| {
            inner.core.handle_response(now, id, outcome)
        })
    }

    /// Pauses (`false`) or resumes (`true`) sending: the page went offline
    /// or came back. Nothing is dropped while paused (see `Core::pause`).
    #[wasm_bindgen(js_name = setOnline)]
    pub fn set_online(&self, online: bool) -> Result<(), JsValue> {
        drive(&self.shared, |inner, now| {
            if online {
                inner.core.resume(now)
            } else {
                inner.core.pause(now)
            }
        })
    }

    /// Counts `count` events the wrapper refused before calling into wasm
    /// (see [`crate::refused_reason`]: JSON longer than `maxEventBytes`, or
    /// persisted events past their maximum age).
    /// It only counts: a warning it causes is logged by the next drain.
    #[wasm_bindgen(js_name = noteRefused)]
    pub fn note_refused(&self, kind: u32, count: f64) -> Result<(), JsValue> {
        let mut inner = self
            .shared
            .try_borrow_mut()
            .map_err(|_| error("tidings: called from inside one of its own callbacks"))?;
        let now = inner.now();
        inner
            .core
            .refuse(now, crate::refused_reason(kind), count as u64);
        Ok(())
    }

    /// `maxEventBytes` after defaults.
    #[wasm_bindgen(getter, js_name = maxEventBytes)]
    pub fn max_event_bytes(&self) -> f64 {
        self.shared
            .try_borrow()
            .map(|inner| inner.core.config().max_event_bytes as f64)
            .unwrap_or(f64::MAX)
    }

    /// Starts sending everything captured so far, now. Returns the id the
    /// host's `flushed(id, completed, pending)` will name once all of it is
    /// delivered or dropped, or when `timeoutMs` (default 10 000) passes;
    /// `-1` when the client is shut down (nothing to wait for).
    pub fn flush(&self, timeout_ms: Option<f64>) -> Result<f64, JsValue> {
        let timeout = wait_time(timeout_ms);
        drive(&self.shared, |inner, now| {
            if inner.core.is_shut_down() {
                -1.0
            } else {
                inner.core.flush(now, timeout).as_u64() as f64
            }
        })
    }

    /// Stops accepting events, sends what is pending within `timeoutMs`
    /// (default 10 000) and drops the rest; the host's `shutDown(drained,
    /// dropped)` follows (again on every later call).
    pub fn shutdown(&self, timeout_ms: Option<f64>) -> Result<(), JsValue> {
        let timeout = wait_time(timeout_ms);
        drive(&self.shared, |inner, now| {
            inner.core.shutdown(now, timeout);
        })
    }

    /// The counters now, as a plain object: `captured`, `delivered`,
    /// `pending`, `queued`, `retrying`, `inFlight`, `pendingBytes`,
    /// `requests`, `retries`, `droppedTotal` and `dropped` (by reason).
    /// `captured === delivered + droppedTotal + pending` always holds.
    pub fn stats(&self) -> Result<String, JsValue> {
        let inner = self
            .shared
            .try_borrow()
            .map_err(|_| error("tidings: stats() called from inside a tidings callback"))?;
        Ok(stats_json(&inner.core.stats()))
    }
}

/// A timeout in milliseconds (checked by `js/options.js`); none means
/// the default. Saturating: never a panic.
fn wait_time(ms: Option<f64>) -> Duration {
    ms.map_or(DEFAULT_WAIT, |ms| {
        Duration::from_micros((ms * 1000.0) as u64)
    })
}
