//! A group of events sent in one request, kept until every event in it is
//! resolved, so a retry resends the same bytes.

use std::sync::Arc;

use uuid::Uuid;

use crate::queue::QueuedEvent;
use crate::time::{Instant, WallTime};

#[derive(Debug)]
pub(crate) struct Batch {
    /// In capture order.
    pub events: Vec<QueuedEvent>,
    /// PostHog v1 `PostHog-Request-Id`: the same on every retry.
    pub request_uuid: Uuid,
    /// PostHog v1 `created_at`: when the batch was first built.
    pub created_at: WallTime,
    /// Attempts made so far.
    pub attempts: u32,
    /// Not sent again before this.
    pub ready_at: Instant,
}

impl Batch {
    pub fn new(
        events: Vec<QueuedEvent>,
        request_uuid: Uuid,
        created_at: WallTime,
        now: Instant,
    ) -> Self {
        Batch {
            events,
            request_uuid,
            created_at,
            attempts: 0,
            ready_at: now,
        }
    }

    /// The lowest capture sequence number in the batch.
    pub fn first_seq(&self) -> u64 {
        self.events.first().map_or(u64::MAX, |e| e.seq)
    }

    pub fn payloads(&self) -> Vec<Arc<[u8]>> {
        self.events.iter().map(|e| e.bytes.clone()).collect()
    }
}
