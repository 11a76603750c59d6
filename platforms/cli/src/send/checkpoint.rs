//! `--resume FILE`: which input lines the endpoint acknowledged, kept on
//! disk so an interrupted import continues without re-sending them.
//!
//! The file is JSON: `{"input": "...", "acked_below": N, "acked": [...]}`:
//! every line below `acked_below` and every line in `acked` arrived. It is
//! replaced atomically (write, then rename), so a kill never corrupts it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    /// The input it belongs to, as given on the command line.
    pub input: String,
    /// Lines `1..acked_below` are all acknowledged.
    pub acked_below: u64,
    /// Acknowledged lines at or above `acked_below`.
    pub acked: BTreeSet<u64>,
}

impl Checkpoint {
    /// Loads `path`, or starts empty if it does not exist.
    pub fn load(path: &Path, input: &str) -> Result<Checkpoint, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let c: Checkpoint = serde_json::from_str(&text)
                    .map_err(|e| format!("checkpoint {} is not readable: {e}", path.display()))?;
                if c.input != input {
                    return Err(format!(
                        "checkpoint {} belongs to input `{}`, not `{input}`: use another --resume file",
                        path.display(),
                        c.input
                    ));
                }
                Ok(c)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Checkpoint {
                input: input.to_owned(),
                acked_below: 1,
                acked: BTreeSet::new(),
            }),
            Err(e) => Err(format!("cannot read checkpoint {}: {e}", path.display())),
        }
    }

    pub fn is_acked(&self, line: u64) -> bool {
        line < self.acked_below || self.acked.contains(&line)
    }

    /// Marks `line` acknowledged and folds the contiguous prefix.
    pub fn ack(&mut self, line: u64) {
        if line < self.acked_below {
            return;
        }
        self.acked.insert(line);
        while self.acked.remove(&self.acked_below) {
            self.acked_below += 1;
        }
    }

    /// Writes the checkpoint atomically.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let tmp = PathBuf::from(format!("{}.tmp", path.display()));
        let text = serde_json::to_string(self).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_contiguous_acks() {
        let mut c = Checkpoint {
            input: "x".into(),
            acked_below: 1,
            acked: BTreeSet::new(),
        };
        c.ack(2);
        c.ack(3);
        assert_eq!((c.acked_below, c.acked.len()), (1, 2));
        c.ack(1);
        assert_eq!((c.acked_below, c.acked.len()), (4, 0));
        assert!(c.is_acked(3) && !c.is_acked(4));
    }

    #[test]
    fn round_trips_and_refuses_another_input() {
        let dir = std::env::temp_dir().join(format!("tidings-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.json");
        let mut c = Checkpoint::load(&path, "a.ndjson").unwrap();
        c.ack(1);
        c.ack(5);
        c.save(&path).unwrap();
        assert_eq!(Checkpoint::load(&path, "a.ndjson").unwrap(), c);
        assert!(
            Checkpoint::load(&path, "b.ndjson")
                .unwrap_err()
                .contains("belongs to")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
