//! Output: when the adapter must wake the core next, and why.

use super::{Core, Lifecycle};
use crate::notice::FlushOutcome;
use crate::stats::DropReason;
use crate::time::{Instant, Now};

/// When to call [`Core::handle_timeout`] (or `poll_transmit`) next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    pub at: Instant,
    pub reason: DeadlineReason,
}

/// What the deadline is for (for logs and tests; adapters treat all alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadlineReason {
    /// The queue is old enough (`flush_interval`) or full enough to send,
    /// and has lingered (`linger`).
    SendQueue,
    /// A batch's backoff ends.
    Retry,
    /// A 429's pause of the destination ends.
    RateLimitPause,
    /// The backoff after a transient failure ends; new batches may start.
    Backoff,
    /// A request exceeded its timeout without an answer from the adapter.
    RequestTimeout,
    /// A flush's timeout.
    FlushTimeout,
    /// The shutdown deadline.
    ShutdownDeadline,
    /// A rate-limited warning is due.
    Warning,
    /// The metering window reaches `meter_flush_interval`.
    MeterFlush,
    /// A delivery window ends ([`Core::open_window`]).
    WindowEnd,
    /// An event's `event_timeout` passes.
    EventExpiry,
    /// The last window's spill point (`Config::spill`): sending stops and
    /// what is pending goes to the durable queue.
    SpillPoint,
}

impl Core {
    /// The earliest moment something will happen without a new input, or
    /// `None` if nothing will. Changes after any input. Call after draining
    /// `poll_transmit` and `poll_notice`; waking earlier than asked is
    /// harmless (a wake-up with nothing due does nothing).
    #[must_use = "arm a timer for the deadline and call handle_timeout when it fires"]
    pub fn poll_timeout(&self) -> Option<Deadline> {
        let mut best: Option<Deadline> = None;
        let mut consider = |at: Instant, reason: DeadlineReason| {
            if best.is_none_or(|b| at < b.at) {
                best = Some(Deadline { at, reason });
            }
        };
        for f in &self.in_flight {
            consider(f.give_up_at, DeadlineReason::RequestTimeout);
        }
        for b in &self.flushes {
            consider(b.deadline, DeadlineReason::FlushTimeout);
        }
        if let Lifecycle::Draining { deadline } = self.lifecycle {
            consider(deadline, DeadlineReason::ShutdownDeadline);
        }
        for w in &self.windows {
            consider(w.until, DeadlineReason::WindowEnd);
        }
        if let Some(at) = self.warnings.next_due() {
            consider(at, DeadlineReason::Warning);
        }
        if let Some(at) = self.meter_due() {
            consider(at, DeadlineReason::MeterFlush);
        }
        if let Some(at) = self.next_expiry() {
            consider(at, DeadlineReason::EventExpiry);
        }
        #[cfg(feature = "windows")]
        if let Some(at) = self.spill_point()
            && at > self.now.monotonic
            && self.pending_events > 0
        {
            consider(at, DeadlineReason::SpillPoint);
        }
        // A paused core has nothing to send: no wake-up only to send.
        if !self.sending_allowed() {
            return best;
        }
        let limited = self.rate_limited_until.filter(|&t| t > self.now.monotonic);
        let gate = |at: Instant, reason: DeadlineReason| match limited {
            Some(p) if p > at => (p, DeadlineReason::RateLimitPause),
            _ => (at, reason),
        };
        if let Some(first) = self.retrying.iter().map(|b| b.ready_at).min() {
            let (at, reason) = gate(first, DeadlineReason::Retry);
            consider(at, reason);
        }
        if let Some(at) = self.queue_due_at() {
            let at = at.max(self.now.monotonic);
            let (at, reason) = match self.backoff_until {
                Some(b) if b > at => (b, DeadlineReason::Backoff),
                _ => (at, DeadlineReason::SendQueue),
            };
            let (at, reason) = gate(at, reason);
            consider(at, reason);
        }
        best
    }

    /// Fires whatever is due at `now`: request timeouts, flush timeouts,
    /// the shutdown deadline, warnings. Sends are then polled as usual.
    pub fn handle_timeout(&mut self, now: Now) {
        self.advance(now);
    }

    /// Everything time-driven. Called by every input.
    pub(super) fn fire_due(&mut self) {
        let now = self.now.monotonic;
        while let Some(pos) = self.in_flight.iter().position(|f| f.give_up_at <= now) {
            // The adapter never reported: treat it as a timeout.
            let batch = self.in_flight.remove(pos).batch;
            self.counters.failed_requests += 1;
            self.retry_later(batch, false, None);
        }
        if self.meter_due().is_some_and(|t| t <= now) && self.lifecycle == Lifecycle::Running {
            self.close_meter_window();
        }
        while let Some(notice) = self.warnings.poll_due(now) {
            self.notices.push_back(notice);
        }
        self.expire_due();
        // What is already resolved counts before any deadline fires.
        self.settle();
        #[cfg(feature = "windows")]
        self.end_due_windows();
        if let Lifecycle::Draining { deadline } = self.lifecycle
            && now >= deadline
        {
            self.give_up_at_deadline();
            // Flushes the deadline resolved are complete, not timed out.
            self.settle();
        }
        let mut i = 0;
        while i < self.flushes.len() {
            if self.flushes[i].deadline <= now {
                let barrier = self.flushes.remove(i);
                let pending = self.pending_before(barrier.upto_seq);
                let outcome = FlushOutcome::TimedOut {
                    resolved: barrier.covered.saturating_sub(pending),
                    pending,
                };
                self.notices.push_back(crate::Notice::FlushDone {
                    id: barrier.id,
                    outcome,
                });
            } else {
                i += 1;
            }
        }
        self.settle();
    }

    /// At the shutdown deadline, everything still pending is dropped.
    fn give_up_at_deadline(&mut self) {
        let dropped = self.drop_all_pending(DropReason::ShutdownDeadline);
        self.finish_shutdown(crate::ShutdownOutcome::DeadlineReached { dropped });
    }

    /// Drops everything pending (queued, retrying, in flight) as `reason`;
    /// returns how many events that was. Answers to the dropped requests
    /// are ignored when they come.
    pub(super) fn drop_all_pending(&mut self, reason: DropReason) -> u64 {
        let mut dropped = 0u64;
        let queued: Vec<_> = self.queue.drain().collect();
        dropped += queued.len() as u64;
        self.drop_events(super::Resolved::queued(queued), reason);
        for batch in std::mem::take(&mut self.retrying) {
            dropped += batch.events.len() as u64;
            self.drop_batch(batch, reason);
        }
        for flight in std::mem::take(&mut self.in_flight) {
            // Abandoned: it ends without a 2xx, whatever comes back.
            self.counters.failed_requests += 1;
            dropped += flight.batch.events.len() as u64;
            self.drop_batch(flight.batch, reason);
        }
        let outbox: Vec<_> = self.spill_outbox.drain(..).collect();
        dropped += outbox.len() as u64;
        self.drop_events(super::Resolved::queued(outbox), reason);
        for spill in std::mem::take(&mut self.spills) {
            // The queue's answer, if it comes, is ignored.
            dropped += spill.events.len() as u64;
            self.drop_events(super::Resolved::batched(&spill.events), reason);
        }
        dropped
    }
}
