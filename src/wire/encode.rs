//! Encodes one event into the bytes it will have inside every request body,
//! once, at capture.

#[cfg(not(target_family = "wasm"))]
use std::cell::Cell;
use std::io::Write;

use uuid::Uuid;

use crate::config::{Config, Protocol};
use crate::event::{Event, EventOptions, push_json};
use crate::time::WallTime;

/// The per-configuration part of event encoding, prepared once. Shared by
/// every thread that encodes (see [`crate::intake::Encoder`]).
#[derive(Clone, Debug)]
pub(crate) struct EventEncoder {
    protocol: Protocol,
    /// `"$lib":"…","$lib_version":"…"` and `$geoip_disable` if set.
    sdk_properties: String,
}

#[cfg(not(target_family = "wasm"))]
thread_local! {
    /// Events captured in the same millisecond on one thread share one
    /// formatting of their timestamp.
    static LAST_TIMESTAMP: Cell<Option<(WallTime, [u8; 24])>> = const { Cell::new(None) };
}

impl EventEncoder {
    pub(crate) fn new(config: &Config) -> Self {
        let mut sdk_properties = String::from("\"$lib\":");
        push_json(&mut sdk_properties, &config.lib.name);
        sdk_properties.push_str(",\"$lib_version\":");
        push_json(&mut sdk_properties, &config.lib.version);
        if config.geoip_disable {
            sdk_properties.push_str(",\"$geoip_disable\":true");
        }
        EventEncoder {
            protocol: config.protocol,
            sdk_properties,
        }
    }

    /// The event as one JSON object, written over `out`.
    pub(crate) fn encode(&self, event: &Event, uuid: Uuid, timestamp: WallTime, out: &mut Vec<u8>) {
        let ts = formatted(timestamp);
        out.clear();
        let mut uuid_buf = Uuid::encode_buffer();
        let uuid = uuid.hyphenated().encode_lower(&mut uuid_buf).as_bytes();
        let user = event.raw_properties();
        let (session_id, window_id) = event.session();
        // Writes into a Vec cannot fail.
        match self.protocol {
            Protocol::PostHogV0 | Protocol::Json => {
                out.extend_from_slice(b"{\"uuid\":\"");
                out.extend_from_slice(uuid);
                out.extend_from_slice(b"\",\"event\":");
                let _ = serde_json::to_writer(&mut *out, event.name());
                out.extend_from_slice(b",\"distinct_id\":");
                let _ = serde_json::to_writer(&mut *out, event.distinct_id());
                self.write_properties(out, user, |out| {
                    if let Some(id) = session_id {
                        out.extend_from_slice(b",\"$session_id\":");
                        let _ = serde_json::to_writer(&mut *out, id);
                    }
                    if let Some(id) = window_id {
                        out.extend_from_slice(b",\"$window_id\":");
                        let _ = serde_json::to_writer(&mut *out, id);
                    }
                });
                out.extend_from_slice(b",\"timestamp\":\"");
                out.extend_from_slice(&ts);
                out.extend_from_slice(b"\"}");
            }
            Protocol::PostHogV1 => {
                out.extend_from_slice(b"{\"event\":");
                let _ = serde_json::to_writer(&mut *out, event.name());
                out.extend_from_slice(b",\"uuid\":\"");
                out.extend_from_slice(uuid);
                out.extend_from_slice(b"\",\"distinct_id\":");
                let _ = serde_json::to_writer(&mut *out, event.distinct_id());
                out.extend_from_slice(b",\"timestamp\":\"");
                out.extend_from_slice(&ts);
                out.push(b'"');
                if let Some(id) = session_id {
                    out.extend_from_slice(b",\"session_id\":");
                    let _ = serde_json::to_writer(&mut *out, id);
                }
                if let Some(id) = window_id {
                    out.extend_from_slice(b",\"window_id\":");
                    let _ = serde_json::to_writer(&mut *out, id);
                }
                write_options(out, event.event_options());
                self.write_properties(out, user, |_| {});
                out.push(b'}');
            }
        }
    }

    /// `,"properties":{SDK, extra, user}`: user properties come last, so a
    /// user's own `$lib` wins where JSON parsers keep the last duplicate.
    fn write_properties(&self, out: &mut Vec<u8>, user: &[u8], extra: impl FnOnce(&mut Vec<u8>)) {
        out.extend_from_slice(b",\"properties\":{");
        out.extend_from_slice(self.sdk_properties.as_bytes());
        extra(out);
        if !user.is_empty() {
            out.push(b',');
            out.extend_from_slice(user);
        }
        out.push(b'}');
    }
}

/// RFC 3339 of `t` (always 24 bytes), formatted once per millisecond and
/// thread where bursts of captures make that pay.
#[cfg(not(target_family = "wasm"))]
fn formatted(t: WallTime) -> [u8; 24] {
    LAST_TIMESTAMP.with(|last| match last.get() {
        Some((at, text)) if at == t => text,
        _ => {
            let text = format_timestamp(t);
            last.set(Some((t, text)));
            text
        }
    })
}

/// A page captures a few events per task: formatting each costs less than
/// the code a cache takes in the module.
#[cfg(target_family = "wasm")]
fn formatted(t: WallTime) -> [u8; 24] {
    format_timestamp(t)
}

fn format_timestamp(t: WallTime) -> [u8; 24] {
    let mut text = [0u8; 24];
    let formatted = t.to_rfc3339();
    let n = formatted.len().min(24);
    text[..n].copy_from_slice(&formatted.as_bytes()[..n]);
    text
}

fn write_options(out: &mut Vec<u8>, o: &EventOptions) {
    out.extend_from_slice(b",\"options\":{");
    let mut first = true;
    let mut member = |out: &mut Vec<u8>, key: &str| {
        if !first {
            out.push(b',');
        }
        first = false;
        let _ = write!(out, "\"{key}\":");
    };
    if let Some(v) = o.cookieless_mode {
        member(out, "cookieless_mode");
        let _ = write!(out, "{v}");
    }
    if let Some(v) = o.disable_skew_correction {
        member(out, "disable_skew_correction");
        let _ = write!(out, "{v}");
    }
    if let Some(v) = &o.product_tour_id {
        member(out, "product_tour_id");
        let _ = serde_json::to_writer(&mut *out, v);
    }
    if let Some(v) = o.process_person_profile {
        member(out, "process_person_profile");
        let _ = write!(out, "{v}");
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn encode(protocol: Protocol, event: &Event) -> Value {
        let mut config = Config::new("k", "https://x.dev");
        config.protocol = protocol;
        config.geoip_disable = true;
        let uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);
        let mut bytes = Vec::new();
        EventEncoder::new(&config).encode(
            event,
            uuid,
            WallTime::from_unix_millis(1_700_000_000_000),
            &mut bytes,
        );
        serde_json::from_slice(&bytes).expect("valid JSON")
    }

    #[test]
    fn v0_event_shape() {
        let e = Event::new("signup \"x\"", "user-1")
            .property("plan", "pro")
            .session_id("s1");
        let v = encode(Protocol::PostHogV0, &e);
        assert_eq!(
            v,
            json!({
                "uuid": "01900000-0000-7000-8000-000000000001",
                "event": "signup \"x\"",
                "distinct_id": "user-1",
                "properties": {"$lib": "tidings", "$lib_version": env!("CARGO_PKG_VERSION"),
                    "$geoip_disable": true, "$session_id": "s1", "plan": "pro"},
                "timestamp": "2023-11-14T22:13:20.000Z"
            })
        );
    }

    #[test]
    fn v1_event_shape_has_only_set_options() {
        let e = Event::new("e", "u")
            .session_id("s")
            .options(EventOptions {
                process_person_profile: Some(false),
                ..Default::default()
            })
            .properties(json!({"$set": {"a": 1}}));
        let v = encode(Protocol::PostHogV1, &e);
        assert_eq!(v["options"], json!({"process_person_profile": false}));
        assert_eq!(v["session_id"], "s");
        assert_eq!(v["properties"]["$set"], json!({"a": 1}));
        assert_eq!(v["timestamp"], "2023-11-14T22:13:20.000Z");
        assert!(v.get("api_key").is_none() && v.get("token").is_none());
    }
}
