//! What the core tells the adapter besides requests and deadlines.

use std::time::Duration;

use uuid::Uuid;

use crate::stats::DropReason;
use crate::transmit::RequestId;

/// Identifies one [`crate::Core::flush`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlushId(pub(crate) u64);

impl FlushId {
    /// A number for this id, unique per core (for adapters that hand it
    /// across a boundary, e.g. to JavaScript).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// Identifies one delivery window ([`crate::Core::open_window`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WindowId(pub(crate) u64);

impl WindowId {
    /// A number for this id, unique per core (for adapters that hand it
    /// across a boundary).
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// The id behind a number from [`WindowId::as_u64`]; an id the core
    /// never issued is simply unknown to it.
    pub fn from_u64(n: u64) -> Self {
        WindowId(n)
    }
}

/// Identifies one spill ([`crate::Core::poll_spill`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpillId(pub(crate) u64);

impl SpillId {
    /// A number for this id, unique per core.
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// The id behind a number from [`SpillId::as_u64`].
    pub fn from_u64(n: u64) -> Self {
        SpillId(n)
    }
}

/// How a delivery window ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowOutcome {
    /// Everything captured before the window opened is delivered or dropped.
    pub completed: bool,
    /// Events captured before it opened that are still pending, handed
    /// over to a window that stays open longer.
    pub handed_over: u64,
    /// Events dropped as `drain_budget` because this window was the last
    /// one open when it ended.
    pub dropped: u64,
}

/// How a flush ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushOutcome {
    /// Every event captured before the flush is delivered or dropped:
    /// `resolved` of them were still pending when it was called.
    Completed { resolved: u64 },
    /// The timeout passed with `pending` of those events still pending;
    /// `resolved` were delivered or dropped by then.
    TimedOut { resolved: u64, pending: u64 },
}

impl FlushOutcome {
    /// Whether every event the flush covered was resolved.
    pub fn is_completed(&self) -> bool {
        matches!(self, FlushOutcome::Completed { .. })
    }
}

/// How a shutdown ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownOutcome {
    /// Nothing was left pending before the deadline.
    Drained,
    /// The deadline passed; this many events were dropped as `shutdown_deadline`.
    DeadlineReached { dropped: u64 },
}

/// An output of the core, drained with [`crate::Core::poll_notice`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// The server acknowledged these events.
    Delivered {
        request: RequestId,
        uuids: Vec<Uuid>,
    },
    /// These accepted events were dropped. (Events refused by `capture`
    /// are reported by its return value instead.)
    Dropped {
        reason: DropReason,
        uuids: Vec<Uuid>,
    },
    /// Drops happened: at most one per reason per `warning_interval`, with
    /// the count since the previous warning for that reason. Meant for logs.
    Warning {
        reason: DropReason,
        count: u64,
        interval: Duration,
    },
    /// These events went to the durable queue in spill `id`
    /// ([`crate::Core::spilled`] confirmed it).
    Spilled { id: SpillId, uuids: Vec<Uuid> },
    /// A flush barrier resolved.
    FlushDone { id: FlushId, outcome: FlushOutcome },
    /// The shutdown finished; the core will do nothing more.
    ShutdownDone { outcome: ShutdownOutcome },
    /// A delivery window ended; its adapter may stop driving it.
    WindowClosed {
        id: WindowId,
        outcome: WindowOutcome,
    },
}

/// What became of one accepted event: a receipt's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Fate {
    /// Not resolved yet (only ever an answer to a poll).
    Pending,
    /// The server acknowledged it.
    Delivered,
    /// Dropped, for this reason.
    Dropped(DropReason),
    /// Handed to a durable queue that delivers it later
    /// ([`crate::Config::spill`]).
    Spilled,
}

impl Fate {
    /// Whether it is resolved (delivered or dropped).
    pub fn is_final(&self) -> bool {
        !matches!(self, Fate::Pending)
    }
}

impl Notice {
    /// The events this notice resolves, and how: for receipts.
    ///
    /// ```
    /// # use tidings::{DropReason, Fate, Notice, Uuid};
    /// let notice = Notice::Dropped { reason: DropReason::Expired, uuids: vec![Uuid::nil()] };
    /// let (fate, uuids) = notice.resolved().expect("it resolves events");
    /// assert_eq!((fate, uuids.len()), (Fate::Dropped(DropReason::Expired), 1));
    /// ```
    pub fn resolved(&self) -> Option<(Fate, &[Uuid])> {
        match self {
            Notice::Delivered { uuids, .. } => Some((Fate::Delivered, uuids)),
            Notice::Dropped { reason, uuids } => Some((Fate::Dropped(*reason), uuids)),
            Notice::Spilled { uuids, .. } => Some((Fate::Spilled, uuids)),
            _ => None,
        }
    }

    /// A one-line message for a log, for warnings.
    pub fn log_message(&self) -> Option<String> {
        match self {
            Notice::Warning { reason, count, .. } => Some(format!(
                "tidings dropped {count} event{} ({reason})",
                if *count == 1 { "" } else { "s" }
            )),
            _ => None,
        }
    }
}
