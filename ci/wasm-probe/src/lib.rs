//! Drives every input and output of the core once, so that all of it is
//! linked into the module whose imports CI inspects.

use std::time::Duration;

use tidings::{Config, Core, Event, Instant, Now, Protocol, Response, WallTime};

/// Captures `n` events, sends them, answers each request with `status` and
/// returns how many events were delivered.
#[unsafe(no_mangle)]
pub extern "C" fn probe(seed: u64, n: u32, status: u32, v1: u32) -> u64 {
    let mut config = Config::new("phc_probe", "https://probe.invalid");
    config.gzip = true;
    if v1 != 0 {
        config.protocol = Protocol::PostHogV1;
    }
    let Ok(mut core) = Core::new(config, seed) else { return u64::MAX };
    let mut ms = 0u64;
    let mut now = || {
        ms += 10;
        Now::new(Instant::from_millis(ms), WallTime::from_unix_millis(1_700_000_000_000 + ms))
    };
    for i in 0..n {
        let _ = core.capture(now(), Event::new("probe", format!("u{i}")).property("i", i));
    }
    let _ = core.flush(now(), Duration::from_secs(5));
    let mut answered = 0;
    while let Some(t) = core.poll_transmit(now()) {
        let body = t.body.to_bytes();
        let response = Response::new(status as u16).with_retry_after("1").with_body(body.len().to_string());
        core.handle_response(now(), t.id, Ok(response));
        answered += 1;
        if answered > 10_000 {
            break;
        }
    }
    core.shutdown(now(), Duration::from_secs(1));
    core.handle_timeout(now());
    while core.poll_notice().is_some() {}
    let _ = core.poll_timeout();
    core.stats().delivered
}
