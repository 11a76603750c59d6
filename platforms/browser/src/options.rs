//! The constructor's options, checked by `js/options.js` (types, ranges,
//! unknown names) and handed over as name/value pairs; turned here into the
//! core's configuration, which the core validates. Every error names the
//! option as JavaScript spells it.

use std::time::Duration;

use tidings::{Config, ConfigError, LibInfo, OverflowPolicy, Protocol};
use wasm_bindgen::prelude::*;

use crate::error::range_error;

/// The adapter's name in `$lib` and `PostHog-Sdk-Info`.
pub const LIB_NAME: &str = "tidings-browser";

/// A `ConfigError` as a thrown `RangeError` naming the field. The core's
/// snake_case names are rewritten to option names by `js/options.js`
/// (`jsNames`): the table costs less there than in the wasm module.
pub fn config_error(e: &ConfigError) -> JsValue {
    range_error(&format!(
        "tidings: invalid option \"{}\": {}",
        e.field, e.problem
    ))
}

/// The configuration from checked options: the i-th of the comma-separated
/// `names` is set to `values[i]` (counts and milliseconds as numbers,
/// booleans as 0 or 1, choices as their index in `js/options.js`);
/// `headers` alternates names and values, one per line. (Strings rather
/// than arrays: converting a `Vec<String>` links more code into the wasm.) Conversions saturate, so no value can panic here; the core
/// then refuses what does not fit.
pub fn config(
    host: String,
    api_key: String,
    names: &str,
    values: &[f64],
    headers: &str,
) -> Result<Config, JsValue> {
    let mut c = Config::new(api_key, host);
    c.lib = LibInfo {
        name: LIB_NAME.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    // Browser defaults: a page has less memory than a server.
    c.flush_at = 50;
    c.max_queue_events = 10_000;
    c.max_queue_bytes = 16 * 1024 * 1024;
    // Each request costs the page's main thread about a millisecond (fetch,
    // then its answer), far more than the events in it: a due batch waits
    // a little so that a burst goes out in a few requests.
    c.linger = Duration::from_millis(10);
    for (name, &v) in names.split(',').zip(values) {
        // `as` saturates (NaN becomes 0): never a panic.
        let n = v as usize;
        let ms = Duration::from_micros((v * 1000.0) as u64);
        match name {
            "flushAt" => c.flush_at = n,
            "maxBatchEvents" => c.max_batch_events = n,
            "maxBatchBytes" => c.max_batch_bytes = n,
            "maxEventBytes" => c.max_event_bytes = n,
            "maxQueueEvents" => c.max_queue_events = n,
            "maxQueueBytes" => c.max_queue_bytes = n,
            "maxInFlight" => c.max_in_flight = n,
            "maxAttempts" => c.retry.max_attempts = v as u32,
            "meterFlushKeys" => c.meter_flush_keys = n,
            "flushIntervalMs" => c.flush_interval = ms,
            "lingerMs" => c.linger = ms,
            "requestTimeoutMs" => c.request_timeout = ms,
            "initialBackoffMs" => c.retry.initial_backoff = ms,
            "maxBackoffMs" => c.retry.max_backoff = ms,
            "warningIntervalMs" => c.warning_interval = ms,
            "meterFlushIntervalMs" => c.meter_flush_interval = ms,
            "jitter" => c.retry.jitter = v,
            "historicalMigration" => c.historical_migration = v != 0.0,
            "geoipDisable" => c.geoip_disable = v != 0.0,
            // Facts about the host (js/index.js), not user options.
            "corsSimple" => c.cors_simple = v != 0.0,
            "adapterGzip" => c.adapter_gzip = v != 0.0,
            "deliveryWindows" => c.delivery_windows = v != 0.0,
            "protocol" => {
                c.protocol = match n {
                    1 => Protocol::PostHogV1,
                    2 => Protocol::Json,
                    _ => Protocol::PostHogV0,
                }
            }
            "overflow" => {
                c.overflow = if n == 1 {
                    OverflowPolicy::DropOldest
                } else {
                    OverflowPolicy::DropNewest
                }
            }
            _ => {}
        }
    }
    let mut lines = headers.split('\n').filter(|_| !headers.is_empty());
    while let (Some(name), Some(value)) = (lines.next(), lines.next()) {
        c.headers.push((name.to_owned(), value.to_owned()));
    }
    // The core validates it (Core::new).
    Ok(c)
}
