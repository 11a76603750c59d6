//! Room in the queue, decided at once on the capturing thread.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use crate::config::Config;
use crate::core::{CaptureError, Core};

/// Set in `staged.events` once nothing more is accepted.
const CLOSED: usize = 1 << (usize::BITS - 1);

/// The queue budget (`max_queue_events`, `max_queue_bytes`) shared between
/// capturing threads and the thread that holds the [`Core`].
///
/// It counts what the core holds (as last published under the core's
/// lock) plus what was reserved and not yet admitted, and never lets the
/// sum pass the budget: a reservation that fits is kept, one that does not
/// is refused as [`CaptureError::QueueFull`]. Two threads racing for the
/// last room may both be refused; the budget is never exceeded by
/// reservations.
///
/// Protocol, for whoever holds the core:
/// 1. admit reserved events with [`Core::admit_reserved`];
/// 2. then call [`SharedBudget::admitted`] with how many events and bytes
///    that was (it publishes the core's counts first, then releases);
/// 3. after anything else that changes what the core holds (answers,
///    drops, metering), call [`SharedBudget::publish`].
///
/// Events the core creates itself (metering) are checked against the
/// core's own counts only, so the core may briefly hold up to the events
/// reserved at that moment beyond the budget.
#[derive(Debug)]
pub struct SharedBudget {
    max_events: usize,
    max_bytes: usize,
    held: CacheLine<Pair>,
    /// Reserved and not yet admitted; `events` has [`CLOSED`] as its top bit.
    staged: CacheLine<Pair>,
}

/// Written by different threads: one cache line each, so publishing what
/// the core holds does not slow down reserving.
#[derive(Debug, Default)]
#[repr(align(128))]
struct CacheLine<T>(T);

#[derive(Debug, Default)]
struct Pair {
    events: AtomicUsize,
    bytes: AtomicUsize,
}

impl SharedBudget {
    /// The budget of `config` (the core's, once validated).
    pub fn new(config: &Config) -> Self {
        SharedBudget {
            max_events: config.max_queue_events,
            max_bytes: config.max_queue_bytes,
            held: CacheLine::default(),
            staged: CacheLine::default(),
        }
    }

    /// Reserves room for one event of `len` bytes, or refuses it: the
    /// queue is full, or [`SharedBudget::close`] was called.
    pub fn reserve(&self, len: usize) -> Result<(), CaptureError> {
        let full = CaptureError::QueueFull {
            max_events: self.max_events,
            max_bytes: self.max_bytes,
        };
        // Compare-and-swap, so even a reservation that fails never shows
        // in `reserved()` beyond the budget. What the core holds is read
        // inside the loop: a holder publishes before it releases, so an
        // admitted event is counted once or twice, never zero times.
        let staged = &self.staged.0;
        let mut shut = false;
        let events = staged.events.fetch_update(SeqCst, SeqCst, |events| {
            shut = events & CLOSED != 0;
            let held = self.held.0.events.load(SeqCst).saturating_add(events);
            (!shut && held < self.max_events).then_some(events + 1)
        });
        if shut {
            return Err(CaptureError::ShutDown);
        }
        events.map_err(|_| full.clone())?;
        let bytes = staged.bytes.fetch_update(SeqCst, SeqCst, |bytes| {
            let held = self.held.0.bytes.load(SeqCst).saturating_add(bytes);
            (held.saturating_add(len) <= self.max_bytes).then_some(bytes + len)
        });
        if bytes.is_err() {
            staged.events.fetch_sub(1, SeqCst);
            return Err(full);
        }
        Ok(())
    }

    /// Gives back a reservation that will not be admitted.
    pub fn release(&self, events: usize, bytes: usize) {
        self.staged.0.bytes.fetch_sub(bytes, SeqCst);
        self.staged.0.events.fetch_sub(events, SeqCst);
    }

    /// After `events` reserved events of `bytes` bytes were admitted into
    /// `core`: publishes its counts, then releases their reservations.
    pub fn admitted(&self, core: &Core, events: usize, bytes: usize) {
        self.publish(core);
        if events > 0 {
            self.release(events, bytes);
        }
    }

    /// Publishes what `core` holds now. Call it under the core's lock.
    pub fn publish(&self, core: &Core) {
        // Written only when changed: capturing threads read these lines.
        for (held, now) in [
            (&self.held.0.events, core.pending()),
            (&self.held.0.bytes, core.pending_bytes()),
        ] {
            if held.load(SeqCst) != now {
                held.store(now, SeqCst);
            }
        }
    }

    /// Refuses every later reservation as [`CaptureError::ShutDown`].
    /// Reservations made before stay valid: admit them before shutting
    /// the core down (wait until [`SharedBudget::reserved`] is zero).
    pub fn close(&self) {
        self.staged.0.events.fetch_or(CLOSED, SeqCst);
    }

    /// Whether [`SharedBudget::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.staged.0.events.load(SeqCst) & CLOSED != 0
    }

    /// Events and bytes reserved and not yet admitted or released.
    pub fn reserved(&self) -> (usize, usize) {
        let events = self.staged.0.events.load(SeqCst) & !CLOSED;
        (events, self.staged.0.bytes.load(SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::Encoded;
    use crate::{Event, Now};

    fn config(max_events: usize) -> Config {
        let mut config = Config::new("phc_key", "https://ingest.example.com");
        config.max_queue_events = max_events;
        config
    }

    #[test]
    fn reservations_and_the_core_share_one_budget() {
        let mut core = Core::new(config(3), 1).unwrap();
        let budget = SharedBudget::new(core.config());
        core.capture(Now::default(), Event::new("e", "u")).unwrap();
        budget.publish(&core);
        budget.reserve(10).unwrap();
        budget.reserve(10).unwrap();
        assert!(matches!(
            budget.reserve(10),
            Err(CaptureError::QueueFull { .. })
        ));
        assert_eq!(budget.reserved(), (2, 20));
        // Admitting moves them from reserved to held: still full.
        let mut staged = Encoded::new();
        let encoder = core.encoder();
        encoder
            .encode(Now::default().wall, Event::new("e", "u"), &mut staged)
            .unwrap();
        core.admit_reserved(Now::default(), &staged).unwrap();
        budget.admitted(&core, 1, 10);
        assert_eq!(budget.reserved(), (1, 10));
        assert!(budget.reserve(1).is_err());
        budget.close();
        assert_eq!(budget.reserve(1), Err(CaptureError::ShutDown));
        assert_eq!(budget.reserved(), (1, 10));
    }

    #[test]
    fn bytes_are_budgeted_too() {
        let mut config = config(100);
        config.max_queue_bytes = 1_000;
        config.max_event_bytes = 1_000;
        let core = Core::new(config, 1).unwrap();
        let budget = SharedBudget::new(core.config());
        budget.reserve(600).unwrap();
        assert!(budget.reserve(600).is_err());
        budget.reserve(400).unwrap();
        assert_eq!(budget.reserved(), (2, 1_000));
    }
}
