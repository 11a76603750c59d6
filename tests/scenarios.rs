//! One deterministic scenario per behaviour, each driven through the
//! simulation (so every invariant is checked after every input as well).

mod sim;

use std::time::Duration;

use serde_json::{Value, json};
use sim::{FaultProfile, Ingest, Plan, RetryAfter, Sim, V1Result, WALL_ORIGIN_MS, ms};
use tidings::{
    CaptureError, Config, Core, DeadlineReason, DropReason, Event, FlushOutcome, Instant, Notice,
    Now, OverflowPolicy, Protocol, RetryPolicy, ShutdownOutcome, Uuid, WallTime,
};

fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

const HOUR: Duration = Duration::from_secs(3600);

fn base(protocol: Protocol) -> Config {
    let host = match protocol {
        Protocol::Json => "https://ingest.test/collect?team=7",
        _ => "https://ingest.test",
    };
    let mut c = Config::new("phc_test", host);
    c.protocol = protocol;
    c.flush_at = 1;
    c.flush_interval = Duration::from_secs(1);
    c.request_timeout = Duration::from_secs(5);
    c.retry = RetryPolicy {
        initial_backoff: millis(100),
        max_backoff: Duration::from_secs(5),
        max_attempts: 5,
        jitter: 0.2,
    };
    c
}

fn v0() -> Config {
    base(Protocol::PostHogV0)
}

fn ev(i: u64) -> Event {
    Event::new("page_view", format!("user-{i}")).property("i", i)
}

fn seeded(config: Config, seed: u64) -> Sim {
    Sim::with(
        config.clone(),
        config,
        seed,
        Ingest::new(FaultProfile::reliable(), seed),
    )
}

fn batch_sizes(sim: &Sim) -> Vec<usize> {
    sim.requests().iter().map(|r| r.events.len()).collect()
}

fn request_times(sim: &Sim) -> Vec<Instant> {
    sim.requests().iter().map(|r| r.at).collect()
}

fn delivered(sim: &Sim) -> Vec<Uuid> {
    let mut out = Vec::new();
    for (_, n) in &sim.notices {
        if let Notice::Delivered { uuids, .. } = n {
            out.extend(uuids);
        }
    }
    out
}

fn dropped(sim: &Sim, reason: DropReason) -> Vec<Uuid> {
    let mut out = Vec::new();
    for (_, n) in &sim.notices {
        if let Notice::Dropped { reason: r, uuids } = n
            && *r == reason
        {
            out.extend(uuids);
        }
    }
    out
}

fn warnings(sim: &Sim, reason: DropReason) -> Vec<(Instant, u64)> {
    sim.notices
        .iter()
        .filter_map(|(t, n)| match n {
            Notice::Warning {
                reason: r, count, ..
            } if *r == reason => Some((*t, *count)),
            _ => None,
        })
        .collect()
}

fn wall(offset_ms: i64) -> String {
    WallTime::from_unix_millis((WALL_ORIGIN_MS as i64 + offset_ms) as u64).to_rfc3339()
}

fn since(later: Instant, earlier: Instant) -> Duration {
    later.saturating_duration_since(earlier)
}

// ---- batching

#[test]
fn a_batch_goes_out_when_flush_at_events_are_queued() {
    let mut c = v0();
    c.flush_at = 3;
    c.flush_interval = HOUR;
    let mut sim = Sim::new(c);
    let a = sim.capture(ev(1)).unwrap();
    let b = sim.capture(ev(2)).unwrap();
    assert!(sim.requests().is_empty(), "two events are below flush_at");
    let c3 = sim.capture(ev(3)).unwrap();
    assert_eq!(batch_sizes(&sim), [3]);
    assert_eq!(sim.requests()[0].uuids(), [a, b, c3]);
    sim.finish();
    assert_eq!(sim.core.stats().delivered, 3);
}

#[test]
fn batches_hold_at_most_max_batch_events() {
    let mut c = v0();
    c.flush_at = 4;
    c.max_batch_events = 4;
    c.max_in_flight = 1;
    c.flush_interval = HOUR;
    let mut sim = Sim::new(c);
    sim.ingest.push(Plan::Hold);
    for i in 0..13 {
        sim.capture(ev(i)).unwrap();
    }
    assert_eq!(batch_sizes(&sim), [4], "one slot, held");
    assert_eq!(sim.core.stats().queued, 9);
    let held = sim.held()[0];
    sim.answer(held, Plan::Accept);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(
        batch_sizes(&sim),
        [4, 4, 4],
        "the last event waits for flush_interval"
    );
    sim.finish();
    assert_eq!(batch_sizes(&sim), [4, 4, 4, 1]);
    assert_eq!(sim.requests()[3].at, Instant::ZERO.saturating_add(HOUR));
}

/// An event of a fixed encoded size: given uuid and timestamp, multi-byte text.
fn sized_event(i: u64, text: &str) -> Event {
    Event::new("voilà", "user-é")
        .uuid(Uuid::from_u128(
            0x0190_0000_0000_7000_8000_0000_0000_0000 + i as u128,
        ))
        .timestamp(WallTime::from_unix_millis(WALL_ORIGIN_MS))
        .property("text", text)
}

/// (envelope bytes, event bytes) for `sized_event` with `text`, measured.
fn measure(protocol: Protocol, text: &str) -> (usize, usize) {
    let mut c = base(protocol);
    c.flush_at = 2;
    let mut sim = Sim::new(c);
    sim.capture(sized_event(1, text)).unwrap();
    sim.capture(sized_event(2, text)).unwrap();
    sim.finish();
    let body = &sim.requests()[0];
    let event = body.events[0].raw.len();
    assert_eq!(body.events[1].raw.len(), event);
    (body.json_len() - 2 * event - 1, event)
}

#[test]
fn max_batch_bytes_counts_exact_utf8_bytes() {
    let text = "日本語🦀é".repeat(7);
    let (envelope, event) = measure(Protocol::Json, &text);
    assert!(text.len() > text.chars().count(), "multi-byte text");
    for (max_bytes, per_batch) in [(envelope + 3 * event + 2, 3), (envelope + 3 * event + 1, 2)] {
        let mut c = base(Protocol::Json);
        c.flush_at = 100;
        c.max_batch_events = 100;
        c.flush_interval = HOUR;
        c.max_event_bytes = event;
        c.max_batch_bytes = max_bytes;
        let mut sim = Sim::new(c);
        for i in 0..7 {
            sim.capture(sized_event(i, &text)).unwrap();
        }
        let full: Vec<usize> = sim.requests().iter().map(|r| r.json_len()).collect();
        let expected_len = envelope + per_batch * event + (per_batch - 1);
        assert_eq!(
            batch_sizes(&sim),
            vec![per_batch; 6 / per_batch],
            "max_batch_bytes {max_bytes}"
        );
        assert!(full.iter().all(|len| *len == expected_len), "{full:?}");
        assert!(
            expected_len + 1 + event > max_bytes,
            "one more event would not fit"
        );
        let json = &sim.requests()[0].json;
        assert!(
            json.len() > json.chars().count() + 100,
            "sizes are in bytes"
        );
        sim.flush(Duration::from_secs(1));
        sim.finish();
        assert_eq!(sim.core.stats().delivered, 7);
    }
}

#[test]
fn flush_interval_sends_a_partial_batch_once_the_oldest_event_is_old_enough() {
    let mut c = v0();
    c.flush_at = 10;
    c.flush_interval = millis(500);
    let mut sim = Sim::new(c);
    sim.capture(ev(1)).unwrap();
    sim.run_until(ms(300));
    sim.capture(ev(2)).unwrap();
    let deadline = sim.core.poll_timeout().unwrap();
    assert_eq!(
        (deadline.at, deadline.reason),
        (ms(500), DeadlineReason::SendQueue)
    );
    sim.run_until(ms(499));
    assert!(sim.requests().is_empty());
    sim.run_until(ms(500));
    assert_eq!(batch_sizes(&sim), [2]);
    assert_eq!(request_times(&sim), [ms(500)]);
    sim.finish();
}

#[test]
fn max_event_bytes_refuses_larger_events_at_capture() {
    let (_, empty) = measure(Protocol::PostHogV0, "");
    let max = empty + 301;
    let mut c = v0();
    c.max_event_bytes = max;
    let mut sim = Sim::new(c);
    // 150 two-byte characters and one ASCII byte: exactly max_event_bytes.
    let fits = format!("{}x", "é".repeat(150));
    let ok = sim.capture(sized_event(1, &fits)).unwrap();
    let too_big = format!("{fits}y");
    let err = sim.capture(sized_event(2, &too_big)).unwrap_err();
    assert_eq!(err, CaptureError::TooLarge { size: max + 1, max });
    assert!(err.to_string().contains("max_event_bytes"), "{err}");
    sim.finish();
    assert_eq!(sim.requests()[0].events[0].raw.len(), max);
    assert_eq!(delivered(&sim), [ok]);
    assert_eq!(sim.core.stats().dropped(DropReason::TooLarge), 1);
    assert_eq!(sim.requests().len(), 1, "the refused event is never sent");
}

// ---- the bounded queue

fn full_queue_config(overflow: OverflowPolicy) -> Config {
    let mut c = v0();
    c.flush_at = 100;
    c.flush_interval = HOUR;
    c.max_queue_events = 5;
    c.overflow = overflow;
    c.warning_interval = Duration::from_secs(1);
    c
}

#[test]
fn drop_newest_refuses_and_counts_with_rate_limited_warnings() {
    let mut sim = Sim::new(full_queue_config(OverflowPolicy::DropNewest));
    let kept: Vec<Uuid> = (0..5).map(|i| sim.capture(ev(i)).unwrap()).collect();
    for k in 1..=100 {
        sim.run_until(ms(100 * k));
        let err = sim.capture(ev(100 + k)).unwrap_err();
        assert!(
            matches!(err, CaptureError::QueueFull { max_events: 5, .. }),
            "{err:?}"
        );
    }
    sim.run_for(Duration::from_secs(5));
    let w = warnings(&sim, DropReason::QueueFull);
    // One drop every 100 ms for 10 s, one warning per second at most.
    assert_eq!(w[0], (ms(100), 1), "the first drop is reported at once");
    assert!((8..=12).contains(&w.len()), "{} warnings: {w:?}", w.len());
    assert!(
        w.windows(2)
            .all(|p| since(p[1].0, p[0].0) >= Duration::from_secs(1))
    );
    assert_eq!(w.iter().map(|(_, n)| n).sum::<u64>(), 100);
    assert_eq!(sim.core.stats().dropped(DropReason::QueueFull), 100);
    sim.finish();
    assert_eq!(delivered(&sim), kept);
}

#[test]
fn drop_oldest_evicts_queued_events_and_counts_them() {
    let mut sim = Sim::new(full_queue_config(OverflowPolicy::DropOldest));
    let all: Vec<Uuid> = (0..8).map(|i| sim.capture(ev(i)).unwrap()).collect();
    assert_eq!(dropped(&sim, DropReason::QueueFull), all[..3]);
    assert_eq!(sim.core.stats().pending, 5);
    assert_eq!(warnings(&sim, DropReason::QueueFull), [(ms(0), 1)]);
    sim.finish();
    assert_eq!(delivered(&sim), all[3..]);
    assert_eq!(sim.core.stats().dropped(DropReason::QueueFull), 3);
}

#[test]
fn drop_oldest_does_not_evict_when_eviction_cannot_make_room() {
    let mut c = v0();
    c.flush_at = 2;
    c.max_batch_events = 2;
    c.max_in_flight = 1;
    c.flush_interval = HOUR;
    c.max_event_bytes = 600;
    c.max_queue_bytes = 1000;
    c.overflow = OverflowPolicy::DropOldest;
    let mut sim = Sim::new(c);
    sim.ingest.push(Plan::Hold);
    let big = |i| ev(i).property("pad", "x".repeat(200));
    sim.capture(big(1)).unwrap();
    sim.capture(big(2)).unwrap(); // in flight (held)
    let queued = sim.capture(ev(3)).unwrap();
    let stats = sim.core.stats();
    assert_eq!((stats.in_flight, stats.queued), (2, 1));
    assert!(
        stats.pending_bytes <= 1000 && stats.pending_bytes > 900,
        "{stats:?}"
    );
    // Over 400 more bytes cannot fit even with the queue empty.
    let refused = sim.capture(ev(4).property("pad", "y".repeat(400)));
    assert!(
        matches!(refused, Err(CaptureError::QueueFull { .. })),
        "{refused:?}"
    );
    assert!(
        dropped(&sim, DropReason::QueueFull).is_empty(),
        "{queued} was evicted for nothing: the new event was refused anyway"
    );
}

// ---- concurrency

#[test]
fn several_requests_fly_at_once_up_to_max_in_flight() {
    let mut c = v0();
    c.max_in_flight = 3;
    let mut sim = Sim::new(c);
    for _ in 0..5 {
        sim.ingest.push(Plan::Hold);
    }
    for i in 0..5 {
        sim.capture(ev(i)).unwrap();
    }
    assert_eq!(sim.held().len(), 3);
    assert_eq!(sim.core.requests_in_flight(), 3);
    assert_eq!(
        (sim.core.stats().in_flight, sim.core.stats().queued),
        (3, 2)
    );
    let first = sim.held()[0];
    sim.answer(first, Plan::Accept);
    assert_eq!(sim.held().len(), 3, "a freed slot is used at once");
    assert_eq!(request_times(&sim), [ms(0); 4]);
    assert_eq!(batch_sizes(&sim), [1, 1, 1, 2], "taking all that is queued");
    for id in sim.held() {
        sim.answer(id, Plan::Accept);
    }
    sim.finish();
    assert_eq!(sim.core.stats().delivered, 5);
}

// ---- retries

#[test]
fn backoff_grows_exponentially_with_bounded_jitter_until_retries_are_exhausted() {
    let mut c = v0();
    c.retry = RetryPolicy {
        initial_backoff: millis(100),
        max_backoff: millis(700),
        max_attempts: 5,
        jitter: 0.25,
    };
    let mut first_gaps = Vec::new();
    for seed in 0..20 {
        let mut sim = seeded(c.clone(), seed);
        for _ in 0..5 {
            sim.ingest.push(Plan::Status(503, None));
        }
        let uuid = sim.capture(ev(1)).unwrap();
        sim.finish();
        let times = request_times(&sim);
        assert_eq!(times.len(), 5);
        for (k, pair) in times.windows(2).enumerate() {
            let gap = since(pair[1], pair[0]) - millis(10); // after the answer
            let nominal = millis(100 * (1 << k)).min(millis(700));
            assert!(
                gap >= nominal.mul_f64(0.75) && gap <= nominal.mul_f64(1.25),
                "seed {seed}, retry {k}: {gap:?}"
            );
            if k == 0 {
                first_gaps.push(gap);
            }
        }
        assert_eq!(dropped(&sim, DropReason::RetriesExhausted), [uuid]);
        let stats = sim.core.stats();
        assert_eq!((stats.requests, stats.retries), (5, 4));
    }
    first_gaps.sort();
    first_gaps.dedup();
    assert!(first_gaps.len() > 10, "jitter varies: {first_gaps:?}");
    assert!(first_gaps[0] < millis(90) && first_gaps[first_gaps.len() - 1] > millis(110));
}

#[test]
fn transient_answers_and_transport_errors_are_retried() {
    let transient = [
        Plan::Status(408, None),
        Plan::Status(500, None),
        Plan::Status(502, None),
        Plan::Status(503, None),
        Plan::Status(504, None),
        Plan::ConnectionError,
        Plan::TimeoutBeforeStore,
    ];
    for plan in transient {
        let mut c = v0();
        c.retry.max_attempts = 2;
        let mut sim = Sim::new(c);
        sim.ingest.push(plan.clone());
        let uuid = sim.capture(ev(1)).unwrap();
        sim.finish();
        assert_eq!(sim.requests().len(), 2, "{plan:?}");
        assert_eq!(delivered(&sim), [uuid], "{plan:?}");
    }
}

/// The gap between the first answer (at 10 ms) and the retry.
fn retry_gap(mut sim: Sim, plan: Plan) -> Duration {
    sim.ingest.push(plan);
    sim.capture(ev(1)).unwrap();
    sim.finish();
    let times = request_times(&sim);
    since(times[1], times[0]) - millis(10)
}

#[test]
fn retry_after_in_seconds_is_a_minimum_capped_by_max_backoff() {
    let cases = [
        ("3", Some(Duration::from_secs(3))),
        ("3600", Some(Duration::from_secs(5))),
        ("99999999999999999999999", Some(Duration::from_secs(5))),
        ("0", None),
        ("soon", None),
    ];
    for (value, wanted) in cases {
        let plan = Plan::Status(503, Some(RetryAfter::Raw(value.into())));
        let gap = retry_gap(Sim::new(v0()), plan);
        match wanted {
            Some(wait) => assert_eq!(gap, wait, "Retry-After: {value}"),
            None => assert!(
                gap >= millis(80) && gap <= millis(120),
                "Retry-After: {value}: {gap:?}"
            ),
        }
    }
}

#[test]
fn retry_after_as_an_http_date_is_a_minimum_capped_by_max_backoff() {
    // The server answers at 10 ms with a date 4 s later, truncated to the
    // second: the client, whose clock agrees, waits 3.99 s.
    let gap = retry_gap(Sim::new(v0()), Plan::Status(503, Some(RetryAfter::Date(4))));
    assert_eq!(gap, millis(3990));
    let past = httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + Duration::from_millis(WALL_ORIGIN_MS - 60_000),
    );
    let gap = retry_gap(
        Sim::new(v0()),
        Plan::Status(503, Some(RetryAfter::Raw(past))),
    );
    assert!(
        gap >= millis(80) && gap <= millis(120),
        "a past date asks nothing: {gap:?}"
    );
    // A client clock an hour behind reads the date as an hour away: capped.
    let mut behind = Sim::new(v0());
    behind.jump_wall(-3_600_000);
    let gap = retry_gap(behind, Plan::Status(503, Some(RetryAfter::Date(4))));
    assert_eq!(gap, Duration::from_secs(5));
}

#[test]
fn a_429_pauses_the_whole_destination() {
    let mut c = v0();
    c.max_in_flight = 2;
    c.retry.max_backoff = Duration::from_secs(10);
    let mut sim = Sim::new(c);
    sim.ingest
        .push(Plan::Status(429, Some(RetryAfter::Seconds(2))));
    let a = sim.capture(ev(1)).unwrap();
    sim.run_until(ms(5));
    let b = sim.capture(ev(2)).unwrap(); // sent before the 429 arrives
    sim.run_until(ms(50));
    let c3 = sim.capture(ev(3)).unwrap(); // a new batch during the pause
    assert_eq!(sim.core.poll_timeout().unwrap().at, ms(2010));
    sim.finish();
    assert_eq!(request_times(&sim), [ms(0), ms(5), ms(2010), ms(2010)]);
    assert_eq!(sim.requests()[2].uuids(), [a]);
    assert_eq!(sim.requests()[3].uuids(), [c3]);
    assert_eq!(delivered(&sim), [b, a, c3]);
}

#[test]
fn a_429_on_the_last_attempt_still_pauses_the_destination() {
    let mut c = v0();
    c.retry.max_attempts = 1;
    let mut sim = Sim::new(c);
    sim.ingest
        .push(Plan::Status(429, Some(RetryAfter::Seconds(2))));
    sim.capture(ev(1)).unwrap();
    sim.run_until(ms(50));
    // The server asked for 2 s of quiet at 10 ms; this must wait until 2.01 s.
    sim.capture(ev(2)).unwrap();
    sim.finish();
    assert_eq!(request_times(&sim), [ms(0), ms(2010)]);
}

#[test]
fn a_413_splits_the_batch_and_drops_a_single_oversized_event() {
    let mut c = v0();
    c.flush_at = 4;
    c.max_event_bytes = 4000;
    let mut sim = Sim::new(c);
    sim.ingest.max_body = Some(1200);
    let one = sim.capture(ev(1)).unwrap();
    let two = sim.capture(ev(2)).unwrap();
    let huge = sim
        .capture(ev(3).property("blob", "🦀".repeat(400)))
        .unwrap();
    let four = sim.capture(ev(4)).unwrap();
    sim.finish();
    assert_eq!(batch_sizes(&sim), [4, 2, 2, 1, 1]);
    let statuses: Vec<bool> = sim
        .requests()
        .iter()
        .map(|r| r.plan == Plan::Status(413, None))
        .collect();
    assert_eq!(statuses, [true, false, true, true, false]);
    assert_eq!(dropped(&sim, DropReason::TooLarge), [huge]);
    assert_eq!(delivered(&sim), [one, two, four]);
    assert_eq!(
        sim.core.stats().retries,
        0,
        "halves are new batches, sent at once"
    );
}

#[test]
fn final_client_errors_are_never_retried() {
    for status in [400, 401, 402, 403, 404, 415, 422] {
        let mut sim = Sim::new(v0());
        sim.ingest.push(Plan::Status(status, None));
        let uuid = sim.capture(ev(1)).unwrap();
        sim.run_for(HOUR);
        sim.finish();
        assert_eq!(sim.requests().len(), 1, "{status}");
        assert_eq!(dropped(&sim, DropReason::Rejected(status)), [uuid]);
        assert_eq!(
            DropReason::Rejected(status).to_string(),
            format!("http_{status}")
        );
        assert_eq!(sim.core.stats().retries, 0);
    }
}

#[test]
fn an_adapter_that_never_reports_is_given_up_on_and_retried() {
    let mut c = v0();
    c.request_timeout = Duration::from_secs(1);
    let mut sim = Sim::new(c);
    sim.ingest.push(Plan::Hang { stored: false });
    let uuid = sim.capture(ev(1)).unwrap();
    sim.finish();
    let times = request_times(&sim);
    assert_eq!(times.len(), 2);
    assert!(
        since(times[1], times[0]) > Duration::from_secs(1),
        "only after the timeout"
    );
    assert_eq!(delivered(&sim), [uuid]);
}

#[test]
fn a_duplicate_reaches_the_ingest_only_after_a_lost_answer() {
    for lost in [Plan::TimeoutAfterStore, Plan::Hang { stored: true }] {
        let mut sim = Sim::new(v0());
        sim.ingest.push(lost.clone());
        let uuid = sim.capture(ev(1)).unwrap();
        sim.finish();
        assert_eq!(sim.ingest.stored_count(&uuid), 2, "{lost:?}");
        assert_eq!(sim.ingest.duplicates, 1);
        assert_eq!(delivered(&sim), [uuid], "reported delivered once");
    }
    // An answer slower than the request timeout is lost the same way.
    let mut c = v0();
    c.request_timeout = millis(500);
    let mut sim = Sim::new(c);
    sim.ingest.push_after(Plan::Accept, Duration::from_secs(2));
    let uuid = sim.capture(ev(1)).unwrap();
    sim.finish();
    assert!(sim.requests()[0].answer_lost);
    assert_eq!(sim.ingest.stored_count(&uuid), 2);
}

// ---- flush and shutdown

#[test]
fn flush_completes_once_everything_captured_before_it_is_resolved() {
    let mut c = v0();
    c.flush_at = 100;
    c.flush_interval = HOUR;
    let mut sim = Sim::new(c);
    for i in 0..3 {
        sim.capture(ev(i)).unwrap();
    }
    let id = sim.flush(Duration::from_secs(5));
    assert_eq!(batch_sizes(&sim), [3], "a flush sends at once");
    sim.ingest.push(Plan::Hold);
    sim.run_until(ms(1));
    sim.capture(ev(9)).unwrap(); // after the flush: does not hold it up
    sim.run_until(ms(10));
    let done = sim.notices_of(|n| matches!(n, Notice::FlushDone { .. }));
    assert_eq!(
        done,
        [(
            ms(10),
            Notice::FlushDone {
                id,
                outcome: FlushOutcome::Completed { resolved: 3 }
            }
        )]
    );
    let held = sim.held()[0];
    sim.answer(held, Plan::Accept);
    sim.finish();
}

#[test]
fn flush_times_out_and_reports_which_flush_and_what_is_pending() {
    let mut c = v0();
    c.flush_at = 100;
    c.flush_interval = HOUR;
    c.request_timeout = Duration::from_secs(30);
    let mut sim = Sim::new(c);
    sim.capture(ev(1)).unwrap();
    let first = sim.flush(Duration::from_secs(5));
    sim.run_until(ms(100));
    sim.ingest.push(Plan::Hold);
    sim.capture(ev(2)).unwrap();
    sim.capture(ev(3)).unwrap();
    let second = sim.flush(Duration::from_secs(1));
    assert_ne!(first, second);
    sim.run_until(ms(1100));
    let done = sim.notices_of(|n| matches!(n, Notice::FlushDone { .. }));
    assert_eq!(
        done,
        [
            (
                ms(10),
                Notice::FlushDone {
                    id: first,
                    outcome: FlushOutcome::Completed { resolved: 1 }
                }
            ),
            (
                ms(1100),
                Notice::FlushDone {
                    id: second,
                    outcome: FlushOutcome::TimedOut {
                        resolved: 0,
                        pending: 2
                    }
                }
            ),
        ]
    );
    let held = sim.held()[0];
    sim.answer(held, Plan::Accept);
    sim.finish();
    assert_eq!(sim.core.stats().delivered, 3);
}

#[test]
fn shutdown_drains_then_refuses_captures_and_is_idempotent() {
    let mut c = v0();
    c.flush_at = 100;
    c.flush_interval = HOUR;
    let mut sim = Sim::new(c);
    for i in 0..3 {
        sim.capture(ev(i)).unwrap();
    }
    sim.shutdown(Duration::from_secs(5));
    assert_eq!(
        batch_sizes(&sim),
        [3],
        "shutdown sends what is queued at once"
    );
    assert_eq!(sim.capture(ev(9)), Err(CaptureError::ShutDown));
    sim.run_until(ms(10));
    assert!(sim.core.is_shut_down());
    assert_eq!(sim.core.shutdown_outcome(), Some(ShutdownOutcome::Drained));
    sim.shutdown(Duration::from_secs(5));
    sim.shutdown(Duration::ZERO);
    sim.finish();
    let done = sim.notices_of(|n| matches!(n, Notice::ShutdownDone { .. }));
    assert_eq!(
        done,
        [(
            ms(10),
            Notice::ShutdownDone {
                outcome: ShutdownOutcome::Drained
            }
        )]
    );
    let stats = sim.core.stats();
    assert_eq!(
        (stats.delivered, stats.dropped(DropReason::ShutDown)),
        (3, 1)
    );
}

#[test]
fn shutdown_deadline_caps_request_timeouts_and_drops_leftovers() {
    let mut c = v0();
    c.request_timeout = Duration::from_secs(10);
    c.retry = RetryPolicy {
        initial_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(5),
        max_attempts: 5,
        jitter: 0.0,
    };
    let mut sim = Sim::new(c);
    sim.ingest.push(Plan::Hold);
    sim.ingest.push(Plan::Status(503, None));
    sim.ingest.push(Plan::Hold);
    let a = sim.capture(ev(1)).unwrap(); // held
    sim.run_until(ms(400));
    let b = sim.capture(ev(2)).unwrap(); // 503 at 410 ms, retried at 1410 ms
    sim.run_until(ms(500));
    sim.shutdown(Duration::from_secs(2)); // deadline 2.5 s
    sim.run_until(ms(600));
    assert_eq!(sim.capture(ev(3)), Err(CaptureError::ShutDown));
    sim.run_until(ms(1000));
    sim.shutdown(Duration::from_secs(60)); // cannot push the deadline back
    sim.run_until(ms(2499));
    assert!(!sim.core.is_shut_down());
    let timeouts: Vec<(Instant, Duration)> =
        sim.requests().iter().map(|r| (r.at, r.timeout)).collect();
    assert_eq!(
        timeouts,
        [
            (ms(0), Duration::from_secs(10)),
            (ms(400), Duration::from_secs(10)),
            (ms(1410), millis(1090))
        ]
    );
    sim.run_until(ms(2500));
    assert_eq!(dropped(&sim, DropReason::ShutdownDeadline), [a, b]);
    assert_eq!(
        sim.core.shutdown_outcome(),
        Some(ShutdownOutcome::DeadlineReached { dropped: 2 })
    );
    let before = sim.core.stats();
    for id in sim.held() {
        sim.answer(id, Plan::Accept); // too late: ignored
    }
    assert_eq!(sim.core.stats(), before);
    sim.finish();
    assert_eq!(sim.core.pending(), 0);
}

#[test]
fn a_second_shutdown_can_only_bring_the_deadline_closer() {
    let mut sim = Sim::new(v0());
    sim.ingest.push(Plan::Hold);
    sim.capture(ev(1)).unwrap();
    sim.shutdown(Duration::from_secs(10));
    sim.run_until(ms(500));
    sim.shutdown(Duration::from_secs(1));
    sim.run_until(ms(1500));
    assert_eq!(
        sim.core.shutdown_outcome(),
        Some(ShutdownOutcome::DeadlineReached { dropped: 1 })
    );
    let done = sim.notices_of(|n| matches!(n, Notice::ShutdownDone { .. }));
    assert_eq!(done[0].0, ms(1500));
    let held = sim.held()[0];
    sim.answer(held, Plan::Accept);
    sim.finish();
}

#[test]
fn an_immediate_shutdown_with_nothing_pending_is_drained() {
    let mut sim = Sim::new(v0());
    sim.capture(ev(1)).unwrap();
    sim.run_until(ms(100)); // delivered at 10 ms
    sim.shutdown(Duration::ZERO);
    assert_eq!(sim.core.shutdown_outcome(), Some(ShutdownOutcome::Drained));
}

#[test]
fn a_flush_resolved_by_the_shutdown_deadline_is_completed() {
    let mut sim = Sim::new(v0());
    sim.ingest.push(Plan::Hold);
    sim.capture(ev(1)).unwrap();
    let id = sim.flush(Duration::from_secs(1));
    sim.shutdown(Duration::from_secs(1));
    sim.run_until(ms(1000));
    let done = sim.notices_of(|n| matches!(n, Notice::FlushDone { .. }));
    assert_eq!(
        done,
        [(
            ms(1000),
            Notice::FlushDone {
                id,
                outcome: FlushOutcome::Completed { resolved: 1 }
            }
        )]
    );
}

// ---- the before-send hook

#[test]
fn before_send_changes_and_drops_events() {
    let c = v0().with_before_send(|mut event| {
        if event.name() == "secret" {
            return None;
        }
        if event.name() == "old_name" {
            event.set_name("new_name");
        }
        event.set_property("env", "test");
        Some(event)
    });
    let mut sim = Sim::new(c);
    assert_eq!(
        sim.capture(Event::new("secret", "u")),
        Err(CaptureError::DroppedByBeforeSend)
    );
    sim.capture(Event::new("old_name", "u").property("k", 1))
        .unwrap();
    sim.finish();
    let event = sim.requests()[0].events[0].value();
    assert_eq!(event["event"], "new_name");
    assert_eq!(event["properties"]["env"], "test");
    assert_eq!(event["properties"]["k"], 1);
    assert_eq!(sim.core.stats().dropped(DropReason::BeforeSend), 1);
    assert_eq!(sim.requests().len(), 1);
}

// ---- wire shapes

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn posthog_v0_wire_shape() {
    let mut c = v0();
    c.retry.jitter = 0.0;
    let mut sim = Sim::new(c);
    sim.ingest.push(Plan::Status(503, None));
    let uuid = sim.capture(ev(1).property("name", "Zoë")).unwrap();
    sim.run_until(ms(50));
    sim.jump_wall(3_600_000);
    sim.finish();
    let (first, retry) = (&sim.requests()[0], &sim.requests()[1]);
    assert_eq!(first.url, "https://ingest.test/batch/");
    assert_eq!(first.header("Content-Type"), Some("application/json"));
    assert_eq!(
        first.header("User-Agent"),
        Some(&*format!("tidings/{}", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(first.header("Authorization"), None);
    let top = serde_json::from_str::<Value>(&first.json).unwrap();
    assert_eq!(
        keys(&top),
        ["api_key", "batch", "historical_migration", "sent_at"]
    );
    assert_eq!(top["api_key"], "phc_test");
    assert_eq!(top["historical_migration"], false);
    assert_eq!(top["sent_at"], wall(0));
    let event = first.events[0].value();
    assert_eq!(
        keys(&event),
        ["distinct_id", "event", "properties", "timestamp", "uuid"]
    );
    assert_eq!(event["uuid"], uuid.to_string());
    assert_eq!(event["timestamp"], wall(0));
    assert_eq!(event["properties"]["$lib"], "tidings");
    assert_eq!(event["properties"]["name"], "Zoë");
    // The retry is built again: sent_at is fresh, the event is not.
    assert_eq!(
        retry.field("sent_at").unwrap(),
        &json!(wall(3_600_000 + 110))
    );
    assert_eq!(retry.events[0].raw, first.events[0].raw);
}

#[test]
fn posthog_v0_gzip_wire_shape() {
    let mut c = v0();
    c.gzip = true;
    c.flush_at = 20;
    let mut sim = Sim::new(c);
    for i in 0..20 {
        sim.capture(ev(i)).unwrap();
    }
    sim.finish();
    let r = &sim.requests()[0];
    assert_eq!(r.url, "https://ingest.test/batch/?compression=gzip");
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
    assert!(
        r.wire_len * 3 < r.json_len(),
        "{} compressed, {} plain",
        r.wire_len,
        r.json_len()
    );
    assert_eq!(r.events.len(), 20);
}

#[test]
fn posthog_v1_wire_shape_and_retry_headers() {
    for historical in [false, true] {
        let mut c = base(Protocol::PostHogV1);
        c.historical_migration = historical;
        c.retry.jitter = 0.0;
        let mut sim = Sim::new(c);
        sim.ingest.push(Plan::Status(503, None));
        sim.ingest.push(Plan::ConnectionError);
        let uuid = sim.capture(ev(1).session_id("s-1")).unwrap();
        sim.run_until(ms(50));
        sim.jump_wall(60_000);
        sim.finish();
        let r = sim.requests();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].url, "https://ingest.test/i/v1/analytics/events");
        for (attempt, req) in r.iter().enumerate() {
            assert_eq!(req.header("Authorization"), Some("Bearer phc_test"));
            assert_eq!(
                req.header("PostHog-Attempt"),
                Some(&*(attempt + 1).to_string())
            );
            assert_eq!(
                req.header("PostHog-Request-Id"),
                r[0].header("PostHog-Request-Id")
            );
            assert_eq!(
                req.field("created_at"),
                Some(&json!(wall(0))),
                "created_at is when the batch was built"
            );
            let top = serde_json::from_str::<Value>(&req.json).unwrap();
            let want: &[&str] = if historical {
                &["batch", "created_at", "historical_migration"]
            } else {
                &["batch", "created_at"]
            };
            assert_eq!(keys(&top), want);
            assert_eq!(req.events[0].raw, r[0].events[0].raw);
        }
        let stamps: Vec<&str> = r
            .iter()
            .map(|q| q.header("PostHog-Request-Timestamp").unwrap())
            .collect();
        assert_eq!(
            stamps,
            [wall(0), wall(60_000 + 110), wall(60_000 + 320)],
            "fresh on every attempt"
        );
        let event = r[0].events[0].value();
        assert_eq!(
            keys(&event),
            [
                "distinct_id",
                "event",
                "options",
                "properties",
                "session_id",
                "timestamp",
                "uuid"
            ]
        );
        assert_eq!(event["uuid"], uuid.to_string());
        assert_eq!(event["options"], json!({}));
        assert_eq!(event["timestamp"], wall(0));
    }
}

#[test]
fn posthog_v1_partial_results_resend_only_the_events_marked_retry() {
    let mut c = base(Protocol::PostHogV1);
    c.flush_at = 6;
    let mut sim = Sim::new(c);
    let results = vec![
        V1Result::Ok,
        V1Result::Retry,
        V1Result::Drop,
        V1Result::Limited,
        V1Result::Warning,
        V1Result::Missing,
    ];
    sim.ingest
        .push(Plan::V1(results, Some(RetryAfter::Seconds(2))));
    let u: Vec<Uuid> = (0..6).map(|i| sim.capture(ev(i)).unwrap()).collect();
    sim.finish();
    let r = sim.requests();
    assert_eq!(batch_sizes(&sim), [6, 1]);
    assert_eq!(r[1].uuids(), [u[1]]);
    assert_eq!(r[1].header("PostHog-Attempt"), Some("2"));
    assert_eq!(
        r[1].header("PostHog-Request-Id"),
        r[0].header("PostHog-Request-Id")
    );
    assert_eq!(r[1].field("created_at"), r[0].field("created_at"));
    assert_eq!(
        since(r[1].at, r[0].at),
        millis(2010),
        "Retry-After on the 200 is honoured"
    );
    assert_eq!(delivered(&sim), [u[0], u[4], u[5], u[1]]);
    assert_eq!(dropped(&sim, DropReason::ServerDropped), [u[2]]);
    assert_eq!(dropped(&sim, DropReason::ServerLimited), [u[3]]);
}

#[test]
fn json_wire_shape() {
    let mut c = base(Protocol::Json);
    c.api_key = "".into();
    c.headers.push(("X-Write-Key".into(), "wk_123".into()));
    let mut sim = Sim::new(c);
    sim.capture(ev(1)).unwrap();
    sim.finish();
    let r = &sim.requests()[0];
    assert_eq!(r.url, "https://ingest.test/collect?team=7");
    assert_eq!(r.header("X-Write-Key"), Some("wk_123"));
    assert_eq!(r.header("Authorization"), None);
    let top = serde_json::from_str::<Value>(&r.json).unwrap();
    assert_eq!(keys(&top), ["batch", "sent_at"]);
    assert_eq!(top["sent_at"], wall(0));
    assert_eq!(
        keys(&r.events[0].value()),
        ["distinct_id", "event", "properties", "timestamp", "uuid"]
    );
}

// ---- identity and time

#[test]
fn uuid_and_timestamp_stay_the_same_on_every_retry() {
    let mut sim = Sim::new(v0());
    for plan in [
        Plan::Status(500, None),
        Plan::ConnectionError,
        Plan::TimeoutBeforeStore,
    ] {
        sim.ingest.push(plan);
    }
    let uuid = sim.capture(ev(1)).unwrap();
    for jump in [86_400_000, -2 * 86_400_000, 5_000] {
        sim.run_for(millis(20));
        sim.jump_wall(jump);
    }
    sim.finish();
    let r = sim.requests();
    assert_eq!(r.len(), 4);
    for req in r {
        assert_eq!(req.events[0].raw, r[0].events[0].raw);
        let event = req.events[0].value();
        assert_eq!(
            (event["uuid"].as_str(), event["timestamp"].as_str()),
            (Some(&*uuid.to_string()), Some(&*wall(0)))
        );
    }
    assert_eq!(delivered(&sim), [uuid]);
}

#[test]
fn a_caller_given_uuid_and_timestamp_are_honoured() {
    let mut sim = Sim::new(base(Protocol::PostHogV1));
    let given = Uuid::from_u128(0x0123_4567_89ab_4def_8123_4567_89ab_cdef);
    let at = WallTime::from_unix_millis(1_600_000_000_123);
    let uuid = sim.capture(ev(1).uuid(given).timestamp(at)).unwrap();
    assert_eq!(uuid, given);
    sim.finish();
    let event = sim.requests()[0].events[0].value();
    assert_eq!(event["uuid"], given.to_string());
    assert_eq!(event["timestamp"], "2020-09-13T12:26:40.123Z");
}

#[test]
fn the_event_timestamp_is_the_capture_time_wall_clock_despite_jumps() {
    let mut c = v0();
    c.flush_at = 10;
    let mut sim = Sim::new(c);
    let first = sim.capture(ev(1)).unwrap();
    sim.jump_wall(86_400_000); // a day forward, before the batch is built
    sim.run_until(ms(1500));
    sim.jump_wall(-2 * 86_400_000); // two days back
    let second = sim.capture(ev(2)).unwrap();
    sim.finish();
    let r = sim.requests();
    assert_eq!(request_times(&sim), [ms(1000), ms(2500)]);
    assert_eq!(r[0].events[0].value()["timestamp"], wall(0));
    assert_eq!(
        r[0].field("sent_at").unwrap(),
        &json!(wall(86_400_000 + 1000))
    );
    assert_eq!(r[1].events[0].value()["timestamp"], wall(1500 - 86_400_000));
    let v7_millis = |u: Uuid| {
        let (secs, nanos) = u.get_timestamp().unwrap().to_unix();
        secs * 1000 + u64::from(nanos) / 1_000_000
    };
    assert_eq!(v7_millis(first), WALL_ORIGIN_MS);
    assert_eq!(v7_millis(second), WALL_ORIGIN_MS + 1500 - 86_400_000);
}

#[test]
fn a_monotonic_reading_that_goes_back_is_treated_as_the_last_one() {
    let mut c = v0();
    c.flush_at = 10;
    let mut core = Core::new(c, 1).unwrap();
    let at = |ms: u64| {
        Now::new(
            Instant::from_millis(ms),
            WallTime::from_unix_millis(WALL_ORIGIN_MS + ms),
        )
    };
    core.capture(at(5000), ev(1)).unwrap();
    core.capture(at(2000), ev(2)).unwrap(); // a clock that went back
    assert_eq!(core.poll_timeout().unwrap().at, Instant::from_millis(6000));
    core.handle_timeout(at(3000));
    assert!(
        core.poll_transmit(at(3000)).is_none(),
        "3 s is before 5 s: nothing is due"
    );
    let t = core.poll_transmit(at(6000)).expect("due at 6 s");
    assert_eq!(t.body.event_count(), 2);
}

/// A queue held at its bound by drop-oldest evictions stays due: the
/// moment it reached `flush_at` does not slide with the evicted front, so
/// linger ends and a batch goes out (it once waited for flush_interval).
#[test]
fn linger_ends_although_drop_oldest_keeps_evicting_the_front() {
    let mut c = v0();
    c.flush_at = 3;
    c.max_batch_events = 100;
    c.max_queue_events = 5;
    c.overflow = OverflowPolicy::DropOldest;
    c.linger = millis(100);
    c.flush_interval = Duration::from_secs(10);
    let mut sim = Sim::new(c);
    // A capture every 10 ms: the queue is at its bound of 5 from the 5th on.
    for i in 0..40u64 {
        sim.schedule(
            ms(i * 10),
            sim::Action::Capture(Event::new("e", "u").property("i", i)),
        );
    }
    sim.run_until(ms(400));
    let first = sim.requests().first().map(|r| r.at);
    assert!(
        first.is_some_and(|at| at <= ms(130)),
        "first request at {first:?}: due at 20 ms (3 queued) + 100 ms of linger"
    );
    sim.finish();
}
