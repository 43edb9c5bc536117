//! Event time. Internally every instant is milliseconds since the Unix epoch (`i64`); chrono is used
//! only at the edges, to parse payloads and to print alert objects.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::Deserializer;
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

/// The longest duration any config key or API field accepts: 100 years (36,500 days). Far beyond
/// any sensible window, yet small enough that event-time arithmetic cannot overflow on it: an
/// `Instant`, a chrono time or an `i64` of milliseconds plus (or times two) this stays in range.
pub const MAX_DURATION: Duration = Duration::from_secs(MAX_DURATION_DAYS * 86_400);

/// [`MAX_DURATION`] in days, as error messages say it.
pub const MAX_DURATION_DAYS: u64 = 36_500;

/// The units a duration may carry, with their length in milliseconds.
const UNITS: [(&str, u64); 6] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("min", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

fn too_long(shown: &str) -> String {
    format!("duration {shown} is longer than the maximum of {MAX_DURATION_DAYS}d (100 years)")
}

/// Parses a duration: `"500ms"`, `"10s"`, `"5m"` (or `"5min"`), `"2h"`, `"3d"`, or a bare number
/// of seconds; fractions such as `"1.5s"` are allowed. Anything negative, not a number, or longer
/// than [`MAX_DURATION`] is an error that quotes the text. Whole numbers are exact; fractions are
/// rounded to the nanosecond.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let unit = unit.trim();
    let Some(&(_, unit_ms)) = UNITS
        .iter()
        .find(|(u, _)| *u == unit || (unit.is_empty() && *u == "s"))
    else {
        return Err(format!(
            "invalid duration unit {unit:?} in {s:?}: use ms, s, m, h or d"
        ));
    };
    let invalid = || format!("invalid duration {s:?}: expected e.g. \"10s\", \"5m\", \"2h\"");
    if num.is_empty() || num.bytes().all(|b| b == b'.') {
        return Err(invalid());
    }
    if num.bytes().all(|b| b.is_ascii_digit()) {
        // Exact: a whole number of units, in integer milliseconds. More digits than a u64 holds
        // is far beyond the ceiling anyway.
        let ms = num
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(unit_ms))
            .ok_or_else(|| too_long(&format!("{s:?}")))?;
        return checked(Duration::from_millis(ms), &format!("{s:?}"));
    }
    let n: f64 = num.parse().map_err(|_| invalid())?;
    from_secs_f64(n * unit_ms as f64 / 1000.0, &format!("{s:?}"))
}

/// `secs` as a duration, or an error naming `shown` when it is negative, not finite, or beyond
/// [`MAX_DURATION`]: the checked form of `Duration::from_secs_f64`, which panics on those.
fn from_secs_f64(secs: f64, shown: &str) -> Result<Duration, String> {
    if secs.is_nan() || secs < 0.0 {
        return Err(format!("invalid duration {shown}: must be a number >= 0"));
    }
    match Duration::try_from_secs_f64(secs) {
        Ok(d) => checked(d, shown),
        Err(_) => Err(too_long(shown)),
    }
}

fn checked(d: Duration, shown: &str) -> Result<Duration, String> {
    if d > MAX_DURATION {
        Err(too_long(shown))
    } else {
        Ok(d)
    }
}

/// Serde helper: a duration written as `"10s"` or as a number of seconds, at most
/// [`MAX_DURATION`]; the error quotes the value (and the deserializer adds the key's place).
pub fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    struct Visitor;

    impl serde::de::Visitor<'_> for Visitor {
        type Value = Duration;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a duration like \"10s\", \"5m\", \"2h\" or a number of seconds")
        }

        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Duration, E> {
            parse_duration(s).map_err(E::custom)
        }

        fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Duration, E> {
            let d = n
                .checked_mul(1000)
                .map(Duration::from_millis)
                .ok_or_else(|| too_long(&n.to_string()))
                .and_then(|d| checked(d, &n.to_string()));
            d.map_err(E::custom)
        }

        fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Duration, E> {
            match u64::try_from(n) {
                Ok(n) => self.visit_u64(n),
                Err(_) => Err(E::custom(format!(
                    "invalid duration {n}: must be a number >= 0"
                ))),
            }
        }

        fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Duration, E> {
            // `{:?}` writes 1e300 as such, where `{}` writes all 301 digits.
            from_secs_f64(n, &format!("{n:?}")).map_err(E::custom)
        }
    }

    d.deserialize_any(Visitor)
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
        assert_eq!(parse_duration("5min"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration(".").is_err());
        assert!(parse_duration("1.2.3s").is_err());
    }

    #[test]
    fn absurd_durations_are_errors_that_quote_the_text_not_panics() {
        for text in [
            "99999999999999999999d",
            "18446744073709551615s",
            "18446744073709551615",
            "36501d",
            "9999999999999999999999999999999999999999.5h",
        ] {
            let e = parse_duration(text).expect_err(text);
            assert!(e.contains(text) && e.contains("36500d"), "{text}: {e}");
        }
        assert_eq!(parse_duration("36500d"), Ok(MAX_DURATION));
        assert_eq!(
            parse_duration("3153600000"),
            Ok(MAX_DURATION),
            "the ceiling in seconds"
        );
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Holder {
        #[serde(deserialize_with = "de_duration")]
        d: Duration,
    }

    fn from_toml(value: &str) -> Result<Duration, String> {
        toml::from_str::<Holder>(&format!("d = {value}"))
            .map(|h| h.d)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn config_values_take_units_or_seconds_and_absurd_ones_are_errors() {
        assert_eq!(from_toml("\"10s\""), Ok(Duration::from_secs(10)));
        assert_eq!(from_toml("300"), Ok(Duration::from_secs(300)));
        assert_eq!(from_toml("0.25"), Ok(Duration::from_millis(250)));
        for bad in [
            "1e300",
            "inf",
            "nan",
            "-1",
            "-0.5",
            "9223372036854775807",
            "\"18446744073709551615s\"",
            "true",
            "[1]",
        ] {
            let e = from_toml(bad).expect_err(bad);
            assert!(e.contains("line 1"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_ceiling_leaves_room_for_event_time_and_instant_arithmetic() {
        let doubled = millis(MAX_DURATION) * 2;
        assert!(now_millis().checked_add(doubled).is_some());
        assert!(
            std::time::Instant::now()
                .checked_add(MAX_DURATION * 2)
                .is_some()
        );
        assert!(
            chrono::TimeDelta::from_std(MAX_DURATION * 2)
                .is_ok_and(|d| Utc::now().checked_add_signed(d).is_some())
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const UNIT_NAMES: [&str; 7] = ["ms", "s", "m", "min", "h", "d", ""];

        fn unit_ms(unit: &str) -> u64 {
            UNITS
                .iter()
                .find(|(u, _)| *u == unit || (unit.is_empty() && *u == "s"))
                .map_or(0, |(_, ms)| *ms)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn any_text_gives_a_duration_or_an_error_never_a_panic(s in any::<String>()) {
                let _ = parse_duration(&s);
            }

            #[test]
            fn text_shaped_like_a_duration_never_panics_and_stays_under_the_ceiling(
                s in "[ ]?[0-9.]{0,30}[ ]?(ms|s|m|min|h|d|x|)[ ]?",
            ) {
                if let Ok(d) = parse_duration(&s) {
                    prop_assert!(d <= MAX_DURATION);
                }
            }

            #[test]
            fn a_whole_number_of_units_round_trips_exactly_up_to_the_ceiling(
                n in prop_oneof![0u64..100_000, any::<u64>()],
                unit in proptest::sample::select(UNIT_NAMES.to_vec()),
            ) {
                let text = format!("{n}{unit}");
                let expected = n.checked_mul(unit_ms(unit)).map(Duration::from_millis).filter(|d| *d <= MAX_DURATION);
                match (parse_duration(&text), expected) {
                    (Ok(d), Some(e)) => prop_assert_eq!(d, e),
                    (Err(msg), None) => prop_assert!(msg.contains(&text), "{}", msg),
                    (got, want) => prop_assert!(false, "{text}: got {got:?}, want {want:?}"),
                }
            }

            #[test]
            fn a_fraction_of_a_unit_is_read_to_the_microsecond(
                x in 0.0f64..1.0e6,
                unit in proptest::sample::select(UNIT_NAMES.to_vec()),
            ) {
                let text = format!("{x}{unit}");
                let want = x * unit_ms(unit) as f64 / 1000.0;
                match parse_duration(&text) {
                    Ok(d) => prop_assert!((d.as_secs_f64() - want).abs() <= want * 1e-12 + 1e-6, "{text}: {d:?}"),
                    Err(e) => prop_assert!(want > MAX_DURATION.as_secs_f64() && e.contains("36500d"), "{text}: {e}"),
                }
            }

            #[test]
            fn any_config_number_gives_a_duration_or_an_error_never_a_panic(
                x in prop_oneof![any::<f64>().prop_map(|x| format!("{x:?}")), any::<i64>().prop_map(|n| n.to_string())],
            ) {
                // TOML writes NaN in lower case.
                let x = x.replace("NaN", "nan");
                if let Ok(d) = from_toml(&x) {
                    prop_assert!(d <= MAX_DURATION);
                }
            }
        }
    }
}
