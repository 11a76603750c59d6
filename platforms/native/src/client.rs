//! The user-facing handle: capture without blocking on I/O, flush and
//! shut down with a bound, read the counters.

use std::fmt;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tidings::intake::Encoded;
use tidings::{
    CaptureError, Config, DropReason, Event, FlushOutcome, Now, ShutdownOutcome, Stats, Uuid,
};

use crate::builder::Builder;
use crate::receipts::Receipt;
use crate::shared::{Locked, Settled, Shared};
use crate::waiter::Waiter;

/// How long dropping a [`Client`] waits for pending events to be sent.
pub const DEFAULT_DROP_TIMEOUT: Duration = Duration::from_secs(5);

/// How long past its own timeout `flush` or `shutdown` (or their async
/// twins) waits for the worker's answer before reporting from the counters
/// instead.
pub(crate) const WAIT_MARGIN: Duration = Duration::from_millis(500);

/// Sends events from a background thread. Cheap to share: wrap it in an
/// `Arc` and call it from any thread.
///
/// - [`capture`](Client::capture) never blocks on I/O (it takes a short
///   lock) and says whether the event was accepted;
/// - [`flush`](Client::flush) and [`shutdown`](Client::shutdown) block up to
///   their timeout: in async code await
///   [`flush_async`](Client::flush_async) and
///   [`shutdown_async`](Client::shutdown_async) instead;
/// - dropping the client shuts it down, waiting up to
///   [`DEFAULT_DROP_TIMEOUT`] (see [`Builder::drop_timeout`]).
///
/// ```no_run
/// use std::time::Duration;
/// use tidings_native::{Client, Config, Event};
///
/// let client = Client::new(Config::new("phc_key", "https://us.i.posthog.com"))?;
/// let uuid = client.capture(Event::new("signup", "user-1").property("plan", "pro"))?;
/// println!("queued {uuid}");
/// client.flush(Duration::from_secs(2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Client {
    pub(crate) shared: Arc<Shared>,
    pub(crate) worker: Mutex<Option<JoinHandle<()>>>,
    pub(crate) drop_timeout: Duration,
    /// `OverflowPolicy::DropOldest`: a full queue evicts instead of refusing.
    pub(crate) drop_oldest: bool,
    /// The request URL without its query (which could carry a secret).
    pub(crate) url: String,
}

impl Client {
    /// Validates `config` and starts sending with the default `ureq`
    /// transport. `config.lib` becomes `tidings-native` and this crate's
    /// version unless you changed it.
    ///
    /// ```
    /// use tidings_native::{Client, Config};
    /// let config = Config::new("phc_key", "http://example.com");
    /// let error = Client::new(config).unwrap_err();
    /// assert_eq!(error.field, "host"); // plain http only to loopback, unless `allow_insecure_http`
    /// ```
    #[cfg(feature = "ureq")]
    pub fn new(config: Config) -> Result<Client, tidings::ConfigError> {
        Client::builder(config).build()
    }

    /// Starts building a client with options beyond `config`.
    pub fn builder(config: Config) -> Builder {
        Builder::new(config)
    }

    /// Queues an event and returns its uuid, or says why it was refused
    /// (invalid, too large, queue full, shut down, dropped by the
    /// before-send hook). Never waits: it encodes on the calling thread and
    /// hands the bytes to the worker without taking the client's lock.
    pub fn capture(&self, event: Event) -> Result<Uuid, CaptureError> {
        self.capture_as(event, false).map(|(uuid, _)| uuid)
    }

    /// [`Client::capture`] with a [`Receipt`] for the event's fate:
    /// delivered, or dropped with its reason. Only events captured this way
    /// are tracked, so asking for some events (billing) does not slow the
    /// others. A refused event gets no receipt: the error is its fate.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tidings_native::{Client, Config, DropReason, Event, Fate, HttpResponse};
    /// let client = Client::builder(Config::new("phc_key", "https://ingest.example.com"))
    ///     .transport(|_request| Ok(HttpResponse::new(400)))
    ///     .build()?;
    /// let receipt = client.capture_with_receipt(Event::new("invoice_paid", "tenant-7"))?;
    /// client.flush(Duration::from_secs(1));
    /// assert_eq!(receipt.fate(), Fate::Dropped(DropReason::Rejected(400)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn capture_with_receipt(&self, event: Event) -> Result<Receipt, CaptureError> {
        self.capture_as(event, true).map(with_receipt)
    }

    /// `capture`, with a receipt registered before the worker can see the
    /// event when `receipt` is set (constant at each call site).
    #[inline(always)]
    fn capture_as(
        &self,
        event: Event,
        receipt: bool,
    ) -> Result<(Uuid, Option<Receipt>), CaptureError> {
        let now = self.shared.clock.now();
        let intake = &self.shared.intake;
        let result = match self.encode(now, event) {
            Ok(encoded) => match intake.budget.reserve(encoded.len()) {
                Ok(()) => Ok(self.stage(now, encoded, receipt)),
                Err(CaptureError::QueueFull { .. }) if self.drop_oldest => {
                    // Counted by the core, which decides what to evict.
                    let admitted = self.admit_evicting(now, encoded, receipt);
                    self.shared.captured(now.monotonic);
                    return admitted;
                }
                Err(refused) => {
                    intake.recycle(encoded);
                    Err(refused)
                }
            },
            Err(refused) => Err(refused),
        };
        self.captured(now, result)
    }

    /// [`Client::capture`] for events that must not be dropped for lack of
    /// room (billing, usage): when the queue is full it waits up to
    /// `timeout` for room (by events and bytes) instead of refusing, and
    /// refuses as `QueueFull` (counted as `queue_full`) only once that
    /// passes. Other refusals are at once, as with `capture`. Blocks the
    /// calling thread: in async code call it from a blocking task.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tidings_native::{Client, Config, Event, HttpResponse};
    /// let client = Client::builder(Config::new("phc_key", "https://ingest.example.com"))
    ///     .transport(|_request| Ok(HttpResponse::new(200)))
    ///     .build()?;
    /// let event = Event::new("tokens_billed", "tenant-7").property("tokens", 5000);
    /// client.capture_blocking(event, Duration::from_secs(5))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn capture_blocking(&self, event: Event, timeout: Duration) -> Result<Uuid, CaptureError> {
        self.capture_blocking_as(event, timeout, false)
            .map(|(uuid, _)| uuid)
    }

    /// [`Client::capture_blocking`] with a [`Receipt`] (see
    /// [`Client::capture_with_receipt`]): for an import that must prove
    /// what arrived (`tidings send --receipts`).
    pub fn capture_blocking_with_receipt(
        &self,
        event: Event,
        timeout: Duration,
    ) -> Result<Receipt, CaptureError> {
        self.capture_blocking_as(event, timeout, true)
            .map(with_receipt)
    }

    fn capture_blocking_as(
        &self,
        event: Event,
        timeout: Duration,
        receipt: bool,
    ) -> Result<(Uuid, Option<Receipt>), CaptureError> {
        let now = self.shared.clock.now();
        let intake = &self.shared.intake;
        let result = self.encode(now, event).and_then(|encoded| {
            let len = encoded.len();
            let reserved = match intake.budget.reserve(len) {
                Err(CaptureError::QueueFull { .. }) => self
                    .shared
                    .wait_for_room(timeout, || match intake.budget.reserve(len) {
                        Err(CaptureError::QueueFull { .. }) => None,
                        other => Some(other),
                    })
                    .unwrap_or_else(|| intake.budget.reserve(len)),
                other => other,
            };
            match reserved {
                Ok(()) => Ok(self.stage(now, encoded, receipt)),
                Err(refused) => {
                    intake.recycle(encoded);
                    Err(refused)
                }
            }
        });
        let now = self.shared.clock.now();
        self.captured(now, result)
    }

    /// Runs the before-send hook and encodes, on the calling thread.
    fn encode(&self, now: Now, event: Event) -> Result<Encoded, CaptureError> {
        let intake = &self.shared.intake;
        if intake.budget.is_closed() {
            return Err(CaptureError::ShutDown);
        }
        let mut encoded = intake.buffer();
        match intake.encoder.encode(now.wall, event, &mut encoded) {
            Ok(_) => Ok(encoded),
            Err(refused) => {
                intake.recycle(encoded);
                Err(refused)
            }
        }
    }

    /// Hands an event with reserved room to the worker.
    /// A receipt, when asked for, is registered first: the worker cannot
    /// resolve the event before it is staged.
    #[inline(always)]
    fn stage(&self, now: Now, encoded: Encoded, receipt: bool) -> (Uuid, Option<Receipt>) {
        let uuid = encoded.uuid();
        let receipt = receipt.then(|| self.shared.receipts.register(uuid));
        if let Err(encoded) = self.shared.intake.stage(encoded) {
            // The staging queue is full (the worker is behind): admit it
            // here, ahead of what is staged.
            let mut state = self.shared.lock();
            let _ = state.core.admit_reserved(now, &encoded);
            self.shared
                .intake
                .budget
                .admitted(&state.core, 1, encoded.len());
            self.shared.intake.recycle(encoded);
        }
        (uuid, receipt)
    }

    /// `DropOldest` with a full budget: the core evicts the oldest queued
    /// events (or refuses, if evicting cannot make room), under the lock.
    fn admit_evicting(
        &self,
        now: Now,
        encoded: Encoded,
        receipt: bool,
    ) -> Result<(Uuid, Option<Receipt>), CaptureError> {
        let mut state = self.shared.lock_absorbed(now);
        let receipts = &self.shared.receipts;
        let receipt = receipt.then(|| receipts.register(encoded.uuid()));
        let admitted = match state.core.admit(now, &encoded) {
            Ok(uuid) => Ok((uuid, receipt)),
            Err(refused) => {
                if let Some(receipt) = receipt {
                    state.receipts.withdraw(receipts, receipt);
                }
                Err(refused)
            }
        };
        self.shared.intake.recycle(encoded);
        let mut settled = Settled::default();
        state.drain_notices(&mut settled);
        drop(state);
        settled.finish();
        admitted
    }

    /// Counts a refusal for the core and wakes the worker if it should look.
    fn captured<T>(&self, now: Now, result: Result<T, CaptureError>) -> Result<T, CaptureError> {
        if let Err(refused) = &result
            && !self.shared.intake.refuse(refused)
        {
            // A reason the intake keeps no counter for: counted at once.
            self.shared.lock().core.refuse(now, refused.reason(), 1);
        }
        self.shared.captured(now.monotonic);
        result
    }

    /// Sends everything captured so far and waits until it is delivered or
    /// dropped, or `timeout` passes. Blocks the calling thread; in async
    /// code, await [`flush_async`](Client::flush_async) instead.
    pub fn flush(&self, timeout: Duration) -> FlushOutcome {
        let (reply, outcome) = mpsc::channel();
        if let Some(done) = self.start_flush(timeout, Waiter::Thread(reply)) {
            return done;
        }
        match outcome.recv_timeout(timeout.saturating_add(WAIT_MARGIN)) {
            Ok(outcome) => outcome,
            Err(_) => unanswered_flush(&self.shared),
        }
    }

    /// Stops accepting events, sends what is pending within `timeout`, drops
    /// the rest (as `shutdown_deadline`) and stops the worker thread. Blocks
    /// up to `timeout`; in async code, await
    /// [`shutdown_async`](Client::shutdown_async) instead. Calling it again
    /// returns the first outcome.
    pub fn shutdown(&self, timeout: Duration) -> ShutdownOutcome {
        let (reply, outcome) = mpsc::channel();
        let done = match self.start_shutdown(timeout, Waiter::Thread(reply)) {
            Some(done) => done,
            None => match outcome.recv_timeout(timeout.saturating_add(WAIT_MARGIN)) {
                Ok(done) => done,
                // The worker did not answer in time (it should always):
                // report what the core knows rather than hang.
                Err(_) => return unanswered_shutdown(&self.shared),
            },
        };
        self.join_worker();
        done
    }

    /// Starts a flush answered to `waiter`, after admitting what captures
    /// staged so it covers every event captured before this call; or
    /// returns the outcome when it is known at once. Shared by `flush` and
    /// `flush_async`.
    pub(crate) fn start_flush(
        &self,
        timeout: Duration,
        waiter: Waiter<FlushOutcome>,
    ) -> Option<FlushOutcome> {
        let now = self.shared.clock.now();
        let mut state = self.shared.lock_absorbed(now);
        if state.worker_exited {
            // Shut down: nothing is pending any more.
            return Some(FlushOutcome::Completed { resolved: 0 });
        }
        let id = state.core.flush(now, timeout);
        state.flush_waiters.insert(id, waiter);
        self.drain_and_wake(state);
        None
    }

    /// Starts the shutdown answered to `waiter`, after closing the intake
    /// and admitting every reserved event; or returns the first outcome if
    /// the client is already shut down. Shared by `shutdown` and
    /// `shutdown_async`.
    pub(crate) fn start_shutdown(
        &self,
        timeout: Duration,
        waiter: Waiter<ShutdownOutcome>,
    ) -> Option<ShutdownOutcome> {
        let now = self.shared.clock.now();
        let mut state = self.admit_everything_reserved(now);
        if let Some(done) = state.core.shutdown_outcome() {
            return Some(done);
        }
        state.core.shutdown(now, timeout);
        state.shutdown_waiters.push(waiter);
        self.drain_and_wake(state);
        None
    }

    /// The delivery counters now; `stats().adds_up()` always holds.
    ///
    /// ```
    /// # use tidings_native::{Client, Config, Event, HttpResponse};
    /// let client = Client::builder(Config::new("phc_key", "https://ingest.example.com"))
    ///     .transport(|_request| Ok(HttpResponse::new(200)))
    ///     .build()
    ///     .unwrap();
    /// client.capture(Event::new("signup", "user-1")).unwrap();
    /// let stats = client.stats();
    /// assert_eq!(stats.captured, 1);
    /// assert!(stats.adds_up());
    /// ```
    pub fn stats(&self) -> Stats {
        let state = self.shared.lock_absorbed(self.shared.clock.now());
        let mut stats = state.core.stats();
        // Captures between reserving and staging: accepted, not yet admitted.
        let (events, bytes) = self.shared.intake.budget.reserved();
        let (events, bytes) = (events as u64, bytes as u64);
        stats.captured += events;
        stats.pending += events;
        stats.queued += events;
        stats.pending_bytes += bytes;
        stats
    }

    /// Gives up on everything pending now (queued, waiting to retry, in
    /// flight), counting it as dropped for `reason`; the client keeps
    /// running. Returns how many events that was.
    ///
    /// ```
    /// # use tidings_native::{Client, Config, DropReason, Event, HttpResponse};
    /// let client = Client::builder(Config::new("phc_key", "https://ingest.example.com"))
    ///     .transport(|_request| Ok(HttpResponse::new(503)))
    ///     .build()
    ///     .unwrap();
    /// client.capture(Event::new("signup", "user-1")).unwrap();
    /// assert_eq!(client.drop_pending(DropReason::DrainBudget), 1);
    /// assert_eq!(client.stats().dropped(DropReason::DrainBudget), 1);
    /// ```
    pub fn drop_pending(&self, reason: DropReason) -> u64 {
        let now = self.shared.clock.now();
        let mut state = self.shared.lock_absorbed(now);
        let dropped = state.core.drop_pending(now, reason);
        self.drain_and_wake(state);
        dropped
    }

    /// Closes the intake and admits every event reserved before: captures
    /// that were in progress finish staging within microseconds.
    fn admit_everything_reserved(&self, now: Now) -> Locked<'_> {
        let intake = &self.shared.intake;
        intake.budget.close();
        // `capture_blocking` callers waiting for room are refused now.
        self.shared.signal_room();
        loop {
            let state = self.shared.lock_absorbed(now);
            if intake.budget.reserved().0 == 0 {
                return state;
            }
            // Not under the lock: a capture may need it to admit its event.
            drop(state);
            thread::yield_now();
        }
    }

    /// Resolves what the last input already settled, then wakes the worker
    /// to send what it made ready.
    fn drain_and_wake(&self, mut state: Locked<'_>) {
        let mut settled = Settled::default();
        state.drain_notices(&mut settled);
        drop(state);
        self.shared.wake();
        settled.finish();
    }

    fn join_worker(&self) {
        let handle = self
            .worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle
            && handle.thread().id() != thread::current().id()
        {
            // A panicked worker has nothing left to report.
            let _ = handle.join();
        }
    }
}

/// The receipt of a capture that asked for one.
fn with_receipt((_, receipt): (Uuid, Option<Receipt>)) -> Receipt {
    receipt.expect("a capture asked for a receipt registers one")
}

/// What a flush reports when its answer never came: what is still pending
/// (how many it resolved is not known then).
pub(crate) fn unanswered_flush(shared: &Shared) -> FlushOutcome {
    FlushOutcome::TimedOut {
        resolved: 0,
        pending: shared.lock().core.pending() as u64,
    }
}

/// What a shutdown reports when its answer never came: what the core knows.
pub(crate) fn unanswered_shutdown(shared: &Shared) -> ShutdownOutcome {
    let state = shared.lock();
    state
        .core
        .shutdown_outcome()
        .unwrap_or(ShutdownOutcome::DeadlineReached {
            dropped: state.core.pending() as u64,
        })
}

// Shared across threads and tasks as `Arc<Client>`.
const _: fn() = || {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Client>();
};

impl Drop for Client {
    /// Shuts down with [`Builder::drop_timeout`], blocking up to that long.
    fn drop(&mut self) {
        self.shutdown(self.drop_timeout);
    }
}

impl fmt::Debug for Client {
    /// Never shows the key, header values or the URL's query.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.url)
            .field("drop_timeout", &self.drop_timeout)
            .finish_non_exhaustive()
    }
}
