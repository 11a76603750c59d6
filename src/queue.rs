//! Events waiting to be put in a batch, in capture order.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::time::Instant;

/// One accepted event, already encoded.
#[derive(Clone, Debug)]
pub(crate) struct QueuedEvent {
    /// Capture order; flush barriers compare against it.
    pub seq: u64,
    pub uuid: Uuid,
    pub bytes: Arc<[u8]>,
    /// When it expires (`event_timeout` after its first capture), in
    /// nanoseconds on the adapter's clock: 8 bytes instead of `Instant`'s
    /// 16, in an entry every pending event has. When it was queued follows
    /// from it, so that takes no room.
    pub expires_nanos: u64,
}

/// An instant as nanoseconds since the clock's origin (saturating).
pub(crate) fn to_nanos(at: Instant) -> u64 {
    let d = at.since_origin();
    let nanos = d.as_secs().saturating_mul(1_000_000_000);
    nanos.saturating_add(u64::from(d.subsec_nanos()))
}

pub(crate) fn from_nanos(nanos: u64) -> Instant {
    Instant::from_duration(Duration::from_nanos(nanos))
}

impl QueuedEvent {
    pub fn new(seq: u64, uuid: Uuid, bytes: Arc<[u8]>, expires_at: Instant) -> Self {
        QueuedEvent {
            seq,
            uuid,
            bytes,
            expires_nanos: to_nanos(expires_at),
        }
    }

    /// When it was first captured, given the core's deadline `span`.
    pub fn queued_at(&self, span: Duration) -> Instant {
        from_nanos(self.expires_nanos.saturating_sub(to_nanos_of(span)))
    }
}

fn to_nanos_of(d: Duration) -> u64 {
    to_nanos(Instant::from_duration(d))
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
    /// The core's `event_timeout` (or its stand-in for none).
    span: Duration,
    /// Deadlines mostly grow with capture order, so expiry looks at the
    /// front. A replayed event can expire before events queued ahead of
    /// it: the earliest deadline among such events (never later than the
    /// real one; a stale value only costs one scan).
    unordered_expiry: Option<u64>,
    /// The latest deadline pushed, to tell when a push is out of order.
    latest_expiry: u64,
}

impl Queue {
    pub fn new(threshold: usize, span: Duration) -> Self {
        Queue {
            threshold,
            span,
            ..Queue::default()
        }
    }

    pub fn push(&mut self, event: QueuedEvent) {
        self.bytes += event.bytes.len();
        let at = event.queued_at(self.span);
        if event.expires_nanos < self.latest_expiry {
            let e = event.expires_nanos;
            self.unordered_expiry = Some(self.unordered_expiry.map_or(e, |u| u.min(e)));
        }
        self.latest_expiry = self.latest_expiry.max(event.expires_nanos);
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
        self.unordered_expiry = None;
        self.latest_expiry = 0;
        self.events.drain(..)
    }

    /// When the earliest queued event expires (or earlier, once).
    pub fn next_expiry(&self) -> Option<Instant> {
        let front = self.events.front()?.expires_nanos;
        Some(from_nanos(
            self.unordered_expiry.map_or(front, |u| u.min(front)),
        ))
    }

    /// Takes out the events whose deadline is at or before `now`.
    pub fn expire(&mut self, now: Instant) -> Vec<QueuedEvent> {
        let now = to_nanos(now);
        let mut expired = Vec::new();
        while self.front().is_some_and(|e| e.expires_nanos <= now) {
            expired.extend(self.pop_front());
        }
        if self.unordered_expiry.is_some_and(|u| u <= now) {
            let mut gone = Vec::new();
            self.events.retain(|e| {
                let keep = e.expires_nanos > now;
                if !keep {
                    gone.push(e.clone());
                }
                keep
            });
            self.bytes -= gone.iter().map(|e| e.bytes.len()).sum::<usize>();
            // Behind those taken from the front: still in capture order.
            expired.extend(gone);
            if self.events.len() < self.threshold {
                self.reached = None;
            }
            // The earliest deadline among events behind a later one.
            let mut latest = 0;
            self.unordered_expiry = None;
            for e in &self.events {
                if e.expires_nanos < latest {
                    let u = self.unordered_expiry.get_or_insert(e.expires_nanos);
                    *u = (*u).min(e.expires_nanos);
                }
                latest = latest.max(e.expires_nanos);
            }
        }
        expired
    }
}
