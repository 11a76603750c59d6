//! `--receipts FILE`: one JSON line per input line saying what became of
//! it, so an import can prove what arrived. Lines are written as their
//! fates become known (sort by `line` for input order):
//!
//! - `{"line":7,"uuid":"…","status":"delivered"}`
//! - `{"line":8,"uuid":"…","status":"dropped","reason":"http_400"}` (the
//!   client's drop reasons, as in the report; `too_large` for a line the
//!   client refused)
//! - `{"line":9,"status":"skipped","reason":"not valid JSON: …"}` (never
//!   sent: the reason is the message printed on stderr)
//! - `{"line":10,"status":"already_sent"}` (acknowledged by the run that
//!   wrote the `--resume` checkpoint)

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;
use tidings::{Fate, Uuid};

/// One line of the receipts file.
#[derive(Serialize)]
struct Line<'a> {
    line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    uuid: Option<String>,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

/// The open receipts file. A write error is kept and reported at the end
/// (the import itself goes on).
pub struct ReceiptLog {
    out: BufWriter<File>,
    error: Option<std::io::Error>,
}

impl ReceiptLog {
    pub fn create(path: &Path) -> Result<ReceiptLog, String> {
        let file = File::create(path)
            .map_err(|e| format!("cannot create receipts file {}: {e}", path.display()))?;
        Ok(ReceiptLog {
            out: BufWriter::new(file),
            error: None,
        })
    }

    /// A captured line's fate (delivered or dropped).
    pub fn fate(&mut self, line: u64, uuid: Uuid, fate: Fate) {
        let reason = match fate {
            Fate::Dropped(reason) => Some(reason.to_string()),
            _ => None,
        };
        let status = match fate {
            Fate::Delivered => "delivered",
            Fate::Dropped(_) => "dropped",
            Fate::Spilled => "spilled",
            _ => "pending",
        };
        self.write(&Line {
            line,
            uuid: Some(uuid.to_string()),
            status,
            reason: reason.as_deref(),
        });
    }

    /// A line refused by the client at capture (too large, invalid).
    pub fn refused(&mut self, line: u64, uuid: Option<Uuid>, reason: &str) {
        self.write(&Line {
            line,
            uuid: uuid.map(|u| u.to_string()),
            status: "dropped",
            reason: Some(reason),
        });
    }

    /// A line never handed to the client, and why.
    pub fn skipped(&mut self, line: u64, why: &str) {
        self.write(&Line {
            line,
            uuid: None,
            status: "skipped",
            reason: Some(why),
        });
    }

    /// A line an earlier run delivered (`--resume`).
    pub fn already_sent(&mut self, line: u64) {
        self.write(&Line {
            line,
            uuid: None,
            status: "already_sent",
            reason: None,
        });
    }

    fn write(&mut self, line: &Line<'_>) {
        if self.error.is_some() {
            return;
        }
        let written = serde_json::to_writer(&mut self.out, line)
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        if let Err(e) = written {
            self.error = Some(e);
        }
    }

    /// Writes what is buffered; the first error of the run, if any.
    pub fn finish(&mut self, path: &Path) -> Result<(), String> {
        let flushed = self.out.flush();
        match self.error.take().map_or(flushed, Err) {
            Ok(()) => Ok(()),
            Err(e) => Err(format!(
                "cannot write receipts file {}: {e}",
                path.display()
            )),
        }
    }
}
