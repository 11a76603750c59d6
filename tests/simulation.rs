//! The randomized run: for each seed a random configuration, fault profile
//! and workload, driven through the simulation with every invariant checked
//! after every input.
//!
//! - `TIDINGS_SIM_SEEDS=<n>` runs `n` seeds (default 10,000);
//! - `TIDINGS_SIM_SEED=<n>` replays exactly seed `n`, with a trace.
//!
//! A quarter of the worlds also meter usage (counts and gauges, refusals
//! included, windows closing by key count, age, shutdown, delivery window
//! or on request); their metering draws come from a stream of their own,
//! so every other world is exactly what it was before metering existed.
//!
//! About a third set an `event_timeout` (from a few milliseconds, where
//! nearly everything expires, to a minute, where almost nothing does) and
//! replay some captures with `Event::first_captured` (some past the
//! timeout, some just within it, some "in the future"), with wall-clock
//! jumps around the timeout's size; those draws too come from a stream of
//! their own.

mod sim;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use sim::{
    Action, ExpiryLog, FaultProfile, Ingest, MeterClose, MeterTags, MeterUpdate, Plan, Sim, SimRng,
    WALL_ORIGIN_MS, ms,
};
use tidings::{
    Config, DropReason, Event, FlushOutcome, Instant, Notice, OverflowPolicy, Protocol,
    RetryPolicy, ShutdownOutcome, Uuid, WallTime,
};

const DEFAULT_SEEDS: u64 = 10_000;

fn random_config(rng: &mut SimRng) -> Config {
    let protocol = rng.pick(&[Protocol::PostHogV0, Protocol::PostHogV1, Protocol::Json]);
    let host = match protocol {
        Protocol::Json => "https://ingest.sim/collect?source=sim",
        _ => "https://ingest.sim",
    };
    let mut c = Config::new("phc_sim_key", host);
    c.protocol = protocol;
    c.gzip = rng.chance(0.08); // gzip is slow in debug builds
    c.historical_migration = rng.chance(0.2);
    c.geoip_disable = rng.chance(0.3);
    if protocol == Protocol::Json || rng.chance(0.2) {
        c.headers.push(("X-Write-Key".into(), "sim-secret".into()));
    }
    c.max_batch_events = rng.usize(1, 40);
    c.flush_at = rng.usize(1, c.max_batch_events);
    c.max_event_bytes = rng.usize(200, 1500);
    c.max_batch_bytes = c.max_event_bytes + rng.usize(0, 6000);
    while c.validate().is_err_and(|e| e.field == "max_batch_bytes") {
        c.max_batch_bytes += 16;
    }
    c.flush_interval = rng.millis(20, 2000);
    if rng.chance(0.4) {
        c.linger = rng.millis(0, c.flush_interval.as_millis() as u64);
    }
    c.max_queue_events = rng.usize(1, 200);
    c.max_queue_bytes = c.max_event_bytes + rng.usize(0, 40_000);
    c.overflow = rng.pick(&[OverflowPolicy::DropNewest, OverflowPolicy::DropOldest]);
    c.max_in_flight = rng.usize(1, 6);
    c.request_timeout = rng.millis(100, 3000);
    let initial = rng.millis(5, 500);
    c.retry = RetryPolicy {
        initial_backoff: initial,
        max_backoff: (initial * rng.range(1, 50) as u32).min(Duration::from_secs(10)),
        max_attempts: rng.range(1, 6) as u32,
        jitter: rng.unit() * 0.5,
    };
    c.warning_interval = rng.millis(50, 5000);
    if rng.chance(0.15) {
        c = c.with_before_send(|mut event| match event.name() {
            "drop_me" => None,
            "rename_me" => {
                event.set_name("renamed");
                event.set_property("hooked", true);
                Some(event)
            }
            _ => Some(event),
        });
    }
    // A Workers-like host: requests only within delivery windows.
    c.delivery_windows = rng.chance(0.2);
    // A browser-like host: CORS-simple requests, compressed by the adapter.
    c.cors_simple = rng.chance(0.2);
    c.adapter_gzip = !c.gzip && rng.chance(0.3);
    c.validate().expect("generated config is valid");
    c
}

fn random_faults(rng: &mut SimRng, span: Duration) -> FaultProfile {
    let lo = rng.range(0, 200);
    let mut p = FaultProfile {
        latency_ms: (lo, lo + rng.range(0, 400)),
        ..FaultProfile::default()
    };
    if rng.chance(0.15) {
        return p; // a perfect server
    }
    let share = |rng: &mut SimRng, max: f64| {
        if rng.chance(0.6) {
            rng.unit() * max
        } else {
            0.0
        }
    };
    p.server_error = share(rng, 0.25);
    p.rate_limit = share(rng, 0.15);
    p.final_error = share(rng, 0.05);
    p.timeout_stored = share(rng, 0.1);
    p.timeout_lost = share(rng, 0.1);
    p.connection = share(rng, 0.1);
    p.hang = if rng.chance(0.1) {
        rng.unit() * 0.05
    } else {
        0.0
    };
    p.garbage = share(rng, 0.03);
    p.slow = share(rng, 0.05);
    p.v1_retry = share(rng, 0.3);
    p.v1_drop = share(rng, 0.1);
    p.v1_limited = share(rng, 0.1);
    p.v1_odd = share(rng, 0.1);
    p.retry_after = rng.unit();
    p.retry_after_max_secs = rng.range(0, 6);
    if rng.chance(0.2) {
        let start = rng.range(0, span.as_millis() as u64 + 1);
        p.outage = Some((ms(start), ms(start + rng.range(100, 10_000))));
    }
    p
}

const TEXT: &[&str] = &["a", "é", "日本", "🦀", "x y", "\"", "ß", "€"];

fn random_event(rng: &mut SimRng, seed: u64, i: u64) -> Event {
    let name = match rng.below(40) {
        0 => "",
        1 => "drop_me",
        2 => "rename_me",
        3 => "café ☕",
        n => ["signup", "login", "page_view", "purchase"][n as usize % 4],
    };
    let distinct = if rng.chance(0.01) {
        " ".to_owned()
    } else {
        format!("user-{}", rng.below(20))
    };
    let repeat = if rng.chance(0.1) {
        rng.usize(30, 300)
    } else {
        rng.usize(0, 12)
    };
    let text = format!("{}{}", rng.pick(TEXT).repeat(repeat), rng.pick(TEXT));
    let mut event = Event::new(name, distinct)
        .property("i", i)
        .property("text", text);
    if rng.chance(0.1) {
        event = event.properties(json!({"$set": {"plan": "pro"}, "nested": {"k": [1, 2.5, null]}}));
    }
    if rng.chance(0.1) {
        event = event.uuid(Uuid::from_u128(((seed as u128) << 64) | i as u128));
    }
    if rng.chance(0.1) {
        event = event.timestamp(WallTime::from_unix_millis(rng.range(0, 4_000_000_000_000)));
    }
    if rng.chance(0.05) {
        event = event.session_id("s-1").window_id("w-1");
    }
    event
}

/// Metering settings for a world that meters: windows that close often,
/// by key count or by age, and room for most metering events.
fn meter_config(rng: &mut SimRng, c: &mut Config) {
    // At least 2: with 1 the core closes the window inside every update,
    // before the Sim can (see sim::metering).
    c.meter_flush_keys = rng.usize(2, 12);
    c.meter_flush_interval = rng.millis(20, 6000);
    // "drop_me": the before-send hook, when there is one, drops them all.
    c.meter_event = rng.pick(&["usage", "$usage", "drop_me"]).to_owned();
    if rng.chance(0.8) {
        // A metering event is about 350 bytes before its tags.
        c.max_event_bytes = c.max_event_bytes.max(rng.usize(500, 1500));
        c.max_queue_bytes = c.max_queue_bytes.max(c.max_event_bytes);
        while c.validate().is_err_and(|e| e.field == "max_batch_bytes") {
            c.max_batch_bytes += 16;
        }
    }
    c.validate().expect("generated metering config is valid");
}

/// An `event_timeout` for about a third of the worlds, sized against what
/// keeps events waiting there: from a few milliseconds (everything not
/// sent at once expires, and answers come back after the deadline) over
/// the flush interval, the request timeout and backoff (expiry while
/// queued, retrying and at an answer), to the pauses and outages of the
/// script (seconds) and beyond (expiry is rare).
fn expiry_config(rng: &mut SimRng, c: &mut Config) {
    if !rng.chance(0.35) {
        return;
    }
    let ms_of = |d: Duration| d.as_millis() as u64;
    let flush = ms_of(c.flush_interval);
    let request = ms_of(c.request_timeout);
    let backoff = ms_of(c.retry.max_backoff);
    let timeout = match rng.below(10) {
        0 => rng.range(1, 50),
        1 | 2 => rng.range(1, 2 * flush),
        3..=5 => rng.range(request / 2, request + 2 * backoff),
        6 | 7 => rng.range(1_000, 10_000),
        _ => rng.range(10_000, 60_000),
    };
    c.event_timeout = Some(Duration::from_millis(timeout));
    c.validate().expect("generated event_timeout is valid");
}

/// For a world with `event_timeout`, a replayed capture at `when`: first
/// captured some time before the wall clock there (as the script means it:
/// a wall-clock jump before it moves the age the core measures), past the
/// timeout, just at or within it, or "in the future" (age 0).
fn replay(rng: &mut SimRng, event: Event, when: Instant, timeout: Option<Duration>) -> Event {
    let wall = WALL_ORIGIN_MS + when.since_origin().as_millis() as u64;
    let t = timeout.map_or(rng.range(1, 60_000), |t| t.as_millis() as u64);
    let age = match rng.below(8) {
        0 => t,
        1 => t - 1,
        2 | 3 => rng.range(t, 3 * t),
        4 => {
            let ahead = rng.range(1, 10_000);
            return event.first_captured(WallTime::from_unix_millis(wall + ahead));
        }
        _ => rng.range(0, t - 1),
    };
    event.first_captured(WallTime::from_unix_millis(wall.saturating_sub(age)))
}

const TENANTS: &[&str] = &["t-1", "t-2", "0", "é-tenant"];
const METRICS: &[&str] = &["tokens", "requests", "seats", "storage_gb"];

/// 2^53, where counts stop being exact.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

fn random_update(rng: &mut SimRng) -> MeterUpdate {
    // "" and a blank tenant are refused, like a blank metric.
    let tenant = match rng.below(60) {
        0 => "",
        1 => " ",
        _ => rng.pick(TENANTS),
    };
    let metric = match rng.below(60) {
        0 => "",
        1 => " ",
        _ => rng.pick(METRICS),
    };
    let gauge = rng.chance(0.35);
    let value = match rng.below(100) {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => f64::NEG_INFINITY,
        // Counts whose sums pass 2^53 are refused.
        3..=6 => 4.0e15 + rng.below(1000) as f64,
        7 => MAX_EXACT - 1.0,
        8 => MAX_EXACT,
        9..=11 => -(rng.below(100) as f64),
        12..=26 => rng.below(64) as f64 / 8.0,
        // Inexact sums (0.1 + 0.2).
        27..=31 => rng.below(10) as f64 * 0.1,
        // A whole gauge far above 2^53 (below 2^63).
        32 if gauge => 1.0e17,
        _ => rng.below(1000) as f64,
    };
    let tags = random_tags(rng);
    if gauge {
        MeterUpdate::gauge(tenant, metric, value, tags)
    } else {
        MeterUpdate::count(tenant, metric, value, tags)
    }
}

/// Tags from a small pool (so keys repeat), as a value or as JSON text
/// with keys in any order; a few are refused.
fn random_tags(rng: &mut SimRng) -> MeterTags {
    let value = match rng.below(20) {
        0..=4 => Value::Null,
        5..=8 => json!({"model": "small"}),
        9..=11 => json!({"model": "large", "region": "eu"}),
        12 => json!({"nested": {"b": [1, {"d": 2, "c": 1}], "a": "x\"y"}, "n": null}),
        13 => json!({"region": "日本", "tier": 2, "beta": true}),
        14 => json!({"padding": "x".repeat(rng.usize(50, 1500))}),
        15 => json!([1]),
        16 => json!("eu"),
        _ => json!({}),
    };
    if rng.chance(0.5) {
        return MeterTags::Value(value);
    }
    let text = match rng.below(40) {
        0 => Some("{\"model\":".to_owned()),
        1 => Some("null".to_owned()),
        _ if value.is_null() && rng.chance(0.5) => None,
        _ => {
            let spaced = rng.chance(0.3);
            Some(json_text(&value, rng, spaced))
        }
    };
    MeterTags::Json(text)
}

/// `value` as JSON text with every object's keys in a random order.
fn json_text(value: &Value, rng: &mut SimRng, spaced: bool) -> String {
    let (comma, colon) = if spaced { (", ", ": ") } else { (",", ":") };
    match value {
        Value::Object(map) => {
            let mut members: Vec<_> = map.iter().collect();
            for i in (1..members.len()).rev() {
                members.swap(i, rng.below(i as u64 + 1) as usize);
            }
            let members: Vec<String> = members
                .into_iter()
                .map(|(k, v)| {
                    format!(
                        "{}{colon}{}",
                        Value::from(k.as_str()),
                        json_text(v, rng, spaced)
                    )
                })
                .collect();
            format!("{{{}}}", members.join(comma))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(|v| json_text(v, rng, spaced)).collect();
            format!("[{}]", items.join(comma))
        }
        scalar => scalar.to_string(),
    }
}

/// Metering updates over the run (some in bursts, so sums build up), and
/// a few explicit closes.
fn schedule_metering(sim: &mut Sim, rng: &mut SimRng, span_ms: u64) {
    let at = |rng: &mut SimRng| ms(rng.range(0, span_ms));
    let bursts: Vec<Instant> = (0..rng.range(1, 3)).map(|_| at(rng)).collect();
    for _ in 0..rng.range(1, 80) {
        let when = if rng.chance(0.4) {
            rng.pick(&bursts)
        } else {
            at(rng)
        };
        sim.schedule(when, Action::Meter(random_update(rng)));
    }
    for _ in 0..rng.below(3) {
        let when = at(rng);
        sim.schedule(when, Action::FlushMeters);
    }
}

/// Builds the whole world for a seed.
fn world(seed: u64) -> Sim {
    let mut rng = SimRng::new(seed);
    let mut config = random_config(&mut rng);
    let mut meter_rng = SimRng::new(seed ^ 0x6d65_7465_7269_6e67);
    let metered = meter_rng.chance(0.25);
    if metered {
        meter_config(&mut meter_rng, &mut config);
    }
    let span = rng.millis(0, 20_000);
    let faults = random_faults(&mut rng, span);
    let mut ingest = Ingest::new(faults, seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    if rng.chance(0.2) {
        ingest.max_body = Some(rng.usize(config.max_batch_bytes / 4, config.max_batch_bytes));
    }
    let windowed = config.delivery_windows;
    let mut expiry_rng = SimRng::new(seed ^ 0x6576_656e_745f_7474);
    expiry_config(&mut expiry_rng, &mut config);
    let timeout = config.event_timeout;
    // Some replays in worlds without a timeout too: first_captured is
    // then ignored.
    let replays = if timeout.is_some() { 0.3 } else { 0.03 };
    let mut sim = Sim::with(config.clone(), config, seed, ingest);

    let span_ms = span.as_millis() as u64;
    let at = |rng: &mut SimRng| ms(rng.range(0, span_ms));
    // Most runs are short; a third carry up to 150 events for queue pressure.
    let events = if rng.chance(0.35) {
        rng.range(0, 150)
    } else {
        rng.range(0, 40)
    };
    let bursts: Vec<Instant> = (0..rng.range(1, 4)).map(|_| at(&mut rng)).collect();
    for i in 0..events {
        let when = if rng.chance(0.3) {
            rng.pick(&bursts)
        } else {
            at(&mut rng)
        };
        let mut event = random_event(&mut rng, seed, i);
        if expiry_rng.chance(replays) {
            event = replay(&mut expiry_rng, event, when, timeout);
        }
        sim.schedule(when, Action::Capture(event));
        if windowed && rng.chance(0.7) {
            // The request that captured hands a drain to waitUntil.
            sim.schedule(when, Action::OpenWindow(rng.millis(0, 5000)));
        }
    }
    if metered {
        // Before the last drain below, which closes the last window.
        schedule_metering(&mut sim, &mut meter_rng, span_ms);
    }
    if windowed || rng.chance(0.05) {
        // A last drain after everything (the others may have run out).
        let when = ms(span_ms + rng.range(0, 2000));
        sim.schedule(when, Action::OpenWindow(rng.millis(0, 8000)));
    }
    if rng.chance(0.2) {
        for _ in 0..rng.range(1, 4) {
            let when = at(&mut rng);
            sim.schedule(when, Action::Pause(true));
            sim.schedule(
                when.saturating_add(rng.millis(0, 5000)),
                Action::Pause(false),
            );
        }
    }
    if rng.chance(0.1) {
        let reason = rng.pick(&[DropReason::Expired, DropReason::TooLarge]);
        sim.schedule(at(&mut rng), Action::Refuse(reason, rng.range(0, 5)));
    }
    if rng.chance(0.05) {
        sim.schedule(at(&mut rng), Action::DropPending);
    }
    for _ in 0..rng.below(4) {
        let when = at(&mut rng);
        sim.schedule(when, Action::Flush(rng.millis(0, 5000)));
    }
    for _ in 0..rng.below(4) {
        let when = at(&mut rng);
        let sign = if rng.chance(0.5) { -1 } else { 1 };
        sim.schedule(
            when,
            Action::JumpWall(sign * rng.range(1_000, 2 * 86_400_000) as i64),
        );
    }
    if let Some(t) = timeout {
        // Wall-clock jumps about the timeout's size move replays' ages
        // across it; pauses about its size let queued events expire.
        let t = t.as_millis() as u64;
        let at = |rng: &mut SimRng| ms(rng.range(0, span_ms));
        for _ in 0..expiry_rng.below(3) {
            let when = at(&mut expiry_rng);
            let sign = if expiry_rng.chance(0.5) { -1 } else { 1 };
            let delta = sign * expiry_rng.range(1, 2 * t) as i64;
            sim.schedule(when, Action::JumpWall(delta));
        }
        if expiry_rng.chance(0.2) {
            let when = at(&mut expiry_rng);
            sim.schedule(when, Action::Pause(true));
            let pause = expiry_rng.range(t / 2, 2 * t);
            sim.schedule(
                when.saturating_add(Duration::from_millis(pause)),
                Action::Pause(false),
            );
        }
    }
    if rng.chance(0.4) {
        let when = ms(rng.range(0, span_ms + 2000));
        sim.schedule(when, Action::Shutdown(rng.millis(0, 5000)));
        if rng.chance(0.25) {
            let later = when.saturating_add(rng.millis(0, 3000));
            sim.schedule(later, Action::Shutdown(rng.millis(0, 5000)));
        }
    }
    sim
}

/// What happened across seeds, to show the run covers every behaviour.
#[derive(Default, Debug)]
struct Coverage {
    seeds: u64,
    steps_events: u64,
    requests: u64,
    retries: u64,
    status_429: u64,
    status_413: u64,
    final_4xx: u64,
    v1_partial: u64,
    lost_answers: u64,
    duplicates: u64,
    hangs: u64,
    gzip_requests: u64,
    delivered: u64,
    dropped: std::collections::BTreeMap<String, u64>,
    flush_completed: u64,
    flush_timed_out: u64,
    shutdown_drained: u64,
    shutdown_deadline: u64,
    warnings: u64,
    windows_completed: u64,
    windows_handed_over: u64,
    windows_dropped: u64,
    metered_seeds: u64,
    meter_updates: u64,
    meter_refused: std::collections::BTreeMap<&'static str, u64>,
    meter_events: u64,
    meter_refused_at_close: std::collections::BTreeMap<String, u64>,
    meter_delivered: u64,
    meter_closes: std::collections::BTreeMap<String, u64>,
    expiry_seeds: u64,
    expiry: ExpiryLog,
}

impl Coverage {
    fn add(&mut self, sim: &Sim) {
        self.seeds += 1;
        let stats = sim.core.stats();
        self.steps_events += stats.captured;
        self.requests += stats.requests;
        self.retries += stats.retries;
        self.delivered += stats.delivered;
        for (reason, n) in &stats.dropped {
            *self.dropped.entry(reason.to_string()).or_default() += n;
        }
        self.duplicates += sim.ingest.duplicates;
        let m = &sim.metering;
        self.metered_seeds += u64::from(m.updates > 0);
        self.meter_updates += m.updates;
        for (why, n) in &m.refused {
            *self.meter_refused.entry(why).or_default() += n;
        }
        self.meter_events += m.events.len() as u64;
        for (reason, n) in &m.refused_at_close {
            *self
                .meter_refused_at_close
                .entry(reason.to_string())
                .or_default() += n;
        }
        for (why, n) in &m.closes {
            *self.meter_closes.entry(format!("{why:?}")).or_default() += n;
        }
        self.expiry_seeds += u64::from(sim.core.config().event_timeout.is_some());
        add_expiry(&mut self.expiry, &sim.check.expiry);
        for r in sim.requests() {
            match &r.plan {
                Plan::Status(429, _) => self.status_429 += 1,
                Plan::Status(413, _) => self.status_413 += 1,
                Plan::Status(400..=499, _) => self.final_4xx += 1,
                Plan::V1(..) => self.v1_partial += 1,
                Plan::Hang { .. } => self.hangs += 1,
                _ => {}
            }
            self.lost_answers += u64::from(r.answer_lost);
            self.gzip_requests += u64::from(r.header("Content-Encoding") == Some("gzip"));
        }
        for (_, notice) in &sim.notices {
            match notice {
                Notice::FlushDone {
                    outcome: FlushOutcome::Completed { .. },
                    ..
                } => self.flush_completed += 1,
                Notice::FlushDone {
                    outcome: FlushOutcome::TimedOut { .. },
                    ..
                } => self.flush_timed_out += 1,
                Notice::ShutdownDone {
                    outcome: ShutdownOutcome::Drained,
                } => self.shutdown_drained += 1,
                Notice::ShutdownDone {
                    outcome: ShutdownOutcome::DeadlineReached { .. },
                } => self.shutdown_deadline += 1,
                Notice::Warning { .. } => self.warnings += 1,
                Notice::WindowClosed { outcome, .. } => {
                    self.windows_completed += u64::from(outcome.completed);
                    self.windows_handed_over += u64::from(outcome.handed_over > 0);
                    self.windows_dropped += u64::from(outcome.dropped > 0);
                }
                Notice::Delivered { uuids, .. } => {
                    let metered = uuids.iter().filter(|u| sim.metering.events.contains(u));
                    self.meter_delivered += metered.count() as u64;
                }
                _ => {}
            }
        }
    }

    /// Every behaviour the run exists for happened somewhere.
    fn assert_broad(&self) {
        let reasons = [
            DropReason::BeforeSend,
            DropReason::InvalidEvent,
            DropReason::TooLarge,
            DropReason::QueueFull,
            DropReason::ShutDown,
            DropReason::ShutdownDeadline,
            DropReason::RetriesExhausted,
            DropReason::ServerDropped,
            DropReason::ServerLimited,
            DropReason::DrainBudget,
            DropReason::Expired,
        ];
        for reason in reasons {
            assert!(
                self.dropped
                    .get(&reason.to_string())
                    .is_some_and(|n| *n > 0),
                "no {reason} drop in the run: {self:#?}"
            );
        }
        let counts = [
            ("retries", self.retries),
            ("429", self.status_429),
            ("413", self.status_413),
            ("final 4xx", self.final_4xx),
            ("v1 partial results", self.v1_partial),
            ("lost answers", self.lost_answers),
            ("duplicates", self.duplicates),
            ("hangs", self.hangs),
            ("gzip", self.gzip_requests),
            ("flush completed", self.flush_completed),
            ("flush timed out", self.flush_timed_out),
            ("shutdown drained", self.shutdown_drained),
            ("shutdown deadline", self.shutdown_deadline),
            ("warnings", self.warnings),
            ("windows completed", self.windows_completed),
            ("windows handed over", self.windows_handed_over),
            ("windows ending in drops", self.windows_dropped),
            ("metering updates", self.meter_updates),
            ("metering events", self.meter_events),
            ("metering events delivered", self.meter_delivered),
            ("worlds with an event_timeout", self.expiry_seeds),
            ("replays refused as expired", self.expiry.refused_at_capture),
            ("replays accepted", self.expiry.replays_accepted),
            ("events expired queued", self.expiry.queued),
            ("events expired while paused", self.expiry.while_paused),
            ("events expired waiting to retry", self.expiry.retrying),
            ("events expired at an answer", self.expiry.on_answer),
            ("events expired in a hung request", self.expiry.hung),
            (
                "events delivered after their deadline",
                self.expiry.delivered_late,
            ),
            (
                "retries exhausted past the deadline",
                self.expiry.exhausted_past_deadline,
            ),
        ];
        for (what, n) in counts {
            assert!(n > 0, "no {what} in the run: {self:#?}");
        }
        let refusals = [
            "shut down",
            "empty tenant",
            "empty metric",
            "not finite",
            "tags not an object",
            "count past 2^53",
        ];
        for why in refusals {
            assert!(
                self.meter_refused.get(why).is_some_and(|n| *n > 0),
                "no metering update refused as {why} in the run: {self:#?}"
            );
        }
        // (A blank tenant, once the only way to an invalid_event at close,
        // is refused by the update itself.)
        let at_close = [
            DropReason::TooLarge,
            DropReason::QueueFull,
            DropReason::BeforeSend,
        ];
        for reason in at_close {
            assert!(
                self.meter_refused_at_close
                    .get(&reason.to_string())
                    .is_some_and(|n| *n > 0),
                "no metering entry refused at close as {reason} in the run: {self:#?}"
            );
        }
        let closes = [
            MeterClose::Asked,
            MeterClose::KeysLimit,
            MeterClose::Interval,
            MeterClose::Shutdown,
            MeterClose::Window,
        ];
        for why in closes {
            assert!(
                self.meter_closes
                    .get(&format!("{why:?}"))
                    .is_some_and(|n| *n > 0),
                "no metering window closed as {why:?} in the run: {self:#?}"
            );
        }
    }
}

/// Runs one seed to the end; on failure, the panic message.
fn run_seed(seed: u64, trace: bool) -> Result<Sim, (String, Option<String>)> {
    let message = |panic: Box<dyn std::any::Any + Send>| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into())
    };
    let mut sim = catch_unwind(|| world(seed)).map_err(|p| (message(p), None))?;
    if trace {
        sim.enable_trace();
    }
    match catch_unwind(AssertUnwindSafe(|| sim.finish())) {
        Ok(()) => Ok(sim),
        Err(panic) => Err((message(panic), trace.then(|| sim.trace_tail(80)))),
    }
}

fn replay_hint(seed: u64) -> String {
    format!(
        "replay it with: TIDINGS_SIM_SEED={seed} cargo test -p tidings --test simulation -- --nocapture"
    )
}

#[test]
fn randomized_runs_keep_every_invariant() {
    if let Some(seed) = std::env::var("TIDINGS_SIM_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        match run_seed(seed, true) {
            Ok(sim) => {
                println!("{}", sim.trace_tail(usize::MAX));
                println!("seed {seed} passed: {:?}", sim.core.stats());
            }
            Err((message, trace)) => {
                panic!(
                    "seed {seed} failed: {message}\n--- trace (last 80 steps) ---\n{}",
                    trace.unwrap_or_default()
                )
            }
        }
        return;
    }
    let seeds: u64 = std::env::var("TIDINGS_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEEDS);
    #[allow(clippy::disallowed_methods)] // how long the test itself takes, for the report
    let started = std::time::Instant::now();
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(4) as u64;
    let next = AtomicU64::new(0);
    let failed = AtomicU64::new(u64::MAX);
    let coverage = Mutex::new(Coverage::default());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut local = Coverage::default();
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= seeds || seed > failed.load(Ordering::Relaxed) {
                        break;
                    }
                    match run_seed(seed, false) {
                        Ok(sim) => local.add(&sim),
                        Err(_) => {
                            failed.fetch_min(seed, Ordering::Relaxed);
                        }
                    }
                }
                merge(&mut coverage.lock().unwrap(), local);
            });
        }
    });
    let failed = failed.into_inner();
    if failed != u64::MAX {
        let (message, trace) = run_seed(failed, true)
            .err()
            .unwrap_or(("passed on a rerun: not deterministic".into(), None));
        panic!(
            "seed {failed} failed: {message}\n--- trace (last 80 steps) ---\n{}\n{}",
            trace.unwrap_or_default(),
            replay_hint(failed)
        );
    }
    let coverage = coverage.into_inner().unwrap();
    println!(
        "{seeds} seeds in {:.1?} on {threads} threads: {coverage:#?}",
        started.elapsed()
    );
    if seeds >= 1000 {
        coverage.assert_broad();
    }
}

fn add_expiry(into: &mut ExpiryLog, from: &ExpiryLog) {
    into.refused_at_capture += from.refused_at_capture;
    into.replays_accepted += from.replays_accepted;
    into.queued += from.queued;
    into.while_paused += from.while_paused;
    into.retrying += from.retrying;
    into.on_answer += from.on_answer;
    into.hung += from.hung;
    into.delivered_late += from.delivered_late;
    into.exhausted_past_deadline += from.exhausted_past_deadline;
}

fn merge(into: &mut Coverage, from: Coverage) {
    into.seeds += from.seeds;
    into.steps_events += from.steps_events;
    into.requests += from.requests;
    into.retries += from.retries;
    into.status_429 += from.status_429;
    into.status_413 += from.status_413;
    into.final_4xx += from.final_4xx;
    into.v1_partial += from.v1_partial;
    into.lost_answers += from.lost_answers;
    into.duplicates += from.duplicates;
    into.hangs += from.hangs;
    into.gzip_requests += from.gzip_requests;
    into.delivered += from.delivered;
    for (k, v) in from.dropped {
        *into.dropped.entry(k).or_default() += v;
    }
    into.flush_completed += from.flush_completed;
    into.flush_timed_out += from.flush_timed_out;
    into.shutdown_drained += from.shutdown_drained;
    into.shutdown_deadline += from.shutdown_deadline;
    into.warnings += from.warnings;
    into.windows_completed += from.windows_completed;
    into.windows_handed_over += from.windows_handed_over;
    into.windows_dropped += from.windows_dropped;
    into.metered_seeds += from.metered_seeds;
    into.meter_updates += from.meter_updates;
    for (k, v) in from.meter_refused {
        *into.meter_refused.entry(k).or_default() += v;
    }
    into.meter_events += from.meter_events;
    for (k, v) in from.meter_refused_at_close {
        *into.meter_refused_at_close.entry(k).or_default() += v;
    }
    into.meter_delivered += from.meter_delivered;
    for (k, v) in from.meter_closes {
        *into.meter_closes.entry(k).or_default() += v;
    }
    into.expiry_seeds += from.expiry_seeds;
    add_expiry(&mut into.expiry, &from.expiry);
}

/// The same seed gives the same run, request for request.
#[test]
fn a_seed_replays_identically() {
    for seed in [3, 17, 4242] {
        let a = run_seed(seed, true).unwrap_or_else(|(m, _)| panic!("seed {seed}: {m}"));
        let b = run_seed(seed, true).unwrap_or_else(|(m, _)| panic!("seed {seed}: {m}"));
        assert_eq!(a.trace_tail(usize::MAX), b.trace_tail(usize::MAX));
        let bodies = |s: &Sim| {
            s.requests()
                .iter()
                .map(|r| (r.at, r.json.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(bodies(&a), bodies(&b));
    }
}

/// A whole gauge at or above 2^63 must go out as the number it is (the
/// core once wrote whole values as `value as i64`, which saturates: 1e19
/// went out as 9223372036854775807). Gauges, unlike counts, have no 2^53
/// bound.
#[test]
fn a_whole_gauge_beyond_i64_goes_out_exactly() {
    let mut sim = Sim::new(Config::new("phc_sim_key", "https://ingest.sim"));
    for value in [1.0e19, -1.0e19, 1.0e300] {
        sim.meter(MeterUpdate::gauge(
            "t-1",
            "bytes",
            value,
            MeterTags::Json(None),
        ))
        .unwrap();
        sim.flush_meters();
    }
    sim.finish();
}
