//! The worker thread: the one place that drives the core's outputs. It
//! sleeps on its inbox with one timeout, the core's next deadline.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};

use tidings::Transmit;

use crate::pool::Pool;
use crate::shared::{Msg, Settled, Shared};

/// Runs until the core is shut down. Requests still running in sender
/// threads then end on their own timeouts (capped at the shutdown deadline
/// for those started after `shutdown`) and their answers are ignored.
pub(crate) fn run(shared: Arc<Shared>, inbox: Receiver<Msg>, mut pool: Pool) {
    let mut messages: Vec<Msg> = Vec::new();
    let mut transmits: Vec<Transmit> = Vec::new();
    let mut settled = Settled::default();
    let mut bodies = Vec::new();
    loop {
        let now = shared.clock.now();
        let (next, done) = {
            let mut state = shared.lock();
            for message in messages.drain(..) {
                if let Msg::Answer { id, result, body } = message {
                    pool.answered();
                    state.core.handle_response(now, id, result);
                    bodies.push(body);
                }
            }
            state.core.handle_timeout(now);
            while let Some(transmit) = state.core.poll_transmit(now) {
                transmits.push(transmit);
            }
            state.drain_notices(&mut settled);
            let done = state.core.is_shut_down();
            let next = state.next_wake(now.monotonic);
            state.sleeps_until = next;
            state.wake_sent = false;
            state.worker_exited = done;
            (next, done)
        };
        // Off the lock: handing out requests may start a thread.
        for transmit in transmits.drain(..) {
            pool.dispatch(transmit);
        }
        settled.finish();
        // Frees delivered events' bytes, off the lock.
        bodies.clear();
        if done {
            return;
        }
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
