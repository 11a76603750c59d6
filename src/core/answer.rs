//! Input: how a request ended. Classified as `docs/PROTOCOLS.md` says.

use std::time::Duration;

use super::{Core, Resolved};
use crate::backoff::backoff_delay;
use crate::batch::Batch;
use crate::config::Protocol;
use crate::stats::DropReason;
use crate::time::Now;
use crate::transmit::{RequestId, Response, TransportError};
use crate::wire::{EventResult, V1Results, parse_retry_after};

/// What an answer means for its batch.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Success,
    TooLarge,
    /// Retry with backoff; `pause` for a 429 (pauses the destination).
    Transient {
        pause: bool,
    },
    Final(u16),
}

fn classify(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Success,
        413 => Verdict::TooLarge,
        429 => Verdict::Transient { pause: true },
        408 | 500..=599 => Verdict::Transient { pause: false },
        other => Verdict::Final(other),
    }
}

impl Core {
    /// Reports how request `id` ended. Unknown or already-abandoned ids
    /// (answered after the core gave up on them) are ignored.
    pub fn handle_response(
        &mut self,
        now: Now,
        id: RequestId,
        outcome: Result<Response, TransportError>,
    ) {
        self.advance(now);
        let Some(pos) = self.in_flight.iter().position(|f| f.id == id) else {
            return;
        };
        let batch = self.in_flight.remove(pos).batch;
        if !outcome
            .as_ref()
            .is_ok_and(|r| (200..300).contains(&r.status))
        {
            self.counters.failed_requests += 1;
        }
        match outcome {
            Err(_) => self.retry_later(batch, false, None),
            Ok(response) => {
                let retry_after = response
                    .retry_after
                    .as_deref()
                    .and_then(|v| parse_retry_after(v, self.now.wall));
                match classify(response.status) {
                    Verdict::Success => {
                        self.backoff_until = None;
                        self.on_success(id, batch, &response.body, retry_after);
                    }
                    Verdict::TooLarge => self.split(batch),
                    Verdict::Transient { pause } => self.retry_later(batch, pause, retry_after),
                    Verdict::Final(status) => self.drop_batch(batch, DropReason::Rejected(status)),
                }
            }
        }
        // What came back unsent and is past its deadline goes now.
        self.expire_due();
        self.settle();
    }

    fn on_success(
        &mut self,
        id: RequestId,
        batch: Batch,
        body: &[u8],
        retry_after: Option<Duration>,
    ) {
        if self.config.protocol != Protocol::PostHogV1 {
            self.deliver(id, Resolved::batched(&batch.events));
            return;
        }
        let results = V1Results::parse(body);
        let (mut delivered, mut retry, mut dropped, mut limited) = (vec![], vec![], vec![], vec![]);
        for (i, event) in batch.events.iter().enumerate() {
            match results.get(&event.uuid) {
                EventResult::Accepted => delivered.push(*event),
                EventResult::Retry => retry.push(i),
                EventResult::Dropped => dropped.push(*event),
                EventResult::Limited => limited.push(*event),
            }
        }
        self.deliver(id, Resolved::batched(&delivered));
        self.drop_events(Resolved::batched(&dropped), DropReason::ServerDropped);
        self.drop_events(Resolved::batched(&limited), DropReason::ServerLimited);
        if !retry.is_empty() {
            // Same request id and created_at; the attempt header goes up.
            let mut batch = batch.part(&retry);
            batch.ready_at = self.now.monotonic;
            self.retry_later(batch, false, retry_after);
        }
    }

    /// 413: resend the halves at once; a single event is dropped.
    fn split(&mut self, batch: Batch) {
        if batch.events.len() <= 1 {
            self.drop_batch(batch, DropReason::TooLarge);
            return;
        }
        let half = batch.events.len() / 2;
        let all: Vec<usize> = (0..batch.events.len()).collect();
        let now = self.now;
        for part in [&all[..half], &all[half..]] {
            let mut part = batch.part(part);
            part.request_uuid = self.new_uuid_v7(now.wall);
            part.created_at = now.wall;
            part.attempts = 0;
            part.ready_at = now.monotonic;
            self.retrying.push(part);
        }
    }

    /// A transient failure: wait (backoff, at least Retry-After up to the
    /// cap), or drop the batch once its attempts are used up.
    pub(super) fn retry_later(
        &mut self,
        mut batch: Batch,
        pause: bool,
        retry_after: Option<Duration>,
    ) {
        let policy = self.config.retry;
        let mut wait = backoff_delay(&policy, batch.attempts, &mut self.rng);
        if let Some(asked) = retry_after {
            wait = wait.max(asked.min(policy.max_backoff));
        }
        let ready_at = self.now.monotonic.saturating_add(wait);
        // The destination holds even when this batch has no attempts left:
        // a 429 is about the destination, not the batch.
        let hold = if pause {
            &mut self.rate_limited_until
        } else {
            &mut self.backoff_until
        };
        *hold = Some(hold.map_or(ready_at, |t| t.max(ready_at)));
        if batch.attempts >= policy.max_attempts {
            self.drop_batch(batch, DropReason::RetriesExhausted);
            return;
        }
        batch.ready_at = ready_at;
        self.retrying.push(batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_protocol_table() {
        assert_eq!(classify(200), Verdict::Success);
        assert_eq!(classify(204), Verdict::Success);
        assert_eq!(classify(413), Verdict::TooLarge);
        assert_eq!(classify(429), Verdict::Transient { pause: true });
        for s in [408, 500, 502, 503, 504] {
            assert_eq!(classify(s), Verdict::Transient { pause: false }, "{s}");
        }
        for s in [400, 401, 402, 403, 404, 415, 422, 301] {
            assert_eq!(classify(s), Verdict::Final(s), "{s}");
        }
    }
}
