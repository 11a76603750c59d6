//! Usage metering: counters summed and gauges overwritten per key within a
//! window, then turned into ordinary events (one per key) that go through
//! the queue, batching and retries like any other.

mod canonical;

use std::fmt;

use serde_json::Value;

use crate::time::{Instant, WallTime};
use canonical::{write_canonical, write_canonical_json};

/// 2^53: from here on a sum of whole numbers can round. Billing sums must
/// stay exact, so a count must stay below it.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// Whether a metric is summed or last-write-wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MetricKind {
    /// Values are added within the window.
    Count,
    /// The last value written within the window is kept.
    Gauge,
}

impl MetricKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Count => "count",
            MetricKind::Gauge => "gauge",
        }
    }
}

/// A metering call refused; `Display` says what to fix. Nothing was recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeterError(pub String);

impl fmt::Display for MeterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MeterError {}

/// One key's accumulated value.
#[derive(Clone, Debug)]
pub(crate) struct MeterEntry {
    pub tenant: String,
    pub metric: String,
    pub kind: MetricKind,
    /// Canonical JSON of the tags.
    pub tags: String,
    pub value: f64,
    pub updates: u64,
    pub first_at: Instant,
}

/// The accumulator. Keys are canonical JSON arrays
/// `[tenant, metric, kind, tags]`: different keys never collide.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    /// Sorted by key: binary search, and flushed in key order. (A
    /// `BTreeMap` costs several kilobytes of wasm per key type.)
    entries: Vec<(String, MeterEntry)>,
    /// Wall time of the first update since the last flush.
    window_start: Option<WallTime>,
}

/// One update, as given by the caller.
pub(crate) struct Update<'a> {
    pub tenant: &'a str,
    pub metric: &'a str,
    pub kind: MetricKind,
    pub value: f64,
    /// Canonical JSON of the tags (see [`canonical_tags`]).
    pub tags: Result<String, ()>,
}

/// The canonical text of tags given as a JSON value: an object, or null
/// for none. `Err` for anything else.
pub(crate) fn canonical_tags(tags: &Value) -> Result<String, ()> {
    let mut out = String::new();
    match tags {
        Value::Null => out.push_str("{}"),
        Value::Object(_) => write_canonical(&mut out, tags),
        _ => return Err(()),
    }
    Ok(out)
}

/// The canonical text of tags given as JSON text (an object, or none).
/// Kept apart from [`canonical_tags`] so that an adapter using only text
/// (the wasm build) does not link serde_json's value printing.
pub(crate) fn canonical_tags_json(tags: Option<&str>) -> Result<String, ()> {
    let mut out = String::new();
    match tags {
        None => out.push_str("{}"),
        Some(json) => write_canonical_json(&mut out, json).ok_or(())?,
    }
    if out.starts_with('{') {
        Ok(out)
    } else {
        Err(())
    }
}

impl Meter {
    /// Records an update, or refuses it without changing anything.
    pub fn record(
        &mut self,
        u: Update<'_>,
        now: Instant,
        wall: WallTime,
    ) -> Result<(), MeterError> {
        // A blank tenant would make an event without a distinct id.
        if u.tenant.trim().is_empty() {
            return Err(MeterError(
                "the tenant is empty (or blank): pass the tenant id (\"0\" is valid)".into(),
            ));
        }
        if u.metric.trim().is_empty() {
            return Err(MeterError("the metric name is empty".into()));
        }
        if !u.value.is_finite() {
            return Err(MeterError(format!(
                "metric `{}`: the value is not a finite number (NaN or infinite)",
                u.metric
            )));
        }
        let Ok(tags) = u.tags else {
            return Err(MeterError(format!(
                "metric `{}`: tags must be a JSON object",
                u.metric
            )));
        };
        let mut key = String::from("[");
        for part in [u.tenant, u.metric, u.kind.as_str()] {
            crate::event::push_json(&mut key, part);
            key.push(',');
        }
        key.push_str(&tags);
        key.push(']');
        match self.entries.binary_search_by(|(k, _)| k.as_str().cmp(&key)) {
            Ok(i) => {
                let entry = &mut self.entries[i].1;
                let value = match u.kind {
                    MetricKind::Count => entry.value + u.value,
                    MetricKind::Gauge => u.value,
                };
                check_count(u.kind, u.metric, value)?;
                entry.value = value;
                entry.updates += 1;
            }
            Err(i) => {
                check_count(u.kind, u.metric, u.value)?;
                self.window_start.get_or_insert(wall);
                let entry = MeterEntry {
                    tenant: u.tenant.to_owned(),
                    metric: u.metric.to_owned(),
                    kind: u.kind,
                    tags,
                    value: u.value,
                    updates: 1,
                    first_at: now,
                };
                self.entries.insert(i, (key, entry));
            }
        }
        Ok(())
    }

    /// Keys buffered now.
    pub fn keys(&self) -> usize {
        self.entries.len()
    }

    /// When the oldest buffered entry was first written.
    pub fn oldest(&self) -> Option<Instant> {
        self.entries.iter().map(|(_, e)| e.first_at).min()
    }

    /// Empties the accumulator, in key order, with the window's start.
    pub fn take(&mut self) -> (Option<WallTime>, Vec<MeterEntry>) {
        (
            self.window_start.take(),
            std::mem::take(&mut self.entries)
                .into_iter()
                .map(|(_, e)| e)
                .collect(),
        )
    }
}

fn check_count(kind: MetricKind, metric: &str, value: f64) -> Result<(), MeterError> {
    if kind == MetricKind::Count && value.abs() >= MAX_EXACT {
        return Err(MeterError(format!(
            "count `{metric}` would overflow: the sum would exceed 2^53, beyond which it cannot stay exact; flush more often"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn update<'a>(
        tenant: &'a str,
        metric: &'a str,
        kind: MetricKind,
        value: f64,
        tags: &'a Value,
    ) -> Update<'a> {
        Update {
            tenant,
            metric,
            kind,
            value,
            tags: canonical_tags(tags),
        }
    }

    #[test]
    fn sums_counts_and_keeps_the_last_gauge() {
        let mut m = Meter::default();
        let tags = json!({"region": "eu"});
        for v in [1.0, 2.0, 3.0] {
            m.record(
                update("t", "tokens", MetricKind::Count, v, &tags),
                Instant::ZERO,
                WallTime::default(),
            )
            .unwrap();
            m.record(
                update("t", "seats", MetricKind::Gauge, v, &tags),
                Instant::ZERO,
                WallTime::default(),
            )
            .unwrap();
        }
        let (_, entries) = m.take();
        assert_eq!(entries.len(), 2);
        let value = |metric: &str| entries.iter().find(|e| e.metric == metric).unwrap().value;
        assert_eq!((value("tokens"), value("seats")), (6.0, 3.0));
        assert_eq!(m.keys(), 0);
    }

    #[test]
    fn keys_are_canonical_and_never_collide() {
        let mut m = Meter::default();
        let now = Instant::ZERO;
        let w = WallTime::default();
        let a = json!({"a": 1, "b": {"y": 2, "x": 1}});
        let b = json!({"b": {"x": 1, "y": 2}, "a": 1});
        m.record(update("t", "m", MetricKind::Count, 1.0, &a), now, w)
            .unwrap();
        m.record(update("t", "m", MetricKind::Count, 1.0, &b), now, w)
            .unwrap();
        assert_eq!(m.keys(), 1, "tag order does not matter");
        // Naive joining "tenant:metric" would merge these.
        let none = Value::Null;
        m.record(update("a:b", "c", MetricKind::Count, 1.0, &none), now, w)
            .unwrap();
        m.record(update("a", "b:c", MetricKind::Count, 1.0, &none), now, w)
            .unwrap();
        m.record(update("t", "m", MetricKind::Gauge, 1.0, &a), now, w)
            .unwrap();
        m.record(
            update(
                "t",
                "m",
                MetricKind::Count,
                1.0,
                &json!({"a": "1", "b": {"x": 1, "y": 2}}),
            ),
            now,
            w,
        )
        .unwrap();
        assert_eq!(m.keys(), 5);
    }

    #[test]
    fn refuses_bad_updates_without_recording() {
        let mut m = Meter::default();
        let (now, w, none) = (Instant::ZERO, WallTime::default(), Value::Null);
        assert!(
            m.record(update("", "m", MetricKind::Count, 1.0, &none), now, w)
                .is_err()
        );
        assert!(
            m.record(update("t", " ", MetricKind::Count, 1.0, &none), now, w)
                .is_err()
        );
        assert!(
            m.record(update("t", "m", MetricKind::Gauge, f64::NAN, &none), now, w)
                .is_err()
        );
        assert!(
            m.record(
                update("t", "m", MetricKind::Count, f64::INFINITY, &none),
                now,
                w
            )
            .is_err()
        );
        assert!(
            m.record(
                update("t", "m", MetricKind::Count, 1.0, &json!([1])),
                now,
                w
            )
            .is_err()
        );
        m.record(
            update("0", "m", MetricKind::Count, MAX_EXACT - 1.0, &none),
            now,
            w,
        )
        .unwrap();
        let err = m
            .record(update("0", "m", MetricKind::Count, 1.0, &none), now, w)
            .unwrap_err();
        assert!(err.0.contains("overflow"), "{err}");
        assert_eq!(
            m.take().1[0].value,
            MAX_EXACT - 1.0,
            "a refused update changes nothing"
        );
    }
}
