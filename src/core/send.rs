//! Output: the next request to perform, from a due retry or a new batch.

use super::{ADAPTER_GRACE, Core, InFlight, Lifecycle};
use crate::batch::Batch;
use crate::time::{Instant, Now};
use crate::transmit::Transmit;
use crate::wire::{Body, RequestMeta};

impl Core {
    /// The next request to perform now, if any. Call it until it returns
    /// `None` after every input. Its answer can change after any input or
    /// once [`Core::poll_timeout`]'s deadline has passed.
    pub fn poll_transmit(&mut self, now: Now) -> Option<Transmit> {
        self.advance(now);
        if !self.has_free_slot() || self.is_paused() {
            return None;
        }
        let now = self.now.monotonic;
        let due_retry = self
            .retrying
            .iter()
            .enumerate()
            .filter(|(_, b)| b.ready_at <= now)
            .min_by_key(|(_, b)| (b.ready_at, b.first_seq()))
            .map(|(i, _)| i);
        if let Some(i) = due_retry {
            let batch = self.retrying.remove(i);
            return Some(self.send(batch));
        }
        if self.backoff_until.is_some_and(|t| t > now) || !self.queue_ready() {
            return None;
        }
        let batch = self.take_batch();
        Some(self.send(batch))
    }

    pub(super) fn has_free_slot(&self) -> bool {
        !matches!(self.lifecycle, Lifecycle::Done(_))
            && self.in_flight.len() < self.config.max_in_flight
    }

    pub(super) fn is_paused(&self) -> bool {
        self.paused_until.is_some_and(|t| t > self.now.monotonic)
    }

    /// Whether the queue should be sent now rather than wait for more.
    pub(super) fn queue_ready(&self) -> bool {
        let Some(front) = self.queue.front() else {
            return false;
        };
        self.queue.len() >= self.config.flush_at
            || self.queue.bytes() + self.queue.len() + self.envelope_len
                >= self.config.max_batch_bytes
            || self.now.monotonic >= self.interval_due(front.queued_at)
            || !self.flushes.is_empty()
            || self.lifecycle != Lifecycle::Running
    }

    pub(super) fn interval_due(&self, queued_at: Instant) -> Instant {
        queued_at.saturating_add(self.config.flush_interval)
    }

    /// Takes events from the queue's front up to the batch limits.
    fn take_batch(&mut self) -> Batch {
        let max_events = self.config.max_batch_events;
        let max_bytes = self.config.max_batch_bytes;
        let mut events = Vec::with_capacity(self.queue.len().min(max_events));
        let mut size = self.envelope_len;
        while let Some(next) = self.queue.front() {
            let added = next.bytes.len() + usize::from(!events.is_empty());
            if events.len() == max_events || (!events.is_empty() && size + added > max_bytes) {
                break;
            }
            size += added;
            events.extend(self.queue.pop_front());
        }
        let wall = self.now.wall;
        let request_uuid = self.new_uuid_v7(wall);
        Batch::from_queue(events, request_uuid, wall, self.now.monotonic)
    }

    /// Turns a batch into a request and tracks it as in flight.
    fn send(&mut self, mut batch: Batch) -> Transmit {
        batch.attempts += 1;
        self.counters.requests += 1;
        if batch.attempts > 1 {
            self.counters.retries += 1;
        }
        let now = self.now;
        let mut timeout = self.config.request_timeout;
        if let Lifecycle::Draining { deadline } = self.lifecycle {
            timeout = timeout.min(deadline.saturating_duration_since(now.monotonic));
        }
        let head_time = match self.config.protocol {
            crate::Protocol::PostHogV1 => batch.created_at,
            _ => now.wall,
        };
        let body = Body::new(
            self.envelope.head(head_time),
            batch.payload.clone(),
            batch.bytes(),
            self.config.gzip,
        );
        let headers = self.headers.build(&RequestMeta {
            attempt: batch.attempts,
            request_uuid: batch.request_uuid,
            wall_now: now.wall,
        });
        let id = self.next_request_id();
        self.in_flight.push(InFlight {
            id,
            batch,
            give_up_at: now
                .monotonic
                .saturating_add(timeout)
                .saturating_add(ADAPTER_GRACE),
        });
        Transmit {
            id,
            method: "POST",
            url: self.endpoint.url.clone(),
            headers,
            body,
            timeout,
        }
    }
}
