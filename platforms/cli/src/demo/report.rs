//! The demo's final report, as a table or as one JSON line.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// Everything the demo measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DemoReport {
    /// Events the demo asked to capture.
    pub captured: u64,
    /// Accepted by `capture` (the rest were refused with a reason).
    pub accepted: u64,
    /// Acknowledged by the collector, as the client counted them.
    pub delivered: u64,
    /// Dropped by reason (refusals at capture included).
    pub dropped: BTreeMap<String, u64>,
    pub dropped_total: u64,
    /// Still pending when the demo ended (0 after a completed shutdown).
    pub pending: u64,
    /// Distinct uuids of this run found in the collector's database.
    pub unique_at_collector: u64,
    /// Events the collector received more than once (lost answers, retried).
    pub duplicates_at_collector: u64,
    /// Accepted events neither in the collector nor dropped with a reason.
    pub unaccounted: u64,
    pub requests: u64,
    pub retries: u64,
    /// Collector answers by status.
    pub collector_statuses: BTreeMap<u16, u64>,
    pub collector_lost_answers: u64,
    pub collector_dropped_connections: u64,
    /// From the first capture until everything was delivered or dropped.
    pub seconds: f64,
    pub events_per_second: f64,
    /// Time inside one `capture` call.
    pub capture_p50_us: f64,
    pub capture_p99_us: f64,
    pub capture_max_us: f64,
}

impl DemoReport {
    /// Every event is accounted for and the counts add up.
    pub fn ok(&self) -> bool {
        self.unaccounted == 0
            && self.pending == 0
            && self.delivered + self.dropped_total == self.captured
    }
}

impl fmt::Display for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let row = |f: &mut fmt::Formatter<'_>, k: &str, v: String| writeln!(f, "  {k:<28} {v}");
        writeln!(f, "tidings demo report")?;
        row(f, "captured", self.captured.to_string())?;
        row(f, "delivered", self.delivered.to_string())?;
        row(
            f,
            "unique at the collector",
            self.unique_at_collector.to_string(),
        )?;
        row(
            f,
            "duplicates at the collector",
            self.duplicates_at_collector.to_string(),
        )?;
        if self.dropped.is_empty() {
            row(f, "dropped", "0".into())?;
        }
        for (reason, n) in &self.dropped {
            row(f, &format!("dropped ({reason})"), n.to_string())?;
        }
        row(f, "pending", self.pending.to_string())?;
        row(f, "unaccounted", self.unaccounted.to_string())?;
        row(
            f,
            "requests (retries)",
            format!("{} ({})", self.requests, self.retries),
        )?;
        let statuses: Vec<String> = self
            .collector_statuses
            .iter()
            .map(|(s, n)| format!("{s}×{n}"))
            .collect();
        row(f, "collector answers", statuses.join(" "))?;
        row(
            f,
            "collector faults",
            format!(
                "{} lost answers, {} dropped connections",
                self.collector_lost_answers, self.collector_dropped_connections
            ),
        )?;
        row(f, "time", format!("{:.2} s", self.seconds))?;
        row(
            f,
            "events per second",
            format!("{:.0}", self.events_per_second),
        )?;
        row(
            f,
            "capture call p50 / p99 / max",
            format!(
                "{:.2} µs / {:.2} µs / {:.1} µs",
                self.capture_p50_us, self.capture_p99_us, self.capture_max_us
            ),
        )?;
        write!(
            f,
            "  {}",
            if self.ok() {
                "every event is accounted for"
            } else {
                "SOME EVENTS ARE UNACCOUNTED FOR"
            }
        )
    }
}

/// The `q`-quantile of sorted nanoseconds, in microseconds.
pub fn quantile_us(sorted_ns: &[u64], q: f64) -> f64 {
    if sorted_ns.is_empty() {
        return 0.0;
    }
    let i = ((sorted_ns.len() - 1) as f64 * q).round() as usize;
    sorted_ns[i.min(sorted_ns.len() - 1)] as f64 / 1000.0
}
