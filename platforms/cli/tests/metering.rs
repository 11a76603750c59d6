//! Metering through the real native adapter over loopback: the totals at
//! the collector equal what was counted, even through faults and across
//! windows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tidings::Config;
use tidings_cli::collect::{Collector, CollectorOptions, Faults};
use tidings_native::Client;

#[test]
fn totals_at_the_collector_match_what_was_metered() {
    let faults = Faults {
        seed: 5,
        // The first two requests fail whatever the timing: how many
        // requests a run makes depends on the machine's speed.
        fail_first: 2,
        fail_rate: 0.3,
        lose_answer_rate: 0.05,
        ..Default::default()
    };
    let collector = Collector::start(CollectorOptions {
        faults,
        ..Default::default()
    })
    .unwrap();
    let mut config = Config::new("phc_meter", collector.url());
    config.retry.initial_backoff = Duration::from_millis(10);
    config.retry.max_backoff = Duration::from_millis(100);
    config.retry.max_attempts = 40;
    config.flush_interval = Duration::from_millis(20);
    let client = Arc::new(Client::builder(config).seed(1).build().unwrap());

    // Two windows, four threads, tags in varying key order.
    for _window in 0..2 {
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let client = client.clone();
                std::thread::spawn(move || {
                    for i in 0..500u64 {
                        let tenant = format!("tenant-{}", i % 3);
                        let tags = if (i + t) % 2 == 0 {
                            json!({"model": "small", "region": {"zone": "a", "cloud": "x"}})
                        } else {
                            json!({"region": {"cloud": "x", "zone": "a"}, "model": "small"})
                        };
                        client
                            .count(&tenant, "tokens", (i % 7) as f64, &tags)
                            .unwrap();
                        client
                            .gauge(&tenant, "seats", t as f64, &json!(null))
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(client.meter_keys(), 6, "3 tenants x (tokens, seats)");
        let flushed = client.flush_meters();
        assert_eq!(flushed.len(), 6);
        assert!(flushed.iter().all(|m| m.event.is_ok()));
    }
    client.shutdown(Duration::from_secs(30));
    let stats = client.stats();
    assert!(stats.adds_up() && stats.dropped_total() == 0, "{stats:?}");

    let rows = collector.store().events(u64::MAX).unwrap();
    let usage: Vec<_> = rows.iter().filter(|r| r.event == "usage").collect();
    assert_eq!(
        usage.len(),
        12,
        "6 keys in each of 2 windows, each stored once"
    );
    let mut tokens: BTreeMap<String, i64> = BTreeMap::new();
    for row in &usage {
        let p = &row.properties;
        assert_eq!(row.distinct_id, p["tenant"].as_str().unwrap());
        assert!(p["window_start"].as_str().unwrap() <= p["window_end"].as_str().unwrap());
        if p["metric"] == "tokens" {
            assert_eq!(p["kind"], "count");
            assert_eq!(
                p["tags"],
                json!({"model": "small", "region": {"cloud": "x", "zone": "a"}})
            );
            *tokens
                .entry(p["tenant"].as_str().unwrap().to_owned())
                .or_default() += p["value"].as_i64().unwrap();
        } else {
            assert_eq!(
                (p["metric"].as_str(), p["kind"].as_str()),
                (Some("seats"), Some("gauge"))
            );
            assert!((0..4).contains(&p["value"].as_i64().unwrap()));
        }
    }
    // What each tenant was counted, over both windows and four threads.
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for _ in 0..2 * 4 {
        for i in 0..500i64 {
            *expected.entry(format!("tenant-{}", i % 3)).or_default() += i % 7;
        }
    }
    assert_eq!(tokens, expected);
    assert!(
        collector.stats().statuses.get(&503).copied().unwrap_or(0) >= 2,
        "faults were on"
    );
}
