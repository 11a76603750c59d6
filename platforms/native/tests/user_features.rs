//! What a user who depends on `tidings-native` alone gets: features that
//! change delivery semantics are on by default. Run on its own
//! (`cargo test -p tidings-native --test user_features`, as scripts/test
//! does), so no other workspace member's features are unified in.

#![allow(clippy::disallowed_methods)] // tests measure real time

mod support;

use std::time::{Duration, SystemTime};

use support::{Reply, Sink, config};
use tidings_native::{Client, Event};

#[test]
fn a_429_with_an_http_date_retry_after_is_honoured() {
    // An HTTP-date has whole seconds: 3 s ahead is at least 2 s of waiting.
    let sink = Sink::start(|_, index| {
        if index == 0 {
            let at = SystemTime::now() + Duration::from_secs(3);
            Reply::Full {
                status: 429,
                headers: vec![("Retry-After", httpdate::fmt_http_date(at))],
                body: String::new(),
            }
        } else {
            Reply::Status(200)
        }
    });
    let mut config = config(&sink.url());
    config.retry.max_backoff = Duration::from_secs(5); // Retry-After is capped by it
    config.flush_at = 1;
    let client = Client::new(config).unwrap();
    client.capture(Event::new("e", "u")).unwrap();
    assert!(client.flush(Duration::from_secs(8)).is_completed());
    let requests = sink.requests();
    assert_eq!(requests.len(), 2);
    let gap = requests[1].at - requests[0].at;
    // Without the core's `http-date` feature the date is ignored and the
    // retry comes after the 10 ms initial backoff.
    assert!(gap >= Duration::from_millis(1900), "retried after {gap:?}");
}
