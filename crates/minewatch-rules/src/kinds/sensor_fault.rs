//! `sensor_fault` — a point's status carries a fault bit (8 over-range, 16 substation fault,
//! 32 not polled, 128 sensor fault) for `fault_after`. Warning. Resolves when the status is clean.
//! Never updated: its value is the point's reading, meaningless while the status says the reading
//! cannot be trusted (the evidence shows it, as read when raised).

use super::{KindRule, MineState, STATUS_FAULT, status_names, ts};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::registry::Idx;
use minewatch_core::time::Millis;
use serde_json::json;

crate::params! {
    /// How long a fault status must last: 60 s, two polling cycles of an old KJ system.
    fault_after: Duration = secs(60), "duration";
}

/// What this kind keeps per point.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, packed)]
pub struct Slot {
    /// Since when a fault status holds (0: it does not).
    pub fault_since: Millis,
    pub fault_active: bool,
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::SensorFault;
    const SUBJECT: SubjectType = SubjectType::Point;
    const SEVERITY: Severity = Severity::Warning;
    const DESCRIPTION: &'static str =
        "A point whose status carries a fault bit (over-range, substation fault, not polled, sensor fault)";
    type Params = Params;
    crate::slots!(point = Slot);

    fn on_reading(m: &mut MineState, p: &Params, i: Idx, at: Millis, out: &mut Vec<Change>) {
        on_reading(m, p, i, at, out);
    }

    fn sweep(m: &mut MineState, p: &Params, clock: Millis, _: Millis, out: &mut Vec<Change>) {
        for i in 0..m.points.len() as Idx {
            sweep(m, p, i, clock, out);
        }
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let Some(i) = m.def.point(&a.subject) else {
            return false;
        };
        m.points[i as usize].kinds.sensor_fault = Slot {
            fault_since: a.started_at.timestamp_millis(),
            fault_active: true,
        };
        true
    }
}

/// Evaluates point `i` after its new reading at `at`.
fn on_reading(m: &mut MineState, p: &Params, i: Idx, at: Millis, out: &mut Vec<Change>) {
    let st = &mut m.points[i as usize];
    if st.status & STATUS_FAULT != 0 {
        if st.kinds.sensor_fault.fault_since == 0 {
            st.kinds.sensor_fault.fault_since = at;
        }
        let since = st.kinds.sensor_fault.fault_since;
        if !st.kinds.sensor_fault.fault_active {
            if at - since >= p.fault_after {
                emit(m, ChangeOp::Raise, i, at, out);
            } else {
                m.due(since + p.fault_after);
            }
        }
    } else {
        st.kinds.sensor_fault.fault_since = 0;
        if st.kinds.sensor_fault.fault_active {
            emit(m, ChangeOp::Resolve, i, at, out);
        }
    }
}

/// Raises a fault that has lasted `fault_after` on the mine clock.
fn sweep(m: &mut MineState, p: &Params, i: Idx, clock: Millis, out: &mut Vec<Change>) {
    let st = m.points[i as usize];
    if st.kinds.sensor_fault.fault_since == 0 || st.kinds.sensor_fault.fault_active {
        return;
    }
    let due = st.kinds.sensor_fault.fault_since + p.fault_after;
    if clock >= due {
        emit(m, ChangeOp::Raise, i, due, out);
    } else {
        m.due(due);
    }
}

fn emit(m: &mut MineState, op: ChangeOp, i: Idx, at: Millis, out: &mut Vec<Change>) {
    let raise = op == ChangeOp::Raise;
    let st = &mut m.points[i as usize];
    st.kinds.sensor_fault.fault_active = raise;
    let st = *st;
    let point = &m.def.points[i as usize];
    let s = m.point_subject(Kind::SensorFault, i);
    let place = m.place(s.area_name);
    let message = if raise {
        format!(
            "{} sensor {} ({place}) reports fault status {} ({}) since {}",
            point.kind.label(),
            point.id,
            st.status,
            status_names(st.status).join(", "),
            ts(st.kinds.sensor_fault.fault_since)
        )
    } else {
        format!(
            "{} sensor {} ({place}) reports a clean status again",
            point.kind.label(),
            point.id
        )
    };
    let evidence = json!({"status": st.status, "bits": status_names(st.status), "since": ts(st.kinds.sensor_fault.fault_since.max(0)), "value": st.value, "ts": ts(at)});
    out.push(m.change(
        op,
        s,
        Severity::Warning,
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
    use minewatch_core::alert::{Kind, Severity};

    #[test]
    fn a_fault_status_lasting_past_fault_after_raises_a_warning_and_a_clean_status_resolves_it() {
        let mut m = mine();
        feed(&mut m, &normal(at(0)));
        assert!(
            ops(
                &feed(&mut m, &safety(at(10), &[("P1", 0.0, 128)])),
                Kind::SensorFault
            )
            .is_empty()
        );
        assert!(
            ops(
                &feed(&mut m, &safety(at(60), &[("P1", 0.0, 128)])),
                Kind::SensorFault
            )
            .is_empty()
        );
        let c = feed(&mut m, &safety(at(70), &[("P1", 0.0, 128)]));
        assert_eq!(ops(&c, Kind::SensorFault), vec![("raise", "P1".into())]);
        assert_eq!(c[0].severity, Severity::Warning);
        assert!(c[0].message.contains("sensor fault"), "{}", c[0].message);
        let c = feed(&mut m, &safety(at(80), &[("P1", 0.3, 0)]));
        assert_eq!(ops(&c, Kind::SensorFault), vec![("resolve", "P1".into())]);
    }

    #[test]
    fn a_short_fault_raises_nothing() {
        let mut m = mine();
        feed(&mut m, &safety(at(0), &[("P1", 0.0, 16)]));
        feed(&mut m, &safety(at(30), &[("P1", 0.4, 0)]));
        assert!(ops(&feed(&mut m, &normal(at(200))), Kind::SensorFault).is_empty());
    }

    #[test]
    fn calibration_alone_is_not_a_fault() {
        let mut m = mine();
        feed(&mut m, &safety(at(0), &[("P1", 0.0, 4)]));
        assert!(
            ops(
                &feed(&mut m, &safety(at(100), &[("P1", 0.0, 4)])),
                Kind::SensorFault
            )
            .is_empty()
        );
    }
}
