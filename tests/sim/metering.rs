//! The metering part of the reference model: what the open metering window
//! holds, which updates the core must refuse, what each window close must
//! return, and what each metering event must carry on the wire.
//!
//! A metering window becomes ordinary events inside the core when it
//! closes; the model learns their uuids from what [`Core::flush_meters`]
//! returns, and [`super::invariants`] then tracks them like any accepted
//! capture (resolution exactly once, the stats identity, batching).
//!
//! The core also closes the window by itself, and then returns nothing: at
//! `meter_flush_keys` keys (inside `count`/`gauge`), at
//! `meter_flush_interval` (any input past the oldest entry's age), at
//! `shutdown` and at `open_window`. So the `Sim`, which plays the adapter,
//! always closes it itself just before the core would: before an update
//! that would make the key count reach `meter_flush_keys`
//! ([`MeterModel::needs_flush_before`]), one nanosecond before the
//! window's due time ([`MeterModel::due`]), and before every `shutdown`
//! and `open_window` it performs. The core's own closes then find an empty
//! window. The model decides those moments from its own belief (its key
//! count, its window start, the configured limits), and checks after every
//! step that the core agrees: `meter_keys()` equals the model's key count,
//! and the core asks to be woken no later than the window is due. A close
//! the `Sim` did not see would leave the core with no keys and the model
//! with some: it fails the run, it does not go unnoticed.
//!
//! Keys are compared by meaning, not by the core's canonical text: the
//! same tenant, metric and kind, and tags equal as JSON values (object key
//! order does not matter, array order does). The sums are plain `f64`
//! additions in update order, as documented.
//!
//! Limits of this approach:
//! - the core's own closes only ever find an empty window here: closing at
//!   the key limit, by age, at shutdown and at `open_window` with entries
//!   still buffered is left to `tests/metering.rs` (which has no
//!   `open_window` case). The age close is checked as far as the core
//!   asking to be woken by then, not what it does at that instant;
//! - `meter_flush_keys` must be at least 2 (with 1 the update itself
//!   closes the window, before the `Sim` can);
//! - JSON-text tags must be written as one serializer writes them (no
//!   escapes a value would not need, no exponents): the core compares
//!   text as written, by design, and the model by meaning;
//! - with a before-send hook nothing of a metering event's content is
//!   checked (the hook may change it), only what becomes of it.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tidings::{Config, Core, FlushedMetric, Instant, MeterError, MetricKind, Now, Uuid, WallTime};

use super::FastMap;
use super::ingest::ReceivedEvent;
use super::wire::CaptureView;

/// 2^53: a count whose sum would reach it is refused (it could no longer
/// stay exact).
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// Tags of a metering update, in either form the core takes.
#[derive(Clone, Debug)]
pub enum MeterTags {
    /// [`Core::count`] / [`Core::gauge`]: a JSON value (an object, or null
    /// for none; anything else is refused).
    Value(Value),
    /// [`Core::count_json`] / [`Core::gauge_json`]: JSON text (one object,
    /// or none; anything else is refused).
    Json(Option<String>),
}

/// One metering call.
#[derive(Clone, Debug)]
pub struct MeterUpdate {
    pub kind: MetricKind,
    pub tenant: String,
    pub metric: String,
    pub value: f64,
    pub tags: MeterTags,
}

impl MeterUpdate {
    pub fn count(tenant: &str, metric: &str, value: f64, tags: MeterTags) -> Self {
        MeterUpdate {
            kind: MetricKind::Count,
            tenant: tenant.to_owned(),
            metric: metric.to_owned(),
            value,
            tags,
        }
    }

    pub fn gauge(tenant: &str, metric: &str, value: f64, tags: MeterTags) -> Self {
        MeterUpdate {
            kind: MetricKind::Gauge,
            ..MeterUpdate::count(tenant, metric, value, tags)
        }
    }

    /// Calls the core's method for this update.
    pub fn apply(&self, core: &mut Core, now: Now) -> Result<(), MeterError> {
        let (tenant, metric, value) = (self.tenant.as_str(), self.metric.as_str(), self.value);
        match (&self.tags, self.kind) {
            (MeterTags::Value(tags), MetricKind::Count) => {
                core.count(now, tenant, metric, value, tags)
            }
            (MeterTags::Value(tags), MetricKind::Gauge) => {
                core.gauge(now, tenant, metric, value, tags)
            }
            (MeterTags::Json(tags), MetricKind::Count) => {
                core.count_json(now, tenant, metric, value, tags.as_deref())
            }
            (MeterTags::Json(tags), MetricKind::Gauge) => {
                core.gauge_json(now, tenant, metric, value, tags.as_deref())
            }
        }
    }

    /// The tags' meaning: the object they stand for, or `None` if the core
    /// must refuse them.
    fn tags(&self) -> Option<Map<String, Value>> {
        match &self.tags {
            MeterTags::Value(Value::Null) | MeterTags::Json(None) => Some(Map::new()),
            MeterTags::Value(Value::Object(map)) => Some(map.clone()),
            MeterTags::Value(_) => None,
            MeterTags::Json(Some(text)) => match serde_json::from_str(text) {
                Ok(Value::Object(map)) => Some(map),
                _ => None,
            },
        }
    }
}

/// One key of a window, as the model accumulates it.
#[derive(Clone, Debug)]
struct Entry {
    tenant: String,
    metric: String,
    kind: MetricKind,
    tags: Map<String, Value>,
    value: f64,
    updates: u64,
}

impl Entry {
    /// What `FlushedMetric` reports of it (tags are not reported).
    fn summary(&self) -> (String, String, MetricKind, u64) {
        let (t, m) = (self.tenant.clone(), self.metric.clone());
        (t, m, self.kind, self.value.to_bits())
    }

    /// Whether a metering event's properties carry this entry's value
    /// (`value` is its JSON text), tags and update count. Whole numbers
    /// an i64 holds must go out as JSON integers.
    fn carried_by(&self, props: &Value, value: &str) -> bool {
        let integer = !value.contains(['.', 'e', 'E']);
        let whole_i64 = self.value.fract() == 0.0 && self.value.abs() < (1u64 << 63) as f64;
        value.parse::<f64>() == Ok(self.value)
            && (!whole_i64 || integer)
            && props["tags"].as_object() == Some(&self.tags)
            && props["updates"] == self.updates
    }
}

/// What becomes of an update: refused (and why), added to an entry, or a
/// new key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Refused(&'static str),
    Existing(usize),
    New,
}

/// A closed window's entries, and which of them a metering event already
/// matched on the wire.
struct Closed {
    entries: Vec<Entry>,
    claimed: Vec<bool>,
}

/// A metering event accepted by the core, not yet seen on the wire: its
/// window, and the entries it may stand for (those `flush_meters` reported
/// alike: same tenant, metric, kind and value, tags unknown).
struct Unseen {
    window: usize,
    candidates: Vec<usize>,
}

pub struct MeterModel {
    event_name: String,
    flush_keys: usize,
    flush_interval: Duration,
    /// Whether a before-send hook may change events: no content checks.
    hooked: bool,
    /// The open window's keys, in the order first written.
    window: Vec<Entry>,
    /// When the open window's first update came (monotonic and wall).
    opened: Option<(Instant, WallTime)>,
    closed: Vec<Closed>,
    unseen: FastMap<Uuid, Unseen>,
}

impl MeterModel {
    pub fn new(cfg: &Config) -> Self {
        MeterModel {
            event_name: cfg.meter_event.clone(),
            flush_keys: cfg.meter_flush_keys,
            flush_interval: cfg.meter_flush_interval,
            hooked: cfg.before_send.is_some(),
            window: Vec::new(),
            opened: None,
            closed: Vec::new(),
            unseen: FastMap::default(),
        }
    }

    fn fate(&self, u: &MeterUpdate, running: bool) -> (Fate, Option<Map<String, Value>>) {
        let tags = u.tags();
        let refused = if !running {
            Some("shut down")
        } else if u.tenant.trim().is_empty() {
            Some("empty tenant")
        } else if u.metric.trim().is_empty() {
            Some("empty metric")
        } else if !u.value.is_finite() {
            Some("not finite")
        } else if tags.is_none() {
            Some("tags not an object")
        } else {
            None
        };
        let (Some(map), None) = (&tags, refused) else {
            return (Fate::Refused(refused.unwrap_or_default()), tags);
        };
        let existing = self.window.iter().position(|e| {
            e.tenant == u.tenant && e.metric == u.metric && e.kind == u.kind && e.tags == *map
        });
        let value = match (existing, u.kind) {
            (Some(i), MetricKind::Count) => self.window[i].value + u.value,
            _ => u.value,
        };
        let fate = if u.kind == MetricKind::Count && value.abs() >= MAX_EXACT {
            Fate::Refused("count past 2^53")
        } else {
            existing.map_or(Fate::New, Fate::Existing)
        };
        (fate, tags)
    }

    /// Whether the update would make the core close the window by itself
    /// (its key count reaching `meter_flush_keys`): the `Sim` closes it
    /// first, to learn the events' uuids.
    pub fn needs_flush_before(&self, u: &MeterUpdate, running: bool) -> bool {
        self.fate(u, running).0 == Fate::New && self.window.len() + 1 >= self.flush_keys
    }

    /// When the core's age limit closes the open window.
    pub fn due(&self) -> Option<Instant> {
        self.opened
            .map(|(at, _)| at.saturating_add(self.flush_interval))
    }

    /// Whether the open window holds anything.
    pub fn is_open(&self) -> bool {
        !self.window.is_empty()
    }

    /// A metering call and what the core answered; why it was refused,
    /// if it was.
    pub fn on_update(
        &mut self,
        now: Now,
        u: &MeterUpdate,
        result: &Result<(), MeterError>,
        running: bool,
    ) -> Option<&'static str> {
        let (fate, tags) = self.fate(u, running);
        match (fate, result) {
            (Fate::Refused(why), Err(_)) => return Some(why),
            (Fate::Existing(i), Ok(())) => {
                let entry = &mut self.window[i];
                entry.value = match u.kind {
                    MetricKind::Count => entry.value + u.value,
                    MetricKind::Gauge => u.value,
                };
                entry.updates += 1;
            }
            (Fate::New, Ok(())) => {
                self.opened.get_or_insert((now.monotonic, now.wall));
                self.window.push(Entry {
                    tenant: u.tenant.clone(),
                    metric: u.metric.clone(),
                    kind: u.kind,
                    tags: tags.expect("a recorded update has tags"),
                    value: u.value,
                    updates: 1,
                });
            }
            (fate, result) => violated!(
                now,
                "metering update {u:?} returned {result:?}, but the model expected {fate:?}"
            ),
        }
        None
    }

    /// `flush_meters` closed the window: checks what it returned against
    /// the model's window and gives, for each flushed metric, the content
    /// its event must have (for [`super::invariants::Checker::on_capture`]).
    pub fn on_flush(&mut self, now: Now, flushed: &[FlushedMetric]) -> Vec<CaptureView> {
        let entries = std::mem::take(&mut self.window);
        let opened = self.opened.take();
        let mut want: Vec<_> = entries.iter().map(Entry::summary).collect();
        let mut got: Vec<_> = flushed
            .iter()
            .map(|f| {
                (
                    f.tenant.clone(),
                    f.metric.clone(),
                    f.kind,
                    f.value.to_bits(),
                )
            })
            .collect();
        want.sort();
        got.sort();
        if want != got {
            let shown = |v: &[(String, String, MetricKind, u64)]| {
                v.iter()
                    .map(|(t, m, k, bits)| format!("{t}/{m}/{k:?}={}", f64::from_bits(*bits)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            violated!(
                now,
                "flush_meters returned [{}], but the model's window holds [{}]",
                shown(&got),
                shown(&want)
            );
        }
        let start = opened.map_or(now.wall, |(_, wall)| wall).to_rfc3339();
        let end = now.wall.to_rfc3339();
        let index = self.closed.len();
        let mut views = Vec::with_capacity(flushed.len());
        for f in flushed {
            if let (Ok(uuid), false) = (&f.event, self.hooked) {
                let summary = (
                    f.tenant.clone(),
                    f.metric.clone(),
                    f.kind,
                    f.value.to_bits(),
                );
                let candidates = (0..entries.len())
                    .filter(|&i| entries[i].summary() == summary)
                    .collect();
                let unseen = Unseen {
                    window: index,
                    candidates,
                };
                if self.unseen.insert(*uuid, unseen).is_some() {
                    violated!(now, "metering event {uuid} flushed twice");
                }
            }
            let mut properties = Map::new();
            properties.insert("tenant".into(), Value::from(f.tenant.as_str()));
            properties.insert("metric".into(), Value::from(f.metric.as_str()));
            properties.insert("kind".into(), Value::from(f.kind.as_str()));
            properties.insert("window_start".into(), Value::from(start.as_str()));
            properties.insert("window_end".into(), Value::from(end.as_str()));
            views.push(CaptureView::built(&self.event_name, &f.tenant, properties));
        }
        self.closed.push(Closed {
            claimed: vec![false; entries.len()],
            entries,
        });
        views
    }

    /// A metering event's first appearance on the wire (the rest of its
    /// content is checked as any event's): its value, tags and update
    /// count are one of its window's keys, each key claimed once.
    pub fn on_first_sight(&mut self, now: Now, uuid: Uuid, event: &ReceivedEvent) {
        let Some(unseen) = self.unseen.remove(&uuid) else {
            return;
        };
        let parsed = event.value();
        let props = &parsed["properties"];
        let value = value_text(&event.raw).unwrap_or_default();
        let window = &mut self.closed[unseen.window];
        let matched = unseen
            .candidates
            .iter()
            .copied()
            .find(|&i| !window.claimed[i] && window.entries[i].carried_by(props, &value));
        match matched {
            Some(i) => window.claimed[i] = true,
            None => {
                let expected: Vec<String> = unseen
                    .candidates
                    .iter()
                    .map(|&i| {
                        let e = &window.entries[i];
                        format!("value {} tags {:?} updates {}", e.value, e.tags, e.updates)
                    })
                    .collect();
                violated!(
                    now,
                    "metering event {uuid} carries value {value} tags {} updates {}, expected one of [{}]",
                    props["tags"],
                    props["updates"],
                    expected.join("; ")
                )
            }
        }
    }

    /// Right after every input, before its outputs are drained (a window
    /// closed unseen would show first as unknown events in a request): the
    /// core holds the keys the model holds.
    pub fn after_input(&self, now: Now, core: &Core) {
        if core.meter_keys() != self.window.len() {
            violated!(
                now,
                "the core buffers {} metering keys, the model {} (a window closed unseen, or keys compared wrongly)",
                core.meter_keys(),
                self.window.len()
            );
        }
    }

    /// After every step: the same keys, and the core wakes up no later
    /// than the window is due.
    pub fn after_step(&self, now: Now, core: &Core) {
        self.after_input(now, core);
        if let Some(due) = self.due() {
            let wake = core.poll_timeout().map(|d| d.at);
            if wake.is_none_or(|w| w > due) {
                violated!(
                    now,
                    "the metering window is due at {due:?}, but the core's next wake-up is {wake:?}"
                );
            }
        }
    }

    /// Once nothing more will happen.
    pub fn at_end(&self, now: Now) {
        if self.is_open() {
            violated!(
                now,
                "the metering window still holds {} keys at the end",
                self.window.len()
            );
        }
    }
}

/// The JSON text of an event's `properties.value`, as sent. Read as text
/// and parsed with `str::parse`, which rounds correctly: serde_json's
/// default float parsing does not (without its `float_roundtrip` feature,
/// the exact "1.4000000000000001" the core sends reads as 1.4).
fn value_text(raw: &str) -> Option<String> {
    type Members = HashMap<String, Box<RawValue>>;
    let event: Members = serde_json::from_str(raw).ok()?;
    let properties: Members = serde_json::from_str(event.get("properties")?.get()).ok()?;
    Some(properties.get("value")?.get().to_owned())
}
