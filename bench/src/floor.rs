//! The encoding floor: serde_json writing the benchmark events from typed
//! structs into one reused buffer, as PostHog v0 bodies of 1,000 events.
//!
//! Two variants:
//! - `from_inputs`: from the same inputs the core gets (the index `i` and
//!   the clock): format the distinct id, draw a uuid v7 from a seeded PRNG,
//!   read the wall clock, build the typed struct and serialize it. This is
//!   the least any SDK must do per event, and what the core is held to.
//! - `prebuilt`: serialization alone, from structs built beforehand (the
//!   PERFORMANCE.md table's definition).

use std::fmt::Write as _;
use std::hint::black_box;
use std::io::Write as _;
use std::time::{Instant, SystemTime};

use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use uuid::Uuid;

use crate::event::{API_KEY, EVENT_NAME, NESTED, TAGS, TypedEvent, TypedProperties};

pub const BATCH: usize = 1000;
const LIB: &str = "tidings";
const LIB_VERSION: &str = "0.1.0";

/// What one encoding run produced.
#[derive(Clone, Copy, Debug, Default)]
pub struct Encoded {
    pub events: u64,
    pub secs: f64,
    /// Uncompressed JSON bytes of all bodies.
    pub json_bytes: u64,
    /// Bytes that would go on the wire (gzip or not).
    pub wire_bytes: u64,
}

impl Encoded {
    pub fn events_per_s(&self) -> f64 {
        self.events as f64 / self.secs
    }
    /// MB/s of uncompressed JSON produced (input of gzip when on).
    pub fn mb_per_s(&self) -> f64 {
        self.json_bytes as f64 / self.secs / 1e6
    }
    pub fn json_bytes_per_event(&self) -> f64 {
        self.json_bytes as f64 / self.events as f64
    }
    pub fn wire_bytes_per_event(&self) -> f64 {
        self.wire_bytes as f64 / self.events as f64
    }
}

fn uuid_v7(rng: &mut Xoshiro256PlusPlus, millis: u64) -> Uuid {
    let mut random = [0u8; 10];
    rng.fill_bytes(&mut random);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn head(body: &mut Vec<u8>) {
    let sent_at = humantime::format_rfc3339_millis(SystemTime::now());
    let _ = write!(
        body,
        "{{\"api_key\":\"{API_KEY}\",\"historical_migration\":false,\"sent_at\":\"{sent_at}\",\"batch\":["
    );
}

/// Ends the body in `body` and counts it (gzipping into `gz` if asked).
fn finish(body: &mut Vec<u8>, gzip: bool, gz: &mut Vec<u8>, out: &mut Encoded) {
    body.extend_from_slice(b"]}");
    out.json_bytes += body.len() as u64;
    if gzip {
        let mut encoder =
            flate2::write::GzEncoder::new(std::mem::take(gz), flate2::Compression::default());
        let _ = encoder.write_all(body);
        *gz = encoder.finish().unwrap_or_default();
        out.wire_bytes += gz.len() as u64;
        gz.clear();
    } else {
        out.wire_bytes += body.len() as u64;
        black_box(&body);
    }
    body.clear();
}

fn typed<'a>(i: u64, distinct_id: &'a str, uuid: Uuid, now: SystemTime) -> TypedEvent<'a> {
    TypedEvent {
        uuid,
        event: EVENT_NAME,
        distinct_id,
        properties: TypedProperties {
            lib: LIB,
            lib_version: LIB_VERSION,
            i,
            plan: "pro",
            price: 12.5,
            tags: TAGS,
            nested: NESTED,
        },
        timestamp: humantime::format_rfc3339_millis(now),
    }
}

/// From the same inputs as the core: id, uuid, clock, struct, serialize.
pub fn from_inputs(n: u64, gzip: bool) -> Encoded {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    let mut body = Vec::with_capacity(1 << 20);
    let mut gz = Vec::with_capacity(1 << 18);
    let mut distinct_id = String::with_capacity(16);
    let mut out = Encoded {
        events: n,
        ..Default::default()
    };
    let start = Instant::now();
    let mut i = 0;
    while i < n {
        head(&mut body);
        let end = (i + BATCH as u64).min(n);
        let first = i;
        while i < end {
            distinct_id.clear();
            let _ = write!(distinct_id, "user-{}", i % 1000);
            let now = SystemTime::now();
            let uuid = uuid_v7(&mut rng, unix_millis(now));
            if i > first {
                body.push(b',');
            }
            let _ = serde_json::to_writer(&mut body, &typed(i, &distinct_id, uuid, now));
            i += 1;
        }
        finish(&mut body, gzip, &mut gz, &mut out);
    }
    out.secs = start.elapsed().as_secs_f64();
    out
}

/// Serialization alone, from structs built before the clock starts.
pub fn prebuilt(n: u64, gzip: bool) -> Encoded {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    let ids: Vec<String> = (0..n).map(crate::event::distinct_id).collect();
    let now = SystemTime::now();
    let events: Vec<TypedEvent<'_>> = (0..n)
        .map(|i| {
            typed(
                i,
                &ids[i as usize],
                uuid_v7(&mut rng, unix_millis(now)),
                now,
            )
        })
        .collect();
    let mut body = Vec::with_capacity(1 << 20);
    let mut gz = Vec::with_capacity(1 << 18);
    let mut out = Encoded {
        events: n,
        ..Default::default()
    };
    let start = Instant::now();
    for chunk in events.chunks(BATCH) {
        head(&mut body);
        for (j, event) in chunk.iter().enumerate() {
            if j > 0 {
                body.push(b',');
            }
            let _ = serde_json::to_writer(&mut body, event);
        }
        finish(&mut body, gzip, &mut gz, &mut out);
    }
    out.secs = start.elapsed().as_secs_f64();
    out
}
