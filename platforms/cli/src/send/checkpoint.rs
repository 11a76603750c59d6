//! `--resume FILE`: which input lines were handled (acknowledged by the
//! endpoint, or skipped as unsendable), kept on disk so an interrupted
//! import continues without re-sending them, and bound to what those lines
//! contained so that it is never applied to other input.
//!
//! The file is JSON:
//!
//! ```json
//! {"format": 2, "input": "events.ndjson", "acked_below": 51,
//!  "prefix_sha256": "…", "acked": {"57": "…"}, "skipped": [12]}
//! ```
//!
//! - every line below `acked_below` was handled, and `prefix_sha256` chains
//!   their hashes (`c0` = 32 zero bytes, `ck = SHA-256(ck-1 ‖ SHA-256(line
//!   k))`, a line's bytes without its `\n`): a resume hashes those lines of
//!   its input again and refuses to go on if they differ;
//! - `acked` holds lines handled out of order, above the prefix, each with
//!   the SHA-256 of its bytes, checked one by one as they are read;
//! - `skipped` lists the handled lines that were not sent (malformed, too
//!   long, refused by the client): a resume reports them again, so a run
//!   over input with unsent lines never looks complete.
//!
//! It is replaced atomically (write, then rename), so a kill never
//! corrupts it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::reader::LineDigest;

/// The file format this version writes and reads.
const FORMAT: u32 = 2;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The input it belongs to, as given on the command line.
    pub input: String,
    /// Lines `1..acked_below` are all handled.
    pub acked_below: u64,
    /// The chained hash of lines `1..acked_below`.
    pub prefix: LineDigest,
    /// Handled lines at or above `acked_below`, with their hashes.
    pub acked: BTreeMap<u64, LineDigest>,
    /// Handled lines that were not sent.
    pub skipped: BTreeSet<u64>,
}

/// What a checkpoint says about one line of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineState {
    /// Not handled yet: send it.
    New,
    /// Sent and acknowledged already.
    Sent,
    /// Handled without being sent (malformed, too long, refused).
    Skipped,
    /// Recorded as handled, but with other content: the input changed.
    Differs,
}

/// The file's shape: hashes in hex.
#[derive(Serialize, Deserialize)]
struct Stored {
    format: u32,
    input: String,
    acked_below: u64,
    prefix_sha256: String,
    acked: BTreeMap<u64, String>,
    skipped: BTreeSet<u64>,
}

impl Checkpoint {
    /// Nothing handled yet.
    pub fn new(input: &str) -> Checkpoint {
        Checkpoint {
            input: input.to_owned(),
            acked_below: 1,
            prefix: [0; 32],
            acked: BTreeMap::new(),
            skipped: BTreeSet::new(),
        }
    }

    /// Loads `path`, or starts empty if it does not exist. Whether it
    /// matches the input's content is checked while reading the input.
    pub fn load(path: &Path, input: &str) -> Result<Checkpoint, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Checkpoint::new(input));
            }
            Err(e) => return Err(format!("cannot read checkpoint {}: {e}", path.display())),
        };
        let unreadable =
            |why: String| format!("checkpoint {} is not readable: {why}", path.display());
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
        if value.get("format").is_none() && value.get("acked_below").is_some() {
            return Err(format!(
                "checkpoint {} was written by an older tidings and does not record what the lines it covers contained: delete it to send everything again, or point --resume at a new file",
                path.display()
            ));
        }
        let stored: Stored =
            serde_json::from_value(value).map_err(|e| unreadable(e.to_string()))?;
        if stored.format != FORMAT {
            return Err(unreadable(format!(
                "format {} is not the format {FORMAT} this tidings reads",
                stored.format
            )));
        }
        if stored.input != input {
            return Err(format!(
                "checkpoint {} belongs to input `{}`, not `{input}`: use another --resume file",
                path.display(),
                stored.input
            ));
        }
        let digest = |hex: &str| {
            from_hex(hex).ok_or_else(|| unreadable(format!("`{hex}` is not a SHA-256 in hex")))
        };
        let mut acked = BTreeMap::new();
        for (line, hex) in &stored.acked {
            acked.insert(*line, digest(hex)?);
        }
        if stored.acked_below == 0
            || acked
                .keys()
                .next()
                .is_some_and(|&first| first < stored.acked_below)
        {
            return Err(unreadable("its line numbers are inconsistent".into()));
        }
        Ok(Checkpoint {
            input: stored.input,
            acked_below: stored.acked_below,
            prefix: digest(&stored.prefix_sha256)?,
            acked,
            skipped: stored.skipped,
        })
    }

    /// Whether `line` was handled (acknowledged, or skipped as unsendable).
    pub fn is_acked(&self, line: u64) -> bool {
        line < self.acked_below || self.acked.contains_key(&line)
    }

    /// Lines `1..=prefix_lines()` are covered by [`Checkpoint::prefix`].
    pub fn prefix_lines(&self) -> u64 {
        self.acked_below - 1
    }

    /// What to do with line `line` whose bytes hash to `digest`. Lines in
    /// the prefix are checked all at once by [`PrefixCheck`].
    pub fn state(&self, line: u64, digest: &LineDigest) -> LineState {
        let handled = if line < self.acked_below {
            true
        } else {
            match self.acked.get(&line) {
                None => return LineState::New,
                Some(recorded) => recorded == digest,
            }
        };
        match (handled, self.skipped.contains(&line)) {
            (false, _) => LineState::Differs,
            (true, true) => LineState::Skipped,
            (true, false) => LineState::Sent,
        }
    }

    /// Marks `line` (hashing to `digest`) acknowledged and folds the
    /// contiguous prefix.
    pub fn ack(&mut self, line: u64, digest: LineDigest) {
        if line < self.acked_below {
            return;
        }
        self.acked.insert(line, digest);
        while let Some(next) = self.acked.remove(&self.acked_below) {
            self.prefix = chain(&self.prefix, &next);
            self.acked_below += 1;
        }
    }

    /// Marks `line` handled without being sent.
    pub fn skip(&mut self, line: u64, digest: LineDigest) {
        if line >= self.acked_below {
            self.skipped.insert(line);
        }
        self.ack(line, digest);
    }

    /// Writes the checkpoint atomically.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let stored = Stored {
            format: FORMAT,
            input: self.input.clone(),
            acked_below: self.acked_below,
            prefix_sha256: to_hex(&self.prefix),
            acked: self.acked.iter().map(|(l, d)| (*l, to_hex(d))).collect(),
            skipped: self.skipped.clone(),
        };
        let tmp = PathBuf::from(format!("{}.tmp", path.display()));
        let text = serde_json::to_string(&stored).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))
    }
}

/// Hashes the first lines of the input again on resume and compares them
/// with the checkpoint's prefix.
pub struct PrefixCheck {
    lines: u64,
    expected: LineDigest,
    state: LineDigest,
}

/// How the input's first lines compare with a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefixVerdict {
    /// Still reading them, or nothing to check.
    Pending,
    /// The first `lines` lines are the ones the checkpoint describes.
    Matches,
    /// The first `lines` lines differ.
    Differs { lines: u64 },
    /// The input ended after `read` lines, before the `lines` it covers.
    TooShort { lines: u64, read: u64 },
}

impl PrefixCheck {
    pub fn new(checkpoint: &Checkpoint) -> PrefixCheck {
        PrefixCheck {
            lines: checkpoint.prefix_lines(),
            expected: checkpoint.prefix,
            state: [0; 32],
        }
    }

    /// Whether lines of the prefix are still to be read.
    pub fn pending(&self, lines_read: u64) -> bool {
        lines_read < self.lines
    }

    /// Feeds line `number` (lines come in order, from 1).
    pub fn feed(&mut self, number: u64, digest: &LineDigest) -> PrefixVerdict {
        if number > self.lines {
            return PrefixVerdict::Pending;
        }
        self.state = chain(&self.state, digest);
        match number == self.lines {
            false => PrefixVerdict::Pending,
            true if self.state == self.expected => PrefixVerdict::Matches,
            true => PrefixVerdict::Differs { lines: self.lines },
        }
    }

    /// At the end of the input, after `read` lines.
    pub fn at_end(&self, read: u64) -> PrefixVerdict {
        if read < self.lines {
            PrefixVerdict::TooShort {
                lines: self.lines,
                read,
            }
        } else {
            PrefixVerdict::Pending
        }
    }
}

fn chain(previous: &LineDigest, line: &LineDigest) -> LineDigest {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(line);
    hasher.finalize().into()
}

fn to_hex(digest: &LineDigest) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(hex: &str) -> Option<LineDigest> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(line: &str) -> LineDigest {
        Sha256::digest(line.as_bytes()).into()
    }

    #[test]
    fn folds_contiguous_acks() {
        let mut c = Checkpoint::new("x");
        c.ack(2, d("b"));
        c.ack(3, d("c"));
        assert_eq!((c.acked_below, c.acked.len()), (1, 2));
        c.ack(1, d("a"));
        assert_eq!((c.acked_below, c.acked.len()), (4, 0));
        assert!(c.is_acked(3) && !c.is_acked(4));
        let mut in_order = Checkpoint::new("x");
        for (n, line) in [(1, "a"), (2, "b"), (3, "c")] {
            in_order.ack(n, d(line));
        }
        assert_eq!(
            c.prefix, in_order.prefix,
            "the prefix hash ignores ack order"
        );
    }

    #[test]
    fn tells_sent_skipped_new_and_changed_lines() {
        let mut c = Checkpoint::new("x");
        c.ack(1, d("a"));
        c.skip(2, d("broken"));
        c.ack(5, d("e"));
        c.skip(7, d("too long"));
        assert_eq!(c.state(1, &d("a")), LineState::Sent);
        assert_eq!(c.state(2, &d("broken")), LineState::Skipped);
        assert_eq!(c.state(3, &d("c")), LineState::New);
        assert_eq!(c.state(5, &d("e")), LineState::Sent);
        assert_eq!(c.state(5, &d("E")), LineState::Differs);
        assert_eq!(c.state(7, &d("too long")), LineState::Skipped);
    }

    #[test]
    fn the_prefix_check_refuses_other_input() {
        let mut c = Checkpoint::new("x");
        for (n, line) in [(1, "a"), (2, "b")] {
            c.ack(n, d(line));
        }
        let mut same = PrefixCheck::new(&c);
        assert_eq!(same.feed(1, &d("a")), PrefixVerdict::Pending);
        assert_eq!(same.feed(2, &d("b")), PrefixVerdict::Matches);
        assert_eq!(same.feed(3, &d("new")), PrefixVerdict::Pending);
        let mut other = PrefixCheck::new(&c);
        other.feed(1, &d("a"));
        assert_eq!(other.feed(2, &d("B")), PrefixVerdict::Differs { lines: 2 });
        let short = PrefixCheck::new(&c);
        assert_eq!(
            short.at_end(1),
            PrefixVerdict::TooShort { lines: 2, read: 1 }
        );
    }

    #[test]
    fn round_trips_and_refuses_another_input_or_an_old_format() {
        let dir = std::env::temp_dir().join(format!("tidings-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.json");
        let mut c = Checkpoint::load(&path, "a.ndjson").unwrap();
        c.ack(1, d("a"));
        c.ack(5, d("e"));
        c.skip(6, d("f"));
        c.save(&path).unwrap();
        assert_eq!(Checkpoint::load(&path, "a.ndjson").unwrap(), c);
        assert!(
            Checkpoint::load(&path, "b.ndjson")
                .unwrap_err()
                .contains("belongs to")
        );
        std::fs::write(&path, r#"{"input":"a.ndjson","acked_below":51,"acked":[]}"#).unwrap();
        let e = Checkpoint::load(&path, "a.ndjson").unwrap_err();
        assert!(
            e.contains("older tidings") && e.contains("delete it"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
