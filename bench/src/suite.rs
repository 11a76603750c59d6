//! The whole suite: section 1 in this process, sections 2-4 as child
//! processes (one per library, scenario and run) against a sink in this
//! process; runs alternate between the sides and medians are kept.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::floor::Encoded;
use crate::measure::{self, median};
use crate::side::{Scenario, SideReport};
use crate::sink::{Mode, Sink, SinkStats};
use crate::{core_bench, floor};

pub struct Options {
    pub runs: usize,
    pub events: u64,
    pub small_events: u64,
    pub core_events: u64,
}

/// One child run and what the sink saw of it.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub side: SideReport,
    #[serde(skip)]
    pub sink: SinkStats,
    pub sink_events: u64,
    pub sink_requests: u64,
    pub sink_json_bytes: u64,
    pub sink_wire_bytes: u64,
    pub sink_connections: u64,
    /// Requests the sink could not read (should be 0).
    pub sink_bad_requests: u64,
    pub sink_cpu_s: f64,
    /// From the first capture until the sink had the last event.
    pub delivery_s: f64,
    /// From the first capture until the library said it was done.
    pub done_s: f64,
    pub delivered_per_s: f64,
}

impl Run {
    fn new(side: SideReport, sink: SinkStats, sink_cpu_s: f64) -> Run {
        let secs = |end: u64| end.saturating_sub(side.t_start_ns) as f64 / 1e9;
        let delivery_s = if sink.events > 0 {
            secs(sink.last_arrival_ns)
        } else {
            f64::NAN
        };
        Run {
            sink_events: sink.events,
            sink_requests: sink.requests,
            sink_json_bytes: sink.json_bytes,
            sink_wire_bytes: sink.wire_bytes,
            sink_connections: sink.connections,
            sink_bad_requests: sink.bad_requests,
            sink_cpu_s,
            delivered_per_s: sink.events as f64 / delivery_s,
            delivery_s,
            done_s: secs(side.t_done_ns),
            side,
            sink,
        }
    }

    /// Events that never reached the sink.
    pub fn lost(&self) -> u64 {
        self.side.events.saturating_sub(self.sink.events)
    }
}

/// Section 1: one variant, medians over the runs.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EncodeSummary {
    pub events_per_s: f64,
    pub mb_per_s: f64,
    pub json_bytes_per_event: f64,
    pub wire_bytes_per_event: f64,
    pub runs_events_per_s: Vec<f64>,
}

fn summarize_encoded(runs: &[Encoded]) -> EncodeSummary {
    let m = |f: fn(&Encoded) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    EncodeSummary {
        events_per_s: m(Encoded::events_per_s),
        mb_per_s: m(Encoded::mb_per_s),
        json_bytes_per_event: m(Encoded::json_bytes_per_event),
        wire_bytes_per_event: m(Encoded::wire_bytes_per_event),
        runs_events_per_s: runs.iter().map(Encoded::events_per_s).collect(),
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CoreSection {
    pub events: u64,
    pub floor_plain: EncodeSummary,
    pub core_plain: EncodeSummary,
    pub floor_gzip: EncodeSummary,
    pub core_gzip: EncodeSummary,
    pub floor_prebuilt: EncodeSummary,
    pub core_prebuilt: EncodeSummary,
}

pub fn core_section(opts: &Options) -> CoreSection {
    let n = opts.core_events;
    let variants: [(&str, fn(u64, bool) -> Encoded, bool); 6] = [
        ("floor, plain", floor::from_inputs, false),
        ("core, plain", core_bench::from_inputs, false),
        ("floor, gzip", floor::from_inputs, true),
        ("core, gzip", core_bench::from_inputs, true),
        ("floor, prebuilt structs", floor::prebuilt, false),
        ("core, prebuilt events", core_bench::prebuilt, false),
    ];
    let mut results: Vec<Vec<Encoded>> = vec![Vec::new(); variants.len()];
    // Warm-up, untimed: page in the code and the allocator.
    for (_, f, gzip) in &variants {
        f(n / 10, *gzip);
    }
    for run in 0..opts.runs {
        for (k, (name, f, gzip)) in variants.iter().enumerate() {
            let out = f(n, *gzip);
            eprintln!(
                "  run {} {name:<24} {:>10.0} events/s {:>7.1} MB/s {:>6.1} B/event json {:>6.1} wire",
                run + 1,
                out.events_per_s(),
                out.mb_per_s(),
                out.json_bytes_per_event(),
                out.wire_bytes_per_event()
            );
            results[k].push(out);
        }
    }
    let s = |k: usize| summarize_encoded(&results[k]);
    CoreSection {
        events: n,
        floor_plain: s(0),
        core_plain: s(1),
        floor_gzip: s(2),
        core_gzip: s(3),
        floor_prebuilt: s(4),
        core_prebuilt: s(5),
    }
}

/// Medians of one library in one scenario.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SideSummary {
    pub events: u64,
    pub delivered_per_s: f64,
    pub delivery_s: f64,
    pub done_s: f64,
    pub capture_loop_per_s: f64,
    pub cpu_s: f64,
    pub cpu_us_per_event: f64,
    pub peak_rss_mb: f64,
    pub latency_p50_ns: f64,
    pub latency_p99_ns: f64,
    pub latency_p999_ns: f64,
    pub latency_max_ns: f64,
    /// Events the sink never got (median; max over runs below).
    pub lost: f64,
    pub lost_max: u64,
    pub sink_events: f64,
    pub sink_json_bytes_per_event: f64,
    pub sink_wire_bytes_per_event: f64,
    pub sink_requests: f64,
    pub sink_cpu_s: f64,
    /// Sink CPU over (run time x cores): its share of the machine.
    pub sink_machine_share: f64,
    /// Memory scenario: RSS growth per queued event, bytes.
    pub rss_growth_per_event: f64,
    /// Memory scenario, Tidings: pending bytes per pending event.
    pub pending_bytes_per_event: f64,
    /// Tidings: refusals by reason, and stats().dropped by reason (last run).
    pub capture_errors: std::collections::BTreeMap<String, u64>,
    pub stats_dropped: std::collections::BTreeMap<String, u64>,
    pub outcome: String,
    pub runs: Vec<Run>,
}

fn summarize_side(runs: Vec<Run>, cores: f64) -> SideSummary {
    let m = |f: &dyn Fn(&Run) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    let per_event = |r: &Run, bytes: u64| bytes as f64 / r.sink.events.max(1) as f64;
    let last = runs.last().cloned();
    SideSummary {
        events: runs.first().map_or(0, |r| r.side.events),
        delivered_per_s: m(&|r| r.delivered_per_s),
        delivery_s: m(&|r| r.delivery_s),
        done_s: m(&|r| r.done_s),
        capture_loop_per_s: m(&|r| {
            r.side.events as f64 / ((r.side.t_captured_ns - r.side.t_start_ns) as f64 / 1e9)
        }),
        cpu_s: m(&|r| r.side.cpu_s),
        cpu_us_per_event: m(&|r| r.side.cpu_s * 1e6 / r.side.events as f64),
        peak_rss_mb: m(&|r| r.side.max_rss_kb as f64 / 1024.0),
        latency_p50_ns: m(&|r| r.side.latency_ns[0] as f64),
        latency_p99_ns: m(&|r| r.side.latency_ns[1] as f64),
        latency_p999_ns: m(&|r| r.side.latency_ns[2] as f64),
        latency_max_ns: m(&|r| r.side.latency_ns[3] as f64),
        lost: m(&|r| r.lost() as f64),
        lost_max: runs.iter().map(Run::lost).max().unwrap_or(0),
        sink_events: m(&|r| r.sink.events as f64),
        sink_json_bytes_per_event: m(&|r| per_event(r, r.sink.json_bytes)),
        sink_wire_bytes_per_event: m(&|r| per_event(r, r.sink.wire_bytes)),
        sink_requests: m(&|r| r.sink.requests as f64),
        sink_cpu_s: m(&|r| r.sink_cpu_s),
        sink_machine_share: m(&|r| r.sink_cpu_s / (r.done_s.max(r.delivery_s) * cores)),
        rss_growth_per_event: m(&|r| {
            (r.side.rss_after as f64 - r.side.rss_before as f64) / r.side.events as f64
        }),
        pending_bytes_per_event: m(&|r| match (r.side.pending_bytes, r.side.pending_events) {
            (Some(bytes), Some(events)) if events > 0 => bytes as f64 / events as f64,
            _ => f64::NAN,
        }),
        capture_errors: last
            .as_ref()
            .map(|r| r.side.capture_errors.clone())
            .unwrap_or_default(),
        stats_dropped: last
            .as_ref()
            .map(|r| r.side.stats_dropped.clone())
            .unwrap_or_default(),
        outcome: last.map(|r| r.side.outcome).unwrap_or_default(),
        runs,
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Pair {
    pub scenario: String,
    pub tidings: SideSummary,
    pub posthog: SideSummary,
}

fn sink_mode(scenario: Scenario) -> Mode {
    match scenario {
        Scenario::Delay20 | Scenario::Overflow => Mode::Answer {
            delay: Duration::from_millis(20),
        },
        Scenario::Memory => Mode::Never,
        _ => Mode::Answer {
            delay: Duration::ZERO,
        },
    }
}

/// Runs one side once in a child process against a fresh sink.
fn run_child(lib: &str, scenario: Scenario, events: u64) -> Run {
    let sink = Sink::start(sink_mode(scenario));
    let before = measure::usage().cpu_s;
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .args([
            "side",
            lib,
            scenario.name(),
            &sink.url(),
            &events.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the child");
    let pid = child.id();
    // The child ends by itself; this only guards against a hang.
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(Duration::from_secs(300)).is_err() {
            eprintln!("  child {pid} ran over 300 s: killing it");
            // SAFETY: kill(2) on the pid of our own child.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    });
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    let _ = child.wait();
    let _ = done_tx.send(());
    let _ = watchdog.join();
    let stats = sink.stop();
    let sink_cpu = measure::usage().cpu_s - before;
    let line = out.lines().last().unwrap_or_default();
    let side: SideReport = serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "{lib} {} child printed no report ({e}): {out:?}",
            scenario.name()
        )
    });
    Run::new(side, stats, sink_cpu)
}

fn label(lib: &str) -> &'static str {
    if lib == "tidings" {
        "tidings   "
    } else {
        "posthog-rs"
    }
}

/// Sections 2-4: every scenario, both sides, alternating.
pub fn pairs(opts: &Options, scenarios: &[Scenario]) -> Vec<Pair> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as f64;
    let mut out = Vec::new();
    for &scenario in scenarios {
        let events = match scenario {
            Scenario::Memory | Scenario::Burst | Scenario::Overflow => opts.small_events,
            _ => opts.events,
        };
        eprintln!("== {} ({events} events)", scenario.name());
        let (mut tidings, mut posthog) = (Vec::new(), Vec::new());
        for run in 0..opts.runs {
            let order = if run % 2 == 0 {
                ["tidings", "posthog"]
            } else {
                ["posthog", "tidings"]
            };
            for lib in order {
                let started = Instant::now();
                let r = run_child(lib, scenario, events);
                eprintln!(
                    "  run {} {} {:>9.0} delivered/s  sink {:>7} events  cpu {:>5.2} s  rss {:>6.1} MB  p99 {:>6} ns  p999 {:>7} ns  ({:.1} s)",
                    run + 1,
                    label(lib),
                    r.delivered_per_s,
                    r.sink.events,
                    r.side.cpu_s,
                    r.side.max_rss_kb as f64 / 1024.0,
                    r.side.latency_ns[1],
                    r.side.latency_ns[2],
                    started.elapsed().as_secs_f64()
                );
                if r.sink_bad_requests > 0 {
                    eprintln!("  the sink could not read {} requests", r.sink_bad_requests);
                }
                if lib == "tidings" {
                    &mut tidings
                } else {
                    &mut posthog
                }
                .push(r);
            }
        }
        out.push(Pair {
            scenario: scenario.name().into(),
            tidings: summarize_side(tidings, cores),
            posthog: summarize_side(posthog, cores),
        });
    }
    out
}

/// One run of one side (for profiling): the run as the suite records it.
pub fn pairs_one(opts: &Options, lib: &str, scenario: Scenario) -> Run {
    let events = match scenario {
        Scenario::Memory | Scenario::Burst | Scenario::Overflow => opts.small_events,
        _ => opts.events,
    };
    run_child(lib, scenario, events)
}
