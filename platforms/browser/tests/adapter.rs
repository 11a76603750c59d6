//! Unit tests of the wasm adapter (`TimerDriver`, the timers build) with
//! wasm-bindgen-test: run in Node and in headless Chromium by
//! `scripts/test-browser` (the same binary; `WASM_BINDGEN_USE_BROWSER`
//! picks the browser). The host is a recording JS object, so these check
//! the adapter's own contract: what it hands the host, how answers, the
//! offline switch and refusals come back, and that nothing panics.
#![cfg(target_arch = "wasm32")]

use js_sys::{Float64Array, Reflect};
use tidings_browser::{Host, OPTION_ORDER, TimerDriver};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen(inline_js = r#"
export function recordingHost() {
  const h = { sent: [], delivered: [], dropped: [], flushes: [], shut: [], armed: [] };
  h.send = (token, url, method, headers, body, timeoutMs) =>
    h.sent.push({ token, url, method, headers: headers.split('\n'), body: new TextDecoder().decode(body), timeoutMs });
  // Fates and uuids, comma-separated: a fate applies to the uuids after it.
  h.settled = (list) => {
    let fate = null;
    for (const item of list.split(',')) {
      if (item.length !== 36) fate = item;
      else if (fate === 'delivered') h.delivered.push(item);
      else h.dropped.push(`${fate}:${item}`);
    }
  };
  h.flushed = (id, completed, pending) => h.flushes.push({ id, completed, pending });
  h.shutDown = (drained, dropped) => h.shut.push({ drained, dropped });
  h.arm = (ms) => h.armed.push(ms);
  h.warn = (line) => console.warn(line);
  return h;
}
export function lastArmed(h) { return h.armed.length === 0 ? -1 : h.armed[h.armed.length - 1]; }
export function count(h, list) { return h[list].length; }
export function sentAt(h, i) { return h.sent[i]; }
export function listed(h, list) { return h[list].join(' '); }
export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }
"#)]
extern "C" {
    #[wasm_bindgen(js_name = recordingHost)]
    fn recording_host() -> JsValue;
    fn count(host: &JsValue, list: &str) -> u32;
    #[wasm_bindgen(js_name = sentAt)]
    fn sent_at(host: &JsValue, i: u32) -> JsValue;
    /// The entries of one of the host's lists, space-separated.
    fn listed(host: &JsValue, list: &str) -> String;
    /// The deadline the core last asked the host's timer for (ms, -1: none).
    #[wasm_bindgen(js_name = lastArmed)]
    fn last_armed(host: &JsValue) -> f64;
    fn sleep(ms: u32) -> js_sys::Promise;
}

/// Option values by position, as `js/options.js` hands them over, from
/// comma-separated option names and their values.
fn positional(names: &str, values: &[f64]) -> Vec<f64> {
    let mut out = vec![f64::NAN; OPTION_ORDER.len()];
    for (name, &v) in names.split(',').filter(|n| !n.is_empty()).zip(values) {
        let at = OPTION_ORDER.iter().position(|o| *o == name);
        out[at.unwrap_or_else(|| panic!("unknown option {name}"))] = v;
    }
    out
}

fn get(o: &JsValue, key: &str) -> JsValue {
    Reflect::get(o, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// `stats()` is JSON text (the wrapper parses it).
fn stats(core: &TimerDriver) -> JsValue {
    js_sys::JSON::parse(&core.stats().unwrap()).unwrap()
}

fn message(e: JsValue) -> String {
    get(&e, "message").as_string().unwrap_or_default()
}

/// A client whose requests and resolved events are recorded;
/// `names`/`values` are extra options.
fn client(names: &str, values: &[f64]) -> (TimerDriver, JsValue) {
    let (core, host) = quiet_client(names, values);
    core.want_resolved(true).unwrap();
    (core, host)
}

/// A client that is not told which events are resolved (the default).
fn quiet_client(names: &str, values: &[f64]) -> (TimerDriver, JsValue) {
    let host = recording_host();
    let values = Float64Array::from(values).to_vec();
    let core = TimerDriver::new(
        "https://ingest.example.com".into(),
        "phc_unit".into(),
        &positional(names, &values),
        "X-Tenant\nacme".into(),
        host.clone().unchecked_into::<Host>(),
    )
    .unwrap_or_else(|e| panic!("constructor threw: {}", message(e)));
    (core, host)
}

/// Plays the host's timer (js/timer.js): waits for the deadline the core
/// last asked for, then fires it. False when none is armed.
async fn fire_when_due(core: &TimerDriver, host: &JsValue) -> bool {
    let ms = last_armed(host);
    if ms < 0.0 {
        return false;
    }
    JsFuture::from(sleep(ms as u32 + 1)).await.unwrap();
    core.timer().unwrap();
    true
}

fn capture(core: &TimerDriver, name: &str, json: Option<&str>) -> Result<Option<String>, JsValue> {
    core.capture(
        name.into(),
        json.map(Into::into),
        "user-1".into(),
        None,
        f64::NAN,
        Some("s1".into()),
        None,
        f64::NAN,
    )
}

#[wasm_bindgen_test]
fn a_flush_hands_the_host_one_request_and_a_200_delivers() {
    let (core, host) = client("", &[]);
    let uuid = capture(&core, "signup", Some(r#"{"plan":"pro"}"#))
        .unwrap()
        .unwrap();
    assert_eq!(count(&host, "sent"), 0, "a capture alone does not send");
    core.flush(Some(1000.0)).unwrap();
    assert_eq!(count(&host, "sent"), 1);
    let sent = sent_at(&host, 0);
    assert_eq!(
        get(&sent, "url").as_string().unwrap(),
        "https://ingest.example.com/batch/"
    );
    assert_eq!(get(&sent, "method").as_string().unwrap(), "POST");
    let body = get(&sent, "body").as_string().unwrap();
    assert!(
        body.contains(&uuid)
            && body.contains(r#""plan":"pro""#)
            && body.contains(r#""$session_id":"s1""#),
        "{body}"
    );
    let headers = format!("{:?}", js_sys::Array::from(&get(&sent, "headers")).to_vec());
    assert!(
        headers.contains("X-Tenant") && headers.contains("acme"),
        "{headers}"
    );

    let token = get(&sent, "token").as_f64().unwrap();
    core.answer(token, 200.0, None, Some(br#"{"status":1}"#.to_vec()))
        .unwrap();
    assert_eq!(
        count(&host, "delivered"),
        1,
        "{:?}",
        get(&host, "delivered")
    );
    assert_eq!(count(&host, "flushes"), 1);
    let stats = stats(&core);
    assert_eq!(get(&stats, "delivered").as_f64(), Some(1.0));
    assert_eq!(get(&stats, "pending").as_f64(), Some(0.0));
    // An answer for an unknown token is ignored, not a panic.
    core.answer(999.0, 200.0, None, None).unwrap();
}

#[wasm_bindgen_test]
async fn a_503_is_retried_by_the_timer() {
    let (core, host) = client("initialBackoffMs,jitter", &[10.0, 0.0]);
    capture(&core, "e", None).unwrap().unwrap();
    core.flush(None).unwrap();
    let token = get(&sent_at(&host, 0), "token").as_f64().unwrap();
    core.answer(token, 503.0, None, None).unwrap();
    assert_eq!(count(&host, "sent"), 1, "the retry waits for its backoff");
    assert!(
        last_armed(&host) >= 5.0,
        "the timer is armed for the backoff"
    );
    assert!(fire_when_due(&core, &host).await);
    assert_eq!(count(&host, "sent"), 2, "the one timer fired the retry");
    let token = get(&sent_at(&host, 1), "token").as_f64().unwrap();
    core.answer(token, 200.0, None, None).unwrap();
    let stats = stats(&core);
    assert_eq!(get(&stats, "delivered").as_f64(), Some(1.0));
    assert_eq!(get(&stats, "retries").as_f64(), Some(1.0));
}

#[wasm_bindgen_test]
fn offline_holds_requests_until_online() {
    let (core, host) = client("", &[]);
    core.set_online(false).unwrap();
    capture(&core, "e", None).unwrap().unwrap();
    core.flush(None).unwrap();
    assert_eq!(count(&host, "sent"), 0);
    core.set_online(true).unwrap();
    assert_eq!(count(&host, "sent"), 1);
}

#[wasm_bindgen_test]
async fn offline_with_due_sends_does_not_spin_the_timer() {
    let (core, host) = client("flushAt", &[1.0]);
    core.set_online(false).unwrap();
    capture(&core, "e", None).unwrap().unwrap();
    let start = js_sys::Date::now();
    let mut fired = 0;
    while js_sys::Date::now() - start < 300.0 {
        if fire_when_due(&core, &host).await {
            fired += 1;
        } else {
            JsFuture::from(sleep(20)).await.unwrap();
        }
    }
    // A timer re-armed at 0 ms would fire dozens of times.
    assert!(fired <= 3, "{fired} timers in 300 ms while offline");
    assert_eq!(count(&host, "sent"), 0);
    core.set_online(true).unwrap();
    assert_eq!(count(&host, "sent"), 1);
}

#[wasm_bindgen_test]
fn refusals_throw_named_errors_and_the_client_keeps_working() {
    let (core, host) = client("maxEventBytes", &[2048.0]);
    for bad in ["[1]", "{\"a\":}", "not json", "{\"a\":1}}"] {
        let e = capture(&core, "e", Some(bad)).unwrap_err();
        assert!(
            message(e).contains("properties must be the JSON text of one object"),
            "{bad}"
        );
    }
    let e = capture(
        &core,
        "e",
        Some(&format!("{{\"s\":\"{}\"}}", "x".repeat(4096))),
    )
    .unwrap_err();
    assert_eq!(get(&e, "name").as_string().unwrap(), "RangeError");
    assert!(message(e).contains("maxEventBytes"));
    let e = core
        .capture(
            "e".into(),
            None,
            "u".into(),
            Some("not-a-uuid".into()),
            f64::NAN,
            None,
            None,
            f64::NAN,
        )
        .unwrap_err();
    assert!(message(e).contains("uuid"));
    let e = core
        .count("".into(), "tokens".into(), 1.0, None)
        .unwrap_err();
    assert!(message(e).contains("tenant is empty"));
    let e = core
        .count("t".into(), "tokens".into(), f64::NAN, None)
        .unwrap_err();
    assert!(message(e).contains("not a finite number"));
    let e = core
        .gauge("t".into(), "seats".into(), 1.0, Some("[1]".into()))
        .unwrap_err();
    assert!(message(e).contains("tags must be a JSON object"));

    capture(&core, "still works", None).unwrap().unwrap();
    core.count(
        "t".into(),
        "tokens".into(),
        2.0,
        Some(r#"{"b":1,"a":2}"#.into()),
    )
    .unwrap();
    core.count(
        "t".into(),
        "tokens".into(),
        3.0,
        Some(r#"{"a":2,"b":1}"#.into()),
    )
    .unwrap();
    assert_eq!(core.meter_keys(), 1.0);
    assert_eq!(core.flush_meters().unwrap(), 1.0);
    core.flush(None).unwrap();
    let body = get(&sent_at(&host, 0), "body").as_string().unwrap();
    assert!(
        body.contains(r#""value":5"#) && body.contains(r#""tags":{"a":2,"b":1}"#),
        "{body}"
    );
    let stats = stats(&core);
    let (captured, pending) = (
        get(&stats, "captured").as_f64().unwrap(),
        get(&stats, "pending").as_f64().unwrap(),
    );
    let dropped = get(&stats, "droppedTotal").as_f64().unwrap();
    assert_eq!(
        captured,
        pending + dropped + get(&stats, "delivered").as_f64().unwrap()
    );
}

#[wasm_bindgen_test]
fn bad_option_combinations_name_the_field() {
    let host = recording_host();
    let e = TimerDriver::new(
        "https://ingest.example.com".into(),
        "phc_unit".into(),
        &positional("flushAt,maxBatchEvents", &[500.0, 100.0]),
        String::new(),
        host.unchecked_into::<Host>(),
    )
    .err()
    .expect("refused");
    assert_eq!(get(&e, "name").as_string().unwrap(), "RangeError");
    // js/options.js rewrites the core's field names to option names
    // (tested in node.test.mjs through the wrapper).
    let m = message(e);
    assert!(
        m.contains("\"flush_at\"") && m.contains("max_batch_events"),
        "{m}"
    );

    let e = TimerDriver::new(
        "http://example.com".into(),
        "phc_unit".into(),
        &[],
        String::new(),
        recording_host().unchecked_into::<Host>(),
    )
    .err()
    .expect("plain http to a public host is refused");
    assert!(message(e).contains("\"host\""));
}

#[wasm_bindgen_test]
fn shutdown_reports_to_the_host_and_later_captures_are_counted() {
    let (core, host) = client("", &[]);
    core.shutdown(Some(0.0)).unwrap();
    assert_eq!(count(&host, "shut"), 1);
    assert_eq!(capture(&core, "late", None).unwrap(), None);
    assert_eq!(core.flush(None).unwrap(), -1.0);
    let stats = stats(&core);
    assert_eq!(
        get(&get(&stats, "dropped"), "shut_down").as_f64(),
        Some(1.0)
    );
}

#[wasm_bindgen_test]
async fn a_due_batch_lingers_but_a_flush_does_not() {
    let (core, host) = client("flushAt,lingerMs", &[1.0, 50.0]);
    capture(&core, "e", None).unwrap().unwrap();
    assert_eq!(count(&host, "sent"), 0, "due, but it lingers 50 ms");
    assert!(
        last_armed(&host) >= 40.0,
        "the timer is armed for the linger"
    );
    assert!(fire_when_due(&core, &host).await);
    assert_eq!(
        count(&host, "sent"),
        1,
        "the timer sent it after the linger"
    );
    capture(&core, "f", None).unwrap().unwrap();
    core.flush(Some(1000.0)).unwrap();
    assert_eq!(count(&host, "sent"), 2, "a flush never waits");
}

#[wasm_bindgen_test]
fn refusals_before_the_core_are_counted_by_the_core() {
    let (core, _host) = client("", &[]);
    core.note_refused(0, 1.0).unwrap();
    core.note_refused(2, 3.0).unwrap();
    let stats = stats(&core);
    let dropped = get(&stats, "dropped");
    assert_eq!(get(&dropped, "too_large").as_f64(), Some(1.0));
    assert_eq!(get(&dropped, "invalid_event").as_f64(), Some(3.0));
    assert_eq!(get(&stats, "captured").as_f64(), Some(4.0));
    assert_eq!(get(&stats, "droppedTotal").as_f64(), Some(4.0));
}

#[wasm_bindgen_test]
fn resolved_events_reach_the_host_with_their_fate_only_when_it_wants_them() {
    let (core, host) = quiet_client("", &[]);
    capture(&core, "e", None).unwrap().unwrap();
    core.flush(None).unwrap();
    let token = get(&sent_at(&host, 0), "token").as_f64().unwrap();
    core.answer(token, 200.0, None, None).unwrap();
    assert_eq!(
        count(&host, "delivered"),
        0,
        "no uuid is written for nobody"
    );

    core.want_resolved(true).unwrap();
    let ok = capture(&core, "ok", None).unwrap().unwrap();
    let bad = capture(&core, "bad", None).unwrap().unwrap();
    core.flush(None).unwrap();
    let token = get(&sent_at(&host, 1), "token").as_f64().unwrap();
    core.answer(token, 400.0, None, None).unwrap();
    assert_eq!(
        listed(&host, "dropped"),
        format!("http_400:{ok} http_400:{bad}")
    );
    let late = capture(&core, "late", None).unwrap().unwrap();
    core.shutdown(Some(0.0)).unwrap();
    assert_eq!(
        listed(&host, "dropped"),
        format!("http_400:{ok} http_400:{bad} shutdown_deadline:{late}")
    );
}

#[wasm_bindgen_test]
async fn an_event_past_event_timeout_is_dropped_as_expired_while_offline() {
    let (core, host) = client("eventTimeoutMs", &[30.0]);
    core.set_online(false).unwrap();
    let uuid = capture(&core, "e", None).unwrap().unwrap();
    assert!(
        last_armed(&host) <= 30.0,
        "the timer is armed for the deadline"
    );
    let start = js_sys::Date::now();
    while count(&host, "dropped") == 0 && js_sys::Date::now() - start < 1000.0 {
        if !fire_when_due(&core, &host).await {
            JsFuture::from(sleep(10)).await.unwrap();
        }
    }
    assert_eq!(listed(&host, "dropped"), format!("expired:{uuid}"));
    assert!(js_sys::Date::now() - start >= 29.0);
    assert_eq!(
        get(&get(&stats(&core), "dropped"), "expired").as_f64(),
        Some(1.0)
    );
}

#[wasm_bindgen_test]
fn a_replayed_event_past_its_deadline_is_refused_as_expired() {
    let (core, _host) = client("eventTimeoutMs", &[60_000.0]);
    let now = js_sys::Date::now();
    let replay = |first: f64| {
        core.capture(
            "replayed".into(),
            None,
            "u".into(),
            None,
            first,
            None,
            None,
            first,
        )
        .unwrap()
    };
    assert_eq!(replay(now - 61_000.0), None, "refused");
    assert!(replay(now - 1_000.0).is_some(), "still within its deadline");
    let stats = stats(&core);
    assert_eq!(get(&get(&stats, "dropped"), "expired").as_f64(), Some(1.0));
    assert_eq!(get(&stats, "pending").as_f64(), Some(1.0));
}
