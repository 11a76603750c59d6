//! The worker thread: the one place that drives the core's outputs. It
//! sleeps on its inbox with one timeout, the core's next deadline.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};

use crate::pool::Pool;
use crate::shared::{Msg, Settled, Shared};
use crate::telemetry;

/// Runs until the core is shut down. Requests still running in sender
/// threads then end on their own timeouts (capped at the shutdown deadline
/// for those started after `shutdown`) and their answers are ignored.
pub(crate) fn run(shared: Arc<Shared>, inbox: Receiver<Msg>, mut pool: Pool) {
    let mut messages: Vec<Msg> = Vec::new();
    let mut settled = Settled::default();
    let mut bodies = Vec::new();
    // What the metrics last reported.
    let mut reported = tidings::Stats::default();
    loop {
        shared.running();
        let now = shared.clock.now();
        // One short lock per step, so a caller of `flush` or `stats` waits
        // for one step at most, never for a whole pass over a burst of
        // answers and requests. Captures never take the lock.
        for message in messages.drain(..) {
            if let Msg::Answer {
                id,
                result,
                body,
                from_thread,
            } = message
            {
                if from_thread {
                    pool.answered();
                }
                shared.lock().core.handle_response(now, id, result);
                bodies.push(body);
            }
        }
        shared.lock_absorbed(now).core.handle_timeout(now);
        loop {
            let transmit = shared.lock().core.poll_transmit(now);
            match transmit {
                // Off the lock: handing out a request may start a thread.
                Some(transmit) => pool.dispatch(transmit),
                None => break,
            }
        }
        let (next, done) = {
            let mut state = shared.lock();
            state.drain_notices(&mut settled);
            let done = state.core.is_shut_down();
            state.worker_exited = done;
            if telemetry::ENABLED {
                telemetry::step_done(&mut reported, state.core.stats());
            }
            (shared.next_wake(&state.core, now.monotonic), done)
        };
        settled.finish();
        // Frees delivered events' bytes, off the lock; prepares buffers
        // for the next captures.
        bodies.clear();
        shared.intake.replenish();
        if done {
            return;
        }
        let next = shared.sleep(now.monotonic, next);
        let first = match next {
            Some(at) => match inbox.recv_timeout(shared.clock.until(at)) {
                Ok(message) => message,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            },
            None => match inbox.recv() {
                Ok(message) => message,
                Err(_) => return,
            },
        };
        messages.push(first);
        messages.extend(inbox.try_iter());
    }
}
