//! Per-event receipts and the per-event deadline over loopback HTTP: each
//! receipt resolves once, with the fate the sink caused — delivered,
//! dropped by a 4xx, expired while the sink was down, dropped at the
//! shutdown deadline — and only events captured with one are tracked.

#![allow(clippy::disallowed_methods)] // tests measure real time

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use support::{Reply, Sink, config};
use tidings_native::{
    CaptureError, Client, DropReason, Event, Fate, OverflowPolicy, ShutdownOutcome,
};

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn a_delivered_event_resolves_delivered_and_is_at_the_sink() {
    let sink = Sink::ok();
    let client = Client::new(config(&sink.url())).unwrap();
    let receipt = client
        .capture_with_receipt(Event::new("invoice_paid", "tenant-7"))
        .unwrap();
    assert_eq!(receipt.fate(), Fate::Pending);
    client.flush(WAIT);
    assert_eq!(
        receipt.fate(),
        Fate::Delivered,
        "resolved before flush returns"
    );
    assert_eq!(receipt.wait(WAIT), Fate::Delivered);
    assert_eq!(sink.delivered_uuids(), vec![receipt.uuid().to_string()]);
}

#[test]
fn a_4xx_resolves_dropped_with_its_status() {
    let sink = Sink::start(|_, _| Reply::Status(400));
    let client = Client::new(config(&sink.url())).unwrap();
    let receipt = client.capture_with_receipt(Event::new("e", "u")).unwrap();
    client.flush(WAIT);
    assert_eq!(receipt.wait(WAIT), Fate::Dropped(DropReason::Rejected(400)));
}

#[test]
fn an_event_past_its_deadline_while_the_sink_is_down_expires() {
    let sink = Sink::start(|_, _| Reply::Status(503));
    let mut config = config(&sink.url());
    config.event_timeout = Some(Duration::from_millis(300));
    config.retry.max_attempts = 1_000; // only the deadline ends it
    let client = Client::new(config).unwrap();
    let started = Instant::now();
    let receipt = client.capture_with_receipt(Event::new("e", "u")).unwrap();
    client.flush(Duration::from_millis(10));
    let fate = receipt.wait(WAIT);
    let took = started.elapsed();
    assert_eq!(fate, Fate::Dropped(DropReason::Expired));
    // Past its deadline, and within one answer of it (the sink answers
    // at once; backoff is at most 50 ms).
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    let stats = client.stats();
    assert_eq!(stats.dropped(DropReason::Expired), 1);
    assert!(stats.adds_up(), "{stats:?}");
}

#[test]
fn events_still_pending_at_the_shutdown_deadline_resolve_as_such() {
    let sink = Sink::start(|_, _| Reply::Hang);
    let client = Client::new(config(&sink.url())).unwrap();
    let receipts: Vec<_> = (0..3)
        .map(|i| {
            client
                .capture_with_receipt(Event::new("e", "u").property("i", i))
                .unwrap()
        })
        .collect();
    let outcome = client.shutdown(Duration::from_millis(200));
    assert_eq!(outcome, ShutdownOutcome::DeadlineReached { dropped: 3 });
    for receipt in &receipts {
        assert_eq!(receipt.fate(), Fate::Dropped(DropReason::ShutdownDeadline));
    }
    // Captured after the shutdown: refused, so no receipt is created.
    let refused = client.capture_with_receipt(Event::new("late", "u"));
    assert!(
        matches!(refused, Err(CaptureError::ShutDown)),
        "{refused:?}"
    );
}

#[test]
fn a_receipt_can_be_awaited_on_any_executor() {
    let sink =
        Sink::start(|_, _| Reply::After(Duration::from_millis(50), Box::new(Reply::Status(200))));
    let client = Arc::new(Client::new(config(&sink.url())).unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let fates = runtime.block_on(async {
        let receipt = client.capture_with_receipt(Event::new("e", "u")).unwrap();
        let flushing = client.flush_async(WAIT);
        let fate = receipt.await;
        flushing.await;
        fate
    });
    assert_eq!(fates, Fate::Delivered);
}

#[test]
fn receipts_for_some_events_leave_the_others_alone() {
    let sink = Sink::ok();
    let mut config = config(&sink.url());
    config.flush_at = 50;
    let client = Client::new(config).unwrap();
    let mut tracked = Vec::new();
    let mut untracked = BTreeSet::new();
    for i in 0..500 {
        let event = Event::new("e", "u").property("i", i);
        if i % 10 == 0 {
            tracked.push(client.capture_with_receipt(event).unwrap());
        } else {
            untracked.insert(client.capture(event).unwrap().to_string());
        }
    }
    client.flush(WAIT);
    assert!(tracked.iter().all(|r| r.fate() == Fate::Delivered));
    let delivered: BTreeSet<String> = sink.delivered_uuids().into_iter().collect();
    assert_eq!(delivered.len(), 500);
    assert!(untracked.is_subset(&delivered));
}

/// Two events given the same uuid: each receipt resolves with its own
/// event's fate, in capture order.
#[test]
fn two_events_with_one_uuid_get_one_resolution_each() {
    let sink = Sink::start(|_, i| Reply::Status(if i == 0 { 200 } else { 400 }));
    let mut config = config(&sink.url());
    config.flush_at = 1;
    config.max_in_flight = 1;
    let client = Client::new(config).unwrap();
    let uuid = tidings_native::Uuid::from_u128(7);
    let first = client
        .capture_with_receipt(Event::new("a", "u").uuid(uuid))
        .unwrap();
    client.flush(WAIT);
    let second = client
        .capture_with_receipt(Event::new("b", "u").uuid(uuid))
        .unwrap();
    client.flush(WAIT);
    assert_eq!(first.fate(), Fate::Delivered);
    assert_eq!(second.fate(), Fate::Dropped(DropReason::Rejected(400)));
}

#[test]
fn capture_blocking_with_receipt_waits_for_room_and_resolves() {
    let sink =
        Sink::start(|_, _| Reply::After(Duration::from_millis(2), Box::new(Reply::Status(200))));
    let mut config = config(&sink.url());
    config.max_queue_events = 5;
    config.flush_at = 5;
    config.max_batch_events = 5;
    let client = Client::new(config).unwrap();
    let receipts: Vec<_> = (0..100)
        .map(|i| {
            client
                .capture_blocking_with_receipt(Event::new("e", "u").property("i", i), WAIT)
                .unwrap()
        })
        .collect();
    client.flush(WAIT);
    assert!(receipts.iter().all(|r| r.wait(WAIT) == Fate::Delivered));
    assert_eq!(sink.delivered_uuids().len(), 100);
}

/// With `DropOldest`, an evicted event's receipt says `queue_full`; the
/// refused newest one under `DropNewest` gets none.
#[test]
fn an_evicted_event_resolves_queue_full() {
    let sink = Sink::start(|_, _| Reply::Hang);
    let mut config = config(&sink.url());
    config.max_queue_events = 2;
    config.flush_at = 1_000;
    config.overflow = OverflowPolicy::DropOldest;
    let client = Client::new(config).unwrap();
    let oldest = client.capture_with_receipt(Event::new("a", "u")).unwrap();
    let _second = client.capture_with_receipt(Event::new("b", "u")).unwrap();
    let _third = client.capture_with_receipt(Event::new("c", "u")).unwrap();
    assert_eq!(oldest.wait(WAIT), Fate::Dropped(DropReason::QueueFull));
    client.drop_pending(DropReason::ShutdownDeadline);
}

/// Receipts asked for from many threads at once while the worker
/// resolves others: each resolves once, none is lost.
#[test]
fn concurrent_receipts_all_resolve() {
    let sink = Sink::ok();
    let mut config = config(&sink.url());
    config.flush_at = 64;
    let client = Arc::new(Client::new(config).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (client, stop) = (client.clone(), stop.clone());
            thread::spawn(move || {
                let mut receipts = Vec::new();
                for i in 0..2_000 {
                    let event = Event::new("e", "u").property("i", t * 10_000 + i);
                    receipts.push(client.capture_with_receipt(event).unwrap());
                }
                while !stop.load(Ordering::SeqCst) && receipts.iter().any(|r| !r.fate().is_final())
                {
                    thread::sleep(Duration::from_millis(5));
                }
                receipts
            })
        })
        .collect();
    client.flush(WAIT);
    stop.store(true, Ordering::SeqCst);
    for thread in threads {
        for receipt in thread.join().unwrap() {
            assert_eq!(receipt.wait(WAIT), Fate::Delivered);
        }
    }
    assert_eq!(sink.delivered_uuids().len(), 8_000);
}
