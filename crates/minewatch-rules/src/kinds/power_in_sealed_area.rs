//! `power_in_sealed_area` — a meter of a sealed or restricted area above its `idle_kw` for
//! `sealed_power_for` (10 min): something is running where nothing should. Major. Resolves after
//! it has been idle for the same time.

use super::{KindRule, MineState};
use crate::timed::{Step, Timed};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::registry::{AreaKind, Idx};
use minewatch_core::time::Millis;
use serde_json::json;

crate::params! {
    /// Above idle this long to raise, idle this long to resolve.
    sealed_power_for: Duration = mins(10), "duration";
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::PowerInSealedArea;
    const SUBJECT: SubjectType = SubjectType::Meter;
    const SEVERITY: Severity = Severity::Major;
    const DESCRIPTION: &'static str =
        "A meter of a sealed or restricted area above idle for a while: something runs where nothing should";
    type Params = Params;
    crate::slots!(meter = Timed);

    fn on_meter(m: &mut MineState, p: &Params, i: Idx, at: Millis, out: &mut Vec<Change>) {
        evaluate(m, p, i, at, out);
    }

    fn sweep(m: &mut MineState, p: &Params, clock: Millis, _: Millis, out: &mut Vec<Change>) {
        for i in 0..m.meter_state.len() as Idx {
            evaluate(m, p, i, clock, out);
        }
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let Some(i) = m.def.meter(&a.subject) else {
            return false;
        };
        m.meter_state[i as usize]
            .kinds
            .power_in_sealed_area
            .restore(a.started_at.timestamp_millis());
        true
    }
}

/// Judges meter `i` at `at`.
fn evaluate(m: &mut MineState, p: &Params, i: Idx, at: Millis, out: &mut Vec<Change>) {
    let def = m.def.clone();
    let meter = &def.meters[i as usize];
    if !matches!(
        def.areas[meter.area as usize].kind,
        AreaKind::Sealed | AreaKind::Restricted
    ) {
        return;
    }
    let st = &mut m.meter_state[i as usize];
    if st.ts == 0 {
        return;
    }
    let step = st.kinds.power_in_sealed_area.step(
        st.kw > meter.idle_kw,
        at,
        p.sealed_power_for,
        p.sealed_power_for,
    );
    if let Some(d) = st.kinds.power_in_sealed_area.deadline(p.sealed_power_for, p.sealed_power_for) {
        m.due(d);
    }
    let (op, t) = match step {
        Step::Hold => return,
        Step::Raise(t) => (ChangeOp::Raise, t),
        Step::Resolve(t) => (ChangeOp::Resolve, t),
    };
    let kw = m.meter_state[i as usize].kw;
    let s = m.meter_subject(Kind::PowerInSealedArea, i);
    let message = if op == ChangeOp::Raise {
        format!(
            "Meter {} in sealed/restricted area {} ({}) draws {kw:.1} kW, above idle {} kW, for {} min",
            meter.id,
            m.def.areas[meter.area as usize].id,
            m.place(s.area_name),
            meter.idle_kw,
            p.sealed_power_for / 60_000
        )
    } else {
        format!(
            "Meter {} ({}) has been idle for {} min",
            meter.id,
            m.place(s.area_name),
            p.sealed_power_for / 60_000
        )
    };
    let evidence = json!({"kw": kw, "idle_kw": meter.idle_kw, "load": meter.load, "area": &*m.def.areas[meter.area as usize].id, "ts": super::ts(at)});
    out.push(m.change(
        op,
        s,
        Severity::Major,
        message,
        Some(kw),
        Some(meter.idle_kw),
        t,
        evidence,
    ));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::Kind;

    #[test]
    fn a_sealed_area_drawing_power_for_ten_minutes_is_flagged_and_resolves_after_ten_idle() {
        let mut m = mine();
        let mut all = Vec::new();
        for s in (0..=590).step_by(10) {
            all.extend(power(&mut m, at(s), &[("MS", 40.0)]));
        }
        assert!(ops(&all, Kind::PowerInSealedArea).is_empty());
        let c = power(&mut m, at(600), &[("MS", 40.0)]);
        assert_eq!(
            ops(&c, Kind::PowerInSealedArea),
            vec![("raise", "MS".into())]
        );
        power(&mut m, at(610), &[("MS", 0.5)]);
        assert!(
            ops(
                &power(&mut m, at(1200), &[("MS", 0.5)]),
                Kind::PowerInSealedArea
            )
            .is_empty()
        );
        let c = power(&mut m, at(1210), &[("MS", 0.5)]);
        assert_eq!(
            ops(&c, Kind::PowerInSealedArea),
            vec![("resolve", "MS".into())]
        );
    }

    #[test]
    fn a_meter_outside_sealed_areas_may_run() {
        let mut m = mine();
        for s in (0..=1800).step_by(10) {
            assert!(
                ops(
                    &power(&mut m, at(s), &[("MF", 400.0)]),
                    Kind::PowerInSealedArea
                )
                .is_empty()
            );
        }
    }
}
