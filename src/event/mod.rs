//! What a user captures. Properties are serialized into JSON as they are
//! added, so the core keeps bytes rather than maps.

use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::time::WallTime;

/// PostHog v1 per-event options; only those that are set go on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventOptions {
    pub cookieless_mode: Option<bool>,
    pub disable_skew_correction: Option<bool>,
    pub product_tour_id: Option<String>,
    pub process_person_profile: Option<bool>,
}

/// One event: a name, who did it, and JSON properties.
///
/// ```
/// use tidings::Event;
/// let event = Event::new("signup", "user-42")
///     .property("plan", "pro")
///     .property("seats", 5)
///     .property("address", serde_json::json!({"city": "Lyon"}));
/// assert_eq!(event.name(), "signup");
/// ```
///
/// A property that cannot be serialized (a map with non-string keys, say)
/// makes `capture` refuse the event with `InvalidEvent`. Setting the same key
/// twice keeps the last value.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    name: String,
    distinct_id: String,
    /// The members of a JSON object, without braces: `"a":1,"b":[2]`.
    /// Written by serde_json straight into this buffer (always UTF-8).
    properties: Vec<u8>,
    error: Option<String>,
    uuid: Option<Uuid>,
    timestamp: Option<WallTime>,
    first_captured: Option<WallTime>,
    session_id: Option<String>,
    window_id: Option<String>,
    options: EventOptions,
}

impl Event {
    /// An event named `name` done by `distinct_id`.
    pub fn new(name: impl Into<String>, distinct_id: impl Into<String>) -> Self {
        Event {
            name: name.into(),
            distinct_id: distinct_id.into(),
            properties: Vec::new(),
            error: None,
            uuid: None,
            timestamp: None,
            first_captured: None,
            session_id: None,
            window_id: None,
            options: EventOptions::default(),
        }
    }

    /// Adds one property.
    pub fn property(mut self, key: &str, value: impl Serialize) -> Self {
        self.set_property(key, value);
        self
    }

    /// Adds one property in place.
    pub fn set_property(&mut self, key: &str, value: impl Serialize) {
        let start = self.begin_member();
        // Writing a &str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.properties, key);
        self.properties.push(b':');
        if let Err(e) = serde_json::to_writer(&mut self.properties, &value) {
            self.properties.truncate(start);
            self.error
                .get_or_insert(format!("property `{key}` cannot be serialized: {e}"));
        }
    }

    /// Adds a property whose value is already valid JSON text.
    pub(crate) fn set_raw_property(&mut self, key: &str, json: &str) {
        self.begin_member();
        let _ = serde_json::to_writer(&mut self.properties, key);
        self.properties.push(b':');
        self.properties.extend_from_slice(json.as_bytes());
    }

    /// Adds every field of `properties`, which must serialize to a JSON
    /// object (a struct, a map, or `serde_json::json!({...})`).
    pub fn properties(mut self, properties: impl Serialize) -> Self {
        self.extend_properties(properties);
        self
    }

    /// Adds every field of a JSON-object-shaped value in place.
    pub fn extend_properties(&mut self, properties: impl Serialize) {
        let start = self.begin_member();
        let object_at = self.properties.len();
        if let Err(e) = serde_json::to_writer(&mut self.properties, &properties) {
            self.properties.truncate(start);
            self.error
                .get_or_insert(format!("properties cannot be serialized: {e}"));
            return;
        }
        let object = &self.properties[object_at..];
        if object.first() != Some(&b'{') || object.last() != Some(&b'}') {
            self.properties.truncate(start);
            self.error
                .get_or_insert("properties must be a JSON object".to_owned());
            return;
        }
        // Unwrap the object in place: drop its braces.
        self.properties.pop();
        self.properties.remove(object_at);
        if self.properties.len() == object_at {
            self.properties.truncate(start);
        }
    }

    /// Adds every member of `json`, the text of a JSON object such as
    /// `JSON.stringify` returns: for adapters that already hold properties
    /// serialized. The text is checked (strictly, without building values);
    /// anything but one valid JSON object makes `capture` refuse the event.
    ///
    /// ```
    /// use tidings::Event;
    /// let event = Event::new("signup", "user-42").properties_json(r#"{"plan":"pro"}"#);
    /// assert_eq!(event.properties_map()["plan"], "pro");
    /// ```
    pub fn properties_json(mut self, json: &str) -> Self {
        let trimmed = json.trim_matches([' ', '\t', '\n', '\r']);
        let members = trimmed
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .filter(|_| crate::wire::JsonReader::is_valid(trimmed));
        match members {
            Some(members) if members.trim_matches([' ', '\t', '\n', '\r']).is_empty() => {}
            Some(members) => {
                self.begin_member();
                self.properties.extend_from_slice(members.as_bytes());
            }
            None => {
                self.error
                    .get_or_insert(
                        "properties must be the JSON text of one object, as a JSON server reads it (UTF-16 surrogates in pairs, numbers within the range of f64)".to_owned(),
                    );
            }
        }
        self
    }

    /// Starts a new member: a comma if needed; returns where it starts.
    fn begin_member(&mut self) -> usize {
        let start = self.properties.len();
        if start == 0 {
            self.properties.reserve(128);
        } else {
            self.properties.push(b',');
        }
        start
    }

    /// Replaces all properties (useful in a before-send hook).
    pub fn set_properties(&mut self, properties: Map<String, Value>) {
        self.properties.clear();
        self.error = None;
        self.extend_properties(&properties);
    }

    /// The properties, parsed (for a before-send hook; costs a parse).
    pub fn properties_map(&self) -> Map<String, Value> {
        let mut text = Vec::with_capacity(self.properties.len() + 2);
        text.push(b'{');
        text.extend_from_slice(&self.properties);
        text.push(b'}');
        serde_json::from_slice(&text).unwrap_or_default()
    }

    /// Uses a caller-given uuid instead of a generated uuid v7.
    pub fn uuid(mut self, uuid: Uuid) -> Self {
        self.uuid = Some(uuid);
        self
    }

    /// Uses a caller-given timestamp instead of the capture-time wall clock.
    pub fn timestamp(mut self, timestamp: WallTime) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// When an earlier run first captured this event, for events replayed
    /// from storage (a browser's persisted events after a reload): its
    /// `event_timeout` counts from then, not from this capture, and one
    /// already past it is refused as `expired`. Not sent; the timestamp
    /// is [`Event::timestamp`]'s.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tidings::{CaptureError, Config, Core, Event, Instant, Now, WallTime};
    /// let mut config = Config::new("phc_key", "https://us.i.posthog.com");
    /// config.event_timeout = Some(Duration::from_secs(60));
    /// let mut core = Core::new(config, 1).unwrap();
    /// let now = Now::new(Instant::ZERO, WallTime::from_unix_millis(1_000_000));
    /// let stale = Event::new("e", "u").first_captured(WallTime::from_unix_millis(900_000));
    /// assert!(matches!(core.capture(now, stale), Err(CaptureError::Expired { .. })));
    /// ```
    pub fn first_captured(mut self, at: WallTime) -> Self {
        self.first_captured = Some(at);
        self
    }

    /// PostHog v1 `session_id`.
    pub fn session_id(mut self, id: impl Into<String>) -> Self {
        self.session_id = Some(id.into());
        self
    }

    /// PostHog v1 `window_id`.
    pub fn window_id(mut self, id: impl Into<String>) -> Self {
        self.window_id = Some(id.into());
        self
    }

    /// PostHog v1 per-event options.
    pub fn options(mut self, options: EventOptions) -> Self {
        self.options = options;
        self
    }

    /// Renames the event.
    pub fn set_name(&mut self, name: impl Into<String>) {
        self.name = name.into();
    }

    /// Changes who did it.
    pub fn set_distinct_id(&mut self, distinct_id: impl Into<String>) {
        self.distinct_id = distinct_id.into();
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn distinct_id(&self) -> &str {
        &self.distinct_id
    }

    /// The caller-given uuid, if any.
    pub fn given_uuid(&self) -> Option<Uuid> {
        self.uuid
    }

    /// The caller-given timestamp, if any.
    pub fn given_timestamp(&self) -> Option<WallTime> {
        self.timestamp
    }

    /// When an earlier run first captured it ([`Event::first_captured`]).
    pub fn given_first_captured(&self) -> Option<WallTime> {
        self.first_captured
    }

    /// The properties as JSON object members, without braces.
    pub(crate) fn raw_properties(&self) -> &[u8] {
        &self.properties
    }

    pub(crate) fn session(&self) -> (Option<&str>, Option<&str>) {
        (self.session_id.as_deref(), self.window_id.as_deref())
    }

    pub(crate) fn event_options(&self) -> &EventOptions {
        &self.options
    }

    /// Why the event cannot be sent, if it cannot.
    pub(crate) fn problem(&self) -> Option<String> {
        if let Some(e) = &self.error {
            return Some(e.clone());
        }
        if self.name.trim().is_empty() {
            return Some("the event name is empty".to_owned());
        }
        if self.distinct_id.trim().is_empty() {
            return Some(format!("event `{}` has an empty distinct_id", self.name));
        }
        None
    }
}

/// Appends `s` as a JSON string.
pub(crate) fn push_json(out: &mut String, s: &str) {
    // Serializing a &str cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    #[test]
    fn properties_json_takes_one_object_or_refuses() {
        let e = Event::new("e", "d")
            .property("a", 1)
            .properties_json(" {\"b\": [2, {\"c\": null}]} ");
        assert!(e.error.is_none());
        assert_eq!(
            e.properties_map(),
            json!({"a": 1, "b": [2, {"c": null}]})
                .as_object()
                .unwrap()
                .clone()
        );
        let empty = Event::new("e", "d").properties_json("{ }");
        assert!(empty.error.is_none() && empty.properties.is_empty());
        for bad in ["[1]", "1", "{\"a\":}", "{\"a\":1}}", "{\"a\":1,}", "", "{"] {
            let e = Event::new("e", "d").property("a", 1).properties_json(bad);
            assert!(e.error.is_some(), "{bad}");
            assert_eq!(e.properties, b"\"a\":1", "{bad}");
        }
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn properties_accumulate_as_json_members() {
        let e = Event::new("e", "u")
            .property("a", 1)
            .properties(json!({"b": [true], "c": {"d": "x\"y"}}))
            .property("e", f64::NAN);
        assert_eq!(
            std::str::from_utf8(e.raw_properties()).unwrap(),
            r#""a":1,"b":[true],"c":{"d":"x\"y"},"e":null"#
        );
        assert_eq!(e.properties_map()["c"]["d"], "x\"y");
        assert_eq!(e.problem(), None);
    }

    #[test]
    fn non_objects_and_bad_maps_are_reported() {
        let e = Event::new("e", "u").properties(json!([1, 2]));
        assert!(e.problem().unwrap().contains("JSON object"));
        let mut bad = std::collections::BTreeMap::new();
        bad.insert(vec![1u8], 2);
        let e = Event::new("e", "u").property("m", &bad).property("ok", 1);
        assert!(e.problem().unwrap().contains("`m`"));
        assert_eq!(e.raw_properties(), br#""ok":1"#);
    }

    #[test]
    fn empty_name_or_id_is_a_problem() {
        assert!(Event::new(" ", "u").problem().is_some());
        assert!(Event::new("e", "").problem().is_some());
        assert!(Event::new("e", "0").problem().is_none());
    }
}
