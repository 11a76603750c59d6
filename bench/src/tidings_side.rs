//! tidings-native in one scenario (runs in a child process).

use std::time::Duration;

use tidings_native::{Client, Config, Fate};

use crate::event::{API_KEY, tidings_event};
use crate::measure::{self, mono_ns};
use crate::side::{self, SETTLE, Scenario, SideReport};

pub fn config(scenario: Scenario, url: &str) -> Config {
    let mut config = Config::new(API_KEY, url);
    if scenario.equal_batches() {
        config.flush_at = 1000;
        config.max_batch_events = 1000;
        config.max_queue_events = 1_000_000;
        config.max_queue_bytes = 1 << 30;
    }
    if scenario == Scenario::Overflow {
        config.max_queue_events = 10_000;
    }
    config.gzip = scenario == Scenario::Gzip;
    config
}

pub fn run(scenario: Scenario, url: &str, events: u64) -> ! {
    let client = Client::new(config(scenario, url)).expect("valid config");
    let mut report = SideReport {
        lib: "tidings".into(),
        scenario: scenario.name().into(),
        events,
        ..Default::default()
    };
    let mut receipts = Vec::new();
    if scenario == Scenario::Receipts {
        receipts.reserve(events as usize);
        side::capture_loop(&mut report, tidings_event, |event| {
            let receipt = client
                .capture_with_receipt(event)
                .map_err(|e| e.reason().to_string())?;
            receipts.push(receipt);
            Ok(())
        });
    } else {
        side::capture_loop(&mut report, tidings_event, |event| {
            client
                .capture(event)
                .map(|_| ())
                .map_err(|e| e.reason().to_string())
        });
    }
    if scenario == Scenario::Memory {
        std::thread::sleep(SETTLE);
        report.rss_after = measure::rss_bytes();
        let stats = client.stats();
        report.pending_bytes = Some(stats.pending_bytes);
        report.pending_events = Some(stats.pending);
        report.outcome = "not flushed (endpoint never answers)".into();
    } else {
        let outcome = client.flush(Duration::from_secs(120));
        report.outcome = format!("{outcome:?}");
        if !receipts.is_empty() {
            let delivered = receipts.iter().filter(|r| r.fate() == Fate::Delivered).count();
            report.outcome += &format!(", receipts delivered {delivered} of {}", receipts.len());
        }
    }
    report.t_done_ns = mono_ns();
    let stats = client.stats();
    report.delivered_reported = Some(stats.delivered);
    report.stats_dropped = stats
        .dropped
        .iter()
        .map(|(reason, n)| (reason.to_string(), *n))
        .collect();
    side::finish(report)
}
