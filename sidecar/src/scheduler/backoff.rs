//! Retry delays: exponential with full jitter; after a `Retry-After`, that long plus the same
//! jitter on top, so calls told to wait the same time do not all come back at the same instant.

use rand::Rng;
use std::time::Duration;

/// The longest we ever wait before a retry, whatever a provider asks for.
const CEILING: Duration = Duration::from_secs(300);

/// Delay before retry number `retry` (0 for the first retry).
pub fn delay(retry: u32, base: Duration, max: Duration, retry_after: Option<Duration>) -> Duration {
    let exp = base
        .saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX))
        .min(max);
    let jitter = Duration::from_nanos(rand::rng().random_range(0..=exp.as_nanos() as u64));
    match retry_after {
        Some(floor) => floor.saturating_add(jitter).min(CEILING),
        None => jitter.min(CEILING),
    }
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
    fn retry_after_is_a_floor_with_jitter_on_top() {
        let base = Duration::from_millis(100);
        let after = Duration::from_secs(3);
        let delays: Vec<Duration> = (0..50)
            .map(|_| delay(0, base, Duration::from_secs(2), Some(after)))
            .collect();
        assert!(
            delays.iter().all(|d| *d >= after && *d <= after + base),
            "{delays:?}"
        );
        // Not in lockstep: 50 calls told to wait 3 s come back at many different times.
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 40, "{} distinct delays", distinct.len());
        let d = delay(
            0,
            Duration::ZERO,
            Duration::ZERO,
            Some(Duration::from_secs(9999)),
        );
        assert_eq!(d, CEILING);
    }
}
