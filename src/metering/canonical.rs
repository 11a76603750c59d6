//! Canonical JSON: object keys sorted at every depth, so that the same tags
//! in any order give the same bytes (whatever serde_json features the
//! build unifies, e.g. `preserve_order`).

use serde_json::Value;

use crate::wire::JsonReader;

/// Writes `value` with every object's keys sorted.
pub(crate) fn write_canonical(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                crate::event::push_json(out, key);
                out.push(':');
                write_canonical(out, &map[key.as_str()]);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(out, item);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Writes the JSON text `json` with every object's keys sorted, or `None`
/// if it is not valid JSON. For adapters that hold tags as text (the
/// browser build gets `JSON.stringify` output). Keys are compared as
/// written, escapes included, and scalars are copied as written: text from
/// one serializer (e.g. `JSON.stringify`) is already normalized.
pub(crate) fn write_canonical_json(out: &mut String, json: &str) -> Option<()> {
    let mut reader = JsonReader::new(json.as_bytes());
    canonical_value(out, &mut reader, 0)?;
    reader.end()
}

fn canonical_value(out: &mut String, r: &mut JsonReader<'_>, depth: u32) -> Option<()> {
    if r.at_object() {
        let mut members: Vec<(&[u8], &[u8])> = Vec::new();
        r.object(depth, |key, r| {
            members.push((key, r.raw_value(depth + 1)?));
            Some(())
        })?;
        // Tags have a few keys: an insertion sort links far less code.
        for i in 1..members.len() {
            let mut j = i;
            while j > 0 && members[j - 1].0 > members[j].0 {
                members.swap(j - 1, j);
                j -= 1;
            }
        }
        out.push('{');
        for (i, (key, value)) in members.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('"');
            out.push_str(std::str::from_utf8(key).ok()?);
            out.push_str("\":");
            canonical_value(out, &mut JsonReader::new(value), depth + 1)?;
        }
        out.push('}');
    } else if r.at_array() {
        out.push('[');
        let mut first = true;
        r.array_items(depth, |r| {
            if !std::mem::take(&mut first) {
                out.push(',');
            }
            canonical_value(out, r, depth + 1)
        })?;
        out.push(']');
    } else {
        out.push_str(std::str::from_utf8(r.raw_value(depth)?).ok()?);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: Value) -> String {
        let mut s = String::new();
        write_canonical(&mut s, &v);
        s
    }

    #[test]
    fn key_order_does_not_matter_at_any_depth() {
        let a = canon(json!({"b": 1, "a": {"y": [1, {"q": 1, "p": 2}], "x": "s"}}));
        let b = canon(json!({"a": {"x": "s", "y": [1, {"p": 2, "q": 1}]}, "b": 1}));
        assert_eq!(a, b);
        assert_eq!(a, r#"{"a":{"x":"s","y":[1,{"p":2,"q":1}]},"b":1}"#);
        assert_ne!(
            canon(json!({"a": [1, 2]})),
            canon(json!({"a": [2, 1]})),
            "arrays keep their order"
        );
    }

    #[test]
    fn json_text_canonicalizes_like_values() {
        let cases = [
            json!({"b": 1, "a": {"d": [3, {"z": 1, "y": "é"}], "c": null}}),
            json!({}),
            json!({"k": [[], {}, true, -1.5e3, "x\"y"]}),
        ];
        for value in cases {
            let mut from_value = String::new();
            write_canonical(&mut from_value, &value);
            let mut from_text = String::new();
            write_canonical_json(&mut from_text, &value.to_string()).unwrap();
            assert_eq!(from_text, from_value);
            let spaced = serde_json::to_string_pretty(&value).unwrap();
            let mut from_spaced = String::new();
            write_canonical_json(&mut from_spaced, &spaced).unwrap();
            assert_eq!(from_spaced, from_value);
        }
        assert!(write_canonical_json(&mut String::new(), "{\"a\":}").is_none());
        assert!(write_canonical_json(&mut String::new(), "{\"a\":1} x").is_none());
    }
}
