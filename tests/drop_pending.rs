//! `Core::drop_pending`: an adapter whose delivery window ends (a Workers
//! drain out of budget) gives up on what is pending without shutting the
//! core down. Everything is counted, flushes complete, late answers are
//! ignored, and the core keeps working.

use std::time::Duration;

use tidings::{Config, Core, DropReason, Event, Instant, Notice, Now, Response, WallTime};

fn at(ms: u64) -> Now {
    Now::new(
        Instant::from_duration(Duration::from_millis(ms)),
        WallTime::from_unix_millis(1_700_000_000_000 + ms),
    )
}

#[test]
fn drops_queued_retrying_and_in_flight_then_keeps_working() {
    let mut c = Config::new("phc_drop", "https://ingest.test");
    c.flush_at = 2;
    c.max_batch_events = 2;
    c.retry.initial_backoff = Duration::from_secs(5);
    let mut core = Core::new(c, 3).unwrap();

    for i in 0..6 {
        core.capture(at(0), Event::new("e", "u").property("i", i))
            .unwrap();
    }
    let flush = core.flush(at(0), Duration::from_secs(60));
    // Three requests of two: one answered 503 (retrying), one in flight,
    // and (with max_in_flight 4) one more in flight.
    let first = core.poll_transmit(at(0)).unwrap();
    let second = core.poll_transmit(at(0)).unwrap();
    core.handle_response(at(1), first.id, Ok(Response::new(503)));
    core.capture(at(2), Event::new("queued", "u")).unwrap();
    let stats = core.stats();
    assert!(
        stats.retrying > 0 && stats.in_flight > 0 && stats.queued > 0,
        "{stats:?}"
    );
    let pending = stats.pending;

    let dropped = core.drop_pending(at(3), DropReason::DrainBudget);
    assert_eq!(dropped, pending);
    let stats = core.stats();
    assert_eq!(stats.pending, 0);
    assert_eq!(stats.dropped(DropReason::DrainBudget), pending);
    assert!(stats.adds_up(), "{stats:?}");

    let mut dropped_uuids = 0;
    let mut flush_done = None;
    while let Some(n) = core.poll_notice() {
        match n {
            Notice::Dropped {
                reason: DropReason::DrainBudget,
                uuids,
            } => dropped_uuids += uuids.len(),
            Notice::FlushDone { id, outcome } if id == flush => flush_done = Some(outcome),
            _ => {}
        }
    }
    assert_eq!(dropped_uuids as u64, pending);
    assert!(
        flush_done.is_some_and(|f| f.is_completed()),
        "{flush_done:?}"
    );

    // The late answer to a dropped request changes nothing.
    core.handle_response(at(4), second.id, Ok(Response::new(200)));
    assert_eq!(core.stats().delivered, 0);
    assert!(core.stats().adds_up());

    // Still running: a new capture is delivered normally, once the backoff
    // the 503 started has passed (the destination was failing).
    core.capture(at(5), Event::new("after", "u")).unwrap();
    core.flush(at(5), Duration::from_secs(60));
    assert!(
        core.poll_transmit(at(5)).is_none(),
        "the 503's backoff still holds"
    );
    let t = core.poll_transmit(at(10_000)).unwrap();
    core.handle_response(at(10_001), t.id, Ok(Response::new(200)));
    let stats = core.stats();
    assert_eq!(stats.delivered, 1);
    assert!(stats.adds_up(), "{stats:?}");
}
