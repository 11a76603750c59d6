//! Usage metering on the client: counters and gauges summed in memory and
//! sent as one event per key when the window closes.

use std::time::Duration;

use serde_json::Value;
use tidings::{FlushedMetric, MeterError};

use crate::client::Client;
use crate::shared::Settled;

impl Client {
    /// Adds `value` to the counter `(tenant, metric, tags)` of the current
    /// window. Never waits for the network. Tags are a JSON object (or
    /// `Value::Null`); their key order does not matter.
    ///
    /// ```
    /// use serde_json::json;
    /// use tidings_native::{Client, Config, HttpResponse};
    ///
    /// let client = Client::builder(Config::new("phc_key", "https://ingest.example.com"))
    ///     .transport(|_request| Ok(HttpResponse::new(200)))
    ///     .build()?;
    /// client.count("tenant-7", "tokens", 5000.0, &json!({"model": "small"}))?;
    /// client.gauge("tenant-7", "seats", 12.0, &json!(null))?;
    /// assert_eq!(client.meter_keys(), 2);
    /// let flushed = client.flush_meters(); // one event per key, in the normal queue
    /// assert!(flushed.iter().all(|m| m.event.is_ok()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn count(
        &self,
        tenant: &str,
        metric: &str,
        value: f64,
        tags: &Value,
    ) -> Result<(), MeterError> {
        self.metered(|core, now| core.count(now, tenant, metric, value, tags))
    }

    /// Sets the gauge `(tenant, metric, tags)`: the last value of the window wins.
    pub fn gauge(
        &self,
        tenant: &str,
        metric: &str,
        value: f64,
        tags: &Value,
    ) -> Result<(), MeterError> {
        self.metered(|core, now| core.gauge(now, tenant, metric, value, tags))
    }

    /// Closes the metering window now (it also closes by itself at
    /// `meter_flush_keys` keys or `meter_flush_interval` age, and at shutdown).
    pub fn flush_meters(&self) -> Vec<FlushedMetric> {
        let now = self.shared.clock.now();
        let mut state = self.shared.lock();
        let flushed = state.core.flush_meters(now);
        let mut settled = Settled::default();
        state.drain_notices(&mut settled);
        drop(state);
        self.shared.wake();
        settled.finish();
        flushed
    }

    /// Keys buffered in the current window (for a policy of your own).
    pub fn meter_keys(&self) -> usize {
        self.shared.lock().core.meter_keys()
    }

    /// Age of the oldest buffered metering entry.
    pub fn meter_oldest_age(&self) -> Option<Duration> {
        let now = self.shared.clock.now();
        self.shared.lock().core.meter_oldest_age(now.monotonic)
    }

    fn metered(
        &self,
        update: impl FnOnce(&mut tidings::Core, tidings::Now) -> Result<(), MeterError>,
    ) -> Result<(), MeterError> {
        let now = self.shared.clock.now();
        let result = update(&mut self.shared.lock().core, now);
        // A full window may have become events: let the worker know.
        self.shared.captured(now.monotonic);
        result
    }
}
