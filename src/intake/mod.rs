//! Capture in two steps, for adapters whose callers run on many threads:
//! an [`Encoder`] (shared, `Send + Sync`) runs the before-send hook and
//! encodes on the capturing thread, a [`SharedBudget`] decides at once
//! whether the queue has room, and whoever holds the [`Core`](crate::Core)
//! hands the encoded event in later with
//! [`Core::admit_reserved`](crate::Core::admit_reserved). The capturing
//! thread never waits for the core.
//!
//! [`Core::capture`](crate::Core::capture) is the one-step form of the
//! same path (the same encoder, the same budget rule).
//!
//! ```
//! use tidings::intake::{Encoded, SharedBudget};
//! use tidings::{Config, Core, Event, Now};
//!
//! let mut core = Core::new(Config::new("phc_key", "https://us.i.posthog.com"), 1).unwrap();
//! let (encoder, budget) = (core.encoder(), SharedBudget::new(core.config()));
//!
//! // On the capturing thread: encode, then reserve room; refusals are exact.
//! let mut staged = Encoded::new();
//! let uuid = encoder.encode(Now::default().wall, Event::new("signup", "user-1"), &mut staged)?;
//! budget.reserve(staged.len())?;
//!
//! // Later, wherever the core lives: admit, publish, release the reservation.
//! core.admit_reserved(Now::default(), &staged)?;
//! budget.admitted(&core, 1, staged.len());
//! assert_eq!(core.stats().pending, 1);
//! # let _ = uuid;
//! # Ok::<(), tidings::CaptureError>(())
//! ```

mod budget;
mod encoder;

pub use budget::SharedBudget;
pub use encoder::{Encoded, Encoder};
