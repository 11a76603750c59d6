//! Faults injected on demand, drawn from a seed so a run can be repeated
//! (draws happen in request arrival order).

use std::ops::RangeInclusive;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};

/// The fault profile; every rate is a fraction of requests in `0.0..=1.0`.
#[derive(Clone, Debug, PartialEq)]
pub struct Faults {
    pub seed: u64,
    /// Answered with `fail_status`.
    pub fail_rate: f64,
    /// The first this many requests (in arrival order) are answered with
    /// `fail_status`, whatever the draws; the rates apply after them.
    pub fail_first: u64,
    /// Every request in the first this many milliseconds after start is
    /// answered with `fail_status` (an outage of a known length); the
    /// rates apply after it.
    pub fail_for_ms: u64,
    /// A 5xx or 429 (which clients retry), or another 4xx (which they
    /// drop: a client's per-event fates for "rejected by the server").
    pub fail_status: u16,
    /// Answered 429 with `Retry-After: retry_after`.
    pub rate_limit_rate: f64,
    pub retry_after: String,
    /// Bodies larger than this (as received) get 413 (after the other
    /// fates; `Limits::max_body_bytes` applies anyway, before any draw).
    pub max_body_bytes: Option<usize>,
    /// Added to every request, uniformly in this range.
    pub latency_ms: RangeInclusive<u64>,
    /// Connection closed before reading the answer, nothing stored.
    pub drop_connection_rate: f64,
    /// Stored, then the connection is closed: the client cannot know.
    pub lose_answer_rate: f64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            seed: 0,
            fail_rate: 0.0,
            fail_first: 0,
            fail_for_ms: 0,
            fail_status: 503,
            rate_limit_rate: 0.0,
            retry_after: "1".into(),
            max_body_bytes: None,
            latency_ms: 0..=0,
            drop_connection_rate: 0.0,
            lose_answer_rate: 0.0,
        }
    }
}

impl Faults {
    /// Refuses rates outside `0..=1`, rates that add above 1, and a
    /// `fail_status` that is not a 4xx or a 5xx.
    pub fn validate(&self) -> Result<(), String> {
        let rates = [
            ("--fail-rate", self.fail_rate),
            ("--rate-limit-rate", self.rate_limit_rate),
            ("--drop-connection-rate", self.drop_connection_rate),
            ("--lose-answer-rate", self.lose_answer_rate),
        ];
        for (name, rate) in rates {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1, got {rate}"));
            }
        }
        if rates.iter().map(|(_, r)| r).sum::<f64>() > 1.0 + 1e-9 {
            return Err("the fault rates add up to more than 1".into());
        }
        if !(400..=599).contains(&self.fail_status) {
            return Err(format!(
                "--fail-status must be a 5xx, 429 (sent with --retry-after) or another 4xx (a rejection), got {}",
                self.fail_status
            ));
        }
        if self.latency_ms.start() > self.latency_ms.end() {
            return Err("--latency-ms: the range is empty (MIN must be ≤ MAX)".into());
        }
        if *self.latency_ms.end() > 600_000 {
            return Err("--latency-ms: at most 600000 (ten minutes)".into());
        }
        Ok(())
    }
}

/// What happens to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Answer,
    Fail,
    RateLimit,
    DropConnection,
    LoseAnswer,
}

/// One request's draws.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub latency: Duration,
    pub fate: Fate,
}

/// The seeded source of plans.
pub struct FaultDice {
    faults: Faults,
    rng: Mutex<Xoshiro256PlusPlus>,
    /// Requests rolled so far (for `fail_first`).
    rolled: AtomicU64,
    /// When the dice were made, i.e. the collector started (for `fail_for_ms`).
    started: Instant,
}

impl FaultDice {
    pub fn new(faults: Faults) -> Self {
        FaultDice {
            rng: Mutex::new(Xoshiro256PlusPlus::seed_from_u64(faults.seed)),
            rolled: AtomicU64::new(0),
            started: Instant::now(),
            faults,
        }
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Always draws the same two numbers per request, so the sequence of
    /// plans depends only on the seed and the arrival order (the first
    /// `fail_first` requests, and those in the first `fail_for_ms`, fail
    /// whatever they draw).
    pub fn roll(&self) -> Plan {
        let (a, b) = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            (rng.next_u64(), rng.next_u64())
        };
        let (lo, hi) = (
            *self.faults.latency_ms.start(),
            *self.faults.latency_ms.end(),
        );
        let latency = Duration::from_millis(lo + a % (hi - lo + 1));
        let u = (b >> 11) as f64 / (1u64 << 53) as f64;
        let f = &self.faults;
        let mut edge = 0.0;
        let mut next = |rate: f64| {
            edge += rate;
            u < edge
        };
        let early = self.rolled.fetch_add(1, Ordering::Relaxed) < f.fail_first
            || self.started.elapsed() < Duration::from_millis(f.fail_for_ms);
        let fate = if early {
            Fate::Fail
        } else if next(f.drop_connection_rate) {
            Fate::DropConnection
        } else if next(f.fail_rate) {
            Fate::Fail
        } else if next(f.rate_limit_rate) {
            Fate::RateLimit
        } else if next(f.lose_answer_rate) {
            Fate::LoseAnswer
        } else {
            Fate::Answer
        };
        Plan { latency, fate }
    }
}
