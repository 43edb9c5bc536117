//! Local time for the simulator: RFC 3339 timestamps with the configured offset (written by hand,
//! because a batch carries hundreds of them), and the production-shift plan that drives methane,
//! people, power and explosives.

use std::fmt::Write;

/// Milliseconds in a day.
pub(crate) const DAY_MS: i64 = 86_400_000;
/// Milliseconds in a minute.
pub(crate) const MIN_MS: i64 = 60_000;

/// Clamps an offset to whole minutes within ±23:59, the range RFC 3339 can print.
pub(crate) fn normalize_offset(secs: i32) -> i32 {
    let secs = secs.clamp(-86_340, 86_340);
    secs - secs % 60
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m as u32, d as u32)
}

/// Appends `ms` (since the epoch) as RFC 3339 at `offset_secs` east of UTC, with milliseconds only
/// when there are any: `2026-11-23T08:00:05+08:00`. `offset_secs` must be whole minutes.
pub(crate) fn push_ts(out: &mut String, ms: i64, offset_secs: i32) {
    let local = ms + i64::from(offset_secs) * 1000;
    let days = local.div_euclid(DAY_MS);
    let in_day = local.rem_euclid(DAY_MS);
    let (y, mo, d) = civil_from_days(days);
    let secs = in_day / 1000;
    let milli = in_day % 1000;
    let _ = write!(
        out,
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if milli != 0 {
        let _ = write!(out, ".{milli:03}");
    }
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let off = offset_secs.unsigned_abs() / 60;
    let _ = write!(out, "{sign}{:02}:{:02}", off / 60, off % 60);
}

/// The shift plan of a mine: equal shifts from local midnight; every shift but the last of the
/// day produces (coal cutting from half an hour in to three quarters of the shift), the last one is
/// for maintenance. With 8-hour shifts: cutting 00:30–06:00 and 08:30–14:00, maintenance 16:00–24:00.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShiftPlan {
    /// Local time is UTC plus this.
    offset_ms: i64,
    /// Length of one shift.
    pub(crate) shift_ms: i64,
    /// Shifts per day (`DAY_MS / shift_ms`).
    pub(crate) per_day: i64,
    /// Whether the mine produces at all (a suspended or closed mine never cuts coal).
    producing: bool,
}

/// Where an instant falls in the shift plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShiftAt {
    /// Local day number (days since 1970-01-01 in local time).
    pub(crate) day: i64,
    /// Shift of the day, 0 = the one starting at midnight.
    pub(crate) index: i64,
    /// Start of that shift, UTC milliseconds.
    pub(crate) start: i64,
}

/// One tick as the models see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    /// Event time.
    pub(crate) t: i64,
    /// Time since the previous tick (the first tick counts one cadence).
    pub(crate) dt_ms: i64,
    /// Local day number, for day-to-day variation.
    pub(crate) day: i64,
    /// Coal-cutting intensity, 0 to 1.
    pub(crate) cutting: f64,
}

/// How long coal cutting takes to ramp up or down.
const CUT_RAMP_MS: i64 = 30 * MIN_MS;

impl ShiftPlan {
    /// A plan of `shift_hours`-long shifts (8 h unless the hours divide a day into whole minutes
    /// and whole shifts) at `offset_secs` east of UTC.
    pub(crate) fn new(shift_hours: f64, offset_secs: i32, producing: bool) -> ShiftPlan {
        let ms = (shift_hours * 3_600_000.0).round();
        let shift_ms = if ms >= MIN_MS as f64 && ms <= DAY_MS as f64 && (DAY_MS % ms as i64) == 0 {
            ms as i64
        } else {
            8 * 3_600_000
        };
        ShiftPlan {
            offset_ms: i64::from(offset_secs) * 1000,
            shift_ms,
            per_day: DAY_MS / shift_ms,
            producing,
        }
    }

    /// The shift `t` falls in.
    pub(crate) fn at(&self, t: i64) -> ShiftAt {
        let local = t + self.offset_ms;
        let day = local.div_euclid(DAY_MS);
        let index = local.rem_euclid(DAY_MS) / self.shift_ms;
        ShiftAt {
            day,
            index,
            start: self.start(day, index),
        }
    }

    /// UTC start of shift `index` of local day `day`.
    pub(crate) fn start(&self, day: i64, index: i64) -> i64 {
        day * DAY_MS + index * self.shift_ms - self.offset_ms
    }

    /// Whether shift `index` of a day is a production shift (all but the last of the day).
    pub(crate) fn is_production(&self, index: i64) -> bool {
        self.producing && (self.per_day == 1 || index < self.per_day - 1)
    }

    /// Coal-cutting intensity at `t`, 0 (none) to 1 (full), with smooth ramps; zero at midnight.
    pub(crate) fn cutting(&self, t: i64) -> f64 {
        let s = self.at(t);
        if !self.is_production(s.index) {
            return 0.0;
        }
        let o = t - s.start;
        let begin = CUT_RAMP_MS;
        let end = self.shift_ms * 3 / 4 - CUT_RAMP_MS;
        smoothstep((o - begin) as f64 / CUT_RAMP_MS as f64)
            * (1.0 - smoothstep((o - end) as f64 / CUT_RAMP_MS as f64))
    }
}

/// 0 below 0, 1 above 1, a smooth S in between.
pub(crate) fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, FixedOffset, SecondsFormat};

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .unwrap_or(i64::MIN)
    }

    #[test]
    fn timestamps_match_chrono_for_many_instants_and_offsets() {
        let mut r = crate::rng::Rng::new(3);
        for _ in 0..5000 {
            let t = (r.f64() * 4.0e12) as i64 - 5.0e11 as i64;
            let t = if r.f64() < 0.5 { t - t % 1000 } else { t };
            let off = normalize_offset(((r.f64() - 0.5) * 100_000.0) as i32);
            let mut s = String::new();
            push_ts(&mut s, t, off);
            let tz = FixedOffset::east_opt(off).expect("offset");
            let want = DateTime::from_timestamp_millis(t)
                .expect("in range")
                .with_timezone(&tz)
                .to_rfc3339_opts(SecondsFormat::AutoSi, false);
            assert_eq!(s, want);
            assert_eq!(ms(&s), t);
        }
    }

    #[test]
    fn shifts_start_at_local_midnight_eight_and_sixteen() {
        let plan = ShiftPlan::new(8.0, 8 * 3600, true);
        let t = ms("2026-11-23T09:15:00+08:00");
        let s = plan.at(t);
        assert_eq!(s.index, 1);
        assert_eq!(s.start, ms("2026-11-23T08:00:00+08:00"));
        assert_eq!(plan.at(ms("2026-11-23T00:00:00+08:00")).index, 0);
        assert_eq!(plan.at(ms("2026-11-23T23:59:59+08:00")).index, 2);
        assert!(plan.is_production(0) && plan.is_production(1) && !plan.is_production(2));
    }

    #[test]
    fn cutting_runs_in_the_first_six_hours_of_production_shifts_only() {
        let plan = ShiftPlan::new(8.0, 8 * 3600, true);
        let at = |s: &str| plan.cutting(ms(s));
        assert_eq!(at("2026-11-23T00:00:00+08:00"), 0.0);
        assert_eq!(at("2026-11-23T03:00:00+08:00"), 1.0);
        assert_eq!(at("2026-11-23T11:00:00+08:00"), 1.0);
        assert_eq!(at("2026-11-23T07:00:00+08:00"), 0.0);
        assert_eq!(at("2026-11-23T20:00:00+08:00"), 0.0);
        let ramp = at("2026-11-23T00:45:00+08:00");
        assert!(ramp > 0.0 && ramp < 1.0, "{ramp}");
        let suspended = ShiftPlan::new(8.0, 8 * 3600, false);
        assert_eq!(suspended.cutting(ms("2026-11-23T03:00:00+08:00")), 0.0);
    }

    #[test]
    fn odd_shift_lengths_fall_back_to_eight_hours() {
        assert_eq!(ShiftPlan::new(7.0, 0, true).per_day, 3);
        assert_eq!(ShiftPlan::new(6.0, 0, true).per_day, 4);
        assert_eq!(ShiftPlan::new(24.0, 0, true).per_day, 1);
    }
}
