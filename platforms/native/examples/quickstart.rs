//! Sends 1,000 events to an in-process loopback HTTP sink and prints the
//! counters. Needs no network access:
//!
//! ```sh
//! cargo run -p tidings-native --example quickstart
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use tidings_native::{Client, Config, Event};

/// A tiny PostHog-like sink on 127.0.0.1 (port chosen by the OS) that
/// answers `{"status":1}` and counts the events it receives.
fn start_sink() -> (String, Arc<AtomicUsize>) {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1");
    let url = format!(
        "http://{}",
        server.server_addr().to_ip().expect("an IP address")
    );
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let mut body = String::new();
            let _ = request.as_reader().read_to_string(&mut body);
            // Each event carries exactly one "uuid" key.
            counter.fetch_add(body.matches("\"uuid\":").count(), Ordering::SeqCst);
            let _ = request.respond(tiny_http::Response::from_string(r#"{"status":1}"#));
        }
    });
    (url, received)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, received) = start_sink();

    let mut config = Config::new("phc_demo_key", &url);
    config.flush_interval = Duration::from_millis(100);
    let client = Client::new(config)?;

    for i in 0..1_000 {
        let event = Event::new("quickstart_event", format!("user-{}", i % 10))
            .property("i", i)
            .property("plan", "pro");
        client.capture(event)?;
    }
    let outcome = client.shutdown(Duration::from_secs(5));

    let stats = client.stats();
    println!("sink:      {url}");
    println!("shutdown:  {outcome:?}");
    println!("captured:  {}", stats.captured);
    println!("delivered: {}", stats.delivered);
    println!("dropped:   {}", stats.dropped_total());
    println!("requests:  {} ({} retries)", stats.requests, stats.retries);
    println!("received by the sink: {}", received.load(Ordering::SeqCst));
    assert!(stats.adds_up());
    Ok(())
}
