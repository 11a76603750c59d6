//! The wire-shape checks: what every request and every event must look like
//! on the wire, given only the configuration and what the model expects of
//! an event's content. Kept apart from the reference model
//! ([`super::invariants`]), which decides *when* requests may go out and
//! *what* becomes of each event; this file only reads bytes: the envelope
//! and headers of each protocol, PostHog v1's retry headers, the
//! compressed form, each event's keys and content, and, on the way back,
//! `Retry-After` and v1 `results`.

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Map, Value};
use tidings::{Config, Event, Now, Protocol, Transmit, Uuid, WallTime};

use super::ingest::{Received, ReceivedEvent};

/// What the model knows of an event before the core takes it: the content
/// its first appearance on the wire must have.
pub struct CaptureView {
    name: String,
    distinct_id: String,
    given_uuid: Option<Uuid>,
    given_timestamp: Option<WallTime>,
    /// `Event::first_captured`: a replay's deadline counts from then.
    first_captured: Option<WallTime>,
    properties: Map<String, Value>,
}

impl CaptureView {
    pub fn of(event: &Event) -> Self {
        CaptureView {
            name: event.name().to_owned(),
            distinct_id: event.distinct_id().to_owned(),
            given_uuid: event.given_uuid(),
            given_timestamp: event.given_timestamp(),
            first_captured: event.given_first_captured(),
            properties: event.properties_map(),
        }
    }

    /// An event the core builds itself (a metering window's), timestamped
    /// when it is captured; `properties` are those it must carry at least.
    pub fn built(name: &str, distinct_id: &str, properties: Map<String, Value>) -> Self {
        CaptureView {
            name: name.to_owned(),
            distinct_id: distinct_id.to_owned(),
            given_uuid: None,
            given_timestamp: None,
            first_captured: None,
            properties,
        }
    }

    /// The uuid the caller gave, if any.
    pub fn given_uuid(&self) -> Option<Uuid> {
        self.given_uuid
    }

    /// How long before `wall` (the core's wall clock at capture) an
    /// earlier run first captured it, as the core measures it: whole
    /// milliseconds, 0 for a new event or a first capture "in the future".
    pub fn age_at(&self, wall: WallTime) -> Duration {
        let at = self.first_captured.unwrap_or(wall);
        Duration::from_millis(wall.unix_millis().saturating_sub(at.unix_millis()))
    }
}

/// The wire-shape checker: the configuration, the URL, and the one piece
/// of state the wire itself carries across requests (PostHog v1 request
/// ids and their `created_at`).
pub struct Wire {
    cfg: Config,
    url: String,
    /// v1 request ids seen, with their `created_at`.
    request_ids: HashMap<String, Value>,
}

impl Wire {
    pub fn new(cfg: Config, url: String) -> Self {
        Wire {
            cfg,
            url,
            request_ids: HashMap::new(),
        }
    }

    /// Every request is a POST to the configured endpoint.
    pub fn check_method_and_url(&self, now: Now, t: &Transmit) {
        if t.method != "POST" || t.url != self.url {
            violated!(
                now,
                "request {} {} (expected POST {})",
                t.method,
                t.url,
                self.url
            );
        }
    }

    /// The body the ingest read is the body the core measured, within
    /// `max_batch_bytes`.
    pub fn check_body_len(&self, now: Now, t: &Transmit, rec: &Received) {
        if rec.json.len() != t.body.json_len() || rec.json.len() > self.cfg.max_batch_bytes {
            violated!(
                now,
                "request body is {} bytes (json_len {}, max_batch_bytes {})",
                rec.json.len(),
                t.body.json_len(),
                self.cfg.max_batch_bytes
            );
        }
    }

    /// With `adapter_gzip`, a body worth compressing says how to send it
    /// compressed: the query for CORS-simple requests, a header otherwise.
    pub fn check_gzipped_form(&self, now: Now, t: &Transmit) {
        let expected = (self.cfg.adapter_gzip && t.body.json_len() >= 1024).then(|| {
            if self.cfg.cors_simple && self.cfg.protocol == Protocol::PostHogV0 {
                let join = if self.url.contains('?') { '&' } else { '?' };
                tidings::Gzipped {
                    url: format!("{}{join}compression=gzip-js", self.url),
                    content_encoding: false,
                }
            } else {
                tidings::Gzipped {
                    url: self.url.clone(),
                    content_encoding: true,
                }
            }
        });
        if t.gzipped != expected {
            violated!(
                now,
                "compressed form {:?}, expected {expected:?} ({} bytes)",
                t.gzipped,
                t.body.json_len()
            );
        }
    }

    /// The wire shape of the request around the events.
    pub fn check_envelope(&self, now: Now, rec: &Received) {
        let cfg = &self.cfg;
        let sdk = format!("{}/{}", cfg.lib.name, cfg.lib.version);
        let wall = now.wall.to_rfc3339();
        let header = |name| rec.header(name);
        // CORS-simple requests: text/plain for v0 (no preflight), no
        // User-Agent (the browser sets its own).
        let content_type = if cfg.cors_simple && cfg.protocol == Protocol::PostHogV0 {
            "text/plain"
        } else {
            "application/json"
        };
        let user_agent = (!cfg.cors_simple).then_some(sdk.as_str());
        if header("Content-Type") != Some(content_type) || header("User-Agent") != user_agent {
            violated!(now, "content type or user agent wrong: {:?}", rec.headers);
        }
        if (header("Content-Encoding") == Some("gzip")) != cfg.gzip {
            violated!(
                now,
                "Content-Encoding {:?} with gzip {}",
                header("Content-Encoding"),
                cfg.gzip
            );
        }
        for (name, value) in &cfg.headers {
            if header(name) != Some(value) {
                violated!(now, "user header {name} missing");
            }
        }
        let mut keys: Vec<&str> = rec.fields.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let field = |name: &str| rec.field(name);
        match cfg.protocol {
            Protocol::PostHogV0 => {
                let ok = keys == ["api_key", "historical_migration", "sent_at"]
                    && field("api_key") == Some(&Value::from(cfg.api_key.expose()))
                    && field("historical_migration")
                        == Some(&Value::from(cfg.historical_migration))
                    && field("sent_at") == Some(&Value::from(wall.clone()))
                    && header("Authorization").is_none();
                if !ok {
                    violated!(
                        now,
                        "v0 envelope wrong (sent_at must be {wall}): {:?}",
                        rec.fields
                    );
                }
            }
            Protocol::PostHogV1 => {
                let want: &[&str] = if cfg.historical_migration {
                    &["created_at", "historical_migration"]
                } else {
                    &["created_at"]
                };
                let historical_ok = !cfg.historical_migration
                    || field("historical_migration") == Some(&Value::Bool(true));
                if keys != want || !historical_ok || !is_rfc3339_z(field("created_at")) {
                    violated!(now, "v1 envelope wrong: {:?}", rec.fields);
                }
                let bearer = format!("Bearer {}", cfg.api_key.expose());
                if header("Authorization") != Some(&bearer)
                    || header("PostHog-Sdk-Info") != Some(&sdk)
                    || header("PostHog-Request-Timestamp") != Some(&wall)
                {
                    violated!(
                        now,
                        "v1 headers wrong (timestamp must be {wall}): {:?}",
                        rec.headers
                    );
                }
            }
            Protocol::Json => {
                if keys != ["sent_at"] || field("sent_at") != Some(&Value::from(wall.clone())) {
                    violated!(
                        now,
                        "JSON envelope wrong (sent_at must be {wall}): {:?}",
                        rec.fields
                    );
                }
            }
        }
    }

    /// PostHog v1: the attempt header counts attempts of the batch, the
    /// request id and `created_at` stay the same on every retry.
    pub fn check_v1_request(
        &mut self,
        now: Now,
        rec: &Received,
        attempt: u32,
        previous: &Option<String>,
    ) {
        let header_attempt = rec
            .header("PostHog-Attempt")
            .and_then(|a| a.parse::<u32>().ok());
        if header_attempt != Some(attempt) {
            violated!(
                now,
                "PostHog-Attempt {header_attempt:?}, expected {attempt}"
            );
        }
        let Some(id) = rec.header("PostHog-Request-Id") else {
            violated!(now, "no PostHog-Request-Id");
        };
        if Uuid::parse_str(id).is_err() {
            violated!(now, "PostHog-Request-Id {id} is not a uuid");
        }
        let created_at = rec.field("created_at").cloned().unwrap_or(Value::Null);
        if attempt > 1 {
            if previous.as_deref() != Some(id) {
                violated!(
                    now,
                    "retry changed PostHog-Request-Id from {previous:?} to {id}"
                );
            }
            if self.request_ids.get(id) != Some(&created_at) {
                violated!(
                    now,
                    "retry changed created_at from {:?} to {created_at}",
                    self.request_ids.get(id)
                );
            }
        } else if self.request_ids.insert(id.to_owned(), created_at).is_some() {
            violated!(now, "a new batch reused PostHog-Request-Id {id}");
        }
    }

    /// One event's shape and content, the first time it is seen.
    pub fn check_event(
        &self,
        now: Now,
        uuid: Uuid,
        event: &ReceivedEvent,
        expected: Option<(&CaptureView, WallTime)>,
    ) {
        let cfg = &self.cfg;
        let value = event.value();
        let v = &value;
        let Some(object) = v.as_object() else {
            violated!(now, "event is not an object: {}", event.raw);
        };
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let shape_ok = match cfg.protocol {
            Protocol::PostHogV0 | Protocol::Json => {
                keys == ["distinct_id", "event", "properties", "timestamp", "uuid"]
            }
            Protocol::PostHogV1 => {
                let allowed = [
                    "distinct_id",
                    "event",
                    "options",
                    "properties",
                    "session_id",
                    "timestamp",
                    "uuid",
                    "window_id",
                ];
                keys.iter().all(|k| allowed.contains(k))
                    && [
                        "distinct_id",
                        "event",
                        "options",
                        "properties",
                        "timestamp",
                        "uuid",
                    ]
                    .iter()
                    .all(|k| object.contains_key(*k))
            }
        };
        if v["uuid"] != uuid.to_string() {
            violated!(now, "the ingest read uuid {uuid} from {}", event.raw);
        }
        if !shape_ok {
            violated!(now, "event keys {keys:?} wrong for {:?}", cfg.protocol);
        }
        let props = v["properties"].as_object();
        let lib_ok = props.is_some_and(|p| {
            p.get("$lib") == Some(&Value::from(cfg.lib.name.as_str()))
                && p.get("$lib_version") == Some(&Value::from(cfg.lib.version.as_str()))
                && (p.get("$geoip_disable") == Some(&Value::Bool(true))) == cfg.geoip_disable
        });
        if !lib_ok {
            violated!(now, "SDK properties wrong: {}", v["properties"]);
        }
        let Some((view, capture_wall)) = expected else {
            return;
        };
        let timestamp = view.given_timestamp.unwrap_or(capture_wall).to_rfc3339();
        if v["timestamp"] != timestamp {
            violated!(
                now,
                "{uuid} has timestamp {}, expected {timestamp} (capture-time wall clock or the caller's)",
                v["timestamp"]
            );
        }
        if v["event"] != view.name.as_str() || v["distinct_id"] != view.distinct_id.as_str() {
            violated!(now, "{uuid} name or distinct_id changed: {}", event.raw);
        }
        for (key, value) in &view.properties {
            if props.and_then(|p| p.get(key)) != Some(value) {
                violated!(
                    now,
                    "{uuid} property {key} is {:?}, expected {value}",
                    props.and_then(|p| p.get(key))
                );
            }
        }
    }
}

fn is_rfc3339_z(v: Option<&Value>) -> bool {
    v.and_then(Value::as_str)
        .is_some_and(|s| s.len() == 24 && s.ends_with('Z') && WallTime::parse_rfc3339(s).is_some())
}

/// What a Retry-After value asks for, measured on the client's wall clock:
/// delay-seconds or an HTTP-date (RFC 9110); anything else asks nothing.
pub fn retry_after_floor(value: &str, wall: WallTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    let wall = UNIX_EPOCH + Duration::from_millis(wall.unix_millis());
    Some(date.duration_since(wall).unwrap_or(Duration::ZERO))
}

/// PostHog v1's `results`: uuid -> result word.
pub fn v1_results(body: &[u8]) -> HashMap<Uuid, String> {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut out = HashMap::new();
    if let Some(results) = parsed.get("results").and_then(Value::as_object) {
        for (key, entry) in results {
            if let (Ok(uuid), Some(word)) = (
                Uuid::parse_str(key),
                entry.get("result").and_then(Value::as_str),
            ) {
                out.insert(uuid, word.to_owned());
            }
        }
    }
    out
}
