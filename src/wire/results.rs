//! PostHog v1's per-event answer: `{"results": {UUID: {"result": ...}}}`.

use uuid::Uuid;

use super::json::JsonReader;

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

/// The parsed `results` map of a 2xx answer, in the server's order (a
/// batch holds at most a few thousand events: a scan links less code than
/// sorting or hashing).
#[derive(Debug, Default)]
pub(crate) struct V1Results(Vec<(Uuid, EventResult)>);

impl V1Results {
    /// Reads a 2xx body. An unreadable body means every event is final.
    pub(crate) fn parse(body: &[u8]) -> Self {
        let mut found = Vec::new();
        let mut reader = JsonReader::new(body);
        let read = reader.object(0, |key, r| {
            if key != b"results" {
                return r.skip(1);
            }
            r.object(1, |key, r| match Uuid::try_parse_ascii(key) {
                Ok(uuid) => {
                    let result = read_entry(r)?;
                    found.push((uuid, result));
                    Some(())
                }
                Err(_) => r.skip(2),
            })
        });
        if read.and_then(|()| reader.end()).is_none() || std::str::from_utf8(body).is_err() {
            return V1Results::default();
        }
        V1Results(found)
    }

    /// The answer for `uuid`; a missing uuid is final and accepted.
    pub(crate) fn get(&self, uuid: &Uuid) -> EventResult {
        self.0
            .iter()
            .find(|(u, _)| u == uuid)
            .map_or(EventResult::Accepted, |(_, result)| *result)
    }
}

/// One event's entry, `{"result": "...", ...}`; anything else is accepted.
fn read_entry(r: &mut JsonReader<'_>) -> Option<EventResult> {
    let mut result = EventResult::Accepted;
    if !r.at_object() {
        r.skip(2)?;
        return Some(result);
    }
    r.object(2, |key, r| {
        if key == b"result" && r.at_string() {
            result = match r.string()? {
                b"retry" => EventResult::Retry,
                b"drop" => EventResult::Dropped,
                b"limited" => EventResult::Limited,
                _ => EventResult::Accepted,
            };
            Some(())
        } else {
            r.skip(3)
        }
    })?;
    Some(result)
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
        let truncated = &body.as_bytes()[..body.len() - 1];
        assert_eq!(V1Results::parse(truncated).get(&a), EventResult::Accepted);
        let odd = format!(
            r#"{{"other":[1,{{"x":null}}],"results":{{"{a}":"retry","{b}":{{"result":7}},"{c}":{{"result":"drop"}}}}}}"#
        );
        let r = V1Results::parse(odd.as_bytes());
        assert_eq!(r.get(&a), EventResult::Accepted);
        assert_eq!(r.get(&b), EventResult::Accepted);
        assert_eq!(r.get(&c), EventResult::Dropped);
    }
}
