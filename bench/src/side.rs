//! One library in one configuration, in a child process of its own so that
//! CPU time and peak RSS are that library's alone: what the child measures
//! and prints (one JSON line), and the capture loop both sides share.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::measure::{self, mono_ns};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Each library's defaults, loopback sink answering at once.
    Defaults,
    /// Batches of 1,000 and a queue that holds every event, for both.
    Equal,
    /// Defaults (queue large enough to drop nothing), every answer held 20 ms.
    Delay20,
    /// As `Equal`, with gzip on.
    Gzip,
    /// 100,000 events behind an endpoint that never answers.
    Memory,
    /// A burst of 100,000 events with default settings.
    Burst,
    /// A burst of 100,000 events into a queue of 10,000 (posthog-rs's
    /// default) with 20 ms answers: how each side reports what it drops.
    Overflow,
    /// As `Equal`, with a receipt asked for every Tidings event (posthog-rs
    /// has none: it runs `Equal` again as the same-run reference).
    Receipts,
}

impl Scenario {
    pub const ALL: [Scenario; 8] = [
        Scenario::Defaults,
        Scenario::Equal,
        Scenario::Delay20,
        Scenario::Gzip,
        Scenario::Memory,
        Scenario::Burst,
        Scenario::Overflow,
        Scenario::Receipts,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Defaults => "defaults",
            Scenario::Equal => "equal",
            Scenario::Delay20 => "delay20",
            Scenario::Gzip => "gzip",
            Scenario::Memory => "memory",
            Scenario::Burst => "burst",
            Scenario::Overflow => "overflow",
            Scenario::Receipts => "receipts",
        }
    }

    pub fn parse(s: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|c| c.name() == s)
    }

    /// Batches of 1,000 and a queue that holds everything.
    pub fn equal_batches(self) -> bool {
        matches!(self, Scenario::Equal | Scenario::Gzip | Scenario::Receipts)
    }
}

/// What a child reports about its run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SideReport {
    pub lib: String,
    pub scenario: String,
    pub events: u64,
    /// `capture` calls that returned `Ok` (posthog-rs returns nothing: all).
    pub accepted: u64,
    /// Tidings: refusals returned by `capture`, by reason.
    pub capture_errors: BTreeMap<String, u64>,
    /// Tidings: `stats().dropped` by reason at the end.
    pub stats_dropped: BTreeMap<String, u64>,
    /// Tidings: `stats().delivered` at the end.
    pub delivered_reported: Option<u64>,
    /// How the library said it finished (flush outcome).
    pub outcome: String,
    pub t_start_ns: u64,
    pub t_captured_ns: u64,
    pub t_done_ns: u64,
    pub cpu_s: f64,
    pub max_rss_kb: u64,
    /// Capture-call latency p50, p99, p999, max (ns).
    pub latency_ns: [u64; 4],
    /// Memory scenario: RSS before the first capture and once settled.
    pub rss_before: u64,
    pub rss_after: u64,
    /// Tidings, memory scenario: `stats().pending_bytes` once settled.
    pub pending_bytes: Option<u64>,
    /// Tidings, memory scenario: `stats().pending`.
    pub pending_events: Option<u64>,
}

/// How long the memory scenario lets the worker settle before reading RSS.
pub const SETTLE: Duration = Duration::from_millis(500);

/// Builds each event (untimed), times the `capture` call alone, and fills
/// the timing fields of `report`. `capture` returns `Err(reason)` for a
/// refusal the library reports.
pub fn capture_loop<E>(
    report: &mut SideReport,
    build: impl Fn(u64) -> E,
    mut capture: impl FnMut(E) -> Result<(), String>,
) {
    let n = report.events;
    // Touched before RSS is read, so the latency array is not counted as
    // queue memory.
    let mut latencies = vec![1u32; n as usize];
    report.rss_before = measure::rss_bytes();
    report.t_start_ns = mono_ns();
    for i in 0..n {
        let event = build(i);
        let before = Instant::now();
        let result = capture(event);
        latencies[i as usize] = before.elapsed().as_nanos().min(u32::MAX as u128) as u32;
        match result {
            Ok(()) => report.accepted += 1,
            Err(reason) => *report.capture_errors.entry(reason).or_default() += 1,
        }
    }
    report.t_captured_ns = mono_ns();
    report.latency_ns = measure::percentiles(&mut latencies);
}

/// Finishes the report with this process's counters, prints it and exits
/// without running destructors (a client's drop would wait on shutdown).
pub fn finish(mut report: SideReport) -> ! {
    let usage = measure::usage();
    report.cpu_s = usage.cpu_s;
    report.max_rss_kb = usage.max_rss_kb;
    let line = serde_json::to_string(&report).expect("serializable");
    println!("{line}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::process::exit(0)
}
