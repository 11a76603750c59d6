//! A proxy from the environment never sees a plain-http request: it would
//! read the events and the API key unencrypted. (Its own test binary: it
//! sets the process's proxy variables.)

#![allow(clippy::disallowed_methods)] // tests measure real time

mod support;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::{Sink, config};
use tidings_native::{Client, Event};

#[test]
fn plain_http_to_loopback_bypasses_the_environment_proxy() {
    // A "proxy" that counts the connections it gets and answers nothing.
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    std::thread::spawn(move || {
        for stream in proxy.incoming() {
            seen.fetch_add(1, Ordering::Relaxed);
            drop(stream);
        }
    });
    // SAFETY: this test binary has one test, set before any thread reads
    // the environment (the client is built after).
    unsafe {
        for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"] {
            std::env::set_var(name, &proxy_url);
        }
        std::env::remove_var("NO_PROXY");
        std::env::remove_var("no_proxy");
    }
    let sink = Sink::ok();
    let client = Client::new(config(&sink.url())).unwrap();
    client.capture(Event::new("e", "u")).unwrap();
    assert!(client.flush(Duration::from_secs(5)).is_completed());
    assert_eq!(sink.delivered_uuids().len(), 1, "sent straight to the sink");
    assert_eq!(
        connections.load(Ordering::Relaxed),
        0,
        "the proxy saw nothing"
    );
}
