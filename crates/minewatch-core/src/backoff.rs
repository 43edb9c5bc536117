//! Jittered exponential backoff with a floor and a ceiling: the one policy of every retry loop in
//! minewatch (the MQTT reconnect, the alert writer's store retries, notification retries, the
//! simulator's reconnect).
//!
//! The wait before retry `n` (0 for the first) is `min(floor * 2^n, ceiling)`, scaled by a random
//! factor in [0.5, 1.0] and never below the floor. The jitter keeps many clients that failed
//! together (every sink when the network drops, every instance when the broker restarts) from
//! retrying in lockstep; the floor keeps a first retry from hammering; the ceiling keeps a
//! returning peer from waiting long to be tried again.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::time::Duration;

/// The waits between the attempts of one retry loop.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The shortest wait, and the first retry's.
    floor: Duration,
    /// The longest wait.
    ceiling: Duration,
    /// Retries since the last [`reset`](Backoff::reset), for [`next_delay`](Backoff::next_delay).
    attempt: u32,
    /// xorshift64 state: jitter needs decorrelation, not cryptographic randomness.
    rng: u64,
}

impl Backoff {
    /// A backoff between `floor` and `ceiling` (a ceiling below the floor is the floor), its
    /// jitter seeded differently in every process and for every backoff.
    pub fn new(floor: Duration, ceiling: Duration) -> Self {
        // std's RandomState is keyed from the OS's randomness once per process, and each new one
        // differs from the last; the clock separates processes that share a key by chance.
        let mut h = RandomState::new().build_hasher();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        h.write_u128(now);
        Self::seeded(floor, ceiling, h.finish())
    }

    /// Like [`new`](Backoff::new), with the jitter drawn from `seed`: the same seed gives the same
    /// waits (the simulator replays a seed; tests check bounds).
    pub fn seeded(floor: Duration, ceiling: Duration, seed: u64) -> Self {
        Backoff {
            floor,
            ceiling: ceiling.max(floor),
            attempt: 0,
            // xorshift's one forbidden state is 0.
            rng: seed | 1,
        }
    }

    /// The wait before retry number `retry` (0 for the first retry), for a caller that counts
    /// its own attempts.
    pub fn delay(&mut self, retry: u32) -> Duration {
        let base = self
            .floor
            .checked_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(self.ceiling)
            .min(self.ceiling);
        // 0.5 + [0, 0.5): the top 53 bits as a fraction.
        let frac = (self.next_random() >> 11) as f64 / (1u64 << 53) as f64;
        base.mul_f64(0.5 + frac / 2.0).max(self.floor)
    }

    /// The wait before the next retry; each call counts one more retry until
    /// [`reset`](Backoff::reset).
    pub fn next_delay(&mut self) -> Duration {
        let d = self.delay(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    /// Back to the floor, after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_the_floor_to_the_ceiling_with_jitter_of_at_most_half() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(60));
        let mut b = Backoff::seeded(min, max, 42);
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

    #[test]
    fn backoff_grows_with_jitter_between_floor_and_ceiling() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let delays: Vec<_> = (0..10).map(|_| b.next_delay()).collect();
        assert!(
            delays
                .iter()
                .all(|d| *d >= Duration::from_millis(100) && *d <= Duration::from_secs(2)),
            "{delays:?}"
        );
        assert!(delays[6] > delays[0], "{delays:?}");
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn no_wait_is_below_the_floor_or_above_the_ceiling_however_many_retries() {
        let (floor, ceiling) = (Duration::from_millis(50), Duration::from_secs(5));
        for seed in 0..50 {
            let mut b = Backoff::seeded(floor, ceiling, seed);
            for _ in 0..100 {
                let d = b.next_delay();
                assert!(d >= floor && d <= ceiling, "seed {seed}: {d:?}");
            }
        }
        // A ceiling below the floor is the floor.
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_millis(1));
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn the_same_seed_gives_the_same_waits_and_two_new_backoffs_differ() {
        let waits = |seed| {
            let mut b = Backoff::seeded(Duration::from_millis(10), Duration::from_secs(60), seed);
            (0..20).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(waits(7), waits(7));
        let fresh = || {
            let mut b = Backoff::new(Duration::from_millis(10), Duration::from_secs(60));
            (0..20).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_ne!(fresh(), fresh(), "two backoffs jitter independently");
    }
}
