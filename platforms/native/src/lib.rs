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
//! - `flush` and `shutdown` block the caller up to their timeout.
//!
//! ## In async code
//!
//! `capture` is safe to call from inside a tokio (or any) runtime: it never
//! waits for I/O. `flush`, `shutdown` and dropping the client block, so in
//! async code call them from a blocking task:
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tidings_native::{Client, Event, FlushOutcome};
//!
//! async fn handle(client: Arc<Client>) -> Result<FlushOutcome, tokio::task::JoinError> {
//!     let _ = client.capture(Event::new("request_served", "user-1")); // fine here
//!     let blocking = client.clone();
//!     tokio::task::spawn_blocking(move || blocking.flush(Duration::from_secs(2))).await
//! }
//! ```
//!
//! ## Your own HTTP client
//!
//! Implement [`Transport`] (one method; a closure works) and pass it to
//! [`Builder::transport`]. The API key is never logged or shown by `Debug`.

mod builder;
mod client;
mod clock;
mod intake;
mod metering;
mod pool;
mod shared;
mod telemetry;
mod transport;
mod worker;

pub use crate::builder::Builder;
pub use crate::client::{Client, DEFAULT_DROP_TIMEOUT};
#[cfg(feature = "ureq")]
pub use crate::transport::UreqTransport;
pub use crate::transport::{HttpRequest, HttpResponse, Transport};

/// The core, for what this crate does not re-export.
pub use tidings;
pub use tidings::{
    ApiKey, CaptureError, Config, ConfigError, DropReason, Event, EventOptions, FlushOutcome,
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
