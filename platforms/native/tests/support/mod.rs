//! A loopback HTTP sink for the integration tests: binds 127.0.0.1 on a
//! port the OS picks, answers as the test's handler says, records every
//! request (gunzipped, parsed), and stops when dropped.

#![allow(dead_code)] // each test binary uses a different part
#![allow(clippy::disallowed_methods)] // tests measure real time

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;
use tidings_native::Config;

pub const KEY: &str = "phc_test_SECRET_key_123";

/// A config for `url` with short retry timers, so tests stay fast. Batches
/// go out at `flush_at` or on `flush`: a long `flush_interval` keeps request
/// counts independent of how fast the machine captures.
pub fn config(url: &str) -> Config {
    let mut config = Config::new(KEY, url);
    config.flush_interval = Duration::from_secs(2);
    config.retry.initial_backoff = Duration::from_millis(10);
    config.retry.max_backoff = Duration::from_millis(50);
    config.request_timeout = Duration::from_secs(5);
    config
}

/// One request as the sink saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub at: Instant,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// The body as sent (compressed when it was).
    pub raw: Vec<u8>,
    /// The body, gunzipped when `Content-Encoding: gzip`.
    pub plain: Vec<u8>,
    pub json: Value,
    /// The status the sink answered with (0: it never answered).
    pub status: u16,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn events(&self) -> &[Value] {
        self.json["batch"].as_array().map_or(&[], Vec::as_slice)
    }

    pub fn uuids(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|e| e["uuid"].as_str().expect("uuid").to_owned())
            .collect()
    }
}

/// How the sink answers one request.
pub enum Reply {
    Status(u16),
    Full {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Answer after a delay.
    After(Duration, Box<Reply>),
    /// Never answer (until the sink stops).
    Hang,
}

type Handler = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

struct Inner {
    seen: Mutex<Vec<Seen>>,
    stop: AtomicBool,
    active: AtomicUsize,
    max_active: AtomicUsize,
    count: AtomicUsize,
    handler: Box<Handler>,
}

pub struct Sink {
    inner: Arc<Inner>,
    server: Arc<tiny_http::Server>,
    port: u16,
    accept: Option<JoinHandle<()>>,
    handlers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Sink {
    /// A sink that answers every request with `handler(request, index)`.
    pub fn start(handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Sink {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind loopback"));
        let port = server.server_addr().to_ip().expect("ip").port();
        let inner = Arc::new(Inner {
            seen: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            max_active: AtomicUsize::new(0),
            count: AtomicUsize::new(0),
            handler: Box::new(handler),
        });
        let handlers = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let (server, inner, handlers) = (server.clone(), inner.clone(), handlers.clone());
            thread::spawn(move || {
                while !inner.stop.load(Ordering::SeqCst) {
                    let Ok(Some(request)) = server.recv_timeout(Duration::from_millis(20)) else {
                        continue;
                    };
                    let inner = inner.clone();
                    let handle = thread::spawn(move || serve(&inner, request));
                    handlers.lock().unwrap().push(handle);
                }
            })
        };
        Sink {
            inner,
            server,
            port,
            accept: Some(accept),
            handlers,
        }
    }

    /// A sink that answers 200 to everything.
    pub fn ok() -> Sink {
        Sink::start(|_, _| Reply::Status(200))
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.inner.seen.lock().unwrap().clone()
    }

    /// Uuids of the events in requests answered with a 2xx.
    pub fn delivered_uuids(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|s| (200..300).contains(&s.status))
            .flat_map(Seen::uuids)
            .collect()
    }

    /// The most requests the sink was handling at once.
    pub fn max_concurrent(&self) -> usize {
        self.inner.max_active.load(Ordering::SeqCst)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for handle in self.handlers.lock().unwrap().drain(..) {
            let _ = handle.join();
        }
    }
}

fn serve(inner: &Inner, mut request: tiny_http::Request) {
    let active = inner.active.fetch_add(1, Ordering::SeqCst) + 1;
    inner.max_active.fetch_max(active, Ordering::SeqCst);
    let index = inner.count.fetch_add(1, Ordering::SeqCst);
    let mut raw = Vec::new();
    request
        .as_reader()
        .read_to_end(&mut raw)
        .expect("read body");
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|h| (h.field.to_string(), h.value.to_string()))
        .collect();
    let gzip = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("content-encoding") && v == "gzip");
    let plain = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .expect("gunzip");
        out
    } else {
        raw.clone()
    };
    let seen = Seen {
        at: Instant::now(),
        url: request.url().to_owned(),
        headers,
        json: serde_json::from_slice(&plain).unwrap_or(Value::Null),
        raw,
        plain,
        status: 0,
    };
    let mut reply = (inner.handler)(&seen, index);
    let position = {
        let mut all = inner.seen.lock().unwrap();
        all.push(seen);
        all.len() - 1
    };
    loop {
        match reply {
            Reply::After(delay, next) => {
                thread::sleep(delay);
                reply = *next;
            }
            Reply::Hang => {
                while !inner.stop.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(10));
                }
                inner.active.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            Reply::Status(status) => {
                reply = Reply::Full {
                    status,
                    headers: vec![],
                    body: r#"{"status":1}"#.into(),
                };
            }
            Reply::Full {
                status,
                headers,
                body,
            } => {
                inner.seen.lock().unwrap()[position].status = status;
                let mut response = tiny_http::Response::from_string(body).with_status_code(status);
                for (name, value) in headers {
                    response.add_header(
                        tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
                            .expect("header"),
                    );
                }
                inner.active.fetch_sub(1, Ordering::SeqCst);
                let _ = request.respond(response);
                return;
            }
        }
    }
}

/// Captures `n` events `e` from `u` with property `i`; their uuids.
pub fn capture_n(client: &tidings_native::Client, n: usize) -> std::collections::BTreeSet<String> {
    (0..n)
        .map(|i| {
            let event = tidings_native::Event::new("e", "u").property("i", i);
            client.capture(event).unwrap().to_string()
        })
        .collect()
}
