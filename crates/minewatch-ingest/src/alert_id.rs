//! Alert ids: ULIDs (26 characters of Crockford base32: 48 bits of milliseconds, then 80 random
//! bits) from the `ulid` crate's monotonic generator.
//!
//! Why ULIDs, and from that crate:
//! - sortable by time: the millisecond comes first, so ids sort by when the alert was raised;
//! - unique across instances sharing a store: 80 bits drawn from the OS's randomness per
//!   millisecond (the former hand-made ids had a 16-bit per-process salt, which two instances
//!   could share);
//! - strictly increasing within the writer, even within one millisecond or when the clock steps
//!   back: the generator then increments the previous id instead of drawing a new one;
//! - the same shape as every id stored before, so old and new ids sort together (ids are opaque
//!   strings to everything but this file). UUIDv7 would also do, but its text form differs from
//!   the ids already stored.

use std::time::{Duration, UNIX_EPOCH};
use ulid::Generator;

/// Makes the ids of the alerts one writer raises.
#[derive(Debug, Default)]
pub struct AlertIds {
    /// Remembers the last id, so the next one is greater.
    generator: Generator,
}

impl AlertIds {
    /// A generator that has made no id yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of an alert raised at wall time `ms` (Unix milliseconds): greater than every id
    /// this generator made before.
    pub fn next(&mut self, ms: i64) -> String {
        let at = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
        let id = match self.generator.generate_from_datetime(at) {
            Ok(id) => id,
            // 2^80 ids in one millisecond: carry into the time bits rather than fail.
            Err(overflow) => overflow.commit_overflow_increment(),
        };
        id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minewatch_core::time::now_millis;

    #[test]
    fn ids_are_26_chars_and_sort_by_time_then_by_the_order_they_were_made() {
        let mut ids = AlertIds::new();
        let a = ids.next(1_795_392_000_000);
        let b = ids.next(1_795_392_000_000);
        let c = ids.next(1_795_392_000_001);
        assert_eq!(a.len(), 26);
        assert!(a < b && b < c, "{a} {b} {c}");
        assert!(a.starts_with("01M82V7M"), "{a}");
    }

    #[test]
    fn an_id_made_after_the_clock_stepped_back_is_still_greater() {
        let mut ids = AlertIds::new();
        let now = now_millis();
        let a = ids.next(now);
        let b = ids.next(now - 60_000);
        assert!(a < b, "{a} {b}");
    }

    #[test]
    fn two_writers_in_the_same_millisecond_make_different_ids() {
        let now = now_millis();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            assert!(seen.insert(AlertIds::new().next(now)), "a repeated id");
        }
    }

    #[test]
    fn a_new_id_sorts_after_one_stored_by_earlier_versions_at_an_earlier_time() {
        // The largest id the former hand-written encoder could make for 2026-11-23T00:00:00Z
        // (every seq and salt bit set).
        let stored = "01M82V7M00ZZZZZZZZZZZZZZZZ";
        assert!(AlertIds::new().next(1_795_392_000_001).as_str() > stored);
    }
}
