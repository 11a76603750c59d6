//! # tidings-browser
//!
//! The Tidings core driven from JavaScript: browsers, Web Workers, Node 18
//! and later, and workerd. Requests go through the global `fetch`, the
//! JavaScript host keeps one `setTimeout` armed for the core's next
//! deadline, time comes from `performance.now()` and `Date.now()`, and the
//! seed from `crypto.getRandomValues`.
//!
//! Two builds of this crate, chosen by cargo feature (see `wasm-pack.toml`):
//! `timers` (the default) exports [`TimerDriver`], driven by one timer its
//! host keeps for the core, for browsers, Web Workers and Node;
//! `workers` exports `WindowDriver`, its timer-free twin for Cloudflare
//! Workers, which delivers within the core's delivery windows. Each build
//! ships only its own class; what they share is written once
//! ([`shared_methods`]). Every delivery decision is the core's: these
//! classes are its loop and nothing else. Applications use the ESM
//! wrappers `js/index.js` and `js/workers.js` (class `Tidings`), which
//! serialize properties with `JSON.stringify` and turn its errors into
//! clear `TypeError`s.
//!
//! Nothing here panics on input from JavaScript: every value is checked and
//! refused with a thrown `TypeError` / `RangeError` / `Error` whose message
//! names the option or argument.

#[macro_use]
mod shared_methods;
mod error;
mod js;
mod options;
mod seed;
#[cfg(feature = "timers")]
mod timer_driver;
#[cfg(feature = "workers")]
mod window_driver;

use tidings::{
    CaptureError, Core, Event, RequestId, Response, Stats, TransportError, Uuid, WallTime,
};
use wasm_bindgen::prelude::*;

use crate::error::{range_error, type_error};
pub use crate::options::OPTION_ORDER;
#[cfg(feature = "timers")]
pub use crate::timer_driver::{Host, TimerDriver};
#[cfg(feature = "workers")]
pub use crate::window_driver::WindowDriver;

/// The core's id for a number from JavaScript (`as` saturates: a bogus
/// number is just an id the core ignores).
fn request_id(id: f64) -> RequestId {
    RequestId::from_u64(id as u64)
}

/// An HTTP answer from JavaScript's numbers and strings; a status outside
/// 100..1000 becomes 0 (a final answer, never a panic).
fn response(status: f64, retry_after: Option<String>, body: Option<Vec<u8>>) -> Response {
    let status = if (100.0..1000.0).contains(&status) {
        status as u16
    } else {
        0
    };
    Response {
        status,
        retry_after,
        body: body.unwrap_or_default(),
    }
}

/// A request that got no answer: aborted at its timeout, or a connection
/// error described by `message`.
fn transport_error(timed_out: bool, message: String) -> TransportError {
    if timed_out {
        TransportError::Timeout
    } else {
        TransportError::Connection(message)
    }
}

/// The reason of a refusal the JS wrapper made before calling into wasm:
/// `0` a capture whose JSON is longer than `maxEventBytes` (`too_large`),
/// `2` a capture whose arguments are invalid (`invalid_event`, as the core
/// counts its own). (`1` was persisted events past their maximum age: the
/// core decides that now, see [`build_event`]'s `first_captured_ms`.)
fn refused_reason(kind: u32) -> tidings::DropReason {
    if kind == 2 {
        tidings::DropReason::InvalidEvent
    } else {
        tidings::DropReason::TooLarge
    }
}

/// A core from checked options (see [`options::config`]) with a random
/// seed, or the `RangeError` naming the bad option. One call site for both
/// classes (it is large once inlined).
#[inline(never)]
fn new_core(host: String, api_key: String, values: &[f64], headers: &str) -> Result<Core, JsValue> {
    seeded_core(options::config(host, api_key, values, headers)?)
}

/// A core for `config` with a random seed.
fn seeded_core(config: tidings::Config) -> Result<Core, JsValue> {
    Core::new(config, seed::random_u64()).map_err(|e| options::config_error(&e))
}

/// A metering refusal (empty tenant or metric, a non-finite value, tags
/// that are not an object, a count past 2^53) as a thrown `RangeError`.
fn meter_result(result: Result<(), tidings::MeterError>) -> Result<(), JsValue> {
    result.map_err(|e| range_error(&format!("tidings: metering refused: {e}")))
}

/// `capture`'s answer: the uuid, `undefined` for a counted refusal, or a
/// thrown error for invalid input. (Not the refusal's reason: the only
/// caller that needs it, the replay of persisted events, tells it apart
/// itself; returning it cost the module ~190 B gzip.)
fn capture_result(result: Result<Uuid, CaptureError>) -> Result<Option<String>, JsValue> {
    match result {
        Ok(uuid) => Ok(Some(uuid.to_string())),
        // The reason itself, not CaptureError's Display: that would link
        // every refusal's message into the module.
        Err(CaptureError::InvalidEvent(why)) => Err(type_error(&format!(
            "tidings: capture refused: invalid event: {why}"
        ))),
        Err(CaptureError::TooLarge { size, max }) => Err(range_error(&format!(
            "tidings: capture refused: the event is {size} bytes encoded, above maxEventBytes ({max}): trim its properties"
        ))),
        Err(_) => Ok(None),
    }
}

/// Appends what a notice resolved to `list`, the comma-separated form the
/// JavaScript reads (`js/receipts.js`): the fate (`delivered`, `spilled`,
/// or the drop reason as `stats().dropped` names it), then the uuids it
/// applies to.
fn push_resolved(list: &mut String, fate: tidings::Fate, uuids: &[Uuid]) {
    use std::fmt::Write;
    if !list.is_empty() {
        list.push(',');
    }
    match fate {
        tidings::Fate::Dropped(reason) => {
            let _ = write!(list, "{reason}");
        }
        tidings::Fate::Delivered => list.push_str("delivered"),
        // Handed to a durable queue (`Config::spill`, which these builds
        // do not set yet); `Pending` is never a notice's.
        _ => list.push_str("spilled"),
    }
    // Hex by hand: the uuid crate's encoder, inlined here, and its
    // Display (formatting per uuid) both cost more.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for uuid in uuids {
        list.push(',');
        for (i, b) in uuid.as_bytes().iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                list.push('-');
            }
            list.push(char::from(HEX[usize::from(b >> 4)]));
            list.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

/// The counters as JSON text (`JSON.parse`d by `js/`: building the object
/// here would link a `Reflect.set` per field): `captured`, `delivered`,
/// `pending`, `queued`, `retrying`, `inFlight`, `pendingBytes`,
/// `requests`, `retries`, `droppedTotal` and `dropped` (by reason).
fn stats_json(s: &Stats) -> String {
    use std::fmt::Write;
    let mut out = String::from("{");
    let fields = [
        ("captured", s.captured),
        ("delivered", s.delivered),
        ("pending", s.pending),
        ("queued", s.queued),
        ("retrying", s.retrying),
        ("inFlight", s.in_flight),
        ("pendingBytes", s.pending_bytes),
        ("requests", s.requests),
        ("retries", s.retries),
        ("droppedTotal", s.dropped_total()),
    ];
    for (name, value) in fields {
        let _ = write!(out, "\"{name}\":{value},");
    }
    out.push_str("\"dropped\":{");
    for (i, (reason, count)) in s.dropped.iter().enumerate() {
        let comma = if i > 0 { "," } else { "" };
        let _ = write!(out, "{comma}\"{reason}\":{count}");
    }
    out.push_str("}}");
    out
}

/// What `js/` hands over for one capture, already checked there:
/// `properties_json` is `JSON.stringify` output (still checked by the
/// core), `uuid` a uuid string, `timestamp_ms` epoch milliseconds or NaN
/// for "now", the browser's session and window ids, and for an event
/// replayed from storage `first_captured_ms`, when an earlier page
/// captured it (epoch milliseconds; NaN otherwise): its `event_timeout`
/// counts from then, and the core refuses it as `expired` once past.
#[allow(clippy::too_many_arguments)]
fn build_event(
    name: String,
    properties_json: Option<String>,
    distinct_id: String,
    uuid: Option<String>,
    timestamp_ms: f64,
    session_id: Option<String>,
    window_id: Option<String>,
    first_captured_ms: f64,
) -> Result<Event, JsValue> {
    let mut event = Event::new(name, distinct_id);
    if let Some(id) = session_id {
        event = event.session_id(id);
    }
    if let Some(id) = window_id {
        event = event.window_id(id);
    }
    if let Some(json) = properties_json {
        event = event.properties_json(&json);
    }
    if let Some(uuid) = uuid {
        let uuid = Uuid::try_parse(&uuid)
            .map_err(|_| type_error("tidings: capture option \"uuid\" must be a UUID string"))?;
        event = event.uuid(uuid);
    }
    if timestamp_ms >= 0.0 {
        event = event.timestamp(WallTime::from_unix_millis(timestamp_ms as u64));
    }
    if first_captured_ms >= 0.0 {
        event = event.first_captured(WallTime::from_unix_millis(first_captured_ms as u64));
    }
    Ok(event)
}
