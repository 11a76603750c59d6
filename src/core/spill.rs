//! Spilling (`Config::spill`): a host that can only work within delivery
//! windows (a Worker's `waitUntil`) hands what it cannot deliver in time to
//! a durable queue instead of dropping it. The last open window stops
//! sending `margin` before its end; from then on everything pending that
//! is not in flight — and whatever comes back unsuccessful — waits in the
//! outbox for [`Core::poll_spill`], and is resolved as spilled once the
//! adapter confirms the queue took it ([`Core::spilled`]). What is still
//! not spilled when the window ends is dropped as `drain_budget`, as
//! without a queue. The queue's consumer feeds the events back into a
//! core with [`Core::capture_spilled`], byte for byte.

use std::sync::Arc;

use uuid::Uuid;

use super::{Core, Resolved, SpillInFlight};
use crate::batch::BatchedEvent;
use crate::core::CaptureError;
use crate::notice::{Notice, SpillId};
use crate::queue::{QueuedEvent, from_nanos};
use crate::stats::DropReason;
use crate::time::{Instant, Now};

/// Events to put on the durable queue, one message each. Send them (one
/// `sendBatch`), then report with [`Core::spilled`].
#[derive(Clone, Debug)]
pub struct Spill {
    pub id: SpillId,
    pub uuids: Vec<Uuid>,
    /// Each event's encoded JSON object, as it would be in a request body.
    pub events: Vec<Arc<[u8]>>,
}

impl Core {
    /// When the last open window stops sending and starts spilling.
    pub(super) fn spill_point(&self) -> Option<Instant> {
        let margin = self.config.spill?.margin;
        let last = self.windows.iter().map(|w| w.until).max()?;
        Some(Instant::from_duration(
            last.since_origin().saturating_sub(margin),
        ))
    }

    /// Whether sending has stopped for spilling.
    pub(super) fn spilling_now(&self) -> bool {
        self.spill_point()
            .is_some_and(|at| self.now.monotonic >= at)
    }

    /// Past the spill point: what is queued or waiting to retry moves to
    /// the outbox. Part of `settle`.
    pub(super) fn spill_due(&mut self) {
        if !self.spilling_now() {
            return;
        }
        self.spill_outbox.extend(self.queue.drain());
        for batch in std::mem::take(&mut self.retrying) {
            let events = batch.events.iter().zip(batch.payload.iter());
            self.spill_outbox.extend(events.map(|(e, bytes)| {
                QueuedEvent::new(e.seq, e.uuid, bytes.clone(), from_nanos(e.expires_nanos))
            }));
        }
        // Outbox order is capture order: flushes and windows count by it.
        self.spill_outbox
            .make_contiguous()
            .sort_unstable_by_key(|e| e.seq);
    }

    /// The next events to spill, within the queue's limits, or `None`.
    /// Events too large for one message are dropped as `drain_budget`.
    /// Call it after `poll_transmit_in` in every drain.
    #[must_use = "a spill handed out must be sent and reported with `spilled`"]
    pub fn poll_spill(&mut self, now: Now) -> Option<Spill> {
        self.advance(now);
        let limits = self.config.spill?;
        let mut too_large = Vec::new();
        let (mut events, mut bytes) = (Vec::new(), 0);
        while let Some(next) = self.spill_outbox.front() {
            let len = next.bytes.len();
            if len > limits.max_event_bytes {
                too_large.extend(self.spill_outbox.pop_front());
                continue;
            }
            if events.len() == limits.max_batch_events || bytes + len > limits.max_batch_bytes {
                break;
            }
            bytes += len;
            events.extend(self.spill_outbox.pop_front());
        }
        self.drop_events(Resolved::queued(too_large), DropReason::DrainBudget);
        if events.is_empty() {
            self.settle();
            return None;
        }
        self.next_spill += 1;
        let id = SpillId(self.next_spill);
        let batched = events
            .iter()
            .map(|e| BatchedEvent {
                seq: e.seq,
                uuid: e.uuid,
                len: e.bytes.len(),
                expires_nanos: e.expires_nanos,
            })
            .collect();
        let spill = Spill {
            id,
            uuids: events.iter().map(|e| e.uuid).collect(),
            events: events.into_iter().map(|e| e.bytes).collect(),
        };
        self.spills.push(SpillInFlight {
            id,
            events: batched,
        });
        Some(spill)
    }

    /// Reports whether the queue took spill `id`: its events are resolved
    /// as spilled ([`Notice::Spilled`]), or dropped as `spill_failed`.
    /// Unknown ids (a spill the window's end already dropped) are ignored.
    pub fn spilled(&mut self, now: Now, id: SpillId, accepted: bool) {
        self.advance(now);
        if let Some(at) = self.spills.iter().position(|s| s.id == id) {
            let spill = self.spills.remove(at);
            let events = Resolved::batched(&spill.events);
            if accepted {
                self.release(&events);
                self.counters.spilled += events.uuids.len() as u64;
                self.notices.push_back(Notice::Spilled {
                    id,
                    uuids: events.uuids,
                });
            } else {
                self.drop_events(events, DropReason::SpillFailed);
            }
        }
        self.settle();
    }

    /// [`Core::capture`] for an event a queue consumer received: the
    /// encoded JSON object [`Core::poll_spill`] gave, sent on as it is
    /// (its uuid and timestamp included). Refused like a capture: invalid
    /// (not an object with a uuid, or nesting too deep), too large, queue
    /// full, shut down.
    pub fn capture_spilled(&mut self, now: Now, json: &[u8]) -> Result<Uuid, CaptureError> {
        self.advance(now);
        self.counters.captured += 1;
        let mut encoded = std::mem::take(&mut self.scratch);
        let result = match self.lifecycle {
            super::Lifecycle::Running => self
                .encoder
                .respill(json, &mut encoded)
                .and_then(|_| self.enqueue(&encoded, super::capture::Room::Check)),
            _ => Err(CaptureError::ShutDown),
        };
        self.scratch = encoded;
        if let Err(e) = &result {
            self.count_drop(e.reason(), 1);
        }
        result
    }
}
