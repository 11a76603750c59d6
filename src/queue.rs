//! Events waiting to be put in a batch, in capture order.

use std::collections::VecDeque;
use std::sync::Arc;

use uuid::Uuid;

use crate::time::Instant;

/// One accepted event, already encoded.
#[derive(Clone, Debug)]
pub(crate) struct QueuedEvent {
    /// Capture order; flush barriers compare against it.
    pub seq: u64,
    pub uuid: Uuid,
    pub bytes: Arc<[u8]>,
    /// When it was queued, in nanoseconds on the adapter's clock: 8 bytes
    /// instead of `Instant`'s 16, in an entry every pending event has.
    queued_nanos: u64,
}

impl QueuedEvent {
    pub fn new(seq: u64, uuid: Uuid, bytes: Arc<[u8]>, queued_at: Instant) -> Self {
        let d = queued_at.since_origin();
        let nanos = d.as_secs().saturating_mul(1_000_000_000);
        QueuedEvent {
            seq,
            uuid,
            bytes,
            queued_nanos: nanos.saturating_add(u64::from(d.subsec_nanos())),
        }
    }

    pub fn queued_at(&self) -> Instant {
        Instant::from_duration(std::time::Duration::from_nanos(self.queued_nanos))
    }
}

/// The queue of events not yet in a batch.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    events: VecDeque<QueuedEvent>,
    bytes: usize,
    /// `flush_at`: how many events make the queue due.
    threshold: usize,
    /// When the queue last reached `threshold` events (and has not been
    /// below it since): evictions from the front do not move it.
    reached: Option<Instant>,
}

impl Queue {
    pub fn new(threshold: usize) -> Self {
        Queue {
            threshold,
            ..Queue::default()
        }
    }

    pub fn push(&mut self, event: QueuedEvent) {
        self.bytes += event.bytes.len();
        let at = event.queued_at();
        self.events.push_back(event);
        if self.events.len() >= self.threshold && self.reached.is_none() {
            self.reached = Some(at);
        }
    }

    pub fn pop_front(&mut self) -> Option<QueuedEvent> {
        let event = self.events.pop_front()?;
        self.bytes -= event.bytes.len();
        if self.events.len() < self.threshold {
            self.reached = None;
        }
        Some(event)
    }

    /// When the queue reached `flush_at` events, if it holds that many.
    pub fn reached_threshold(&self) -> Option<Instant> {
        self.reached
    }

    pub fn front(&self) -> Option<&QueuedEvent> {
        self.events.front()
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Encoded bytes of the queued events.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Queued events with a sequence number below `seq`.
    pub fn count_before(&self, seq: u64) -> usize {
        self.events.partition_point(|e| e.seq < seq)
    }

    pub fn drain(&mut self) -> impl Iterator<Item = QueuedEvent> + '_ {
        self.bytes = 0;
        self.reached = None;
        self.events.drain(..)
    }
}
