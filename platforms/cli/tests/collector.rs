//! The collector over real loopback HTTP: every malformed body kind gets a
//! 400 naming the problem; faults behave as flagged; duplicates are counted.

use std::io::Write;

use serde_json::{Value, json};
use tidings_cli::collect::{Collector, CollectorOptions, FaultDice, Faults};

const UUID_A: &str = "01900000-0000-7000-8000-00000000000a";
const UUID_B: &str = "01900000-0000-7000-8000-00000000000b";
const TS: &str = "2026-11-23T20:03:56.123Z";

fn start(faults: Faults) -> Collector {
    Collector::start(CollectorOptions {
        faults,
        ..Default::default()
    })
    .expect("collector starts")
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// POSTs and returns (status, parsed body, Retry-After).
fn post(
    c: &Collector,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<(u16, Value, Option<String>), ureq::Error> {
    let mut req = agent()
        .post(&format!("{}{path}", c.url()))
        .header("User-Agent", "tidings-test/1");
    let mut has_type = false;
    for (k, v) in headers {
        has_type |= k.eq_ignore_ascii_case("content-type");
        req = req.header(*k, *v);
    }
    if !has_type {
        req = req.header("Content-Type", "application/json");
    }
    let mut resp = req.send(&body[..])?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        retry_after,
    ))
}

/// POSTs one valid v0 event (UUID_A).
fn post_one(c: &Collector) -> Result<(u16, Value, Option<String>), ureq::Error> {
    post(
        c,
        "/batch/",
        &[],
        v0(vec![event(UUID_A)]).to_string().into_bytes(),
    )
}

fn event(uuid: &str) -> Value {
    json!({"uuid": uuid, "event": "signup", "distinct_id": "u1", "properties": {"$lib": "t"}, "timestamp": TS})
}

fn v0(events: Vec<Value>) -> Value {
    json!({"api_key": "phc_k", "historical_migration": false, "sent_at": TS, "batch": events})
}

fn v1_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("Authorization", "Bearer phc_k"),
        ("PostHog-Sdk-Info", "tidings/0.1.0"),
        ("PostHog-Attempt", "1"),
        ("PostHog-Request-Id", "01900000-0000-7000-8000-0000000000ff"),
        ("PostHog-Request-Timestamp", TS),
    ]
}

fn v1_event(uuid: &str) -> Value {
    json!({"event": "e", "uuid": uuid, "distinct_id": "u", "timestamp": TS, "options": {}, "properties": {"$set": {"a": 1}}})
}

#[test]
fn accepts_each_protocol_and_counts_duplicates() {
    let c = start(Faults::default());
    let (status, body, _) = post_one(&c).unwrap();
    assert_eq!((status, body), (200, json!({"status": 1})));

    let v1 = json!({"created_at": TS, "batch": [v1_event(UUID_B), v1_event(UUID_A)]});
    let (status, body, _) = post(
        &c,
        "/i/v1/analytics/events",
        &v1_headers(),
        v1.to_string().into_bytes(),
    )
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["results"][UUID_B]["result"], "ok");
    assert_eq!(body["results"][UUID_A]["result"], "ok");

    let plain = json!({"sent_at": TS, "batch": [event(UUID_B)]});
    let (status, _, _) = post(
        &c,
        "/events",
        &[("X-Write-Key", "w")],
        plain.to_string().into_bytes(),
    )
    .unwrap();
    assert_eq!(status, 200);

    let stats = c.stats();
    assert_eq!((stats.events, stats.unique, stats.duplicates), (4, 2, 2));
    assert_eq!(c.store().unique().unwrap(), 2);
    let rows = c.store().events(10).unwrap();
    assert_eq!(rows.iter().map(|r| r.duplicates).sum::<u64>(), 2);
}

#[test]
fn gunzips_gzip_bodies() {
    let c = start(Faults::default());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(v0(vec![event(UUID_A)]).to_string().as_bytes())
        .unwrap();
    let body = gz.finish().unwrap();
    let (status, _, _) = post(
        &c,
        "/batch/?compression=gzip",
        &[("Content-Encoding", "gzip")],
        body,
    )
    .unwrap();
    assert_eq!(status, 200);
    let (status, body, _) = post(
        &c,
        "/batch/",
        &[("Content-Encoding", "gzip")],
        b"not gzip".to_vec(),
    )
    .unwrap();
    assert_eq!(status, 400);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("gunzip"),
        "{body}"
    );
}

#[test]
fn rejects_each_malformed_body_kind_with_a_clear_message() {
    let c = start(Faults::default());
    let naive = {
        let mut e = event(UUID_A);
        e["timestamp"] = json!("2026-11-23T20:03:56");
        e
    };
    let offset = {
        let mut e = event(UUID_A);
        e["timestamp"] = json!("2026-11-23T20:03:56+01:00");
        e
    };
    let keyed = {
        let mut e = event(UUID_A);
        e["api_key"] = json!("phc_k");
        e
    };
    let v1_ok = || json!({"created_at": TS, "batch": [v1_event(UUID_A)]});
    // (path, headers, body, what the 400's message must name)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, &'a str);
    let cases: Vec<Case> = vec![
        ("/batch/", vec![], b"{not json".to_vec(), "not valid JSON"),
        ("/batch/", vec![], b"[1,2]".to_vec(), "must be a JSON object"),
        ("/batch/", vec![], json!({"batch": [event(UUID_A)]}).to_string().into_bytes(), "missing `api_key`"),
        ("/batch/", vec![], v0(vec![]).to_string().into_bytes(), "`batch` is empty"),
        ("/batch/", vec![], json!({"api_key": "k", "batch": {}}).to_string().into_bytes(), "`batch` must be an array"),
        ("/batch/", vec![], v0(vec![naive]).to_string().into_bytes(), "RFC 3339 in UTC"),
        ("/batch/", vec![], v0(vec![offset]).to_string().into_bytes(), "RFC 3339 in UTC"),
        ("/batch/", vec![], v0(vec![keyed]).to_string().into_bytes(), "carries `api_key`"),
        ("/batch/", vec![], v0(vec![event("not-a-uuid")]).to_string().into_bytes(), "is not a UUID"),
        ("/batch/", vec![], v0(vec![json!({"uuid": UUID_A, "event": "e", "timestamp": TS})]).to_string().into_bytes(), "missing `distinct_id`"),
        ("/batch/", vec![], v0(vec![json!({"uuid": UUID_A, "event": "", "distinct_id": "u", "timestamp": TS})]).to_string().into_bytes(), "event is empty"),
        ("/batch/", vec![], v0(vec![json!({"uuid": UUID_A, "event": "e", "distinct_id": "u", "timestamp": TS, "properties": [1]})]).to_string().into_bytes(), "properties must be an object"),
        ("/batch/", vec![("Content-Type", "application/x-www-form-urlencoded")], v0(vec![event(UUID_A)]).to_string().into_bytes(), "Content-Type"),
        ("/batch/", vec![("Content-Encoding", "br")], v0(vec![event(UUID_A)]).to_string().into_bytes(), "unsupported Content-Encoding"),
        ("/i/v1/analytics/events", vec![], v1_ok().to_string().into_bytes(), "Authorization"),
        ("/i/v1/analytics/events", v1_headers(), json!({"api_key": "k", "created_at": TS, "batch": [v1_event(UUID_A)]}).to_string().into_bytes(), "must not carry `api_key`"),
        ("/i/v1/analytics/events", v1_headers(), json!({"token": "k", "created_at": TS, "batch": [v1_event(UUID_A)]}).to_string().into_bytes(), "must not carry `token`"),
        ("/i/v1/analytics/events", v1_headers(), json!({"sent_at": TS, "created_at": TS, "batch": [v1_event(UUID_A)]}).to_string().into_bytes(), "must not carry `sent_at`"),
        ("/i/v1/analytics/events", v1_headers(), json!({"batch": [v1_event(UUID_A)]}).to_string().into_bytes(), "missing `created_at`"),
        ("/i/v1/analytics/events", v1_headers(), json!({"created_at": TS, "historical_migration": false, "batch": [v1_event(UUID_A)]}).to_string().into_bytes(), "`true` or omitted"),
        ("/i/v1/analytics/events", v1_headers(), json!({"created_at": TS, "batch": [{"event": "e", "uuid": UUID_A, "distinct_id": "u", "timestamp": TS, "options": {"bogus": true}}]}).to_string().into_bytes(), "unknown option `bogus`"),
        ("/i/v1/analytics/events", v1_headers(), json!({"created_at": TS, "batch": [{"event": "e", "uuid": UUID_A, "distinct_id": "u", "timestamp": TS, "properties": {"$set": "x"}}]}).to_string().into_bytes(), "$set must be an object"),
        ("/events", vec![], json!({"batch": [event(UUID_A)]}).to_string().into_bytes(), "missing `sent_at`"),
    ];
    for (path, headers, body, expected) in cases {
        let (status, answer, _) = post(&c, path, &headers, body).unwrap();
        let description = answer["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert_eq!(status, 400, "{path} expecting `{expected}`: {answer}");
        assert!(
            description.contains(expected),
            "{path}: expected `{expected}` in `{description}`"
        );
    }
    // v1 header problems
    let mut bad_attempt = v1_headers();
    bad_attempt[2] = ("PostHog-Attempt", "0");
    let (status, answer, _) = post(
        &c,
        "/i/v1/analytics/events",
        &bad_attempt,
        json!({"created_at": TS, "batch": [v1_event(UUID_A)]})
            .to_string()
            .into_bytes(),
    )
    .unwrap();
    assert_eq!(status, 400);
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("PostHog-Attempt")
    );
    assert_eq!(c.stats().unique, 0, "nothing malformed is stored");
}

#[test]
fn injects_faults_as_flagged() {
    // 413 above a body size
    let c = start(Faults {
        max_body_bytes: Some(100),
        ..Default::default()
    });
    let (status, _, _) = post_one(&c).unwrap();
    assert_eq!(status, 413);

    // every request rate-limited, with Retry-After
    let c = start(Faults {
        rate_limit_rate: 1.0,
        retry_after: "7".into(),
        ..Default::default()
    });
    let (status, _, retry_after) = post_one(&c).unwrap();
    assert_eq!((status, retry_after.as_deref()), (429, Some("7")));

    // every request failing with a chosen 5xx
    let c = start(Faults {
        fail_rate: 1.0,
        fail_status: 502,
        ..Default::default()
    });
    let (status, _, _) = post_one(&c).unwrap();
    assert_eq!(status, 502);

    // or with a 4xx: a rejection, which clients drop instead of retrying
    let c = start(Faults {
        fail_rate: 1.0,
        fail_status: 400,
        ..Default::default()
    });
    let (status, body, _) = post_one(&c).unwrap();
    assert_eq!(status, 400);
    assert_eq!(body["error"], "rejected", "{body}");
    assert_eq!(c.stats().unique, 0, "nothing stored");

    // dropped connections store nothing; lost answers store but never answer
    let c = start(Faults {
        drop_connection_rate: 1.0,
        ..Default::default()
    });
    assert!(post_one(&c).is_err());
    assert_eq!((c.stats().unique, c.stats().dropped_connections), (0, 1));
    let c = start(Faults {
        lose_answer_rate: 1.0,
        ..Default::default()
    });
    assert!(post_one(&c).is_err());
    assert_eq!((c.stats().unique, c.stats().lost_answers), (1, 1));
    assert!(c.store().contains(UUID_A).unwrap());

    // latency
    let c = start(Faults {
        latency_ms: 150..=150,
        ..Default::default()
    });
    let started = std::time::Instant::now();
    post_one(&c).unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
}

#[test]
fn fails_the_first_n_requests_then_answers() {
    let c = start(Faults {
        fail_first: 2,
        fail_status: 503,
        ..Default::default()
    });
    let body = || v0(vec![event(UUID_A)]).to_string().into_bytes();
    let statuses: Vec<u16> = (0..4)
        .map(|_| post(&c, "/batch/", &[], body()).unwrap().0)
        .collect();
    assert_eq!(statuses, [503, 503, 200, 200]);
    assert_eq!(c.stats().unique, 1);

    // With a rate as well: the first N fail whatever the draws, the rate
    // applies after them, and the draws stay those of the seed.
    let plain = FaultDice::new(Faults {
        seed: 4,
        fail_rate: 0.5,
        ..Default::default()
    });
    let early = FaultDice::new(Faults {
        seed: 4,
        fail_rate: 0.5,
        fail_first: 3,
        ..Default::default()
    });
    for i in 0..50 {
        let (a, b) = (plain.roll(), early.roll());
        if i < 3 {
            assert_eq!(b.fate, tidings_cli::collect::Fate::Fail);
        } else {
            assert_eq!(a.fate, b.fate, "request {i}");
        }
        assert_eq!(a.latency, b.latency);
    }
}

#[test]
fn fails_for_the_first_ms_then_answers() {
    // Every request in the window fails, none after it: statuses are
    // 503s, then 200s, switching no earlier than the window's end.
    let window = std::time::Duration::from_millis(1500);
    let before_start = std::time::Instant::now();
    let c = start(Faults {
        fail_for_ms: window.as_millis() as u64,
        ..Default::default()
    });
    let mut seen = Vec::new();
    while seen.last().is_none_or(|&(status, _)| status != 200) {
        assert!(
            before_start.elapsed() < window * 10,
            "no 200 after {seen:?}"
        );
        let status = post_one(&c).unwrap().0;
        seen.push((status, before_start.elapsed()));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(seen[0].0, 503, "the first request, sent at once, fails");
    let first_ok = seen.iter().position(|&(s, _)| s == 200).unwrap();
    assert!(seen[..first_ok].iter().all(|&(s, _)| s == 503), "{seen:?}");
    assert!(
        seen[first_ok].1 >= window,
        "answered 200 inside the window: {seen:?}"
    );
    assert_eq!(post_one(&c).unwrap().0, 200);
    assert_eq!(c.stats().unique, 1);
    assert_eq!(c.stats().statuses.get(&503).copied(), Some(first_ok as u64));
}

#[test]
fn fault_draws_repeat_for_a_seed() {
    let faults = Faults {
        seed: 9,
        fail_rate: 0.3,
        rate_limit_rate: 0.2,
        latency_ms: 0..=40,
        ..Default::default()
    };
    let a = FaultDice::new(faults.clone());
    let b = FaultDice::new(faults.clone());
    let plans_a: Vec<_> = (0..200).map(|_| format!("{:?}", a.roll())).collect();
    let plans_b: Vec<_> = (0..200).map(|_| format!("{:?}", b.roll())).collect();
    assert_eq!(plans_a, plans_b);
    let other = FaultDice::new(Faults { seed: 10, ..faults });
    let plans_c: Vec<_> = (0..200).map(|_| format!("{:?}", other.roll())).collect();
    assert_ne!(plans_a, plans_c);
    let fails = plans_a.iter().filter(|p| p.contains("Fail")).count();
    assert!(
        (30..=90).contains(&fails),
        "about 30% of 200 should fail, got {fails}"
    );
}

#[test]
fn refuses_bad_fault_flags() {
    for faults in [
        Faults {
            fail_rate: 1.5,
            ..Default::default()
        },
        Faults {
            fail_rate: 0.7,
            lose_answer_rate: 0.7,
            ..Default::default()
        },
        Faults {
            fail_status: 302,
            ..Default::default()
        },
        Faults {
            fail_status: 600,
            ..Default::default()
        },
        Faults {
            #[allow(clippy::reversed_empty_ranges)] // the point: an empty range is refused
            latency_ms: 50..=10,
            ..Default::default()
        },
    ] {
        assert!(
            Collector::start(CollectorOptions {
                faults,
                ..Default::default()
            })
            .is_err()
        );
    }
}

#[test]
fn serves_stats_events_and_cors_preflight() {
    let c = start(Faults::default());
    post_one(&c).unwrap();
    let mut r = agent().get(&format!("{}/events", c.url())).call().unwrap();
    let rows: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(rows[0]["uuid"], UUID_A);
    assert_eq!(rows[0]["properties"]["$lib"], "t");
    let mut r = agent().get(&format!("{}/stats", c.url())).call().unwrap();
    let stats: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(stats["unique"], 1);
    assert_eq!(stats["statuses"]["200"], 2);
    let r = agent()
        .options(&format!("{}/i/v1/analytics/events", c.url()))
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(
        r.headers().get("access-control-allow-headers").unwrap(),
        "authorization, content-type"
    );
}
