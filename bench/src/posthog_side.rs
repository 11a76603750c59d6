//! posthog-rs (default features: the async client, whose background worker
//! thread sends with reqwest's blocking client) in one scenario, in a child
//! process.

use posthog_rs::{CaptureCompression, ClientOptionsBuilder};

use crate::event::{API_KEY, posthog_event};
use crate::measure::{self, mono_ns};
use crate::side::{self, SETTLE, Scenario, SideReport};

/// Enough for every benchmark run: nothing is dropped for lack of room.
const LARGE_QUEUE: usize = 1_000_000;

pub fn run(scenario: Scenario, url: &str, events: u64) -> ! {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut builder = ClientOptionsBuilder::default();
    builder.api_key(API_KEY.to_owned()).host(url.to_owned());
    match scenario {
        Scenario::Equal | Scenario::Gzip | Scenario::Receipts => {
            builder
                .flush_at(1000)
                .max_batch_size(1000)
                .max_queue_size(LARGE_QUEUE);
        }
        // Defaults, but a queue that holds the whole run (as PERFORMANCE.md
        // measured it): the figure is then throughput, not drops.
        Scenario::Delay20 | Scenario::Memory => {
            builder.max_queue_size(LARGE_QUEUE);
        }
        // Overflow: its default queue is already 10,000 events.
        Scenario::Defaults | Scenario::Burst | Scenario::Overflow => {}
    }
    if scenario == Scenario::Gzip {
        builder.capture_compression(CaptureCompression::Gzip);
    }
    let options = builder.build().expect("valid options");
    let client = runtime.block_on(posthog_rs::client(options));
    let mut report = SideReport {
        lib: "posthog-rs".into(),
        scenario: scenario.name().into(),
        events,
        ..Default::default()
    };
    // `capture` returns nothing: a full queue drops silently.
    side::capture_loop(&mut report, posthog_event, |event| {
        client.capture(event);
        Ok(())
    });
    if scenario == Scenario::Memory {
        std::thread::sleep(SETTLE);
        report.rss_after = measure::rss_bytes();
        report.outcome = "not flushed (endpoint never answers)".into();
    } else {
        runtime.block_on(client.flush());
        report.outcome = "flush returned".into();
    }
    report.t_done_ns = mono_ns();
    side::finish(report)
}
