//! The capture path without the lock: refusals stay exact under
//! concurrent captures, the stats add up at every moment, and
//! `capture_blocking` waits for room.

#![allow(clippy::disallowed_methods)] // tests measure real time

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use support::{Reply, Sink, capture_n, config};
use tidings_native::{
    CaptureError, Client, DropReason, Event, FlushOutcome, OverflowPolicy, ShutdownOutcome,
};

/// Eight threads race for a queue of 100 while nothing is answered: exactly
/// 100 are accepted, every refusal is `QueueFull`, and a reader polling
/// `stats()` meanwhile never sees them fail to add up.
#[test]
fn concurrent_captures_never_pass_the_budget_and_stats_always_add_up() {
    let sink = Sink::start(|_, _| Reply::Hang);
    let mut config = config(&sink.url());
    config.max_queue_events = 100;
    config.flush_at = 1_000; // nothing leaves on its own
    let client = Arc::new(Client::new(config).unwrap());
    let accepted = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (client, done) = (client.clone(), done.clone());
        thread::spawn(move || {
            let mut reads = 0;
            while !done.load(Ordering::SeqCst) {
                let stats = client.stats();
                assert!(stats.adds_up(), "{stats:?}");
                assert!(stats.pending <= 100, "{stats:?}");
                reads += 1;
            }
            reads
        })
    };
    let capturers: Vec<_> = (0..8)
        .map(|t| {
            let (client, accepted) = (client.clone(), accepted.clone());
            thread::spawn(move || {
                for i in 0..200 {
                    match client.capture(Event::new("e", "u").property("i", t * 1000 + i)) {
                        Ok(_) => {
                            accepted.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(CaptureError::QueueFull { .. }) => {}
                        Err(other) => panic!("unexpected refusal {other}"),
                    }
                }
            })
        })
        .collect();
    for capturer in capturers {
        capturer.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    assert!(reader.join().unwrap() > 0);
    assert_eq!(accepted.load(Ordering::SeqCst), 100);
    let stats = client.stats();
    assert_eq!(stats.captured, 1_600);
    assert_eq!(stats.pending, 100);
    assert_eq!(stats.queued, 100);
    assert_eq!(stats.dropped(DropReason::QueueFull), 1_500);
    assert!(stats.adds_up());
    client.drop_pending(DropReason::ShutdownDeadline);
}

/// Room freed by delivery is seen by captures at once: a queue of 10
/// carries 2,000 events from four threads when each waits its turn.
#[test]
fn capture_blocking_waits_for_room_and_loses_nothing() {
    let sink =
        Sink::start(|_, _| Reply::After(Duration::from_millis(2), Box::new(Reply::Status(200))));
    let mut config = config(&sink.url());
    config.max_queue_events = 10;
    config.flush_at = 5;
    config.flush_interval = Duration::from_millis(5);
    let client = Arc::new(Client::new(config).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let client = client.clone();
            thread::spawn(move || {
                for i in 0..500 {
                    let event = Event::new("billed", "tenant").property("i", t * 1000 + i);
                    client
                        .capture_blocking(event, Duration::from_secs(10))
                        .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(client.flush(Duration::from_secs(10)).is_completed());
    let stats = client.stats();
    assert_eq!(
        (stats.captured, stats.delivered),
        (2_000, 2_000),
        "{stats:?}"
    );
    assert_eq!(sink.delivered_uuids().len(), 2_000);
}

#[test]
fn capture_blocking_refuses_as_queue_full_once_its_timeout_passes() {
    let sink = Sink::start(|_, _| Reply::Hang);
    let mut config = config(&sink.url());
    config.max_queue_events = 2;
    let client = Client::new(config).unwrap();
    client.capture(Event::new("e", "u")).unwrap();
    client.capture(Event::new("e", "u")).unwrap();
    let started = Instant::now();
    let refused = client
        .capture_blocking(Event::new("e", "u"), Duration::from_millis(200))
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(refused, CaptureError::QueueFull { .. }),
        "{refused}"
    );
    assert!(waited >= Duration::from_millis(195), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    let stats = client.stats();
    assert_eq!(stats.dropped(DropReason::QueueFull), 1);
    assert!(stats.adds_up());
    client.drop_pending(DropReason::ShutdownDeadline);
}

#[test]
fn shutdown_releases_a_blocked_capture_as_shut_down() {
    let sink = Sink::start(|_, _| Reply::Hang);
    let mut config = config(&sink.url());
    config.max_queue_events = 1;
    let client = Arc::new(Client::new(config).unwrap());
    client.capture(Event::new("e", "u")).unwrap();
    let blocked = {
        let client = client.clone();
        thread::spawn(move || {
            let started = Instant::now();
            let result = client.capture_blocking(Event::new("e", "u"), Duration::from_secs(30));
            (result, started.elapsed())
        })
    };
    thread::sleep(Duration::from_millis(100));
    let outcome = client.shutdown(Duration::from_millis(100));
    assert_eq!(outcome, ShutdownOutcome::DeadlineReached { dropped: 1 });
    let (result, waited) = blocked.join().unwrap();
    assert_eq!(result, Err(CaptureError::ShutDown));
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    let stats = client.stats();
    assert_eq!(stats.captured, 2);
    assert_eq!(stats.dropped(DropReason::ShutDown), 1);
    assert!(stats.adds_up());
}

/// `DropOldest` still evicts on the capture path: the newest 5 of 20
/// are what a flush delivers.
#[test]
fn drop_oldest_evicts_from_the_front() {
    let sink = Sink::ok();
    let mut config = config(&sink.url());
    config.max_queue_events = 5;
    config.flush_at = 1_000;
    config.overflow = OverflowPolicy::DropOldest;
    let client = Client::new(config).unwrap();
    let uuids: Vec<String> = (0..20)
        .map(|i| {
            client
                .capture(Event::new("e", "u").property("i", i))
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(client.flush(Duration::from_secs(5)).is_completed());
    let mut delivered = sink.delivered_uuids();
    delivered.sort();
    let mut newest = uuids[15..].to_vec();
    newest.sort();
    assert_eq!(delivered, newest);
    let stats = client.stats();
    assert_eq!(stats.dropped(DropReason::QueueFull), 15);
    assert!(stats.adds_up());
}

/// Refusals decided on the capturing thread are counted and warned about
/// like the core's own.
#[test]
fn refusals_off_the_lock_are_counted_by_reason() {
    let sink = Sink::ok();
    let mut config = config(&sink.url());
    config.max_event_bytes = 300;
    let client = Client::new(config).unwrap();
    assert!(matches!(
        client.capture(Event::new("", "u")),
        Err(CaptureError::InvalidEvent(_))
    ));
    let big = Event::new("e", "u").property("blob", "x".repeat(400));
    assert!(matches!(
        client.capture(big),
        Err(CaptureError::TooLarge { .. })
    ));
    client.capture(Event::new("e", "u")).unwrap();
    let stats = client.stats();
    assert_eq!(stats.captured, 3);
    assert_eq!(stats.dropped(DropReason::InvalidEvent), 1);
    assert_eq!(stats.dropped(DropReason::TooLarge), 1);
    assert!(stats.adds_up());
    assert_eq!(
        client.shutdown(Duration::from_secs(5)),
        ShutdownOutcome::Drained
    );
    assert_eq!(sink.delivered_uuids().len(), 1);
}

/// `flush` says how many events it resolved: those pending when it was
/// called (staged ones included), delivered or dropped by its end.
#[test]
fn flush_reports_how_many_events_it_resolved() {
    // The first request is refused (400), the second delivered.
    let sink = Sink::start(|_, i| Reply::Status(if i == 0 { 400 } else { 200 }));
    let mut config = config(&sink.url());
    config.flush_at = 100;
    let client = Client::new(config).unwrap();
    capture_n(&client, 5);
    assert_eq!(
        client.flush(Duration::from_secs(5)),
        FlushOutcome::Completed { resolved: 5 }
    );
    capture_n(&client, 5);
    assert_eq!(
        client.flush(Duration::from_secs(5)),
        FlushOutcome::Completed { resolved: 5 }
    );
    assert_eq!(
        client.flush(Duration::from_secs(5)),
        FlushOutcome::Completed { resolved: 0 }
    );
    let stats = client.stats();
    assert_eq!((stats.delivered, stats.dropped_total()), (5, 5));
}
