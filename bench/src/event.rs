//! The benchmark event of PERFORMANCE.md, built the way each side's users
//! would build it: `event: "bench_event"`, `distinct_id: "user-{i % 1000}"`,
//! properties `{"i": i, "plan": "pro", "price": 12.5, "tags": ["a","b"],
//! "nested": {"k": "v"}}`.

use serde::Serialize;
use uuid::Uuid;

pub const EVENT_NAME: &str = "bench_event";
pub const API_KEY: &str = "phc_bench_key";

/// The nested property, as a typed Rust user would write it.
#[derive(Serialize, Clone, Copy)]
pub struct Nested {
    pub k: &'static str,
}

pub const NESTED: Nested = Nested { k: "v" };
pub const TAGS: [&str; 2] = ["a", "b"];

pub fn distinct_id(i: u64) -> String {
    format!("user-{}", i % 1000)
}

/// The event for Tidings (core or native): properties are serialized as
/// they are added.
pub fn tidings_event(i: u64) -> tidings::Event {
    tidings::Event::new(EVENT_NAME, distinct_id(i))
        .property("i", i)
        .property("plan", "pro")
        .property("price", 12.5)
        .property("tags", TAGS)
        .property("nested", NESTED)
}

/// The event for posthog-rs: properties go into its `HashMap<String, Value>`.
pub fn posthog_event(i: u64) -> posthog_rs::Event {
    let mut event = posthog_rs::Event::new(EVENT_NAME.to_owned(), distinct_id(i));
    // insert_prop fails only for values that cannot be serialized.
    let _ = event.insert_prop("i", i);
    let _ = event.insert_prop("plan", "pro");
    let _ = event.insert_prop("price", 12.5);
    let _ = event.insert_prop("tags", TAGS);
    let _ = event.insert_prop("nested", NESTED);
    event
}

/// The same event as typed structs, for the encoding floor. Field order and
/// names match what the core writes, so the bytes are the same size.
#[derive(Serialize)]
pub struct TypedEvent<'a> {
    pub uuid: Uuid,
    pub event: &'a str,
    pub distinct_id: &'a str,
    pub properties: TypedProperties<'a>,
    #[serde(serialize_with = "display")]
    pub timestamp: humantime::Rfc3339Timestamp,
}

#[derive(Serialize)]
pub struct TypedProperties<'a> {
    #[serde(rename = "$lib")]
    pub lib: &'a str,
    #[serde(rename = "$lib_version")]
    pub lib_version: &'a str,
    pub i: u64,
    pub plan: &'a str,
    pub price: f64,
    pub tags: [&'a str; 2],
    pub nested: Nested,
}

fn display<S: serde::Serializer>(
    value: &humantime::Rfc3339Timestamp,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}
