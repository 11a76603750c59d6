//! What both wasm classes share: how an input reaches the core
//! ([`Driver`]), and the JS-facing methods written once on top of it
//! ([`shared_methods!`]), so the timer build and the Workers build cannot
//! drift apart. Each build compiles only its own class.

use tidings::{Core, Now};
use wasm_bindgen::JsValue;

/// How a class feeds one input to its core: borrow the state, sample the
/// clocks, run the input, then drain the outputs its own way (the timer
/// build hands requests to its host and re-arms its timer; the Workers
/// build only routes notices, its drains send).
pub(crate) trait Driver {
    fn input<R>(&self, input: impl FnOnce(&mut Core, Now) -> R) -> Result<R, JsValue>;

    /// An input that only queues (capture, metering): the timer build starts
    /// no request inside it (see `drive_queueing`).
    fn queue_input<R>(&self, input: impl FnOnce(&mut Core, Now) -> R) -> Result<R, JsValue> {
        self.input(input)
    }

    /// Reads the core without an input.
    fn read<R>(&self, read: impl FnOnce(&Core, Now) -> R) -> Result<R, JsValue>;
}

/// The JS-facing methods both classes have: `capture`, metering, the
/// answers to requests, refusals made in JavaScript, and `stats`.
macro_rules! shared_methods {
    ($class:ident) => {
        #[wasm_bindgen]
        impl $class {
            /// Queues an event (see [`crate::build_event`] for the
            /// arguments). Returns its uuid, or `undefined` when it was
            /// valid but not accepted (queue full, shut down, a replayed
            /// event past its deadline: counted in `stats().dropped`,
            /// never thrown, so a page keeps running when the endpoint is
            /// down). Invalid input throws.
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
                first_captured_ms: f64,
            ) -> Result<Option<String>, JsValue> {
                // Only the timer build replays persisted events (js/index.js):
                // the Workers build leaves that path out of its module.
                #[cfg(not(feature = "timers"))]
                let first_captured_ms = {
                    let _ = first_captured_ms;
                    f64::NAN
                };
                let event = crate::build_event(
                    name,
                    properties_json,
                    distinct_id,
                    uuid,
                    timestamp_ms,
                    session_id,
                    window_id,
                    first_captured_ms,
                )?;
                crate::capture_result(self.queue_input(|core, now| core.capture(now, event))?)
            }

            /// Adds `value` to the counter `(tenant, metric, tags)` of the
            /// current metering window; `tags_json` is `JSON.stringify` of
            /// an object (key order does not matter) or undefined. Throws a
            /// `RangeError` when the core refuses (nothing is recorded).
            pub fn count(
                &self,
                tenant: String,
                metric: String,
                value: f64,
                tags_json: Option<String>,
            ) -> Result<(), JsValue> {
                crate::meter_result(self.queue_input(|core, now| {
                    core.count_json(now, &tenant, &metric, value, tags_json.as_deref())
                })?)
            }

            /// Sets the gauge `(tenant, metric, tags)`: the window keeps
            /// the last value.
            pub fn gauge(
                &self,
                tenant: String,
                metric: String,
                value: f64,
                tags_json: Option<String>,
            ) -> Result<(), JsValue> {
                crate::meter_result(self.queue_input(|core, now| {
                    core.gauge_json(now, &tenant, &metric, value, tags_json.as_deref())
                })?)
            }

            /// Closes the metering window now (its entries become events
            /// in the queue); returns how many entries it had.
            #[wasm_bindgen(js_name = flushMeters)]
            pub fn flush_meters(&self) -> Result<f64, JsValue> {
                self.input(|core, now| core.flush_meters(now).len() as f64)
            }

            /// Metering keys buffered in the current window.
            #[wasm_bindgen(getter, js_name = meterKeys)]
            pub fn meter_keys(&self) -> f64 {
                self.read(|core, _| core.meter_keys() as f64).unwrap_or(0.0)
            }

            /// `maxEventBytes` after defaults (the wrapper refuses longer
            /// JSON before copying it into wasm memory).
            #[wasm_bindgen(getter, js_name = maxEventBytes)]
            pub fn max_event_bytes(&self) -> f64 {
                self.read(|core, _| core.config().max_event_bytes as f64)
                    .unwrap_or(f64::MAX)
            }

            /// Counts `count` events the wrapper refused before calling
            /// into wasm (see [`crate::refused_reason`]), so `stats()`
            /// accounts for them.
            #[wasm_bindgen(js_name = noteRefused)]
            pub fn note_refused(&self, kind: u32, count: f64) -> Result<(), JsValue> {
                let reason = crate::refused_reason(kind);
                self.queue_input(|core, now| core.refuse(now, reason, count as u64))
            }

            /// Reports the HTTP answer to the request handed out as `id`.
            /// Ids the core does not know (abandoned, already answered)
            /// are ignored.
            pub fn answer(
                &self,
                id: f64,
                status: f64,
                retry_after: Option<String>,
                body: Option<Vec<u8>>,
            ) -> Result<(), JsValue> {
                self.report(id, Ok(crate::response(status, retry_after, body)))
            }

            /// Reports that a request got no answer: `timedOut` for an
            /// abort at its timeout, otherwise a connection error
            /// described by `message`.
            #[wasm_bindgen(js_name = answerError)]
            pub fn answer_error(
                &self,
                id: f64,
                timed_out: bool,
                message: String,
            ) -> Result<(), JsValue> {
                self.report(id, Err(crate::transport_error(timed_out, message)))
            }

            /// One path for both kinds of answer (one copy in the module).
            fn report(
                &self,
                id: f64,
                outcome: Result<tidings::Response, tidings::TransportError>,
            ) -> Result<(), JsValue> {
                self.input(|core, now| core.handle_response(now, crate::request_id(id), outcome))
            }

            /// The counters now, as JSON text: `captured`, `delivered`,
            /// `pending`, `queued`, `retrying`, `inFlight`,
            /// `pendingBytes`, `requests`, `retries`, `droppedTotal` and
            /// `dropped` (by reason). `captured === delivered +
            /// droppedTotal + pending` always holds.
            pub fn stats(&self) -> Result<String, JsValue> {
                self.read(|core, _| crate::stats_json(&core.stats()))
            }
        }
    };
}
