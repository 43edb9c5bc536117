//! `production_while_suspended` — the mine is under a suspension order and shows production: a
//! face or hoist load above idle for `production_for` (30 min), more people underground than its
//! `suspended_crew`, or explosives issued (within `explosives_sign_for`). Critical. Judged from the
//! power, personnel and explosives systems together. Resolves when no such sign has shown for
//! `production_clear` (1 h), or at once when the order is lifted.

use super::{KindRule, MineState};
use crate::timed::{Step, Timed};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::registry::{Idx, Load, MineStatus};
use minewatch_core::time::Millis;
use serde_json::{Value, json};

crate::params! {
    /// A face or hoist load above idle this long is a sign.
    production_for: Duration = mins(30), "duration";
    /// How long without a sign to resolve.
    production_clear: Duration = hours(1), "duration";
    /// How long an explosives issue counts as a sign (a key another kind declares too).
    explosives_sign_for: Duration = hours(1), "duration";
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::ProductionWhileSuspended;
    const SUBJECT: SubjectType = SubjectType::Mine;
    const SEVERITY: Severity = Severity::Critical;
    const DESCRIPTION: &'static str =
        "A mine under a suspension order shows production: face or hoist load, a crew, explosives";
    type Params = Params;
    // Per meter: above idle for `production_for`; for the mine: the alert's condition.
    crate::slots!(meter = Timed, mine = Timed);

    fn on_meter(m: &mut MineState, p: &Params, i: Idx, at: Millis, _: &mut Vec<Change>) {
        busy(m, p, i, at);
    }

    fn cross_system(m: &mut MineState, p: &Params, at: Millis, out: &mut Vec<Change>) {
        evaluate(m, p, at, out);
    }

    fn sweep(m: &mut MineState, p: &Params, clock: Millis, _: Millis, _: &mut Vec<Change>) {
        for i in 0..m.meter_state.len() as Idx {
            if m.meter_state[i as usize].ts != 0 {
                busy(m, p, i, clock);
            }
        }
    }

    fn on_status(m: &mut MineState, p: &Params, at: Millis, out: &mut Vec<Change>) {
        evaluate(m, p, at, out);
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        m.kinds
            .production_while_suspended
            .restore(a.started_at.timestamp_millis());
        true
    }
}

/// Whether meter `i` has been above idle for `production_for`.
fn busy(m: &mut MineState, p: &Params, i: Idx, at: Millis) {
    let idle = m.def.meters[i as usize].idle_kw;
    let st = &mut m.meter_state[i as usize];
    let holds = st.ts != 0 && st.kw > idle;
    let busy = &mut st.kinds.production_while_suspended;
    busy.step(holds, at, p.production_for, 0);
    if let Some(d) = busy.deadline(p.production_for, 0) {
        m.due(d);
    }
}

/// The production signs showing at `at`.
fn signs(m: &MineState, p: &Params, at: Millis) -> Vec<Value> {
    let mut s = Vec::new();
    for (i, meter) in m.def.meters.iter().enumerate() {
        let st = &m.meter_state[i];
        if matches!(meter.load, Load::Face | Load::Hoist) && st.kinds.production_while_suspended.active {
            s.push(json!({"sign": "load", "meter": &*meter.id, "load": meter.load, "kw": st.kw, "idle_kw": meter.idle_kw,
                "since": super::ts(st.kinds.production_while_suspended.since)}));
        }
    }
    if m.underground > m.def.suspended_crew {
        s.push(json!({"sign": "people", "underground": m.underground, "suspended_crew": m.def.suspended_crew}));
    }
    if m.explosives_at != 0 && at - m.explosives_at < p.explosives_sign_for {
        s.push(json!({"sign": "explosives", "issued_at": super::ts(m.explosives_at)}));
    }
    s
}

/// Judges the mine at `at`.
fn evaluate(m: &mut MineState, p: &Params, at: Millis, out: &mut Vec<Change>) {
    if m.status != MineStatus::Suspended {
        if m.kinds.production_while_suspended.active {
            m.kinds.production_while_suspended = Default::default();
            emit(
                m,
                ChangeOp::Resolve,
                Vec::new(),
                at,
                "the suspension order was lifted",
                out,
            );
        }
        return;
    }
    let signs = signs(m, p, at);
    let step = m
        .kinds
        .production_while_suspended
        .step(!signs.is_empty(), at, 0, p.production_clear);
    if let Some(d) = m.kinds.production_while_suspended.deadline(0, p.production_clear) {
        m.due(d);
    }
    if m.explosives_at != 0 && at - m.explosives_at < p.explosives_sign_for {
        m.due(m.explosives_at + p.explosives_sign_for);
    }
    match step {
        Step::Hold => {}
        Step::Raise(t) => emit(m, ChangeOp::Raise, signs, t, "", out),
        Step::Resolve(t) => emit(
            m,
            ChangeOp::Resolve,
            signs,
            t,
            "no sign of production for an hour",
            out,
        ),
    }
}

fn emit(
    m: &MineState,
    op: ChangeOp,
    signs: Vec<Value>,
    at: Millis,
    why: &str,
    out: &mut Vec<Change>,
) {
    let s = m.mine_subject(Kind::ProductionWhileSuspended);
    let message = if op == ChangeOp::Raise {
        let what: Vec<String> = signs
            .iter()
            .map(|s| match s["sign"].as_str() {
                Some("load") => format!(
                    "{} load above idle ({} kW)",
                    s["meter"].as_str().unwrap_or("?"),
                    s["kw"]
                ),
                Some("people") => format!(
                    "{} people underground (crew allowed {})",
                    s["underground"], s["suspended_crew"]
                ),
                _ => "explosives issued".to_string(),
            })
            .collect();
        format!(
            "{} is under a suspension order but shows production: {}",
            m.place(None),
            what.join("; ")
        )
    } else {
        format!("{}: {why}", m.place(None))
    };
    let evidence = json!({"signs": signs, "status": m.status.as_str()});
    out.push(m.change(op, s, Severity::Critical, message, None, None, at, evidence));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::Kind;
    use minewatch_core::registry::MineStatus;

    #[test]
    fn a_suspended_mine_with_a_hoist_running_for_half_an_hour_is_flagged_and_clears_after_an_hour_idle()
     {
        let mut m = mine();
        m.status = MineStatus::Suspended;
        let mut all = Vec::new();
        for s in (0..=1790).step_by(10) {
            all.extend(power(&mut m, at(s), &[("MH", 500.0)]));
        }
        assert!(ops(&all, Kind::ProductionWhileSuspended).is_empty());
        let c = power(&mut m, at(1800), &[("MH", 500.0)]);
        assert_eq!(
            ops(&c, Kind::ProductionWhileSuspended),
            vec![("raise", "M1".into())]
        );
        assert!(
            c.iter().any(|c| c.kind == Kind::ProductionWhileSuspended
                && c.evidence["signs"][0]["meter"] == "MH")
        );
        let mut all = Vec::new();
        for s in (1810..=1810 + 3590).step_by(10) {
            all.extend(power(&mut m, at(s), &[("MH", 2.0)]));
        }
        assert!(
            ops(&all, Kind::ProductionWhileSuspended).is_empty(),
            "not before an hour without signs"
        );
        let c = power(&mut m, at(1810 + 3600), &[("MH", 2.0)]);
        assert_eq!(
            ops(&c, Kind::ProductionWhileSuspended),
            vec![("resolve", "M1".into())]
        );
    }

    #[test]
    fn people_beyond_the_suspended_crew_or_explosives_show_at_once() {
        let mut m = mine();
        m.status = MineStatus::Suspended;
        assert!(
            ops(
                &people(&mut m, at(0), &crew("A2", 5, true)),
                Kind::ProductionWhileSuspended
            )
            .is_empty(),
            "crew of 5 allowed"
        );
        let c = people(&mut m, at(10), &crew("A2", 6, true));
        assert_eq!(
            ops(&c, Kind::ProductionWhileSuspended),
            vec![("raise", "M1".into())]
        );
        let mut n = mine();
        n.status = MineStatus::Suspended;
        let c = explosives(&mut n, at(0), "A1", 10.0);
        assert_eq!(
            ops(&c, Kind::ProductionWhileSuspended),
            vec![("raise", "M1".into())]
        );
    }

    #[test]
    fn a_producing_mine_may_produce() {
        let mut m = mine();
        for s in (0..=3600).step_by(10) {
            assert!(
                ops(
                    &power(&mut m, at(s), &[("MH", 500.0)]),
                    Kind::ProductionWhileSuspended
                )
                .is_empty()
            );
        }
    }
}
