//! `tidings demo`: an embedded collector with faults switched on, N
//! realistic events through `tidings-native`, a live progress bar, and a
//! report that proves every event is accounted for.

mod events;
mod report;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tidings::{Config, Notice, Protocol};
use tidings_native::Client;

use crate::collect::{Collector, CollectorOptions, Faults};
pub use events::demo_event;
pub use report::DemoReport;
use report::quantile_us;

/// What to run.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub events: u64,
    pub protocol: Protocol,
    pub gzip: bool,
    pub faults: Faults,
    /// Collector database (`:memory:` by default).
    pub db: String,
    /// Seed of the client (uuids, jitter).
    pub seed: u64,
    pub progress: bool,
    /// How long to wait for delivery before shutting down.
    pub timeout: Duration,
}

impl DemoOptions {
    /// The demo's default faults: a little of everything.
    pub fn default_faults() -> Faults {
        Faults {
            seed: 1,
            fail_rate: 0.10,
            fail_first: 0,
            fail_for_ms: 0,
            fail_status: 503,
            rate_limit_rate: 0.02,
            retry_after: "1".into(),
            max_body_bytes: Some(256 * 1024),
            latency_ms: 1..=20,
            drop_connection_rate: 0.01,
            lose_answer_rate: 0.01,
        }
    }
}

/// Runs the demo and reports.
pub fn run(options: &DemoOptions) -> Result<DemoReport, String> {
    let collector = Collector::start(CollectorOptions {
        db: options.db.clone(),
        reset: true,
        faults: options.faults.clone(),
        ..Default::default()
    })?;
    let mut config = Config::new("phc_tidings_demo", collector.url());
    config.protocol = options.protocol;
    config.gzip = options.gzip;
    config.flush_interval = Duration::from_millis(200);
    config.retry.initial_backoff = Duration::from_millis(50);
    config.retry.max_backoff = Duration::from_millis(500);
    config.retry.max_attempts = 10;
    config.request_timeout = Duration::from_secs(5);
    if options.protocol == Protocol::Json {
        config.host = format!("{}/events", collector.url());
        config.headers.push(("X-Write-Key".into(), "demo".into()));
    }

    let dropped_uuids = Arc::new(Mutex::new(HashSet::new()));
    let seen = dropped_uuids.clone();
    let client = Client::builder(config)
        .seed(options.seed)
        .on_notice(move |notice| {
            if let Notice::Dropped { uuids, .. } = notice {
                seen.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(uuids.iter().copied());
            }
        })
        .build()
        .map_err(|e| e.to_string())?;

    let bar = progress_bar(options);
    let started = Instant::now();
    let mut accepted = Vec::with_capacity(options.events as usize);
    let mut latencies = Vec::with_capacity(options.events as usize);
    for i in 0..options.events {
        let event = demo_event(i);
        let t = Instant::now();
        let result = client.capture(event);
        latencies.push(t.elapsed().as_nanos() as u64);
        if let Ok(uuid) = result {
            accepted.push(uuid);
        }
        if i % 4096 == 0 {
            update(&bar, &client);
        }
    }
    let deadline = started + options.timeout;
    while Instant::now() < deadline {
        let stats = client.stats();
        update(&bar, &client);
        if stats.pending == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    client.shutdown(Duration::from_secs(5));
    let seconds = started.elapsed().as_secs_f64();
    update(&bar, &client);
    bar.finish_and_clear();

    let stats = client.stats();
    let stored = collector.store().uuids().map_err(|e| e.to_string())?;
    let dropped = dropped_uuids.lock().unwrap_or_else(|e| e.into_inner());
    let ours_stored = accepted
        .iter()
        .filter(|u| stored.contains(&u.to_string()))
        .count() as u64;
    let unaccounted = accepted
        .iter()
        .filter(|u| !dropped.contains(*u) && !stored.contains(&u.to_string()))
        .count() as u64;
    latencies.sort_unstable();
    let collector_stats = collector.stats();
    Ok(DemoReport {
        captured: stats.captured,
        accepted: accepted.len() as u64,
        delivered: stats.delivered,
        dropped: stats
            .dropped
            .iter()
            .map(|(r, n)| (r.to_string(), *n))
            .collect(),
        dropped_total: stats.dropped_total(),
        pending: stats.pending,
        unique_at_collector: ours_stored,
        duplicates_at_collector: collector_stats.duplicates,
        unaccounted,
        requests: stats.requests,
        retries: stats.retries,
        collector_statuses: collector_stats.statuses,
        collector_lost_answers: collector_stats.lost_answers,
        collector_dropped_connections: collector_stats.dropped_connections,
        seconds,
        events_per_second: stats.captured as f64 / seconds.max(1e-9),
        capture_p50_us: quantile_us(&latencies, 0.50),
        capture_p99_us: quantile_us(&latencies, 0.99),
        capture_max_us: quantile_us(&latencies, 1.0),
    })
}

fn progress_bar(options: &DemoOptions) -> ProgressBar {
    if !options.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(options.events);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} resolved {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

fn update(bar: &ProgressBar, client: &Client) {
    if bar.is_hidden() {
        return;
    }
    let s = client.stats();
    bar.set_position(s.delivered + s.dropped_total());
    bar.set_message(format!(
        "(queued {}, in flight {}, retries {})",
        s.queued, s.in_flight, s.retries
    ));
}
