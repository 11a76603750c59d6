//! Per-event deadlines (`Config::event_timeout`): whatever an event is
//! doing when its deadline passes — queued, waiting to retry, paused —
//! it is dropped as `expired`. A request in flight is not cut short: its
//! events expire when it comes back unsuccessful.

use std::time::Duration;

use super::{Core, Resolved};
use crate::batch::Batch;
use crate::queue::to_nanos;
use crate::stats::DropReason;
use crate::time::Instant;

/// The deadline span without an `event_timeout`: a century, far beyond
/// any run and well inside the core's nanosecond clock.
pub(super) const NO_DEADLINE: Duration = Duration::from_secs(100 * 365 * 86_400);

impl Core {
    /// How long an event may stay in the core.
    pub(super) fn event_span(&self) -> Duration {
        self.config.event_timeout.unwrap_or(NO_DEADLINE)
    }

    /// When the next event not in flight expires, if any.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.config.event_timeout?;
        let batches = self.retrying.iter().map(Batch::expires_at);
        batches.chain(self.queue.next_expiry()).min()
    }

    /// Drops what is past its deadline and not in flight.
    pub(super) fn expire_due(&mut self) {
        if self.config.event_timeout.is_none() {
            return;
        }
        let now = self.now.monotonic;
        let expired = self.queue.expire(now);
        self.drop_events(Resolved::queued(expired), DropReason::Expired);
        let cutoff = to_nanos(now);
        let mut i = 0;
        while i < self.retrying.len() {
            if self.retrying[i].expires_nanos > cutoff {
                i += 1;
                continue;
            }
            let batch = self.retrying.remove(i);
            let (gone, kept): (Vec<usize>, Vec<usize>) =
                (0..batch.events.len()).partition(|&k| batch.events[k].expires_nanos <= cutoff);
            if !gone.is_empty() {
                self.drop_batch(batch.part(&gone), DropReason::Expired);
            }
            if !kept.is_empty() {
                // The same request identity: a v1 retry of the rest.
                self.retrying.insert(i, batch.part(&kept));
                i += 1;
            }
        }
    }
}
