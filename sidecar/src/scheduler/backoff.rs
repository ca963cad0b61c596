//! Retry delays: exponential with full jitter, never shorter than the provider's `Retry-After`.

use rand::Rng;
use std::time::Duration;

/// The longest we ever wait before a retry, whatever a provider asks for.
const CEILING: Duration = Duration::from_secs(300);

/// Delay before retry number `retry` (0 for the first retry).
pub fn delay(retry: u32, base: Duration, max: Duration, retry_after: Option<Duration>) -> Duration {
    let exp = base
        .saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX))
        .min(max);
    let jittered = Duration::from_nanos(rand::rng().random_range(0..=exp.as_nanos() as u64));
    jittered.max(retry_after.unwrap_or_default()).min(CEILING)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_stays_under_the_exponential_cap() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        for retry in 0..10 {
            let cap = (base * 2u32.pow(retry)).min(max);
            for _ in 0..50 {
                assert!(delay(retry, base, max, None) <= cap);
            }
        }
    }

    #[test]
    fn retry_after_is_a_floor() {
        let d = delay(
            0,
            Duration::from_millis(1),
            Duration::from_millis(2),
            Some(Duration::from_secs(3)),
        );
        assert_eq!(d, Duration::from_secs(3));
        let d = delay(
            0,
            Duration::ZERO,
            Duration::ZERO,
            Some(Duration::from_secs(9999)),
        );
        assert_eq!(d, CEILING);
    }
}
