//! The `metrics` feature: what an operator's recorder sees for requests
//! that succeed, fail and retry, over loopback.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::{CompositeKey, MetricKind};
use support::{Reply, Sink, config};
use tidings_native::{Client, Event};

fn values(
    snapshot: Vec<(
        CompositeKey,
        Option<metrics::Unit>,
        Option<metrics::SharedString>,
        DebugValue,
    )>,
) -> HashMap<String, DebugValue> {
    snapshot
        .into_iter()
        .map(|(key, _, _, value)| {
            let (kind, key) = key.into_parts();
            let mut name = key.name().to_owned();
            for label in key.labels() {
                name.push_str(&format!("{{{}={}}}", label.key(), label.value()));
            }
            if kind == MetricKind::Histogram {
                name.push_str("#histogram");
            }
            (name, value)
        })
        .collect()
}

fn counter(values: &HashMap<String, DebugValue>, name: &str) -> u64 {
    match values.get(name) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{name}: {other:?} in {:?}", values.keys()),
    }
}

fn gauge(values: &HashMap<String, DebugValue>, name: &str) -> f64 {
    match values.get(name) {
        Some(DebugValue::Gauge(v)) => v.into_inner(),
        other => panic!("{name}: {other:?}"),
    }
}

fn histogram(values: &HashMap<String, DebugValue>, name: &str) -> Vec<f64> {
    match values.get(&format!("{name}#histogram")) {
        Some(DebugValue::Histogram(v)) => v.iter().map(|x| x.into_inner()).collect(),
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn requests_statuses_retries_and_queue_depth_reach_the_recorder() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder in this test binary");

    // The first request is answered 503, every other one 200.
    let sink = Sink::start(|_, i| Reply::Status(if i == 0 { 503 } else { 200 }));
    let mut config = config(&sink.url());
    config.flush_at = 10;
    config.max_batch_events = 10;
    let client = Client::new(config).unwrap();
    for i in 0..30 {
        client
            .capture(Event::new("e", "u").property("i", i))
            .unwrap();
    }
    assert!(client.flush(Duration::from_secs(5)).is_completed());
    let stats = client.stats();
    client.shutdown(Duration::from_secs(5));

    let values = values(snapshotter.snapshot().into_vec());
    assert_eq!(counter(&values, "tidings_responses_total{status=503}"), 1);
    assert_eq!(counter(&values, "tidings_responses_total{status=200}"), 3);
    assert_eq!(
        counter(&values, "tidings_request_attempts_total{attempt=retry}"),
        1
    );
    assert_eq!(
        counter(&values, "tidings_request_attempts_total{attempt=first}"),
        3
    );
    assert_eq!(counter(&values, "tidings_events_captured_total"), 30);
    assert_eq!(counter(&values, "tidings_events_delivered_total"), 30);
    assert_eq!(counter(&values, "tidings_requests_total"), 4);
    assert_eq!(counter(&values, "tidings_requests_failed_total"), 1);
    assert_eq!((stats.requests, stats.failed_requests), (4, 1));
    let sizes = histogram(&values, "tidings_request_events");
    assert_eq!(sizes.iter().sum::<f64>(), 40.0, "{sizes:?}"); // 30 events, 10 sent twice
    let bytes = histogram(&values, "tidings_request_bytes");
    assert!(bytes.iter().all(|b| *b > 10.0 * 100.0), "{bytes:?}");
    assert_eq!(
        histogram(&values, "tidings_request_duration_seconds").len(),
        4
    );
    // Nothing is left: the queue gauges are back at zero.
    assert_eq!(gauge(&values, "tidings_pending_events"), 0.0);
    assert_eq!(gauge(&values, "tidings_pending_bytes"), 0.0);
    assert_eq!(gauge(&values, "tidings_in_flight_events"), 0.0);
}
