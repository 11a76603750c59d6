//! The adapter's only reads of the environment: the clocks and a seed.
//! The core takes both as inputs, so they are sampled here and nowhere else.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

use tidings::{Instant, Now, WallTime};

/// Monotonic time measured from when the client started, plus wall time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    #[allow(clippy::disallowed_methods)] // the adapter is where time is read
    pub(crate) fn start() -> Self {
        Clock {
            origin: std::time::Instant::now(),
        }
    }

    /// Both clocks, sampled together, as the core wants them.
    #[allow(clippy::disallowed_methods)] // the adapter is where time is read
    pub(crate) fn now(&self) -> Now {
        Now::new(
            Instant::from_duration(self.origin.elapsed()),
            WallTime::from_system_time(SystemTime::now()),
        )
    }

    /// How long until `at` on this clock (zero if it has passed).
    pub(crate) fn until(&self, at: Instant) -> Duration {
        at.since_origin().saturating_sub(self.origin.elapsed())
    }
}

/// A seed for the core's uuids and jitter, different in every client.
///
/// `RandomState` is seeded by the OS once per process and varies per
/// instance, which is all a uuid v7's random bits need here.
#[allow(clippy::disallowed_methods)] // mixing in the time of day
pub(crate) fn random_seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    let since_epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(since_epoch.as_nanos());
    hasher.write_u32(std::process::id());
    hasher.finish()
}
