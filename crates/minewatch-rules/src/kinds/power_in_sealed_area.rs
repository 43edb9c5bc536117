//! `power_in_sealed_area` — a meter of a sealed or restricted area above its `idle_kw` for
//! `sealed_power_for` (10 min): something is running where nothing should. Major. Resolves after
//! it has been idle for the same time. While active, updated when the kW moves a tenth of
//! `idle_kw` (at least 1 kW) from the value last published, either way, so the alert's value and
//! message follow the meter (down to idle while it waits to resolve, too).

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

/// What this kind keeps per meter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Slot {
    /// The condition.
    pub timed: Timed,
    /// The kW last published for the active alert (NaN: unknown, updated by the next reading).
    pub published: f32,
}

/// How far the kW must move from the value last published to update: a tenth of `idle_kw`, at
/// least 1 kW (an idle of a few kW would otherwise update on noise).
fn step_kw(idle_kw: f64) -> f64 {
    (idle_kw.abs() / 10.0).max(1.0)
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::PowerInSealedArea;
    const SUBJECT: SubjectType = SubjectType::Meter;
    const SEVERITY: Severity = Severity::Major;
    const DESCRIPTION: &'static str =
        "A meter of a sealed or restricted area above idle for a while: something runs where nothing should";
    type Params = Params;
    crate::slots!(meter = Slot);

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
        let st = &mut m.meter_state[i as usize].kinds.power_in_sealed_area;
        st.timed.restore(a.started_at.timestamp_millis());
        st.published = a.value.map_or(f32::NAN, |v| v as f32);
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
    let kw = st.kw;
    let slot = &mut st.kinds.power_in_sealed_area;
    let step = slot.timed.step(kw > meter.idle_kw, at, p.sealed_power_for, p.sealed_power_for);
    let published = f64::from(slot.published);
    let moved = published.is_nan() || (kw - published).abs() >= step_kw(meter.idle_kw);
    let active = slot.timed.active;
    if let Some(d) = slot.timed.deadline(p.sealed_power_for, p.sealed_power_for) {
        m.due(d);
    }
    let (op, t) = match step {
        Step::Hold if active && moved => (ChangeOp::Update, at),
        Step::Hold => return,
        Step::Raise(t) => (ChangeOp::Raise, t),
        Step::Resolve(t) => (ChangeOp::Resolve, t),
    };
    m.meter_state[i as usize].kinds.power_in_sealed_area.published = kw as f32;
    let s = m.meter_subject(Kind::PowerInSealedArea, i);
    // How a raised or updated alert names its meter.
    let meter_in_area = || {
        format!(
            "Meter {} in sealed/restricted area {} ({})",
            meter.id,
            m.def.areas[meter.area as usize].id,
            m.place(s.area_name)
        )
    };
    let message = if op == ChangeOp::Update && kw <= meter.idle_kw {
        format!(
            "{} is down to {kw:.1} kW, at or below idle {} kW: resolves after {} min idle",
            meter_in_area(),
            meter.idle_kw,
            p.sealed_power_for / 60_000
        )
    } else if op != ChangeOp::Resolve {
        format!(
            "{} draws {kw:.1} kW, above idle {} kW, for {} min",
            meter_in_area(),
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
    fn an_active_alerts_kw_follows_the_meter_by_a_tenth_of_idle_at_least_one_kw() {
        let mut m = mine();
        for s in (0..600).step_by(10) {
            power(&mut m, at(s), &[("MS", 40.0)]);
        }
        let c = power(&mut m, at(600), &[("MS", 40.0)]);
        assert_eq!(ops(&c, Kind::PowerInSealedArea), vec![("raise", "MS".into())]);
        // Idle 1 kW: a tenth is 0.1, the floor 1 kW. 0.9 kW up is quiet, 1.1 kW up updates.
        let c = power(&mut m, at(610), &[("MS", 40.9)]);
        assert!(ops(&c, Kind::PowerInSealedArea).is_empty());
        let c = power(&mut m, at(620), &[("MS", 41.1)]);
        assert_eq!(ops(&c, Kind::PowerInSealedArea), vec![("update", "MS".into())]);
        let u = c.iter().find(|c| c.kind == Kind::PowerInSealedArea).expect("update");
        assert_eq!(u.value, Some(41.1));
        assert!(u.message.contains("41.1 kW"), "{}", u.message);
        // Down to idle: the value follows while it waits to resolve.
        let c = power(&mut m, at(630), &[("MS", 0.5)]);
        assert_eq!(ops(&c, Kind::PowerInSealedArea), vec![("update", "MS".into())]);
        let u = c.iter().find(|c| c.kind == Kind::PowerInSealedArea).expect("update");
        assert!(u.message.contains("down to 0.5 kW"), "{}", u.message);
        let c = power(&mut m, at(1230), &[("MS", 0.5)]);
        assert_eq!(ops(&c, Kind::PowerInSealedArea), vec![("resolve", "MS".into())]);
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
