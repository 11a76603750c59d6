//! The constructor's options object: read field by field with `Reflect`,
//! each value type-checked, unknown names refused (a typo would otherwise
//! be silently ignored), then validated by the core. Every error names
//! the option as JavaScript spells it.

use std::time::Duration;

use js_sys::{Object, Reflect};
use tidings::{Config, ConfigError, LibInfo, OverflowPolicy, Protocol};
use wasm_bindgen::prelude::*;

use crate::error::{range_error, type_error};

/// The adapter's name in `$lib` and `PostHog-Sdk-Info`.
pub const LIB_NAME: &str = "tidings-browser";

/// What the options give: the core's configuration and the adapter's own
/// settings.
pub struct Settings {
    pub config: Config,
    /// The `distinct_id` of events captured without one.
    pub distinct_id: Option<String>,
}

/// Core field names (as in `ConfigError::field` and its messages) and the
/// JavaScript option names they come from. Longer names first, so that
/// rewriting a message never replaces a prefix of a longer name.
pub const NAMES: &[(&str, &str)] = &[
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

/// Options the core does not know about.
const ADAPTER_OPTIONS: &[&str] = &["distinctId"];

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

/// Browser defaults: a page has less memory than a server.
fn browser_config(api_key: String, host: String) -> Config {
    let mut c = Config::new(api_key, host);
    c.lib = LibInfo {
        name: LIB_NAME.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    c.flush_at = 50;
    c.max_queue_events = 10_000;
    c.max_queue_bytes = 16 * 1024 * 1024;
    c
}

/// Reads and checks the options object given to `new Tidings(options)`.
pub fn parse(options: &JsValue) -> Result<Settings, JsValue> {
    if !options.is_object() || options.is_function() || js_sys::Array::is_array(options) {
        return Err(type_error(&format!(
            "tidings: options must be an object like {{ apiKey, host }}, got {}",
            type_name(options)
        )));
    }
    let o = Options(options.unchecked_ref::<Object>());
    o.refuse_unknown()?;

    let host = o
        .string("host")?
        .ok_or_else(|| type_error("tidings: option \"host\" is required (the ingestion URL)"))?;
    let api_key = o.string("apiKey")?.unwrap_or_default();
    let mut c = browser_config(api_key, host);

    if let Some(p) = o.string("protocol")? {
        c.protocol = match p.as_str() {
            "posthog-v0" => Protocol::PostHogV0,
            "posthog-v1" => Protocol::PostHogV1,
            "json" => Protocol::Json,
            other => {
                return Err(range_error(&format!(
                    "tidings: option \"protocol\" must be \"posthog-v0\", \"posthog-v1\" or \"json\", got \"{other}\""
                )));
            }
        };
    }
    if let Some(p) = o.string("overflow")? {
        c.overflow = match p.as_str() {
            "drop-newest" => OverflowPolicy::DropNewest,
            "drop-oldest" => OverflowPolicy::DropOldest,
            other => {
                return Err(range_error(&format!(
                    "tidings: option \"overflow\" must be \"drop-newest\" or \"drop-oldest\", got \"{other}\""
                )));
            }
        };
    }
    set(
        &mut c.historical_migration,
        o.boolean("historicalMigration")?,
    );
    set(&mut c.geoip_disable, o.boolean("geoipDisable")?);
    if let Some(headers) = o.headers("headers")? {
        c.headers = headers;
    }

    set(&mut c.flush_at, o.count("flushAt")?);
    set(&mut c.max_batch_events, o.count("maxBatchEvents")?);
    set(&mut c.max_batch_bytes, o.count("maxBatchBytes")?);
    set(&mut c.max_event_bytes, o.count("maxEventBytes")?);
    set(&mut c.max_queue_events, o.count("maxQueueEvents")?);
    set(&mut c.max_queue_bytes, o.count("maxQueueBytes")?);
    set(&mut c.max_in_flight, o.count("maxInFlight")?);
    if let Some(n) = o.count("maxAttempts")? {
        c.retry.max_attempts = u32::try_from(n).unwrap_or(u32::MAX);
    }
    set(&mut c.flush_interval, o.millis("flushIntervalMs")?);
    set(&mut c.request_timeout, o.millis("requestTimeoutMs")?);
    set(&mut c.retry.initial_backoff, o.millis("initialBackoffMs")?);
    set(&mut c.retry.max_backoff, o.millis("maxBackoffMs")?);
    set(&mut c.warning_interval, o.millis("warningIntervalMs")?);
    if let Some(j) = o.number("jitter")? {
        c.retry.jitter = j;
    }

    let distinct_id = o.string("distinctId")?;
    if distinct_id.as_deref().is_some_and(|d| d.trim().is_empty()) {
        return Err(range_error(
            "tidings: option \"distinctId\" must not be empty",
        ));
    }
    c.validate().map_err(|e| config_error(&e))?;
    Ok(Settings {
        config: c,
        distinct_id,
    })
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

struct Options<'a>(&'a Object);

impl Options<'_> {
    /// The value of `name`; `undefined` and `null` mean "use the default".
    fn get(&self, name: &str) -> Result<Option<JsValue>, JsValue> {
        let v = Reflect::get(self.0, &JsValue::from_str(name))?;
        Ok(if v.is_undefined() || v.is_null() {
            None
        } else {
            Some(v)
        })
    }

    fn refuse_unknown(&self) -> Result<(), JsValue> {
        for key in Object::keys(self.0).iter() {
            let key = key.as_string().unwrap_or_default();
            let known = NAMES.iter().any(|(_, js)| *js == key) || ADAPTER_OPTIONS.contains(&&*key);
            if !known {
                let mut names: Vec<&str> = NAMES.iter().map(|(_, js)| *js).collect();
                names.extend(ADAPTER_OPTIONS);
                names.sort_unstable();
                return Err(type_error(&format!(
                    "tidings: unknown option \"{key}\" (known options: {})",
                    names.join(", ")
                )));
            }
        }
        Ok(())
    }

    fn string(&self, name: &str) -> Result<Option<String>, JsValue> {
        match self.get(name)? {
            None => Ok(None),
            Some(v) => v
                .as_string()
                .map(Some)
                .ok_or_else(|| wrong_type(name, "a string", &v)),
        }
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, JsValue> {
        match self.get(name)? {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| wrong_type(name, "a boolean", &v)),
        }
    }

    fn number(&self, name: &str) -> Result<Option<f64>, JsValue> {
        match self.get(name)? {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(n) if n.is_finite() => Ok(Some(n)),
                _ => Err(wrong_type(name, "a finite number", &v)),
            },
        }
    }

    /// A whole number of items or bytes.
    fn count(&self, name: &str) -> Result<Option<usize>, JsValue> {
        let Some(n) = self.number(name).map_err(|_| self.not_count(name))? else {
            return Ok(None);
        };
        if n.fract() != 0.0 || n < 0.0 || n > usize::MAX as f64 {
            return Err(range_error(&format!(
                "tidings: option \"{name}\" must be a whole number from 0 to {}, got {}",
                usize::MAX,
                show_number(n)
            )));
        }
        Ok(Some(n as usize))
    }

    fn not_count(&self, name: &str) -> JsValue {
        let v = self.get(name).ok().flatten().unwrap_or(JsValue::UNDEFINED);
        wrong_type(name, "a whole number", &v)
    }

    /// A duration in milliseconds.
    fn millis(&self, name: &str) -> Result<Option<Duration>, JsValue> {
        let Some(ms) = self.number(name)? else {
            return Ok(None);
        };
        // About 285 years: far beyond any useful setting, and no overflow.
        if !(0.0..=9.0e12).contains(&ms) {
            return Err(range_error(&format!(
                "tidings: option \"{name}\" must be a duration in milliseconds from 0 to 9e12, got {}",
                show_number(ms)
            )));
        }
        Ok(Some(Duration::from_micros((ms * 1000.0) as u64)))
    }

    /// An object of header names to string values.
    fn headers(&self, name: &str) -> Result<Option<Vec<(String, String)>>, JsValue> {
        let Some(v) = self.get(name)? else {
            return Ok(None);
        };
        if !v.is_object() || v.is_function() || js_sys::Array::is_array(&v) {
            return Err(wrong_type(name, "an object of header names to strings", &v));
        }
        let mut out = Vec::new();
        for entry in Object::entries(v.unchecked_ref::<Object>()).iter() {
            let pair: js_sys::Array = entry.unchecked_into();
            let key = pair.get(0).as_string().unwrap_or_default();
            let value = pair.get(1);
            let Some(value) = value.as_string() else {
                return Err(wrong_type(&format!("{name}.{key}"), "a string", &value));
            };
            out.push((key, value));
        }
        Ok(Some(out))
    }
}

fn wrong_type(name: &str, expected: &str, got: &JsValue) -> JsValue {
    type_error(&format!(
        "tidings: option \"{name}\" must be {expected}, got {}",
        type_name(got)
    ))
}

/// `typeof`-like description of a value, for messages.
pub fn type_name(v: &JsValue) -> String {
    if v.is_null() {
        return "null".to_owned();
    }
    if js_sys::Array::is_array(v) {
        return "an array".to_owned();
    }
    if let Some(s) = v.as_string() {
        let shown: String = s.chars().take(40).collect();
        return format!("the string \"{shown}\"");
    }
    if let Some(n) = v.as_f64() {
        return format!("the number {}", show_number(n));
    }
    v.js_typeof()
        .as_string()
        .unwrap_or_else(|| "unknown".to_owned())
}

/// A number as JavaScript shows it. Formatting floats in Rust would link
/// core's float printing (~13 KB of wasm) for error messages alone.
pub(crate) fn show_number(n: f64) -> String {
    js_sys::Number::from(n)
        .to_string_with_radix(10)
        .map(String::from)
        .unwrap_or_else(|_| "a number".to_owned())
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
