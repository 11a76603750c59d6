//! A group of events sent in one request, kept until every event in it is
//! resolved, so a retry resends the same bytes.

use std::sync::Arc;

use uuid::Uuid;

use crate::queue::QueuedEvent;
use crate::time::{Instant, WallTime};

/// Encoded events, shared between a batch and the requests built from it.
pub(crate) type Payload = Arc<[Arc<[u8]>]>;

/// What the core tracks of an event once it is in a batch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchedEvent {
    pub seq: u64,
    pub uuid: Uuid,
    /// Encoded bytes.
    pub len: usize,
    /// Its deadline (`QueuedEvent::expires_nanos`).
    pub expires_nanos: u64,
}

#[derive(Debug)]
pub(crate) struct Batch {
    /// In capture order.
    pub events: Vec<BatchedEvent>,
    /// The events' bytes, in the same order. Shared by every request built
    /// from the batch: building one clones a single `Arc`.
    pub payload: Payload,
    /// PostHog v1 `PostHog-Request-Id`: the same on every retry.
    pub request_uuid: Uuid,
    /// PostHog v1 `created_at`: when the batch was first built.
    pub created_at: WallTime,
    /// Attempts made so far.
    pub attempts: u32,
    /// Not sent again before this.
    pub ready_at: Instant,
    /// The earliest deadline of its events (it may be earlier than that,
    /// after events left the batch: then expiry finds nothing and
    /// recomputes it).
    pub expires_nanos: u64,
}

impl Batch {
    /// A fresh batch of queued events.
    pub fn from_queue(
        queued: Vec<QueuedEvent>,
        request_uuid: Uuid,
        created_at: WallTime,
        now: Instant,
    ) -> Self {
        let events = queued
            .iter()
            .map(|e| BatchedEvent {
                seq: e.seq,
                uuid: e.uuid,
                len: e.bytes.len(),
                expires_nanos: e.expires_nanos,
            })
            .collect::<Vec<_>>();
        let payload = queued.into_iter().map(|e| e.bytes).collect();
        Batch {
            expires_nanos: earliest_expiry(&events),
            events,
            payload,
            request_uuid,
            created_at,
            attempts: 0,
            ready_at: now,
        }
    }

    /// The part of this batch at `indices` (ascending): the same request
    /// identity, attempts and readiness.
    pub fn part(&self, indices: &[usize]) -> Batch {
        let (events, payload) = self.select(indices);
        Batch {
            expires_nanos: earliest_expiry(&events),
            events,
            payload,
            request_uuid: self.request_uuid,
            created_at: self.created_at,
            attempts: self.attempts,
            ready_at: self.ready_at,
        }
    }

    /// The events at `indices` (ascending), with their bytes.
    fn select(&self, indices: &[usize]) -> (Vec<BatchedEvent>, Payload) {
        let events = indices.iter().map(|&i| self.events[i]).collect();
        let payload = indices.iter().map(|&i| self.payload[i].clone()).collect();
        (events, payload)
    }

    /// Encoded bytes of the events.
    pub fn bytes(&self) -> usize {
        self.events.iter().map(|e| e.len).sum()
    }

    /// When its earliest event expires.
    pub fn expires_at(&self) -> Instant {
        crate::queue::from_nanos(self.expires_nanos)
    }

    /// The lowest capture sequence number in the batch.
    pub fn first_seq(&self) -> u64 {
        self.events.first().map_or(u64::MAX, |e| e.seq)
    }
}

/// The earliest deadline among `events` (`u64::MAX` for none).
pub(crate) fn earliest_expiry(events: &[BatchedEvent]) -> u64 {
    events
        .iter()
        .map(|e| e.expires_nanos)
        .min()
        .unwrap_or(u64::MAX)
}
