//! How much a collector holds at once and how long it waits for a slow
//! client: the hard limits that protect it, as opposed to the faults it
//! injects on purpose.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// The collector's resource limits.
///
/// Memory: at most `max_buffered_bytes` of request bodies are held at once,
/// across all connections (a body waits for room before it is read, and
/// TCP flow control holds the client meanwhile); at most
/// `max_concurrent_work` bodies are gunzipped, validated and stored at once,
/// each inflating to at most `max_decoded_bytes` (and parsed one event at a
/// time). Requests refused by these limits draw no faults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body, as received (compressed or not). A larger
    /// `Content-Length` gets 413 without the body being read; a chunked body
    /// gets 413 as soon as it passes the limit. 20 MiB by default, about
    /// the 20 MB PostHog's `/batch/` accepts (as its maintainers state in
    /// PostHog/posthog-php#110).
    pub max_body_bytes: usize,
    /// Largest body once gunzipped; a body inflating past it (a gzip bomb)
    /// gets 413.
    pub max_decoded_bytes: usize,
    /// Request body bytes held at once across all connections (counted by
    /// `Content-Length`, or `max_body_bytes` while a chunked body is read).
    /// At least `max_body_bytes`.
    pub max_buffered_bytes: usize,
    /// Bodies gunzipped, validated and stored at once, off the threads that
    /// serve connections.
    pub max_concurrent_work: usize,
    /// A connection must send a request's headers within this, counted from
    /// its opening or from the end of its previous request (so it also
    /// closes idle keep-alive connections).
    pub header_read_timeout: Duration,
    /// A request waits at most this long for room in `max_buffered_bytes`
    /// (then 503 with `Retry-After`), and its body must then arrive within
    /// this (then 408).
    pub body_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 20 * MIB,
            max_decoded_bytes: 20 * MIB,
            max_buffered_bytes: 64 * MIB,
            max_concurrent_work: 2,
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// Refuses limits that could never let a request through.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_body_bytes == 0 || self.max_decoded_bytes == 0 {
            return Err("the body limits must be above 0".into());
        }
        if self.max_buffered_bytes < self.max_body_bytes {
            return Err(format!(
                "max_buffered_bytes ({}) must be at least max_body_bytes ({}): a largest body could never be read",
                self.max_buffered_bytes, self.max_body_bytes
            ));
        }
        if kib(self.max_buffered_bytes) > Semaphore::MAX_PERMITS {
            return Err("max_buffered_bytes is too large".into());
        }
        if self.max_concurrent_work == 0 {
            return Err("max_concurrent_work must be at least 1".into());
        }
        if self.header_read_timeout.is_zero() || self.body_read_timeout.is_zero() {
            return Err("the read timeouts must be above 0".into());
        }
        Ok(())
    }
}

/// Whole KiB holding `bytes`.
fn kib(bytes: usize) -> usize {
    bytes.div_ceil(KIB)
}

/// `max_buffered_bytes`, as a semaphore of KiB permits (a fair one: a
/// large body first in line is not overtaken by small ones).
pub(super) struct BodyBudget {
    permits: Arc<Semaphore>,
    total_kib: usize,
    /// KiB held by reservations (the semaphore's count also includes
    /// permits handed to the first waiter before it has them all).
    held_kib: Arc<AtomicUsize>,
}

impl BodyBudget {
    pub(super) fn new(max_buffered_bytes: usize) -> Self {
        let total_kib = kib(max_buffered_bytes);
        BodyBudget {
            permits: Arc::new(Semaphore::new(total_kib)),
            total_kib,
            held_kib: Arc::default(),
        }
    }

    fn held(&self, permit: tokio::sync::OwnedSemaphorePermit) -> Reservation {
        self.held_kib
            .fetch_add(permit.num_permits(), Ordering::Relaxed);
        Reservation {
            permit,
            held_kib: self.held_kib.clone(),
        }
    }

    /// Room for `bytes` at once, if there is some now.
    pub(super) fn try_reserve(&self, bytes: usize) -> Option<Reservation> {
        let n = u32::try_from(kib(bytes)).ok()?;
        let permit = self.permits.clone().try_acquire_many_owned(n).ok()?;
        Some(self.held(permit))
    }

    /// Room for `bytes`, once there is some (`bytes` is at most the total,
    /// as `Limits::validate` makes sure).
    pub(super) async fn reserve(&self, bytes: usize) -> Reservation {
        let n = u32::try_from(kib(bytes).min(self.total_kib)).unwrap_or(u32::MAX);
        let permit = self
            .permits
            .clone()
            .acquire_many_owned(n)
            .await
            .expect("the budget's semaphore is never closed");
        self.held(permit)
    }

    /// Bytes reserved now.
    pub(super) fn reserved(&self) -> u64 {
        (self.held_kib.load(Ordering::Relaxed) * KIB) as u64
    }
}

/// Room for one body; given back when dropped.
pub(super) struct Reservation {
    permit: tokio::sync::OwnedSemaphorePermit,
    held_kib: Arc<AtomicUsize>,
}

impl Reservation {
    /// Gives back what `bytes` does not need.
    pub(super) fn shrink_to(&mut self, bytes: usize) {
        let keep = kib(bytes);
        let held = self.permit.num_permits();
        if keep < held {
            self.held_kib.fetch_sub(held - keep, Ordering::Relaxed);
            drop(self.permit.split(held - keep));
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.held_kib
            .fetch_sub(self.permit.num_permits(), Ordering::Relaxed);
    }
}
