//! `sensor_unresponsive` — a face methane point (T1/T0, shearer) that no longer follows the
//! airflow it sits in: judged window by window against its downwind methane neighbour (its return,
//! where it has one), it either does not move while the neighbour varies meaningfully, or reads
//! persistently and clearly lower than it (a face is not cleaner than its own return), for
//! `unresponsive_for`. A wrapped sensor or one moved into fresh air: it reports, low and a little
//! noisy, but does not sense. Major. Resolves after one window in which it tracks again.
//!
//! Per window of `unresponsive_window`, each reading of the point is paired with its neighbour's
//! latest reading, and the window keeps, for both, the lowest and highest value and the sum (so
//! the mean): O(1) per reading, 24 bytes a point. A window is judged when the first reading past
//! its end arrives, which opens the next; it is **not following** when the neighbour's range is at
//! least `unresponsive_range` while the point's is below `unresponsive_ratio` of it, and **lower**
//! when the point's mean is at least `unresponsive_gap` below the neighbour's and under half of it.
//!
//! What it leaves to others: a point that varies less than `flat_epsilon` is the flat-sensor
//! kind's (such a window is not judged here); a wide gap held for minutes is the neighbour-gap
//! kind's (0.8 %). Readings in
//! calibration or with a fault status restart the window; a neighbour that is silent (older than
//! `silent_after`), calibrating or faulty pairs with nothing, and a window with fewer than
//! [`MIN_PAIRS`] pairs is not judged.
//!
//! While active, each further failing window updates the alert (its figures, the run of windows
//! and the point's value then), so its value follows the point window by window.

use super::{KindRule, MineState, PointState, STATUS_CALIBRATION, STATUS_FAULT, fmt_value, ts};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::registry::{AreaKind, Idx, Location, MineDef, PointKind};
use minewatch_core::time::Millis;
use serde_json::json;

crate::params! {
    /// The window the point and its downwind neighbour are compared over.
    unresponsive_window: Duration = mins(10), "duration";
    /// How long (in whole windows, rounded up) the point must fail to follow.
    unresponsive_for: Duration = mins(30), "duration";
    /// The neighbour's range in a window that counts as meaningful variation.
    unresponsive_range: Number = 0.2, "% CH4";
    /// The point's range, as a share of its neighbour's, below which it does not follow.
    unresponsive_ratio: Number = 0.25, "ratio";
    /// How far the point's mean must stay below its downwind neighbour's (and under half of it).
    unresponsive_gap: Number = 0.2, "% CH4";
    /// A methane point that varies less than this in a window is a flat sensor, judged by the
    /// kind that declares this key too, not here.
    flat_epsilon: Number = 0.005, "% CH4";
    /// Readings further apart than this say nothing about the pair (a key another kind declares too).
    silent_after: Duration = secs(120), "duration";
}

/// Fewer paired readings than this in a window say nothing.
pub const MIN_PAIRS: u16 = 3;

/// Values are kept in thousandths of a percent (0 to 65.535 % CH4, clamped).
const SCALE: f64 = 1000.0;

/// What this kind keeps per point: the current window and the run of failing windows. Values in
/// thousandths of a percent and times in epoch seconds, so a point costs 24 bytes.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, packed)]
pub struct Slot {
    /// Start of the current window, epoch seconds (0: none open).
    pub win: u32,
    /// Sums of the point's and its neighbour's paired readings in the window.
    pub sum: u32,
    pub nb_sum: u32,
    /// Lowest and highest paired readings of the point and of its neighbour in the window.
    pub lo: u16,
    pub hi: u16,
    pub nb_lo: u16,
    pub nb_hi: u16,
    /// Paired readings in the window.
    pub n: u16,
    /// Consecutive windows in which the point failed to follow (saturating).
    pub failing: u8,
    /// The alert is raised.
    pub active: bool,
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::SensorUnresponsive;
    const SUBJECT: SubjectType = SubjectType::Point;
    const SEVERITY: Severity = Severity::Major;
    const DESCRIPTION: &'static str = "A face methane point that no longer follows its downwind neighbour on the same airflow: it does not move with it, or reads persistently lower than its own return";
    type Params = Params;
    crate::slots!(point = Slot);

    fn on_reading(m: &mut MineState, p: &Params, i: Idx, at: Millis, out: &mut Vec<Change>) {
        if let Some(nb) = neighbour(&m.def, i) {
            on_reading(m, p, i, nb, at, out);
        }
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let Some(i) = m.def.point(&a.subject) else {
            return false;
        };
        m.points[i as usize].kinds.sensor_unresponsive.active = true;
        true
    }
}

/// The downwind methane neighbour point `i` is judged against, if `i` is a face methane point:
/// its return where it has one, else its first methane point downwind.
fn neighbour(def: &MineDef, i: Idx) -> Option<Idx> {
    let point = &def.points[i as usize];
    if point.kind != PointKind::Ch4 {
        return None;
    }
    let face = match point.location {
        Some(l) => matches!(
            l,
            Location::CoalFace | Location::UpperCorner | Location::Heading | Location::Shearer
        ),
        None => matches!(
            def.areas[point.area as usize].kind,
            AreaKind::CoalFace | AreaKind::Heading
        ),
    };
    if !face {
        return None;
    }
    let down = &def.downwind[i as usize];
    let ch4 = |d: &&Idx| def.points[**d as usize].kind == PointKind::Ch4;
    let ret = |d: &&Idx| {
        matches!(
            def.points[**d as usize].location,
            Some(Location::CoalFaceReturn | Location::HeadingReturn)
        )
    };
    down.iter()
        .filter(ch4)
        .find(ret)
        .or_else(|| down.iter().find(ch4))
        .copied()
}

fn q(v: f64) -> u16 {
    (v.clamp(0.0, 65.535) * SCALE).round() as u16
}

fn secs(at: Millis) -> u32 {
    (at / 1000).clamp(1, u32::MAX as i64) as u32
}

/// What one finished window says.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    /// Too few pairs, or the point flat: nothing.
    Void,
    Follows,
    /// It failed: (does not move with its neighbour, reads persistently lower).
    Fails(bool, bool),
}

fn judge(s: &Slot, p: &Params) -> Verdict {
    if s.n < MIN_PAIRS {
        return Verdict::Void;
    }
    let range = f64::from(s.hi - s.lo) / SCALE;
    if range < p.flat_epsilon {
        return Verdict::Void;
    }
    let nb_range = f64::from(s.nb_hi - s.nb_lo) / SCALE;
    let (mean, nb_mean) = means(s);
    let still = nb_range >= p.unresponsive_range && range < p.unresponsive_ratio * nb_range;
    let lower = nb_mean - mean >= p.unresponsive_gap && mean < nb_mean / 2.0;
    if still || lower {
        Verdict::Fails(still, lower)
    } else {
        Verdict::Follows
    }
}

fn means(s: &Slot) -> (f64, f64) {
    let n = f64::from(s.n.max(1)) * SCALE;
    (f64::from(s.sum) / n, f64::from(s.nb_sum) / n)
}

/// Point `i` has a new reading at `at`; `nb` is its downwind neighbour.
fn on_reading(m: &mut MineState, p: &Params, i: Idx, nb: Idx, at: Millis, out: &mut Vec<Change>) {
    let (own, other) = (m.points[i as usize], m.points[nb as usize]);
    let st = &mut m.points[i as usize].kinds.sensor_unresponsive;
    if own.status & (STATUS_CALIBRATION | STATUS_FAULT) != 0 {
        // Test gas or a fault is not the air: start afresh after it.
        st.win = 0;
        if !st.active {
            st.failing = 0;
        }
        return;
    }
    let window = p.unresponsive_window.max(1000);
    if st.win != 0 {
        let age = at - i64::from(st.win) * 1000;
        if age >= window {
            let done = *st;
            *st = Slot {
                failing: st.failing,
                active: st.active,
                ..Slot::default()
            };
            // A window that ran far past its end had a gap in the data: not judged.
            let verdict = if age < 2 * window {
                judge(&done, p)
            } else {
                Verdict::Void
            };
            conclude(m, p, i, nb, &done, verdict, at, out);
        }
    }
    let st = &mut m.points[i as usize].kinds.sensor_unresponsive;
    if st.win == 0 {
        st.win = secs(at);
    }
    if !usable(&other, p, at) {
        return;
    }
    let (v, w) = (q(own.value), q(other.value));
    if st.n == 0 {
        (st.lo, st.hi, st.nb_lo, st.nb_hi) = (v, v, w, w);
    } else {
        (st.lo, st.hi) = (st.lo.min(v), st.hi.max(v));
        (st.nb_lo, st.nb_hi) = (st.nb_lo.min(w), st.nb_hi.max(w));
    }
    st.sum = st.sum.saturating_add(u32::from(v));
    st.nb_sum = st.nb_sum.saturating_add(u32::from(w));
    st.n = st.n.saturating_add(1);
}

/// Whether the neighbour's latest reading says something about the air at `at`.
fn usable(s: &PointState, p: &Params, at: Millis) -> bool {
    s.last_seen != 0
        && s.status & (STATUS_CALIBRATION | STATUS_FAULT) == 0
        && at - s.last_seen <= p.silent_after
}

/// Acts on the verdict of the window `done` of point `i`, finished at `at`.
#[allow(clippy::too_many_arguments)]
fn conclude(
    m: &mut MineState,
    p: &Params,
    i: Idx,
    nb: Idx,
    done: &Slot,
    verdict: Verdict,
    at: Millis,
    out: &mut Vec<Change>,
) {
    let window = p.unresponsive_window.max(1000);
    let st = &mut m.points[i as usize].kinds.sensor_unresponsive;
    match verdict {
        Verdict::Void => {
            if !st.active {
                st.failing = 0;
            }
        }
        Verdict::Follows => {
            st.failing = 0;
            if st.active {
                st.active = false;
                emit(m, p, ChangeOp::Resolve, i, nb, done, verdict, at, out);
            }
        }
        Verdict::Fails(..) => {
            st.failing = st.failing.saturating_add(1);
            // The alert counts this window too.
            let done = &Slot {
                failing: st.failing,
                ..*done
            };
            // The run is counted in a u8: at most 255 windows are ever needed.
            let needed = ((p.unresponsive_for.max(1) + window - 1) / window).min(255);
            if st.active {
                // Still not following: the alert takes this window's figures and the value now.
                emit(m, p, ChangeOp::Update, i, nb, done, verdict, at, out);
            } else if i64::from(st.failing) >= needed {
                st.active = true;
                emit(m, p, ChangeOp::Raise, i, nb, done, verdict, at, out);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn emit(
    m: &MineState,
    p: &Params,
    op: ChangeOp,
    i: Idx,
    nb: Idx,
    w: &Slot,
    verdict: Verdict,
    at: Millis,
    out: &mut Vec<Change>,
) {
    let (point, other) = (&m.def.points[i as usize], &m.def.points[nb as usize]);
    let unit = point.kind.unit();
    let s = m.point_subject(Kind::SensorUnresponsive, i);
    let (mean, nb_mean) = means(w);
    let (lo, hi, nb_lo, nb_hi) = (
        f64::from(w.lo) / SCALE,
        f64::from(w.hi) / SCALE,
        f64::from(w.nb_lo) / SCALE,
        f64::from(w.nb_hi) / SCALE,
    );
    let (still, lower) = match verdict {
        Verdict::Fails(a, b) => (a, b),
        _ => (false, false),
    };
    let minutes = p.unresponsive_window / 60_000;
    let message = if op == ChangeOp::Resolve {
        format!(
            "{} at {} ({}) follows its downwind neighbour {} again",
            point.kind.label(),
            point.id,
            m.place(s.area_name),
            other.id
        )
    } else {
        let how = match (still, lower) {
            (true, true) => "does not move with it and reads persistently lower",
            (true, false) => "does not move with it",
            _ => "reads persistently lower than it",
        };
        format!(
            "{} at {} ({}) no longer follows its downwind neighbour {}: it {how} — over {} windows of {minutes} min it read {}–{} (mean {}) while {} read {}–{} (mean {}); is it wrapped or moved into fresh air?",
            point.kind.label(),
            point.id,
            m.place(s.area_name),
            other.id,
            w.failing.max(1),
            fmt_value(lo, unit),
            fmt_value(hi, unit),
            fmt_value(mean, unit),
            other.id,
            fmt_value(nb_lo, unit),
            fmt_value(nb_hi, unit),
            fmt_value(nb_mean, unit),
        )
    };
    let since = at - i64::from(w.failing.max(1)) * p.unresponsive_window;
    let (n, failing) = (w.n, w.failing);
    let evidence = json!({
        "neighbour": &*other.id,
        "mean": mean, "min": lo, "max": hi, "range": hi - lo,
        "neighbour_mean": nb_mean, "neighbour_min": nb_lo, "neighbour_max": nb_hi,
        "neighbour_range": nb_hi - nb_lo,
        "readings": n, "does_not_move": still, "persistently_lower": lower,
        "window_start": ts(i64::from(w.win) * 1000), "window_s": p.unresponsive_window / 1000,
        "windows": failing, "since": ts(since), "ts": ts(at),
    });
    let v = m.points[i as usize].value;
    out.push(m.change(op, s, Severity::Major, message, Some(v), None, at, evidence));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::{Change, Kind};

    /// P1 (the face) and P2 (its return) every 10 s from `from` to `to` seconds, each value a
    /// function of the second.
    fn run(
        m: &mut crate::kinds::MineState,
        from: i64,
        to: i64,
        face: impl Fn(i64) -> f64,
        ret: impl Fn(i64) -> f64,
    ) -> Vec<Change> {
        let mut all = Vec::new();
        for s in (from..to).step_by(10) {
            all.extend(feed(m, &safety(at(s), &[("P1", face(s), 0), ("P2", ret(s), 0)])));
        }
        all
    }

    /// A little noise of ±`a`, repeating every minute.
    fn jitter(s: i64, a: f64) -> f64 {
        a * [0.0, 1.0, -1.0, 0.5, -0.5, 0.0][((s / 10) % 6) as usize]
    }

    /// A return that swings over `range` every 10 minutes (a work pass).
    fn swinging(s: i64, base: f64, range: f64) -> f64 {
        let x = (s % 600) as f64 / 600.0;
        base + range * (1.0 - (2.0 * x - 1.0).abs())
    }

    #[test]
    fn a_face_pinned_low_under_a_busy_return_is_raised_after_three_windows_and_resolves() {
        let mut m = mine();
        // The case: the face reads 0.05 ± 0.02 while its return reads ~0.5 and follows.
        let c = run(&mut m, 0, 1800, |s| 0.05 + jitter(s, 0.02), |s| swinging(s, 0.4, 0.2));
        assert!(ops(&c, Kind::SensorUnresponsive).is_empty(), "two windows are not enough");
        let c = run(&mut m, 1800, 1810, |s| 0.05 + jitter(s, 0.02), |s| swinging(s, 0.4, 0.2));
        assert_eq!(ops(&c, Kind::SensorUnresponsive), vec![("raise", "P1".into())]);
        let raised = c
            .iter()
            .find(|c| c.kind == Kind::SensorUnresponsive)
            .expect("raised");
        assert_eq!(raised.evidence["neighbour"], "P2");
        assert_eq!(raised.evidence["does_not_move"], true);
        assert_eq!(raised.evidence["persistently_lower"], true);
        assert!(raised.message.contains("no longer follows"), "{}", raised.message);
        assert_eq!(raised.evidence["windows"], 3, "the three failing windows");
        // Nothing else: not flat, and the gap never reaches neighbour_mismatch's 0.8.
        assert!(ops(&c, Kind::Flatline).is_empty() && ops(&c, Kind::NeighbourMismatch).is_empty());
        // Another window pinned, now at 0.1: the alert follows (an update with the new value and
        // four windows), nothing before the window ends.
        let c = run(&mut m, 1810, 2400, |s| 0.1 + jitter(s, 0.02), |s| swinging(s, 0.4, 0.2));
        assert!(ops(&c, Kind::SensorUnresponsive).is_empty());
        let c = run(&mut m, 2400, 2410, |s| 0.1 + jitter(s, 0.02), |s| swinging(s, 0.4, 0.2));
        assert_eq!(ops(&c, Kind::SensorUnresponsive), vec![("update", "P1".into())]);
        let updated = c.iter().find(|c| c.kind == Kind::SensorUnresponsive).expect("updated");
        assert_eq!(updated.value, Some(0.1));
        assert_eq!(updated.evidence["windows"], 4);
        // It tracks again: resolved at the end of the next whole window.
        let c = run(&mut m, 2410, 3000, |s| swinging(s, 0.37, 0.2), |s| swinging(s, 0.4, 0.2));
        assert!(ops(&c, Kind::SensorUnresponsive).is_empty());
        let c = run(&mut m, 3000, 3010, |s| swinging(s, 0.37, 0.2), |s| swinging(s, 0.4, 0.2));
        assert_eq!(ops(&c, Kind::SensorUnresponsive), vec![("resolve", "P1".into())]);
    }

    #[test]
    fn a_point_that_follows_its_return_is_never_raised() {
        let mut m = mine();
        let c = run(
            &mut m,
            0,
            4 * 3600,
            |s| swinging(s, 0.33, 0.2) + jitter(s, 0.01),
            |s| swinging(s, 0.36, 0.2) + jitter(s, 0.005),
        );
        assert!(ops(&c, Kind::SensorUnresponsive).is_empty());
    }

    #[test]
    fn not_moving_is_judged_against_the_range_and_ratio_thresholds() {
        // The return swings by 0.21 (over the 0.2 range) while the face moves by 0.05 (under a
        // quarter): raised. Both stay close, so only the "does not move" test can fail.
        let mut m = mine();
        let c = run(&mut m, 0, 1810, |s| 0.40 + jitter(s, 0.025), |s| swinging(s, 0.35, 0.21));
        assert_eq!(ops(&c, Kind::SensorUnresponsive), vec![("raise", "P1".into())]);
        assert_eq!(c.last().map(|c| c.evidence["persistently_lower"].clone()), Some(false.into()));
        // The return swings by 0.19 only: not meaningful variation.
        let mut m = mine();
        let c = run(&mut m, 0, 3610, |s| 0.40 + jitter(s, 0.025), |s| swinging(s, 0.35, 0.19));
        assert!(ops(&c, Kind::SensorUnresponsive).is_empty());
        // The face moves by 0.054, over a quarter of 0.21: it follows.
        let mut m = mine();
        let c = run(&mut m, 0, 3610, |s| 0.40 + jitter(s, 0.027), |s| swinging(s, 0.35, 0.21));
        assert!(ops(&c, Kind::SensorUnresponsive).is_empty());
    }

    #[test]
    fn reading_lower_is_judged_against_the_gap_and_half_of_the_neighbour() {
        // A flat return (no variation to follow) and a face below it by `gap`, at `half`.
        let case = |face: f64, ret: f64| {
            let mut m = mine();
            let c = run(&mut m, 0, 3610, |s| face + jitter(s, 0.01), |s| ret + jitter(s, 0.01));
            // Raised once, then updated window by window while it stays lower.
            let mut ops = ops(&c, Kind::SensorUnresponsive);
            ops.retain(|(op, _)| *op != "update");
            ops
        };
        // 0.21 below and under half: raised; 0.19 below: not enough.
        assert_eq!(case(0.15, 0.36), vec![("raise", "P1".into())]);
        assert!(case(0.17, 0.36).is_empty());
        // Far below and just under half of it (0.34 vs 0.7): raised; just over half (0.36 vs
        // 0.7, 0.34 below): a real gradient, not a dead sensor.
        assert_eq!(case(0.34, 0.70), vec![("raise", "P1".into())]);
        assert!(case(0.36, 0.70).is_empty());
    }

    #[test]
    fn the_failure_must_last_the_whole_duration() {
        // Lower for two windows, following in the third, lower again for two: never three in a row.
        let mut m = mine();
        let low = |s: i64| 0.05 + jitter(s, 0.02);
        let ok = |s: i64| 0.33 + jitter(s, 0.02);
        let mut all = run(&mut m, 0, 1200, low, |s| 0.4 + jitter(s, 0.01));
        all.extend(run(&mut m, 1200, 1800, ok, |s| 0.4 + jitter(s, 0.01)));
        all.extend(run(&mut m, 1800, 3010, low, |s| 0.4 + jitter(s, 0.01)));
        assert!(ops(&all, Kind::SensorUnresponsive).is_empty());
        // A shorter duration is rounded up to whole windows: 25 minutes needs three.
        let mut p = crate::kinds::RulesConfig::default();
        p.sensor_unresponsive.unresponsive_for = 25 * 60_000;
        let mut m = mine();
        let mut all = Vec::new();
        for s in (0..1810).step_by(10) {
            let b = safety(at(s), &[("P1", low(s), 0), ("P2", 0.4 + jitter(s, 0.01), 0)]);
            let c = feed_with(&mut m, &p, &b);
            if s < 1800 {
                assert!(ops(&c, Kind::SensorUnresponsive).is_empty(), "at {s}");
            }
            all.extend(c);
        }
        assert_eq!(ops(&all, Kind::SensorUnresponsive), vec![("raise", "P1".into())]);
    }

    #[test]
    fn calibration_a_silent_neighbour_and_a_flat_point_are_not_judged() {
        let low = |s: i64| 0.05 + jitter(s, 0.02);
        // The face calibrating in every window restarts it.
        let mut m = mine();
        for s in (0..3600).step_by(10) {
            let status = if s % 500 == 0 { 4 } else { 0 };
            let c = feed(&mut m, &safety(at(s), &[("P1", low(s), status), ("P2", 0.4, 0)]));
            assert!(ops(&c, Kind::SensorUnresponsive).is_empty(), "at {s}");
        }
        // The return silent: nothing to pair with.
        let mut m = mine();
        feed(&mut m, &safety(at(0), &[("P2", 0.4, 0)]));
        for s in (10..3600).step_by(10) {
            let c = feed(&mut m, &safety(at(s), &[("P1", low(s), 0)]));
            assert!(ops(&c, Kind::SensorUnresponsive).is_empty(), "at {s}");
        }
        // A flat face is flatline's.
        let mut m = mine();
        let c = run(&mut m, 0, 3610, |_| 0.05, |s| swinging(s, 0.4, 0.2));
        assert!(ops(&c, Kind::SensorUnresponsive).is_empty());
        assert_eq!(ops(&c, Kind::Flatline), vec![("raise", "P1".into())]);
    }

    #[test]
    fn only_face_points_are_judged_an_intake_is_cleaner_than_its_face() {
        // P0 (intake, upwind of the face P1) reads far below it and barely moves: legitimate.
        let mut m = mine();
        for s in (0..3610).step_by(10) {
            let b = safety(
                at(s),
                &[("P0", 0.05 + jitter(s, 0.01), 0), ("P1", swinging(s, 0.35, 0.25), 0), ("P2", swinging(s, 0.38, 0.25), 0)],
            );
            assert!(ops(&feed(&mut m, &b), Kind::SensorUnresponsive).is_empty(), "at {s}");
        }
    }

    #[test]
    fn a_restored_alert_resolves_when_the_point_follows_again() {
        let mut m = mine();
        let a = stored(Kind::SensorUnresponsive, "P1", Some("A1"));
        assert!(<super::Rule as super::KindRule>::restore(&mut m, &a));
        let c = run(&mut m, 0, 610, |s| swinging(s, 0.37, 0.2), |s| swinging(s, 0.4, 0.2));
        assert_eq!(ops(&c, Kind::SensorUnresponsive), vec![("resolve", "P1".into())]);
    }
}
