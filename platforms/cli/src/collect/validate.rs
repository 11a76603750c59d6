//! Checks a request against the wire contract (`docs/PROTOCOLS.md`) and names
//! the first problem found.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use uuid::Uuid;

/// Which contract a request claims to follow, from its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    PostHogV0,
    PostHogV1,
    Json,
}

impl Wire {
    pub fn name(self) -> &'static str {
        match self {
            Wire::PostHogV0 => "posthog-v0",
            Wire::PostHogV1 => "posthog-v1",
            Wire::Json => "json",
        }
    }
}

/// One accepted event, as stored.
#[derive(Clone, Debug)]
pub struct ReceivedEvent {
    pub uuid: Uuid,
    pub event: String,
    pub distinct_id: String,
    pub timestamp: String,
    pub properties: String,
}

/// A valid request's content.
#[derive(Debug)]
pub struct ValidBatch {
    pub events: Vec<ReceivedEvent>,
    pub historical_migration: bool,
}

/// Request headers the contract looks at, lower-cased names.
pub trait HeaderLookup {
    fn header(&self, name: &str) -> Option<&str>;
}

type Problem = String;

pub fn validate(
    wire: Wire,
    headers: &dyn HeaderLookup,
    body: &[u8],
) -> Result<ValidBatch, Problem> {
    let content_type = headers.header("content-type").unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" && mime != "text/plain" {
        return Err(format!(
            "Content-Type must be application/json (or text/plain for beacons), got `{content_type}`"
        ));
    }
    if wire != Wire::Json
        && headers
            .header("user-agent")
            .is_none_or(|ua| ua.trim().is_empty())
    {
        return Err("missing User-Agent naming the SDK and its version".into());
    }
    let envelope = match serde_json::from_slice::<Envelope>(body) {
        Ok(e) => e,
        Err(e) if e.is_data() => {
            // Not an object; say so unless it is not JSON at all.
            serde_json::from_slice::<IgnoredAny>(body)
                .map_err(|e| format!("body is not valid JSON: {e}"))?;
            return Err("body must be a JSON object".into());
        }
        Err(e) => return Err(format!("body is not valid JSON: {e}")),
    };
    let mut top = Map::new();
    let mut batch = None;
    for (key, raw) in envelope.0 {
        if key == "batch" {
            batch = Some(raw);
        } else {
            let value = serde_json::from_str(raw.get())
                .map_err(|e| format!("body is not valid JSON: {e}"))?;
            top.insert(key.to_owned(), value);
        }
    }
    let top = Top { fields: top, batch };
    match wire {
        Wire::PostHogV0 => validate_v0(&top),
        Wire::PostHogV1 => validate_v1(headers, &top),
        Wire::Json => validate_json(&top),
    }
}

/// The top-level keys any contract looks at; the others are skipped.
const ENVELOPE_KEYS: [&str; 6] = [
    "api_key",
    "token",
    "sent_at",
    "created_at",
    "historical_migration",
    "batch",
];

/// A body's top-level object, its known keys' values still as text (the
/// last of a repeated key wins, as in a `Value`). A batch is never parsed
/// as one tree of values, many times the size of its text: each event is
/// parsed, checked and dropped in turn.
struct Envelope<'a>(BTreeMap<&'static str, &'a RawValue>);

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = Envelope<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope<'de>, A::Error> {
                let mut fields = BTreeMap::new();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    // Unknown values are read as text too, which checks
                    // their syntax and UTF-8 as parsing them would.
                    let value = map.next_value::<&'de RawValue>()?;
                    if let Some(known) = ENVELOPE_KEYS.iter().find(|k| **k == key) {
                        fields.insert(*known, value);
                    }
                }
                Ok(Envelope(fields))
            }
        }
        d.deserialize_map(Fields)
    }
}

/// The top-level object: its known fields but `batch` parsed, `batch` as
/// text.
struct Top<'a> {
    fields: Map<String, Value>,
    batch: Option<&'a RawValue>,
}

impl Top<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    fn contains_key(&self, key: &str) -> bool {
        self.fields.contains_key(key)
    }
}

fn validate_v0(top: &Top) -> Result<ValidBatch, Problem> {
    match top.get("api_key") {
        Some(Value::String(k)) if !k.trim().is_empty() => {}
        Some(Value::String(_)) => return Err("`api_key` is empty".into()),
        Some(_) => return Err("`api_key` must be a string".into()),
        None => return Err("missing `api_key`".into()),
    }
    let historical = optional_bool(top, "historical_migration")?;
    if let Some(sent_at) = top.get("sent_at") {
        timestamp_field("sent_at", sent_at)?;
    }
    let events = batch(top, |i, e| {
        no_key_on_event(i, e)?;
        common_event(i, e)
    })?;
    Ok(ValidBatch {
        events,
        historical_migration: historical,
    })
}

fn validate_v1(headers: &dyn HeaderLookup, top: &Top) -> Result<ValidBatch, Problem> {
    match headers.header("authorization") {
        Some(auth)
            if auth
                .strip_prefix("Bearer ")
                .is_some_and(|k| !k.trim().is_empty()) => {}
        Some(_) => return Err("`Authorization` must be `Bearer <api key>`".into()),
        None => return Err("missing `Authorization: Bearer <api key>` header".into()),
    }
    for name in [
        "posthog-sdk-info",
        "posthog-attempt",
        "posthog-request-id",
        "posthog-request-timestamp",
    ] {
        if headers.header(name).is_none() {
            return Err(format!("missing `{name}` header"));
        }
    }
    let attempt = headers.header("posthog-attempt").unwrap_or("");
    if attempt.parse::<u32>().map_or(true, |a| a == 0) {
        return Err(format!(
            "`PostHog-Attempt` must be a positive integer, got `{attempt}`"
        ));
    }
    let request_id = headers.header("posthog-request-id").unwrap_or("");
    if Uuid::parse_str(request_id).is_err() {
        return Err(format!(
            "`PostHog-Request-Id` must be a UUID, got `{request_id}`"
        ));
    }
    let stamp = headers.header("posthog-request-timestamp").unwrap_or("");
    rfc3339_utc(stamp).map_err(|e| format!("`PostHog-Request-Timestamp` {e}"))?;
    for forbidden in ["api_key", "token", "sent_at"] {
        if top.contains_key(forbidden) {
            return Err(format!("the v1 body must not carry `{forbidden}`"));
        }
    }
    match top.get("created_at") {
        Some(v) => timestamp_field("created_at", v)?,
        None => return Err("missing `created_at`".into()),
    }
    let historical = match top.get("historical_migration") {
        None => false,
        Some(Value::Bool(true)) => true,
        Some(_) => return Err("`historical_migration` must be `true` or omitted".into()),
    };
    let events = batch(top, |i, e| {
        no_key_on_event(i, e)?;
        if let Some(options) = e.get("options") {
            let Value::Object(options) = options else {
                return Err(format!("batch[{i}].options must be an object"));
            };
            for key in options.keys() {
                let known = [
                    "cookieless_mode",
                    "disable_skew_correction",
                    "product_tour_id",
                    "process_person_profile",
                ];
                if !known.contains(&key.as_str()) {
                    return Err(format!("batch[{i}].options has unknown option `{key}`"));
                }
            }
        }
        for key in ["session_id", "window_id"] {
            if e.get(key).is_some_and(|v| !v.is_string()) {
                return Err(format!("batch[{i}].{key} must be a string"));
            }
        }
        let received = common_event(i, e)?;
        let props = e.get("properties").and_then(Value::as_object);
        for key in ["$set", "$set_once", "$groups"] {
            if props
                .and_then(|p| p.get(key))
                .is_some_and(|v| !v.is_object())
            {
                return Err(format!("batch[{i}].properties.{key} must be an object"));
            }
        }
        Ok(received)
    })?;
    Ok(ValidBatch {
        events,
        historical_migration: historical,
    })
}

fn validate_json(top: &Top) -> Result<ValidBatch, Problem> {
    match top.get("sent_at") {
        Some(v) => timestamp_field("sent_at", v)?,
        None => return Err("missing `sent_at`".into()),
    }
    let events = batch(top, common_event)?;
    Ok(ValidBatch {
        events,
        historical_migration: false,
    })
}

fn batch(
    top: &Top,
    check: impl Fn(usize, &Map<String, Value>) -> Result<ReceivedEvent, Problem>,
) -> Result<Vec<ReceivedEvent>, Problem> {
    let Some(batch) = top.batch else {
        return Err("missing `batch`".into());
    };
    let not_json = |e: serde_json::Error| format!("body is not valid JSON: {e}");
    if !batch.get().starts_with('[') {
        return Err("`batch` must be an array".into());
    }
    let items: Vec<&RawValue> = serde_json::from_str(batch.get()).map_err(not_json)?;
    if items.is_empty() {
        return Err("`batch` is empty".into());
    }
    items
        .iter()
        .enumerate()
        .map(
            |(i, item)| match serde_json::from_str(item.get()).map_err(not_json)? {
                Value::Object(e) => check(i, &e),
                _ => Err(format!("batch[{i}] must be an object")),
            },
        )
        .collect()
}

fn no_key_on_event(i: usize, e: &Map<String, Value>) -> Result<(), Problem> {
    for key in ["api_key", "token"] {
        if e.contains_key(key) {
            return Err(format!(
                "batch[{i}] carries `{key}`: the key belongs in the request, not on events"
            ));
        }
    }
    Ok(())
}

fn common_event(i: usize, e: &Map<String, Value>) -> Result<ReceivedEvent, Problem> {
    let text = |key: &str| -> Result<String, Problem> {
        match e.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            Some(Value::String(_)) => Err(format!("batch[{i}].{key} is empty")),
            Some(_) => Err(format!("batch[{i}].{key} must be a string")),
            None => Err(format!("batch[{i}] is missing `{key}`")),
        }
    };
    let uuid_text = text("uuid")?;
    let uuid = Uuid::parse_str(&uuid_text)
        .map_err(|_| format!("batch[{i}].uuid `{uuid_text}` is not a UUID"))?;
    let event = text("event")?;
    let distinct_id = text("distinct_id")?;
    let timestamp = text("timestamp")?;
    rfc3339_utc(&timestamp).map_err(|e| format!("batch[{i}].timestamp {e}"))?;
    let properties = match e.get("properties") {
        Some(p @ Value::Object(_)) => p.to_string(),
        Some(_) => return Err(format!("batch[{i}].properties must be an object")),
        None => "{}".to_owned(),
    };
    Ok(ReceivedEvent {
        uuid,
        event,
        distinct_id,
        timestamp,
        properties,
    })
}

fn optional_bool(top: &Top, key: &str) -> Result<bool, Problem> {
    match top.get(key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("`{key}` must be a boolean")),
    }
}

fn timestamp_field(key: &str, v: &Value) -> Result<(), Problem> {
    let Value::String(s) = v else {
        return Err(format!("`{key}` must be an RFC 3339 string"));
    };
    rfc3339_utc(s).map_err(|e| format!("`{key}` {e}"))
}

/// RFC 3339 in UTC with a `Z` (a naive timestamp is a known interop bug).
fn rfc3339_utc(s: &str) -> Result<(), Problem> {
    if !s.ends_with('Z') {
        return Err(format!("`{s}` must be RFC 3339 in UTC ending in `Z`"));
    }
    humantime::parse_rfc3339(s)
        .map(|_| ())
        .map_err(|e| format!("`{s}` is not RFC 3339: {e}"))
}
