//! One NDJSON line: the shape `tidings send` reads.
//!
//! `{"event": "signup", "distinct_id": "user-1", "properties": {...},
//!   "timestamp": "2026-11-23T20:03:56.123Z", "uuid": "..."}`; `properties`,
//! `timestamp` and `uuid` are optional. Without a uuid, one is derived from
//! the line's number and bytes, so re-sending the same file is idempotent.

use serde_json::{Map, Value};
use tidings::{Event, Uuid, WallTime};

/// Namespace of derived uuids (uuid v5).
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1d_4c1e_9a1b_4d3e_8c5a_7469_6469_6e67);

/// Parses line `number` (1-based) into an event, or says what is wrong.
pub fn parse_line(number: u64, line: &str) -> Result<Event, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not valid JSON: {e}"))?;
    let Value::Object(mut object) = value else {
        return Err("a line must be a JSON object".into());
    };
    let event = text(&object, "event")?;
    let distinct_id = text(&object, "distinct_id")?;
    let mut out = Event::new(event, distinct_id);
    match object.remove("properties") {
        None | Some(Value::Null) => {}
        Some(Value::Object(props)) => out = out.properties(props),
        Some(_) => return Err("`properties` must be an object".into()),
    }
    match object.get("timestamp") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            let t = WallTime::parse_rfc3339(s).ok_or_else(|| {
                format!("`timestamp` `{s}` is not RFC 3339 (…Z, or an offset such as …+05:30)")
            })?;
            out = out.timestamp(t);
        }
        Some(_) => return Err("`timestamp` must be a string".into()),
    }
    let uuid = match object.get("uuid") {
        None | Some(Value::Null) => {
            Uuid::new_v5(&NAMESPACE, format!("{number}\n{line}").as_bytes())
        }
        Some(Value::String(s)) => {
            Uuid::parse_str(s).map_err(|_| format!("`uuid` `{s}` is not a UUID"))?
        }
        Some(_) => return Err("`uuid` must be a string".into()),
    };
    Ok(out.uuid(uuid))
}

fn text(object: &Map<String, Value>, key: &str) -> Result<String, String> {
    match object.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(format!("`{key}` is empty")),
        Some(_) => Err(format!("`{key}` must be a string")),
        None => Err(format!("missing `{key}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_with_an_offset_are_converted_to_utc() {
        let line = r#"{"event":"e","distinct_id":"u","timestamp":"2025-01-02T08:34:05+05:30"}"#;
        let event = parse_line(1, line).unwrap();
        assert_eq!(
            event.given_timestamp().map(WallTime::to_rfc3339).as_deref(),
            Some("2025-01-02T03:04:05.000Z")
        );
    }

    /// Seeded hostile lines: parsing never panics, and whatever parses
    /// goes through a real core without a panic or an accounting break.
    #[test]
    fn hostile_lines_never_panic_and_keep_the_accounting() {
        let pieces = [
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"event\"",
            "\"distinct_id\"",
            "\"properties\"",
            "\"timestamp\"",
            "\"uuid\"",
            "\"e\"",
            "\"u-1\"",
            "\" \"",
            "\"\"",
            "null",
            "1e400",
            "-0",
            "true",
            "{}",
            "[]",
            "\"2024-01-01T10:00:00.000Z\"",
            "\"2024-01-01T10:00:00+05:30\"",
            "\"not a time\"",
            "\"0190a000-0000-7000-8000-000000000001\"",
            "\"\\ud83d\"",
            "é",
            "\u{0}",
            "\"\\u0000\"",
            "99999999999999999999999",
        ];
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let config = tidings::Config::new("phc_key", "https://ingest.example.com");
        let mut core = tidings::Core::new(config, 1).unwrap();
        let now = tidings::Now::default();
        let mut parsed = 0;
        for number in 1..=20_000u64 {
            let line = if next() % 3 == 0 {
                // A valid line, then cut or spliced.
                let mut l = String::from(
                    r#"{"event":"e","distinct_id":"u","properties":{"a":[1,{"b":null}]},"timestamp":"2024-01-01T10:00:00.000Z"}"#,
                );
                let at = (next() as usize) % l.len();
                let piece = pieces[(next() as usize) % pieces.len()];
                if l.is_char_boundary(at) {
                    l.insert_str(at, piece);
                }
                l
            } else {
                (0..next() % 12)
                    .map(|_| pieces[(next() as usize) % pieces.len()])
                    .collect()
            };
            if let Ok(event) = parse_line(number, &line) {
                parsed += 1;
                let _ = core.capture(now, event);
                assert!(core.stats().adds_up(), "line {number}: {line}");
            }
        }
        assert!(parsed > 100, "{parsed} lines parsed");
    }

    #[test]
    fn parses_the_documented_shape() {
        let e = parse_line(3, r#"{"event":"signup","distinct_id":"u1","properties":{"plan":"pro"},"timestamp":"2026-11-23T20:03:56.123Z"}"#).unwrap();
        assert_eq!(e.name(), "signup");
        assert_eq!(
            e.given_timestamp(),
            WallTime::parse_rfc3339("2026-11-23T20:03:56.123Z")
        );
        let again = parse_line(3, r#"{"event":"signup","distinct_id":"u1","properties":{"plan":"pro"},"timestamp":"2026-11-23T20:03:56.123Z"}"#).unwrap();
        assert_eq!(
            e.given_uuid(),
            again.given_uuid(),
            "derived uuids are stable"
        );
        let other_line = parse_line(4, r#"{"event":"signup","distinct_id":"u1","properties":{"plan":"pro"},"timestamp":"2026-11-23T20:03:56.123Z"}"#).unwrap();
        assert_ne!(e.given_uuid(), other_line.given_uuid());
    }

    #[test]
    fn names_what_is_wrong() {
        for (line, expected) in [
            ("{", "not valid JSON"),
            ("[1]", "JSON object"),
            (r#"{"distinct_id":"u"}"#, "missing `event`"),
            (
                r#"{"event":"e","distinct_id":""}"#,
                "`distinct_id` is empty",
            ),
            (
                r#"{"event":"e","distinct_id":"u","properties":[1]}"#,
                "`properties` must be an object",
            ),
            (
                r#"{"event":"e","distinct_id":"u","timestamp":"2026-11-23 10:00"}"#,
                "RFC 3339",
            ),
            (
                r#"{"event":"e","distinct_id":"u","uuid":"nope"}"#,
                "not a UUID",
            ),
        ] {
            let err = parse_line(1, line).unwrap_err();
            assert!(err.contains(expected), "{line}: {err}");
        }
    }
}
