//! The sender threads: up to `max_in_flight` of them, started as needed,
//! each taking one request at a time so a slow request never holds up the
//! others. Bodies are serialized (and gzipped) here, off the core's lock.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use tidings::{Transmit, TransportError};

use crate::shared::Msg;
use crate::telemetry;
use crate::transport::{HttpRequest, Transport};

/// Owned by the worker thread, which alone dispatches and counts answers.
pub(crate) struct Pool {
    jobs: Sender<Transmit>,
    queue: Arc<Mutex<Receiver<Transmit>>>,
    transport: Arc<dyn Transport>,
    answers: Sender<Msg>,
    threads: usize,
    max_threads: usize,
    /// Requests handed to sender threads and not yet answered.
    busy: usize,
    /// The stuck-transport warning was logged (once per client).
    stuck_logged: bool,
}

impl Pool {
    pub(crate) fn new(transport: Arc<dyn Transport>, answers: Sender<Msg>, max: usize) -> Self {
        let (jobs, queue) = mpsc::channel();
        Pool {
            jobs,
            queue: Arc::new(Mutex::new(queue)),
            transport,
            answers,
            threads: 0,
            max_threads: max.max(1),
            busy: 0,
            stuck_logged: false,
        }
    }

    /// Hands a request to an idle sender thread, starting one if all are
    /// busy. A request no thread can take is answered at once as failed
    /// (the core retries it later) instead of waiting in a queue: so a
    /// transport that never returns holds at most `max_in_flight` bodies,
    /// and the adapter stays within the core's memory budget.
    pub(crate) fn dispatch(&mut self, transmit: Transmit) {
        if self.busy >= self.threads && self.threads < self.max_threads {
            self.spawn();
        }
        if self.threads == 0 {
            // No thread could be started: answer at once so the core retries.
            let error = TransportError::Other("cannot start a sender thread".into());
            self.answer_now(transmit, error);
            return;
        }
        if self.busy >= self.max_threads {
            // Every sender thread is still inside a request the core gave up
            // on (past its timeout and a grace): the transport ignores its
            // timeout. Queueing would keep this body alive behind them.
            if !self.stuck_logged {
                self.stuck_logged = true;
                log::warn!(
                    "tidings: every sender thread is stuck in a transport call past its timeout; requests fail until one returns"
                );
            }
            let error = TransportError::Other(
                "no sender thread free: the transport has not returned from earlier requests"
                    .into(),
            );
            self.answer_now(transmit, error);
            return;
        }
        self.busy += 1;
        // The receiver lives as long as any sender thread: this cannot fail.
        let _ = self.jobs.send(transmit);
    }

    /// Counts an answer that came back through the worker's inbox.
    pub(crate) fn answered(&mut self) {
        self.busy = self.busy.saturating_sub(1);
    }

    fn spawn(&mut self) {
        let queue = Arc::clone(&self.queue);
        let transport = Arc::clone(&self.transport);
        let answers = self.answers.clone();
        let spawned = thread::Builder::new()
            .name(format!("tidings-sender-{}", self.threads))
            .spawn(move || run_sender(&queue, &*transport, &answers));
        match spawned {
            Ok(_) => self.threads += 1,
            Err(e) => log::warn!("tidings could not start a sender thread: {e}"),
        }
    }

    fn answer_now(&self, transmit: Transmit, error: TransportError) {
        let _ = self.answers.send(Msg::Answer {
            id: transmit.id,
            result: Err(error),
            body: transmit.body,
            from_thread: false,
        });
    }
}

/// A sender thread: ends when the worker drops the pool.
#[allow(clippy::disallowed_methods)] // times requests for the metrics
fn run_sender(queue: &Mutex<Receiver<Transmit>>, transport: &dyn Transport, answers: &Sender<Msg>) {
    loop {
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(transmit) = next else {
            return;
        };
        let Transmit {
            id,
            method,
            url,
            headers,
            body,
            timeout,
            attempt,
            ..
        } = transmit;
        let request = HttpRequest {
            request: id,
            attempt,
            events: body.event_count(),
            method,
            url,
            headers,
            body: body.to_bytes(),
            timeout,
        };
        let (events, wire_bytes) = (request.events, request.body.len());
        let started = telemetry::ENABLED.then(std::time::Instant::now);
        let result = perform(transport, request);
        if let Some(started) = started {
            telemetry::request_done(events, wire_bytes, attempt, started.elapsed(), &result);
        }
        if let Err(e) = &result {
            // Transport errors name no header or body: safe to log.
            log::debug!("tidings request {} got no answer: {e}", id.as_u64());
        }
        // Fails once the worker is gone (shut down): late answers are moot.
        let _ = answers.send(Msg::Answer {
            id,
            result,
            body,
            from_thread: true,
        });
    }
}

fn perform(
    transport: &dyn Transport,
    request: HttpRequest,
) -> Result<tidings::Response, TransportError> {
    // A panicking transport must not leave the core waiting for an answer.
    catch_unwind(AssertUnwindSafe(|| transport.send(request)))
        .unwrap_or_else(|_| Err(TransportError::Other("the transport panicked".into())))
        .map(|response| response.into_response())
}
