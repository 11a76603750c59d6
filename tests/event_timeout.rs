//! `Config::event_timeout`: every event still pending at its deadline is
//! dropped as `expired` — queued, waiting to retry, paused, or replayed
//! from storage with its first capture time — while a request in flight
//! is never cut short.

use std::time::Duration;

use tidings::{
    CaptureError, Config, Core, DeadlineReason, DropReason, Event, Fate, Instant, Notice, Now,
    Response, TransportError, Uuid, WallTime,
};

const BASE_WALL: u64 = 1_700_000_000_000;

fn at(ms: u64) -> Now {
    Now::new(
        Instant::from_duration(Duration::from_millis(ms)),
        WallTime::from_unix_millis(BASE_WALL + ms),
    )
}

fn core_with(timeout_ms: u64, tweak: impl FnOnce(&mut Config)) -> Core {
    let mut c = Config::new("phc_deadline", "https://ingest.test");
    c.event_timeout = Some(Duration::from_millis(timeout_ms));
    tweak(&mut c);
    Core::new(c, 11).unwrap()
}

/// Every (fate, uuid) the core reported so far.
fn fates(core: &mut Core) -> Vec<(Fate, Uuid)> {
    let mut out = Vec::new();
    while let Some(notice) = core.poll_notice() {
        if let Some((fate, uuids)) = notice.resolved() {
            out.extend(uuids.iter().map(|u| (fate, *u)));
        }
    }
    out
}

const EXPIRED: Fate = Fate::Dropped(DropReason::Expired);

#[test]
fn queued_events_expire_at_their_deadline_while_paused() {
    let mut core = core_with(5_000, |c| c.flush_interval = Duration::from_secs(60));
    core.pause(at(0));
    let first = core.capture(at(0), Event::new("a", "u")).unwrap();
    let second = core.capture(at(1_000), Event::new("b", "u")).unwrap();
    let deadline = core.poll_timeout().expect("a deadline");
    assert_eq!(deadline.reason, DeadlineReason::EventExpiry);
    assert_eq!(deadline.at, at(5_000).monotonic);

    core.handle_timeout(at(4_999));
    assert!(fates(&mut core).is_empty());
    core.handle_timeout(at(5_000));
    assert_eq!(fates(&mut core), vec![(EXPIRED, first)]);
    assert_eq!(core.poll_timeout().unwrap().at, at(6_000).monotonic);
    core.handle_timeout(at(6_000));
    assert_eq!(fates(&mut core), vec![(EXPIRED, second)]);

    let stats = core.stats();
    assert_eq!((stats.pending, stats.dropped(DropReason::Expired)), (0, 2));
    assert!(stats.adds_up(), "{stats:?}");
    assert!(
        core.poll_timeout()
            .is_none_or(|d| d.reason == DeadlineReason::Warning)
    );
}

#[test]
fn a_request_in_flight_is_not_cut_short() {
    let mut core = core_with(1_000, |c| c.flush_at = 1);
    let uuid = core.capture(at(0), Event::new("a", "u")).unwrap();
    let request = core.poll_transmit(at(0)).expect("sent at once");
    // Past the deadline, but in flight: nothing expires...
    core.handle_timeout(at(3_000));
    assert!(fates(&mut core).is_empty());
    assert_eq!(core.stats().in_flight, 1);
    // ... and a late success still delivers it.
    core.handle_response(at(3_500), request.id, Ok(Response::new(200)));
    assert_eq!(fates(&mut core), vec![(Fate::Delivered, uuid)]);
}

#[test]
fn an_unsuccessful_answer_after_the_deadline_expires_the_events() {
    let mut core = core_with(1_000, |c| c.flush_at = 2);
    let a = core.capture(at(0), Event::new("a", "u")).unwrap();
    let b = core.capture(at(0), Event::new("b", "u")).unwrap();
    let request = core.poll_transmit(at(0)).unwrap();
    core.handle_response(at(1_200), request.id, Ok(Response::new(503)));
    assert_eq!(fates(&mut core), vec![(EXPIRED, a), (EXPIRED, b)]);
    // A transport error counts the same.
    // (after the backoff that 503 started)
    let c = core.capture(at(3_000), Event::new("c", "u")).unwrap();
    let _ = core.flush(at(3_000), Duration::from_secs(10));
    let request = core.poll_transmit(at(3_000)).unwrap();
    core.handle_response(
        at(4_100),
        request.id,
        Err(TransportError::Connection("reset".into())),
    );
    assert_eq!(fates(&mut core), vec![(EXPIRED, c)]);
    assert!(core.stats().adds_up());
}

#[test]
fn events_waiting_to_retry_expire_and_the_rest_of_the_batch_retries() {
    let mut core = core_with(10_000, |c| {
        c.flush_interval = Duration::from_secs(60);
        c.retry.initial_backoff = Duration::from_secs(4);
        c.retry.max_backoff = Duration::from_secs(4);
        c.retry.jitter = 0.0;
    });
    let old = core.capture(at(0), Event::new("old", "u")).unwrap();
    let young = core.capture(at(7_000), Event::new("young", "u")).unwrap();
    let _ = core.flush(at(7_000), Duration::from_secs(60));
    let request = core.poll_transmit(at(7_000)).unwrap();
    core.handle_response(at(7_000), request.id, Ok(Response::new(503)));
    // Waiting for its retry at 11 s: the old event's deadline (10 s) comes first.
    let deadline = core.poll_timeout().unwrap();
    assert_eq!(
        (deadline.at, deadline.reason),
        (at(10_000).monotonic, DeadlineReason::EventExpiry)
    );
    core.handle_timeout(at(10_000));
    assert_eq!(fates(&mut core), vec![(EXPIRED, old)]);
    assert_eq!(core.stats().retrying, 1);
    let retry = core.poll_transmit(at(11_000)).expect("the rest retries");
    assert_eq!((retry.body.event_count(), retry.attempt), (1, 2));
    core.handle_response(at(11_000), retry.id, Ok(Response::new(200)));
    assert_eq!(fates(&mut core), vec![(Fate::Delivered, young)]);
}

#[test]
fn replayed_events_count_from_their_first_capture() {
    let mut core = core_with(60_000, |c| c.flush_interval = Duration::from_secs(600));
    core.pause(at(0));
    let now = at(0);
    // First captured 100 s ago: refused at once, counted, no notice.
    let stale =
        Event::new("stale", "u").first_captured(WallTime::from_unix_millis(BASE_WALL - 100_000));
    let refused = core.capture(now, stale).unwrap_err();
    assert!(matches!(refused, CaptureError::Expired { .. }), "{refused}");
    assert_eq!(refused.reason(), DropReason::Expired);
    // A fresh event, then one first captured 50 s ago: the replayed one
    // expires first although it is behind.
    let fresh = core.capture(now, Event::new("fresh", "u")).unwrap();
    let replayed = core
        .capture(
            now,
            Event::new("replayed", "u")
                .first_captured(WallTime::from_unix_millis(BASE_WALL - 50_000)),
        )
        .unwrap();
    assert_eq!(core.poll_timeout().unwrap().at, at(10_000).monotonic);
    core.handle_timeout(at(10_000));
    assert_eq!(fates(&mut core), vec![(EXPIRED, replayed)]);
    assert_eq!(core.stats().queued, 1);
    core.handle_timeout(at(60_000));
    assert_eq!(fates(&mut core), vec![(EXPIRED, fresh)]);
    let stats = core.stats();
    assert_eq!(stats.dropped(DropReason::Expired), 3);
    assert!(stats.adds_up(), "{stats:?}");
}

#[test]
fn a_replayed_event_is_delivered_before_its_deadline() {
    let mut core = core_with(60_000, |c| c.flush_interval = Duration::from_secs(5));
    let first = WallTime::from_unix_millis(BASE_WALL - 50_000);
    let uuid = core
        .capture(at(0), Event::new("replayed", "u").first_captured(first))
        .unwrap();
    // Due within the flush interval, before its deadline (10 s from now).
    let due = core.poll_timeout().unwrap();
    assert!(due.at <= at(5_000).monotonic, "{due:?}");
    let request = core.poll_transmit(at(5_000)).expect("due");
    core.handle_response(at(5_010), request.id, Ok(Response::new(200)));
    assert_eq!(fates(&mut core), vec![(Fate::Delivered, uuid)]);
}

#[test]
fn without_a_timeout_nothing_expires() {
    let mut c = Config::new("phc_deadline", "https://ingest.test");
    c.flush_interval = Duration::from_secs(60);
    let mut core = Core::new(c, 1).unwrap();
    core.pause(at(0));
    let old = Event::new("e", "u").first_captured(WallTime::from_unix_millis(0));
    core.capture(at(0), old).unwrap();
    assert_eq!(core.poll_timeout(), None);
    core.handle_timeout(at(86_400_000));
    assert_eq!(core.stats().queued, 1);
}

#[test]
fn a_zero_or_huge_timeout_is_refused_at_construction() {
    for bad in [Duration::ZERO, Duration::MAX] {
        let mut c = Config::new("phc_deadline", "https://ingest.test");
        c.event_timeout = Some(bad);
        let error = Core::new(c, 1).err().expect("refused");
        assert_eq!(error.field, "event_timeout", "{error}");
    }
}

#[test]
fn notices_name_every_expired_event_once() {
    let mut core = core_with(1_000, |c| {
        c.flush_at = 3;
        c.max_batch_events = 3;
        c.max_in_flight = 1;
    });
    let mut uuids = Vec::new();
    for i in 0..9 {
        uuids.push(
            core.capture(at(0), Event::new("e", "u").property("i", i))
                .unwrap(),
        );
    }
    let request = core.poll_transmit(at(0)).unwrap();
    assert!(
        core.poll_transmit(at(0)).is_none(),
        "one in flight at a time"
    );
    core.handle_timeout(at(2_000));
    core.handle_response(at(2_000), request.id, Ok(Response::new(200)));
    let mut seen = fates(&mut core);
    seen.sort();
    let mut expected: Vec<(Fate, Uuid)> =
        uuids[..3].iter().map(|u| (Fate::Delivered, *u)).collect();
    expected.extend(uuids[3..].iter().map(|u| (EXPIRED, *u)));
    expected.sort();
    assert_eq!(seen, expected);
    assert!(matches!(
        core.poll_notice(),
        None | Some(Notice::Warning { .. })
    ));
}
