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

/// The options `config()` reads, by position: the order of `ORDER` in
/// `js/options.js` (a unit test compares the two).
pub const OPTION_ORDER: &[&str] = &[
    "flushAt",
    "maxBatchEvents",
    "maxBatchBytes",
    "maxEventBytes",
    "maxQueueEvents",
    "maxQueueBytes",
    "maxInFlight",
    "maxAttempts",
    "meterFlushKeys",
    "flushIntervalMs",
    "lingerMs",
    "requestTimeoutMs",
    "initialBackoffMs",
    "maxBackoffMs",
    "warningIntervalMs",
    "meterFlushIntervalMs",
    "eventTimeoutMs",
    "jitter",
    "historicalMigration",
    "geoipDisable",
    "allowInsecureHttp",
    "protocol",
    "overflow",
    "corsSimple",
    "adapterGzip",
    "deliveryWindows",
];

/// The configuration from checked options: `values` holds every option by
/// position, in the order `ORDER` in `js/options.js` lists them (NaN: not
/// given); counts and milliseconds as numbers, booleans as 0 or 1, choices
/// as their index there. `headers` alternates names and values, one per
/// line (strings rather than arrays: converting a `Vec<String>` links more
/// code into the wasm). Conversions saturate, so no value can panic here;
/// the core then refuses what does not fit.
pub fn config(
    host: String,
    api_key: String,
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

    let mut given = values.iter().map(|&v| (!v.is_nan()).then_some(v));
    let mut next = || given.next().flatten();
    // `as` saturates: never a panic.
    let count = |field: &mut usize, v: Option<f64>| {
        if let Some(v) = v {
            *field = v as usize;
        }
    };
    // js/options.js COUNTS
    count(&mut c.flush_at, next());
    count(&mut c.max_batch_events, next());
    count(&mut c.max_batch_bytes, next());
    count(&mut c.max_event_bytes, next());
    count(&mut c.max_queue_events, next());
    count(&mut c.max_queue_bytes, next());
    count(&mut c.max_in_flight, next());
    if let Some(v) = next() {
        c.retry.max_attempts = v as u32;
    }
    count(&mut c.meter_flush_keys, next());
    // MILLIS
    let ms = |v: f64| Duration::from_micros((v * 1000.0) as u64);
    for field in [
        &mut c.flush_interval,
        &mut c.linger,
        &mut c.request_timeout,
        &mut c.retry.initial_backoff,
        &mut c.retry.max_backoff,
        &mut c.warning_interval,
        &mut c.meter_flush_interval,
    ] {
        if let Some(v) = next() {
            *field = ms(v);
        }
    }
    // None unless given (js/index.js gives the browser build's default).
    c.event_timeout = next().map(ms);
    if let Some(v) = next() {
        c.retry.jitter = v;
    }
    // BOOLEANS (allowInsecureHttp's one warning comes from js/options.js),
    // then CHOICES, then HOST_FACTS.
    let (historical, geoip, insecure) = (next(), next(), next());
    let (protocol, overflow) = (next(), next());
    let (cors_simple, adapter_gzip, windows) = (next(), next(), next());
    let flag = |field: &mut bool, v: Option<f64>| {
        if let Some(v) = v {
            *field = v != 0.0;
        }
    };
    flag(&mut c.historical_migration, historical);
    flag(&mut c.geoip_disable, geoip);
    flag(&mut c.allow_insecure_http, insecure);
    flag(&mut c.cors_simple, cors_simple);
    flag(&mut c.adapter_gzip, adapter_gzip);
    flag(&mut c.delivery_windows, windows);
    match protocol {
        Some(1.0) => c.protocol = Protocol::PostHogV1,
        Some(2.0) => c.protocol = Protocol::Json,
        _ => {}
    }
    if overflow == Some(1.0) {
        c.overflow = OverflowPolicy::DropOldest;
    }
    // A byte split: `str::split(char)` links a char searcher into the module.
    let mut lines = headers
        .as_bytes()
        .split(|&b| b == b'\n')
        .filter(|_| !headers.is_empty())
        .map(|line| std::str::from_utf8(line).unwrap_or_default());
    while let (Some(name), Some(value)) = (lines.next(), lines.next()) {
        c.headers.push((name.to_owned(), value.to_owned()));
    }
    // The core validates it (Core::new).
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::OPTION_ORDER;

    /// The quoted names of the JS array (or object keys) declared as `decl`.
    fn js_list(js: &str, decl: &str, close: &str) -> Vec<String> {
        let start = js
            .find(decl)
            .unwrap_or_else(|| panic!("{decl} in js/options.js"))
            + decl.len();
        let body = &js[start..start + js[start..].find(close).expect("closed")];
        let mut names = Vec::new();
        for line in body.lines() {
            let line = line.trim();
            let line = line.split(':').next().unwrap_or(line);
            for part in line.split(',') {
                let part = part.trim().trim_matches(|c| c == '\'' || c == '"');
                if !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()) {
                    names.push(part.to_owned());
                }
            }
        }
        names
    }

    #[test]
    fn the_positions_match_js_options_order() {
        let js = include_str!("../js/options.js");
        assert!(js.contains(
            "const ORDER = [...COUNTS, ...MILLIS, 'jitter', ...BOOLEANS, ...Object.keys(CHOICES), ...HOST_FACTS];"
        ));
        let mut order = js_list(js, "const COUNTS = [", "];");
        order.extend(js_list(js, "const MILLIS = [", "];"));
        order.push("jitter".into());
        order.extend(js_list(js, "const BOOLEANS = [", "];"));
        order.extend(js_list(js, "const CHOICES = {", "};"));
        order.extend(js_list(js, "const HOST_FACTS = [", "];"));
        assert_eq!(order, OPTION_ORDER);
    }
}
