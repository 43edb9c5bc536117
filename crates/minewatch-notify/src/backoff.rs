//! Jittered exponential backoff with a floor and a ceiling: the wait before retry `n` is
//! `min(retry_min * 2^n, retry_max)`, scaled by a random factor in [0.5, 1.0] so that sinks
//! failing together do not retry in lockstep.

use std::time::Duration;

/// The waits between attempts of one delivery.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The first wait (before jitter).
    min: Duration,
    /// The longest wait (before jitter).
    max: Duration,
    /// xorshift64 state: jitter needs no cryptographic randomness, only decorrelation.
    rng: u64,
}

impl Backoff {
    /// A backoff between `min` and `max`, its jitter seeded by `seed` (nonzero is not required).
    pub fn new(min: Duration, max: Duration, seed: u64) -> Self {
        Backoff {
            min,
            max: max.max(min),
            rng: seed | 1,
        }
    }

    /// The wait before retry number `retry` (0 for the first retry).
    pub fn delay(&mut self, retry: u32) -> Duration {
        let base = self
            .min
            .checked_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(self.max)
            .min(self.max);
        // 0.5 + [0, 0.5): the top 53 bits as a fraction.
        let frac = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        base.mul_f64(0.5 + frac / 2.0)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

/// A seed from the wall clock and a name, so each sink jitters differently.
pub fn seed(name: &str) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    name.bytes()
        .fold(now, |h, b| h.rotate_left(5) ^ u64::from(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_the_floor_to_the_ceiling_with_jitter_of_at_most_half() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(60));
        let mut b = Backoff::new(min, max, 42);
        let mut seen = Vec::new();
        for retry in 0..40 {
            let d = b.delay(retry);
            let base = (min * 2u32.saturating_pow(retry.min(20))).min(max);
            assert!(
                d >= base / 2 && d <= base,
                "retry {retry}: {d:?} vs {base:?}"
            );
            seen.push(d);
        }
        assert!(seen[..3].iter().all(|d| *d <= Duration::from_secs(4)));
        assert!(seen[20..].iter().all(|d| *d >= Duration::from_secs(30)));
        // Jittered: not all ceiling waits are equal.
        let mut late = seen[20..].to_vec();
        late.dedup();
        assert!(late.len() > 2, "{late:?}");
    }
}
