//! Input: a captured event. Encoded once, here; refused with a reason when
//! it cannot be queued.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::{Core, Lifecycle};
use crate::config::OverflowPolicy;
use crate::event::Event;
use crate::intake::Encoded;
use crate::queue::QueuedEvent;
use crate::stats::DropReason;
use crate::time::Now;

/// Why `capture` refused an event. The event is counted as dropped with
/// [`CaptureError::reason`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaptureError {
    /// The event is malformed; the message says how.
    InvalidEvent(String),
    /// The encoded event is larger than `max_event_bytes`.
    TooLarge { size: usize, max: usize },
    /// The queue is at `max_queue_events` or `max_queue_bytes`.
    QueueFull { max_events: usize, max_bytes: usize },
    /// `shutdown` was called; nothing more is accepted.
    ShutDown,
    /// The before-send hook dropped it.
    DroppedByBeforeSend,
    /// The before-send hook panicked while handling it.
    BeforeSendPanicked,
    /// Replayed from storage after more than `event_timeout`
    /// ([`crate::Event::first_captured`]).
    Expired { age: Duration, timeout: Duration },
}

impl CaptureError {
    /// The drop reason it is counted under.
    pub fn reason(&self) -> DropReason {
        match self {
            CaptureError::InvalidEvent(_) => DropReason::InvalidEvent,
            CaptureError::TooLarge { .. } => DropReason::TooLarge,
            CaptureError::QueueFull { .. } => DropReason::QueueFull,
            CaptureError::ShutDown => DropReason::ShutDown,
            CaptureError::DroppedByBeforeSend => DropReason::BeforeSend,
            CaptureError::BeforeSendPanicked => DropReason::BeforeSendPanicked,
            CaptureError::Expired { .. } => DropReason::Expired,
        }
    }
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::InvalidEvent(why) => write!(f, "invalid event: {why}"),
            CaptureError::TooLarge { size, max } => write!(
                f,
                "event is {size} bytes encoded, above max_event_bytes ({max}): trim its properties"
            ),
            CaptureError::QueueFull {
                max_events,
                max_bytes,
            } => write!(
                f,
                "queue full ({max_events} events or {max_bytes} bytes pending): the endpoint is slower than capture; raise max_queue_events/max_queue_bytes or capture less"
            ),
            CaptureError::ShutDown => {
                f.write_str("the client is shut down; the event was not accepted")
            }
            CaptureError::DroppedByBeforeSend => {
                f.write_str("the before-send hook dropped the event")
            }
            CaptureError::BeforeSendPanicked => {
                f.write_str("the before-send hook panicked; the event was dropped")
            }
            CaptureError::Expired { age, timeout } => write!(
                f,
                "the event was first captured {} s ago, past event_timeout ({} s)",
                age.as_secs(),
                timeout.as_secs()
            ),
        }
    }
}

impl std::error::Error for CaptureError {}

/// Whether admitting an event checks for room, or room was reserved.
#[derive(Clone, Copy)]
pub(super) enum Room {
    Check,
    Reserved,
}

impl Core {
    /// Accepts an event for delivery and returns its uuid (the caller's, or
    /// a new uuid v7). Its timestamp is the caller's or `now.wall`; both
    /// stay the same on every retry.
    ///
    /// ```
    /// # use tidings::{Config, Core, Event, Now};
    /// let mut core = Core::new(Config::new("phc_key", "https://us.i.posthog.com"), 1).unwrap();
    /// let uuid = core.capture(Now::default(), Event::new("signup", "user-1")).unwrap();
    /// assert_eq!(uuid.get_version_num(), 7);
    /// assert!(core.capture(Now::default(), Event::new("", "user-1")).is_err());
    /// assert!(core.stats().adds_up());
    /// ```
    pub fn capture(&mut self, now: Now, event: Event) -> Result<Uuid, CaptureError> {
        self.advance(now);
        self.counters.captured += 1;
        let result = self.accept(event);
        if let Err(e) = &result {
            self.count_drop(e.reason(), 1);
        }
        result
    }

    /// Counts `count` events that the adapter refused before they reached
    /// [`Core::capture`] (a browser's string too long to copy into wasm
    /// memory, a persisted event past its maximum age): captured, and
    /// dropped as `reason`, so [`Core::stats`] stays the one place that
    /// accounts for every event.
    ///
    /// ```
    /// # use tidings::{Config, Core, DropReason, Now};
    /// let mut core = Core::new(Config::new("phc_key", "https://us.i.posthog.com"), 1).unwrap();
    /// core.refuse(Now::default(), DropReason::Expired, 3);
    /// let stats = core.stats();
    /// assert_eq!((stats.captured, stats.dropped(DropReason::Expired)), (3, 3));
    /// assert!(stats.adds_up());
    /// ```
    pub fn refuse(&mut self, now: Now, reason: DropReason, count: u64) {
        self.advance(now);
        // Saturating: a count from JavaScript can be any number.
        let count = count.min(u64::MAX - self.counters.captured);
        if count > 0 {
            self.counters.captured += count;
            self.count_drop(reason, count);
        }
    }

    /// [`Core::capture`] for an event encoded elsewhere with
    /// [`Core::encoder`]: counted as captured, queued or refused (shut
    /// down, queue full) by the overflow policy.
    pub fn admit(&mut self, now: Now, encoded: &Encoded) -> Result<Uuid, CaptureError> {
        self.admit_with(now, encoded, Room::Check)
    }

    /// [`Core::admit`] for an event whose room a
    /// [`SharedBudget`](crate::intake::SharedBudget) already reserved: it
    /// is never refused for room (with `DropOldest` the oldest queued
    /// events still make room when they can), so the caller's answer to
    /// its own caller stays true. Refused only once shut down, which the
    /// budget's `close` prevents for reserved events.
    pub fn admit_reserved(&mut self, now: Now, encoded: &Encoded) -> Result<Uuid, CaptureError> {
        self.admit_with(now, encoded, Room::Reserved)
    }

    fn admit_with(
        &mut self,
        now: Now,
        encoded: &Encoded,
        room: Room,
    ) -> Result<Uuid, CaptureError> {
        self.advance(now);
        self.counters.captured += 1;
        let result = match self.lifecycle {
            Lifecycle::Running => self.enqueue(encoded, room),
            _ => Err(CaptureError::ShutDown),
        };
        if let Err(e) = &result {
            self.count_drop(e.reason(), 1);
        }
        result
    }

    fn accept(&mut self, event: Event) -> Result<Uuid, CaptureError> {
        if self.lifecycle != Lifecycle::Running {
            return Err(CaptureError::ShutDown);
        }
        let mut encoded = std::mem::take(&mut self.scratch);
        let result = self
            .encoder
            .encode(self.now.wall, event, &mut encoded)
            .and_then(|_| self.enqueue(&encoded, Room::Check));
        self.scratch = encoded;
        result
    }

    pub(super) fn enqueue(&mut self, encoded: &Encoded, room: Room) -> Result<Uuid, CaptureError> {
        let len = encoded.len();
        let made = self.make_room(len);
        // Reserved: evicted where the policy allows, else held anyway.
        if let Room::Check = room {
            made?;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending_events += 1;
        self.pending_bytes += len;
        let bytes = Arc::from(encoded.as_bytes());
        // A replayed event's deadline counts from its first capture.
        let left = self.event_span().saturating_sub(encoded.age());
        let expires = self.now.monotonic.saturating_add(left);
        let queued = QueuedEvent::new(seq, encoded.uuid(), bytes, expires);
        self.queue.push(queued);
        Ok(encoded.uuid())
    }

    /// Applies the overflow policy so that `len` more bytes fit.
    fn make_room(&mut self, len: usize) -> Result<(), CaptureError> {
        let (max_events, max_bytes) = (self.config.max_queue_events, self.config.max_queue_bytes);
        let fits = |events: usize, bytes: usize| events < max_events && bytes + len <= max_bytes;
        let (mut events, mut bytes) = (self.pending_events, self.pending_bytes);
        if fits(events, bytes) {
            return Ok(());
        }
        // Evicting helps only if the queued events alone can make room:
        // otherwise refuse the new event and keep the queued ones.
        let can_make_room = fits(events - self.queue.len(), bytes - self.queue.bytes());
        if self.config.overflow == OverflowPolicy::DropOldest && can_make_room {
            let mut evicted = Vec::new();
            while !fits(events, bytes) {
                let Some(oldest) = self.queue.pop_front() else {
                    break;
                };
                events -= 1;
                bytes -= oldest.bytes.len();
                evicted.push(oldest);
            }
            self.drop_events(super::Resolved::queued(evicted), DropReason::QueueFull);
            return Ok(());
        }
        Err(CaptureError::QueueFull {
            max_events,
            max_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Core, Event};

    fn core() -> Core {
        Core::new(Config::new("phc_key", "https://ingest.example.com"), 1).unwrap()
    }

    /// `{"k":{"k":...{}...}}` with `levels` objects.
    fn nested(levels: usize) -> String {
        "{\"k\":".repeat(levels - 1) + "{}" + &"}".repeat(levels - 1)
    }

    #[test]
    fn events_a_json_server_cannot_read_are_refused_at_capture() {
        let mut core = core();
        let now = Now::default();
        let bad = [
            r#"{"name":"caf\ud83d"}"#.to_owned(),
            r#"{"n":1e400}"#.to_owned(),
            r#"{"n":-1.7976931348623158e308}"#.to_owned(),
            nested(125), // 126 levels with the event's own object
        ];
        for json in &bad {
            let refused = core.capture(now, Event::new("e", "u").properties_json(json));
            assert!(
                matches!(refused, Err(CaptureError::InvalidEvent(_))),
                "{json}: {refused:?}"
            );
        }
        // Typed values are held to the same depth.
        let value: serde_json::Value = serde_json::from_str(&nested(125)).unwrap();
        let refused = core.capture(now, Event::new("e", "u").properties(value));
        assert!(
            matches!(refused, Err(CaptureError::InvalidEvent(_))),
            "{refused:?}"
        );
        // Just within the limits: accepted, and the body stays readable.
        let good = Event::new("e", "u")
            .properties_json(&nested(124))
            .properties_json(r#"{"emoji":"\ud83d\ude00","n":1.7976931348623157e308}"#);
        core.capture(now, good).unwrap();
        let stats = core.stats();
        assert_eq!(stats.dropped(DropReason::InvalidEvent), 5);
        assert!(stats.adds_up());
        let _ = core.flush(now, std::time::Duration::from_secs(1));
        let request = core.poll_transmit(now).expect("the good event goes out");
        let body = request.body.to_json();
        serde_json::from_slice::<serde_json::Value>(&body).expect("a serde_json server reads it");
    }
}
