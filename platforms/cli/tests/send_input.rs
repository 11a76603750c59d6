//! `tidings send` on input that is not what it should be: a checkpoint of
//! other input, bytes that are not UTF-8, endless lines, events large enough
//! to fill the queue by bytes, and errors that must not print secrets. The
//! real binary against the collector over loopback, as in `send.rs`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tidings_cli::collect::{Collector, CollectorOptions, Faults};
use tidings_cli::send::Checkpoint;

fn tidings() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tidings"))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("tidings-send-input-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn event_line(name: &str, i: u64) -> String {
    format!(
        r#"{{"event":"{name}","distinct_id":"user-{}","properties":{{"line":{i}}}}}"#,
        i % 7
    )
}

fn write_lines(path: &Path, name: &str, lines: std::ops::RangeInclusive<u64>) {
    let text: String = lines.map(|i| event_line(name, i) + "\n").collect();
    std::fs::write(path, text).unwrap();
}

fn last_json_line(stdout: &[u8]) -> Value {
    let text = String::from_utf8_lossy(stdout);
    serde_json::from_str(text.lines().last().unwrap_or("")).unwrap_or(Value::Null)
}

/// `send INPUT --host URL --api-key k --json` plus `extra`.
fn send(input: &str, collector: &Collector, extra: &[&str]) -> Output {
    tidings()
        .args([
            "send",
            input,
            "--host",
            &collector.url(),
            "--api-key",
            "k",
            "--json",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `send - … --json` started with its stdin, stdout and stderr piped.
fn spawn_send_stdin(collector: &Collector, extra: &[&str]) -> Child {
    tidings()
        .args([
            "send",
            "-",
            "--host",
            &collector.url(),
            "--api-key",
            "k",
            "--json",
        ])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `send - …` with `stdin` piped in.
fn send_stdin(stdin: &[u8], collector: &Collector, extra: &[&str]) -> Output {
    let mut child = spawn_send_stdin(collector, extra);
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The bug: a checkpoint matched the input's path only, so a file replaced
/// by other lines had its first N lines skipped as "already sent" and the
/// run exited 0. Now the checkpoint holds a hash of the lines it covers: a
/// resume over other (or shorter) input is refused before anything is sent,
/// for a file and for stdin alike, while input that only grew resumes.
#[test]
fn resume_refuses_a_checkpoint_of_different_input_and_sends_nothing() {
    let dir = temp_dir("other-input");
    let input = dir.join("events.ndjson");
    let checkpoint = dir.join("ck.json");
    let ck = checkpoint.to_str().unwrap();
    let collector = Collector::start(CollectorOptions::default()).unwrap();
    let resume = ["--resume", ck];

    write_lines(&input, "first", 1..=50);
    let out = send(input.to_str().unwrap(), &collector, &resume);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(collector.stats().unique, 50);

    write_lines(&input, "second", 1..=80);
    let out = send(input.to_str().unwrap(), &collector, &resume);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stderr.contains(&format!(
            "the checkpoint {ck} describes different input (its first 50 lines differ): delete it to send everything again, or point --resume at a new file"
        )),
        "{}",
        text(&out)
    );
    assert_eq!(
        collector.stats().unique,
        50,
        "nothing of the other input went out"
    );

    write_lines(&input, "first", 1..=20);
    let out = send(input.to_str().unwrap(), &collector, &resume);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("it covers 50 lines, the input has 20"),
        "{}",
        text(&out)
    );
    assert_eq!(collector.stats().unique, 50);

    // The same 50 lines and 30 more: only the new ones go out.
    write_lines(&input, "first", 1..=80);
    let out = send(input.to_str().unwrap(), &collector, &resume);
    let report = last_json_line(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(report["already_sent"], 50, "{report}");
    assert_eq!(report["delivered"], 30, "{report}");
    assert_eq!(collector.stats().unique, 80);
    assert_eq!(collector.stats().duplicates, 0);

    // Standard input: the first lines are read again and compared.
    let stdin_ck = dir.join("stdin.json");
    let resume = ["--resume", stdin_ck.to_str().unwrap()];
    let lines = |name: &str, n: u64| -> Vec<u8> {
        (1..=n)
            .map(|i| event_line(name, i) + "\n")
            .collect::<String>()
            .into_bytes()
    };
    let out = send_stdin(&lines("piped", 50), &collector, &resume);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = send_stdin(&lines("other", 80), &collector, &resume);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("describes different input"),
        "{}",
        text(&out)
    );
    assert_eq!(
        collector.stats().unique,
        130,
        "only the 50 piped lines were added"
    );
}

/// The bug: one line that was not UTF-8 aborted the whole import (exit 2,
/// no report, nothing after it sent), and `--resume` stopped there forever.
/// Now every malformed line (not UTF-8, not JSON, a missing field) is
/// reported by its number and skipped, the rest is sent, the exit code says
/// something was skipped, and the checkpoint moves past the skipped lines,
/// which a resume reports again (it still does not exit 0) without sending
/// anything twice.
#[test]
fn malformed_lines_of_any_kind_are_skipped_by_number_and_resume_moves_past_them() {
    let dir = temp_dir("malformed-kinds");
    let input = dir.join("events.ndjson");
    let checkpoint = dir.join("ck.json");
    let mut bytes = Vec::new();
    for i in 1..=20u64 {
        match i {
            2 => bytes.extend_from_slice(b"{\"event\":\"caf\xe9\",\"distinct_id\":\"u\"}"),
            4 => bytes.extend_from_slice(b"{\"event\": \"broken\", \"distinct_id\": "),
            6 => bytes.extend_from_slice(br#"{"event":"no-one"}"#),
            7 => {}
            _ => bytes.extend_from_slice(event_line("ok", i).as_bytes()),
        }
        bytes.push(b'\n');
    }
    std::fs::write(&input, &bytes).unwrap();
    let collector = Collector::start(CollectorOptions::default()).unwrap();
    let resume = ["--resume", checkpoint.to_str().unwrap()];

    let out = send(input.to_str().unwrap(), &collector, &resume);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "line 2: not valid UTF-8",
        "line 4: not valid JSON",
        "line 6: missing `distinct_id`",
    ] {
        assert!(stderr.contains(expected), "{expected}: {}", text(&out));
    }
    let report = last_json_line(&out.stdout);
    assert_eq!(report["malformed"], 3, "{}", text(&out));
    assert_eq!(report["delivered"], 16, "{report}");
    assert_eq!(out.status.code(), Some(1), "skipped lines make it non-zero");
    assert_eq!(collector.stats().unique, 16);
    let ck = Checkpoint::load(&checkpoint, input.to_str().unwrap()).unwrap();
    assert_eq!(
        ck.acked_below, 21,
        "the checkpoint moved past the skipped lines"
    );

    let out = send(input.to_str().unwrap(), &collector, &resume);
    let report = last_json_line(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "still lines never sent: {}",
        text(&out)
    );
    assert_eq!(report["already_sent"], 16, "{report}");
    assert_eq!(report["malformed"], 3, "{report}");
    assert_eq!(report["captured"], 0, "{report}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 2: not valid UTF-8"),
        "{}",
        text(&out)
    );
    assert_eq!(collector.stats().unique, 16);
    assert_eq!(collector.stats().duplicates, 0);
}

/// A 5 MB line (no newline inside it) is refused by its number without
/// being read whole, and the valid line after it is sent.
#[test]
fn a_line_longer_than_the_limit_is_reported_and_the_next_one_sent() {
    let dir = temp_dir("long-line");
    let input = dir.join("events.ndjson");
    let mut bytes = br#"{"event":"huge","distinct_id":"u","properties":{"pad":""#.to_vec();
    bytes.resize(5_000_000, b'x');
    bytes.extend_from_slice(b"\"}}\n");
    bytes.extend_from_slice(event_line("after", 2).as_bytes());
    bytes.push(b'\n');
    std::fs::write(&input, &bytes).unwrap();
    let collector = Collector::start(CollectorOptions::default()).unwrap();

    let out = send(input.to_str().unwrap(), &collector, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "line 1: 5000003 bytes long, above the limit of 1114112 bytes per line (skipped)"
        ),
        "{}",
        text(&out)
    );
    let report = last_json_line(&out.stdout);
    assert_eq!(report["malformed"], 1, "{report}");
    assert_eq!(report["delivered"], 1, "{report}");
    assert_eq!(out.status.code(), Some(1));
    let rows = collector.store().events(10).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].event, "after");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The bug: a line was read whole whatever its length, so input without
/// newlines (or /dev/zero) grew memory without bound. Here 96 MiB without a
/// newline go in through stdin; while the process waits for more, its peak
/// resident memory stays far below that.
#[test]
#[cfg(target_os = "linux")]
fn memory_stays_bounded_on_input_without_newlines() {
    let collector = Collector::start(CollectorOptions::default()).unwrap();
    let mut child = spawn_send_stdin(&collector, &[]);
    let mut stdin = child.stdin.take().unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..96 {
        if stdin.write_all(&chunk).is_err() {
            break; // it died: the assertions below say how
        }
    }
    stdin.flush().unwrap();
    // A pipe holds 64 KiB: once the writes returned, nearly all was read.
    std::thread::sleep(Duration::from_millis(300));
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(u64::MAX);
    writeln!(stdin).unwrap();
    writeln!(stdin, "{}", event_line("after", 2)).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        peak_kib < 48 * 1024,
        "peak RSS {peak_kib} KiB for a 96 MiB line"
    );
    let report = last_json_line(&out.stdout);
    assert_eq!(report["malformed"], 1, "{}", text(&out));
    assert_eq!(report["delivered"], 1, "{report}");
}

/// The bug: backpressure counted events only (`8 * batch_size *
/// max_in_flight`), so large events overflowed the queue's byte budget and
/// were dropped as `queue_full`. 400 events of 60 KB (24 MB) against a 16 MiB
/// budget, while the endpoint fails its first 3 s: reading waits for room
/// instead, and everything arrives.
#[test]
fn large_events_wait_for_room_instead_of_overflowing_the_queue() {
    let dir = temp_dir("large-events");
    let input = dir.join("events.ndjson");
    let pad = "x".repeat(60_000);
    let ndjson: String = (1..=400)
        .map(|i| {
            format!(
                r#"{{"event":"large","distinct_id":"u","properties":{{"line":{i},"pad":"{pad}"}}}}"#
            ) + "\n"
        })
        .collect();
    std::fs::write(&input, ndjson).unwrap();
    let collector = Collector::start(CollectorOptions {
        faults: Faults {
            fail_for_ms: 3000,
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    let out = send(
        input.to_str().unwrap(),
        &collector,
        &[
            "--max-queue-mb",
            "16",
            "--initial-backoff-ms",
            "100",
            "--max-backoff-ms",
            "400",
            "--max-attempts",
            "60",
        ],
    );
    let report = last_json_line(&out.stdout);
    assert_eq!(report["dropped_total"], 0, "{}", text(&out));
    assert_eq!(report["delivered"], 400, "{report}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(collector.stats().unique, 400);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The bug: configuration errors echoed `--host` whole (its query could
/// carry a token) and clap echoed a `--header` argument it could not parse
/// (`X-Write-Key=…` instead of `X-Write-Key: …`). No message may show a
/// header value or the host's query, fragment or credentials.
#[test]
fn errors_never_print_header_values_or_url_secrets() {
    let dir = temp_dir("secrets");
    let input = dir.join("events.ndjson");
    write_lines(&input, "e", 1..=2);
    let cases: [&[&str]; 6] = [
        &[
            "--host",
            "example.com/e?token=s3cret",
            "--header",
            "X-Write-Key: s3cret",
        ],
        &[
            "--host",
            "https://example.com/e?token=s3cret#s3cret",
            "--header",
            "X-Write-Key: s3cret",
        ],
        &[
            "--host",
            "https:///e?token=s3cret",
            "--header",
            "X-Write-Key: s3cret",
        ],
        &[
            "--host",
            "https://u:s3cret@example.com/e",
            "--header",
            "X-Write-Key: s3cret",
        ],
        &[
            "--host",
            "https://example.com/e?token=s3cret",
            "--header",
            "X-Write-Key=s3cret",
        ],
        &[
            "--host",
            "https://example.com/e?token=s3cret",
            "--header",
            "X-Write-Key=s3cret: x",
        ],
    ];
    for args in cases {
        let out = tidings()
            .args([
                "send",
                input.to_str().unwrap(),
                "--protocol",
                "json",
                "--api-key",
                "s3cret-key",
            ])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?} is refused: {all}");
        assert!(!all.contains("s3cret"), "{args:?} printed a secret: {all}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("host") || stderr.contains("--header"),
            "{args:?}: the error still says what is wrong: {all}"
        );
    }
}
