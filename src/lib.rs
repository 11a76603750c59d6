//! # Tidings: the sans-IO event delivery core
//!
//! [`Core`] owns everything about delivering analytics and usage events to
//! an ingestion API (PostHog v0 and v1, or plain JSON): encoding each event
//! once at capture, batching by count, bytes and time, a bounded queue,
//! several requests in flight, retries with backoff and Retry-After, 429
//! pauses, 413 splits, flush barriers, shutdown deadlines and loss
//! accounting. It performs no I/O, reads no clock and draws no randomness:
//! the adapter passes the time ([`Now`]) into every call and a seed at
//! construction, and performs the HTTP requests the core hands out.
//!
//! ## The run loop
//!
//! Every adapter (a native thread, a browser timer, a Worker's `waitUntil`)
//! runs the same loop:
//!
//! 1. sample the clocks into a [`Now`];
//! 2. feed one input: [`Core::capture`], [`Core::handle_response`],
//!    [`Core::handle_timeout`], [`Core::flush`], [`Core::shutdown`],
//!    [`Core::pause`] / [`Core::resume`], [`Core::open_window`], ... (the
//!    full list is on [`Core`]);
//! 3. drain the outputs: [`Core::poll_transmit`] until `None` (start each
//!    request), [`Core::poll_notice`] until `None`;
//! 4. arm one timer for [`Core::poll_timeout`] and sleep until it fires or
//!    another input arrives (a host without timers, such as a Cloudflare
//!    Worker, awaits its requests within a delivery window instead).
//!
//! Every decision that can delay or lose an event — batching and
//! `linger`, retries, pauses, windows, what is dropped and why — is the
//! core's, so the deterministic simulation in `tests/` sees all of it.
//!
//! ```
//! use std::time::Duration;
//! use tidings::{Config, Core, Event, Instant, Now, Response, WallTime};
//!
//! let mut config = Config::new("phc_key", "https://us.i.posthog.com");
//! config.flush_at = 2;
//! let mut core = Core::new(config, 7).unwrap();
//! let now = Now::new(Instant::ZERO, WallTime::from_unix_millis(1_763_900_000_000));
//!
//! core.capture(now, Event::new("signup", "user-1").property("plan", "pro")).unwrap();
//! core.capture(now, Event::new("login", "user-1")).unwrap();
//!
//! // Two events reach flush_at: one request is ready.
//! let request = core.poll_transmit(now).expect("a batch");
//! assert_eq!(request.url, "https://us.i.posthog.com/batch/");
//! let body = request.body.to_bytes(); // what the adapter sends
//! assert!(body.starts_with(br#"{"api_key":"phc_key""#));
//!
//! // ... the adapter performs it and reports the answer:
//! let later = Now::new(Instant::from_millis(40), now.wall);
//! core.handle_response(later, request.id, Ok(Response::new(200)));
//! assert_eq!(core.stats().delivered, 2);
//! while let Some(notice) = core.poll_notice() { /* log, resolve waiters */ }
//! assert_eq!(core.poll_timeout(), None); // nothing left to do
//! ```

mod backoff;
mod batch;
pub mod config;
mod core;
mod event;
pub mod intake;
mod metering;
mod notice;
mod queue;
mod stats;
mod time;
mod transmit;
mod wire;

pub use crate::config::{
    ApiKey, BeforeSend, Config, ConfigError, LibInfo, OverflowPolicy, Protocol, RetryPolicy,
    SpillLimits,
};
#[cfg(feature = "windows")]
pub use crate::core::Spill;
pub use crate::core::{CaptureError, Core, Deadline, DeadlineReason, FlushedMetric};
pub use crate::event::{Event, EventOptions};
pub use crate::metering::{MeterError, MetricKind};
pub use crate::notice::{
    Fate, FlushId, FlushOutcome, Notice, ShutdownOutcome, SpillId, WindowId, WindowOutcome,
};
pub use crate::stats::{DropCounts, DropReason, Stats};
pub use crate::time::{Instant, Now, WallTime};
pub use crate::transmit::{Gzipped, RequestId, Response, Transmit, TransportError};
pub use crate::wire::Body;
pub use uuid::Uuid;
