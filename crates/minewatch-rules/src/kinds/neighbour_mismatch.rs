//! `neighbour_mismatch` — a methane point and its `upwind` neighbour on the same airflow differ by
//! `mismatch_delta` or more for `mismatch_for`: one of them is not sensing (the T1 that read 0.00
//! while its T2 read 1.93). The subject is the lower one. Major. Resolves when the gap stays
//! below half the delta for `mismatch_clear_for`. While active, updated when the gap or the lower
//! point's value (the alert's value) moves a tenth of `mismatch_delta` from what was last
//! published, either way (while it waits to resolve, too), so the alert follows the pair; judged
//! at the downwind point's readings, once per batch.
//!
//! The pair's state lives on the downwind point. Readings in calibration or with a fault status,
//! or older than `silent_after` relative to each other, say nothing about the pair. What an
//! active alert last published is kept for the mine, by downwind point, for active pairs only:
//! the per-point state stays as small as it is.

use super::{KindRule, MineState, PointState, Remap, STATUS_CALIBRATION, STATUS_FAULT, fmt_value, ts};
use crate::timed::{Step, Timed};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::registry::{Idx, MineDef, PointKind};
use minewatch_core::time::Millis;
use serde_json::{Value, json};
use std::collections::HashMap;

crate::params! {
    /// The gap between a methane point and its upwind neighbour.
    mismatch_delta: Number = 0.8, "% CH4";
    /// How long the gap must last.
    mismatch_for: Duration = mins(5), "duration";
    /// How long the gap must stay below half the delta to resolve.
    mismatch_clear_for: Duration = secs(60), "duration";
    /// Readings further apart than this say nothing about the pair (a key another kind declares too).
    silent_after: Duration = secs(120), "duration";
}

/// What this kind keeps on the downwind point of a pair.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, packed)]
pub struct Slot {
    /// The gap's condition.
    pub mismatch: Timed,
    /// The point the active alert is about (the lower one).
    pub mismatch_subject: Idx,
}

/// What this kind keeps for the mine: for each active pair, by its downwind point, the lower
/// point's value and the gap last published (NaN: unknown, after a restore).
pub type Published = HashMap<Idx, (f32, f32)>;

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::NeighbourMismatch;
    const SUBJECT: SubjectType = SubjectType::Point;
    const SEVERITY: Severity = Severity::Major;
    const DESCRIPTION: &'static str =
        "A methane point and its upwind neighbour on the same airflow differ widely for a while: one is not sensing";
    type Params = Params;
    crate::slots!(point = Slot, mine = Published);

    fn on_reading(m: &mut MineState, p: &Params, i: Idx, at: Millis, out: &mut Vec<Change>) {
        if m.def.points[i as usize].upwind.is_some() {
            evaluate(m, p, i, true, at, out);
        }
        // By index: no clone of the definition on the per-reading path.
        for k in 0..m.def.downwind[i as usize].len() {
            let d = m.def.downwind[i as usize][k];
            evaluate(m, p, d, false, at, out);
        }
    }

    fn sweep(m: &mut MineState, p: &Params, clock: Millis, _: Millis, out: &mut Vec<Change>) {
        for i in 0..m.points.len() as Idx {
            let st = m.points[i as usize].kinds.neighbour_mismatch.mismatch;
            if m.def.points[i as usize].upwind.is_some() && (st.since != 0 || st.active) {
                evaluate(m, p, i, true, clock, out);
            }
        }
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let Some(s) = m.def.point(&a.subject) else {
            return false;
        };
        let Some(other) = a
            .evidence
            .get("neighbour")
            .and_then(Value::as_str)
            .and_then(|n| m.def.point(n))
        else {
            return false;
        };
        let d = if m.def.points[s as usize].upwind == Some(other) {
            s
        } else {
            other
        };
        let st = &mut m.points[d as usize].kinds.neighbour_mismatch;
        st.mismatch.restore(a.started_at.timestamp_millis());
        st.mismatch_subject = s;
        let gap = a.evidence.get("gap").and_then(Value::as_f64);
        let f = |v: Option<f64>| v.map_or(f32::NAN, |v| v as f32);
        m.kinds.neighbour_mismatch.insert(d, (f(a.value), f(gap)));
        true
    }

    /// What active pairs published moves with their downwind points.
    fn rebind_mine(
        published: Published,
        r: &Remap<'_>,
        _: &MineState,
        _: Millis,
        _: &mut Vec<Change>,
    ) -> Published {
        published
            .into_iter()
            .filter_map(|(o, v)| Some((r.points.get(o as usize).copied().flatten()?, v)))
            .collect()
    }

    /// A pair whose points moved keeps its state only if the lower point still exists.
    fn rebind_point(slot: &mut Slot, r: &Remap<'_>) {
        if slot.mismatch.active || slot.mismatch.since != 0 {
            match r.points.get(slot.mismatch_subject as usize).copied().flatten() {
                Some(n) => slot.mismatch_subject = n,
                None => *slot = Slot::default(),
            }
        }
    }

    /// The alert still applies if its point is still there and a pair still holds it.
    fn still_applies(old: &MineDef, m: &MineState, subject: &str) -> bool {
        super::subject_still_there(Self::SUBJECT, old, &m.def, subject)
            && m.def.point(subject).is_some_and(|s| {
                m.points.iter().enumerate().any(|(d, st)| {
                    let st = st.kinds.neighbour_mismatch;
                    st.mismatch.active
                        && st.mismatch_subject == s
                        && m.def.points[d].upwind.is_some()
                })
            })
    }
}

/// Evaluates the pair of downwind point `d` and its upwind at event time `at`; an active alert
/// follows the pair only when `follow` (at the downwind point's own reading or a sweep), so a
/// batch carrying both points' readings updates once, not once per point.
fn evaluate(m: &mut MineState, p: &Params, d: Idx, follow: bool, at: Millis, out: &mut Vec<Change>) {
    let point = &m.def.points[d as usize];
    let Some(u) = point.upwind else { return };
    if point.kind != PointKind::Ch4 {
        return;
    }
    let (sd, su) = (m.points[d as usize], m.points[u as usize]);
    let usable = |s: &PointState| {
        s.last_seen != 0
            && s.status & (STATUS_CALIBRATION | STATUS_FAULT) == 0
            && at - s.last_seen <= p.silent_after
    };
    if !usable(&sd) || !usable(&su) || (sd.last_seen - su.last_seen).abs() > p.silent_after {
        return;
    }
    let gap = (sd.value - su.value).abs();
    let active = sd.kinds.neighbour_mismatch.mismatch.active;
    let holds = if active {
        gap >= p.mismatch_delta / 2.0
    } else {
        gap >= p.mismatch_delta
    };
    let step = m.points[d as usize]
        .kinds
        .neighbour_mismatch
        .mismatch
        .step(holds, at, p.mismatch_for, p.mismatch_clear_for);
    if let Some(due) = m.points[d as usize]
        .kinds
        .neighbour_mismatch
        .mismatch
        .deadline(p.mismatch_for, p.mismatch_clear_for)
    {
        m.due(due);
    }
    match step {
        Step::Hold if active && follow => {
            let lower = m.points[d as usize].kinds.neighbour_mismatch.mismatch_subject;
            let lv = m.points[lower as usize].value;
            let (pv, pg) = m.kinds.neighbour_mismatch.get(&d).copied().unwrap_or((f32::NAN, f32::NAN));
            let moved = |now: f64, then: f32| {
                then.is_nan() || (now - f64::from(then)).abs() >= p.mismatch_delta / 10.0
            };
            if moved(lv, pv) || moved(gap, pg) {
                m.kinds.neighbour_mismatch.insert(d, (lv as f32, gap as f32));
                emit(m, p, ChangeOp::Update, d, u, lower, gap, at, out);
            }
        }
        Step::Hold => {}
        Step::Raise(t) => {
            let lower = if sd.value <= su.value { d } else { u };
            m.points[d as usize].kinds.neighbour_mismatch.mismatch_subject = lower;
            let lv = m.points[lower as usize].value;
            m.kinds.neighbour_mismatch.insert(d, (lv as f32, gap as f32));
            emit(m, p, ChangeOp::Raise, d, u, lower, gap, t, out);
        }
        Step::Resolve(t) => {
            let lower = m.points[d as usize].kinds.neighbour_mismatch.mismatch_subject;
            m.kinds.neighbour_mismatch.remove(&d);
            emit(m, p, ChangeOp::Resolve, d, u, lower, gap, t, out);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn emit(
    m: &MineState,
    p: &Params,
    op: ChangeOp,
    d: Idx,
    u: Idx,
    lower: Idx,
    gap: f64,
    at: Millis,
    out: &mut Vec<Change>,
) {
    let other = if lower == d { u } else { d };
    let (lp, op_) = (&m.def.points[lower as usize], &m.def.points[other as usize]);
    let (lv, ov) = (
        m.points[lower as usize].value,
        m.points[other as usize].value,
    );
    let relation = if other == u { "upwind" } else { "downwind" };
    let unit = lp.kind.unit();
    let s = m.point_subject(Kind::NeighbourMismatch, lower);
    // How every message of the alert names its point, and (raised or updated) what both read.
    let point = format!("{} at {} ({})", lp.kind.label(), lp.id, m.place(s.area_name));
    let readings = || {
        format!(
            "{point} reads {} while its {relation} neighbour {} reads {}",
            fmt_value(lv, unit),
            op_.id,
            fmt_value(ov, unit)
        )
    };
    let message = if op == ChangeOp::Resolve {
        format!(
            "{point} agrees with its {relation} neighbour {} again",
            op_.id
        )
    } else if op == ChangeOp::Update && gap < p.mismatch_delta / 2.0 {
        format!(
            "{}: the gap is down to {}, below half of {}",
            readings(),
            fmt_value(gap, unit),
            fmt_value(p.mismatch_delta, unit)
        )
    } else {
        format!(
            "{}: a gap of {} for {} min — {} may not be sensing",
            readings(),
            fmt_value(gap, unit),
            p.mismatch_for / 60_000,
            lp.id
        )
    };
    let since = m.points[d as usize].kinds.neighbour_mismatch.mismatch.since;
    let evidence = json!({
        "value": lv, "neighbour": &*op_.id, "neighbour_value": ov, "relation": relation,
        "gap": gap, "delta": p.mismatch_delta, "since": if since == 0 { None } else { Some(ts(since)) },
        "for_s": p.mismatch_for / 1000, "ts": ts(at),
    });
    out.push(m.change(
        op,
        s,
        Severity::Major,
        message,
        Some(lv),
        Some(p.mismatch_delta),
        at,
        evidence,
    ));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::Kind;

    #[test]
    fn a_dead_face_sensor_below_a_high_return_is_flagged_on_the_lower_point() {
        let mut m = mine();
        let mut all = Vec::new();
        // The known case: T2 (P2) reads 0.95 while T1 (P1, its upwind) reads 0.00.
        for s in (0..=300).step_by(10) {
            all.extend(feed(
                &mut m,
                &safety(at(s), &[("P0", 0.05, 0), ("P1", 0.0, 0), ("P2", 0.95, 0)]),
            ));
        }
        let raised: Vec<_> = all
            .iter()
            .filter(|c| c.kind == Kind::NeighbourMismatch)
            .collect();
        assert_eq!(raised.len(), 1, "{all:?}");
        assert_eq!(raised[0].subject.as_ref(), "P1");
        assert_eq!(raised[0].evidence["neighbour"], "P2");
        assert!(
            raised[0].message.contains("P1 may not be sensing"),
            "{}",
            raised[0].message
        );
        // The gap closes below half the delta: the alert follows (an update), and is resolved
        // after a minute of agreement.
        assert_eq!(
            ops(
                &feed(&mut m, &safety(at(310), &[("P1", 0.5, 0), ("P2", 0.6, 0)])),
                Kind::NeighbourMismatch
            ),
            vec![("update", "P1".into())]
        );
        let c = feed(&mut m, &safety(at(370), &[("P1", 0.5, 0), ("P2", 0.6, 0)]));
        assert_eq!(
            ops(&c, Kind::NeighbourMismatch),
            vec![("resolve", "P1".into())]
        );
    }

    #[test]
    fn an_active_alert_follows_the_gap_and_the_lower_value_by_a_tenth_of_the_delta() {
        let mut m = mine();
        for s in (0..300).step_by(10) {
            feed(&mut m, &safety(at(s), &[("P1", 0.0, 0), ("P2", 1.0, 0)]));
        }
        let c = feed(&mut m, &safety(at(300), &[("P1", 0.0, 0), ("P2", 1.0, 0)]));
        assert_eq!(ops(&c, Kind::NeighbourMismatch), vec![("raise", "P1".into())]);
        // A tenth of the 0.8 delta is 0.08: the neighbour up 0.07 (the gap with it) is quiet...
        let c = feed(&mut m, &safety(at(310), &[("P1", 0.0, 0), ("P2", 1.07, 0)]));
        assert!(ops(&c, Kind::NeighbourMismatch).is_empty());
        // ...0.09 from the published gap of 1.0 updates, with the gap in the evidence.
        let c = feed(&mut m, &safety(at(320), &[("P1", 0.0, 0), ("P2", 1.09, 0)]));
        assert_eq!(ops(&c, Kind::NeighbourMismatch), vec![("update", "P1".into())]);
        let u = c.iter().find(|c| c.kind == Kind::NeighbourMismatch).expect("update");
        assert_eq!((u.value, u.evidence["gap"].as_f64()), (Some(0.0), Some(1.09)));
        assert!(u.message.contains("a gap of 1.09%"), "{}", u.message);
        // The lower point's own value moving with the gap unchanged: 0.07 is quiet, 0.16 updates
        // with the new value.
        let c = feed(&mut m, &safety(at(330), &[("P1", 0.07, 0), ("P2", 1.16, 0)]));
        assert!(ops(&c, Kind::NeighbourMismatch).is_empty());
        let c = feed(&mut m, &safety(at(335), &[("P1", 0.16, 0), ("P2", 1.25, 0)]));
        assert_eq!(ops(&c, Kind::NeighbourMismatch), vec![("update", "P1".into())]);
        let u = c.iter().find(|c| c.kind == Kind::NeighbourMismatch).expect("update");
        assert_eq!(u.value, Some(0.16));
        // The gap closing below half the delta: the value follows while it waits to resolve.
        let c = feed(&mut m, &safety(at(340), &[("P1", 0.4, 0), ("P2", 0.6, 0)]));
        assert_eq!(ops(&c, Kind::NeighbourMismatch), vec![("update", "P1".into())]);
        let u = c.iter().find(|c| c.kind == Kind::NeighbourMismatch).expect("update");
        assert_eq!(u.value, Some(0.4));
        assert!(u.message.contains("down to 0.2%"), "{}", u.message);
        let c = feed(&mut m, &safety(at(400), &[("P1", 0.4, 0), ("P2", 0.6, 0)]));
        assert_eq!(ops(&c, Kind::NeighbourMismatch), vec![("resolve", "P1".into())]);
        assert!(m.kinds.neighbour_mismatch.is_empty());
    }

    #[test]
    fn a_gap_shorter_than_five_minutes_or_below_the_delta_raises_nothing() {
        let mut m = mine();
        for s in (0..=280).step_by(10) {
            let c = feed(&mut m, &safety(at(s), &[("P1", 0.0, 0), ("P2", 0.9, 0)]));
            assert!(ops(&c, Kind::NeighbourMismatch).is_empty());
        }
        for s in (290..=1200).step_by(10) {
            let c = feed(&mut m, &safety(at(s), &[("P1", 0.2, 0), ("P2", 0.9, 0)]));
            assert!(
                ops(&c, Kind::NeighbourMismatch).is_empty(),
                "gap 0.7 < 0.8 at {s}"
            );
        }
    }
}
