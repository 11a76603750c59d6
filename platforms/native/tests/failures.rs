//! What the server's failures do: retries, Retry-After, splits, final drops.

#![allow(clippy::disallowed_methods)] // tests measure real time

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::{Reply, Sink, capture_n, config};
use tidings_native::{Client, DropReason};

#[test]
fn transient_503s_are_retried_until_everything_arrives() {
    let sink = Sink::start(|_, index| Reply::Status(if index < 3 { 503 } else { 200 }));
    let client = Client::new(config(&sink.url())).unwrap();
    let captured = capture_n(&client, 300);
    assert!(client.flush(Duration::from_secs(5)).is_completed());

    let delivered = sink.delivered_uuids();
    assert_eq!(delivered.len(), 300, "each event delivered once");
    assert_eq!(delivered.into_iter().collect::<BTreeSet<_>>(), captured);
    let stats = client.stats();
    assert_eq!(stats.delivered, 300);
    assert_eq!(stats.dropped_total(), 0);
    assert!(stats.retries >= 3, "{stats:?}");
    assert_eq!(stats.requests, sink.requests().len() as u64);
    assert!(stats.adds_up(), "{stats:?}");
}

#[test]
fn retry_after_on_429_is_honoured() {
    let sink = Sink::start(|_, index| {
        if index == 0 {
            Reply::Full {
                status: 429,
                headers: vec![("Retry-After", "1".into())],
                body: String::new(),
            }
        } else {
            Reply::Status(200)
        }
    });
    let mut config = config(&sink.url());
    config.retry.max_backoff = Duration::from_secs(2); // Retry-After is capped by it
    config.flush_at = 10;
    let client = Client::new(config).unwrap();
    capture_n(&client, 10);
    assert!(client.flush(Duration::from_secs(5)).is_completed());

    let requests = sink.requests();
    assert_eq!(requests.len(), 2);
    let gap = requests[1].at - requests[0].at;
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
    assert!(gap < Duration::from_millis(1900), "retried after {gap:?}");
    assert_eq!(requests[0].uuids(), requests[1].uuids(), "same events");
    assert_eq!(client.stats().delivered, 10);
}

#[test]
fn a_413_splits_the_batch_until_it_fits() {
    const LIMIT: usize = 4 * 1024;
    let sink =
        Sink::start(|seen, _| Reply::Status(if seen.plain.len() > LIMIT { 413 } else { 200 }));
    let mut config = config(&sink.url());
    config.flush_at = 200;
    config.max_batch_events = 200;
    let client = Client::new(config).unwrap();
    let captured = capture_n(&client, 200);
    assert!(client.flush(Duration::from_secs(5)).is_completed());

    let requests = sink.requests();
    assert!(requests.iter().any(|r| r.status == 413));
    for request in requests.iter().filter(|r| r.status == 200) {
        assert!(request.plain.len() <= LIMIT);
    }
    let delivered = sink.delivered_uuids();
    assert_eq!(delivered.len(), 200, "each event delivered once");
    assert_eq!(delivered.into_iter().collect::<BTreeSet<_>>(), captured);
    let stats = client.stats();
    assert_eq!(stats.delivered, 200);
    assert_eq!(stats.dropped_total(), 0);
    assert!(stats.adds_up());
}

#[test]
fn a_final_400_drops_the_batch_and_never_retries() {
    let sink = Sink::start(|_, _| Reply::Status(400));
    let mut config = config(&sink.url());
    config.flush_at = 50;
    let client = Client::new(config).unwrap();
    capture_n(&client, 50);
    assert!(client.flush(Duration::from_secs(5)).is_completed());
    std::thread::sleep(Duration::from_millis(100)); // room for a wrong retry

    assert_eq!(sink.requests().len(), 1);
    let stats = client.stats();
    assert_eq!(stats.dropped(DropReason::Rejected(400)), 50);
    assert_eq!(DropReason::Rejected(400).to_string(), "http_400");
    assert_eq!(stats.retries, 0);
    assert_eq!(stats.delivered, 0);
    assert!(stats.adds_up());
}

#[test]
fn a_request_slower_than_its_timeout_is_retried() {
    // ureq must enforce the per-request timeout the core hands out.
    let sink = Sink::start(|_, index| {
        if index == 0 {
            Reply::After(Duration::from_millis(800), Box::new(Reply::Status(200)))
        } else {
            Reply::Status(200)
        }
    });
    let mut config = config(&sink.url());
    config.request_timeout = Duration::from_millis(150);
    config.flush_at = 5;
    let client = Client::new(config).unwrap();
    capture_n(&client, 5);
    assert!(client.flush(Duration::from_secs(5)).is_completed());
    let stats = client.stats();
    assert_eq!(stats.delivered, 5);
    assert_eq!(stats.retries, 1);
    assert!(stats.adds_up());
}

#[test]
fn a_refused_connection_is_retried_then_dropped() {
    // Bind then close a listener: nothing answers on that port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = config(&format!("http://127.0.0.1:{port}"));
    config.retry.max_attempts = 3;
    config.flush_at = 4;
    let client = Client::new(config).unwrap();
    capture_n(&client, 4);
    assert!(client.flush(Duration::from_secs(5)).is_completed());
    let stats = client.stats();
    assert_eq!(stats.dropped(DropReason::RetriesExhausted), 4);
    assert_eq!(stats.requests, 3);
    assert!(stats.adds_up());
}
