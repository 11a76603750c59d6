//! The transport seam: concurrency, custom transports, the ureq backend's
//! contract, and capture from async code.

#![allow(clippy::disallowed_methods)] // tests measure real time

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{KEY, Reply, Sink, config};
use tidings_native::{
    Client, Config, DropReason, Event, HttpRequest, HttpResponse, Transport, TransportError,
    UreqTransport,
};

#[test]
fn several_requests_are_in_flight_when_the_server_is_slow() {
    let sink =
        Sink::start(|_, _| Reply::After(Duration::from_millis(150), Box::new(Reply::Status(200))));
    let mut config = config(&sink.url());
    config.flush_at = 10;
    config.max_batch_events = 10; // ten requests
    config.max_in_flight = 3;
    let client = Client::new(config).unwrap();
    for i in 0..100 {
        client
            .capture(Event::new("e", "u").property("i", i))
            .unwrap();
    }
    assert!(client.flush(Duration::from_secs(5)).is_completed());
    // The sink saw requests overlap, never more than max_in_flight. (Not a
    // wall-clock bound: on a loaded shared machine that flakes.)
    let max = sink.max_concurrent();
    assert!(max > 1 && max <= 3, "max concurrency {max}");
    assert_eq!(client.stats().delivered, 100);
}

/// Records every request and answers from a script.
#[derive(Default)]
struct Recorder {
    requests: Mutex<Vec<HttpRequest>>,
    failures_left: AtomicUsize,
}

impl Transport for Recorder {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.requests.lock().unwrap().push(request);
        let failing = self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(TransportError::Connection("refused by the recorder".into()));
        }
        Ok(HttpResponse::new(200).with_body(r#"{"status":1}"#))
    }
}

#[test]
fn a_custom_transport_is_used_instead_of_ureq() {
    let recorder = Arc::new(Recorder::default());
    recorder.failures_left.store(2, Ordering::SeqCst);
    let mut config = config("https://ingest.example.com");
    config.headers = vec![("X-Tenant".into(), "acme".into())];
    config.request_timeout = Duration::from_millis(1234);
    config.flush_at = 20;
    let client = Client::builder(config)
        .transport(recorder.clone())
        .seed(7)
        .build()
        .unwrap();
    for i in 0..20 {
        client
            .capture(Event::new("e", "u").property("i", i))
            .unwrap();
    }
    assert!(client.flush(Duration::from_secs(5)).is_completed());

    let requests = recorder.requests.lock().unwrap();
    assert_eq!(requests.len(), 3, "two failures, then success");
    for request in requests.iter() {
        assert_eq!(request.method, "POST");
        assert_eq!(request.url, "https://ingest.example.com/batch/");
        assert_eq!(request.timeout, Duration::from_millis(1234));
        assert_eq!(request.header("X-TENANT"), Some("acme"));
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["batch"].as_array().unwrap().len(), 20);
        let shown = format!("{request:?}");
        assert!(!shown.contains(KEY) && !shown.contains("acme"), "{shown}");
    }
    let stats = client.stats();
    assert_eq!((stats.delivered, stats.retries), (20, 2));
}

#[test]
fn a_panicking_transport_counts_as_a_failed_request() {
    // Keep the expected panics out of the test output; report any other.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"transport bug") {
            report(info);
        }
    }));
    let mut config = config("https://ingest.example.com");
    config.retry.max_attempts = 2;
    config.flush_at = 3;
    let client = Client::builder(config)
        .transport(
            |_request: HttpRequest| -> Result<HttpResponse, TransportError> {
                panic!("transport bug")
            },
        )
        .build()
        .unwrap();
    for _ in 0..3 {
        client.capture(Event::new("e", "u")).unwrap();
    }
    assert!(client.flush(Duration::from_secs(5)).is_completed());
    let stats = client.stats();
    assert_eq!(stats.dropped(DropReason::RetriesExhausted), 3);
    assert!(stats.adds_up());
}

#[test]
fn ureq_returns_error_statuses_and_redirects_as_answers() {
    let sink = Sink::start(|_, index| match index {
        0 => Reply::Full {
            status: 503,
            headers: vec![("Retry-After", "7".into())],
            body: "busy".into(),
        },
        _ => Reply::Full {
            status: 302,
            headers: vec![("Location", "http://127.0.0.1:9/elsewhere".into())],
            body: String::new(),
        },
    });
    let transport = UreqTransport::new();
    let request = HttpRequest {
        request: tidings_native::tidings::RequestId::from_u64(1),
        attempt: 1,
        events: 0,
        method: "POST",
        url: format!("{}/batch/", sink.url()),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: b"{}".to_vec(),
        timeout: Duration::from_secs(2),
    };
    let answer = transport.send(request.clone()).expect("an HTTP answer");
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("retry-after"), Some("7"));
    assert_eq!(answer.body, b"busy");
    // Not followed: the body may carry the key.
    let answer = transport.send(request).expect("an HTTP answer");
    assert_eq!(answer.status, 302);
    assert_eq!(sink.requests().len(), 2);
}

#[test]
fn capture_inside_a_tokio_runtime_does_not_block_it() {
    let sink =
        Sink::start(|_, _| Reply::After(Duration::from_millis(300), Box::new(Reply::Status(200))));
    let mut config = config(&sink.url());
    config.flush_at = 10;
    config.max_in_flight = 2;
    let client = Arc::new(Client::new(config).unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let slowest = runtime.block_on(async {
        let mut slowest = Duration::ZERO;
        for i in 0..1000 {
            let started = Instant::now();
            client
                .capture(Event::new("e", "u").property("i", i))
                .unwrap();
            slowest = slowest.max(started.elapsed());
            if i % 100 == 0 {
                tokio::task::yield_now().await;
            }
        }
        let outcome = client.flush_async(Duration::from_secs(5)).await;
        assert!(outcome.is_completed());
        slowest
    });
    // Requests take 300 ms each; no capture waited for one.
    assert!(
        slowest < Duration::from_millis(100),
        "slowest capture {slowest:?}"
    );
    assert_eq!(client.stats().delivered, 1000);
}

#[test]
fn a_config_without_a_reachable_host_still_builds() {
    // Construction does no I/O: DNS and connections happen on send.
    let client = Client::new(Config::new(KEY, "https://no-such-host.invalid")).unwrap();
    assert_eq!(client.stats().captured, 0);
    assert_eq!(
        client.shutdown(Duration::from_millis(100)),
        tidings_native::ShutdownOutcome::Drained
    );
}
