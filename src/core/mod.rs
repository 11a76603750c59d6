//! The delivery state machine.

mod answer;
mod capture;
mod expiry;
mod lifecycle;
mod metering;
mod send;
#[cfg(feature = "windows")]
mod spill;
mod timers;
mod warnings;
#[cfg(feature = "windows")]
mod windows;

use std::collections::VecDeque;
use std::time::Duration;

use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use uuid::Uuid;

use crate::batch::{Batch, BatchedEvent};
use crate::config::{Config, ConfigError, Endpoint};
use crate::intake::{Encoded, Encoder};
use crate::metering::Meter;
use crate::notice::{FlushId, Notice, ShutdownOutcome, WindowId};
use crate::queue::{Queue, QueuedEvent};
use crate::stats::{DropCounts, DropReason, Stats};
use crate::time::{Instant, Now, WallTime};
use crate::transmit::RequestId;
use crate::wire::{Envelope, RequestHeaders};

pub use capture::CaptureError;
pub use metering::FlushedMetric;
#[cfg(feature = "windows")]
pub use spill::Spill;
pub use timers::{Deadline, DeadlineReason};
use warnings::WarningLimiter;

/// How long past a request's own timeout the core waits for the adapter to
/// report it before treating it as timed out itself.
const ADAPTER_GRACE: Duration = Duration::from_secs(2);

/// The sans-IO delivery core: it batches, queues, retries and accounts for
/// events, and tells its adapter which HTTP requests to perform and when to
/// wake it. It does no I/O and reads no clock.
///
/// Methods fall in four groups:
/// - **inputs**, each taking the time as [`Now`]:
///   [`capture`](Core::capture) and [`refuse`](Core::refuse) (events),
///   [`handle_response`](Core::handle_response) (how a request ended),
///   [`handle_timeout`](Core::handle_timeout) (the timer fired),
///   [`flush`](Core::flush), [`shutdown`](Core::shutdown),
///   [`pause`](Core::pause) / [`resume`](Core::resume) (sending),
///   [`open_window`](Core::open_window) (hosts that work only within
///   windows), [`drop_pending`](Core::drop_pending), and metering:
///   [`count`](Core::count), [`gauge`](Core::gauge) (and their `_json`
///   forms), [`flush_meters`](Core::flush_meters);
/// - **outputs**, drained in this order after every input:
///   [`poll_transmit`](Core::poll_transmit) (or
///   [`poll_transmit_in`](Core::poll_transmit_in) a window) until `None`,
///   [`poll_notice`](Core::poll_notice) until `None`, then
///   [`poll_timeout`](Core::poll_timeout) for when to call `handle_timeout`;
/// - **getters**: [`stats`](Core::stats), [`pending`](Core::pending),
///   [`requests_in_flight`](Core::requests_in_flight),
///   [`is_paused`](Core::is_paused), [`open_windows`](Core::open_windows),
///   [`is_shut_down`](Core::is_shut_down), [`meter_keys`](Core::meter_keys), ...
/// - construction: [`Core::new`] validates the [`Config`].
///
/// Every input first fires whatever is due at its `now` (request
/// timeouts, flush and shutdown deadlines, window ends), so a late timer
/// loses nothing; and draining after an input is never harmful to skip
/// or repeat: what was not polled is still there at the next drain.
/// Time passed in must not go backwards (a monotonic reading earlier than
/// the last one is treated as the last one).
///
/// The loop every adapter runs:
///
/// ```
/// use std::time::Duration;
/// use tidings::{Config, Core, Event, Instant, Now, Response, WallTime};
///
/// let mut core = Core::new(Config::new("phc_key", "https://us.i.posthog.com"), 7).unwrap();
/// let mut clock = Instant::ZERO;
/// let now = |at| Now::new(at, WallTime::from_unix_millis(1_763_900_000_000));
///
/// core.capture(now(clock), Event::new("signup", "user-1")).unwrap(); // 1. one input
/// loop {
///     while let Some(request) = core.poll_transmit(now(clock)) {        // 2. drain
///         // perform it; here the answer comes back at once
///         core.handle_response(now(clock), request.id, Ok(Response::new(200)));
///     }
///     while let Some(_notice) = core.poll_notice() {}
///     match core.poll_timeout() {                                       // 3. one timer
///         Some(deadline) => {
///             clock = deadline.at;                                      // sleep until it
///             core.handle_timeout(now(clock));
///         }
///         None => break,                                                // nothing to do
///     }
/// }
/// assert_eq!(core.stats().delivered, 1);
/// assert_eq!(clock, Instant::from_duration(Duration::from_secs(1))); // flush_interval
/// ```
pub struct Core {
    config: Config,
    endpoint: Endpoint,
    encoder: Encoder,
    /// [`Core::capture`]'s buffer, reused per event.
    scratch: Encoded,
    envelope: Envelope,
    envelope_len: usize,
    headers: RequestHeaders,
    rng: Xoshiro256PlusPlus,
    now: Now,

    queue: Queue,
    retrying: Vec<Batch>,
    in_flight: Vec<InFlight>,
    /// A 429 pauses the whole destination until then.
    rate_limited_until: Option<Instant>,
    /// [`Core::pause`]: no request starts until [`Core::resume`].
    paused: bool,
    /// Open delivery windows ([`Core::open_window`]), in opening order.
    windows: Vec<Window>,
    #[cfg_attr(not(feature = "windows"), allow(dead_code))]
    next_window: u64,
    /// After a transient failure no new batch is started before then.
    backoff_until: Option<Instant>,
    /// `Config::spill`: events waiting to be spilled, in capture order,
    /// and spills handed to the adapter, not yet confirmed.
    spill_outbox: VecDeque<QueuedEvent>,
    spills: Vec<SpillInFlight>,
    #[cfg_attr(not(feature = "windows"), allow(dead_code))]
    next_spill: u64,

    next_seq: u64,
    next_request: u64,
    next_flush: u64,
    flushes: Vec<FlushBarrier>,
    lifecycle: Lifecycle,

    meter: Meter,
    counters: Counters,
    pending_events: usize,
    pending_bytes: usize,
    warnings: WarningLimiter,
    notices: VecDeque<Notice>,
}

struct InFlight {
    id: RequestId,
    batch: Batch,
    give_up_at: Instant,
    /// The delivery window whose host performs it, if any.
    #[cfg_attr(not(feature = "windows"), allow(dead_code))]
    window: Option<WindowId>,
}

#[cfg_attr(not(feature = "windows"), allow(dead_code))]
struct Window {
    id: WindowId,
    until: Instant,
    /// Events with a lower sequence number were captured before it opened.
    upto_seq: u64,
}

/// A spill the adapter is putting on its durable queue.
struct SpillInFlight {
    #[cfg_attr(not(feature = "windows"), allow(dead_code))]
    id: crate::notice::SpillId,
    events: Vec<BatchedEvent>,
}

struct FlushBarrier {
    id: FlushId,
    /// Events with a lower sequence number were captured before the flush.
    upto_seq: u64,
    /// How many of them were pending when it was called.
    covered: u64,
    deadline: Instant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lifecycle {
    Running,
    Draining { deadline: Instant },
    Done(ShutdownOutcome),
}

#[derive(Default)]
struct Counters {
    captured: u64,
    delivered: u64,
    spilled: u64,
    requests: u64,
    retries: u64,
    failed_requests: u64,
    request_bytes: u64,
    dropped: DropCounts,
}

impl Core {
    /// Validates `config` and starts a core. `seed` drives uuid generation
    /// and retry jitter: the same seed and inputs give the same outputs.
    ///
    /// ```
    /// let config = tidings::Config::new("phc_key", "https://us.i.posthog.com");
    /// let core = tidings::Core::new(config, 42).expect("valid config");
    /// assert_eq!(core.stats().captured, 0);
    /// ```
    pub fn new(config: Config, seed: u64) -> Result<Core, ConfigError> {
        let endpoint = crate::config::validate_config(&config)?;
        let envelope = Envelope::new(&config);
        let flush_at = config.flush_at;
        let span = config.event_timeout.unwrap_or(expiry::NO_DEADLINE);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        Ok(Core {
            encoder: Encoder::new(&config, rng.next_u64()),
            scratch: Encoded::new(),
            envelope_len: envelope.max_len(),
            envelope,
            headers: RequestHeaders::new(&config),
            warnings: WarningLimiter::new(config.warning_interval),
            endpoint,
            config,
            rng,
            now: Now::default(),
            queue: Queue::new(flush_at, span),
            retrying: Vec::new(),
            in_flight: Vec::new(),
            rate_limited_until: None,
            paused: false,
            windows: Vec::new(),
            next_window: 0,
            backoff_until: None,
            spill_outbox: VecDeque::new(),
            spills: Vec::new(),
            next_spill: 0,
            next_seq: 0,
            next_request: 0,
            next_flush: 0,
            flushes: Vec::new(),
            lifecycle: Lifecycle::Running,
            meter: Meter::default(),
            counters: Counters::default(),
            pending_events: 0,
            pending_bytes: 0,
            notices: VecDeque::new(),
        })
    }

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        &self.endpoint.url
    }

    /// The counters now. `captured == delivered + dropped + pending` always.
    pub fn stats(&self) -> Stats {
        let retrying: usize = self.retrying.iter().map(|b| b.events.len()).sum();
        let in_flight: usize = self.in_flight.iter().map(|f| f.batch.events.len()).sum();
        let spills: usize = self.spills.iter().map(|s| s.events.len()).sum();
        Stats {
            captured: self.counters.captured,
            delivered: self.counters.delivered,
            spilled: self.counters.spilled,
            spilling: (self.spill_outbox.len() + spills) as u64,
            pending: self.pending_events as u64,
            queued: self.queue.len() as u64,
            retrying: retrying as u64,
            in_flight: in_flight as u64,
            pending_bytes: self.pending_bytes as u64,
            requests: self.counters.requests,
            retries: self.counters.retries,
            failed_requests: self.counters.failed_requests,
            request_bytes: self.counters.request_bytes,
            dropped: self.counters.dropped.clone(),
        }
    }

    /// Events not yet delivered or dropped.
    pub fn pending(&self) -> usize {
        self.pending_events
    }

    /// Encoded bytes of the pending events.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// An encoder like the one [`Core::capture`] uses, to encode on other
    /// threads (see [`crate::intake`]). Its uuids come from a seed drawn
    /// from the core's, so they stay reproducible.
    pub fn encoder(&mut self) -> Encoder {
        Encoder::new(&self.config, self.rng.next_u64())
    }

    /// Requests handed out and not yet answered.
    pub fn requests_in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether `shutdown` was called.
    pub fn is_shutting_down(&self) -> bool {
        self.lifecycle != Lifecycle::Running
    }

    /// Whether the shutdown finished: the core will produce nothing more.
    pub fn is_shut_down(&self) -> bool {
        matches!(self.lifecycle, Lifecycle::Done(_))
    }

    /// How the shutdown ended, once it has.
    pub fn shutdown_outcome(&self) -> Option<ShutdownOutcome> {
        match self.lifecycle {
            Lifecycle::Done(outcome) => Some(outcome),
            _ => None,
        }
    }

    /// The next notice, if any. Changes after any input.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }

    /// Moves the clocks forward (never back) and fires what is due.
    fn advance(&mut self, now: Now) {
        self.now.wall = now.wall;
        if now.monotonic > self.now.monotonic {
            self.now.monotonic = now.monotonic;
        }
        self.fire_due();
    }

    fn new_uuid_v7(&mut self, wall: WallTime) -> Uuid {
        self.encoder.new_uuid_v7(wall)
    }

    fn next_request_id(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    /// Resolves events as delivered.
    fn deliver(&mut self, request: RequestId, events: Resolved) {
        if events.uuids.is_empty() {
            return;
        }
        self.release(&events);
        self.counters.delivered += events.uuids.len() as u64;
        self.notices.push_back(Notice::Delivered {
            request,
            uuids: events.uuids,
        });
    }

    /// Resolves accepted events as dropped.
    fn drop_events(&mut self, events: Resolved, reason: DropReason) {
        if events.uuids.is_empty() {
            return;
        }
        self.release(&events);
        self.count_drop(reason, events.uuids.len() as u64);
        self.notices.push_back(Notice::Dropped {
            reason,
            uuids: events.uuids,
        });
    }

    fn drop_batch(&mut self, batch: Batch, reason: DropReason) {
        self.drop_events(Resolved::batched(&batch.events), reason);
    }

    fn count_drop(&mut self, reason: DropReason, n: u64) {
        self.counters.dropped.add(reason, n);
        if let Some(notice) = self.warnings.record(reason, n, self.now.monotonic) {
            self.notices.push_back(notice);
        }
    }

    fn release(&mut self, events: &Resolved) {
        self.pending_events -= events.uuids.len();
        self.pending_bytes -= events.bytes;
    }
}

/// Events leaving the core (delivered or dropped): who, and how many bytes.
struct Resolved {
    uuids: Vec<Uuid>,
    bytes: usize,
}

impl Resolved {
    fn queued(events: Vec<QueuedEvent>) -> Self {
        let bytes = events.iter().map(|e| e.bytes.len()).sum();
        Resolved {
            uuids: events.into_iter().map(|e| e.uuid).collect(),
            bytes,
        }
    }

    fn batched(events: &[BatchedEvent]) -> Self {
        Resolved {
            uuids: events.iter().map(|e| e.uuid).collect(),
            bytes: events.iter().map(|e| e.len).sum(),
        }
    }
}
