//! The harness's own tests: its checks fire when what they guard is broken.
//! Each gives the reference model a slightly wrong belief about the
//! configuration (or the ingest a wrong delivery), so the real core, behaving
//! correctly, breaks the model's expectation.

mod sim;

use std::time::Duration;

use serde_json::json;
use sim::{FaultProfile, Ingest, MeterTags, MeterUpdate, Plan, RetryAfter, Sim, ms};
use tidings::{Config, Event, OverflowPolicy, RetryPolicy};

fn config() -> Config {
    let mut c = Config::new("phc_test", "https://ingest.test");
    c.flush_at = 1;
    c.retry = RetryPolicy {
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(5),
        max_attempts: 5,
        jitter: 0.2,
    };
    c
}

/// A simulation whose model believes `believed` while the core runs `real`.
fn mismatched(real: Config, believed: Config) -> Sim {
    Sim::with(real, believed, 1, Ingest::new(FaultProfile::reliable(), 1))
}

fn ev(i: u64) -> Event {
    Event::new("e", format!("user-{i}"))
}

#[test]
#[should_panic(expected = "but the core waits until")]
fn catches_a_batch_sent_late() {
    let mut real = config();
    real.flush_at = 3;
    real.flush_interval = Duration::from_secs(2);
    let mut believed = real.clone();
    believed.flush_interval = Duration::from_secs(1);
    let mut sim = mismatched(real, believed);
    sim.capture(ev(1)).unwrap();
}

#[test]
#[should_panic(expected = "requests are in flight")]
fn catches_more_requests_in_flight_than_allowed() {
    let mut real = config();
    real.max_in_flight = 3;
    let mut believed = real.clone();
    believed.max_in_flight = 2;
    let mut sim = mismatched(real, believed);
    for i in 0..3 {
        sim.capture(ev(i)).unwrap();
    }
}

#[test]
#[should_panic(expected = "before its backoff")]
fn catches_a_retry_sent_before_its_backoff() {
    let real = config();
    let mut believed = real.clone();
    believed.retry.initial_backoff = Duration::from_millis(200);
    believed.retry.jitter = 0.0;
    let mut sim = mismatched(real, believed);
    sim.ingest.push(Plan::Status(503, None));
    sim.capture(ev(1)).unwrap();
    sim.finish();
}

#[test]
#[should_panic(expected = "before its backoff/Retry-After allows")]
fn catches_a_retry_sent_before_retry_after() {
    let mut real = config();
    real.retry.max_backoff = Duration::from_secs(1);
    let mut believed = real.clone();
    believed.retry.max_backoff = Duration::from_secs(3); // believes the cap is higher
    let mut sim = mismatched(real, believed);
    sim.ingest
        .push(Plan::Status(503, Some(RetryAfter::Seconds(3))));
    sim.capture(ev(1)).unwrap();
    sim.finish();
}

#[test]
#[should_panic(expected = "429 pause")]
fn catches_a_request_during_a_429_pause() {
    let mut real = config();
    real.retry.max_backoff = Duration::from_secs(1);
    let mut believed = real.clone();
    believed.retry.max_backoff = Duration::from_secs(3);
    let mut sim = mismatched(real, believed);
    sim.ingest
        .push(Plan::Status(429, Some(RetryAfter::Seconds(3))));
    sim.capture(ev(1)).unwrap();
    sim.finish();
}

#[test]
#[should_panic(expected = "should be Pending but is Some(Dropped(RetriesExhausted))")]
fn catches_a_resolution_the_model_does_not_expect() {
    let real = config();
    let mut believed = real.clone();
    believed.retry.max_attempts = 6;
    let mut sim = mismatched(real, believed);
    for _ in 0..5 {
        sim.ingest.push(Plan::Status(500, None));
    }
    sim.capture(ev(1)).unwrap();
    sim.finish();
}

#[test]
#[should_panic(expected = "queue over its limits")]
fn catches_a_queue_over_its_limits() {
    let mut real = config();
    real.flush_at = 100;
    real.max_queue_events = 10;
    let mut believed = real.clone();
    believed.max_queue_events = 5;
    let mut sim = mismatched(real, believed);
    for i in 0..6 {
        let _ = sim.capture(ev(i));
    }
}

#[test]
#[should_panic(expected = "dropped as queue_full")]
fn catches_an_eviction_under_drop_newest() {
    let mut real = config();
    real.flush_at = 100;
    real.max_queue_events = 2;
    real.overflow = OverflowPolicy::DropOldest;
    let mut believed = real.clone();
    believed.overflow = OverflowPolicy::DropNewest;
    let mut sim = mismatched(real, believed);
    for i in 0..3 {
        let _ = sim.capture(ev(i));
    }
}

#[test]
#[should_panic(expected = "request timeout")]
fn catches_a_wrong_request_timeout() {
    let real = config();
    let mut believed = real.clone();
    believed.request_timeout = Duration::from_secs(3);
    let mut sim = mismatched(real, believed);
    sim.capture(ev(1)).unwrap();
}

#[test]
#[should_panic(expected = "carries 2 events")]
fn catches_a_batch_over_max_batch_events() {
    let mut real = config();
    real.flush_at = 2;
    real.max_batch_events = 2;
    let mut believed = real.clone();
    believed.max_batch_events = 1;
    believed.flush_at = 1;
    let mut sim = mismatched(real, believed);
    // Paused, neither model expects a send until both are queued.
    sim.pause(true);
    sim.capture(ev(1)).unwrap();
    sim.capture(ev(2)).unwrap();
    sim.pause(false);
}

#[test]
#[should_panic(expected = "although every earlier answer for it reached the client")]
fn the_ingest_catches_a_duplicate_without_a_lost_answer() {
    let mut ingest = Ingest::new(FaultProfile::reliable(), 1);
    let body = br#"{"api_key":"k","batch":[{"uuid":"01900000-0000-7000-8000-000000000001"}]}"#;
    for id in 0..2 {
        let _ = ingest.receive(sim::ingest::Incoming {
            at: ms(id),
            server_wall: tidings::WallTime::from_unix_millis(0),
            id: first_request_id(),
            timeout: Duration::from_secs(1),
            url: "https://ingest.test/batch/",
            headers: &[],
            body,
        });
    }
}

#[test]
#[should_panic(expected = "runaway")]
fn the_step_bound_stops_a_runaway_run() {
    let mut sim = Sim::new(config());
    sim.max_steps = 5;
    for i in 0..10 {
        sim.schedule(ms(i), sim::Action::Capture(ev(i)));
    }
    sim.run_until_idle();
}

/// A real `RequestId` (they cannot be built outside the core).
fn first_request_id() -> tidings::RequestId {
    let mut core = tidings::Core::new(config(), 1).unwrap();
    let now = tidings::Now::default();
    core.capture(now, ev(1)).unwrap();
    core.poll_transmit(now).unwrap().id
}

#[test]
#[should_panic(expected = "but the core waits until")]
fn catches_a_linger_longer_than_configured() {
    let mut real = config();
    real.flush_at = 2;
    real.linger = Duration::from_millis(500);
    let mut believed = real.clone();
    believed.linger = Duration::from_millis(100);
    let mut sim = mismatched(real, believed);
    sim.capture(ev(1)).unwrap();
    sim.capture(ev(2)).unwrap();
}

#[test]
#[should_panic(expected = "while sending is paused")]
fn catches_a_request_while_paused() {
    let mut sim = Sim::new(config());
    sim.check.on_pause(true); // the model is told of a pause the core never got
    sim.capture(ev(1)).unwrap();
}

#[test]
#[should_panic(expected = "expected 300ms (shutdown deadline None, window end")]
fn catches_a_request_outliving_its_window() {
    let mut real = config();
    real.delivery_windows = true;
    let mut sim = mismatched(real.clone(), real);
    sim.capture(ev(1)).unwrap();
    sim.open_window_believing(Duration::from_secs(5), Duration::from_millis(300));
}

#[test]
#[should_panic(expected = "is still open with nothing to wait for")]
fn catches_a_window_open_past_its_end() {
    let mut real = config();
    real.delivery_windows = true;
    let mut sim = mismatched(real.clone(), real);
    sim.pause(true); // nothing is sent: the window can only end by time
    sim.capture(ev(1)).unwrap();
    sim.open_window_believing(Duration::from_secs(5), Duration::from_millis(300));
    sim.run_for(Duration::from_secs(1));
    sim.capture(ev(2)).unwrap();
}

#[test]
#[should_panic(expected = "dropped as drain_budget")]
fn catches_a_drain_budget_drop_before_the_window_ends() {
    let mut real = config();
    real.delivery_windows = true;
    let mut sim = mismatched(real.clone(), real);
    sim.pause(true);
    sim.capture(ev(1)).unwrap();
    sim.open_window_believing(Duration::from_millis(300), Duration::from_secs(5));
    sim.run_for(Duration::from_secs(1));
}

#[test]
#[should_panic(expected = "disagree with the model")]
fn catches_a_refusal_counted_wrong() {
    let mut sim = Sim::new(config());
    sim.check.on_refuse(tidings::DropReason::Expired, 1); // the core never hears of it
    sim.capture(ev(1)).unwrap();
}

#[test]
#[should_panic(expected = "content type or user agent wrong")]
fn catches_a_request_that_is_not_cors_simple() {
    let mut real = config();
    real.cors_simple = true;
    let mut believed = real.clone();
    believed.cors_simple = false;
    let mut sim = mismatched(real, believed);
    sim.capture(ev(1)).unwrap();
}

#[test]
#[should_panic(expected = "compressed form")]
fn catches_a_missing_compressed_form() {
    let mut real = config();
    real.adapter_gzip = true;
    let mut believed = real.clone();
    believed.adapter_gzip = false;
    let mut sim = mismatched(real, believed);
    sim.capture(Event::new("e", "u").property("padding", "x".repeat(2000)))
        .unwrap();
}

// ---- metering

fn tokens(value: f64) -> MeterUpdate {
    MeterUpdate::count(
        "t-1",
        "tokens",
        value,
        MeterTags::Value(json!({"model": "small"})),
    )
}

#[test]
#[should_panic(expected = "the core buffers 0 metering keys, the model 1")]
fn catches_a_metering_update_the_core_never_recorded() {
    let mut sim = Sim::new(config());
    let now = sim.now();
    sim.check.on_meter(now, &tokens(5.0), &Ok(())); // the core never hears of it
    sim.capture(ev(1)).unwrap();
}

#[test]
#[should_panic(
    expected = "flush_meters returned [t-1/tokens/Count=3], but the model's window holds [t-1/tokens/Count=5]"
)]
fn catches_a_wrong_metering_sum() {
    let mut sim = Sim::new(config());
    sim.meter(tokens(3.0)).unwrap();
    let now = sim.now();
    sim.check.on_meter(now, &tokens(2.0), &Ok(())); // the core never hears of it
    sim.flush_meters();
}

#[test]
#[should_panic(
    expected = "carries value 3 tags {\"model\":\"small\"} updates 1, expected one of [value 3"
)]
fn catches_a_metering_event_with_the_wrong_content() {
    let mut sim = Sim::new(config());
    sim.meter(tokens(3.0)).unwrap();
    let now = sim.now();
    // Adds nothing to the sum, but one to the model's update count.
    sim.check.on_meter(now, &tokens(0.0), &Ok(()));
    sim.flush_meters();
}

#[test]
#[should_panic(expected = "name or distinct_id changed")]
fn catches_a_metering_event_under_another_name() {
    let mut real = config();
    real.meter_event = "billing".into();
    let mut believed = real.clone();
    believed.meter_event = "usage".into();
    let mut sim = mismatched(real, believed);
    sim.meter(tokens(3.0)).unwrap();
    sim.flush_meters();
}

#[test]
#[should_panic(expected = "the metering window is due at")]
fn catches_a_metering_window_the_core_does_not_wake_for() {
    let mut real = config();
    real.meter_flush_interval = Duration::from_secs(10);
    let mut believed = real.clone();
    believed.meter_flush_interval = Duration::from_secs(1);
    let mut sim = mismatched(real, believed);
    sim.meter(tokens(3.0)).unwrap();
}

#[test]
#[should_panic(expected = "the core buffers 0 metering keys, the model 2")]
fn catches_a_metering_window_the_core_closed_unseen() {
    let mut real = config();
    real.meter_flush_keys = 2;
    let mut believed = real.clone();
    believed.meter_flush_keys = 3; // the Sim does not close the window before the second key
    let mut sim = mismatched(real, believed);
    sim.meter(tokens(3.0)).unwrap();
    sim.meter(MeterUpdate::gauge(
        "t-1",
        "seats",
        4.0,
        MeterTags::Json(None),
    ))
    .unwrap();
}

#[test]
#[should_panic(expected = "returned Ok(()), but the model expected Refused")]
fn catches_a_metering_update_accepted_after_shutdown() {
    let mut sim = Sim::new(config());
    sim.check.on_shutdown(sim.now(), Duration::ZERO); // the core never hears of it
    let _ = sim.meter(tokens(3.0));
}
