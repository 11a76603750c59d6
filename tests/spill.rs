//! `Config::spill`: a host that works only within delivery windows hands
//! what it cannot deliver in time to a durable queue — counted as spilled,
//! never lost — and the queue's consumer feeds it back byte for byte.

use std::time::Duration;

use tidings::{
    CaptureError, Config, Core, DeadlineReason, DropReason, Event, Fate, Instant, Notice, Now,
    Response, SpillLimits, Uuid, WallTime,
};

fn at(ms: u64) -> Now {
    Now::new(
        Instant::from_duration(Duration::from_millis(ms)),
        WallTime::from_unix_millis(1_700_000_000_000 + ms),
    )
}

fn spilling_core() -> Core {
    let mut c = Config::new("phc_spill", "https://ingest.test");
    c.delivery_windows = true;
    c.spill = Some(SpillLimits::cloudflare_queues(Duration::from_millis(200)));
    Core::new(c, 5).unwrap()
}

fn fates(core: &mut Core) -> Vec<(Fate, Uuid)> {
    let mut out = Vec::new();
    while let Some(notice) = core.poll_notice() {
        if let Some((fate, uuids)) = notice.resolved() {
            out.extend(uuids.iter().map(|u| (fate, *u)));
        }
    }
    out
}

#[test]
fn what_cannot_be_delivered_in_the_window_is_spilled_not_dropped() {
    let mut core = spilling_core();
    let uuids: Vec<_> = (0..3)
        .map(|i| {
            core.capture(at(0), Event::new("e", "u").property("i", i))
                .unwrap()
        })
        .collect();
    let window = core.open_window(at(0), Duration::from_millis(1_000));
    let request = core.poll_transmit_in(at(0), window).expect("sent at once");
    // Capped at the spill point, not the window's end.
    assert_eq!(request.timeout, Duration::from_millis(800));
    core.handle_response(at(50), request.id, Ok(Response::new(503)));
    // The retry's backoff (about a second) passes the spill point: the
    // core wakes there.
    let deadline = core.poll_timeout().unwrap();
    assert_eq!(
        (deadline.at, deadline.reason),
        (at(800).monotonic, DeadlineReason::SpillPoint)
    );
    core.handle_timeout(at(800));
    assert!(
        core.poll_transmit_in(at(800), window).is_none(),
        "no sending after the spill point"
    );
    let spill = core.poll_spill(at(800)).expect("everything pending spills");
    assert_eq!(spill.uuids, uuids);
    assert!(core.poll_spill(at(800)).is_none());
    assert_eq!(core.stats().spilling, 3);
    core.spilled(at(810), spill.id, true);
    let seen = fates(&mut core);
    assert_eq!(
        seen,
        uuids
            .iter()
            .map(|u| (Fate::Spilled, *u))
            .collect::<Vec<_>>()
    );
    let stats = core.stats();
    assert_eq!(
        (stats.spilled, stats.pending, stats.dropped_total()),
        (3, 0, 0)
    );
    assert!(stats.adds_up(), "{stats:?}");
    assert!(
        !core.is_window_open(window),
        "nothing left: the window closed"
    );
}

#[test]
fn a_request_failing_after_the_spill_point_spills_its_events() {
    let mut core = spilling_core();
    let uuid = core.capture(at(0), Event::new("e", "u")).unwrap();
    let window = core.open_window(at(700), Duration::from_millis(300));
    let request = core.poll_transmit_in(at(700), window).unwrap();
    assert_eq!(request.timeout, Duration::from_millis(100));
    core.handle_response(at(850), request.id, Err(tidings::TransportError::Timeout));
    let spill = core
        .poll_spill(at(850))
        .expect("the failed request's event spills");
    assert_eq!(spill.uuids, vec![uuid]);
    core.spilled(at(860), spill.id, true);
    assert_eq!(core.stats().spilled, 1);
}

#[test]
fn a_failed_spill_is_counted_and_an_unconfirmed_one_ends_with_the_window() {
    let mut core = spilling_core();
    core.capture(at(0), Event::new("a", "u")).unwrap();
    let window = core.open_window(at(0), Duration::from_millis(100));
    // The budget is below the margin: spilling starts at once.
    assert!(core.poll_transmit_in(at(0), window).is_none());
    let spill = core.poll_spill(at(0)).unwrap();
    core.spilled(at(10), spill.id, false);
    assert_eq!(core.stats().dropped(DropReason::SpillFailed), 1);

    core.capture(at(20), Event::new("b", "u")).unwrap();
    let window = core.open_window(at(20), Duration::from_millis(100));
    let spill = core.poll_spill(at(20)).unwrap();
    // The window ends before the queue answers: dropped as without a queue.
    core.handle_timeout(at(120));
    assert!(!core.is_window_open(window));
    core.spilled(at(130), spill.id, true); // too late: ignored
    let stats = core.stats();
    assert_eq!(
        (stats.spilled, stats.dropped(DropReason::DrainBudget)),
        (0, 1)
    );
    assert!(stats.adds_up(), "{stats:?}");
}

#[test]
fn spills_keep_to_the_queue_limits() {
    let mut c = Config::new("phc_spill", "https://ingest.test");
    c.delivery_windows = true;
    c.max_event_bytes = 8_192;
    c.spill = Some(SpillLimits {
        margin: Duration::from_millis(100),
        max_batch_events: 100,
        max_batch_bytes: 20_000,
        max_event_bytes: 4_000,
    });
    let mut core = Core::new(c, 5).unwrap();
    for i in 0..250 {
        core.capture(at(0), Event::new("e", "u").property("i", i))
            .unwrap();
    }
    let huge = core
        .capture(
            at(0),
            Event::new("huge", "u").property("blob", "x".repeat(5_000)),
        )
        .unwrap();
    let _window = core.open_window(at(0), Duration::from_millis(50));
    let mut sizes = Vec::new();
    while let Some(spill) = core.poll_spill(at(0)) {
        let bytes: usize = spill.events.iter().map(|e| e.len()).sum();
        assert!(
            spill.events.len() <= 100 && bytes <= 20_000,
            "{} {bytes}",
            spill.events.len()
        );
        sizes.push(spill.events.len());
        core.spilled(at(1), spill.id, true);
    }
    assert_eq!(sizes.iter().sum::<usize>(), 250);
    let dropped = fates(&mut core)
        .into_iter()
        .filter(|(f, _)| *f == Fate::Dropped(DropReason::DrainBudget))
        .map(|(_, u)| u)
        .collect::<Vec<_>>();
    assert_eq!(
        dropped,
        vec![huge],
        "one message per event: too large to spill"
    );
}

#[test]
fn the_consumer_sends_spilled_events_byte_for_byte() {
    let mut producer = spilling_core();
    let uuid = producer
        .capture(
            at(0),
            Event::new("tokens_billed", "tenant-7").property("tokens", 5000),
        )
        .unwrap();
    let _window = producer.open_window(at(0), Duration::from_millis(10));
    let spill = producer.poll_spill(at(0)).unwrap();
    let message = spill.events[0].clone();

    let mut consumer = Core::new(Config::new("phc_spill", "https://ingest.test"), 9).unwrap();
    assert_eq!(consumer.capture_spilled(at(0), &message).unwrap(), uuid);
    let _ = consumer.flush(at(0), Duration::from_secs(1));
    let request = consumer.poll_transmit(at(0)).unwrap();
    let body = String::from_utf8(request.body.to_json()).unwrap();
    assert!(
        body.contains(std::str::from_utf8(&message).unwrap()),
        "{body}"
    );
    consumer.handle_response(at(1), request.id, Ok(Response::new(200)));
    assert_eq!(fates(&mut consumer), vec![(Fate::Delivered, uuid)]);
}

#[test]
fn hostile_messages_are_refused_and_counted() {
    let mut consumer = Core::new(Config::new("phc_spill", "https://ingest.test"), 9).unwrap();
    for bad in [
        &b"not json"[..],
        b"[1,2]",
        b"{\"event\":\"e\"}",
        b"{\"uuid\":\"nope\"}",
        b"{\"uuid\":\"0190b3a0-0000-7000-8000-000000000000\"} trailing",
    ] {
        let refused = consumer.capture_spilled(at(0), bad);
        assert!(
            matches!(refused, Err(CaptureError::InvalidEvent(_))),
            "{refused:?}"
        );
    }
    let deep = format!(
        "{{\"uuid\":\"0190b3a0-0000-7000-8000-000000000000\",\"p\":{}1{}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    assert!(consumer.capture_spilled(at(0), deep.as_bytes()).is_err());
    let stats = consumer.stats();
    assert_eq!(stats.dropped(DropReason::InvalidEvent), 6);
    assert!(stats.adds_up());
}

#[test]
fn without_spill_the_last_window_drops_as_before() {
    let mut c = Config::new("phc_spill", "https://ingest.test");
    c.delivery_windows = true;
    let mut core = Core::new(c, 5).unwrap();
    core.capture(at(0), Event::new("e", "u")).unwrap();
    let _window = core.open_window(at(0), Duration::from_millis(100));
    assert!(core.poll_spill(at(0)).is_none());
    core.handle_timeout(at(100));
    assert_eq!(core.stats().dropped(DropReason::DrainBudget), 1);
    let dropped = std::iter::from_fn(|| core.poll_notice()).any(|n| {
        matches!(
            n,
            Notice::Dropped {
                reason: DropReason::DrainBudget,
                ..
            }
        )
    });
    assert!(dropped);
}

#[test]
fn spill_needs_delivery_windows() {
    let mut c = Config::new("phc_spill", "https://ingest.test");
    c.spill = Some(SpillLimits::cloudflare_queues(Duration::from_millis(200)));
    let error = Core::new(c, 1).err().expect("refused");
    assert_eq!(error.field, "spill", "{error}");
}
