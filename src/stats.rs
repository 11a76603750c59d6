//! Loss accounting: every captured event is delivered, pending, or dropped
//! with a named reason.

use std::fmt;

/// Why an event was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// The before-send hook returned `None`.
    BeforeSend,
    /// The before-send hook panicked on it.
    BeforeSendPanicked,
    /// Empty name or distinct id, or properties that are not a JSON object.
    InvalidEvent,
    /// Larger than `max_event_bytes`, or refused with 413 on its own.
    TooLarge,
    /// The bounded queue was full.
    QueueFull,
    /// Captured after `shutdown` was called.
    ShutDown,
    /// Still pending when the shutdown deadline passed.
    ShutdownDeadline,
    /// Every attempt failed with a transient error.
    RetriesExhausted,
    /// The server answered with a final status (400, 401, 403, ...).
    Rejected(u16),
    /// PostHog v1 answered `drop` for this event.
    ServerDropped,
    /// PostHog v1 answered `limited` for this event (a quota).
    ServerLimited,
    /// Still pending when the last open delivery window ended (a
    /// Cloudflare Workers drain at the end of its budget).
    DrainBudget,
    /// Still pending `event_timeout` after its first capture (queued,
    /// waiting to retry, paused, or persisted across reloads), or back
    /// from an unsuccessful request after it.
    Expired,
    /// To be spilled to a durable queue ([`crate::Config::spill`]), but
    /// the adapter's send to the queue failed.
    SpillFailed,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::BeforeSend => f.write_str("before_send"),
            DropReason::BeforeSendPanicked => f.write_str("before_send_panicked"),
            DropReason::InvalidEvent => f.write_str("invalid_event"),
            DropReason::TooLarge => f.write_str("too_large"),
            DropReason::QueueFull => f.write_str("queue_full"),
            DropReason::ShutDown => f.write_str("shut_down"),
            DropReason::ShutdownDeadline => f.write_str("shutdown_deadline"),
            DropReason::RetriesExhausted => f.write_str("retries_exhausted"),
            DropReason::Rejected(status) => write!(f, "http_{status}"),
            DropReason::ServerDropped => f.write_str("server_drop"),
            DropReason::ServerLimited => f.write_str("server_limited"),
            DropReason::DrainBudget => f.write_str("drain_budget"),
            DropReason::Expired => f.write_str("expired"),
            DropReason::SpillFailed => f.write_str("spill_failed"),
        }
    }
}

/// A snapshot of the counters. `captured == delivered + dropped + pending`
/// holds at every moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Every `capture` call, refused ones included.
    pub captured: u64,
    /// Acknowledged by the server.
    pub delivered: u64,
    /// Handed to a durable queue ([`crate::Config::spill`]) that delivers
    /// them later: resolved here, not lost.
    pub spilled: u64,
    /// Not yet resolved: `queued + retrying + in_flight`.
    pub pending: u64,
    /// Waiting to be put in a batch.
    pub queued: u64,
    /// In batches waiting for their next attempt.
    pub retrying: u64,
    /// In requests awaiting an answer.
    pub in_flight: u64,
    /// On their way to the durable queue (`spill`).
    pub spilling: u64,
    /// Encoded bytes of the pending events.
    pub pending_bytes: u64,
    /// Requests handed to the adapter, retries included.
    pub requests: u64,
    /// Requests that were retries of an earlier attempt.
    pub retries: u64,
    /// Requests that ended without a 2xx: error statuses, transport
    /// errors, timeouts, and requests given up on (shutdown deadline,
    /// `drop_pending`). `requests` = 2xx answers + this + in flight.
    pub failed_requests: u64,
    /// JSON bytes of the request bodies handed out, before compression.
    pub request_bytes: u64,
    /// Dropped events by reason.
    pub dropped: DropCounts,
}

impl Stats {
    /// All dropped events.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    /// Dropped events for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped.get(&reason).copied().unwrap_or(0)
    }

    /// Whether the loss-accounting identity holds.
    pub fn adds_up(&self) -> bool {
        self.captured == self.delivered + self.spilled + self.dropped_total() + self.pending
            && self.pending == self.queued + self.retrying + self.in_flight + self.spilling
    }
}
/// Dropped events by reason, in reason order. A sorted `Vec`: there are a
/// handful of reasons, and a `BTreeMap` costs several kilobytes of wasm
/// per key type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DropCounts(Vec<(DropReason, u64)>);

impl DropCounts {
    /// Adds `n` drops for `reason`.
    pub fn add(&mut self, reason: DropReason, n: u64) {
        match self.0.binary_search_by_key(&reason, |(r, _)| *r) {
            Ok(i) => self.0[i].1 += n,
            Err(i) => self.0.insert(i, (reason, n)),
        }
    }

    /// The count for `reason`, if any was dropped for it.
    pub fn get(&self, reason: &DropReason) -> Option<&u64> {
        let i = self.0.binary_search_by_key(reason, |(r, _)| *r).ok()?;
        Some(&self.0[i].1)
    }

    /// `(reason, count)` pairs in reason order.
    pub fn iter(&self) -> impl Iterator<Item = (&DropReason, &u64)> {
        self.0.iter().map(|(r, n)| (r, n))
    }

    /// The counts, in reason order.
    pub fn values(&self) -> impl Iterator<Item = &u64> {
        self.0.iter().map(|(_, n)| n)
    }

    /// Number of distinct reasons.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a DropCounts {
    type Item = (&'a DropReason, &'a u64);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (DropReason, u64)>,
        fn(&'a (DropReason, u64)) -> (&'a DropReason, &'a u64),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(r, n)| (r, n))
    }
}

impl FromIterator<(DropReason, u64)> for DropCounts {
    fn from_iter<I: IntoIterator<Item = (DropReason, u64)>>(iter: I) -> Self {
        let mut counts = DropCounts::default();
        for (reason, n) in iter {
            counts.add(reason, n);
        }
        counts
    }
}
