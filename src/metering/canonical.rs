//! Canonical JSON: object keys sorted at every depth, so that the same tags
//! in any order give the same bytes (whatever serde_json features the
//! build unifies, e.g. `preserve_order`).

use serde_json::Value;

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
}
