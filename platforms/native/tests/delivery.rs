//! Events reach a real loopback HTTP server exactly once, in the shape the
//! protocols require.

#![allow(clippy::disallowed_methods)] // tests measure real time

mod support;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use support::{KEY, Reply, Sink, config};
use tidings_native::{Client, Protocol, ShutdownOutcome, WallTime};

fn is_rfc3339_z(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.ends_with('Z') && WallTime::parse_rfc3339(s).is_some())
}

#[test]
fn a_thousand_events_arrive_exactly_once_in_v0_shape() {
    let sink = Sink::ok();
    let mut config = config(&sink.url());
    config.headers = vec![("X-Tenant".into(), "acme".into())];
    let client = Client::new(config).unwrap();

    let mut captured = BTreeSet::new();
    for i in 0..1000 {
        let event = tidings_native::Event::new("bench_event", format!("user-{}", i % 7))
            .property("i", i)
            .property("plan", "pro");
        captured.insert(client.capture(event).unwrap().to_string());
    }
    assert!(client.flush(Duration::from_secs(5)).is_completed());

    let requests = sink.requests();
    let uuids: Vec<String> = requests.iter().flat_map(|r| r.uuids()).collect();
    assert_eq!(uuids.len(), 1000, "every event once, none twice");
    assert_eq!(uuids.iter().cloned().collect::<BTreeSet<_>>(), captured);

    let version = env!("CARGO_PKG_VERSION");
    for request in &requests {
        assert_eq!(request.url, "/batch/");
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(
            request.header("user-agent"),
            Some(format!("tidings-native/{version}").as_str())
        );
        assert_eq!(request.header("x-tenant"), Some("acme"));
        assert_eq!(request.header("authorization"), None, "v0: key in the body");
        let body = &request.json;
        assert_eq!(body["api_key"], KEY);
        assert_eq!(body["historical_migration"], false);
        assert!(is_rfc3339_z(&body["sent_at"]), "{}", body["sent_at"]);
        assert!(body["batch"].is_array());
        for event in request.events() {
            assert_eq!(event["event"], "bench_event");
            assert!(event["distinct_id"].as_str().unwrap().starts_with("user-"));
            assert!(is_rfc3339_z(&event["timestamp"]), "{}", event["timestamp"]);
            assert!(event.get("api_key").is_none());
            let properties = &event["properties"];
            assert_eq!(properties["$lib"], "tidings-native");
            assert_eq!(properties["$lib_version"], version);
            assert_eq!(properties["plan"], "pro");
        }
    }
    let indices: HashSet<u64> = requests
        .iter()
        .flat_map(|r| {
            r.events()
                .iter()
                .map(|e| e["properties"]["i"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(indices.len(), 1000);

    let stats = client.stats();
    assert_eq!(stats.captured, 1000);
    assert_eq!(stats.delivered, 1000);
    assert_eq!(stats.dropped_total(), 0);
    assert!(stats.adds_up(), "{stats:?}");
    assert_eq!(
        client.shutdown(Duration::from_secs(2)),
        ShutdownOutcome::Drained
    );
}

#[test]
fn gzip_bodies_are_marked_and_decompress() {
    let sink = Sink::ok();
    let mut config = config(&sink.url());
    config.gzip = true;
    let client = Client::new(config).unwrap();
    for i in 0..300 {
        client
            .capture(tidings_native::Event::new("e", "u").property("i", i))
            .unwrap();
    }
    assert!(client.flush(Duration::from_secs(5)).is_completed());

    let requests = sink.requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert_eq!(request.url, "/batch/?compression=gzip");
        assert_eq!(request.header("content-encoding"), Some("gzip"));
        assert_eq!(&request.raw[..2], &[0x1f, 0x8b], "a gzip stream");
        assert!(request.raw.len() < request.plain.len());
        assert_eq!(request.json["api_key"], KEY);
    }
    let uuids: HashSet<String> = requests.iter().flat_map(|r| r.uuids()).collect();
    assert_eq!(uuids.len(), 300);
    assert_eq!(client.stats().delivered, 300);
}

#[test]
fn posthog_v1_resends_only_the_events_marked_retry() {
    // The first request marks every third event `retry`; later ones accept all.
    let retried: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let retried = std::sync::Arc::new(retried);
    let marks = retried.clone();
    let sink = Sink::start(move |seen, index| {
        let mut results = serde_json::Map::new();
        for (i, uuid) in seen.uuids().into_iter().enumerate() {
            let result = if index == 0 && i % 3 == 0 {
                marks.lock().unwrap().insert(uuid.clone());
                "retry"
            } else {
                "ok"
            };
            results.insert(uuid, json!({ "result": result }));
        }
        Reply::Full {
            status: 200,
            headers: vec![],
            body: json!({ "results": results }).to_string(),
        }
    });
    let mut config = config(&sink.url());
    config.protocol = Protocol::PostHogV1;
    config.flush_at = 30;
    let client = Client::new(config).unwrap();
    for i in 0..30 {
        client
            .capture(tidings_native::Event::new("e", "u").property("i", i))
            .unwrap();
    }
    assert!(client.flush(Duration::from_secs(5)).is_completed());

    let requests = sink.requests();
    assert_eq!(requests.len(), 2, "one batch, one partial retry");
    let (first, second) = (&requests[0], &requests[1]);
    assert_eq!(first.url, "/i/v1/analytics/events");
    assert_eq!(first.uuids().len(), 30);
    let resent: BTreeSet<String> = second.uuids().into_iter().collect();
    assert_eq!(resent, *retried.lock().unwrap());
    assert_eq!(resent.len(), 10);
    assert_eq!(first.header("posthog-attempt"), Some("1"));
    assert_eq!(second.header("posthog-attempt"), Some("2"));
    let request_id = first.header("posthog-request-id").unwrap();
    assert_eq!(second.header("posthog-request-id"), Some(request_id));
    assert_eq!(first.json["created_at"], second.json["created_at"]);
    for request in [first, second] {
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert!(request.json.get("api_key").is_none());
        assert!(request.json.get("sent_at").is_none());
    }
    // Same events, same timestamps on the retry.
    let stamps: BTreeMap<&str, &Value> = first
        .events()
        .iter()
        .map(|e| (e["uuid"].as_str().unwrap(), &e["timestamp"]))
        .collect();
    for event in second.events() {
        assert_eq!(stamps[event["uuid"].as_str().unwrap()], &event["timestamp"]);
    }
    let stats = client.stats();
    assert_eq!(stats.delivered, 30);
    assert_eq!(stats.retries, 1);
    assert!(stats.adds_up());
}
