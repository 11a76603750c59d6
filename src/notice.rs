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

/// How a flush ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushOutcome {
    /// Every event captured before the flush is delivered or dropped.
    Completed,
    /// The timeout passed with this many of those events still pending.
    TimedOut { pending: u64 },
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
    /// A flush barrier resolved.
    FlushDone { id: FlushId, outcome: FlushOutcome },
    /// The shutdown finished; the core will do nothing more.
    ShutdownDone { outcome: ShutdownOutcome },
}

impl Notice {
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
