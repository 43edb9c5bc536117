//! `over_limit` — an analog point at or above its alarm limit (or below its low limit, O2).
//!
//! Raised at `alarm` (major; critical at power-off level), resolved below `restore` (hysteresis),
//! updated when the severity changes or the value reaches a new extreme by a tenth of the limit.
//! Limits come from the registry: the methane location-class defaults of domain.md, per-point
//! overrides. A point in calibration is not judged (its value is test gas). No parameters.

use super::{KindRule, MineState, STATUS_CALIBRATION, fmt_value, ts};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::registry::Idx;
use minewatch_core::time::Millis;
use serde_json::{Value, json};

crate::params! {}

/// What this kind keeps per point.
#[derive(Debug, Clone, Copy, Default)]
pub struct Slot {
    /// Severity of the active alert, if any.
    pub over: Option<Severity>,
    /// Whether the active alert is on the low side (O2, air speed).
    pub over_low: bool,
    /// The value last published for the active alert (for updates on a new extreme).
    pub over_published: f64,
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::OverLimit;
    const SUBJECT: SubjectType = SubjectType::Point;
    const SEVERITY: Severity = Severity::Major;
    const DESCRIPTION: &'static str =
        "An analog point at or above its alarm limit (critical at power-off level), or below its low limit";
    type Params = Params;
    crate::slots!(point = Slot);

    fn on_reading(m: &mut MineState, _: &Params, i: Idx, at: Millis, out: &mut Vec<Change>) {
        on_reading(m, i, at, out);
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let Some(i) = m.def.point(&a.subject) else {
            return false;
        };
        let st = &mut m.points[i as usize];
        let low = a.evidence.get("side").and_then(Value::as_str) == Some("low");
        st.kinds.over_limit = Slot {
            over: Some(a.severity),
            over_low: low,
            over_published: a.value.unwrap_or(f64::NAN),
        };
        st.alarm_high = !low;
        st.at_power_off = a.severity == Severity::Critical;
        true
    }
}

/// Evaluates point `i` after its new reading at `at`.
fn on_reading(m: &mut MineState, i: Idx, at: Millis, out: &mut Vec<Change>) {
    let point = &m.def.points[i as usize];
    if point.kind.is_switch() {
        return;
    }
    let l = point.limits;
    let st = m.points[i as usize];
    if st.status & STATUS_CALIBRATION != 0 {
        return;
    }
    let v = st.value;
    let st = st.kinds.over_limit;
    let high_sev = |v: f64| {
        if l.power_off.is_some_and(|po| v >= po) {
            Severity::Critical
        } else {
            Severity::Major
        }
    };
    match st.over {
        None => {
            if let Some(a) = l.alarm.filter(|&a| v >= a) {
                let sev = high_sev(v);
                let limit = if sev == Severity::Critical {
                    l.power_off.unwrap_or(a)
                } else {
                    a
                };
                emit(m, i, ChangeOp::Raise, sev, false, v, limit, at, out);
            } else if let Some(lo) = l.alarm_low.filter(|&lo| v < lo) {
                emit(m, i, ChangeOp::Raise, Severity::Major, true, v, lo, at, out);
            }
        }
        Some(sev) if st.over_low => {
            let lo = l.alarm_low.unwrap_or(f64::NEG_INFINITY);
            if v >= l.restore_low.unwrap_or(lo) {
                emit(m, i, ChangeOp::Resolve, sev, true, v, lo, at, out);
            } else if v <= st.over_published - lo.abs() / 10.0 {
                emit(m, i, ChangeOp::Update, sev, true, v, lo, at, out);
            }
        }
        Some(sev) => {
            let a = l.alarm.unwrap_or(f64::INFINITY);
            if v < l.restore.unwrap_or(a) {
                emit(m, i, ChangeOp::Resolve, sev, false, v, a, at, out);
            } else {
                let new = high_sev(v);
                let limit = if new == Severity::Critical {
                    l.power_off.unwrap_or(a)
                } else {
                    a
                };
                if new != sev || v >= st.over_published + a.abs() / 10.0 {
                    emit(m, i, ChangeOp::Update, new, false, v, limit, at, out);
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn emit(
    m: &mut MineState,
    i: Idx,
    op: ChangeOp,
    sev: Severity,
    low: bool,
    v: f64,
    limit: f64,
    at: Millis,
    out: &mut Vec<Change>,
) {
    let point = &m.def.points[i as usize];
    let l = point.limits;
    let (label, unit) = (point.kind.label(), point.kind.unit());
    let st = &mut m.points[i as usize];
    match op {
        ChangeOp::Resolve => {
            st.kinds.over_limit.over = None;
            st.kinds.over_limit.over_low = false;
        }
        _ => {
            st.kinds.over_limit.over = Some(sev);
            st.kinds.over_limit.over_low = low;
            st.kinds.over_limit.over_published = v;
        }
    }
    st.alarm_high = st.kinds.over_limit.over.is_some() && !st.kinds.over_limit.over_low;
    let s = m.point_subject(Kind::OverLimit, i);
    let place = m.place(s.area_name);
    let message = match (&op, low) {
        (ChangeOp::Resolve, false) => format!(
            "{label} at {} ({place}) back to {}, below restore {}",
            point.id,
            fmt_value(v, unit),
            fmt_value(l.restore.unwrap_or(limit), unit)
        ),
        (ChangeOp::Resolve, true) => format!(
            "{label} at {} ({place}) back to {}, at or above {}",
            point.id,
            fmt_value(v, unit),
            fmt_value(l.restore_low.unwrap_or(limit), unit)
        ),
        (_, true) => format!(
            "{label} {} at {} ({place}) is below {}",
            fmt_value(v, unit),
            point.id,
            fmt_value(limit, unit)
        ),
        (_, false) => {
            let what = if sev == Severity::Critical
                && l.power_off.is_some()
                && point.kind == minewatch_core::registry::PointKind::Ch4
            {
                "power-off"
            } else if sev == Severity::Critical {
                "critical level"
            } else {
                "alarm"
            };
            format!(
                "{label} {} at {} ({place}) is at/above {what} {}",
                fmt_value(v, unit),
                point.id,
                fmt_value(limit, unit)
            )
        }
    };
    let status = m.points[i as usize].status;
    let evidence = json!({
        "side": if low { "low" } else { "high" },
        "value": v,
        "ts": ts(at),
        "alarm": l.alarm, "power_off": l.power_off, "restore": l.restore,
        "alarm_low": l.alarm_low, "restore_low": l.restore_low,
        "location": point.location,
        "status": status,
    });
    out.push(m.change(op, s, sev, message, Some(v), Some(limit), at, evidence));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::{Kind, Severity};

    #[test]
    fn methane_at_alarm_raises_major_and_at_power_off_escalates_to_critical() {
        let mut m = mine();
        assert!(feed(&mut m, &normal(at(0))).is_empty());
        let c = feed(&mut m, &safety(at(10), &[("P1", 1.0, 0)]));
        assert_eq!(ops(&c, Kind::OverLimit), vec![("raise", "P1".into())]);
        assert_eq!(c[0].severity, Severity::Major);
        assert_eq!(c[0].limit, Some(1.0));
        assert!(
            c[0].message.contains("P1")
                && c[0].message.contains("1201 coal face")
                && c[0].message.contains("Test Colliery"),
            "{}",
            c[0].message
        );
        let c = feed(&mut m, &safety(at(20), &[("P1", 1.62, 0)]));
        assert_eq!(ops(&c, Kind::OverLimit), vec![("update", "P1".into())]);
        assert_eq!(c[0].severity, Severity::Critical);
        assert_eq!(c[0].limit, Some(1.5));
        assert!(c[0].message.contains("power-off 1.5%"), "{}", c[0].message);
    }

    #[test]
    fn hysteresis_keeps_the_alert_until_below_restore_and_small_moves_stay_quiet() {
        let mut m = mine();
        feed(&mut m, &normal(at(0)));
        feed(&mut m, &safety(at(10), &[("P1", 1.1, 0)]));
        assert!(
            ops(
                &feed(&mut m, &safety(at(20), &[("P1", 1.12, 0)])),
                Kind::OverLimit
            )
            .is_empty()
        );
        assert!(
            ops(
                &feed(&mut m, &safety(at(30), &[("P1", 1.0, 0)])),
                Kind::OverLimit
            )
            .is_empty()
        );
        let c = feed(&mut m, &safety(at(40), &[("P1", 0.99, 0)]));
        assert_eq!(ops(&c, Kind::OverLimit), vec![("resolve", "P1".into())]);
        // A later recurrence is a new alert.
        let c = feed(&mut m, &safety(at(50), &[("P1", 1.3, 0)]));
        assert_eq!(ops(&c, Kind::OverLimit), vec![("raise", "P1".into())]);
    }

    #[test]
    fn the_face_return_class_is_critical_at_one_percent() {
        let mut m = mine();
        let c = feed(&mut m, &safety(at(0), &[("P2", 1.0, 0)]));
        assert_eq!(c[0].severity, Severity::Critical);
    }

    #[test]
    fn oxygen_below_twenty_percent_raises_on_the_low_side() {
        let mut m = mine();
        let c = feed(&mut m, &safety(at(0), &[("O1", 19.6, 0)]));
        assert_eq!(ops(&c, Kind::OverLimit), vec![("raise", "O1".into())]);
        assert_eq!(c[0].evidence["side"], "low");
        assert!(c[0].message.contains("below 20%"), "{}", c[0].message);
        assert!(
            ops(
                &feed(&mut m, &safety(at(10), &[("O1", 19.9, 0)])),
                Kind::OverLimit
            )
            .is_empty()
        );
        let c = feed(&mut m, &safety(at(20), &[("O1", 20.0, 0)]));
        assert_eq!(ops(&c, Kind::OverLimit), vec![("resolve", "O1".into())]);
    }

    #[test]
    fn a_point_in_calibration_is_not_judged() {
        let mut m = mine();
        assert!(feed(&mut m, &safety(at(0), &[("P1", 2.0, 4)])).is_empty());
    }

    #[test]
    fn switch_points_never_raise_over_limit() {
        let mut m = mine();
        assert!(
            ops(
                &feed(&mut m, &safety(at(0), &[("F1", 1.0, 0)])),
                Kind::OverLimit
            )
            .is_empty()
        );
    }
}
