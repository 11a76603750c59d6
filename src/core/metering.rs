//! Inputs: metering updates. Entries become events when the window closes
//! (`meter_flush_keys` keys, `meter_flush_interval` age, an explicit
//! `flush_meters`, or shutdown).

use std::time::Duration;

use serde_json::Value;

use super::{CaptureError, Core, Lifecycle};
use crate::event::Event;
use crate::metering::{MeterError, MetricKind, Update, canonical_tags, canonical_tags_json};
use crate::time::{Instant, Now};
use uuid::Uuid;

/// What became of one metering entry when its window was flushed.
#[derive(Clone, Debug, PartialEq)]
pub struct FlushedMetric {
    pub tenant: String,
    pub metric: String,
    pub kind: MetricKind,
    pub value: f64,
    /// The event's uuid (watch `Notice::Delivered`/`Dropped` for it), or why
    /// it was refused (it is then counted as dropped).
    pub event: Result<Uuid, CaptureError>,
}

impl Core {
    /// Adds `value` to the counter `(tenant, metric, tags)` of this window.
    /// Tags are a JSON object (or null); key order does not matter.
    ///
    /// ```
    /// # use tidings::{Config, Core, Now};
    /// # use serde_json::json;
    /// let mut core = Core::new(Config::new("phc_key", "https://us.i.posthog.com"), 1).unwrap();
    /// core.count(Now::default(), "tenant-7", "tokens", 5000.0, &json!({"model": "small"})).unwrap();
    /// core.count(Now::default(), "tenant-7", "tokens", 250.0, &json!({"model": "small"})).unwrap();
    /// assert_eq!(core.meter_keys(), 1);
    /// let flushed = core.flush_meters(Now::default());
    /// assert_eq!(flushed[0].value, 5250.0);
    /// ```
    pub fn count(
        &mut self,
        now: Now,
        tenant: &str,
        metric: &str,
        value: f64,
        tags: &Value,
    ) -> Result<(), MeterError> {
        self.meter(
            now,
            Update {
                tenant,
                metric,
                kind: MetricKind::Count,
                value,
                tags: canonical_tags(tags),
            },
        )
    }

    /// Sets the gauge `(tenant, metric, tags)`: the last value of the window wins.
    pub fn gauge(
        &mut self,
        now: Now,
        tenant: &str,
        metric: &str,
        value: f64,
        tags: &Value,
    ) -> Result<(), MeterError> {
        self.meter(
            now,
            Update {
                tenant,
                metric,
                kind: MetricKind::Gauge,
                value,
                tags: canonical_tags(tags),
            },
        )
    }

    /// [`Core::count`] with tags given as JSON text (an object, or `None`):
    /// for adapters that hold them serialized, such as the browser build
    /// with `JSON.stringify` output. Keys are sorted at every depth as
    /// written; anything but one JSON object is refused.
    ///
    /// ```
    /// # use tidings::{Config, Core, Now};
    /// let mut core = Core::new(Config::new("phc_key", "https://us.i.posthog.com"), 1).unwrap();
    /// core.count_json(Now::default(), "t", "tokens", 5.0, Some(r#"{"b":1,"a":2}"#)).unwrap();
    /// core.count_json(Now::default(), "t", "tokens", 1.0, Some(r#"{"a":2,"b":1}"#)).unwrap();
    /// assert_eq!(core.meter_keys(), 1);
    /// assert!(core.count_json(Now::default(), "t", "tokens", 1.0, Some("[1]")).is_err());
    /// ```
    pub fn count_json(
        &mut self,
        now: Now,
        tenant: &str,
        metric: &str,
        value: f64,
        tags_json: Option<&str>,
    ) -> Result<(), MeterError> {
        let kind = MetricKind::Count;
        let tags = canonical_tags_json(tags_json);
        self.meter(
            now,
            Update {
                tenant,
                metric,
                kind,
                value,
                tags,
            },
        )
    }

    /// [`Core::gauge`] with tags given as JSON text (see [`Core::count_json`]).
    pub fn gauge_json(
        &mut self,
        now: Now,
        tenant: &str,
        metric: &str,
        value: f64,
        tags_json: Option<&str>,
    ) -> Result<(), MeterError> {
        let kind = MetricKind::Gauge;
        let tags = canonical_tags_json(tags_json);
        self.meter(
            now,
            Update {
                tenant,
                metric,
                kind,
                value,
                tags,
            },
        )
    }

    /// Closes the window now: every entry becomes one event (tenant, metric,
    /// kind, value, tags, window start and end) in the normal queue.
    pub fn flush_meters(&mut self, now: Now) -> Vec<FlushedMetric> {
        self.advance(now);
        self.close_meter_window()
    }

    /// Keys buffered in the current window.
    pub fn meter_keys(&self) -> usize {
        self.meter.keys()
    }

    /// Age of the oldest buffered entry at `now`.
    pub fn meter_oldest_age(&self, now: Instant) -> Option<Duration> {
        self.meter
            .oldest()
            .map(|t| now.saturating_duration_since(t))
    }

    fn meter(&mut self, now: Now, update: Update<'_>) -> Result<(), MeterError> {
        self.advance(now);
        if self.lifecycle != Lifecycle::Running {
            return Err(MeterError(
                "the client is shut down; the update was not recorded".into(),
            ));
        }
        self.meter
            .record(update, self.now.monotonic, self.now.wall)?;
        if self.meter.keys() >= self.config.meter_flush_keys {
            self.close_meter_window();
        }
        Ok(())
    }

    /// When the meter's age limit closes the window.
    pub(super) fn meter_due(&self) -> Option<Instant> {
        self.meter
            .oldest()
            .map(|t| t.saturating_add(self.config.meter_flush_interval))
    }

    pub(super) fn close_meter_window(&mut self) -> Vec<FlushedMetric> {
        let (start, entries) = self.meter.take();
        let end = self.now.wall.to_rfc3339();
        let start = start.map_or_else(|| end.clone(), |s| s.to_rfc3339());
        let mut flushed = Vec::with_capacity(entries.len());
        for entry in entries {
            let mut event = Event::new(self.config.meter_event.clone(), entry.tenant.clone())
                .property("tenant", &entry.tenant)
                .property("metric", &entry.metric)
                .property("kind", entry.kind.as_str());
            // Whole numbers go out as JSON integers where an i64 holds them
            // (a gauge has no 2^53 bound: 1e19 stays a float, exact).
            if entry.value.fract() == 0.0 && entry.value.abs() < (1u64 << 63) as f64 {
                event.set_property("value", entry.value as i64);
            } else {
                event.set_property("value", entry.value);
            }
            event.set_raw_property("tags", &entry.tags);
            event.set_property("window_start", &start);
            event.set_property("window_end", &end);
            event.set_property("updates", entry.updates);
            let now = self.now;
            flushed.push(FlushedMetric {
                event: self.capture(now, event),
                tenant: entry.tenant,
                metric: entry.metric,
                kind: entry.kind,
                value: entry.value,
            });
        }
        flushed
    }
}
