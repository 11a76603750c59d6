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

/// Core field names (as in `ConfigError::field` and its messages) and the
/// JavaScript option names they come from. Longer names first, so that
/// rewriting a message never replaces a prefix of a longer name.
pub const NAMES: &[(&str, &str)] = &[
    ("meter_flush_interval", "meterFlushIntervalMs"),
    ("meter_flush_keys", "meterFlushKeys"),
    ("retry.initial_backoff", "initialBackoffMs"),
    ("retry.max_attempts", "maxAttempts"),
    ("retry.max_backoff", "maxBackoffMs"),
    ("retry.jitter", "jitter"),
    ("historical_migration", "historicalMigration"),
    ("warning_interval", "warningIntervalMs"),
    ("max_batch_events", "maxBatchEvents"),
    ("max_queue_events", "maxQueueEvents"),
    ("max_batch_bytes", "maxBatchBytes"),
    ("max_event_bytes", "maxEventBytes"),
    ("max_queue_bytes", "maxQueueBytes"),
    ("request_timeout", "requestTimeoutMs"),
    ("flush_interval", "flushIntervalMs"),
    ("geoip_disable", "geoipDisable"),
    ("max_in_flight", "maxInFlight"),
    ("flush_at", "flushAt"),
    ("api_key", "apiKey"),
    ("overflow", "overflow"),
    ("protocol", "protocol"),
    ("headers", "headers"),
    ("host", "host"),
];

/// Rewrites the core's snake_case field names in `text` to option names.
pub fn js_names(text: &str) -> String {
    let mut out = text.to_owned();
    for (core, js) in NAMES {
        if core != js {
            out = out.replace(core, js);
        }
    }
    out
}

/// A `ConfigError` as a thrown `RangeError` naming the option.
pub fn config_error(e: &ConfigError) -> JsValue {
    let option = NAMES
        .iter()
        .find(|(core, _)| *core == e.field)
        .map_or(e.field, |(_, js)| js);
    range_error(&format!(
        "tidings: invalid option \"{option}\": {}",
        js_names(&e.problem)
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
            "requestTimeoutMs" => c.request_timeout = ms,
            "initialBackoffMs" => c.retry.initial_backoff = ms,
            "maxBackoffMs" => c.retry.max_backoff = ms,
            "warningIntervalMs" => c.warning_interval = ms,
            "meterFlushIntervalMs" => c.meter_flush_interval = ms,
            "jitter" => c.retry.jitter = v,
            "historicalMigration" => c.historical_migration = v != 0.0,
            "geoipDisable" => c.geoip_disable = v != 0.0,
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
    c.validate().map_err(|e| config_error(&e))?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_messages_use_option_names() {
        assert_eq!(
            js_names("(200) is larger than max_batch_events (100): lower flush_at"),
            "(200) is larger than maxBatchEvents (100): lower flushAt"
        );
        assert_eq!(js_names("retry.max_backoff"), "maxBackoffMs");
    }

    #[test]
    fn every_core_field_maps_to_a_distinct_option() {
        let mut js: Vec<&str> = NAMES.iter().map(|(_, j)| *j).collect();
        js.sort_unstable();
        js.dedup();
        assert_eq!(js.len(), NAMES.len());
    }
}
