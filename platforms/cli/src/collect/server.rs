//! The HTTP server: hyper on a Tokio runtime of its own thread, so the
//! collector can be embedded in synchronous code (the demo, tests).
//!
//! The runtime's threads only move bytes: gunzipping, validating and
//! storing a body, and listing events, run on blocking threads, a few at a
//! time (`Limits::max_concurrent_work`), so `/stats` answers under load.

use std::borrow::Cow;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::sync::Semaphore;

use super::faults::{Fate, FaultDice, Faults};
use super::limits::{BodyBudget, Limits, Reservation};
use super::stats::{CollectorStats, StatsCell};
use super::store::{Store, Stored};
use super::validate::{HeaderLookup, Wire, validate};

/// The first wait after a failed accept (out of file descriptors, say);
/// it doubles up to `ACCEPT_BACKOFF_MAX` while accepting keeps failing.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_millis(100);

/// How to run a collector. Its resource limits are [`Limits`], given to
/// [`Collector::start_with`].
#[derive(Clone, Debug)]
pub struct CollectorOptions {
    pub bind: IpAddr,
    /// 0 lets the OS choose.
    pub port: u16,
    /// SQLite file, or `:memory:`.
    pub db: String,
    /// Empty an existing database file first.
    pub reset: bool,
    pub faults: Faults,
    /// Print one line per request to stderr.
    pub log_requests: bool,
}

impl Default for CollectorOptions {
    fn default() -> Self {
        CollectorOptions {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            db: ":memory:".into(),
            reset: false,
            faults: Faults::default(),
            log_requests: false,
        }
    }
}

struct Shared {
    store: Store,
    dice: FaultDice,
    stats: StatsCell,
    log_requests: bool,
    limits: Limits,
    /// Room for request bodies (`max_buffered_bytes`).
    budget: BodyBudget,
    /// Turns at heavy work (`max_concurrent_work`).
    work: Arc<Semaphore>,
    /// Requests waiting for room in `budget`.
    waiting: AtomicU64,
}

impl Shared {
    fn snapshot(&self) -> CollectorStats {
        let mut s = self.stats.snapshot();
        s.body_bytes_held = self.budget.reserved();
        s.bodies_waiting = self.waiting.load(Ordering::Relaxed);
        s
    }
}

/// A running collector; it stops when dropped.
pub struct Collector {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Collector {
    /// Opens the database, binds the address and starts serving, with the
    /// default [`Limits`].
    pub fn start(options: CollectorOptions) -> Result<Collector, String> {
        Collector::start_with(options, Limits::default())
    }

    /// [`Collector::start`] with other resource limits.
    pub fn start_with(options: CollectorOptions, limits: Limits) -> Result<Collector, String> {
        options.faults.validate()?;
        limits.validate()?;
        let store = Store::open(&options.db, options.reset)
            .map_err(|e| format!("cannot open database `{}`: {e}", options.db))?;
        let listener = std::net::TcpListener::bind((options.bind, options.port))
            .map_err(|e| format!("cannot bind {}:{}: {e}", options.bind, options.port))?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let shared = Arc::new(Shared {
            store,
            dice: FaultDice::new(options.faults),
            stats: StatsCell::default(),
            log_requests: options.log_requests,
            budget: BodyBudget::new(limits.max_buffered_bytes),
            work: Arc::new(Semaphore::new(limits.max_concurrent_work)),
            waiting: AtomicU64::new(0),
            limits,
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tidings-collector")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the runtime: {e}"))?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name("tidings-collector".into())
            .spawn(move || {
                runtime.block_on(serve(listener, serving, stopped));
                runtime.shutdown_timeout(std::time::Duration::from_secs(1));
            })
            .map_err(|e| e.to_string())?;
        Ok(Collector {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the host to give a client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Counters since start.
    pub fn stats(&self) -> CollectorStats {
        self.shared.snapshot()
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Stops serving and waits for the server thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    // Failed accepts in a row, and the wait before the next try.
    let mut failures = 0u64;
    let mut backoff = ACCEPT_BACKOFF_MIN;
    loop {
        let accepted = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            // One connection's trouble: try the next at once.
            Err(e) if is_per_connection(&e) => continue,
            // The process's (no file descriptor left, no memory): the
            // listener stays ready, so trying again at once would spin.
            Err(e) => {
                if failures == 0 {
                    eprintln!(
                        "tidings collect: cannot accept connections ({e}); trying again every {}-{} ms",
                        ACCEPT_BACKOFF_MIN.as_millis(),
                        ACCEPT_BACKOFF_MAX.as_millis()
                    );
                }
                failures += 1;
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        if failures > 0 {
            eprintln!("tidings collect: accepting connections again after {failures} failed tries");
            failures = 0;
            backoff = ACCEPT_BACKOFF_MIN;
        }
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let header_read_timeout = shared.limits.header_read_timeout;
            let service = service_fn(move |req| handle(req, shared.clone()));
            // A connection closed on purpose (a fault) or timed out ends
            // here with an error.
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Whether a failed accept is about the connection accepted (gone before
/// it was), not about the process.
fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    )
}

/// Closing the connection without an answer (a fault, not a bug).
#[derive(Debug)]
struct CloseConnection;

impl std::fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed on purpose")
    }
}

impl std::error::Error for CloseConnection {}

type Answer = Result<Response<Full<Bytes>>, CloseConnection>;

async fn handle(req: Request<Incoming>, shared: Arc<Shared>) -> Answer {
    shared.stats.update(|s| s.requests += 1);
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let wire = match (req.method(), path.as_str()) {
        (&Method::OPTIONS, _) => return Ok(preflight(req.headers())),
        (&Method::GET, "/stats") => {
            return Ok(reply(&shared, StatusCode::OK, json!(shared.snapshot())));
        }
        (&Method::GET, "/events") => return Ok(list_events(&shared, req.uri().query()).await),
        (&Method::GET, "" | "/health") => {
            return Ok(reply(
                &shared,
                StatusCode::OK,
                json!({"status": "ok", "service": "tidings collect"}),
            ));
        }
        (&Method::POST, "/batch") => Wire::PostHogV0,
        (&Method::POST, "/i/v1/analytics/events") => Wire::PostHogV1,
        (&Method::POST, "/events") => Wire::Json,
        _ => {
            return Ok(error(
                &shared,
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("no route for {path}"),
            ));
        }
    };
    let (parts, body) = req.into_parts();
    let (answer, read) = match read_body(&shared, body).await {
        Ok(body) => {
            let read = body.bytes.len();
            shared.stats.update(|s| s.bytes += read as u64);
            let query = parts.uri.query().map(str::to_owned);
            (
                answer(&shared, wire, &parts.headers, query, body).await,
                read,
            )
        }
        Err(Unread { answer, read }) => {
            shared.stats.update(|s| s.bytes += read as u64);
            (answer, read)
        }
    };
    if shared.log_requests {
        let status = answer
            .as_ref()
            .map_or("closed".to_owned(), |r| r.status().as_u16().to_string());
        eprintln!(
            "{} {} {read} bytes -> {status}",
            parts.method,
            parts.uri.path(),
        );
    }
    answer
}

/// A request body, and its room in the budget.
struct ReadBody {
    bytes: Vec<u8>,
    /// Held while the body is.
    _room: Reservation,
}

/// A body not read to the end: the answer already decided, and the bytes
/// read before.
struct Unread {
    answer: Answer,
    read: usize,
}

/// Counts a request waiting for room, until dropped (the request may be
/// dropped while it waits: its client went away).
struct Waiting<'a>(&'a AtomicU64);

impl<'a> Waiting<'a> {
    fn new(n: &'a AtomicU64) -> Self {
        n.fetch_add(1, Ordering::Relaxed);
        Waiting(n)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Reads a body within the limits: 413 for a `Content-Length` above
/// `max_body_bytes` before reading any of it, and for a chunked body as
/// soon as it passes; 503 if there is no room for it in time; 408 if it
/// does not arrive in time. These answers close the connection (the rest
/// of the body is not read).
async fn read_body(shared: &Shared, mut body: Incoming) -> Result<ReadBody, Unread> {
    let limits = &shared.limits;
    let max = limits.max_body_bytes;
    let refuse = |status, code, description: &str, read| {
        let mut r = error(shared, status, code, description);
        r.headers_mut()
            .insert("connection", HeaderValue::from_static("close"));
        Unread {
            answer: Ok(r),
            read,
        }
    };
    let declared = body.size_hint().exact();
    if let Some(n) = declared
        && n > max as u64
    {
        let msg = format!("Content-Length {n} is above the collector's limit of {max} bytes");
        return Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            &msg,
            0,
        ));
    }
    // A chunked body may be as large as the limit: room for that, given
    // back once its size is known.
    let expected = declared.map_or(max, |n| n as usize);
    let mut room = match shared.budget.try_reserve(expected) {
        Some(room) => room,
        None => {
            let _waiting = Waiting::new(&shared.waiting);
            let wait = shared.budget.reserve(expected);
            match tokio::time::timeout(limits.body_read_timeout, wait).await {
                Ok(room) => room,
                Err(_) => {
                    let mut unread = refuse(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "busy",
                        "the collector holds as many request bodies as it may; try again",
                        0,
                    );
                    if let Ok(r) = &mut unread.answer {
                        r.headers_mut()
                            .insert("retry-after", HeaderValue::from_static("1"));
                    }
                    return Err(unread);
                }
            }
        }
    };
    let deadline = tokio::time::Instant::now() + limits.body_read_timeout;
    let mut bytes: Vec<u8> = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(None) => break,
            Ok(Some(Ok(frame))) => frame,
            // The client went away, or sent a malformed chunk.
            Ok(Some(Err(_))) => {
                return Err(Unread {
                    answer: Err(CloseConnection),
                    read: bytes.len(),
                });
            }
            Err(_) => {
                let msg = format!(
                    "the body did not arrive within {} ms ({} bytes read)",
                    limits.body_read_timeout.as_millis(),
                    bytes.len()
                );
                return Err(refuse(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    &msg,
                    bytes.len(),
                ));
            }
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        if data.len() > max - bytes.len() {
            let msg = format!("the body is above the collector's limit of {max} bytes");
            return Err(refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                &msg,
                bytes.len() + data.len(),
            ));
        }
        if bytes.capacity() - bytes.len() < data.len() {
            // Doubling, as a Vec does, but never past the limit.
            let capacity = (bytes.capacity() * 2)
                .max(bytes.len() + data.len())
                .min(max);
            bytes.reserve_exact(capacity - bytes.len());
        }
        bytes.extend_from_slice(&data);
    }
    room.shrink_to(bytes.len());
    Ok(ReadBody { bytes, _room: room })
}

/// Why a body was refused after it was read.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    description: String,
}

/// A body processed: what it changed, and the answer's body.
struct Processed {
    events: usize,
    stored: Stored,
    answer: String,
}

async fn answer(
    shared: &Arc<Shared>,
    wire: Wire,
    headers: &HeaderMap,
    query: Option<String>,
    body: ReadBody,
) -> Answer {
    let plan = shared.dice.roll();
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    let faults = shared.dice.faults();
    match plan.fate {
        Fate::DropConnection => {
            shared.stats.update(|s| s.dropped_connections += 1);
            return Err(CloseConnection);
        }
        Fate::Fail => {
            let status =
                StatusCode::from_u16(faults.fail_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let code = if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS {
                "rejected"
            } else {
                "unavailable"
            };
            let mut r = error(shared, status, code, "injected failure");
            // An injected 429 says when to come back, as a real one does.
            if status == StatusCode::TOO_MANY_REQUESTS
                && let Ok(v) = HeaderValue::from_str(&faults.retry_after)
            {
                r.headers_mut().insert("retry-after", v);
            }
            return Ok(r);
        }
        Fate::RateLimit => {
            let mut r = error(
                shared,
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "injected rate limit",
            );
            if let Ok(v) = HeaderValue::from_str(&faults.retry_after) {
                r.headers_mut().insert("retry-after", v);
            }
            return Ok(r);
        }
        Fate::Answer | Fate::LoseAnswer => {}
    }
    if faults
        .max_body_bytes
        .is_some_and(|max| body.bytes.len() > max)
    {
        let msg = format!(
            "body of {} bytes is above the limit of {}",
            body.bytes.len(),
            faults.max_body_bytes.unwrap_or(0)
        );
        return Ok(error(
            shared,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            &msg,
        ));
    }
    // The heavy part, off the runtime's threads and a few at a time; the
    // turn and the body's room go with the work, so they are held until
    // it ends even if this request is dropped (its client went away).
    let Ok(turn) = shared.work.clone().acquire_owned().await else {
        return Err(CloseConnection);
    };
    let (worker, headers) = (shared.clone(), headers.clone());
    let processed = tokio::task::spawn_blocking(move || {
        let processed = process(&worker, wire, &headers, query.as_deref(), &body.bytes);
        drop((body, turn));
        processed
    })
    .await;
    let processed = match processed {
        Ok(Ok(p)) => p,
        Ok(Err(refusal)) => {
            return Ok(error(
                shared,
                refusal.status,
                refusal.code,
                &refusal.description,
            ));
        }
        Err(e) => {
            return Ok(error(
                shared,
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                &e.to_string(),
            ));
        }
    };
    shared.stats.update(|s| {
        s.events += processed.events as u64;
        s.unique += processed.stored.new;
        s.duplicates += processed.stored.duplicates;
    });
    if plan.fate == Fate::LoseAnswer {
        shared.stats.update(|s| s.lost_answers += 1);
        return Err(CloseConnection);
    }
    Ok(reply_text(shared, StatusCode::OK, processed.answer))
}

/// Gunzips, validates and stores a body, and writes the answer (blocking).
fn process(
    shared: &Shared,
    wire: Wire,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Processed, Refusal> {
    let decoded = decode(headers, query, body, shared.limits.max_decoded_bytes)?;
    let batch = validate(wire, &Headers(headers), &decoded).map_err(|msg| Refusal {
        status: StatusCode::BAD_REQUEST,
        code: "invalid_payload",
        description: msg,
    })?;
    drop(decoded);
    let received_at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    let stored = shared
        .store
        .insert(wire, &batch, &received_at)
        .map_err(|e| Refusal {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "storage",
            description: e.to_string(),
        })?;
    let answer = match wire {
        Wire::PostHogV0 => json!({"status": 1}),
        Wire::PostHogV1 => {
            let results: serde_json::Map<String, serde_json::Value> = batch
                .events
                .iter()
                .map(|e| (e.uuid.to_string(), json!({"result": "ok"})))
                .collect();
            json!({ "results": results })
        }
        Wire::Json => json!({"status": "ok", "accepted": batch.events.len()}),
    };
    Ok(Processed {
        events: batch.events.len(),
        stored,
        answer: answer.to_string(),
    })
}

/// The body, gunzipped per `Content-Encoding`, or per the `compression`
/// query PostHog's browser SDK uses instead of the header (`gzip-js` or
/// `gzip`: a header would make the request need a CORS preflight); 413 if
/// it gunzips to more than `max_decoded` bytes.
fn decode<'a>(
    headers: &HeaderMap,
    query: Option<&str>,
    body: &'a [u8],
    max_decoded: usize,
) -> Result<Cow<'a, [u8]>, Refusal> {
    let invalid = |description| Refusal {
        status: StatusCode::BAD_REQUEST,
        code: "invalid_payload",
        description,
    };
    let by_query = query.is_some_and(|q| {
        q.split('&')
            .any(|pair| pair == "compression=gzip-js" || pair == "compression=gzip")
    }) && body.starts_with(&[0x1f, 0x8b]);
    let encoding = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(if by_query { "gzip" } else { "identity" });
    match encoding.trim().to_ascii_lowercase().as_str() {
        "identity" | "" => Ok(Cow::Borrowed(body)),
        "gzip" => {
            // Never more than the limit and one byte, however the body
            // inflates.
            let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max_decoded + 1));
            flate2::read::GzDecoder::new(body)
                .take(max_decoded as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| {
                    invalid(format!(
                        "Content-Encoding is gzip but the body does not gunzip: {e}"
                    ))
                })?;
            if out.len() > max_decoded {
                return Err(Refusal {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    code: "payload_too_large",
                    description: format!(
                        "the body gunzips to more than the collector's limit of {max_decoded} bytes"
                    ),
                });
            }
            Ok(Cow::Owned(out))
        }
        other => Err(invalid(format!(
            "unsupported Content-Encoding `{other}` (use gzip or none)"
        ))),
    }
}

struct Headers<'a>(&'a HeaderMap);

impl HeaderLookup for Headers<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.to_str().ok())
    }
}

/// `GET /events`, read and written on a blocking thread (a turn at work).
async fn list_events(shared: &Arc<Shared>, query: Option<&str>) -> Response<Full<Bytes>> {
    let limit = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("limit=")?.parse().ok())
        .unwrap_or(u64::MAX);
    let Ok(turn) = shared.work.clone().acquire_owned().await else {
        return error(
            shared,
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping",
            "the collector is stopping",
        );
    };
    let worker = shared.clone();
    let listed = tokio::task::spawn_blocking(move || {
        let rows = worker
            .store
            .events(limit)
            .map(|rows| json!(rows).to_string());
        drop(turn);
        rows
    })
    .await;
    match listed {
        Ok(Ok(rows)) => reply_text(shared, StatusCode::OK, rows),
        Ok(Err(e)) => error(
            shared,
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage",
            &e.to_string(),
        ),
        Err(e) => error(
            shared,
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &e.to_string(),
        ),
    }
}

fn error(
    shared: &Shared,
    status: StatusCode,
    code: &str,
    description: &str,
) -> Response<Full<Bytes>> {
    reply(
        shared,
        status,
        json!({"error": code, "error_description": description}),
    )
}

fn reply(shared: &Shared, status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    reply_text(shared, status, body.to_string())
}

/// [`reply`] with the JSON already written.
fn reply_text(shared: &Shared, status: StatusCode, body: String) -> Response<Full<Bytes>> {
    shared
        .stats
        .update(|s| *s.statuses.entry(status.as_u16()).or_default() += 1);
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    r
}

/// CORS preflight: browsers on another origin may post here.
fn preflight(headers: &HeaderMap) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    let asked = headers.get("access-control-request-headers").cloned();
    h.insert(
        "access-control-allow-headers",
        asked.unwrap_or(HeaderValue::from_static("*")),
    );
    h.insert("access-control-max-age", HeaderValue::from_static("600"));
    r
}
