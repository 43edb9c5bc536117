//! How Rust values become column values and back: timestamps as fixed-width RFC 3339 UTC text,
//! seqs as SQL integers.

use crate::StoreError;
use chrono::{DateTime, SecondsFormat, Utc};

/// A timestamp as stored: RFC 3339 in UTC with nanoseconds. Always the same width (for years
/// 0–9999), so comparing the text compares the instants, and reading it back is lossless.
pub(crate) fn time_text(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// The wall clock as stored.
pub(crate) fn now_text() -> String {
    time_text(&Utc::now())
}

/// Reads a stored timestamp back.
pub(crate) fn parse_time(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp {s:?}: {e}")))
}

/// A seq as a SQL integer.
pub(crate) fn seq_to_sql(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::SeqOutOfRange(seq))
}

/// A stored seq back as a `u64`.
pub(crate) fn seq_from_sql(seq: i64) -> Result<u64, StoreError> {
    u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("negative seq {seq}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn stored_timestamps_read_back_exactly_and_sort_as_text() {
        let a = Utc
            .timestamp_opt(1_795_000_000, 123_456_789)
            .single()
            .expect("valid instant");
        let b = Utc
            .timestamp_opt(1_795_000_001, 0)
            .single()
            .expect("valid instant");
        assert_eq!(parse_time(&time_text(&a)).expect("parses"), a);
        assert_eq!(time_text(&a).len(), time_text(&b).len());
        assert!(time_text(&a) < time_text(&b));
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn seqs_beyond_sql_integers_are_refused() {
        assert_eq!(seq_to_sql(7).expect("fits"), 7);
        assert!(matches!(
            seq_to_sql(u64::MAX),
            Err(StoreError::SeqOutOfRange(_))
        ));
        assert!(matches!(seq_from_sql(-1), Err(StoreError::Corrupt(_))));
    }
}
