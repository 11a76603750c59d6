//! Hostile input, generated from seeds with a fixed budget: property text
//! (JSON as `JSON.stringify` or a bug might write it), Retry-After values
//! and PostHog v1 result bodies. The core must never panic, must accept an
//! event exactly when a serde_json server would read it, and its
//! statistics must add up after every input.
//!
//! `TIDINGS_FUZZ_CASES=<n>` changes the budget (default 20,000 per part).

use std::time::Duration;

use tidings::{
    CaptureError, Config, Core, Event, Instant, Now, Protocol, Response, TransportError, WallTime,
};

/// A small seeded generator (xorshift64*): the same seed, the same cases.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

fn cases() -> u64 {
    std::env::var("TIDINGS_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000)
}

const ATOMS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1.5e3",
    "1e308",
    "1e309",
    "1e400",
    "-1e400",
    "1.7976931348623157e308",
    "1.7976931348623158e308",
    "1e-400",
    "0.1e310",
    "12345678901234567890123",
    "01",
    "1.",
    ".5",
    "true",
    "false",
    "null",
    "nul",
    "\"\"",
    "\"a\"",
    "\"\\ud83d\\ude00\"",
    "\"caf\\ud83d\"",
    "\"\\ude00\"",
    "\"\\ud83d\\u0041\"",
    "\"\\u00e9\"",
    "\"\\x\"",
    "\"é🦀\"",
    "\"\t\"",
    "NaN",
];

/// A JSON-ish value: mostly valid, sometimes nested deep, sometimes broken.
fn value(g: &mut Gen, depth: u32) -> String {
    match g.below(10) {
        0..=4 => g.pick(ATOMS).to_owned(),
        5 | 6 if depth < 8 => {
            let n = g.below(4);
            let items: Vec<String> = (0..n).map(|_| value(g, depth + 1)).collect();
            format!("[{}]", items.join(","))
        }
        7 | 8 if depth < 8 => object(g, depth + 1),
        _ => {
            // A deep chain, around the servers' nesting limit.
            let levels = 110 + g.below(30) as usize;
            "[".repeat(levels) + &"]".repeat(levels)
        }
    }
}

fn object(g: &mut Gen, depth: u32) -> String {
    let n = g.below(4);
    let members: Vec<String> = (0..n)
        .map(|i| format!("\"k{i}\":{}", value(g, depth + 1)))
        .collect();
    format!("{{{}}}", members.join(","))
}

/// Sometimes cuts or corrupts the text at a random place.
fn mangle(g: &mut Gen, mut text: String) -> String {
    match g.below(12) {
        0 if !text.is_empty() => {
            let at = g.below(text.len() as u64) as usize;
            let at = (0..=at)
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            text.truncate(at);
        }
        1 => text.push_str(g.pick(&["}", ",", " {}", "\u{0}", "]"])),
        _ => {}
    }
    text
}

/// Nesting of a document serde_json has read: 1 for an object or array.
fn depth_of(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
        serde_json::Value::Object(members) => 1 + members.values().map(depth_of).max().unwrap_or(0),
        _ => 0,
    }
}

fn now(ms: u64) -> Now {
    Now::new(
        Instant::from_millis(ms),
        WallTime::from_unix_millis(1_763_900_000_000 + ms),
    )
}

#[test]
fn property_text_is_accepted_exactly_when_a_json_server_reads_it() {
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    let mut config = Config::new("phc_key", "https://ingest.example.com");
    config.max_queue_events = usize::MAX / 2;
    let mut core = Core::new(config, 1).unwrap();
    let (mut accepted, mut refused) = (0u64, 0u64);
    for i in 0..cases() {
        let text = object(&mut g, 0);
        let text = mangle(&mut g, text);
        let server = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .filter(|v| v.is_object());
        // The properties object sits two levels into the event, which the
        // envelope's two levels put at four: 127 in all is the limit.
        let readable = server.as_ref().is_some_and(|v| depth_of(v) + 3 <= 127);
        let event = Event::new("e", "u").properties_json(&text);
        match core.capture(now(i), event) {
            Ok(_) if readable => accepted += 1,
            Err(CaptureError::InvalidEvent(_)) if !readable => refused += 1,
            other => panic!("case {i}: {other:?} for {text:?} (serde_json reads it: {readable})"),
        }
        assert!(core.stats().adds_up(), "case {i}");
    }
    assert!(
        accepted > 100 && refused > 100,
        "{accepted} accepted, {refused} refused"
    );
}

#[test]
fn any_retry_after_and_v1_body_keeps_the_accounting() {
    let mut g = Gen(0xD1B5_4A32_D192_ED03);
    let retry_afters = [
        "0",
        "1",
        "120",
        "-1",
        "1.5",
        "99999999999999999999",
        " 3 ",
        "",
        "soon",
        "Wed, 21 Oct 2015 07:28:00 GMT",
        "Wed, 21 Oct 2099 07:28:00 GMT",
        "Thu, 32 Foo 2020",
        "\u{0}",
        "1e3",
        "+5",
    ];
    let bodies = [
        "",
        "{}",
        "null",
        "[]",
        "{\"results\":{}}",
        "{\"results\":[]}",
        "{\"results\":null}",
        "{\"results\":{\"x\":\"ok\"}}",
        "{\"results\":{\"x\":1}}",
        "not json",
        "{\"results\":",
        "{\"results\":{\"\\ud83d\":\"retry\"}}",
    ];
    for protocol in [Protocol::PostHogV0, Protocol::PostHogV1] {
        let mut config = Config::new("phc_key", "https://ingest.example.com");
        config.protocol = protocol;
        config.flush_at = 1;
        config.retry.initial_backoff = Duration::from_millis(1);
        config.retry.max_backoff = Duration::from_millis(5);
        config.retry.max_attempts = 3;
        let mut core = Core::new(config, 7).unwrap();
        let mut t = 0u64;
        for i in 0..cases() / 2 {
            t += g.below(20);
            let _ = core.capture(now(t), Event::new("e", "u").property("i", i));
            while let Some(request) = core.poll_transmit(now(t)) {
                let mut body = g.pick(&bodies).to_owned();
                if g.below(3) == 0 {
                    // A v1 body naming the request's real uuids.
                    let json = request.body.to_json();
                    let sent: serde_json::Value = serde_json::from_slice(&json).unwrap();
                    let results: serde_json::Map<String, serde_json::Value> = sent["batch"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| {
                            let fate =
                                ["ok", "retry", "drop", "limited", "odd", "1"][g.below(6) as usize];
                            (e["uuid"].as_str().unwrap().to_owned(), fate.into())
                        })
                        .collect();
                    body = serde_json::json!({ "results": results }).to_string();
                }
                let status = [200u16, 200, 200, 429, 503, 413, 400, 0, 999][g.below(9) as usize];
                let outcome = if g.below(10) == 0 {
                    Err(TransportError::Timeout)
                } else {
                    let mut response = Response::new(status).with_body(body);
                    if g.below(2) == 0 {
                        response = response.with_retry_after(g.pick(&retry_afters));
                    }
                    Ok(response)
                };
                core.handle_response(now(t), request.id, outcome);
                assert!(core.stats().adds_up(), "case {i}: {:?}", core.stats());
            }
            while core.poll_notice().is_some() {}
            if let Some(deadline) = core.poll_timeout() {
                if g.below(2) == 0 {
                    t = t.max(deadline.at.since_origin().as_millis() as u64);
                    core.handle_timeout(now(t));
                }
            }
        }
        core.shutdown(now(t), Duration::from_secs(1));
        let stats = core.stats();
        assert!(stats.adds_up(), "{stats:?}");
    }
}
