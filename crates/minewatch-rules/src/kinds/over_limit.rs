//! `over_limit` — an analog point at or above its alarm limit (or below its low limit, O2).
//!
//! Raised at `alarm` (major; critical at power-off level), resolved below `restore` (hysteresis),
//! updated when the severity changes or the value moves a tenth of the limit from the value last
//! published (either way: the alert's value follows the point while it stays active).
//! Limits come from the registry: the methane location-class defaults of domain.md, per-point
//! overrides. A point in calibration is not judged (its value is test gas). No parameters.

use super::{KindRule, MineState, STATUS_CALIBRATION, STATUS_FAULT, Unapplied, fmt_value, ts};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::registry::{Idx, Limits};
use minewatch_core::time::Millis;
use serde_json::{Value, json};

crate::params! {}

/// What this kind keeps per point.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, packed)]
pub struct Slot {
    /// Severity of the active alert, if any.
    pub over: Option<Severity>,
    /// Whether the active alert is on the low side (O2, air speed).
    pub over_low: bool,
    /// The value last published for the active alert (for updates when it moves a tenth of
    /// the limit beyond it: `f32` is ample).
    pub over_published: f32,
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

    /// A late or salvaged reading over a limit raises (or raises the severity of) the alert at
    /// the reading's own time; it never resolves one (the point's newer state says more). The
    /// point's next reading judges it as usual, so a reading back under restore resolves it.
    fn on_unapplied(
        m: &mut MineState,
        _: &Params,
        i: Idx,
        v: f64,
        status: u32,
        at: Millis,
        why: Unapplied,
        out: &mut Vec<Change>,
    ) {
        let point = &m.def.points[i as usize];
        if point.kind.is_switch() || status & (STATUS_CALIBRATION | STATUS_FAULT) != 0 {
            return;
        }
        let l = point.limits;
        let (sev, low, limit) = if let Some(a) = l.alarm.filter(|&a| v >= a) {
            let (sev, limit) = high(&l, v, a);
            (sev, false, limit)
        } else if let Some(lo) = l.alarm_low.filter(|&lo| v < lo) {
            (Severity::Major, true, lo)
        } else {
            return;
        };
        let op = match m.points[i as usize].kinds.over_limit.over {
            None => ChangeOp::Raise,
            Some(active) if active < sev => ChangeOp::Update,
            Some(_) => return,
        };
        let n = out.len();
        emit(m, i, op, sev, low, v, limit, at, out);
        if let Some(c) = out.get_mut(n) {
            c.message.push_str(match why {
                Unapplied::Late => " (a late reading, judged at its own time)",
                Unapplied::Salvaged => " (read from a message that could not be decoded whole)",
            });
            if let Value::Object(o) = &mut c.evidence {
                o.insert(why.as_str().into(), Value::Bool(true));
                o.insert("status".into(), status.into());
            }
        }
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
            over_published: a.value.unwrap_or(f64::NAN) as f32,
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
    match st.over {
        None => {
            if let Some(a) = l.alarm.filter(|&a| v >= a) {
                let (sev, limit) = high(&l, v, a);
                emit(m, i, ChangeOp::Raise, sev, false, v, limit, at, out);
            } else if let Some(lo) = l.alarm_low.filter(|&lo| v < lo) {
                emit(m, i, ChangeOp::Raise, Severity::Major, true, v, lo, at, out);
            }
        }
        Some(sev) if st.over_low => {
            let lo = l.alarm_low.unwrap_or(f64::NEG_INFINITY);
            if v >= l.restore_low.unwrap_or(lo) {
                emit(m, i, ChangeOp::Resolve, sev, true, v, lo, at, out);
            } else if (v - f64::from(st.over_published)).abs() >= lo.abs() / 10.0 {
                emit(m, i, ChangeOp::Update, sev, true, v, lo, at, out);
            }
        }
        Some(sev) => {
            let a = l.alarm.unwrap_or(f64::INFINITY);
            if v < l.restore.unwrap_or(a) {
                emit(m, i, ChangeOp::Resolve, sev, false, v, a, at, out);
            } else {
                let (new, limit) = high(&l, v, a);
                if new != sev || (v - f64::from(st.over_published)).abs() >= a.abs() / 10.0 {
                    emit(m, i, ChangeOp::Update, new, false, v, limit, at, out);
                }
            }
        }
    }
}

/// The severity of `v` at or above alarm `a`, and the limit it is judged against: critical
/// against `power_off` at that level, major against `a` below it.
fn high(l: &Limits, v: f64, a: f64) -> (Severity, f64) {
    match l.power_off.filter(|&po| v >= po) {
        Some(po) => (Severity::Critical, po),
        None => (Severity::Major, a),
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
            st.kinds.over_limit.over_published = v as f32;
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
                &feed(&mut m, &safety(at(30), &[("P1", 1.02, 0)])),
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
    fn an_active_alerts_value_follows_the_point_both_ways_by_a_tenth_of_the_limit() {
        let mut m = mine();
        feed(&mut m, &normal(at(0)));
        feed(&mut m, &safety(at(10), &[("P1", 1.4, 0)]));
        // Down by 0.09 (under a tenth of the 1% alarm): quiet; by 0.15 from the published 1.4: an
        // update carrying the new value, so the alert does not keep showing 1.4.
        let c = feed(&mut m, &safety(at(20), &[("P1", 1.31, 0)]));
        assert!(ops(&c, Kind::OverLimit).is_empty());
        let c = feed(&mut m, &safety(at(30), &[("P1", 1.25, 0)]));
        assert_eq!(ops(&c, Kind::OverLimit), vec![("update", "P1".into())]);
        assert_eq!(c[0].value, Some(1.25));
        // And up again from the new value.
        let c = feed(&mut m, &safety(at(40), &[("P1", 1.36, 0)]));
        assert_eq!(ops(&c, Kind::OverLimit), vec![("update", "P1".into())]);
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

    #[test]
    fn a_redelivery_changes_nothing_and_is_known_exactly() {
        let mut m = mine();
        feed(&mut m, &normal(at(0)));
        let over = safety(at(10), &[("P1", 1.62, 0)]);
        assert_eq!(ops(&feed(&mut m, &over), Kind::OverLimit).len(), 1);
        assert!(feed(&mut m, &over).is_empty(), "the same reading again");
        let c = feed(&mut m, &normal(at(20)));
        assert_eq!(ops(&c, Kind::OverLimit), vec![("resolve", "P1".into())]);
        // Redelivered after newer readings: applied before, so nothing at all.
        assert!(feed(&mut m, &over).is_empty());
        assert!(feed(&mut m, &normal(at(0))).is_empty());
    }

    #[test]
    fn a_late_reading_over_a_limit_is_judged_at_its_own_time() {
        let mut m = mine();
        for s in [0, 10, 20, 30] {
            feed(&mut m, &normal(at(s)));
        }
        // Just under alarm, late: nothing.
        assert!(ops(&feed(&mut m, &safety(at(5), &[("P1", 0.99, 0)])), Kind::OverLimit).is_empty());
        // At alarm, late: major, at its own time.
        let c = feed(&mut m, &safety(at(15), &[("P1", 1.0, 0)]));
        assert_eq!(ops(&c, Kind::OverLimit), vec![("raise", "P1".into())]);
        assert_eq!((c[0].severity, c[0].at), (Severity::Major, at(15)));
        assert_eq!(c[0].evidence["late"], true);
        // At power-off, later still and older: critical.
        let c = feed(&mut m, &safety(at(25), &[("P1", 1.5, 0)]));
        assert_eq!(ops(&c, Kind::OverLimit), vec![("update", "P1".into())]);
        assert_eq!((c[0].severity, c[0].limit), (Severity::Critical, Some(1.5)));
        assert!(c[0].message.contains("late"), "{}", c[0].message);
        // The latest state is kept: the point still reads its newer value.
        assert!(m.points[m.def.point("P1").map_or(0, |i| i as usize)].value < 0.5);
        // A late reading in calibration is test gas: not judged.
        let mut q = mine();
        feed(&mut q, &normal(at(0)));
        feed(&mut q, &normal(at(20)));
        assert!(feed(&mut q, &safety(at(10), &[("P1", 2.0, 4)])).is_empty());
        // The next reading resolves as usual.
        let c = feed(&mut m, &normal(at(40)));
        assert_eq!(ops(&c, Kind::OverLimit), vec![("resolve", "P1".into())]);
    }

    #[test]
    fn a_value_read_from_a_rejected_element_or_message_still_raises() {
        use minewatch_core::payload::{Reason, Salvaged, System};
        let mut m = mine();
        feed(&mut m, &normal(at(0)));
        let mut b = normal(at(10));
        b.salvaged.push(Salvaged {
            point: "P1".into(),
            value: 1.7,
        });
        let c = feed(&mut m, &b);
        assert_eq!(ops(&c, Kind::OverLimit), vec![("raise", "P1".into())]);
        assert_eq!((c[0].severity, c[0].at), (Severity::Critical, at(10)));
        assert_eq!(c[0].evidence["salvaged"], true);
        assert_eq!(
            ops(&feed(&mut m, &normal(at(20))), Kind::OverLimit),
            vec![("resolve", "P1".into())]
        );
        // A whole message cut short: its complete readings are judged at the mine's time.
        let cut = br#"{"ts":"2026-11-23T00:00:30Z","readings":[{"point":"P1","value":1.55},{"point":"P2","va"#;
        let mut out = Vec::new();
        let p = crate::RulesConfig::default();
        m.on_rejected(&p, System::Safety, Reason::BadJson, cut, at(500), &mut out);
        assert_eq!(ops(&out, Kind::OverLimit), vec![("raise", "P1".into())]);
        assert_eq!((out[0].severity, out[0].at), (Severity::Critical, at(20)));
        // Under alarm, nothing; other systems' messages are not read as readings.
        let mut out = Vec::new();
        let under = br#"{"readings":[{"point":"P2","value":0.99}"#;
        m.on_rejected(&p, System::Safety, Reason::BadJson, under, at(500), &mut out);
        m.on_rejected(&p, System::Power, Reason::BadJson, cut, at(500), &mut out);
        assert!(ops(&out, Kind::OverLimit).is_empty());
    }

    proptest::proptest! {
        /// Whatever the order and however often each reading arrives, a reading at power-off level
        /// raises a critical alert, and readings all under alarm raise nothing.
        #[test]
        fn no_dangerous_reading_is_lost_to_order_or_redelivery(
            values in proptest::collection::vec(0.0f64..1.0, 2..30),
            danger in proptest::option::of(0usize..30),
            order in proptest::collection::vec(0usize..1000, 60),
        ) {
            let mut m = mine();
            let mut readings: Vec<(i64, f64)> =
                values.iter().enumerate().map(|(k, v)| (at(10 * k as i64), *v)).collect();
            if let Some(d) = danger {
                let d = d % readings.len();
                readings[d].1 = 1.6;
            }
            // Each reading once or twice, in a shuffled order.
            let mut deliveries: Vec<(i64, f64)> = readings.clone();
            deliveries.extend(readings.iter().step_by(3));
            for (k, o) in order.iter().enumerate() {
                let n = deliveries.len();
                deliveries.swap(k % n, o % n);
            }
            // Delivered in one burst (the wall clock holds still): out of order, not a clock
            // set back.
            let (mut changes, p) = (Vec::new(), crate::RulesConfig::default());
            for (ts, v) in deliveries {
                let b = safety(ts, &[("P1", v, 0)]);
                m.on_batch(&p, minewatch_core::payload::System::Safety, &b, at(3600), &mut changes);
            }
            let critical = changes
                .iter()
                .any(|c| c.kind == Kind::OverLimit && c.severity == Severity::Critical);
            proptest::prop_assert_eq!(critical, danger.is_some());
            if danger.is_none() {
                proptest::prop_assert!(changes.iter().all(|c| c.kind != Kind::OverLimit));
            }
        }
    }
}
