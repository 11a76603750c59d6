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
    let endpoint = Endpoint::parse(&c.host, c.protocol, c.gzip, c.allow_insecure_http)?;
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
        if !is_header_name(name) {
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
    // Every duration: longer than zero, and short enough for the clocks
    // and timers of every transport (a `Duration::MAX` timeout makes HTTP
    // clients panic computing their deadline).
    for (field, value, max) in [
        ("flush_interval", c.flush_interval, DAY),
        ("request_timeout", c.request_timeout, HOUR),
        ("retry.initial_backoff", c.retry.initial_backoff, DAY),
        ("retry.max_backoff", c.retry.max_backoff, DAY),
        ("warning_interval", c.warning_interval, DAY),
        ("meter_flush_interval", c.meter_flush_interval, DAY),
    ] {
        positive(field, value)?;
        if value > max {
            return err(
                field,
                "is too long: at most a day (request_timeout: an hour)".into(),
            );
        }
    }
    if let Some(timeout) = c.event_timeout {
        positive("event_timeout", timeout)?;
        if timeout > MAX_EVENT_TIMEOUT {
            return err(
                "event_timeout",
                "is too long: at most 3,650 days (None for no deadline)".into(),
            );
        }
    }
    if let Some(spill) = c.spill {
        if !c.delivery_windows {
            return err(
                "spill",
                "needs delivery_windows: events spill near the end of the last window".into(),
            );
        }
        positive("spill.margin", spill.margin)?;
        if spill.margin > HOUR {
            return err("spill.margin", "is too long: at most an hour".into());
        }
        at_least("spill.max_batch_events", spill.max_batch_events, 1)?;
        at_least("spill.max_event_bytes", spill.max_event_bytes, 64)?;
        if spill.max_batch_bytes < spill.max_event_bytes {
            return err(
                "spill.max_batch_bytes",
                "is smaller than spill.max_event_bytes: one event would not fit".into(),
            );
        }
    }
    if c.max_batch_bytes > 1 << 30 {
        return err(
            "max_batch_bytes",
            "is above 1 GiB, more than a request body can be".into(),
        );
    }
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
    if c.meter_event.trim().is_empty() {
        return err(
            "meter_event",
            "is empty: metering windows need an event name".into(),
        );
    }
    at_least("meter_flush_keys", c.meter_flush_keys, 1)?;
    Ok(endpoint)
}

/// Whether `name` is an HTTP header name (an RFC 9110 token).
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
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

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);
/// The longest `event_timeout`: far beyond any real use, and far below
/// where the core's nanosecond deadlines would overflow.
pub(crate) const MAX_EVENT_TIMEOUT: Duration = Duration::from_secs(3650 * 86_400);

fn positive(field: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        return Err(ConfigError::new(field, "must be longer than zero"));
    }
    Ok(())
}

/// Whole milliseconds for messages (as `u64`: formatting a `u128` links
/// more code in wasm).
fn millis(d: std::time::Duration) -> u64 {
    crate::time::whole_millis(d)
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
        // Valid-looking but unusable by any transport: refused, named.
        let e = check(|c| c.request_timeout = Duration::MAX).unwrap_err();
        assert!(
            e.contains("`request_timeout`") && e.contains("too long"),
            "{e}"
        );
        let e = check(|c| {
            c.retry.initial_backoff = Duration::MAX;
            c.retry.max_backoff = Duration::MAX;
        })
        .unwrap_err();
        assert!(e.contains("`retry.initial_backoff`"), "{e}");
        assert!(check(|c| c.max_batch_bytes = usize::MAX).is_err());
        check(|c| c.request_timeout = Duration::from_secs(3600)).unwrap();
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

    #[test]
    fn plain_http_to_a_remote_host_needs_allow_insecure_http() {
        let http = |c: &mut Config| c.host = "http://posthog:8000".into();
        let e = check(http).unwrap_err();
        assert!(
            e.contains("`host`") && e.contains("use https") && e.contains("allow_insecure_http"),
            "{e}"
        );
        check(|c| {
            http(c);
            c.allow_insecure_http = true;
        })
        .unwrap();
        for host in ["http://127.0.0.1:8000", "https://posthog.example.com"] {
            for allow in [false, true] {
                check(|c| {
                    c.host = host.into();
                    c.allow_insecure_http = allow;
                })
                .unwrap();
            }
        }
    }

    #[test]
    fn insecure_http_host_names_only_a_remote_plain_http_host() {
        let mut c = Config::new("phc_secret", "http://posthog:8000/?token=secret");
        assert_eq!(c.insecure_http_host(), None, "off without the opt-in");
        c.allow_insecure_http = true;
        assert_eq!(c.insecure_http_host(), Some("posthog:8000"));
        c.host = "http://localhost:8000".into();
        assert_eq!(c.insecure_http_host(), None);
        c.host = "https://posthog.example.com".into();
        assert_eq!(c.insecure_http_host(), None);
        assert!(format!("{c:?}").contains("allow_insecure_http: true"));
    }
}
