//! The user-facing handle: capture without blocking on I/O, flush and
//! shut down with a bound, read the counters.

use std::fmt;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tidings::{
    CaptureError, Config, DropReason, Event, FlushOutcome, ShutdownOutcome, Stats, Uuid,
};

use crate::builder::Builder;
use crate::shared::{Settled, Shared, State};

/// How long dropping a [`Client`] waits for pending events to be sent.
pub const DEFAULT_DROP_TIMEOUT: Duration = Duration::from_secs(5);

/// How long past its own timeout `flush` or `shutdown` waits for the
/// worker's answer before reporting from the counters instead.
const WAIT_MARGIN: Duration = Duration::from_millis(500);

/// Sends events from a background thread. Cheap to share: wrap it in an
/// `Arc` and call it from any thread.
///
/// - [`capture`](Client::capture) never blocks on I/O (it takes a short
///   lock) and says whether the event was accepted;
/// - [`flush`](Client::flush) and [`shutdown`](Client::shutdown) block up to
///   their timeout: in async code call them through
///   `tokio::task::spawn_blocking` (or your runtime's equivalent);
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
    /// before-send hook). Never waits for the network.
    pub fn capture(&self, event: Event) -> Result<Uuid, CaptureError> {
        let now = self.shared.clock.now();
        let mut state = self.shared.lock();
        let result = state.core.capture(now, event);
        state.captured(now.monotonic, &self.shared.inbox);
        if result.is_err() {
            // A refusal may bring a warning (or, with DropOldest, evictions).
            let mut settled = Settled::default();
            state.drain_notices(&mut settled);
            drop(state);
            settled.finish();
        }
        result
    }

    /// Sends everything captured so far and waits until it is delivered or
    /// dropped, or `timeout` passes. Blocks the calling thread.
    pub fn flush(&self, timeout: Duration) -> FlushOutcome {
        let (reply, outcome) = mpsc::channel();
        {
            let now = self.shared.clock.now();
            let mut state = self.shared.lock();
            if state.worker_exited {
                // Shut down: nothing is pending any more.
                return FlushOutcome::Completed;
            }
            let id = state.core.flush(now, timeout);
            state.flush_waiters.insert(id, reply);
            self.drain_and_wake(state);
        }
        match outcome.recv_timeout(timeout.saturating_add(WAIT_MARGIN)) {
            Ok(outcome) => outcome,
            Err(_) => FlushOutcome::TimedOut {
                pending: self.shared.lock().core.pending() as u64,
            },
        }
    }

    /// Stops accepting events, sends what is pending within `timeout`, drops
    /// the rest (as `shutdown_deadline`) and stops the worker thread. Blocks
    /// up to `timeout`. Calling it again returns the first outcome.
    pub fn shutdown(&self, timeout: Duration) -> ShutdownOutcome {
        let (reply, outcome) = mpsc::channel();
        {
            let now = self.shared.clock.now();
            let mut state = self.shared.lock();
            if let Some(done) = state.core.shutdown_outcome() {
                drop(state);
                self.join_worker();
                return done;
            }
            state.core.shutdown(now, timeout);
            state.shutdown_waiters.push(reply);
            self.drain_and_wake(state);
        }
        match outcome.recv_timeout(timeout.saturating_add(WAIT_MARGIN)) {
            Ok(done) => {
                self.join_worker();
                done
            }
            // The worker did not answer in time (it should always): report
            // what the core knows rather than hang.
            Err(_) => {
                let state = self.shared.lock();
                state
                    .core
                    .shutdown_outcome()
                    .unwrap_or(ShutdownOutcome::DeadlineReached {
                        dropped: state.core.pending() as u64,
                    })
            }
        }
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
        self.shared.lock().core.stats()
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
        let mut state = self.shared.lock();
        let dropped = state.core.drop_pending(now, reason);
        self.drain_and_wake(state);
        dropped
    }

    /// Resolves what the last input already settled, then wakes the worker
    /// to send what it made ready.
    fn drain_and_wake(&self, mut state: std::sync::MutexGuard<'_, State>) {
        let mut settled = Settled::default();
        state.drain_notices(&mut settled);
        state.wake(&self.shared.inbox);
        drop(state);
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
