//! Inputs: flush barriers and shutdown; and the check that resolves them.

use std::time::Duration;

use super::{Core, FlushBarrier, Lifecycle};
use crate::notice::{FlushId, FlushOutcome, Notice, ShutdownOutcome};
use crate::stats::DropReason;
use crate::time::Now;

impl Core {
    /// Starts a flush: everything captured before this call is sent now
    /// (without waiting for `flush_at` or `flush_interval`). A
    /// [`Notice::FlushDone`] with this id follows once all of it is
    /// delivered or dropped, or when `timeout` passes, whichever is first.
    pub fn flush(&mut self, now: Now, timeout: Duration) -> FlushId {
        self.advance(now);
        self.next_flush += 1;
        let id = FlushId(self.next_flush);
        self.flushes.push(FlushBarrier {
            id,
            upto_seq: self.next_seq,
            covered: self.pending_events as u64,
            deadline: self.now.monotonic.saturating_add(timeout),
        });
        self.settle();
        id
    }

    /// Starts a shutdown: later captures are refused, what is pending is
    /// sent within `timeout` (each request's timeout capped at the time
    /// left), and whatever is left at the deadline is dropped as
    /// `shutdown_deadline`. [`Notice::ShutdownDone`] follows. Calling it
    /// again only ever brings the deadline closer.
    pub fn shutdown(&mut self, now: Now, timeout: Duration) {
        self.advance(now);
        let asked = self.now.monotonic.saturating_add(timeout);
        match self.lifecycle {
            Lifecycle::Running => {
                // The open metering window is delivered like everything else.
                self.close_meter_window();
                self.lifecycle = Lifecycle::Draining { deadline: asked };
            }
            Lifecycle::Draining { deadline } if asked < deadline => {
                self.lifecycle = Lifecycle::Draining { deadline: asked };
            }
            _ => {}
        }
        self.fire_due();
    }

    /// Gives up on everything pending now — queued, retrying and in flight —
    /// counting it as dropped for `reason`, while the core keeps running
    /// (later captures are accepted): for an application that must let go
    /// of what it cannot deliver (delivery windows do this by themselves,
    /// see [`Core::open_window`]). Flush barriers waiting on those events
    /// complete; answers to the abandoned requests are ignored. Returns the
    /// number of events dropped.
    ///
    /// ```
    /// # use tidings::{Config, Core, DropReason, Event, Now};
    /// let mut core = Core::new(Config::new("phc_key", "https://us.i.posthog.com"), 1).unwrap();
    /// core.capture(Now::default(), Event::new("e", "u")).unwrap();
    /// assert_eq!(core.drop_pending(Now::default(), DropReason::DrainBudget), 1);
    /// assert_eq!(core.stats().dropped(DropReason::DrainBudget), 1);
    /// assert!(core.stats().adds_up());
    /// ```
    pub fn drop_pending(&mut self, now: Now, reason: DropReason) -> u64 {
        self.advance(now);
        let dropped = self.drop_all_pending(reason);
        self.settle();
        dropped
    }

    /// Resolves flushes and the shutdown that have nothing left to wait for.
    pub(super) fn settle(&mut self) {
        #[cfg(feature = "windows")]
        self.spill_due();
        let mut i = 0;
        while i < self.flushes.len() {
            if self.pending_before(self.flushes[i].upto_seq) == 0 {
                let barrier = self.flushes.remove(i);
                self.notices.push_back(Notice::FlushDone {
                    id: barrier.id,
                    outcome: FlushOutcome::Completed {
                        resolved: barrier.covered,
                    },
                });
            } else {
                i += 1;
            }
        }
        if matches!(self.lifecycle, Lifecycle::Draining { .. }) && self.pending_events == 0 {
            self.finish_shutdown(ShutdownOutcome::Drained);
        }
        #[cfg(feature = "windows")]
        self.settle_windows();
    }

    pub(super) fn finish_shutdown(&mut self, outcome: ShutdownOutcome) {
        self.lifecycle = Lifecycle::Done(outcome);
        self.rate_limited_until = None;
        self.backoff_until = None;
        self.notices.push_back(Notice::ShutdownDone { outcome });
    }

    /// Pending events captured before sequence number `upto`.
    pub(super) fn pending_before(&self, upto: u64) -> u64 {
        let batches = self
            .retrying
            .iter()
            .chain(self.in_flight.iter().map(|f| &f.batch));
        let in_batches: usize = batches
            .filter(|b| b.first_seq() < upto)
            .map(|b| b.events.partition_point(|e| e.seq < upto))
            .sum();
        let spilling: usize = self
            .spills
            .iter()
            .map(|s| s.events.partition_point(|e| e.seq < upto))
            .sum::<usize>()
            + self.spill_outbox.partition_point(|e| e.seq < upto);
        (in_batches + spilling + self.queue.count_before(upto)) as u64
    }
}
