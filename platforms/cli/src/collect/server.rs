//! The HTTP server: hyper on a Tokio runtime of its own thread, so the
//! collector can be embedded in synchronous code (the demo, tests).

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;

use super::faults::{Fate, FaultDice, Faults};
use super::stats::{CollectorStats, StatsCell};
use super::store::Store;
use super::validate::{HeaderLookup, Wire, validate};

/// Largest body read, compressed or not.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// How to run a collector.
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
}

/// A running collector; it stops when dropped.
pub struct Collector {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Collector {
    /// Opens the database, binds the address and starts serving.
    pub fn start(options: CollectorOptions) -> Result<Collector, String> {
        options.faults.validate()?;
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
        self.shared.stats.snapshot()
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
    loop {
        let accepted = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, shared.clone()));
            // A connection closed on purpose (a fault) ends here with an error.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
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
            return Ok(reply(
                &shared,
                StatusCode::OK,
                json!(shared.stats.snapshot()),
            ));
        }
        (&Method::GET, "/events") => return Ok(list_events(&shared, req.uri().query())),
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
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(CloseConnection),
    };
    shared.stats.update(|s| s.bytes += body.len() as u64);
    let answer = answer(&shared, wire, &parts.headers, parts.uri.query(), &body).await;
    if shared.log_requests {
        let status = answer
            .as_ref()
            .map_or("closed".to_owned(), |r| r.status().as_u16().to_string());
        eprintln!(
            "{} {} {} bytes -> {status}",
            parts.method,
            parts.uri.path(),
            body.len()
        );
    }
    answer
}

async fn answer(
    shared: &Shared,
    wire: Wire,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
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
            let mut r = error(shared, status, "unavailable", "injected failure");
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
    if faults.max_body_bytes.is_some_and(|max| body.len() > max) {
        let msg = format!(
            "body of {} bytes is above the limit of {}",
            body.len(),
            faults.max_body_bytes.unwrap_or(0)
        );
        return Ok(error(
            shared,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            &msg,
        ));
    }
    let checked = decode(headers, query, body).and_then(|d| validate(wire, &Headers(headers), &d));
    let batch = match checked {
        Ok(b) => b,
        Err(msg) => {
            return Ok(error(
                shared,
                StatusCode::BAD_REQUEST,
                "invalid_payload",
                &msg,
            ));
        }
    };
    let received_at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    let stored = match shared.store.insert(wire, &batch, &received_at) {
        Ok(s) => s,
        Err(e) => {
            return Ok(error(
                shared,
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage",
                &e.to_string(),
            ));
        }
    };
    shared.stats.update(|s| {
        s.events += batch.events.len() as u64;
        s.unique += stored.new;
        s.duplicates += stored.duplicates;
    });
    if plan.fate == Fate::LoseAnswer {
        shared.stats.update(|s| s.lost_answers += 1);
        return Err(CloseConnection);
    }
    let body = match wire {
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
    Ok(reply(shared, StatusCode::OK, body))
}

/// The body, gunzipped per `Content-Encoding`, or per the `compression`
/// query PostHog's browser SDK uses instead of the header (`gzip-js` or
/// `gzip`: a header would make the request need a CORS preflight).
fn decode(headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> Result<Vec<u8>, String> {
    let by_query = query.is_some_and(|q| {
        q.split('&')
            .any(|pair| pair == "compression=gzip-js" || pair == "compression=gzip")
    }) && body.starts_with(&[0x1f, 0x8b]);
    let encoding = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(if by_query { "gzip" } else { "identity" });
    match encoding.trim().to_ascii_lowercase().as_str() {
        "identity" | "" => Ok(body.to_vec()),
        "gzip" => {
            let mut out = Vec::with_capacity(body.len() * 4);
            flate2::read::GzDecoder::new(body)
                .take(MAX_BODY as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| {
                    format!("Content-Encoding is gzip but the body does not gunzip: {e}")
                })?;
            if out.len() > MAX_BODY {
                return Err(format!("the body gunzips to more than {MAX_BODY} bytes"));
            }
            Ok(out)
        }
        other => Err(format!(
            "unsupported Content-Encoding `{other}` (use gzip or none)"
        )),
    }
}

struct Headers<'a>(&'a HeaderMap);

impl HeaderLookup for Headers<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.to_str().ok())
    }
}

fn list_events(shared: &Shared, query: Option<&str>) -> Response<Full<Bytes>> {
    let limit = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("limit=")?.parse().ok())
        .unwrap_or(u64::MAX);
    match shared.store.events(limit) {
        Ok(rows) => reply(shared, StatusCode::OK, json!(rows)),
        Err(e) => error(
            shared,
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage",
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
    shared
        .stats
        .update(|s| *s.statuses.entry(status.as_u16()).or_default() += 1);
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
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
