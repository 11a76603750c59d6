//! What `GET /stats` reports.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

/// Counters since the collector started, and two gauges of the moment.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct CollectorStats {
    /// Requests received (any path).
    pub requests: u64,
    /// Events in accepted bodies, duplicates included.
    pub events: u64,
    /// Distinct uuids stored by this collector run.
    pub unique: u64,
    /// Events whose uuid was already stored.
    pub duplicates: u64,
    /// Request body bytes received, as sent (compressed if gzip).
    pub bytes: u64,
    /// Answers sent, by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Connections closed on purpose before answering (nothing stored).
    pub dropped_connections: u64,
    /// Requests stored whose answer was lost on purpose.
    pub lost_answers: u64,
    /// Now: request body bytes held (bodies being read or processed), at
    /// most `Limits::max_buffered_bytes`, counted in whole KiB.
    pub body_bytes_held: u64,
    /// Now: requests waiting for room under `Limits::max_buffered_bytes`
    /// before their body is read.
    pub bodies_waiting: u64,
}

#[derive(Default)]
pub struct StatsCell(Mutex<CollectorStats>);

impl StatsCell {
    pub fn update(&self, f: impl FnOnce(&mut CollectorStats)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    pub fn snapshot(&self) -> CollectorStats {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
