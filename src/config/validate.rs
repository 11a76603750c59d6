//! Refuses configurations that cannot work, naming the field and the fix.

use std::fmt;
use std::time::Duration;

use super::{Config, Endpoint, Protocol};
use crate::wire::Envelope;

/// A configuration the core refuses; `Display` says what to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The offending field, as named in [`Config`].
    pub field: &'static str,
    /// What is wrong and what to do about it.
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, problem: impl Into<String>) -> Self {
        ConfigError {
            field,
            problem: problem.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid configuration `{}`: {}",
            self.field, self.problem
        )
    }
}

impl std::error::Error for ConfigError {}

/// Validates `c` and returns the endpoint it implies.
pub(crate) fn validate(c: &Config) -> Result<Endpoint, ConfigError> {
    let err = |field, problem: String| Err(ConfigError::new(field, problem));
    let endpoint = Endpoint::parse(&c.host, c.protocol, c.gzip)?;
    if c.protocol != Protocol::Json && c.api_key.expose().trim().is_empty() {
        return err(
            "api_key",
            "is empty: PostHog needs the project API key".into(),
        );
    }
    if c.api_key.expose().chars().any(|ch| ch.is_control()) {
        return err("api_key", "contains control characters".into());
    }
    if c.gzip && c.adapter_gzip {
        return err("adapter_gzip", "and gzip are both on: choose one".into());
    }
    #[cfg(not(feature = "windows"))]
    if c.delivery_windows {
        return err(
            "delivery_windows",
            "this build has no delivery windows: enable the `windows` feature".into(),
        );
    }
    #[cfg(not(feature = "gzip"))]
    if c.gzip {
        return err(
            "gzip",
            "this build has no gzip support: enable the `gzip` feature".into(),
        );
    }
    for (name, value) in &c.headers {
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return err("headers", format!("`{name}` is not a valid header name"));
        }
        if value
            .chars()
            .any(|ch| ch == '\r' || ch == '\n' || ch == '\0')
        {
            return err(
                "headers",
                format!("the value of `{name}` contains a line break or NUL"),
            );
        }
        let lower = name.to_ascii_lowercase();
        if [
            "content-length",
            "content-encoding",
            "host",
            "transfer-encoding",
        ]
        .contains(&lower.as_str())
        {
            return err(
                "headers",
                format!("`{name}` is set by the SDK and cannot be overridden"),
            );
        }
    }
    if c.lib.name.trim().is_empty() || c.lib.version.trim().is_empty() {
        return err("lib", "name and version must not be empty".into());
    }
    at_least("flush_at", c.flush_at, 1)?;
    at_least("max_batch_events", c.max_batch_events, 1)?;
    if c.flush_at > c.max_batch_events {
        return err(
            "flush_at",
            format!(
                "({}) is larger than max_batch_events ({}): lower flush_at or raise max_batch_events",
                c.flush_at, c.max_batch_events
            ),
        );
    }
    at_least("max_event_bytes", c.max_event_bytes, 64)?;
    let envelope = Envelope::new(c).max_len();
    if c.max_event_bytes.saturating_add(envelope) > c.max_batch_bytes {
        return err(
            "max_batch_bytes",
            format!(
                "({}) cannot hold one event of max_event_bytes ({}) plus the batch envelope ({envelope} bytes): raise max_batch_bytes or lower max_event_bytes",
                c.max_batch_bytes, c.max_event_bytes
            ),
        );
    }
    positive("flush_interval", c.flush_interval)?;
    if c.linger > c.flush_interval {
        return err("linger", "is longer than flush_interval: lower it".into());
    }
    at_least("max_queue_events", c.max_queue_events, 1)?;
    if c.max_queue_bytes < c.max_event_bytes {
        return err(
            "max_queue_bytes",
            format!(
                "({}) is smaller than max_event_bytes ({}): the largest event could never be queued",
                c.max_queue_bytes, c.max_event_bytes
            ),
        );
    }
    at_least("max_in_flight", c.max_in_flight, 1)?;
    if c.max_in_flight > 256 {
        return err(
            "max_in_flight",
            format!("({}) is above 256", c.max_in_flight),
        );
    }
    positive("request_timeout", c.request_timeout)?;
    positive("retry.initial_backoff", c.retry.initial_backoff)?;
    if c.retry.max_backoff < c.retry.initial_backoff {
        return err(
            "retry.max_backoff",
            format!(
                "({} ms) is shorter than retry.initial_backoff ({} ms)",
                millis(c.retry.max_backoff),
                millis(c.retry.initial_backoff)
            ),
        );
    }
    if c.retry.max_attempts == 0 {
        return err(
            "retry.max_attempts",
            "must be at least 1 (the first attempt counts)".into(),
        );
    }
    if !(0.0..1.0).contains(&c.retry.jitter) {
        return err(
            "retry.jitter",
            // No float formatting: it would cost the wasm build ~10 KB.
            "must be at least 0.0 and below 1.0 (a fraction of each wait)".into(),
        );
    }
    positive("warning_interval", c.warning_interval)?;
    if c.meter_event.trim().is_empty() {
        return err(
            "meter_event",
            "is empty: metering windows need an event name".into(),
        );
    }
    at_least("meter_flush_keys", c.meter_flush_keys, 1)?;
    positive("meter_flush_interval", c.meter_flush_interval)?;
    Ok(endpoint)
}

fn at_least(field: &'static str, value: usize, min: usize) -> Result<(), ConfigError> {
    if value < min {
        return Err(ConfigError::new(
            field,
            format!("({value}) must be at least {min}"),
        ));
    }
    Ok(())
}

fn positive(field: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        return Err(ConfigError::new(field, "must be longer than zero"));
    }
    Ok(())
}

/// Whole milliseconds for messages (as `u64`: formatting a `u128` links
/// more code in wasm).
fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(change: impl FnOnce(&mut Config)) -> Result<(), String> {
        let mut c = Config::new("phc_test", "https://example.com");
        change(&mut c);
        c.validate().map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_valid() {
        check(|_| {}).unwrap();
    }

    #[test]
    fn refuses_zero_and_contradictory_values() {
        let e = check(|c| c.flush_at = 0).unwrap_err();
        assert!(e.contains("`flush_at`") && e.contains("at least 1"), "{e}");
        let e = check(|c| c.flush_at = 2000).unwrap_err();
        assert!(e.contains("max_batch_events"), "{e}");
        let e = check(|c| c.max_batch_bytes = c.max_event_bytes).unwrap_err();
        assert!(e.contains("envelope"), "{e}");
        let e = check(|c| c.retry.max_backoff = std::time::Duration::from_millis(1)).unwrap_err();
        assert!(e.contains("retry.max_backoff"), "{e}");
        assert!(check(|c| c.retry.jitter = 1.5).is_err());
        assert!(check(|c| c.retry.jitter = f64::NAN).is_err());
        assert!(check(|c| c.max_in_flight = 0).is_err());
        assert!(check(|c| c.flush_interval = Duration::ZERO).is_err());
        assert!(
            check(|c| c.api_key = "".into())
                .unwrap_err()
                .contains("api_key")
        );
        assert!(check(|c| c.headers.push(("Bad Name".into(), "x".into()))).is_err());
        assert!(check(|c| c.headers.push(("X-Key".into(), "a\r\nb".into()))).is_err());
    }

    #[test]
    fn json_protocol_needs_no_key() {
        check(|c| {
            c.protocol = Protocol::Json;
            c.api_key = "".into();
        })
        .unwrap();
    }

    #[test]
    fn debug_never_shows_the_key_or_header_values() {
        let mut c = Config::new("phc_secret_value", "https://example.com");
        c.headers
            .push(("X-Write-Key".into(), "secret_header".into()));
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("phc_secret_value") && !shown.contains("secret_header"),
            "{shown}"
        );
    }
}
