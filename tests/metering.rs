//! Metering driven through the real core with a virtual clock: sums,
//! last-write-wins, canonical keys, partial failure, retries across windows
//! and the statistics identity after every step.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use tidings::{
    Config, Core, DropReason, Instant, MetricKind, Notice, Now, Protocol, Response, Transmit, Uuid,
    WallTime,
};

/// A core, a virtual clock, and every request body it sent.
struct Meters {
    core: Core,
    t: u64,
    sent: Vec<(Transmit, Vec<Value>)>,
    delivered: Vec<Uuid>,
    dropped: Vec<(DropReason, Uuid)>,
}

impl Meters {
    fn new(protocol: Protocol) -> Self {
        let mut c = Config::new("phc_meter", "https://ingest.test");
        c.protocol = protocol;
        c.flush_at = 1000;
        c.flush_interval = Duration::from_millis(100);
        c.meter_flush_interval = Duration::from_secs(10);
        c.retry.initial_backoff = Duration::from_millis(100);
        c.retry.max_attempts = 3;
        Meters {
            core: Core::new(c, 9).unwrap(),
            t: 0,
            sent: vec![],
            delivered: vec![],
            dropped: vec![],
        }
    }

    fn now(&self) -> Now {
        Now::new(
            Instant::from_millis(self.t),
            WallTime::from_unix_millis(1_763_900_000_000 + self.t),
        )
    }

    fn count(&mut self, tenant: &str, metric: &str, value: f64, tags: Value) {
        let now = self.now();
        self.core.count(now, tenant, metric, value, &tags).unwrap();
        self.check();
    }

    fn gauge(&mut self, tenant: &str, metric: &str, value: f64, tags: Value) {
        let now = self.now();
        self.core.gauge(now, tenant, metric, value, &tags).unwrap();
        self.check();
    }

    /// Advances the clock, fires what is due, and returns the requests sent.
    fn advance(&mut self, ms: u64) -> Vec<usize> {
        self.t += ms;
        let now = self.now();
        self.core.handle_timeout(now);
        let mut new = vec![];
        while let Some(t) = self.core.poll_transmit(now) {
            let body: Value = serde_json::from_slice(&t.body.to_json()).unwrap();
            let events = body["batch"].as_array().unwrap().clone();
            new.push(self.sent.len());
            self.sent.push((t, events));
        }
        self.drain();
        new
    }

    fn answer(&mut self, index: usize, response: Response) {
        let now = self.now();
        let id = self.sent[index].0.id;
        self.core.handle_response(now, id, Ok(response));
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(n) = self.core.poll_notice() {
            match n {
                Notice::Delivered { uuids, .. } => self.delivered.extend(uuids),
                Notice::Dropped { reason, uuids } => {
                    self.dropped.extend(uuids.into_iter().map(|u| (reason, u)))
                }
                _ => {}
            }
        }
        self.check();
    }

    /// The statistics identity, after every step.
    fn check(&self) {
        let s = self.core.stats();
        assert!(s.adds_up(), "at {} ms: {s:?}", self.t);
    }

    fn events(&self, index: usize) -> &[Value] {
        &self.sent[index].1
    }
}

fn by_metric(events: &[Value]) -> BTreeMap<(String, String, String), (String, f64)> {
    events
        .iter()
        .map(|e| {
            let p = &e["properties"];
            let key = (
                p["tenant"].as_str().unwrap().to_owned(),
                p["metric"].as_str().unwrap().to_owned(),
                p["tags"].to_string(),
            );
            (
                key,
                (
                    p["kind"].as_str().unwrap().to_owned(),
                    p["value"].as_f64().unwrap(),
                ),
            )
        })
        .collect()
}

#[test]
fn counts_sum_and_gauges_keep_the_last_value_per_canonical_key() {
    let mut m = Meters::new(Protocol::PostHogV0);
    m.count(
        "t1",
        "tokens",
        100.0,
        json!({"model": "a", "region": {"zone": 1, "cloud": "x"}}),
    );
    m.count(
        "t1",
        "tokens",
        50.0,
        json!({"region": {"cloud": "x", "zone": 1}, "model": "a"}),
    );
    m.count("t1", "tokens", 7.0, json!({"model": "b"}));
    m.gauge("t1", "seats", 3.0, json!(null));
    m.gauge("t1", "seats", 5.0, json!({}));
    // Keys naive "tenant:metric" joining would merge.
    m.count("a:b", "c", 1.0, json!(null));
    m.count("a", "b:c", 2.0, json!(null));
    // "0" is a valid tenant.
    m.count("0", "tokens", 4.0, json!(null));
    assert_eq!(m.core.meter_keys(), 6);
    assert_eq!(
        m.core.meter_oldest_age(Instant::from_millis(250)),
        Some(Duration::from_millis(250))
    );

    let flushed = m.core.flush_meters(m.now());
    assert_eq!(flushed.len(), 6);
    assert_eq!(m.core.meter_keys(), 0);
    let sent = m.advance(100);
    assert_eq!(sent.len(), 1);
    let got = by_metric(m.events(sent[0]));
    let tags_a = json!({"model": "a", "region": {"cloud": "x", "zone": 1}}).to_string();
    assert_eq!(
        got[&("t1".into(), "tokens".into(), tags_a)],
        ("count".into(), 150.0)
    );
    assert_eq!(
        got[&("t1".into(), "seats".into(), "{}".into())],
        ("gauge".into(), 5.0)
    );
    assert_eq!(got[&("a:b".into(), "c".into(), "{}".into())].1, 1.0);
    assert_eq!(got[&("a".into(), "b:c".into(), "{}".into())].1, 2.0);
    assert_eq!(got[&("0".into(), "tokens".into(), "{}".into())].1, 4.0);
    for e in m.events(sent[0]) {
        assert_eq!(e["event"], "usage");
        assert_eq!(e["distinct_id"], e["properties"]["tenant"]);
        assert!(e["properties"]["window_start"].as_str() <= e["properties"]["window_end"].as_str());
    }
    let kinds: Vec<MetricKind> = flushed.iter().map(|f| f.kind).collect();
    assert!(kinds.contains(&MetricKind::Gauge) && kinds.contains(&MetricKind::Count));
}

#[test]
fn a_window_closes_by_itself_at_its_age_or_key_limit() {
    let mut m = Meters::new(Protocol::PostHogV0);
    m.count("t", "m", 1.0, json!(null));
    assert!(m.advance(9_000).is_empty(), "not yet 10 s old");
    assert!(
        m.advance(1_100).is_empty(),
        "the window became an event, queued for flush_interval"
    );
    assert_eq!(m.core.meter_keys(), 0, "closed at meter_flush_interval");
    assert_eq!(m.advance(100).len(), 1, "then sent like any event");

    let mut c = Config::new("phc_meter", "https://ingest.test");
    c.meter_flush_keys = 3;
    let mut core = Core::new(c, 1).unwrap();
    for tenant in ["a", "b", "c"] {
        core.count(Now::default(), tenant, "m", 1.0, &Value::Null)
            .unwrap();
    }
    assert_eq!(core.meter_keys(), 0, "the third key closed the window");
    assert_eq!(core.stats().captured, 3);
}

#[test]
fn partial_failure_drops_only_the_failed_entries() {
    let mut m = Meters::new(Protocol::PostHogV1);
    for tenant in ["t1", "t2", "t3"] {
        m.count(tenant, "tokens", 10.0, json!(null));
    }
    let flushed = m.core.flush_meters(m.now());
    let sent = m.advance(100);
    let events = m.events(sent[0]).to_vec();
    let uuid_of = |tenant: &str| {
        let e = events
            .iter()
            .find(|e| e["properties"]["tenant"] == tenant)
            .unwrap();
        e["uuid"].as_str().unwrap().to_owned()
    };
    // The server drops t2's entry and limits t3's; t1's is accepted.
    let body = json!({"results": {
        uuid_of("t1"): {"result": "ok"},
        uuid_of("t2"): {"result": "drop"},
        uuid_of("t3"): {"result": "limited"},
    }});
    m.answer(sent[0], Response::new(200).with_body(body.to_string()));
    let id = |tenant: &str| {
        flushed
            .iter()
            .find(|f| f.tenant == tenant)
            .unwrap()
            .event
            .clone()
            .unwrap()
    };
    assert_eq!(m.delivered, vec![id("t1")]);
    assert_eq!(
        m.dropped,
        vec![
            (DropReason::ServerDropped, id("t2")),
            (DropReason::ServerLimited, id("t3"))
        ]
    );
    let stats = m.core.stats();
    assert_eq!(
        (stats.delivered, stats.dropped_total(), stats.pending),
        (1, 2, 0)
    );
}

#[test]
fn entries_still_retrying_are_not_counted_again_in_the_next_window() {
    let mut m = Meters::new(Protocol::PostHogV0);
    m.count("t", "tokens", 100.0, json!(null));
    m.core.flush_meters(m.now());
    let first = m.advance(100);
    // Window 1's request fails; it will be retried with the same bytes.
    m.answer(first[0], Response::new(503));
    // Window 2 accumulates meanwhile.
    m.count("t", "tokens", 1.0, json!(null));
    m.count("t", "tokens", 2.0, json!(null));
    m.core.flush_meters(m.now());
    let mut all = vec![];
    for _ in 0..30 {
        for i in m.advance(100) {
            all.push(i);
            m.answer(i, Response::new(200));
        }
    }
    let mut totals = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for i in all {
        for e in m.events(i).to_vec() {
            // A retry resends the same uuid; count each entry once.
            if seen.insert(e["uuid"].as_str().unwrap().to_owned()) {
                *totals
                    .entry(e["properties"]["window_start"].as_str().unwrap().to_owned())
                    .or_insert(0.0) += e["properties"]["value"].as_f64().unwrap();
            }
        }
    }
    let values: Vec<f64> = totals.values().copied().collect();
    assert_eq!(
        values,
        vec![100.0, 3.0],
        "window 1 keeps 100, window 2 has only its own 3"
    );
    let s = m.core.stats();
    assert_eq!((s.delivered, s.pending, s.dropped_total()), (2, 0, 0));
}

#[test]
fn refused_updates_record_nothing_and_are_explained() {
    let mut m = Meters::new(Protocol::PostHogV0);
    let now = m.now();
    for (tenant, metric, value, tags, expected) in [
        ("", "m", 1.0, json!(null), "tenant is empty"),
        ("t", "", 1.0, json!(null), "metric name is empty"),
        ("t", "m", f64::NAN, json!(null), "not a finite number"),
        ("t", "m", 1.0, json!([1]), "tags must be a JSON object"),
    ] {
        let err = m.core.count(now, tenant, metric, value, &tags).unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }
    m.core
        .count(now, "t", "big", 9_007_199_254_740_991.0, &json!(null))
        .unwrap();
    let err = m
        .core
        .count(now, "t", "big", 1.0, &json!(null))
        .unwrap_err();
    assert!(err.to_string().contains("overflow"), "{err}");
    assert_eq!(m.core.meter_keys(), 1);
    m.core.shutdown(now, Duration::from_secs(1));
    assert!(
        m.core
            .count(now, "t", "m", 1.0, &json!(null))
            .unwrap_err()
            .to_string()
            .contains("shut down")
    );
    assert_eq!(
        m.core.stats().captured,
        1,
        "shutdown closed the open window into one event"
    );
}
