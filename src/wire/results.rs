//! PostHog v1's per-event answer: `{"results": {UUID: {"result": ...}}}`.

use std::collections::HashMap;

use serde_json::Value;
use uuid::Uuid;

/// What the server said about one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventResult {
    /// `ok`, a warning, an unknown value, or no entry at all: final, accepted.
    Accepted,
    /// `drop`: final, refused.
    Dropped,
    /// `limited`: final, refused by a quota.
    Limited,
    /// `retry`: send again.
    Retry,
}

/// The parsed `results` map of a 2xx answer.
#[derive(Debug, Default)]
pub(crate) struct V1Results(HashMap<Uuid, EventResult>);

impl V1Results {
    /// Reads a 2xx body. An unreadable body means every event is final.
    pub(crate) fn parse(body: &[u8]) -> Self {
        let Ok(Value::Object(top)) = serde_json::from_slice::<Value>(body) else {
            return V1Results::default();
        };
        let Some(Value::Object(results)) = top.get("results") else {
            return V1Results::default();
        };
        let mut map = HashMap::with_capacity(results.len());
        for (key, entry) in results {
            let Ok(uuid) = Uuid::parse_str(key) else {
                continue;
            };
            let result = match entry.get("result").and_then(Value::as_str) {
                Some("retry") => EventResult::Retry,
                Some("drop") => EventResult::Dropped,
                Some("limited") => EventResult::Limited,
                _ => EventResult::Accepted,
            };
            map.insert(uuid, result);
        }
        V1Results(map)
    }

    /// The answer for `uuid`; a missing uuid is final and accepted.
    pub(crate) fn get(&self, uuid: &Uuid) -> EventResult {
        self.0.get(uuid).copied().unwrap_or(EventResult::Accepted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_result_kind() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let c = Uuid::from_u128(3);
        let d = Uuid::from_u128(4);
        let body = format!(
            r#"{{"results":{{"{a}":{{"result":"retry"}},"{b}":{{"result":"drop","details":"x"}},"{c}":{{"result":"limited"}},"{d}":{{"result":"warning"}}}}}}"#
        );
        let r = V1Results::parse(body.as_bytes());
        assert_eq!(r.get(&a), EventResult::Retry);
        assert_eq!(r.get(&b), EventResult::Dropped);
        assert_eq!(r.get(&c), EventResult::Limited);
        assert_eq!(r.get(&d), EventResult::Accepted);
        assert_eq!(r.get(&Uuid::from_u128(9)), EventResult::Accepted);
        assert_eq!(V1Results::parse(b"not json").get(&a), EventResult::Accepted);
    }
}
