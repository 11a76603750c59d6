//! The async twins of `flush` and `shutdown`: the same steps, but the
//! caller awaits a one-shot the worker answers instead of blocking a thread,
//! so they run on any executor without `spawn_blocking`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tidings::{FlushOutcome, ShutdownOutcome};

use crate::client::{Client, WAIT_MARGIN, unanswered_flush, unanswered_shutdown};
use crate::oneshot;
use crate::shared::Shared;
use crate::waiter::Waiter;

impl Client {
    /// [`Client::flush`] without blocking: resolves once everything
    /// captured before this call is delivered or dropped, or `timeout`
    /// passes. Never blocks the executor's thread (it takes the client's
    /// lock briefly, as `capture` may).
    ///
    /// The flush starts when this is called, not when the future is first
    /// polled; dropping the future stops waiting, not the flush. The future
    /// holds no borrow of the client, so it can be spawned.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tidings_native::{Client, Config, Event, FlushOutcome, HttpResponse};
    /// let client = Client::builder(Config::new("phc_key", "https://ingest.example.com"))
    ///     .transport(|_request| Ok(HttpResponse::new(200)))
    ///     .build()?;
    /// client.capture(Event::new("signup", "user-1"))?;
    /// let flushed = client.flush_async(Duration::from_secs(2));
    /// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    /// assert_eq!(runtime.block_on(flushed), FlushOutcome::Completed { resolved: 1 });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush_async(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = FlushOutcome> + Send + 'static + use<> {
        let (reply, answer) = oneshot::channel();
        let known = self.start_flush(timeout, Waiter::Task(reply));
        self.answer_of(known, answer, timeout, unanswered_flush)
    }

    /// [`Client::shutdown`] without blocking: refuses new captures at once,
    /// then resolves once what was pending is delivered or, at `timeout`,
    /// dropped (as `shutdown_deadline`). Like `flush_async`, it starts when
    /// called, and dropping the future does not undo it. Calling it again,
    /// or `shutdown`, returns the first outcome.
    ///
    /// It does not join the worker thread, which exits by itself once the
    /// shutdown is done. Dropping the client joins it: after this resolved
    /// that returns at once (the outcome is known; the thread needs only to
    /// return), so in async code await this before the last `Arc<Client>`
    /// goes, rather than let `Drop` wait up to its timeout on the
    /// executor's thread.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tidings_native::{Client, Config, Event, HttpResponse, ShutdownOutcome};
    /// let client = Client::builder(Config::new("phc_key", "https://ingest.example.com"))
    ///     .transport(|_request| Ok(HttpResponse::new(200)))
    ///     .build()?;
    /// client.capture(Event::new("signup", "user-1"))?;
    /// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    /// let outcome = runtime.block_on(client.shutdown_async(Duration::from_secs(5)));
    /// assert_eq!(outcome, ShutdownOutcome::Drained);
    /// assert_eq!(client.stats().delivered, 1);
    /// drop(client); // returns at once
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown_async(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = ShutdownOutcome> + Send + 'static + use<> {
        let (reply, answer) = oneshot::channel();
        let known = self.start_shutdown(timeout, Waiter::Task(reply));
        self.answer_of(known, answer, timeout, unanswered_shutdown)
    }

    /// The outcome known at once, or the worker's answer; if that never
    /// comes (it always should) within `timeout` and the margin, what
    /// `unanswered` reads from the counters, as the blocking calls do.
    fn answer_of<T: Send + 'static>(
        &self,
        known: Option<T>,
        answer: oneshot::Receiver<T>,
        timeout: Duration,
        unanswered: fn(&Shared) -> T,
    ) -> impl Future<Output = T> + Send + 'static + use<T> {
        let answer = answer.give_up_after(timeout.saturating_add(WAIT_MARGIN));
        let shared = Arc::clone(&self.shared);
        async move {
            match known {
                Some(done) => done,
                None => answer.await.unwrap_or_else(|| unanswered(&shared)),
            }
        }
    }
}
