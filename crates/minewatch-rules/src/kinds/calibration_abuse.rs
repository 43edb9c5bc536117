//! `calibration_abuse` — calibration (status bit 4) used to hide readings: lasting over
//! `calibration_max`, started more than `calibration_count` times within `calibration_window`
//! (24 h), or under way while an upwind or downwind neighbour is at alarm. Major. Resolves when the
//! calibration has ended and the count in the window has dropped to the limit. Updated when the
//! reasons change; not to follow its value (the point's reading), which is test gas while the
//! point calibrates, and following it after would need a published value per point, which
//! `PointState` has no room for (one byte of padding left).

use super::{KindRule, MineState, Remap, STATUS_CALIBRATION, ts};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::registry::Idx;
use minewatch_core::time::Millis;
use serde_json::{Value, json};
use std::collections::HashMap;

crate::params! {
    /// The longest calibration: 30 minutes (a gas test takes minutes).
    calibration_max: Duration = mins(30), "duration";
    /// The most calibrations within the window: 3 (a point is tested about every 15 days).
    calibration_count: Count = 3, "count";
    /// The window calibrations are counted in.
    calibration_window: Duration = hours(24), "duration";
}

/// What this kind keeps per point.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, packed)]
pub struct Slot {
    /// Since when in calibration (0: not).
    pub cal_since: Millis,
    pub cal_active: bool,
    /// The reasons last published (bit 0 lasting, 1 repeated, 2 neighbour at alarm).
    pub cal_reasons: u8,
}

/// What this kind keeps for the mine: recent calibration starts per point (only points that
/// calibrate), kept across restarts in the snapshot.
pub type Starts = HashMap<Idx, Vec<Millis>>;

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::CalibrationAbuse;
    const SUBJECT: SubjectType = SubjectType::Point;
    const SEVERITY: Severity = Severity::Major;
    const DESCRIPTION: &'static str =
        "Calibration used to hide readings: too long, too often, or while a neighbour is at alarm";
    const SNAPSHOT: &'static str = "calibrations";
    type Params = Params;
    crate::slots!(point = Slot, mine = Starts);

    fn on_reading(m: &mut MineState, p: &Params, i: Idx, at: Millis, out: &mut Vec<Change>) {
        on_reading(m, p, i, at, out);
    }

    fn on_neighbour_alarm(m: &mut MineState, p: &Params, i: Idx, at: Millis, out: &mut Vec<Change>) {
        let st = m.points[i as usize].kinds.calibration_abuse;
        if st.cal_since != 0 || st.cal_active {
            evaluate(m, p, i, at, out);
        }
    }

    fn sweep(m: &mut MineState, p: &Params, clock: Millis, _: Millis, out: &mut Vec<Change>) {
        for i in 0..m.points.len() as Idx {
            Self::on_neighbour_alarm(m, p, i, clock, out);
        }
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let Some(i) = m.def.point(&a.subject) else {
            return false;
        };
        let st = &mut m.points[i as usize].kinds.calibration_abuse;
        st.cal_active = true;
        st.cal_reasons = 1;
        true
    }

    fn rebind_mine(starts: Starts, r: &Remap<'_>, _: &MineState, _: Millis, _: &mut Vec<Change>) -> Starts {
        starts
            .into_iter()
            .filter_map(|(o, v)| Some((r.points.get(o as usize).copied().flatten()?, v)))
            .collect()
    }

    fn snapshot(m: &MineState) -> Option<Value> {
        let cal: serde_json::Map<String, Value> = m
            .kinds
            .calibration_abuse
            .iter()
            .map(|(&i, starts)| (m.def.points[i as usize].id.to_string(), json!(starts)))
            .collect();
        Some(Value::Object(cal))
    }

    fn restore_snapshot(m: &mut MineState, json: &str) {
        let Ok(all) = serde_json::from_str::<HashMap<String, &serde_json::value::RawValue>>(json)
        else {
            return;
        };
        for (id, raw) in all {
            let Some(i) = m.def.point(&id) else {
                continue;
            };
            let Ok(starts) = serde_json::from_str::<Vec<Millis>>(raw.get()) else {
                continue;
            };
            if !starts.is_empty() {
                m.kinds.calibration_abuse.insert(i, starts);
            }
        }
    }
}

/// Records the calibration bit of point `i`'s reading at `at`, then evaluates.
fn on_reading(m: &mut MineState, p: &Params, i: Idx, at: Millis, out: &mut Vec<Change>) {
    let st = &mut m.points[i as usize];
    let calibrating = st.status & STATUS_CALIBRATION != 0;
    if calibrating && st.kinds.calibration_abuse.cal_since == 0 {
        st.kinds.calibration_abuse.cal_since = at.max(1);
        let starts = m.kinds.calibration_abuse.entry(i).or_default();
        starts.push(at);
        // Only the last count+1 starts can matter.
        let keep = p.calibration_count as usize + 1;
        if starts.len() > keep {
            let drop = starts.len() - keep;
            starts.drain(..drop);
        }
    } else if !calibrating {
        st.kinds.calibration_abuse.cal_since = 0;
    }
    if calibrating || m.points[i as usize].kinds.calibration_abuse.cal_active {
        evaluate(m, p, i, at, out);
    }
}

/// The reasons that hold for point `i` at `at` (bit 0 lasting, 1 repeated, 2 neighbour at alarm).
fn reasons(m: &MineState, p: &Params, i: Idx, at: Millis) -> u8 {
    let st = &m.points[i as usize];
    let mut r = 0;
    if st.kinds.calibration_abuse.cal_since != 0 && at - st.kinds.calibration_abuse.cal_since > p.calibration_max {
        r |= 1;
    }
    let starts = m.kinds.calibration_abuse.get(&i).map_or(&[][..], Vec::as_slice);
    let recent = starts
        .iter()
        .filter(|&&s| at - s < p.calibration_window)
        .count();
    if recent > p.calibration_count as usize {
        r |= 2;
    }
    if st.kinds.calibration_abuse.cal_since != 0 {
        let point = &m.def.points[i as usize];
        let at_alarm = |n: Idx| m.points[n as usize].alarm_high;
        if point.upwind.is_some_and(at_alarm)
            || m.def.downwind[i as usize].iter().any(|&n| at_alarm(n))
        {
            r |= 4;
        }
    }
    r
}

/// Raises, updates or resolves point `i` at `at`; schedules the next look.
fn evaluate(m: &mut MineState, p: &Params, i: Idx, at: Millis, out: &mut Vec<Change>) {
    let r = reasons(m, p, i, at);
    let st = &m.points[i as usize];
    let (active, old) = (st.kinds.calibration_abuse.cal_active, st.kinds.calibration_abuse.cal_reasons);
    let op = match (active, r != 0) {
        (false, true) => Some(ChangeOp::Raise),
        (true, true) if r != old => Some(ChangeOp::Update),
        (true, false) if st.kinds.calibration_abuse.cal_since == 0 => Some(ChangeOp::Resolve),
        _ => None,
    };
    // Deadlines: the calibration passing its maximum, the oldest start leaving the window.
    if st.kinds.calibration_abuse.cal_since != 0 && r & 1 == 0 {
        m.due(st.kinds.calibration_abuse.cal_since + p.calibration_max + 1);
    }
    let oldest = m.kinds.calibration_abuse.get(&i).and_then(|v| v.first().copied());
    if let Some(oldest) = oldest
        && oldest + p.calibration_window > at
    {
        m.due(oldest + p.calibration_window);
    }
    let Some(op) = op else {
        if active && r != 0 {
            m.points[i as usize].kinds.calibration_abuse.cal_reasons = r;
        }
        return;
    };
    let st = &mut m.points[i as usize];
    st.kinds.calibration_abuse.cal_active = op != ChangeOp::Resolve;
    st.kinds.calibration_abuse.cal_reasons = if op == ChangeOp::Resolve { 0 } else { r };
    emit(m, p, op, i, if r == 0 { old } else { r }, at, out);
}

fn emit(m: &MineState, p: &Params, op: ChangeOp, i: Idx, r: u8, at: Millis, out: &mut Vec<Change>) {
    let point = &m.def.points[i as usize];
    let st = &m.points[i as usize];
    let s = m.point_subject(Kind::CalibrationAbuse, i);
    let starts = m.kinds.calibration_abuse.get(&i).map_or(&[][..], Vec::as_slice);
    let recent = starts
        .iter()
        .filter(|&&s| at - s < p.calibration_window)
        .count();
    let mut why = Vec::new();
    if r & 1 != 0 {
        why.push(format!(
            "in calibration for {} min (max {})",
            (at - st.kinds.calibration_abuse.cal_since) / 60_000,
            p.calibration_max / 60_000
        ));
    }
    if r & 2 != 0 {
        why.push(format!(
            "calibrated {recent} times in {} h (max {})",
            p.calibration_window / 3_600_000,
            p.calibration_count
        ));
    }
    let neighbours: Vec<_> = point
        .upwind
        .into_iter()
        .chain(m.def.downwind[i as usize].iter().copied())
        .filter(|&n| m.points[n as usize].alarm_high)
        .map(|n| json!({"point": &*m.def.points[n as usize].id, "value": m.points[n as usize].value}))
        .collect();
    if r & 4 != 0 {
        why.push("in calibration while a neighbour is at alarm".to_string());
    }
    let message = if op == ChangeOp::Resolve {
        format!(
            "{} at {} ({}) is out of calibration and within the calibration limits again",
            point.kind.label(),
            point.id,
            m.place(s.area_name)
        )
    } else {
        format!(
            "Calibration hiding readings? {} at {} ({}): {}",
            point.kind.label(),
            point.id,
            m.place(s.area_name),
            why.join("; ")
        )
    };
    let evidence = json!({
        "reasons": why, "calibrating_since": if st.kinds.calibration_abuse.cal_since == 0 { None } else { Some(ts(st.kinds.calibration_abuse.cal_since)) },
        "starts": starts.iter().map(|&s| ts(s)).collect::<Vec<_>>(), "count_in_window": recent,
        "neighbours_at_alarm": neighbours, "value": st.value, "ts": ts(at),
    });
    out.push(m.change(
        op,
        s,
        Severity::Major,
        message,
        Some(st.value),
        None,
        at,
        evidence,
    ));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::Kind;

    #[test]
    fn a_calibration_lasting_over_thirty_minutes_is_flagged_and_resolves_when_it_ends() {
        let mut m = mine();
        let mut all = Vec::new();
        for s in (0..=1790).step_by(10) {
            all.extend(feed(
                &mut m,
                &safety(at(s), &[("P1", 0.0, 4), ("P0", 0.05, 0)]),
            ));
        }
        assert!(
            ops(&all, Kind::CalibrationAbuse).is_empty(),
            "not at 30 min yet"
        );
        // The point goes quiet but the mine clock passes 30 min: raised anyway.
        let c = feed(&mut m, &safety(at(1810), &[("P0", 0.05, 0)]));
        assert_eq!(
            ops(&c, Kind::CalibrationAbuse),
            vec![("raise", "P1".into())]
        );
        let c = feed(&mut m, &safety(at(1820), &[("P1", 0.4, 0)]));
        assert_eq!(
            ops(&c, Kind::CalibrationAbuse),
            vec![("resolve", "P1".into())]
        );
    }

    #[test]
    fn a_fourth_calibration_in_a_day_is_flagged_until_the_first_leaves_the_window() {
        let mut m = mine();
        let mut all = Vec::new();
        for k in 0..4 {
            let t0 = k * 3600;
            all.extend(feed(&mut m, &safety(at(t0), &[("P1", 0.0, 4)])));
            all.extend(feed(&mut m, &safety(at(t0 + 300), &[("P1", 0.4, 0)])));
        }
        assert_eq!(
            ops(&all, Kind::CalibrationAbuse),
            vec![("raise", "P1".into())]
        );
        // 24 h after the first calibration the count drops to three.
        let c = feed(&mut m, &safety(at(86_400 + 10), &[("P0", 0.05, 0)]));
        assert_eq!(
            ops(&c, Kind::CalibrationAbuse),
            vec![("resolve", "P1".into())]
        );
    }

    #[test]
    fn calibrating_while_the_neighbour_is_at_alarm_is_flagged_at_once() {
        let mut m = mine();
        feed(&mut m, &safety(at(0), &[("P2", 1.1, 0)]));
        let c = feed(&mut m, &safety(at(10), &[("P1", 0.0, 4), ("P2", 1.1, 0)]));
        assert_eq!(
            ops(&c, Kind::CalibrationAbuse),
            vec![("raise", "P1".into())]
        );
        assert!(c.iter().any(|c| c.kind == Kind::CalibrationAbuse
            && c.evidence["neighbours_at_alarm"][0]["point"] == "P2"));
    }

    #[test]
    fn a_routine_short_calibration_raises_nothing() {
        let mut m = mine();
        let mut all = Vec::new();
        for s in (0..=600).step_by(10) {
            all.extend(feed(
                &mut m,
                &safety(
                    at(s),
                    &[(
                        "P1",
                        if s < 300 { 1.2 } else { 0.4 },
                        if s < 300 { 4 } else { 0 },
                    )],
                ),
            ));
        }
        assert!(ops(&all, Kind::CalibrationAbuse).is_empty());
        assert!(
            ops(&all, Kind::OverLimit).is_empty(),
            "test gas is not an over-limit"
        );
    }
}
