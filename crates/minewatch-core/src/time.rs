//! Event time. Internally every instant is milliseconds since the Unix epoch (`i64`); chrono is used
//! only at the edges, to parse payloads and to print alert objects.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// Parses an RFC 3339 timestamp with offset into milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The wall clock, in milliseconds.
pub fn now_millis() -> Millis {
    Utc::now().timestamp_millis()
}

/// Milliseconds to a UTC date-time (clamped to the epoch when out of range).
pub fn to_datetime(ms: Millis) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Milliseconds as RFC 3339 in UTC, with milliseconds.
pub fn format_rfc3339(ms: Millis) -> String {
    to_datetime(ms).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses a duration: `"500ms"`, `"10s"`, `"5m"`, `"2h"`, `"3d"`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. \"10s\", \"5m\", \"2h\""))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        other => {
            return Err(format!(
                "invalid duration unit {other:?} in {s:?}: use ms, s, m, h or d"
            ));
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Serde helper: a duration written as `"10s"` or as a number of seconds.
pub fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(f64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Secs(n) if n.is_finite() && n >= 0.0 => Ok(Duration::from_secs_f64(n)),
        Raw::Secs(n) => Err(serde::de::Error::custom(format!("invalid duration {n}"))),
        Raw::Text(s) => parse_duration(&s).map_err(serde::de::Error::custom),
    }
}

/// A duration in milliseconds, for arithmetic on event time.
pub fn millis(d: Duration) -> Millis {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_with_offset_is_read_as_the_same_instant() {
        let a = parse_rfc3339("2026-11-23T08:00:05+08:00");
        let b = parse_rfc3339("2026-11-23T00:00:05Z");
        assert_eq!(a, b);
        assert!(a.is_some());
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(format_rfc3339(a.unwrap_or(0)), "2026-11-23T00:00:05.000Z");
    }

    #[test]
    fn durations_take_units_or_plain_seconds() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }
}
