//! `power_in_sealed_area` — a meter of a sealed or restricted area above its `idle_kw` for
//! `sealed_power_for` (10 min): something is running where nothing should. Major. Resolves after
//! it has been idle for the same time.

use crate::config::Params;
use crate::engine::MineState;
use crate::timed::Step;
use minewatch_core::alert::{Change, ChangeOp, Kind, Severity};
use minewatch_core::registry::{AreaKind, Idx};
use minewatch_core::time::Millis;
use serde_json::json;
use std::time::Duration;

/// Default `sealed_power_for`: 10 minutes above idle to raise, 10 minutes idle to resolve.
pub fn default_sealed_power_for() -> Duration {
    Duration::from_secs(10 * 60)
}

/// Judges meter `i` at `at`.
pub fn evaluate(m: &mut MineState, p: &Params, i: Idx, at: Millis, out: &mut Vec<Change>) {
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
    let step = st.sealed.step(
        st.kw > meter.idle_kw,
        at,
        p.sealed_power_for,
        p.sealed_power_for,
    );
    if let Some(d) = st.sealed.deadline(p.sealed_power_for, p.sealed_power_for) {
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
