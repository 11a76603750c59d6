//! The fake ingestion server, a small seeded state machine of its own. It
//! reads each request as a real server would (gunzip when the body says so,
//! JSON), records every event it receives with its body fields, stores or
//! refuses them, and picks its answer from a script or a seeded fault profile.

use std::collections::VecDeque;
use std::io::Read;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use tidings::{Instant, RequestId, Response, Uuid, WallTime};

use super::rng::SimRng;
use super::{FastMap, FastSet};

/// A `Retry-After` as the server writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: N`.
    Seconds(u64),
    /// An HTTP-date N seconds after the server's own clock.
    Date(u64),
    /// Anything else, verbatim (absurd numbers, garbage).
    Raw(String),
}

/// What a PostHog v1 `results` map says about one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V1Result {
    Ok,
    Retry,
    Drop,
    Limited,
    /// A value the client does not know: final, and stored.
    Warning,
    /// No entry for the uuid: final, and stored.
    Missing,
}

/// What the server does with one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// 2xx, every event stored (v1: every result `ok`).
    Accept,
    /// This status, nothing stored.
    Status(u16, Option<RetryAfter>),
    /// v1: 200 with these results in body order (events past the end: `ok`).
    V1(Vec<V1Result>, Option<RetryAfter>),
    /// 200 with a body that is not JSON; every event stored.
    Garbage,
    /// Stored, but the answer never comes back: the client times out.
    TimeoutAfterStore,
    /// Lost before the server: the client times out.
    TimeoutBeforeStore,
    /// Connection refused or reset before anything was stored.
    ConnectionError,
    /// The adapter never reports at all (a broken adapter): the core must
    /// give up on its own. The server may have stored it.
    Hang { stored: bool },
    /// Left open until the test calls `Sim::answer`.
    Hold,
}

/// How the answer travels back.
#[derive(Clone, Debug)]
pub enum Answer {
    Response(Response),
    Timeout,
    Connection,
    Hang,
    Hold,
}

pub struct Decision {
    /// When the answer would arrive, measured from the request.
    pub latency: Duration,
    pub answer: Answer,
}

/// Seeded faults for the randomized run. Shares are per request and add up
/// to at most 1; what is left is a success.
#[derive(Clone, Debug, Default)]
pub struct FaultProfile {
    pub latency_ms: (u64, u64),
    pub server_error: f64,
    pub rate_limit: f64,
    pub final_error: f64,
    pub timeout_stored: f64,
    pub timeout_lost: f64,
    pub connection: f64,
    pub hang: f64,
    pub garbage: f64,
    /// A success so slow that the client has timed out: stored, answer lost.
    pub slow: f64,
    /// Per-event v1 results on a success.
    pub v1_retry: f64,
    pub v1_drop: f64,
    pub v1_limited: f64,
    pub v1_odd: f64,
    /// Share of transient answers that carry a Retry-After.
    pub retry_after: f64,
    pub retry_after_max_secs: u64,
    /// Every request in `[start, end)` gets a 503.
    pub outage: Option<(Instant, Instant)>,
}

impl FaultProfile {
    /// Always 200 after 10 ms.
    pub fn reliable() -> Self {
        FaultProfile {
            latency_ms: (10, 10),
            ..Default::default()
        }
    }

    fn decide(&self, rng: &mut SimRng, at: Instant, v1: bool, events: usize) -> (Plan, Duration) {
        let latency = rng.millis(self.latency_ms.0, self.latency_ms.1);
        if self
            .outage
            .is_some_and(|(start, end)| start <= at && at < end)
        {
            return (Plan::Status(503, self.retry_after(rng)), latency);
        }
        let roll = rng.unit();
        let mut band = 0.0;
        let mut hit = |share: f64| {
            band += share;
            roll < band
        };
        let plan = if hit(self.server_error) {
            Plan::Status(rng.pick(&[500, 502, 503, 504, 408]), self.retry_after(rng))
        } else if hit(self.rate_limit) {
            Plan::Status(429, self.retry_after(rng))
        } else if hit(self.final_error) {
            Plan::Status(rng.pick(&[400, 401, 402, 403, 404, 415, 422]), None)
        } else if hit(self.timeout_stored) {
            Plan::TimeoutAfterStore
        } else if hit(self.timeout_lost) {
            Plan::TimeoutBeforeStore
        } else if hit(self.connection) {
            Plan::ConnectionError
        } else if hit(self.hang) {
            Plan::Hang {
                stored: rng.chance(0.5),
            }
        } else if hit(self.garbage) {
            Plan::Garbage
        } else if hit(self.slow) {
            return (Plan::Accept, Duration::from_secs(3600));
        } else if v1 && self.v1_retry + self.v1_drop + self.v1_limited + self.v1_odd > 0.0 {
            let results = (0..events).map(|_| self.v1_result(rng)).collect();
            let retry_after = self.retry_after(rng);
            Plan::V1(results, retry_after)
        } else {
            Plan::Accept
        };
        (plan, latency)
    }

    fn v1_result(&self, rng: &mut SimRng) -> V1Result {
        let roll = rng.unit();
        let mut band = 0.0;
        for (share, result) in [
            (self.v1_retry, V1Result::Retry),
            (self.v1_drop, V1Result::Drop),
            (self.v1_limited, V1Result::Limited),
            (self.v1_odd / 2.0, V1Result::Warning),
            (self.v1_odd / 2.0, V1Result::Missing),
        ] {
            band += share;
            if roll < band {
                return result;
            }
        }
        V1Result::Ok
    }

    fn retry_after(&self, rng: &mut SimRng) -> Option<RetryAfter> {
        if !rng.chance(self.retry_after) {
            return None;
        }
        let secs = rng.range(0, self.retry_after_max_secs);
        Some(match rng.below(10) {
            0..=3 => RetryAfter::Seconds(secs),
            4..=7 => RetryAfter::Date(secs),
            8 => RetryAfter::Raw("99999999999999999999999".into()),
            _ => RetryAfter::Raw("soon".into()),
        })
    }
}

/// One event as the server read it.
#[derive(Clone, Debug)]
pub struct ReceivedEvent {
    pub uuid: Uuid,
    /// Its exact bytes in the body.
    pub raw: String,
}

impl ReceivedEvent {
    /// The event, parsed (on demand: most checks compare `raw`).
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.raw).expect("valid JSON")
    }
}

/// One request as the server read it.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    /// The server's own (true) wall clock.
    pub server_wall: WallTime,
    /// The core's id for it (not on the wire; kept to correlate).
    pub id: RequestId,
    /// The timeout the core gave the adapter (not on the wire either).
    pub timeout: Duration,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// Bytes on the wire (compressed when gzip).
    pub wire_len: usize,
    /// The decoded JSON text.
    pub json: String,
    /// Top-level members other than `batch`.
    pub fields: Map<String, Value>,
    pub events: Vec<ReceivedEvent>,
    pub plan: Plan,
    /// The events this request stored.
    pub stored: Vec<Uuid>,
    /// Stored, but the client never got the answer.
    pub answer_lost: bool,
}

impl Received {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn uuids(&self) -> Vec<Uuid> {
        self.events.iter().map(|e| e.uuid).collect()
    }

    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }

    /// The wire size of `json` in bytes (not characters).
    pub fn json_len(&self) -> usize {
        self.json.len()
    }
}

/// A request as it reaches the server.
pub struct Incoming<'a> {
    pub at: Instant,
    pub server_wall: WallTime,
    pub id: RequestId,
    pub timeout: Duration,
    pub url: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

pub struct Ingest {
    pub profile: FaultProfile,
    /// Bodies above this many (decoded) bytes get a 413.
    pub max_body: Option<usize>,
    /// Latency of scripted answers.
    pub latency: Duration,
    rng: SimRng,
    script: VecDeque<(Plan, Option<Duration>)>,
    pub requests: Vec<Received>,
    stored: FastMap<Uuid, u32>,
    /// Events stored by a request whose answer was lost: a duplicate of
    /// these is expected.
    lost: FastSet<Uuid>,
    pub duplicates: u64,
}

impl Ingest {
    pub fn new(profile: FaultProfile, seed: u64) -> Self {
        Ingest {
            profile,
            max_body: None,
            latency: Duration::from_millis(10),
            rng: SimRng::new(seed),
            script: VecDeque::new(),
            requests: Vec::new(),
            stored: FastMap::default(),
            lost: FastSet::default(),
            duplicates: 0,
        }
    }

    /// Answers the next request this way (before the fault profile).
    pub fn push(&mut self, plan: Plan) {
        self.script.push_back((plan, None));
    }

    /// Answers the next request this way, after `latency`.
    pub fn push_after(&mut self, plan: Plan, latency: Duration) {
        self.script.push_back((plan, Some(latency)));
    }

    /// How many times `uuid` was stored.
    pub fn stored_count(&self, uuid: &Uuid) -> u32 {
        self.stored.get(uuid).copied().unwrap_or(0)
    }

    /// Reads a request and decides what happens to it.
    pub fn receive(&mut self, req: Incoming<'_>) -> (usize, Decision) {
        let index = self.requests.len();
        let received = parse(&req, index);
        let v1 = req.url.contains("/i/v1/");
        let (plan, latency) = if self.max_body.is_some_and(|max| received.json.len() > max) {
            (Plan::Status(413, None), self.latency)
        } else if let Some((plan, latency)) = self.script.pop_front() {
            (plan, latency.unwrap_or(self.latency))
        } else {
            self.profile
                .decide(&mut self.rng, req.at, v1, received.events.len())
        };
        self.requests.push(Received {
            plan: plan.clone(),
            ..received
        });
        let answer_wall =
            WallTime::from_unix_millis(req.server_wall.unix_millis() + latency.as_millis() as u64);
        let answer = self.carry_out(index, &plan, answer_wall);
        (index, Decision { latency, answer })
    }

    /// Answers a held request now with `plan`.
    pub fn answer_held(&mut self, index: usize, plan: &Plan, server_wall: WallTime) -> Answer {
        assert_eq!(self.requests[index].plan, Plan::Hold, "not a held request");
        self.requests[index].plan = plan.clone();
        self.carry_out(index, plan, server_wall)
    }

    /// The client will never see the answer to request `index`.
    pub fn answer_lost(&mut self, index: usize) {
        let request = &mut self.requests[index];
        request.answer_lost = true;
        self.lost.extend(request.stored.iter().copied());
    }

    fn carry_out(&mut self, index: usize, plan: &Plan, answer_wall: WallTime) -> Answer {
        let v1 = self.requests[index].url.contains("/i/v1/");
        let uuids = self.requests[index].uuids();
        match plan {
            Plan::Accept => {
                self.store(index, &uuids);
                let body = if v1 {
                    let results: Map<String, Value> = uuids
                        .iter()
                        .map(|u| (u.to_string(), json!({"result": "ok"})))
                        .collect();
                    json!({ "results": results })
                } else {
                    json!({"status": 1})
                };
                Answer::Response(Response::new(200).with_body(body.to_string()))
            }
            Plan::Status(status, retry_after) => {
                let body = json!({"error": "sim", "error_description": format!("status {status}")});
                let mut response = Response::new(*status).with_body(body.to_string());
                response.retry_after = retry_after.as_ref().map(|r| header_value(r, answer_wall));
                Answer::Response(response)
            }
            Plan::V1(results, retry_after) => {
                let mut map = Map::new();
                let mut stored = Vec::new();
                for (i, uuid) in uuids.iter().enumerate() {
                    let result = results.get(i).copied().unwrap_or(V1Result::Ok);
                    let word = match result {
                        V1Result::Ok => "ok",
                        V1Result::Retry => "retry",
                        V1Result::Drop => "drop",
                        V1Result::Limited => "limited",
                        V1Result::Warning => "warning",
                        V1Result::Missing => "",
                    };
                    if matches!(result, V1Result::Ok | V1Result::Warning | V1Result::Missing) {
                        stored.push(*uuid);
                    }
                    if !word.is_empty() {
                        map.insert(uuid.to_string(), json!({ "result": word }));
                    }
                }
                self.store(index, &stored);
                let mut response =
                    Response::new(200).with_body(json!({ "results": map }).to_string());
                response.retry_after = retry_after.as_ref().map(|r| header_value(r, answer_wall));
                Answer::Response(response)
            }
            Plan::Garbage => {
                self.store(index, &uuids);
                Answer::Response(Response::new(200).with_body("<html>upstream says hi</html>"))
            }
            Plan::TimeoutAfterStore => {
                self.store(index, &uuids);
                self.answer_lost(index);
                Answer::Timeout
            }
            Plan::TimeoutBeforeStore => Answer::Timeout,
            Plan::ConnectionError => Answer::Connection,
            Plan::Hang { stored } => {
                if *stored {
                    self.store(index, &uuids);
                    self.answer_lost(index);
                }
                Answer::Hang
            }
            Plan::Hold => Answer::Hold,
        }
    }

    /// Stores events; a second copy is only expected after a lost answer.
    fn store(&mut self, index: usize, uuids: &[Uuid]) {
        for uuid in uuids {
            let copies = self.stored.entry(*uuid).or_insert(0);
            if *copies > 0 {
                assert!(
                    self.lost.contains(uuid),
                    "ingest: event {uuid} stored again by request #{index} ({:?}) although every earlier answer for it reached the client",
                    self.requests[index].id
                );
                self.duplicates += 1;
            }
            *copies += 1;
        }
        self.requests[index].stored.extend_from_slice(uuids);
    }
}

fn header_value(retry_after: &RetryAfter, server_wall: WallTime) -> String {
    match retry_after {
        RetryAfter::Seconds(secs) => secs.to_string(),
        RetryAfter::Date(secs) => httpdate::fmt_http_date(
            UNIX_EPOCH
                + Duration::from_millis(server_wall.unix_millis())
                + Duration::from_secs(*secs),
        ),
        RetryAfter::Raw(value) => value.clone(),
    }
}

/// Decodes and parses a body; a body no server could read is a core bug.
fn parse(req: &Incoming<'_>, index: usize) -> Received {
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let json = match header("Content-Encoding") {
        Some("gzip") => {
            let mut out = String::new();
            flate2::read::GzDecoder::new(req.body)
                .read_to_string(&mut out)
                .unwrap_or_else(|e| panic!("ingest: request #{index} is not valid gzip: {e}"));
            out
        }
        None => String::from_utf8(req.body.to_vec())
            .unwrap_or_else(|e| panic!("ingest: request #{index} is not UTF-8: {e}")),
        Some(other) => panic!("ingest: request #{index} has Content-Encoding {other}"),
    };
    let mut top: Map<String, Value> = Map::new();
    let mut events = Vec::new();
    let members: std::collections::BTreeMap<&str, &RawValue> = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("ingest: request #{index} is not a JSON object: {e}\n{json}"));
    for (key, raw) in members {
        if key == "batch" {
            let batch: Vec<&RawValue> = serde_json::from_str(raw.get()).unwrap_or_else(|e| {
                panic!("ingest: `batch` of request #{index} is not an array: {e}")
            });
            for raw in batch {
                let uuid = uuid_member(raw.get()).unwrap_or_else(|| {
                    panic!(
                        "ingest: an event of request #{index} has no uuid: {}",
                        raw.get()
                    )
                });
                events.push(ReceivedEvent {
                    uuid,
                    raw: raw.get().to_owned(),
                });
            }
        } else {
            let value = serde_json::from_str(raw.get()).expect("valid JSON");
            top.insert(key.to_owned(), value);
        }
    }
    Received {
        at: req.at,
        server_wall: req.server_wall,
        id: req.id,
        timeout: req.timeout,
        url: req.url.to_owned(),
        headers: req.headers.to_vec(),
        wire_len: req.body.len(),
        json,
        fields: top,
        events,
        plan: Plan::Hold,
        stored: Vec::new(),
        answer_lost: false,
    }
}

/// The `uuid` member of an encoded event, found without a full parse (the
/// checker parses each event fully the first time it sees it and compares
/// this uuid with the parsed one).
fn uuid_member(raw: &str) -> Option<Uuid> {
    const KEY: &str = "\"uuid\":\"";
    let start = raw.find(KEY)? + KEY.len();
    Uuid::parse_str(raw.get(start..start + 36)?).ok()
}
