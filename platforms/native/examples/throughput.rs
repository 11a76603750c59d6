//! Measures capture latency and end-to-end throughput against an
//! in-process loopback sink. Run in release:
//!
//! ```sh
//! cargo run --release -p tidings-native --example throughput -- [events] [flush_at] [gzip|plain] [rate]
//! ```
//!
//! Defaults: 200,000 events, flush_at 100, plain, as fast as possible. A
//! `rate` (events per second) paces the captures instead.

#![allow(clippy::disallowed_methods)] // a benchmark reads the clock

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use tidings_native::{Client, Config, Event};

fn start_sink() -> (String, Arc<AtomicUsize>) {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1");
    let url = format!("http://{}", server.server_addr().to_ip().expect("an IP"));
    let received = Arc::new(AtomicUsize::new(0));
    let server = Arc::new(server);
    for _ in 0..2 {
        let (server, counter) = (server.clone(), received.clone());
        thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let mut body = Vec::new();
                let _ = request.as_reader().read_to_end(&mut body);
                let gzip = request
                    .headers()
                    .iter()
                    .any(|h| h.field.equiv("Content-Encoding"));
                let body = if gzip {
                    let mut plain = Vec::new();
                    let _ = std::io::Read::read_to_end(
                        &mut flate2::read::GzDecoder::new(&body[..]),
                        &mut plain,
                    );
                    plain
                } else {
                    body
                };
                let events = body.windows(7).filter(|w| w == b"\"uuid\":").count();
                counter.fetch_add(events, Ordering::SeqCst);
                let _ = request.respond(tiny_http::Response::from_string(r#"{"status":1}"#));
            }
        });
    }
    (url, received)
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let events: usize = args.next().map_or(Ok(200_000), |a| a.parse())?;
    let batch: usize = args.next().map_or(Ok(100), |a| a.parse())?;
    let gzip = args.next().is_some_and(|a| a == "gzip");
    let rate: Option<f64> = args.next().map(|a| a.parse()).transpose()?;
    let (url, received) = start_sink();

    let mut config = Config::new("phc_bench_key", &url);
    config.flush_at = batch;
    config.max_batch_events = batch.max(1000);
    config.gzip = gzip;
    let client = Client::new(config)?;

    let mut latencies = Vec::with_capacity(events);
    let started = Instant::now();
    for i in 0..events {
        let event = Event::new("bench_event", format!("user-{}", i % 1000))
            .property("i", i)
            .property("plan", "pro")
            .property("price", 12.5)
            .property("tags", ["a", "b"])
            .property("nested", serde_json::json!({"k": "v"}));
        if let Some(rate) = rate {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            while Instant::now() < due {
                std::hint::spin_loop();
            }
        }
        let before = Instant::now();
        client.capture(event)?;
        latencies.push(before.elapsed().as_nanos() as u32);
    }
    let captured_in = started.elapsed();
    let outcome = client.flush(Duration::from_secs(60));
    let total = started.elapsed();

    latencies.sort_unstable();
    let stats = client.stats();
    println!("events {events}, flush_at {batch}, gzip {gzip}, rate {rate:?}: {outcome:?}");
    println!(
        "capture ns: p50 {} p99 {} p999 {} max {}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
        latencies.last().unwrap_or(&0)
    );
    println!(
        "captured in {captured_in:?} ({:.0}/s); delivered {} in {total:?} ({:.0}/s end to end)",
        events as f64 / captured_in.as_secs_f64(),
        stats.delivered,
        stats.delivered as f64 / total.as_secs_f64()
    );
    println!(
        "requests {}, dropped {}, sink saw {}",
        stats.requests,
        stats.dropped_total(),
        received.load(Ordering::SeqCst)
    );
    Ok(())
}
