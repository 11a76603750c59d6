//! The core alone, no network: capture -> poll_transmit -> `body.to_bytes()`
//! -> answer 200, on one thread, with batches of 1,000 events (as the floor).

use std::hint::black_box;
use std::time::{Instant, SystemTime};

use tidings::{Config, Core, Event, Now, Response, WallTime};

use crate::event::{API_KEY, tidings_event};
use crate::floor::{BATCH, Encoded};

fn core(gzip: bool) -> Core {
    // No request is ever made: the host only has to be valid.
    let mut config = Config::new(API_KEY, "https://ingest.example.com");
    config.flush_at = BATCH;
    config.max_batch_events = BATCH;
    config.gzip = gzip;
    Core::new(config, 7).expect("valid config")
}

/// Sends whatever the core has ready and answers 200 at once.
fn drain(core: &mut Core, now: Now, out: &mut Encoded) {
    while let Some(transmit) = core.poll_transmit(now) {
        let bytes = transmit.body.to_bytes();
        out.json_bytes += transmit.body.json_len() as u64;
        out.wire_bytes += bytes.len() as u64;
        black_box(&bytes);
        core.handle_response(now, transmit.id, Ok(Response::new(200)));
    }
    while let Some(notice) = core.poll_notice() {
        black_box(&notice);
    }
}

fn run(events: impl Iterator<Item = Event>, n: u64, gzip: bool) -> Encoded {
    let mut core = core(gzip);
    let mut out = Encoded {
        events: n,
        ..Default::default()
    };
    let origin = Instant::now();
    let clock = || {
        Now::new(
            tidings::Instant::from_duration(origin.elapsed()),
            WallTime::from_system_time(SystemTime::now()),
        )
    };
    for event in events {
        let now = clock();
        core.capture(now, event).expect("accepted");
        drain(&mut core, now, &mut out);
    }
    let now = clock();
    core.flush(now, std::time::Duration::from_secs(1));
    drain(&mut core, now, &mut out);
    out.secs = origin.elapsed().as_secs_f64();
    assert_eq!(core.stats().delivered, n, "every event delivered");
    out
}

/// From the same inputs as the floor: building each `Event` (which
/// serializes its properties) is inside the timed loop.
pub fn from_inputs(n: u64, gzip: bool) -> Encoded {
    run((0..n).map(tidings_event), n, gzip)
}

/// Events built before the clock starts (their properties are then already
/// serialized): capture, batch and body only.
pub fn prebuilt(n: u64, gzip: bool) -> Encoded {
    let events: Vec<Event> = (0..n).map(tidings_event).collect();
    run(events.into_iter(), n, gzip)
}
