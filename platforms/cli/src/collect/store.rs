//! Accepted events in SQLite: one row per uuid; a uuid seen again bumps its
//! `duplicates` count instead of adding a row.

use std::sync::Mutex;

use rusqlite::{Connection, params};
use serde::Serialize;

use super::validate::{ValidBatch, Wire};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    uuid                 TEXT PRIMARY KEY,
    event                TEXT NOT NULL,
    distinct_id          TEXT NOT NULL,
    timestamp            TEXT NOT NULL,
    properties           TEXT NOT NULL,   -- JSON object
    protocol             TEXT NOT NULL,   -- posthog-v0 | posthog-v1 | json
    historical_migration INTEGER NOT NULL,
    received_at          TEXT NOT NULL,
    duplicates           INTEGER NOT NULL DEFAULT 0
);";

/// The collector's database.
pub struct Store {
    conn: Mutex<Connection>,
}

/// What one stored batch changed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stored {
    pub new: u64,
    pub duplicates: u64,
}

/// One row, for `GET /events`.
#[derive(Clone, Debug, Serialize)]
pub struct EventRow {
    pub uuid: String,
    pub event: String,
    pub distinct_id: String,
    pub timestamp: String,
    pub properties: serde_json::Value,
    pub protocol: String,
    pub duplicates: u64,
}

impl Store {
    /// Opens (or creates) the database at `path`; `:memory:` keeps it in
    /// memory. `reset` empties an existing file first.
    pub fn open(path: &str, reset: bool) -> rusqlite::Result<Store> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        if reset {
            conn.execute("DELETE FROM events", [])?;
        }
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    /// Stores a batch in one transaction.
    pub fn insert(
        &self,
        wire: Wire,
        batch: &ValidBatch,
        received_at: &str,
    ) -> rusqlite::Result<Stored> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction()?;
        let mut stored = Stored::default();
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO events
                 (uuid, event, distinct_id, timestamp, properties, protocol, historical_migration, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let mut bump =
                tx.prepare_cached("UPDATE events SET duplicates = duplicates + 1 WHERE uuid = ?1")?;
            for e in &batch.events {
                let uuid = e.uuid.to_string();
                let inserted = insert.execute(params![
                    uuid,
                    e.event,
                    e.distinct_id,
                    e.timestamp,
                    e.properties,
                    wire.name(),
                    batch.historical_migration,
                    received_at
                ])?;
                if inserted == 1 {
                    stored.new += 1;
                } else {
                    bump.execute(params![uuid])?;
                    stored.duplicates += 1;
                }
            }
        }
        tx.commit()?;
        Ok(stored)
    }

    /// Rows in the table (distinct uuids ever stored in this file).
    pub fn unique(&self) -> rusqlite::Result<u64> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        conn.query_row("SELECT COUNT(*) FROM events", [], |r| {
            r.get::<_, i64>(0).map(|n| n as u64)
        })
    }

    /// Every row, oldest first (at most `limit`).
    pub fn events(&self, limit: u64) -> rusqlite::Result<Vec<EventRow>> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut stmt = conn.prepare(
            "SELECT uuid, event, distinct_id, timestamp, properties, protocol, duplicates
             FROM events ORDER BY rowid LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit.min(i64::MAX as u64) as i64], |r| {
            let properties: String = r.get(4)?;
            Ok(EventRow {
                uuid: r.get(0)?,
                event: r.get(1)?,
                distinct_id: r.get(2)?,
                timestamp: r.get(3)?,
                properties: serde_json::from_str(&properties).unwrap_or(serde_json::Value::Null),
                protocol: r.get(5)?,
                duplicates: r.get::<_, i64>(6)? as u64,
            })
        })?;
        rows.collect()
    }

    /// Every stored uuid.
    pub fn uuids(&self) -> rusqlite::Result<std::collections::HashSet<String>> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut stmt = conn.prepare("SELECT uuid FROM events")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect()
    }

    /// Whether `uuid` is stored.
    pub fn contains(&self, uuid: &str) -> rusqlite::Result<bool> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        conn.query_row(
            "SELECT COUNT(*) FROM events WHERE uuid = ?1",
            params![uuid],
            |r| r.get::<_, i64>(0).map(|n| n > 0),
        )
    }
}
