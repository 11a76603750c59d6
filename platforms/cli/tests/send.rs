//! `tidings send` as a user runs it: the real binary against the collector
//! over loopback.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tidings_cli::collect::{Collector, CollectorOptions, Faults};
use tidings_cli::send::Checkpoint;

/// A child process that cannot outlive a failed assertion.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tidings() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tidings"))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tidings-send-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_events(path: &Path, n: u64, malformed_every: Option<u64>) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 1..=n {
        if malformed_every.is_some_and(|k| i % k == 0) {
            writeln!(f, "{{\"event\": \"broken\", \"distinct_id\": ").unwrap();
        } else {
            writeln!(
                f,
                r#"{{"event":"import","distinct_id":"user-{}","properties":{{"line":{i}}},"timestamp":"2024-01-01T00:00:00.000Z"}}"#,
                i % 10
            )
            .unwrap();
        }
    }
}

fn last_json_line(stdout: &[u8]) -> Value {
    let text = String::from_utf8_lossy(stdout);
    serde_json::from_str(text.lines().last().unwrap_or("")).unwrap_or(Value::Null)
}

#[test]
fn malformed_lines_are_reported_with_their_number_and_skipped() {
    let dir = temp_dir("malformed");
    let input = dir.join("events.ndjson");
    write_events(&input, 100, Some(25));
    let collector = Collector::start(CollectorOptions::default()).unwrap();
    let out = tidings()
        .args([
            "send",
            input.to_str().unwrap(),
            "--host",
            &collector.url(),
            "--api-key",
            "phc_k",
            "--json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in [25, 50, 75, 100] {
        assert!(
            stderr.contains(&format!("line {line}: not valid JSON")),
            "{stderr}"
        );
    }
    let report = last_json_line(&out.stdout);
    assert_eq!(report["malformed"], 4, "{report}");
    assert_eq!(report["delivered"], 96, "{report}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "anything skipped makes the exit code non-zero"
    );
    assert_eq!(collector.stats().unique, 96);
    assert!(!stderr.contains("phc_k"), "the key is never printed");
}

#[test]
fn an_endpoint_that_is_down_then_up_gets_everything() {
    let dir = temp_dir("down-up");
    let input = dir.join("events.ndjson");
    write_events(&input, 500, None);
    // Find a free port, leave it closed for a while, then serve on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tidings()
        .args([
            "send",
            input.to_str().unwrap(),
            "--host",
            &format!("http://127.0.0.1:{port}"),
            "--json",
        ])
        .args([
            "--initial-backoff-ms",
            "100",
            "--max-backoff-ms",
            "400",
            "--max-attempts",
            "40",
        ])
        .env("TIDINGS_API_KEY", "phc_env_key")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let collector = Collector::start(CollectorOptions {
        port,
        ..Default::default()
    })
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = last_json_line(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{report} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["delivered"], 500);
    assert!(report["retries"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(collector.stats().unique, 500);
}

#[test]
fn resume_after_a_kill_loses_nothing_and_resends_nothing_acknowledged() {
    let dir = temp_dir("resume");
    let input = dir.join("events.ndjson");
    let checkpoint = dir.join("checkpoint.json");
    write_events(&input, 3000, None);
    let faults = Faults {
        latency_ms: 20..=20,
        ..Default::default()
    };
    let collector = Collector::start(CollectorOptions {
        faults,
        ..Default::default()
    })
    .unwrap();
    let args = |c: &mut Command| {
        c.args([
            "send",
            input.to_str().unwrap(),
            "--host",
            &collector.url(),
            "--api-key",
            "k",
            "--json",
        ])
        .args([
            "--batch-size",
            "50",
            "--max-in-flight",
            "1",
            "--resume",
            checkpoint.to_str().unwrap(),
        ]);
    };
    let mut first = tidings();
    args(&mut first);
    let mut child = KillOnDrop(
        first
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Kill it once the checkpoint says some lines arrived, well before the end.
    let started = Instant::now();
    let acked_at_kill = loop {
        if let Ok(c) = Checkpoint::load(&checkpoint, input.to_str().unwrap()) {
            if c.acked_below > 300 {
                child.0.kill().unwrap();
                child.0.wait().unwrap();
                break Checkpoint::load(&checkpoint, input.to_str().unwrap()).unwrap();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the first run made no progress"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let stored_before = collector.stats().unique;
    assert!(
        stored_before < 3000,
        "killed mid-run ({stored_before} stored)"
    );

    let mut second = tidings();
    args(&mut second);
    let out = second.output().unwrap();
    let report = last_json_line(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{report}");
    let skipped = report["already_sent"].as_u64().unwrap();
    assert!(skipped >= acked_at_kill.acked_below - 1, "{report}");

    // Nothing lost.
    assert_eq!(collector.stats().unique, 3000);
    // Nothing acknowledged was sent again: a duplicate can only be a line
    // that was in flight (stored, not yet acknowledged) at the kill.
    let rows = collector.store().events(u64::MAX).unwrap();
    for row in rows.iter().filter(|r| r.duplicates > 0) {
        let line = row.properties["line"].as_u64().unwrap();
        assert!(
            !acked_at_kill.is_acked(line),
            "line {line} was acknowledged yet sent again"
        );
    }
    let final_checkpoint = Checkpoint::load(&checkpoint, input.to_str().unwrap()).unwrap();
    assert_eq!(final_checkpoint.acked_below, 3001);
}

#[test]
fn reads_standard_input() {
    let collector = Collector::start(CollectorOptions::default()).unwrap();
    let mut child = tidings()
        .args([
            "send",
            "-",
            "--host",
            &format!("{}/events", collector.url()),
            "--protocol",
            "json",
            "--json",
        ])
        .args(["--header", "X-Write-Key: w1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..10 {
        writeln!(
            stdin,
            r#"{{"event":"piped","distinct_id":"u","properties":{{"i":{i}}}}}"#
        )
        .unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(collector.stats().unique, 10);
}

/// `tidings send --allow-insecure-http`: plain http to a host that is not
/// loopback (a self-hosted PostHog on a private network) is refused without
/// the flag, with a message naming it; with it the events are sent (here to
/// a name that never resolves, so they are dropped as undeliverable) and
/// one warning names the host.
#[test]
fn plain_http_to_a_private_host_needs_allow_insecure_http() {
    let dir = temp_dir("insecure");
    let input = dir.join("events.ndjson");
    write_events(&input, 3, None);
    let send = |extra: &[&str]| {
        tidings()
            .args(["send", input.to_str().unwrap()])
            .args([
                "--host",
                "http://tidings-test.invalid:1/?token=SECRET_QUERY",
            ])
            .args(["--protocol", "json", "--api-key", "phc_SECRET_key"])
            .args(["--max-attempts", "1", "--request-timeout-secs", "2"])
            .args(["--timeout-secs", "20", "--json"])
            .args(extra)
            .output()
            .unwrap()
    };

    let refused = send(&[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "a configuration refusal: {stderr}"
    );
    assert!(
        stderr.contains("invalid configuration `host`") && stderr.contains("--allow-insecure-http"),
        "the refusal names the flag: {stderr}"
    );
    assert!(!stderr.contains("warning"), "{stderr}");

    let sent = send(&["--allow-insecure-http"]);
    let stderr = String::from_utf8_lossy(&sent.stderr);
    assert!(
        !stderr.contains("invalid configuration"),
        "accepted: {stderr}"
    );
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "one warning: {stderr}");
    assert!(
        warnings[0].contains("tidings-test.invalid:1") && warnings[0].contains("plain http"),
        "{}",
        warnings[0]
    );
    assert!(
        !stderr.contains("SECRET_QUERY") && !stderr.contains("phc_SECRET_key"),
        "never the query or the key: {stderr}"
    );
    // It ran and tried to send: nothing delivered, everything dropped.
    assert_eq!(sent.status.code(), Some(1), "{stderr}");
    let report = last_json_line(&sent.stdout);
    assert_eq!(report["captured"], 3, "{report}");
    assert_eq!(report["delivered"], 0, "{report}");
    assert_eq!(report["dropped_total"], 3, "{report}");
    assert!(report["requests"].as_u64() >= Some(1), "{report}");
}

/// The receipts file of a run, by line number.
fn read_receipts(path: &Path) -> std::collections::BTreeMap<u64, Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut by_line = std::collections::BTreeMap::new();
    for row in text.lines() {
        let value: Value = serde_json::from_str(row).unwrap();
        let line = value["line"].as_u64().unwrap();
        assert!(by_line.insert(line, value).is_none(), "line {line} twice");
    }
    by_line
}

#[test]
fn receipts_give_every_input_line_its_fate() {
    let dir = temp_dir("receipts");
    let input = dir.join("events.ndjson");
    let receipts = dir.join("receipts.ndjson");
    write_events(&input, 40, Some(10)); // lines 10, 20, 30, 40 malformed
    // Line 41: larger than the client's largest event, refused at capture.
    let huge = "x".repeat(1_100_000);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap();
    writeln!(
        f,
        r#"{{"event":"big","distinct_id":"u","properties":{{"blob":"{huge}"}}}}"#
    )
    .unwrap();
    drop(f);
    let collector = Collector::start(CollectorOptions::default()).unwrap();
    let out = tidings()
        .args(["send", input.to_str().unwrap(), "--host", &collector.url()])
        .args([
            "--api-key",
            "phc_k",
            "--json",
            "--receipts",
            receipts.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let by_line = read_receipts(&receipts);
    assert_eq!(by_line.len(), 41, "one receipt per input line");
    let stored = collector.store().uuids().unwrap();
    for (line, receipt) in &by_line {
        match line {
            10 | 20 | 30 | 40 => {
                assert_eq!(receipt["status"], "skipped", "{receipt}");
                assert!(
                    receipt["reason"]
                        .as_str()
                        .unwrap()
                        .contains("not valid JSON"),
                    "{receipt}"
                );
            }
            41 => {
                assert_eq!(receipt["status"], "dropped", "{receipt}");
                assert_eq!(receipt["reason"], "too_large", "{receipt}");
            }
            _ => {
                assert_eq!(receipt["status"], "delivered", "{receipt}");
                assert!(
                    stored.contains(receipt["uuid"].as_str().unwrap()),
                    "{receipt}"
                );
            }
        }
    }
    assert_eq!(stored.len(), 36);
}

#[test]
fn receipts_say_why_events_the_endpoint_never_took_were_dropped() {
    let dir = temp_dir("receipts-dropped");
    let input = dir.join("events.ndjson");
    let receipts = dir.join("receipts.ndjson");
    write_events(&input, 30, None);
    let collector = Collector::start(CollectorOptions {
        faults: tidings_cli::collect::Faults {
            fail_first: 1_000,
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    let out = tidings()
        .args(["send", input.to_str().unwrap(), "--host", &collector.url()])
        .args([
            "--api-key",
            "phc_k",
            "--json",
            "--max-attempts",
            "2",
            "--initial-backoff-ms",
            "10",
        ])
        .args(["--receipts", receipts.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let by_line = read_receipts(&receipts);
    assert_eq!(by_line.len(), 30);
    for receipt in by_line.values() {
        assert_eq!(receipt["status"], "dropped", "{receipt}");
        assert_eq!(receipt["reason"], "retries_exhausted", "{receipt}");
    }
}
