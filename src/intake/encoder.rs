//! Encoding an event on the capturing thread, without the core.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use uuid::Uuid;

use crate::config::{BeforeSend, Config};
use crate::core::CaptureError;
use crate::event::Event;
use crate::time::WallTime;
use crate::wire::{EventEncoder, JsonReader, MAX_EVENT_DEPTH, nesting_within};

/// Turns events into the bytes they will have in every request body: runs
/// the before-send hook, checks the event, gives it a uuid v7 and encodes
/// it. `Send + Sync`: share one between threads (in an `Arc`); get it
/// from [`Core::encoder`](crate::Core::encoder).
pub struct Encoder {
    events: EventEncoder,
    before_send: Option<BeforeSend>,
    max_event_bytes: usize,
    event_timeout: Option<Duration>,
    /// Uuids are splitmix64 outputs of `seed` and a counter: reproducible
    /// for one seed, and drawn without a lock.
    seed: u64,
    next: AtomicU64,
}

/// One encoded event: its uuid and bytes. Reuse it for the next event to
/// keep the buffer (and the memory it has touched).
#[derive(Clone, Debug, Default)]
pub struct Encoded {
    uuid: Uuid,
    bytes: Vec<u8>,
    /// How long ago an earlier run first captured it, in milliseconds
    /// ([`Event::first_captured`]); 0 for a new event.
    age_millis: u64,
}

impl Encoder {
    pub(crate) fn new(config: &Config, seed: u64) -> Self {
        Encoder {
            events: EventEncoder::new(config),
            before_send: config.before_send.clone(),
            max_event_bytes: config.max_event_bytes,
            event_timeout: config.event_timeout,
            seed,
            next: AtomicU64::new(0),
        }
    }

    /// Encodes `event` into `out` (its timestamp is the caller's or
    /// `wall`) and returns its uuid (the caller's, or a new v7), or says
    /// why it cannot be sent: invalid, too large, or dropped by the
    /// before-send hook. Nothing is counted here: a refusal is the
    /// caller's to report ([`Core::refuse`](crate::Core::refuse)).
    pub fn encode(
        &self,
        wall: WallTime,
        mut event: Event,
        out: &mut Encoded,
    ) -> Result<Uuid, CaptureError> {
        let parts = self;
        if let Some(hook) = &parts.before_send {
            // A panicking hook loses only the event it was handed.
            event = match catch_unwind(AssertUnwindSafe(|| hook(event))) {
                Ok(Some(event)) => event,
                Ok(None) => return Err(CaptureError::DroppedByBeforeSend),
                Err(_) => return Err(CaptureError::BeforeSendPanicked),
            };
        }
        if let Some(problem) = event.problem() {
            return Err(CaptureError::InvalidEvent(problem));
        }
        let uuid = match event.given_uuid() {
            Some(uuid) => uuid,
            None => self.new_uuid_v7(wall),
        };
        let age_millis = event
            .given_first_captured()
            .map_or(0, |at| wall.unix_millis().saturating_sub(at.unix_millis()));
        if let Some(timeout) = parts.event_timeout
            && Duration::from_millis(age_millis) >= timeout
        {
            return Err(CaptureError::Expired {
                age: Duration::from_millis(age_millis),
                timeout,
            });
        }
        let timestamp = event.given_timestamp().unwrap_or(wall);
        parts.events.encode(&event, uuid, timestamp, &mut out.bytes);
        out.uuid = uuid;
        out.age_millis = age_millis;
        let size = out.bytes.len();
        if size > parts.max_event_bytes {
            return Err(CaptureError::TooLarge {
                size,
                max: parts.max_event_bytes,
            });
        }
        if !nesting_within(&out.bytes, MAX_EVENT_DEPTH) {
            // A server would refuse the whole batch it travels in.
            return Err(CaptureError::InvalidEvent(
                "its properties nest deeper than a JSON server reads (127 levels in a request body)".into(),
            ));
        }
        Ok(uuid)
    }

    /// Takes an event a durable queue gave back ([`Core::capture_spilled`](crate::Core::capture_spilled)):
    /// the encoded JSON object as it was, checked as the core would check
    /// a new one, since a queue's messages are input like any other.
    pub fn respill(&self, json: &[u8], out: &mut Encoded) -> Result<Uuid, CaptureError> {
        let invalid = |why: &str| Err(CaptureError::InvalidEvent(why.into()));
        if json.len() > self.max_event_bytes {
            return Err(CaptureError::TooLarge {
                size: json.len(),
                max: self.max_event_bytes,
            });
        }
        let mut uuid = None;
        let mut reader = JsonReader::new(json);
        let read = reader.object(0, |key, r| {
            if key == b"uuid" && r.at_string() {
                uuid = std::str::from_utf8(r.string()?)
                    .ok()
                    .and_then(|s| Uuid::try_parse(s).ok());
                Some(())
            } else {
                r.skip(1)
            }
        });
        if read.and_then(|()| reader.end()).is_none() {
            return invalid("a spilled event must be one JSON object");
        }
        let Some(uuid) = uuid else {
            return invalid("a spilled event must carry its \"uuid\"");
        };
        if !nesting_within(json, MAX_EVENT_DEPTH) {
            return invalid("its properties nest deeper than a JSON server reads");
        }
        out.bytes.clear();
        out.bytes.extend_from_slice(json);
        out.uuid = uuid;
        out.age_millis = 0;
        Ok(uuid)
    }

    /// A new uuid v7 at `wall` (events', and the core's request ids).
    pub(crate) fn new_uuid_v7(&self, wall: WallTime) -> Uuid {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let high = splitmix64(self.seed, n.wrapping_mul(2));
        let low = splitmix64(self.seed, n.wrapping_mul(2).wrapping_add(1));
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&high.to_le_bytes());
        random[8..].copy_from_slice(&low.to_le_bytes()[..2]);
        uuid::Builder::from_unix_timestamp_millis(wall.unix_millis(), &random).into_uuid()
    }
}

/// The `n`th output of splitmix64 seeded with `seed`.
fn splitmix64(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl fmt::Debug for Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encoder").finish_non_exhaustive()
    }
}

impl Encoded {
    /// An empty buffer.
    pub fn new() -> Self {
        Encoded::default()
    }

    /// A buffer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Encoded {
            uuid: Uuid::nil(),
            bytes: Vec::with_capacity(capacity),
            age_millis: 0,
        }
    }

    /// A buffer of `capacity` bytes, written once so that its memory is
    /// mapped by the thread that calls this, not by the first capture.
    pub fn prefaulted(capacity: usize) -> Self {
        let mut bytes = vec![0u8; capacity];
        bytes.clear();
        Encoded {
            uuid: Uuid::nil(),
            bytes,
            age_millis: 0,
        }
    }

    /// The uuid of the event last encoded into it.
    pub fn uuid(&self) -> Uuid {
        self.uuid
    }

    /// How long ago an earlier run first captured it
    /// ([`Event::first_captured`]): zero for a new event.
    pub fn age(&self) -> Duration {
        Duration::from_millis(self.age_millis)
    }

    /// The encoded JSON object.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Encoded size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing is encoded in it.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The buffer's capacity, to decide whether it is worth keeping.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }
}
