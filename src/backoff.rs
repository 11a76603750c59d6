//! Exponential backoff with seeded jitter.

use std::time::Duration;

use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::Rng;

use crate::config::RetryPolicy;

/// The wait after the `attempts_made`-th failed attempt (1 = first failure):
/// `initial * 2^(n-1)`, scaled by `1 ± jitter`, never above `max_backoff`.
pub(crate) fn backoff_delay(
    policy: &RetryPolicy,
    attempts_made: u32,
    rng: &mut Xoshiro256PlusPlus,
) -> Duration {
    let exponent = attempts_made.saturating_sub(1).min(32);
    let base = policy
        .initial_backoff
        .saturating_mul(1u32 << exponent.min(31))
        .min(policy.max_backoff);
    // A uniform draw in [-1, 1).
    let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
    let factor = 1.0 + policy.jitter * unit;
    // try_from: a huge max_backoff times the factor must not overflow.
    Duration::try_from_secs_f64(base.as_secs_f64() * factor.max(0.0))
        .unwrap_or(policy.max_backoff)
        .min(policy.max_backoff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_xoshiro::rand_core::SeedableRng;

    #[test]
    fn an_absurd_maximum_does_not_overflow() {
        let policy = RetryPolicy {
            max_backoff: Duration::MAX,
            initial_backoff: Duration::MAX / 2,
            ..Default::default()
        };
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        for n in 1..70 {
            assert!(backoff_delay(&policy, n, &mut rng) <= Duration::MAX);
        }
    }

    #[test]
    fn grows_exponentially_within_jitter_and_cap() {
        let policy = RetryPolicy::default();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        for n in 1..40 {
            let d = backoff_delay(&policy, n, &mut rng);
            let nominal = policy
                .initial_backoff
                .saturating_mul(1 << (n - 1).min(31))
                .min(policy.max_backoff);
            assert!(d <= policy.max_backoff);
            assert!(d >= nominal.mul_f64(1.0 - policy.jitter), "{n}: {d:?}");
            assert!(d <= nominal.mul_f64(1.0 + policy.jitter), "{n}: {d:?}");
        }
    }
}
