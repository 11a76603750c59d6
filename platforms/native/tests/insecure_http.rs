//! `allow_insecure_http`: plain http to a host that is not loopback (a
//! self-hosted PostHog on a private network) is refused unless opted in,
//! and the opt-in logs one warning per client naming the host. Nothing
//! goes to the network: a closure transport records the requests.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use log::{Level, LevelFilter, Log, Metadata, Record};
use support::capture_n;
use tidings_native::{Client, Config, HttpRequest, HttpResponse};

const KEY: &str = "phc_test_SECRET_key_123";

/// Keeps every log record of this test binary (its own process, so no
/// other test's logger competes).
struct Captured(Mutex<Vec<(Level, String)>>);

impl Log for Captured {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }
    fn log(&self, record: &Record) {
        let line = record.args().to_string();
        self.0.lock().unwrap().push((record.level(), line));
    }
    fn flush(&self) {}
}

static LOGS: Captured = Captured(Mutex::new(Vec::new()));

/// The warnings logged so far that mention `host`.
fn warnings_naming(host: &str) -> Vec<String> {
    let _ = log::set_logger(&LOGS);
    log::set_max_level(LevelFilter::Trace);
    LOGS.0
        .lock()
        .unwrap()
        .iter()
        .filter(|(level, line)| *level == Level::Warn && line.contains(host))
        .map(|(_, line)| line.clone())
        .collect()
}

type Requests = Arc<Mutex<Vec<HttpRequest>>>;

/// A client whose requests are recorded and answered 200.
fn client(config: Config) -> Result<(Client, Requests), String> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let client = Client::builder(config)
        .transport(move |request: HttpRequest| {
            record.lock().unwrap().push(request);
            Ok(HttpResponse::new(200).with_body(r#"{"status":1}"#))
        })
        .build()
        .map_err(|e| e.to_string())?;
    Ok((client, seen))
}

#[test]
fn plain_http_to_a_private_host_needs_the_opt_in_and_warns_once() {
    warnings_naming(""); // installs the logger before any client exists
    let host = "http://posthog.internal:8000";
    let mut config = Config::new(KEY, host);
    config.flush_at = 1;

    let Err(refused) = client(config.clone()) else {
        panic!("plain http to a private host was accepted without the opt-in");
    };
    assert!(
        refused.contains("host") && refused.contains("allow_insecure_http"),
        "the refusal names the opt-in: {refused}"
    );

    config.allow_insecure_http = true;
    let (client, seen) = client(config).expect("accepted with the opt-in");
    capture_n(&client, 3);
    assert!(client.flush(Duration::from_secs(5)).is_completed());
    client.shutdown(Duration::from_secs(1));
    assert_eq!(client.stats().delivered, 3);
    let urls: Vec<String> = seen.lock().unwrap().iter().map(|r| r.url.clone()).collect();
    assert!(!urls.is_empty());
    for url in &urls {
        assert!(url.starts_with("http://posthog.internal:8000/"), "{url}");
    }

    let warnings = warnings_naming("posthog.internal:8000");
    assert_eq!(warnings.len(), 1, "one warning per client: {warnings:?}");
    let warning = &warnings[0];
    assert!(warning.contains("plain http"), "{warning}");
    assert!(!warning.contains(KEY), "never the key: {warning}");
    assert!(!warning.contains("/batch"), "never the full URL: {warning}");
}

#[test]
fn https_and_loopback_do_not_warn_with_the_opt_in() {
    warnings_naming("");
    for host in ["https://posthog.example.com", "http://127.0.0.1:9"] {
        let mut config = Config::new(KEY, host);
        config.allow_insecure_http = true;
        let (client, _) = client(config).expect("accepted");
        client.shutdown(Duration::from_secs(1));
    }
    assert_eq!(warnings_naming("posthog.example.com"), Vec::<String>::new());
    assert_eq!(warnings_naming("127.0.0.1"), Vec::<String>::new());
}

#[test]
fn the_warning_never_shows_the_query() {
    warnings_naming("");
    let mut config = Config::new(KEY, "http://collector.lan:8080/e?token=SECRET_TOKEN");
    config.protocol = tidings_native::Protocol::Json;
    config.allow_insecure_http = true;
    let (client, _) = client(config).expect("accepted");
    client.shutdown(Duration::from_secs(1));
    let warnings = warnings_naming("collector.lan:8080");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(!warnings[0].contains("SECRET_TOKEN"), "{}", warnings[0]);
}
