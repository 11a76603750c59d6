//! Construction, shutdown deadlines, drop, and what is never shown.

#![allow(clippy::disallowed_methods)] // tests measure real time

mod support;

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use support::{KEY, Reply, Sink, config};
use tidings_native::{
    CaptureError, Client, Config, DropReason, Event, HttpResponse, LibInfo, ShutdownOutcome,
};

#[test]
fn shutdown_keeps_its_deadline_when_the_server_never_answers() {
    let sink = Sink::start(|_, _| Reply::Hang);
    let mut config = config(&sink.url());
    config.flush_at = 10;
    let client = Client::new(config).unwrap();
    for i in 0..25 {
        client
            .capture(Event::new("e", "u").property("i", i))
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(50)); // requests go out and hang

    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let outcome = client.shutdown(timeout);
    let took = started.elapsed();
    assert!(took >= timeout - Duration::from_millis(20), "{took:?}");
    assert!(took < timeout + Duration::from_millis(250), "{took:?}");
    assert_eq!(outcome, ShutdownOutcome::DeadlineReached { dropped: 25 });
    let stats = client.stats();
    assert_eq!(stats.dropped(DropReason::ShutdownDeadline), 25);
    assert_eq!(stats.pending, 0);
    assert!(stats.adds_up());
    assert!(!sink.requests().is_empty());
}

#[test]
fn after_shutdown_captures_are_refused_and_shutdown_repeats_its_outcome() {
    let sink = Sink::ok();
    let client = Client::new(config(&sink.url())).unwrap();
    client.capture(Event::new("e", "u")).unwrap();
    let first = client.shutdown(Duration::from_secs(2));
    assert_eq!(first, ShutdownOutcome::Drained);
    assert_eq!(sink.delivered_uuids().len(), 1);

    let refused = client.capture(Event::new("late", "u")).unwrap_err();
    assert_eq!(refused, CaptureError::ShutDown);
    assert_eq!(refused.reason(), DropReason::ShutDown);
    assert_eq!(client.shutdown(Duration::from_secs(2)), first);
    let started = Instant::now();
    assert!(client.flush(Duration::from_secs(2)).is_completed());
    assert!(started.elapsed() < Duration::from_millis(100));
    let stats = client.stats();
    assert_eq!(stats.captured, 2);
    assert_eq!(stats.dropped(DropReason::ShutDown), 1);
    assert!(stats.adds_up());
}

#[test]
fn dropping_the_client_sends_what_is_pending() {
    let sink = Sink::ok();
    let client = Client::new(config(&sink.url())).unwrap();
    for _ in 0..7 {
        client.capture(Event::new("e", "u")).unwrap();
    }
    drop(client);
    assert_eq!(sink.delivered_uuids().len(), 7);
}

#[test]
fn dropping_the_client_is_bounded_by_its_drop_timeout() {
    let sink = Sink::start(|_, _| Reply::Hang);
    let client = Client::builder(config(&sink.url()))
        .drop_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    client.capture(Event::new("e", "u")).unwrap();
    let started = Instant::now();
    drop(client);
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn an_invalid_config_is_refused_with_a_clear_error() {
    let mut bad = Config::new(KEY, "http://127.0.0.1:9");
    bad.flush_at = 0;
    let error = Client::new(bad).unwrap_err();
    assert_eq!(error.field, "flush_at");
    assert!(error.to_string().contains("at least 1"), "{error}");

    let error = Client::new(Config::new(KEY, "http://ingest.example.com")).unwrap_err();
    assert_eq!(error.field, "host");
    assert!(error.to_string().contains("https"), "{error}");

    let error = Client::new(Config::new("", "https://ingest.example.com")).unwrap_err();
    assert_eq!(error.field, "api_key");
}

#[test]
fn lib_info_names_this_adapter_unless_the_user_set_it() {
    let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let transport = move |request: tidings_native::HttpRequest| {
        record
            .lock()
            .unwrap()
            .push(request.header("user-agent").unwrap().to_owned());
        Ok(HttpResponse::new(200))
    };
    let mut custom = Config::new(KEY, "https://ingest.example.com");
    custom.lib = LibInfo {
        name: "my-app".into(),
        version: "9.9.9".into(),
    };
    for config in [Config::new(KEY, "https://ingest.example.com"), custom] {
        let client = Client::builder(config)
            .transport(transport.clone())
            .build()
            .unwrap();
        client.capture(Event::new("e", "u")).unwrap();
        client.flush(Duration::from_secs(2));
    }
    let expected = format!("tidings-native/{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(*seen.lock().unwrap(), [expected.as_str(), "my-app/9.9.9"]);
}

/// Collects every log line but ureq's own, to check the key never appears
/// in one. (ureq-proto hex-dumps the wire bytes at trace level, headers and
/// body included: that is documented on `UreqTransport`.)
struct Recorder(Mutex<Vec<String>>);

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        if record.target().starts_with("ureq") {
            return;
        }
        self.0.lock().unwrap().push(record.args().to_string());
    }
    fn flush(&self) {}
}

fn logs() -> &'static Recorder {
    static LOGS: OnceLock<&'static Recorder> = OnceLock::new();
    LOGS.get_or_init(|| {
        let recorder: &'static Recorder = Box::leak(Box::new(Recorder(Mutex::new(Vec::new()))));
        log::set_logger(recorder).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
        recorder
    })
}

#[test]
fn the_key_is_never_shown_by_debug_or_logs() {
    let logs = logs();
    let sink = Sink::start(|_, _| Reply::Status(401));
    let mut config = config(&sink.url());
    config.headers = vec![("X-Write-Key".into(), "hdr_SECRET_value".into())];
    config.max_queue_events = 2;
    let client = Client::new(config).unwrap();
    for _ in 0..5 {
        let _ = client.capture(Event::new("e", "u")); // 3 refused: queue_full
    }
    client.flush(Duration::from_secs(2)); // rejected: http_401
    let shown = format!("{client:?}");
    assert!(shown.contains("127.0.0.1"), "{shown}");
    let lines = logs.0.lock().unwrap().clone();
    assert!(lines.iter().any(|l| l.contains("http_401")), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("queue_full")), "{lines:?}");
    for text in lines.iter().chain([&shown]) {
        assert!(!text.contains(KEY), "{text}");
        assert!(!text.contains("SECRET"), "{text}");
    }
}
