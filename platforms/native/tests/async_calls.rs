//! `flush_async` and `shutdown_async` on a current-thread runtime: they
//! resolve as `flush` and `shutdown` do, and other tasks run while they
//! wait (a future that blocked the only thread would stop them).

#![allow(clippy::disallowed_methods)] // tests measure real time

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::{Reply, Sink, capture_n, config};
use tidings_native::{CaptureError, Client, DropReason, Event, FlushOutcome, ShutdownOutcome};

/// A task that marks `ran` after `after`; the runtime must get to it while
/// the test's own task awaits.
fn mark_after(after: Duration) -> Arc<AtomicBool> {
    let ran = Arc::new(AtomicBool::new(false));
    let mark = ran.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        mark.store(true, Ordering::SeqCst);
    });
    ran
}

fn slow_ok() -> Sink {
    Sink::start(|_, _| Reply::After(Duration::from_millis(300), Box::new(Reply::Status(200))))
}

#[tokio::test(flavor = "current_thread")]
async fn flush_async_completes_after_delivery_without_blocking_the_runtime() {
    let sink = slow_ok();
    let client = Client::new(config(&sink.url())).unwrap();
    let uuids = capture_n(&client, 50);
    let ran = mark_after(Duration::from_millis(20));

    let outcome = client.flush_async(Duration::from_secs(5)).await;

    assert!(outcome.is_completed());
    assert!(ran.load(Ordering::SeqCst), "the runtime was blocked");
    let delivered: std::collections::BTreeSet<_> = sink.delivered_uuids().into_iter().collect();
    assert_eq!(delivered, uuids);
    let stats = client.stats();
    assert_eq!((stats.delivered, stats.pending), (50, 0));
    assert!(stats.adds_up());
}

#[tokio::test(flavor = "current_thread")]
async fn flush_async_times_out_with_what_is_pending_when_the_endpoint_hangs() {
    let sink = Sink::start(|_, _| Reply::Hang);
    let client = Client::builder(config(&sink.url()))
        .drop_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    capture_n(&client, 10);
    let ran = mark_after(Duration::from_millis(20));
    let started = Instant::now();

    let outcome = client.flush_async(Duration::from_millis(300)).await;

    assert_eq!(
        outcome,
        FlushOutcome::TimedOut {
            resolved: 0,
            pending: 10
        }
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(ran.load(Ordering::SeqCst), "the runtime was blocked");
    assert!(client.stats().adds_up());
}

#[tokio::test(flavor = "current_thread")]
async fn shutdown_async_repeats_its_first_outcome_and_dropping_after_it_does_not_wait() {
    let sink = Sink::start(|_, _| Reply::Hang);
    let client = Client::builder(config(&sink.url()))
        .drop_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    capture_n(&client, 10);
    let ran = mark_after(Duration::from_millis(20));

    let first = client.shutdown_async(Duration::from_millis(200)).await;

    assert_eq!(first, ShutdownOutcome::DeadlineReached { dropped: 10 });
    assert!(ran.load(Ordering::SeqCst), "the runtime was blocked");
    let again = Instant::now();
    assert_eq!(client.shutdown_async(Duration::from_secs(10)).await, first);
    assert_eq!(client.shutdown(Duration::from_secs(10)), first);
    assert!(
        again.elapsed() < Duration::from_secs(2),
        "{:?}",
        again.elapsed()
    );
    assert_eq!(
        client.capture(Event::new("late", "u")),
        Err(CaptureError::ShutDown)
    );
    assert!(
        client
            .flush_async(Duration::from_secs(10))
            .await
            .is_completed()
    );
    let stats = client.stats();
    assert_eq!(stats.dropped(DropReason::ShutdownDeadline), 10);
    assert!(stats.adds_up());
    // The outcome is known: the drop joins a worker that has returned (or
    // is about to), instead of waiting out its 10 s drop timeout.
    let dropping = Instant::now();
    drop(client);
    assert!(
        dropping.elapsed() < Duration::from_secs(2),
        "{:?}",
        dropping.elapsed()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_futures_are_send_and_outlive_the_borrow_so_they_can_be_spawned() {
    let sink = Sink::ok();
    let client = Client::new(config(&sink.url())).unwrap();
    capture_n(&client, 5);
    // `tokio::spawn` takes only `Send + 'static` futures.
    let flushing = tokio::spawn(client.flush_async(Duration::from_secs(5)));
    assert!(flushing.await.unwrap().is_completed());
    capture_n(&client, 5);
    let stopping = tokio::spawn(client.shutdown_async(Duration::from_secs(5)));
    assert_eq!(stopping.await.unwrap(), ShutdownOutcome::Drained);
    assert_eq!(sink.delivered_uuids().len(), 10);
}

#[tokio::test(flavor = "current_thread")]
async fn a_flush_future_dropped_early_leaves_the_client_working() {
    let sink = slow_ok();
    let client = Client::new(config(&sink.url())).unwrap();
    capture_n(&client, 5);
    // Started at the call; nobody awaits its answer.
    drop(client.flush_async(Duration::from_secs(5)));
    capture_n(&client, 5);
    assert!(
        client
            .flush_async(Duration::from_secs(5))
            .await
            .is_completed()
    );
    assert_eq!(sink.delivered_uuids().len(), 10);
    assert_eq!(
        client.shutdown_async(Duration::from_secs(5)).await,
        ShutdownOutcome::Drained
    );
}
