//! # tidings-native: the Tidings client for native Rust
//!
//! A [`Client`] runs the sans-IO [`tidings::Core`] on one background
//! thread and performs its HTTP requests on up to `max_in_flight` sender
//! threads, with [`ureq`](https://docs.rs/ureq) 3 by default.
//!
//! ```no_run
//! use std::time::Duration;
//! use tidings_native::{Client, Config, Event};
//!
//! let mut config = Config::new("phc_project_key", "https://us.i.posthog.com");
//! config.gzip = true;
//! let client = Client::new(config)?;
//!
//! // Never waits for the network; refusals say why.
//! if let Err(refused) = client.capture(Event::new("signup", "user-42").property("plan", "pro")) {
//!     eprintln!("event not queued: {refused}");
//! }
//!
//! // Blocks up to the timeout; dropping the client does the same (5 s).
//! let outcome = client.shutdown(Duration::from_secs(5));
//! println!("{outcome:?}, {:?}", client.stats());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Threads
//!
//! - `capture` locks the core briefly, encodes the event and returns; it
//!   wakes the worker only when the event makes something due well before
//!   the worker's next wake-up. While captures keep coming the worker
//!   checks every millisecond anyway, so a steady stream costs no wake-ups
//!   (a batch that reaches `flush_at` leaves within about a millisecond).
//! - The worker (`tidings-worker`) sleeps on a channel with one timeout, the
//!   core's next deadline; it hands requests to sender threads
//!   (`tidings-sender-N`), which serialize and gzip bodies off the lock.
//! - `flush` and `shutdown` block the caller up to their timeout;
//!   `flush_async` and `shutdown_async` wait without blocking a thread.
//!   Should the worker never answer one (it always should), one thread per
//!   process (`tidings-expiry`), running only while such a future waits,
//!   ends the wait shortly after its timeout, as `flush` does for itself.
//!
//! ## In async code
//!
//! `capture` is safe to call from inside a tokio (or any) runtime: it never
//! waits for I/O. Await [`Client::flush_async`] and
//! [`Client::shutdown_async`] instead of calling `flush` and `shutdown`: the
//! worker thread wakes the task when the outcome is known, on any executor.
//! Dropping the client still blocks (it shuts down, up to
//! [`Builder::drop_timeout`]) unless `shutdown_async` has finished first,
//! so await that on graceful shutdown.
//!
//! ```
//! use std::time::Duration;
//! use tidings_native::{Client, Config, Event, FlushOutcome, HttpResponse, ShutdownOutcome};
//!
//! async fn handle(client: &Client) -> FlushOutcome {
//!     let _ = client.capture(Event::new("request_served", "user-1")); // fine here
//!     client.flush_async(Duration::from_secs(2)).await
//! }
//!
//! async fn stop(client: &Client) -> ShutdownOutcome {
//!     client.shutdown_async(Duration::from_secs(5)).await
//! }
//!
//! let client = Client::builder(Config::new("phc_key", "https://ingest.example.com"))
//!     .transport(|_request| Ok(HttpResponse::new(200)))
//!     .build()?;
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! assert!(runtime.block_on(handle(&client)).is_completed());
//! assert_eq!(runtime.block_on(stop(&client)), ShutdownOutcome::Drained);
//! drop(client); // already shut down: returns at once
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `examples/axum_service.rs` is a whole service: one event per request,
//! and `shutdown_async` once axum's graceful shutdown has let the last
//! request finish.
//!
//! ## Metrics
//!
//! With the cargo feature `metrics`, the client reports through the
//! [`metrics`](https://docs.rs/metrics) facade to whatever recorder the
//! application installed (Prometheus, StatsD, ...): per request
//! `tidings_request_events`, `tidings_request_bytes` and
//! `tidings_request_duration_seconds` (histograms),
//! `tidings_responses_total{status}` and
//! `tidings_request_attempts_total{attempt="first"|"retry"}`; and after
//! every worker step the event counters (`tidings_events_captured_total`,
//! `..._delivered_total`, `tidings_events_dropped_total{reason}`,
//! `tidings_requests_total`, `tidings_requests_failed_total`) and the queue
//! depth as gauges (`tidings_pending_events`, `tidings_pending_bytes`,
//! `tidings_queued_events`, `tidings_retrying_events`,
//! `tidings_in_flight_events`). Without the feature none of it is
//! compiled. The counters are also in [`Stats`] (`requests`, `retries`,
//! `failed_requests`, `request_bytes`).
//!
//! ```
//! use std::time::Duration;
//! use metrics_util::debugging::{DebugValue, DebuggingRecorder};
//! use tidings_native::{Client, Config, Event, HttpResponse};
//!
//! let recorder = DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! recorder.install()?; // your Prometheus or StatsD recorder here
//!
//! let client = Client::builder(Config::new("phc_key", "https://ingest.example.com"))
//!     .transport(|_request| Ok(HttpResponse::new(200)))
//!     .build()?;
//! client.capture(Event::new("signup", "user-1"))?;
//! client.flush(Duration::from_secs(2));
//! let stats = client.stats();
//! assert_eq!((stats.requests, stats.failed_requests), (1, 0));
//! let recorded = snapshotter.snapshot().into_vec();
//! let responses = recorded.iter().find(|(key, ..)| key.key().name() == "tidings_responses_total");
//! if cfg!(feature = "metrics") {
//!     assert!(matches!(responses, Some((.., DebugValue::Counter(1)))));
//! } else {
//!     assert!(responses.is_none()); // compiled out
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Your own HTTP client
//!
//! Implement [`Transport`] (one method; a closure works) and pass it to
//! [`Builder::transport`]. The API key is never logged or shown by `Debug`.

mod async_client;
mod builder;
mod client;
mod clock;
mod expiry;
mod intake;
mod metering;
mod oneshot;
mod pool;
mod receipts;
mod shared;
mod telemetry;
mod transport;
mod waiter;
mod worker;

pub use crate::builder::Builder;
pub use crate::client::{Client, DEFAULT_DROP_TIMEOUT};
pub use crate::receipts::Receipt;
#[cfg(feature = "ureq")]
pub use crate::transport::UreqTransport;
pub use crate::transport::{HttpRequest, HttpResponse, Transport};

/// The core, for what this crate does not re-export.
pub use tidings;
pub use tidings::{
    ApiKey, CaptureError, Config, ConfigError, DropReason, Event, EventOptions, Fate, FlushOutcome,
    FlushedMetric, LibInfo, MeterError, MetricKind, Notice, OverflowPolicy, Protocol, RequestId,
    RetryPolicy, ShutdownOutcome, Stats, TransportError, Uuid, WallTime,
};
/// The `ureq` version the default transport uses, to build an agent for
/// [`UreqTransport::with_agent`].
#[cfg(feature = "ureq")]
pub use ureq;

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExamples;
