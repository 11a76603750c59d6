//! The native client against the collector over loopback, with faults on:
//! every event arrives, duplicates come only from lost answers, and the
//! client's statistics add up.

use std::time::Duration;

use tidings::{Config, Event, Protocol};
use tidings_cli::collect::{Collector, CollectorOptions, Faults};
use tidings_native::Client;

fn faulty(max_body_bytes: usize) -> Faults {
    Faults {
        seed: 11,
        fail_rate: 0.20,
        fail_status: 503,
        rate_limit_rate: 0.05,
        retry_after: "1".into(),
        max_body_bytes: Some(max_body_bytes),
        lose_answer_rate: 0.01,
        ..Default::default()
    }
}

fn run(protocol: Protocol, gzip: bool, events: u64) {
    // The limit applies to the body as sent: compressed bodies are smaller.
    let limit = if gzip { 3 * 1024 } else { 24 * 1024 };
    let collector = Collector::start(CollectorOptions {
        faults: faulty(limit),
        ..Default::default()
    })
    .unwrap();
    let mut config = Config::new("phc_e2e", collector.url());
    config.protocol = protocol;
    config.gzip = gzip;
    config.flush_at = 200;
    config.max_batch_events = 400;
    config.flush_interval = Duration::from_millis(50);
    config.retry.initial_backoff = Duration::from_millis(20);
    config.retry.max_backoff = Duration::from_millis(300);
    config.retry.max_attempts = 30;
    let client = Client::builder(config).seed(3).build().unwrap();
    let mut accepted = Vec::new();
    for i in 0..events {
        let event = Event::new("e2e", format!("user-{}", i % 50))
            .property("i", i)
            .property("text", "é".repeat(20));
        accepted.push(client.capture(event).expect("accepted"));
    }
    let outcome = client.flush(Duration::from_secs(60));
    assert!(outcome.is_completed());
    let stats = client.stats();
    assert!(stats.adds_up(), "{stats:?}");
    assert_eq!(stats.delivered, events, "{stats:?}");
    assert_eq!(stats.dropped_total(), 0, "{stats:?}");

    let stored = collector.store().uuids().unwrap();
    for uuid in &accepted {
        assert!(
            stored.contains(&uuid.to_string()),
            "{uuid} missing at the collector"
        );
    }
    let c = collector.stats();
    assert_eq!(c.unique, events, "{c:?}");
    // Duplicates only come from answers the collector lost after storing.
    if c.lost_answers == 0 {
        assert_eq!(c.duplicates, 0, "{c:?}");
    }
    assert!(c.duplicates <= c.lost_answers * 400, "{c:?}");
    assert!(
        c.statuses.get(&503).copied().unwrap_or(0) > 0,
        "faults were injected: {c:?}"
    );
    assert!(
        c.statuses.get(&429).copied().unwrap_or(0) > 0,
        "faults were injected: {c:?}"
    );
    assert!(
        c.statuses.get(&413).copied().unwrap_or(0) > 0,
        "batches were split: {c:?}"
    );
    assert!(stats.retries > 0);
}

#[test]
fn posthog_v0_through_faults() {
    run(Protocol::PostHogV0, false, 5000);
}

#[test]
fn posthog_v1_gzip_through_faults() {
    run(Protocol::PostHogV1, true, 3000);
}
