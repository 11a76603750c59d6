//! What the user can tune, with defaults that suit a server-side SDK, and
//! the validation that refuses what cannot work.

mod endpoint;
mod validate;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::event::Event;

pub use endpoint::Endpoint;
pub(crate) use validate::validate as validate_config;
pub use validate::{ConfigError, is_header_name};

/// The API key (PostHog project token). Never shown by `Debug` or `Display`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    /// The key itself, for the wire only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no key was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("ApiKey(<empty>)")
        } else {
            f.write_str("ApiKey(<redacted>)")
        }
    }
}

impl From<&str> for ApiKey {
    fn from(s: &str) -> Self {
        ApiKey::new(s)
    }
}

impl From<String> for ApiKey {
    fn from(s: String) -> Self {
        ApiKey::new(s)
    }
}

/// Which wire format to speak. See `docs/PROTOCOLS.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    /// PostHog capture v0: `POST {host}/batch/`, the key in the body.
    #[default]
    PostHogV0,
    /// PostHog capture v1: `POST {host}/i/v1/analytics/events`, the key as a
    /// bearer token, per-event results with partial retry.
    PostHogV1,
    /// Plain JSON for any HTTP endpoint: `POST {host}` with
    /// `{"batch": [...], "sent_at": ...}`; authenticate with `headers`.
    Json,
}

/// What to do when a capture would exceed `max_queue_events` or
/// `max_queue_bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OverflowPolicy {
    /// Refuse the new event (`capture` returns `QueueFull`).
    #[default]
    DropNewest,
    /// Evict the oldest events that are not yet in a batch to make room.
    DropOldest,
}

/// Where events go that a host cannot deliver in time: a durable queue
/// the adapter has (a Cloudflare Queue), with its message limits. See
/// [`Config::spill`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpillLimits {
    /// The last open delivery window stops sending this long before its
    /// end, and what is still pending then is spilled, so the queue's own
    /// send fits in the budget.
    pub margin: Duration,
    /// Most events in one spill (one `sendBatch`).
    pub max_batch_events: usize,
    /// Most event bytes in one spill.
    pub max_batch_bytes: usize,
    /// Larger events cannot be spilled (one event is one message): they
    /// are dropped as `drain_budget`.
    pub max_event_bytes: usize,
}

impl SpillLimits {
    /// Cloudflare Queues' limits (100 messages and 256 KB per
    /// `sendBatch`, 128 KB per message, with room for the message
    /// envelope) and a margin of `margin`.
    pub fn cloudflare_queues(margin: Duration) -> Self {
        SpillLimits {
            margin,
            max_batch_events: 100,
            max_batch_bytes: 192 * 1024,
            max_event_bytes: 120 * 1024,
        }
    }
}

/// Exponential backoff between attempts of one batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Wait before the second attempt.
    pub initial_backoff: Duration,
    /// Cap of any wait, including a server's Retry-After.
    pub max_backoff: Duration,
    /// Attempts per batch, the first one included.
    pub max_attempts: u32,
    /// Each wait is scaled by a seeded factor in `1 ± jitter`.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_attempts: 8,
            jitter: 0.2,
        }
    }
}

/// Called on every event before it is encoded: return it (changed or not)
/// to send it, or `None` to drop it (counted as `before_send`).
///
/// It runs inside the core; it must not call back into the client. If it
/// panics, the event is dropped as `before_send_panicked` and the core
/// goes on (where panics unwind).
pub type BeforeSend = Arc<dyn Fn(Event) -> Option<Event> + Send + Sync>;

/// Name and version reported as `$lib`, `$lib_version` and `User-Agent`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibInfo {
    pub name: String,
    pub version: String,
}

impl Default for LibInfo {
    fn default() -> Self {
        LibInfo {
            name: "tidings".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// Every setting of the core. Build with [`Config::new`], change fields,
/// then hand it to [`crate::Core::new`], which validates it.
///
/// ```
/// let mut config = tidings::Config::new("phc_key", "https://us.i.posthog.com");
/// config.flush_at = 50;
/// config.gzip = true;
/// assert!(tidings::Core::new(config, 7).is_ok());
/// ```
#[derive(Clone)]
pub struct Config {
    /// Project API key; required for the PostHog protocols.
    pub api_key: ApiKey,
    /// `https://host[:port][/prefix]`; plain `http://` only to loopback
    /// (or anywhere with `allow_insecure_http`). For [`Protocol::Json`]
    /// the full endpoint URL.
    pub host: String,
    /// Allow plain `http://` to any host, not only loopback: for a
    /// self-hosted PostHog on a private network (`http://posthog:8000`).
    /// Events and the API key then travel unencrypted, so it is off by
    /// default; adapters log one warning naming the host
    /// ([`Config::insecure_http_host`]).
    pub allow_insecure_http: bool,
    pub protocol: Protocol,
    /// PostHog's historical-migration flag, for imports of old events.
    pub historical_migration: bool,
    /// gzip request bodies (`Content-Encoding: gzip`).
    pub gzip: bool,
    /// The adapter compresses bodies itself where it can (a browser's
    /// `CompressionStream`, off the main thread): each [`crate::Transmit`]
    /// worth compressing carries the URL and headers of its compressed
    /// form ([`crate::Transmit::gzipped`]). Not with `gzip`.
    pub adapter_gzip: bool,
    /// Shape requests as CORS-simple ones, which a browser sends without a
    /// preflight and so even while a page unloads: no `User-Agent` (the
    /// browser sets its own), PostHog v0 bodies as `text/plain` (the key
    /// is in the body), and compression signalled in the query
    /// (`compression=gzip-js`) instead of a `Content-Encoding` header.
    pub cors_simple: bool,
    /// Adds `"$geoip_disable": true` to every event.
    pub geoip_disable: bool,
    /// Extra headers sent on every request (a write key, a tenant header).
    pub headers: Vec<(String, String)>,
    pub lib: LibInfo,

    /// Send as soon as this many events are queued.
    pub flush_at: usize,
    /// Most events in one request.
    pub max_batch_events: usize,
    /// Most bytes in one (uncompressed) request body.
    pub max_batch_bytes: usize,
    /// Larger encoded events are refused at capture.
    pub max_event_bytes: usize,
    /// Send what is queued once the oldest queued event is this old.
    pub flush_interval: Duration,
    /// How long a batch that is due (`flush_at` events queued, or the
    /// oldest `flush_interval` old) waits for more events before it goes
    /// out, as Kafka producers' `linger.ms`: a burst then travels in a few
    /// full requests instead of many small ones. A full batch, a retry, a
    /// flush, a shutdown and an open delivery window never wait.
    pub linger: Duration,

    /// Most events pending (queued, waiting to retry or in flight).
    pub max_queue_events: usize,
    /// Most encoded bytes pending.
    pub max_queue_bytes: usize,
    pub overflow: OverflowPolicy,
    /// The longest an event may stay in the client, from its capture (or
    /// [`Event::first_captured`]): one still pending then is dropped as
    /// `expired`, whether queued, waiting to retry or paused offline. A
    /// request in flight is not cut short: its events expire when it ends
    /// without success. `None` (the default): no deadline.
    pub event_timeout: Option<Duration>,

    /// The host can perform requests only within delivery windows
    /// ([`crate::Core::open_window`]; Cloudflare Workers' `waitUntil`):
    /// outside an open window nothing is sent, no deadline fires only to
    /// send, and requests come from [`crate::Core::poll_transmit_in`].
    pub delivery_windows: bool,
    /// With `delivery_windows`: hand what is still pending near the end of
    /// the last open window to a durable queue instead of dropping it as
    /// `drain_budget` ([`crate::Core::poll_spill`]). `None`: drop.
    pub spill: Option<SpillLimits>,
    /// Requests in flight at once.
    pub max_in_flight: usize,
    /// Per-request timeout (capped by what is left of a shutdown deadline).
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// At most one warning notice per drop reason in this interval.
    pub warning_interval: Duration,
    pub before_send: Option<BeforeSend>,

    /// Name of the events metering windows become.
    pub meter_event: String,
    /// Flush the meters once this many keys are buffered.
    pub meter_flush_keys: usize,
    /// Flush the meters once the oldest entry is this old.
    pub meter_flush_interval: Duration,
}

impl Config {
    /// Defaults for `host` with `api_key`, speaking PostHog v0.
    pub fn new(api_key: impl Into<ApiKey>, host: impl Into<String>) -> Self {
        Config {
            api_key: api_key.into(),
            host: host.into(),
            allow_insecure_http: false,
            protocol: Protocol::PostHogV0,
            historical_migration: false,
            gzip: false,
            adapter_gzip: false,
            cors_simple: false,
            geoip_disable: false,
            headers: Vec::new(),
            lib: LibInfo::default(),
            flush_at: 100,
            max_batch_events: 1000,
            max_batch_bytes: 2 * 1024 * 1024,
            max_event_bytes: 1024 * 1024,
            flush_interval: Duration::from_secs(1),
            linger: Duration::ZERO,
            max_queue_events: 250_000,
            max_queue_bytes: 128 * 1024 * 1024,
            overflow: OverflowPolicy::DropNewest,
            event_timeout: None,
            delivery_windows: false,
            spill: None,
            max_in_flight: 4,
            request_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            warning_interval: Duration::from_secs(10),
            before_send: None,
            meter_event: "usage".to_owned(),
            meter_flush_keys: 10_000,
            meter_flush_interval: Duration::from_secs(10),
        }
    }

    /// Sets the before-send hook.
    pub fn with_before_send(
        mut self,
        hook: impl Fn(Event) -> Option<Event> + Send + Sync + 'static,
    ) -> Self {
        self.before_send = Some(Arc::new(hook));
        self
    }

    /// `host[:port]` that requests go to over plain http because
    /// `allow_insecure_http` let a non-loopback `http://` host through;
    /// `None` for https, loopback, or without the opt-in. What an adapter
    /// names in its one warning: never the key, the path or the query
    /// (which could carry a secret).
    ///
    /// ```
    /// let mut config = tidings::Config::new("phc_key", "http://posthog:8000");
    /// assert!(tidings::Core::new(config.clone(), 1).is_err()); // https by default
    /// config.allow_insecure_http = true;
    /// assert_eq!(config.insecure_http_host(), Some("posthog:8000"));
    /// assert!(tidings::Core::new(config, 1).is_ok());
    /// ```
    pub fn insecure_http_host(&self) -> Option<&str> {
        if !self.allow_insecure_http {
            return None;
        }
        endpoint::insecure_host(&self.host)
    }

    /// Checks every field; the error names the field and what to change.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate::validate(self).map(|_| ())
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Config")
            .field("api_key", &self.api_key)
            .field("host", &self.host)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("protocol", &self.protocol)
            .field("historical_migration", &self.historical_migration)
            .field("gzip", &self.gzip)
            .field("adapter_gzip", &self.adapter_gzip)
            .field("cors_simple", &self.cors_simple)
            .field("geoip_disable", &self.geoip_disable)
            .field("headers (values redacted)", &header_names)
            .field("lib", &self.lib)
            .field("flush_at", &self.flush_at)
            .field("max_batch_events", &self.max_batch_events)
            .field("max_batch_bytes", &self.max_batch_bytes)
            .field("max_event_bytes", &self.max_event_bytes)
            .field("flush_interval", &self.flush_interval)
            .field("linger", &self.linger)
            .field("max_queue_events", &self.max_queue_events)
            .field("max_queue_bytes", &self.max_queue_bytes)
            .field("overflow", &self.overflow)
            .field("event_timeout", &self.event_timeout)
            .field("delivery_windows", &self.delivery_windows)
            .field("spill", &self.spill)
            .field("max_in_flight", &self.max_in_flight)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .field("warning_interval", &self.warning_interval)
            .field("before_send", &self.before_send.as_ref().map(|_| "Fn"))
            .field("meter_event", &self.meter_event)
            .field("meter_flush_keys", &self.meter_flush_keys)
            .field("meter_flush_interval", &self.meter_flush_interval)
            .finish()
    }
}
