//! Operator metrics through the [`metrics`](https://docs.rs/metrics)
//! facade (cargo feature `metrics`): what batched writers report, per
//! request and over time. Without the feature every call here compiles to
//! nothing.
//!
//! | metric | kind | labels |
//! | --- | --- | --- |
//! | `tidings_request_events` | histogram: events per request | |
//! | `tidings_request_bytes` | histogram: body bytes on the wire | |
//! | `tidings_request_duration_seconds` | histogram | |
//! | `tidings_responses_total` | counter | `status` (`200`, `503`, ..., `error` for no answer) |
//! | `tidings_request_attempts_total` | counter | `attempt` (`first`, `retry`) |
//! | `tidings_events_captured_total`, `..._delivered_total` | counter | |
//! | `tidings_events_dropped_total` | counter | `reason` (as in `Stats::dropped`) |
//! | `tidings_requests_total`, `tidings_requests_failed_total` | counter | |
//! | `tidings_pending_events`, `tidings_pending_bytes`, `tidings_queued_events`, `tidings_retrying_events`, `tidings_in_flight_events` | gauge | |
//!
//! Counters and gauges move by what changed, so several clients in one
//! process add up.

use std::time::Duration;

use tidings::{Response, Stats, TransportError};

/// After each request, on its sender thread.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn request_done(
    events: usize,
    wire_bytes: usize,
    attempt: u32,
    took: Duration,
    result: &Result<Response, TransportError>,
) {
    #[cfg(feature = "metrics")]
    {
        use metrics::{counter, histogram};
        histogram!("tidings_request_events").record(events as f64);
        histogram!("tidings_request_bytes").record(wire_bytes as f64);
        histogram!("tidings_request_duration_seconds").record(took.as_secs_f64());
        let status = match result {
            Ok(response) => response.status.to_string(),
            Err(_) => "error".to_owned(),
        };
        counter!("tidings_responses_total", "status" => status).increment(1);
        let attempt = if attempt > 1 { "retry" } else { "first" };
        counter!("tidings_request_attempts_total", "attempt" => attempt).increment(1);
    }
}

/// After each worker step: what changed since the last step, so that the
/// metrics of several clients in one process add up.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn step_done(last: &mut Stats, now: Stats) {
    #[cfg(feature = "metrics")]
    {
        use metrics::{counter, gauge};
        let grew = |before: u64, after: u64| after.saturating_sub(before);
        counter!("tidings_events_captured_total").increment(grew(last.captured, now.captured));
        counter!("tidings_events_delivered_total").increment(grew(last.delivered, now.delivered));
        for (reason, n) in now.dropped.iter() {
            let more = grew(last.dropped(*reason), *n);
            if more > 0 {
                counter!("tidings_events_dropped_total", "reason" => reason.to_string())
                    .increment(more);
            }
        }
        counter!("tidings_requests_total").increment(grew(last.requests, now.requests));
        counter!("tidings_requests_failed_total")
            .increment(grew(last.failed_requests, now.failed_requests));
        let moved = |before: u64, after: u64| after as f64 - before as f64;
        gauge!("tidings_pending_events").increment(moved(last.pending, now.pending));
        gauge!("tidings_pending_bytes").increment(moved(last.pending_bytes, now.pending_bytes));
        gauge!("tidings_queued_events").increment(moved(last.queued, now.queued));
        gauge!("tidings_retrying_events").increment(moved(last.retrying, now.retrying));
        gauge!("tidings_in_flight_events").increment(moved(last.in_flight, now.in_flight));
        *last = now;
    }
}

/// Whether [`step_done`] does anything (so the worker skips the snapshot).
pub(crate) const ENABLED: bool = cfg!(feature = "metrics");
