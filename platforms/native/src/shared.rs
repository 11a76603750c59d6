//! What the client's callers and the worker thread share: the core behind
//! one mutex, the adapter's bookkeeping, and the worker's wake-up channel.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tidings::{
    Body, Core, FlushId, FlushOutcome, Instant, Notice, RequestId, Response, ShutdownOutcome,
    TransportError,
};

use crate::clock::Clock;

/// A thread-wake parameter, not a batching decision (batches wait as the
/// core's `Config::linger` says): while captures keep coming, the worker
/// looks at the core at least this often, and a capture does not wake it
/// for a deadline it will reach within this much anyway. Waking a
/// sleeping thread costs the capturing thread a syscall and often a
/// context switch (microseconds); looking a millisecond later costs
/// nothing.
pub(crate) const WAKE_SLACK: Duration = Duration::from_millis(1);

/// A thread-wake parameter too: how long after the last capture the
/// worker keeps looking every [`WAKE_SLACK`] (instead of being woken by
/// each capture), before it sleeps until the core's own next deadline.
pub(crate) const BUSY_WINDOW: Duration = Duration::from_millis(10);

/// What the worker's channel carries.
pub(crate) enum Msg {
    /// Something changed: re-read the core.
    Wake,
    /// A sender thread finished a request.
    Answer {
        id: RequestId,
        result: Result<Response, TransportError>,
        /// The request's body, kept alive so that the core, resolving the
        /// request under the lock, only decrements the events' reference
        /// counts; the worker frees them after unlocking.
        body: Body,
        /// From a sender thread (which is free again), or answered at once
        /// by the pool without one.
        from_thread: bool,
    },
}

/// The user's callback for every notice of the core, called without the
/// lock held. A panic in it is caught: delivery goes on (the events the
/// notice is about are already resolved and counted), and the first panic
/// is logged.
#[derive(Clone)]
pub(crate) struct NoticeHook {
    hook: Arc<dyn Fn(&Notice) + Send + Sync>,
    panicked: Arc<AtomicBool>,
}

impl NoticeHook {
    pub(crate) fn new(hook: impl Fn(&Notice) + Send + Sync + 'static) -> Self {
        NoticeHook {
            hook: Arc::new(hook),
            panicked: Arc::new(AtomicBool::new(false)),
        }
    }

    fn call(&self, notice: &Notice) {
        let run = catch_unwind(AssertUnwindSafe(|| (self.hook)(notice)));
        if run.is_err() && !self.panicked.swap(true, Ordering::Relaxed) {
            log::error!(
                "tidings: the on_notice hook panicked; delivery goes on (later panics are not logged)"
            );
        }
    }
}

pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub clock: Clock,
    /// The worker's inbox; `Sender` is `Sync`, so no lock is needed to wake.
    pub inbox: Sender<Msg>,
}

pub(crate) struct State {
    pub core: Core,
    pub flush_waiters: BTreeMap<FlushId, Sender<FlushOutcome>>,
    pub shutdown_waiters: Vec<Sender<ShutdownOutcome>>,
    /// When the worker wakes by itself next; `None`: only when told.
    pub sleeps_until: Option<Instant>,
    /// A wake is on its way (or the worker is running): no need for another.
    pub wake_sent: bool,
    /// The worker has returned: the core is shut down for good.
    pub worker_exited: bool,
    /// The user's notice callback ([`crate::Builder::on_notice`]).
    pub on_notice: Option<NoticeHook>,
    /// When `capture` was last called, to tell the worker captures are flowing.
    pub last_capture: Instant,
}

impl Shared {
    /// Locks the state. A panic elsewhere (say in a before-send hook)
    /// leaves the core consistent enough to account for and shut down.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    pub(crate) fn new(core: Core, on_notice: Option<NoticeHook>) -> Self {
        State {
            core,
            flush_waiters: BTreeMap::new(),
            shutdown_waiters: Vec::new(),
            sleeps_until: None,
            wake_sent: false,
            worker_exited: false,
            on_notice,
            last_capture: Instant::ZERO,
        }
    }

    /// After a capture at `now`: wakes the worker only if the core now wants
    /// to act well before the worker would wake by itself, so a burst of
    /// captures sends one wake, or none while the worker is checking anyway.
    pub(crate) fn captured(&mut self, now: Instant, inbox: &Sender<Msg>) {
        self.last_capture = now;
        // A wake is on its way, or the worker looks within WAKE_SLACK anyway.
        if self.wake_sent
            || self
                .sleeps_until
                .is_some_and(|s| s <= now.saturating_add(WAKE_SLACK))
        {
            return;
        }
        let Some(deadline) = self.core.poll_timeout() else {
            return;
        };
        if self
            .sleeps_until
            .is_none_or(|sleep| deadline.at.saturating_add(WAKE_SLACK) < sleep)
        {
            self.wake(inbox);
        }
    }

    /// When the worker should wake next by itself: the core's deadline, or
    /// sooner while captures are flowing (see [`WAKE_SLACK`]).
    pub(crate) fn next_wake(&self, now: Instant) -> Option<Instant> {
        let deadline = self.core.poll_timeout().map(|d| d.at);
        let flowing = now.saturating_duration_since(self.last_capture) < BUSY_WINDOW;
        if !flowing {
            return deadline;
        }
        let check = now.saturating_add(WAKE_SLACK);
        Some(deadline.map_or(check, |at| at.min(check)))
    }

    /// Wakes the worker unless a wake is already on its way.
    pub(crate) fn wake(&mut self, inbox: &Sender<Msg>) {
        if !self.wake_sent && !self.worker_exited {
            self.wake_sent = true;
            // Fails only once the worker is gone, which `worker_exited` covers.
            let _ = inbox.send(Msg::Wake);
        }
    }

    /// Drains the core's notices into `out`, to act on once the lock is
    /// released. Any thread holding the lock may call it.
    pub(crate) fn drain_notices(&mut self, out: &mut Settled) {
        while let Some(notice) = self.core.poll_notice() {
            if let Some(hook) = &self.on_notice {
                out.hook.get_or_insert_with(|| hook.clone());
                out.notices.push(notice.clone());
            }
            match notice {
                Notice::FlushDone { id, outcome } => {
                    if let Some(waiter) = self.flush_waiters.remove(&id) {
                        out.flushes.push((waiter, outcome));
                    }
                }
                Notice::ShutdownDone { outcome } => {
                    out.shutdowns
                        .extend(self.shutdown_waiters.drain(..).map(|w| (w, outcome)));
                }
                Notice::Warning { .. } => out.log_lines.extend(notice.log_message()),
                _ => {}
            }
        }
    }
}

/// What draining the notices asks for, done without the lock held: log
/// lines first, so a caller that `flush` released sees its warnings logged.
#[derive(Default)]
pub(crate) struct Settled {
    log_lines: Vec<String>,
    hook: Option<NoticeHook>,
    notices: Vec<Notice>,
    flushes: Vec<(Sender<FlushOutcome>, FlushOutcome)>,
    shutdowns: Vec<(Sender<ShutdownOutcome>, ShutdownOutcome)>,
}

impl Settled {
    /// Logs, then answers the waiters. The lines come from the core's
    /// notices, which never contain the key.
    pub(crate) fn finish(&mut self) {
        for line in self.log_lines.drain(..) {
            log::warn!("{line}");
        }
        // Before the waiters: a caller released by `flush` has seen every
        // notice of what it flushed.
        if let Some(hook) = &self.hook {
            for notice in self.notices.drain(..) {
                hook.call(&notice);
            }
        }
        // A waiter that gave up has dropped its receiver: nothing to do.
        for (waiter, outcome) in self.flushes.drain(..) {
            let _ = waiter.send(outcome);
        }
        for (waiter, outcome) in self.shutdowns.drain(..) {
            let _ = waiter.send(outcome);
        }
    }
}
