//! `flatline` — a methane point in a coal_face, heading or return_airway area that varied less
//! than `flat_epsilon` over `flat_window`: a wrapped sensor or one moved into still air reads
//! "fine" but dead. Major. Resolves when it varies again. Never updated: while it is active the
//! point's value cannot move more than `flat_epsilon` without resolving it, so there is nothing
//! for the alert's value to follow.
//!
//! The window is tracked as a band (lowest and highest value since the band began); a reading
//! outside the band starts a new one. That keeps the state to three numbers a point, where a true
//! sliding window would keep every reading of the last 30 minutes.

use super::{KindRule, MineState, STATUS_CALIBRATION, STATUS_FAULT, fmt_value, ts, widen};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::registry::{AreaKind, Idx, PointKind};
use minewatch_core::time::Millis;
use serde_json::json;

crate::params! {
    /// The least variation of a face methane point over the window: 0.005 % CH4, below the
    /// resolution of most methane sensors' noise.
    flat_epsilon: Number = 0.005, "% CH4";
    /// The window.
    flat_window: Duration = mins(30), "duration";
}

/// What this kind keeps per point: the band of values since `flat_since` (0: no band yet). The
/// band is `f32`: sensors report three significant decimals, and the band is judged against
/// `flat_epsilon` in the same precision it is kept in.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, packed)]
pub struct Slot {
    pub flat_lo: f32,
    pub flat_hi: f32,
    pub flat_since: Millis,
    pub flat_active: bool,
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::Flatline;
    const SUBJECT: SubjectType = SubjectType::Point;
    const SEVERITY: Severity = Severity::Major;
    const DESCRIPTION: &'static str =
        "A face, heading or return methane point whose value barely varies for a long time: wrapped, moved or dead";
    type Params = Params;
    crate::slots!(point = Slot);

    fn on_reading(m: &mut MineState, p: &Params, i: Idx, at: Millis, out: &mut Vec<Change>) {
        on_reading(m, p, i, at, out);
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let Some(i) = m.def.point(&a.subject) else {
            return false;
        };
        m.points[i as usize].kinds.flatline.flat_active = true;
        true
    }
}

fn applies(m: &MineState, i: Idx) -> bool {
    let p = &m.def.points[i as usize];
    p.kind == PointKind::Ch4
        && matches!(
            m.def.areas[p.area as usize].kind,
            AreaKind::CoalFace | AreaKind::Heading | AreaKind::ReturnAirway
        )
}

/// Evaluates point `i` after its reading at `at`.
fn on_reading(m: &mut MineState, p: &Params, i: Idx, at: Millis, out: &mut Vec<Change>) {
    if !applies(m, i) {
        return;
    }
    let st = &mut m.points[i as usize];
    let v = st.value;
    if st.status & (STATUS_CALIBRATION | STATUS_FAULT) != 0 {
        // Test gas or a fault is not the air: start the band afresh after it.
        st.kinds.flatline.flat_since = 0;
        return;
    }
    let v32 = v as f32;
    let f = &mut st.kinds.flatline;
    if f.flat_since == 0 {
        (f.flat_lo, f.flat_hi, f.flat_since) = (v32, v32, at.max(1));
    } else {
        let (lo, hi) = (f.flat_lo.min(v32), f.flat_hi.max(v32));
        if f64::from(hi - lo) < p.flat_epsilon {
            (f.flat_lo, f.flat_hi) = (lo, hi);
        } else {
            let (was_lo, was_hi, was_since) = (f.flat_lo, f.flat_hi, f.flat_since);
            (f.flat_lo, f.flat_hi, f.flat_since) = (v32, v32, at.max(1));
            if f.flat_active {
                f.flat_active = false;
                emit(
                    m,
                    p,
                    ChangeOp::Resolve,
                    i,
                    (was_lo.min(v32), was_hi.max(v32), was_since),
                    at,
                    out,
                );
            }
            return;
        }
    }
    let f = m.points[i as usize].kinds.flatline;
    if !f.flat_active && at - f.flat_since >= p.flat_window {
        m.points[i as usize].kinds.flatline.flat_active = true;
        emit(
            m,
            p,
            ChangeOp::Raise,
            i,
            (f.flat_lo, f.flat_hi, f.flat_since),
            f.flat_since + p.flat_window,
            out,
        );
    }
}

fn emit(
    m: &MineState,
    p: &Params,
    op: ChangeOp,
    i: Idx,
    band: (f32, f32, Millis),
    at: Millis,
    out: &mut Vec<Change>,
) {
    let point = &m.def.points[i as usize];
    let unit = point.kind.unit();
    let s = m.point_subject(Kind::Flatline, i);
    let (lo, hi, since) = (widen(band.0), widen(band.1), band.2);
    let message = if op == ChangeOp::Resolve {
        format!(
            "{} at {} ({}) varies again",
            point.kind.label(),
            point.id,
            m.place(s.area_name)
        )
    } else {
        format!(
            "{} at {} ({}) has varied less than {} for {} min ({}–{}): a wrapped, moved or dead sensor?",
            point.kind.label(),
            point.id,
            m.place(s.area_name),
            fmt_value(p.flat_epsilon, unit),
            p.flat_window / 60_000,
            fmt_value(lo, unit),
            fmt_value(hi, unit)
        )
    };
    let v = m.points[i as usize].value;
    let evidence = json!({
        "value": v, "min": lo, "max": hi, "range": hi - lo, "epsilon": p.flat_epsilon,
        "since": ts(since), "window_s": p.flat_window / 1000, "ts": ts(at),
    });
    out.push(m.change(op, s, Severity::Major, message, Some(v), None, at, evidence));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::Kind;

    #[test]
    fn a_face_sensor_stuck_for_thirty_minutes_is_flagged_and_clears_when_it_varies() {
        let mut m = mine();
        let mut all = Vec::new();
        for s in (0..=1800).step_by(10) {
            let c = feed(
                &mut m,
                &safety(
                    at(s),
                    &[
                        ("P0", 0.05 + (s % 20) as f64 / 1000.0, 0),
                        ("P1", 0.42, 0),
                        ("P2", 0.45 + (s % 30) as f64 / 1000.0, 0),
                    ],
                ),
            );
            all.extend(c);
        }
        assert_eq!(
            ops(&all, Kind::Flatline),
            vec![("raise", "P1".into())],
            "only P1 (P0 is intake, P2 varies)"
        );
        // The band is kept as f32; the evidence gives the values as they were sent.
        let raised = all.iter().find(|c| c.kind == Kind::Flatline).expect("raised");
        assert_eq!(raised.evidence["min"], 0.42);
        assert_eq!(raised.evidence["max"], 0.42);
        let c = feed(&mut m, &safety(at(1810), &[("P1", 0.43, 0)]));
        assert_eq!(ops(&c, Kind::Flatline), vec![("resolve", "P1".into())]);
    }

    #[test]
    fn small_real_variation_is_not_flat() {
        let mut m = mine();
        for s in (0..=3600).step_by(10) {
            let v = 0.40 + if (s / 10) % 2 == 0 { 0.0 } else { 0.006 };
            let c = feed(&mut m, &safety(at(s), &[("P1", v, 0)]));
            assert!(ops(&c, Kind::Flatline).is_empty(), "at {s}");
        }
    }

    #[test]
    fn a_band_just_under_epsilon_is_flat_and_just_over_is_not() {
        // flat_epsilon is 0.005: a band of 0.0049 is flat, 0.0051 is not (f32 band included).
        for (step, flat) in [(0.0049, true), (0.0051, false)] {
            let mut m = mine();
            let mut all = Vec::new();
            for s in (0..=1800).step_by(10) {
                let v = 0.731 + if (s / 10) % 2 == 0 { 0.0 } else { step };
                all.extend(feed(&mut m, &safety(at(s), &[("P1", v, 0)])));
            }
            let raised = !ops(&all, Kind::Flatline).is_empty();
            assert_eq!(raised, flat, "band {step}");
        }
    }

    #[test]
    fn calibration_restarts_the_window() {
        let mut m = mine();
        for s in (0..=1200).step_by(10) {
            feed(&mut m, &safety(at(s), &[("P1", 0.42, 0)]));
        }
        feed(&mut m, &safety(at(1210), &[("P1", 2.0, 4)]));
        for s in (1220..=2400).step_by(10) {
            let c = feed(&mut m, &safety(at(s), &[("P1", 0.42, 0)]));
            assert!(ops(&c, Kind::Flatline).is_empty(), "at {s}");
        }
    }
}
