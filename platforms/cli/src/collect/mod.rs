//! `tidings collect`: a local development collector that speaks PostHog v0,
//! PostHog v1 and plain JSON, validates every body, stores events in SQLite
//! and injects faults on demand. Whatever the faults, [`Limits`] bound what
//! clients can make it hold and how long it waits for them.
//!
//! ```no_run
//! use tidings_cli::collect::{Collector, CollectorOptions};
//! let collector = Collector::start(CollectorOptions::default()).unwrap();
//! println!("send to http://{}", collector.addr());
//! ```

mod faults;
mod limits;
mod server;
mod stats;
mod store;
mod validate;

pub use faults::{Fate, FaultDice, Faults, Plan};
pub use limits::Limits;
pub use server::{Collector, CollectorOptions};
pub use stats::CollectorStats;
pub use store::{EventRow, Store, Stored};
pub use validate::{HeaderLookup, ReceivedEvent, ValidBatch, Wire, validate};
