//! What the client's callers and the worker thread share: the core behind
//! one mutex, the intake that captures use without it, the adapter's
//! bookkeeping, and the worker's wake-up channel.

use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tidings::{
    Body, Core, FlushId, FlushOutcome, Instant, Notice, Now, RequestId, Response, ShutdownOutcome,
    TransportError,
};

use crate::clock::Clock;
use crate::intake::{ABSORB_CHUNK, Intake};
use crate::receipts::{self, Book, Receipts, Resolutions};
use crate::waiter::Waiter;

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

/// How stale `Shared::last_capture` may be, in nanoseconds: far below
/// [`BUSY_WINDOW`].
const LAST_CAPTURE_GRAIN: u64 = 100_000;

/// `Shared::sleeps_until` while the worker is running a step.
const AWAKE: u64 = 0;
/// `Shared::sleeps_until` while the worker sleeps until told.
const UNTIL_TOLD: u64 = u64::MAX;

pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub clock: Clock,
    /// The worker's inbox; `Sender` is `Sync`, so no lock is needed to wake.
    pub inbox: Sender<Msg>,
    /// What captures use instead of the lock.
    pub intake: Intake,
    /// Receipts asked for, on their way to [`State::receipts`].
    pub receipts: Receipts,
    /// When the worker wakes by itself next, in nanoseconds on the
    /// client's clock ([`AWAKE`], [`UNTIL_TOLD`]).
    sleeps_until: AtomicU64,
    /// A wake is on its way: no need for another.
    wake_sent: AtomicBool,
    /// When a capture last came, to tell the worker captures are flowing.
    last_capture: AtomicU64,
    /// `capture_blocking` callers waiting for room, and their signal.
    room_waiters: AtomicUsize,
    room: (Mutex<()>, Condvar),
}

pub(crate) struct State {
    pub core: Core,
    pub flush_waiters: BTreeMap<FlushId, Waiter<FlushOutcome>>,
    pub shutdown_waiters: Vec<Waiter<ShutdownOutcome>>,
    /// The worker has returned: the core is shut down for good.
    pub worker_exited: bool,
    /// The user's notice callback ([`crate::Builder::on_notice`]).
    pub on_notice: Option<NoticeHook>,
    /// Receipts of events in the core.
    pub receipts: Book,
}

/// The locked state. Releasing it publishes what the core holds to the
/// shared budget (so room freed by answers is seen by captures) and wakes
/// `capture_blocking` callers waiting for room.
pub(crate) struct Locked<'a> {
    guard: MutexGuard<'a, State>,
    shared: &'a Shared,
}

impl Deref for Locked<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.guard
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.guard
    }
}

impl Locked<'_> {
    /// Drains the core's notices into `out`, to act on once the lock is
    /// released. Any thread holding the lock may call it.
    pub(crate) fn drain_notices(&mut self, out: &mut Settled) {
        let receipts = &self.shared.receipts;
        self.guard.drain_notices_into(receipts, out);
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.shared.intake.budget.publish(&self.guard.core);
        if self.shared.room_waiters.load(Ordering::SeqCst) > 0 {
            self.shared.signal_room();
        }
    }
}

impl Shared {
    pub(crate) fn new(mut core: Core, on_notice: Option<NoticeHook>, inbox: Sender<Msg>) -> Self {
        Shared {
            intake: Intake::new(&mut core),
            state: Mutex::new(State {
                core,
                flush_waiters: BTreeMap::new(),
                shutdown_waiters: Vec::new(),
                worker_exited: false,
                on_notice,
                receipts: Book::default(),
            }),
            clock: Clock::start(),
            receipts: Receipts::default(),
            inbox,
            sleeps_until: AtomicU64::new(AWAKE),
            wake_sent: AtomicBool::new(false),
            last_capture: AtomicU64::new(0),
            room_waiters: AtomicUsize::new(0),
            room: (Mutex::new(()), Condvar::new()),
        }
    }

    /// Locks the state. A panic elsewhere (say in a notice hook) leaves
    /// the core consistent enough to account for and shut down.
    pub(crate) fn lock(&self) -> Locked<'_> {
        Locked {
            guard: self.state.lock().unwrap_or_else(PoisonError::into_inner),
            shared: self,
        }
    }

    /// Locks the state and admits what captures staged, so the core sees
    /// every event captured before this call. Admits in chunks, letting go
    /// of the lock between them, and only what was staged on entry, so a
    /// stream of captures cannot keep it here.
    pub(crate) fn lock_absorbed(&self, now: Now) -> Locked<'_> {
        let mut left = self.intake.staged();
        loop {
            let mut state = self.lock();
            let chunk = left.min(ABSORB_CHUNK);
            self.intake.absorb(&mut state.core, now, chunk);
            left -= chunk;
            if left == 0 {
                return state;
            }
        }
    }

    /// After a capture at `now` (accepted or refused): wakes the worker only
    /// if it sleeps past the next [`WAKE_SLACK`], so a burst of captures
    /// sends one wake, or none while the worker is checking anyway.
    pub(crate) fn captured(&self, now: Instant) {
        let now = nanos(now);
        // Coarse, so a burst of captures does not write this cache line
        // (which the worker reads) on every call.
        if now.saturating_sub(self.last_capture.load(Ordering::Relaxed)) > LAST_CAPTURE_GRAIN {
            self.last_capture.store(now, Ordering::Relaxed);
        }
        // After staging (SeqCst): a worker that read no staged event before
        // sleeping has published its sleep by now (see `Shared::sleep`).
        let sleeps = self.sleeps_until.load(Ordering::SeqCst);
        if sleeps != AWAKE && sleeps > now.saturating_add(nanos_of(WAKE_SLACK)) {
            self.wake();
        }
    }

    /// Wakes the worker unless a wake is already on its way.
    pub(crate) fn wake(&self) {
        if !self.wake_sent.swap(true, Ordering::SeqCst) {
            // Fails only once the worker is gone: nothing is left to do.
            let _ = self.inbox.send(Msg::Wake);
        }
    }

    /// The worker is running a step: captures need not wake it.
    pub(crate) fn running(&self) {
        self.sleeps_until.store(AWAKE, Ordering::SeqCst);
    }

    /// The worker is about to sleep until `next` (`None`: until told).
    /// Returns when it should really wake: sooner if a capture staged
    /// something it has not absorbed (that capture saw it awake and sent
    /// no wake).
    pub(crate) fn sleep(&self, now: Instant, next: Option<Instant>) -> Option<Instant> {
        let store = |at: Option<Instant>| {
            let at = at.map_or(UNTIL_TOLD, |at| nanos(at).max(AWAKE + 1));
            self.sleeps_until.store(at, Ordering::SeqCst);
        };
        store(next);
        self.wake_sent.store(false, Ordering::SeqCst);
        if !self.intake.has_work() {
            return next;
        }
        let soon = now.saturating_add(WAKE_SLACK);
        let next = Some(next.map_or(soon, |at| at.min(soon)));
        store(next);
        next
    }

    /// When the worker should wake next by itself: the core's deadline, or
    /// sooner while captures are flowing (see [`WAKE_SLACK`]).
    pub(crate) fn next_wake(&self, core: &Core, now: Instant) -> Option<Instant> {
        let deadline = core.poll_timeout().map(|d| d.at);
        let last = self.last_capture.load(Ordering::Relaxed);
        let flowing = nanos(now).saturating_sub(last) < nanos_of(BUSY_WINDOW);
        if !flowing {
            return deadline;
        }
        let check = now.saturating_add(WAKE_SLACK);
        Some(deadline.map_or(check, |at| at.min(check)))
    }

    /// Waits up to `timeout` for the budget to change (room freed, or the
    /// client shut down), running `retry` under the room lock first so a
    /// signal between the check and the wait is not missed.
    pub(crate) fn wait_for_room<T>(
        &self,
        timeout: Duration,
        mut retry: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        let (lock, signal) = &self.room;
        let deadline = self.clock.now().monotonic.saturating_add(timeout);
        self.room_waiters.fetch_add(1, Ordering::SeqCst);
        let mut guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
        let outcome = loop {
            if let Some(done) = retry() {
                break Some(done);
            }
            let left = self.clock.until(deadline);
            if left.is_zero() {
                break None;
            }
            guard = signal
                .wait_timeout(guard, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        drop(guard);
        self.room_waiters.fetch_sub(1, Ordering::SeqCst);
        outcome
    }

    /// Tells `capture_blocking` callers to look at the budget again.
    pub(crate) fn signal_room(&self) {
        let (lock, signal) = &self.room;
        drop(lock.lock().unwrap_or_else(PoisonError::into_inner));
        signal.notify_all();
    }
}

fn nanos(at: Instant) -> u64 {
    nanos_of(at.since_origin())
}

fn nanos_of(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX - 1)
}

impl State {
    fn drain_notices_into(&mut self, receipts: &Receipts, out: &mut Settled) {
        while let Some(notice) = self.core.poll_notice() {
            self.receipts
                .take_resolved(receipts, &notice, &mut out.receipts);
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
    receipts: Resolutions,
    flushes: Vec<(Waiter<FlushOutcome>, FlushOutcome)>,
    shutdowns: Vec<(Waiter<ShutdownOutcome>, ShutdownOutcome)>,
}

impl Settled {
    /// Logs, then answers the waiters. The lines come from the core's
    /// notices, which never contain the key.
    pub(crate) fn finish(&mut self) {
        for line in self.log_lines.drain(..) {
            log::warn!("{line}");
        }
        // Before the waiters: a caller released by `flush` finds the
        // receipts of what it flushed resolved and has seen every notice.
        receipts::settle(&mut self.receipts);
        if let Some(hook) = &self.hook {
            for notice in self.notices.drain(..) {
                hook.call(&notice);
            }
        }
        for (waiter, outcome) in self.flushes.drain(..) {
            waiter.answer(outcome);
        }
        for (waiter, outcome) in self.shutdowns.drain(..) {
            waiter.answer(outcome);
        }
    }
}
