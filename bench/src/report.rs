//! Targets, and the two outputs of a suite run: `RESULTS.md` and
//! `results.json`, with the same figures.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::suite::{CoreSection, EncodeSummary, Pair, SideSummary};

/// The machine and the software measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Machine {
    pub date_utc: String,
    pub cpu: String,
    pub cores: usize,
    pub kernel: String,
    pub rustc: String,
    pub load_before: String,
    pub load_after: String,
    pub versions: Vec<(String, String)>,
    pub suite_seconds: f64,
    pub runs: usize,
}

fn command(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Versions as locked in the bench's own Cargo.lock.
fn locked_versions() -> Vec<(String, String)> {
    let lock = include_str!("../Cargo.lock");
    let wanted = [
        "tidings",
        "tidings-native",
        "posthog-rs",
        "ureq",
        "reqwest",
        "serde_json",
        "flate2",
    ];
    let mut out = Vec::new();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if let Some(name) = line
            .strip_prefix("name = \"")
            .and_then(|s| s.strip_suffix('"'))
            && wanted.contains(&name)
            && let Some(version) = lines
                .next()
                .and_then(|v| v.strip_prefix("version = \""))
                .and_then(|v| v.strip_suffix('"'))
        {
            out.push((name.to_owned(), version.to_owned()));
        }
    }
    out
}

pub fn machine(load_before: String, suite_seconds: f64, runs: usize) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    Machine {
        date_utc: command("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        cpu,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        kernel: command("uname", &["-r"]),
        rustc: command("rustc", &["--version"]),
        load_before,
        load_after: loadavg(),
        versions: locked_versions(),
        suite_seconds,
        runs,
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Target {
    pub key: &'static str,
    pub figure: &'static str,
    pub target: &'static str,
    pub measured: String,
    /// Measured over reference (a speed-up), or over the limit (a cost).
    pub ratio: f64,
    pub met: bool,
}

fn pair<'a>(pairs: &'a [Pair], name: &str) -> Option<&'a Pair> {
    pairs.iter().find(|p| p.scenario == name)
}

fn speedup(key: &'static str, figure: &'static str, min: f64, t: f64, p: f64) -> Target {
    let ratio = t / p;
    Target {
        key,
        figure,
        target: match min {
            x if x >= 2.5 && x < 5.0 => "≥ 3× posthog-rs",
            x if x >= 5.0 => "≥ 10× posthog-rs",
            _ => "≥ 2× posthog-rs",
        },
        measured: format!("{t:.0} vs {p:.0} events/s"),
        ratio,
        met: ratio >= min,
    }
}

pub fn targets(core: Option<&CoreSection>, pairs: &[Pair]) -> Vec<Target> {
    let mut out = Vec::new();
    if let Some(c) = core {
        let ratio = c.core_plain.events_per_s / c.floor_plain.events_per_s;
        out.push(Target {
            key: "core",
            figure: "core events/s vs encoding floor (same inputs, plain)",
            target: "≥ 0.8×",
            measured: format!(
                "{:.0} vs {:.0} events/s",
                c.core_plain.events_per_s, c.floor_plain.events_per_s
            ),
            ratio,
            met: ratio >= 0.8,
        });
    }
    if let Some(p) = pair(pairs, "equal") {
        out.push(speedup(
            "equal",
            "end to end, equal batches (1,000), loopback",
            3.0,
            p.tidings.delivered_per_s,
            p.posthog.delivered_per_s,
        ));
    }
    if let Some(p) = pair(pairs, "delay20") {
        out.push(speedup(
            "delay20",
            "end to end, 20 ms answers, each library's defaults",
            10.0,
            p.tidings.delivered_per_s,
            p.posthog.delivered_per_s,
        ));
    }
    if let Some(p) = pair(pairs, "gzip") {
        out.push(speedup(
            "gzip",
            "gzip on, end to end, equal batches",
            2.0,
            p.tidings.delivered_per_s,
            p.posthog.delivered_per_s,
        ));
    }
    // Capture latency while the worker sends: the worst median over the
    // end-to-end scenarios.
    let sending: Vec<(&str, &SideSummary)> = ["defaults", "equal", "delay20", "gzip"]
        .into_iter()
        .filter_map(|n| pair(pairs, n).map(|p| (n, &p.tidings)))
        .collect();
    let spread = |f: fn(&SideSummary) -> f64| {
        let worst = sending.iter().max_by(|a, b| f(a.1).total_cmp(&f(b.1)));
        let best = sending.iter().min_by(|a, b| f(a.1).total_cmp(&f(b.1)));
        worst.zip(best).map(|(w, b)| {
            let text = format!(
                "{:.2} µs ({}); best {:.2} µs ({})",
                f(w.1) / 1000.0,
                w.0,
                f(b.1) / 1000.0,
                b.0
            );
            (f(w.1), text)
        })
    };
    if let Some((p99, text)) = spread(|s| s.latency_p99_ns) {
        out.push(Target {
            key: "p99",
            figure: "capture call p99 while the worker sends (worst scenario)",
            target: "≤ 1 µs",
            measured: text,
            ratio: p99 / 1000.0,
            met: p99 <= 1000.0,
        });
    }
    if let Some((p999, text)) = spread(|s| s.latency_p999_ns) {
        out.push(Target {
            key: "p999",
            figure: "capture call p999 while the worker sends (worst scenario)",
            target: "≤ 5 µs",
            measured: text,
            ratio: p999 / 5000.0,
            met: p999 <= 5000.0,
        });
    }
    if let Some(p) = pair(pairs, "memory") {
        let t = &p.tidings;
        let ratio = t.rss_growth_per_event / t.pending_bytes_per_event;
        out.push(Target {
            key: "memory",
            figure: "memory per queued event vs its encoded bytes",
            target: "≤ 1.5×",
            measured: format!(
                "{:.0} B RSS vs {:.0} B encoded",
                t.rss_growth_per_event, t.pending_bytes_per_event
            ),
            ratio,
            met: ratio <= 1.5,
        });
    }
    if let Some(p) = pair(pairs, "burst") {
        let dropped = p.tidings.lost_max;
        out.push(Target {
            key: "burst",
            figure: "burst of 100,000 events, default settings: dropped",
            target: "0 dropped",
            measured: format!("{dropped} (posthog-rs: {:.0})", p.posthog.lost),
            ratio: dropped as f64,
            met: dropped == 0,
        });
    }
    out
}

#[derive(Serialize)]
pub struct Results<'a> {
    pub machine: &'a Machine,
    pub targets: &'a [Target],
    pub core_vs_floor: Option<&'a CoreSection>,
    pub end_to_end: &'a [Pair],
}

fn f0(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.0}")
    } else {
        "–".into()
    }
}

fn f1(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1}")
    } else {
        "–".into()
    }
}

fn ratio(t: f64, p: f64) -> String {
    if t.is_finite() && p.is_finite() && p != 0.0 {
        format!("{:.2}×", t / p)
    } else {
        "–".into()
    }
}

fn encode_row(md: &mut String, name: &str, e: &EncodeSummary, floor: &EncodeSummary) {
    let _ = writeln!(
        md,
        "| {name} | {} | {} | {} | {} | {} |",
        f0(e.events_per_s),
        f0(e.mb_per_s),
        f1(e.json_bytes_per_event),
        f1(e.wire_bytes_per_event),
        ratio(e.events_per_s, floor.events_per_s)
    );
}

fn reasons(map: &std::collections::BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn side_table(md: &mut String, p: &Pair) {
    let (t, q) = (&p.tidings, &p.posthog);
    let _ = writeln!(
        md,
        "| figure (median of {} runs) | tidings-native | posthog-rs | ratio |",
        t.runs.len()
    );
    let _ = writeln!(md, "| --- | --- | --- | --- |");
    let mut row = |name: &str, a: String, b: String, r: String| {
        let _ = writeln!(md, "| {name} | {a} | {b} | {r} |");
    };
    row(
        "delivered events/s (until the sink had the last)",
        f0(t.delivered_per_s),
        f0(q.delivered_per_s),
        ratio(t.delivered_per_s, q.delivered_per_s),
    );
    row(
        "events the sink received",
        f0(t.sink_events),
        f0(q.sink_events),
        String::new(),
    );
    row(
        "events lost (median / worst run)",
        format!("{} / {}", f0(t.lost), t.lost_max),
        format!("{} / {}", f0(q.lost), q.lost_max),
        String::new(),
    );
    row(
        "time to deliver, s",
        format!("{:.2}", t.delivery_s),
        format!("{:.2}", q.delivery_s),
        String::new(),
    );
    row(
        "capture loop events/s (building events included)",
        f0(t.capture_loop_per_s),
        f0(q.capture_loop_per_s),
        ratio(t.capture_loop_per_s, q.capture_loop_per_s),
    );
    row(
        "process CPU s",
        format!("{:.2}", t.cpu_s),
        format!("{:.2}", q.cpu_s),
        ratio(q.cpu_s, t.cpu_s) + " less",
    );
    row(
        "CPU µs per event",
        format!("{:.2}", t.cpu_us_per_event),
        format!("{:.2}", q.cpu_us_per_event),
        String::new(),
    );
    row(
        "peak RSS, MB",
        f1(t.peak_rss_mb),
        f1(q.peak_rss_mb),
        String::new(),
    );
    row(
        "capture p50 / p99 / p999, ns",
        format!(
            "{} / {} / {}",
            f0(t.latency_p50_ns),
            f0(t.latency_p99_ns),
            f0(t.latency_p999_ns)
        ),
        format!(
            "{} / {} / {}",
            f0(q.latency_p50_ns),
            f0(q.latency_p99_ns),
            f0(q.latency_p999_ns)
        ),
        String::new(),
    );
    row(
        "requests; JSON bytes per event; wire bytes per event",
        format!(
            "{}; {}; {}",
            f0(t.sink_requests),
            f1(t.sink_json_bytes_per_event),
            f1(t.sink_wire_bytes_per_event)
        ),
        format!(
            "{}; {}; {}",
            f0(q.sink_requests),
            f1(q.sink_json_bytes_per_event),
            f1(q.sink_wire_bytes_per_event)
        ),
        String::new(),
    );
    row(
        "sink CPU s (share of the machine)",
        format!(
            "{:.2} ({:.0} %)",
            t.sink_cpu_s,
            t.sink_machine_share * 100.0
        ),
        format!(
            "{:.2} ({:.0} %)",
            q.sink_cpu_s,
            q.sink_machine_share * 100.0
        ),
        String::new(),
    );
    row(
        "how drops were reported",
        format!(
            "capture errors: {}; stats dropped: {}",
            reasons(&t.capture_errors),
            reasons(&t.stats_dropped)
        ),
        "not reported (capture returns nothing)".into(),
        String::new(),
    );
}

/// The "what limits it" paragraphs, from `notes/limits.md` (written from
/// profiles), by target key: `## key` headings.
fn limits(dir: &Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("notes/limits.md")).ok()?;
    let start = text.find(&format!("## {key}\n"))?;
    let body = &text[start + key.len() + 4..];
    let end = body.find("\n## ").unwrap_or(body.len());
    Some(body[..end].trim().to_owned())
}

pub fn markdown(r: &Results<'_>, dir: &Path) -> String {
    let m = r.machine;
    let mut md = String::new();
    let _ = writeln!(md, "# Native benchmark results\n");
    let _ = writeln!(
        md,
        "Generated by `bench/run` (do not edit by hand; `bench/notes/limits.md` holds the profiling notes quoted below).\n"
    );
    let _ = writeln!(md, "- date: {}", m.date_utc);
    let _ = writeln!(
        md,
        "- machine: {} × {} ({}), Linux {}, {}",
        m.cores, m.cpu, "shared", m.kernel, m.rustc
    );
    let _ = writeln!(
        md,
        "- load average before / after: {} / {}",
        m.load_before, m.load_after
    );
    let versions: Vec<String> = m.versions.iter().map(|(n, v)| format!("{n} {v}")).collect();
    let _ = writeln!(md, "- versions: {}", versions.join(", "));
    let _ = writeln!(
        md,
        "- {} runs per side, alternated, medians; suite {:.0} s (release build excluded)\n",
        m.runs, m.suite_seconds
    );

    let _ = writeln!(md, "## Targets\n");
    let _ = writeln!(md, "| figure | target | measured | ratio | met |");
    let _ = writeln!(md, "| --- | --- | --- | --- | --- |");
    for t in r.targets {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.2} | {} |",
            t.figure,
            t.target,
            t.measured,
            t.ratio,
            if t.met { "met" } else { "**not met**" }
        );
    }

    if let Some(c) = r.core_vs_floor {
        let _ = writeln!(md, "\n## 1. The core against the encoding floor\n");
        let _ = writeln!(
            md,
            "{} benchmark events per run, bodies of 1,000 events, one thread, no network. \"Same inputs\": the index and the clock go in, body bytes come out (the floor formats the id, draws a uuid v7, reads the clock, builds typed structs and serializes them; the core builds each `Event` and runs capture → poll_transmit → `body.to_bytes()` → 200). \"Prebuilt\": events built before timing.\n",
            c.events
        );
        let _ = writeln!(
            md,
            "| variant | events/s | MB/s (JSON) | JSON B/event | wire B/event | vs floor |"
        );
        let _ = writeln!(md, "| --- | --- | --- | --- | --- | --- |");
        encode_row(
            &mut md,
            "floor, same inputs",
            &c.floor_plain,
            &c.floor_plain,
        );
        encode_row(
            &mut md,
            "**core**, same inputs",
            &c.core_plain,
            &c.floor_plain,
        );
        encode_row(
            &mut md,
            "floor, same inputs, gzip",
            &c.floor_gzip,
            &c.floor_gzip,
        );
        encode_row(
            &mut md,
            "**core**, same inputs, gzip",
            &c.core_gzip,
            &c.floor_gzip,
        );
        encode_row(
            &mut md,
            "floor, prebuilt structs (serialize only)",
            &c.floor_prebuilt,
            &c.floor_prebuilt,
        );
        encode_row(
            &mut md,
            "core, prebuilt events (capture + body only)",
            &c.core_prebuilt,
            &c.floor_prebuilt,
        );
    }

    let titles = [
        (
            "defaults",
            "## 2a. End to end, each library's defaults (burst of the whole run)",
        ),
        (
            "equal",
            "## 2b. End to end, equal batches of 1,000, queue large enough for both",
        ),
        (
            "delay20",
            "## 2c. End to end, the sink holds every answer 20 ms, defaults (posthog-rs queue raised to hold the run)",
        ),
        ("gzip", "## 3. gzip on, equal batches of 1,000"),
        (
            "receipts",
            "## 3b. Receipts: equal batches of 1,000, a receipt for every Tidings event (posthog-rs: the same run without; compare Tidings with 2b)",
        ),
    ];
    for (name, title) in titles {
        if let Some(p) = pair(r.end_to_end, name) {
            let _ = writeln!(md, "\n{title}\n");
            side_table(&mut md, p);
        }
    }
    if let Some(p) = pair(r.end_to_end, "memory") {
        let (t, q) = (&p.tidings, &p.posthog);
        let ph_encoded =
            pair(r.end_to_end, "equal").map_or(f64::NAN, |e| e.posthog.sink_json_bytes_per_event);
        let _ = writeln!(
            md,
            "\n## 4a. Memory: {} events queued behind an endpoint that never answers\n",
            t.events
        );
        let _ = writeln!(
            md,
            "RSS read {} ms after the last capture, minus RSS before the first. Encoded size: Tidings `stats().pending_bytes / stats().pending`; posthog-rs: its JSON bytes per event on the wire (from 2b).\n",
            crate::side::SETTLE.as_millis()
        );
        let _ = writeln!(md, "| figure (median) | tidings-native | posthog-rs |");
        let _ = writeln!(md, "| --- | --- | --- |");
        let _ = writeln!(
            md,
            "| RSS growth per queued event, B | {} | {} |",
            f0(t.rss_growth_per_event),
            f0(q.rss_growth_per_event)
        );
        let _ = writeln!(
            md,
            "| encoded bytes per event | {} | {} |",
            f0(t.pending_bytes_per_event),
            f0(ph_encoded)
        );
        let _ = writeln!(
            md,
            "| memory / encoded | {} | {} |",
            ratio(t.rss_growth_per_event, t.pending_bytes_per_event),
            ratio(q.rss_growth_per_event, ph_encoded)
        );
        let _ = writeln!(
            md,
            "| peak RSS, MB | {} | {} |",
            f1(t.peak_rss_mb),
            f1(q.peak_rss_mb)
        );
        let _ = writeln!(
            md,
            "| capture p50 / p99 / p999, ns | {} / {} / {} | {} / {} / {} |",
            f0(t.latency_p50_ns),
            f0(t.latency_p99_ns),
            f0(t.latency_p999_ns),
            f0(q.latency_p50_ns),
            f0(q.latency_p99_ns),
            f0(q.latency_p999_ns)
        );
    }

    if let Some(p) = pair(r.end_to_end, "burst") {
        let _ = writeln!(
            md,
            "\n## 4b. A burst of {} events, default settings\n",
            p.tidings.events
        );
        side_table(&mut md, p);
    }

    if let Some(p) = pair(r.end_to_end, "overflow") {
        let _ = writeln!(
            md,
            "\n## 4c. Drops made visible: a burst of {} events into a queue of 10,000 events (posthog-rs's default), answers held 20 ms\n",
            p.tidings.events
        );
        side_table(&mut md, p);
    }

    let missed: Vec<&Target> = r.targets.iter().filter(|t| !t.met).collect();
    let _ = writeln!(md, "\n## What limits it\n");
    if missed.is_empty() {
        let _ = writeln!(md, "Every target is met in this run.");
    }
    for t in missed {
        let note =
            limits(dir, t.key).unwrap_or_else(|| "No profiling note for this target yet.".into());
        let _ = writeln!(
            md,
            "**{}** ({}, measured {:.2}): {}\n",
            t.figure, t.target, t.ratio, note
        );
    }
    md
}
