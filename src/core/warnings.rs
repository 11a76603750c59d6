//! Rate-limited drop warnings: the first drop of a reason is reported at
//! once, later ones are summed and reported at most once per interval.

use std::time::Duration;

use crate::notice::Notice;
use crate::stats::DropReason;
use crate::time::Instant;

#[derive(Default, Clone, Copy)]
struct Entry {
    last_emitted: Option<Instant>,
    unreported: u64,
}

pub(super) struct WarningLimiter {
    interval: Duration,
    /// In reason order (a handful of reasons: a sorted `Vec`).
    entries: Vec<(DropReason, Entry)>,
}

impl WarningLimiter {
    pub fn new(interval: Duration) -> Self {
        WarningLimiter {
            interval,
            entries: Vec::new(),
        }
    }

    /// Records `n` drops; returns a warning if one may be emitted now.
    pub fn record(&mut self, reason: DropReason, n: u64, now: Instant) -> Option<Notice> {
        let interval = self.interval;
        let i = match self.entries.binary_search_by_key(&reason, |(r, _)| *r) {
            Ok(i) => i,
            Err(i) => {
                self.entries.insert(i, (reason, Entry::default()));
                i
            }
        };
        let entry = &mut self.entries[i].1;
        entry.unreported += n;
        let due = entry
            .last_emitted
            .is_none_or(|t| now >= t.saturating_add(interval));
        due.then(|| Self::emit(entry, reason, now, interval))
    }

    /// A summed warning whose interval has passed, if any.
    pub fn poll_due(&mut self, now: Instant) -> Option<Notice> {
        let interval = self.interval;
        let (reason, entry) = self.entries.iter_mut().find(|(_, e)| {
            e.unreported > 0
                && e.last_emitted
                    .is_none_or(|t| now >= t.saturating_add(interval))
        })?;
        Some(Self::emit(entry, *reason, now, interval))
    }

    /// When the next summed warning is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.entries
            .iter()
            .map(|(_, e)| e)
            .filter(|e| e.unreported > 0)
            .filter_map(|e| e.last_emitted.map(|t| t.saturating_add(self.interval)))
            .min()
    }

    fn emit(entry: &mut Entry, reason: DropReason, now: Instant, interval: Duration) -> Notice {
        let count = std::mem::take(&mut entry.unreported);
        entry.last_emitted = Some(now);
        Notice::Warning {
            reason,
            count,
            interval,
        }
    }
}
