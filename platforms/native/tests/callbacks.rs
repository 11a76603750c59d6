//! User code that panics or never returns: the hook's event is counted
//! under a named reason, delivery goes on, and the statistics add up.

#![allow(clippy::disallowed_methods)] // tests measure real time

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::{Sink, capture_n, config};
use tidings_native::{
    CaptureError, Client, Config, DropReason, Event, HttpRequest, HttpResponse, ShutdownOutcome,
    TransportError,
};

#[test]
fn a_panicking_before_send_hook_drops_only_its_event() {
    let sink = Sink::ok();
    let config = config(&sink.url()).with_before_send(|event| {
        if event.name() == "boom" {
            panic!("the user's hook panics");
        }
        Some(event)
    });
    let client = Client::new(config).unwrap();
    client.capture(Event::new("ok", "u")).unwrap();
    let refused = client.capture(Event::new("boom", "u")).unwrap_err();
    assert_eq!(refused, CaptureError::BeforeSendPanicked);
    assert_eq!(refused.reason(), DropReason::BeforeSendPanicked);
    client.capture(Event::new("ok", "u")).unwrap();
    assert!(client.flush(Duration::from_secs(5)).is_completed());
    let stats = client.stats();
    assert!(stats.adds_up(), "{stats:?}");
    assert_eq!((stats.captured, stats.delivered), (3, 2));
    assert_eq!(stats.dropped(DropReason::BeforeSendPanicked), 1);
    assert_eq!(sink.delivered_uuids().len(), 2);
}

#[test]
fn a_panicking_on_notice_hook_does_not_stop_delivery() {
    let sink = Sink::ok();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let mut config = config(&sink.url());
    config.flush_at = 1;
    let client = Client::builder(config)
        .on_notice(move |_| {
            seen.fetch_add(1, Ordering::Relaxed);
            panic!("the user's notice hook panics");
        })
        .build()
        .unwrap();
    for i in 0..20 {
        client
            .capture(Event::new("e", "u").property("i", i))
            .unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(client.flush(Duration::from_secs(5)).is_completed());
    assert_eq!(
        sink.delivered_uuids().len(),
        20,
        "the worker kept delivering"
    );
    assert!(
        calls.load(Ordering::Relaxed) >= 2,
        "the hook kept being called"
    );
    assert_eq!(
        client.shutdown(Duration::from_secs(5)),
        ShutdownOutcome::Drained
    );
    let stats = client.stats();
    assert!(stats.adds_up() && stats.delivered == 20, "{stats:?}");
}

#[test]
fn a_transport_that_never_returns_holds_no_more_than_max_in_flight_bodies() {
    // Each call blocks far past its timeout: the core gives up on it, and
    // retries must not pile up behind the stuck sender threads.
    let started = Arc::new(AtomicUsize::new(0));
    let calls = started.clone();
    let mut config = Config::new("phc_key", "https://ingest.example.com");
    config.flush_at = 1;
    config.max_in_flight = 2;
    config.request_timeout = Duration::from_millis(50);
    config.retry.initial_backoff = Duration::from_millis(10);
    config.retry.max_backoff = Duration::from_millis(20);
    config.retry.max_attempts = 3;
    let client = Client::builder(config)
        .transport(
            move |_request: HttpRequest| -> Result<HttpResponse, TransportError> {
                calls.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_secs(30));
                Ok(HttpResponse::new(200))
            },
        )
        .drop_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    capture_n(&client, 6);
    // Each stuck call is abandoned after 50 ms + the core's 2 s grace; the
    // retries then fail at once (no thread free) until attempts run out,
    // about 2.1 s in all. Queued behind the stuck threads instead, each of
    // the 3 attempts would wait out its own 2 s grace: over 6 s.
    let outcome = client.flush(Duration::from_secs(5));
    assert!(outcome.is_completed(), "{:?}", client.stats());
    let stats = client.stats();
    assert!(stats.adds_up(), "{stats:?}");
    assert_eq!(stats.dropped(DropReason::RetriesExhausted), 6, "{stats:?}");
    assert_eq!(
        started.load(Ordering::Relaxed),
        2,
        "only the two sender threads ever entered the transport"
    );
}

#[test]
fn a_custom_transport_sees_the_request_id_attempt_and_event_count() {
    use std::sync::Mutex;
    use tidings_native::{Notice, RequestId};
    let seen: Arc<Mutex<Vec<(RequestId, u32, usize)>>> = Arc::default();
    let delivered: Arc<Mutex<Vec<RequestId>>> = Arc::default();
    let (record, notes) = (seen.clone(), delivered.clone());
    let mut config = Config::new("phc_key", "https://ingest.example.com");
    config.flush_at = 3;
    config.retry.initial_backoff = Duration::from_millis(5);
    config.retry.max_backoff = Duration::from_millis(10);
    let client = Client::builder(config)
        .transport(
            move |request: HttpRequest| -> Result<HttpResponse, TransportError> {
                let mut seen = record.lock().unwrap();
                seen.push((request.request, request.attempt, request.events));
                Ok(HttpResponse::new(if seen.len() == 1 { 503 } else { 200 }))
            },
        )
        .on_notice(move |notice| {
            if let Notice::Delivered { request, .. } = notice {
                notes.lock().unwrap().push(*request);
            }
        })
        .build()
        .unwrap();
    capture_n(&client, 3);
    assert!(client.flush(Duration::from_secs(5)).is_completed());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!((seen[0].1, seen[0].2), (1, 3), "first attempt, 3 events");
    assert_eq!((seen[1].1, seen[1].2), (2, 3), "the retry is attempt 2");
    assert_ne!(seen[0].0, seen[1].0, "each attempt has its own id");
    assert_eq!(
        *delivered.lock().unwrap(),
        vec![seen[1].0],
        "Delivered names the request"
    );
}

#[test]
fn drop_pending_gives_up_and_the_client_keeps_working() {
    let sink = Sink::ok();
    let mut config = config(&sink.url());
    config.flush_at = 100;
    let client = Client::new(config).unwrap();
    capture_n(&client, 5);
    assert_eq!(client.drop_pending(DropReason::DrainBudget), 5);
    client.capture(Event::new("after", "u")).unwrap();
    assert!(client.flush(Duration::from_secs(5)).is_completed());
    let stats = client.stats();
    assert!(stats.adds_up(), "{stats:?}");
    assert_eq!(
        (stats.delivered, stats.dropped(DropReason::DrainBudget)),
        (1, 5)
    );
    assert_eq!(sink.delivered_uuids().len(), 1);
}
