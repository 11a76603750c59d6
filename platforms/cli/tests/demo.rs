//! `tidings demo --json` as the README runs it: the last line is a JSON
//! report in which every event is accounted for.

use std::process::Command;

use serde_json::Value;

#[test]
fn demo_accounts_for_every_event() {
    let out = Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(["demo", "--events", "5000", "--json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("a JSON last line");
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["captured"], 5000);
    assert_eq!(report["unaccounted"], 0);
    let delivered = report["delivered"].as_u64().unwrap();
    let dropped = report["dropped_total"].as_u64().unwrap();
    assert_eq!(delivered + dropped, 5000, "{report}");
    assert!(
        report["unique_at_collector"].as_u64().unwrap() + dropped >= 5000,
        "{report}"
    );
    let statuses = &report["collector_statuses"];
    assert!(
        statuses["503"].as_u64().unwrap_or(0) + statuses["413"].as_u64().unwrap_or(0) > 0,
        "faults are on by default: {report}"
    );
}

#[test]
fn demo_refuses_bad_fault_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(["demo", "--events", "10", "--fail-rate", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--fail-rate must be between 0 and 1"));
}
