//! `untagged_work` — a declared coal face or heading whose face meter draws production power (at
//! least `untagged_load_factor` times its `idle_kw`, and 1 kW above it) for `untagged_work_for`
//! (10 min) while no tag is in that area: people working without their cards, the usual way to
//! hide long hours and over-capacity. Major. Judged from the power and personnel systems together;
//! resolves as soon as a tag is in the area or the load drops. Never updated: its value is the
//! count of people tagged in the area, 0 for as long as it is active (a tag there resolves it).
//!
//! Only judged while both systems speak: a meter reading or a personnel batch older than
//! `silent_after` (mine clock) says nothing about who is there now, and a mine that has sent no
//! personnel data at all is not judged. Not judged either where other kinds already look: sealed
//! and undeclared areas (concealed work), and a mine under a suspension order or closed (any
//! production there is the graver finding about the mine itself).

use super::{KindRule, MineState};
use crate::timed::{Step, Timed};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::registry::{AreaKind, Idx, Load, MineStatus};
use minewatch_core::time::Millis;
use serde_json::{Value, json};

crate::params! {
    /// How long a face may draw production power with no tag in its area.
    untagged_work_for: Duration = mins(10), "duration";
    /// A face meter at or above this multiple of its `idle_kw` (and at least 1 kW above it) is at
    /// production load.
    untagged_load_factor: Number = 2.0, "× idle_kw";
    /// Meter and personnel data older than this say nothing about now (a key other kinds
    /// declare too).
    silent_after: Duration = secs(120), "duration";
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::UntaggedWork;
    const SUBJECT: SubjectType = SubjectType::Area;
    const SEVERITY: Severity = Severity::Major;
    const DESCRIPTION: &'static str =
        "A face or heading draws production power while no tag is in the area: people working without their cards";
    type Params = Params;
    // Per area: the condition; for the mine: the event time of the last personnel batch.
    crate::slots!(area = Timed, mine = Millis);

    fn after_personnel(m: &mut MineState, _: &Params, at: Millis, _: &mut Vec<Change>) {
        m.kinds.untagged_work = m.kinds.untagged_work.max(at);
    }

    fn cross_system(m: &mut MineState, p: &Params, at: Millis, out: &mut Vec<Change>) {
        evaluate(m, p, at, out);
    }

    fn on_status(m: &mut MineState, p: &Params, at: Millis, out: &mut Vec<Change>) {
        evaluate(m, p, at, out);
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let Some(i) = m.def.area(&a.subject) else {
            return false;
        };
        m.area_state[i as usize]
            .kinds
            .untagged_work
            .restore(a.started_at.timestamp_millis());
        true
    }
}

/// The face meters of area `a` at production load at `at` (fresh readings only).
fn loaded<'a>(
    m: &'a MineState,
    p: &'a Params,
    a: Idx,
    at: Millis,
) -> impl Iterator<Item = Idx> + 'a {
    m.area_meters[a as usize].iter().copied().filter(move |&i| {
        let (def, st) = (&m.def.meters[i as usize], &m.meter_state[i as usize]);
        def.load == Load::Face
            && st.ts != 0
            && at - st.ts <= p.silent_after
            && st.kw >= threshold(def.idle_kw, p)
    })
}

/// The least kW of production load for a meter idling at `idle_kw`.
fn threshold(idle_kw: f64, p: &Params) -> f64 {
    (idle_kw * p.untagged_load_factor).max(idle_kw + 1.0)
}

/// Whether any face meter of area `a` has a fresh reading at `at`.
fn metered(m: &MineState, p: &Params, a: Idx, at: Millis) -> bool {
    m.area_meters[a as usize].iter().any(|&i| {
        let st = &m.meter_state[i as usize];
        m.def.meters[i as usize].load == Load::Face && st.ts != 0 && at - st.ts <= p.silent_after
    })
}

/// Judges every declared face and heading at `at`.
fn evaluate(m: &mut MineState, p: &Params, at: Millis, out: &mut Vec<Change>) {
    let personnel = m.kinds.untagged_work;
    let personnel_fresh = personnel != 0 && at - personnel <= p.silent_after;
    let judged_mine = matches!(m.status, MineStatus::Producing | MineStatus::Construction);
    for a in 0..m.def.areas.len() as Idx {
        let area = &m.def.areas[a as usize];
        if !matches!(area.kind, AreaKind::CoalFace | AreaKind::Heading) || !area.declared {
            continue;
        }
        if judged_mine && !(personnel_fresh && metered(m, p, a, at)) {
            // Nothing to judge by now: the condition starts over, an active alert stays.
            let t = &mut m.area_state[a as usize].kinds.untagged_work;
            if !t.active {
                t.since = 0;
            }
            continue;
        }
        let people = m.people[a as usize];
        // Evidence is built only when something changes: no allocation per message.
        let holds = judged_mine && people == 0 && loaded(m, p, a, at).next().is_some();
        let t = &mut m.area_state[a as usize].kinds.untagged_work;
        let step = t.step(holds, at, p.untagged_work_for, 0);
        if let Some(d) = t.deadline(p.untagged_work_for, 0) {
            m.due(d);
        }
        let (op, when) = match step {
            Step::Hold => continue,
            Step::Raise(w) => (ChangeOp::Raise, w),
            Step::Resolve(w) => (ChangeOp::Resolve, w),
        };
        let loads: Vec<Value> = loaded(m, p, a, at)
            .map(|i| {
                let (def, st) = (&m.def.meters[i as usize], &m.meter_state[i as usize]);
                json!({"meter": &*def.id, "kw": st.kw, "idle_kw": def.idle_kw,
                    "threshold_kw": threshold(def.idle_kw, p)})
            })
            .collect();
        let area = &m.def.areas[a as usize];
        let place = m.place(Some(&area.name));
        let message = if op == ChangeOp::Raise {
            let what: Vec<String> = loads
                .iter()
                .map(|l| {
                    format!(
                        "{} at {} (idle {})",
                        l["meter"].as_str().unwrap_or("?"),
                        super::fmt_value(l["kw"].as_f64().unwrap_or(0.0), " kW"),
                        super::fmt_value(l["idle_kw"].as_f64().unwrap_or(0.0), " kW")
                    )
                })
                .collect();
            format!(
                "{} ({place}) draws production power ({}) with no tag in the area for {} min: people working without their cards?",
                area.id,
                what.join(", "),
                p.untagged_work_for / 60_000
            )
        } else if people > 0 {
            format!("{} ({place}) has {people} tagged people again", area.id)
        } else if !judged_mine {
            format!("{} ({place}): the mine is no longer producing", area.id)
        } else {
            format!("{} ({place}) is no longer at production load", area.id)
        };
        let since = m.area_state[a as usize].kinds.untagged_work.since;
        let evidence = json!({
            "meters": loads, "people": people, "tags": m.tags_in(a, 20),
            "for_s": p.untagged_work_for / 1000, "load_factor": p.untagged_load_factor,
            "since": if since == 0 { None } else { Some(super::ts(since)) },
            "personnel_at": super::ts(personnel),
        });
        let s = m.area_subject(Kind::UntaggedWork, a);
        out.push(m.change(
            op,
            s,
            Severity::Major,
            message,
            Some(f64::from(people)),
            None,
            when,
            evidence,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::{Change, Kind};
    use minewatch_core::registry::MineStatus;

    /// Every 10 s from `from` to `to` seconds: the face meter MF at `kw`, and a personnel batch
    /// each minute with three people in `area`.
    fn run(
        m: &mut crate::kinds::MineState,
        from: i64,
        to: i64,
        kw: f64,
        area: &'static str,
    ) -> Vec<Change> {
        let mut all = Vec::new();
        for s in (from..to).step_by(10) {
            if s % 60 == 0 {
                all.extend(people(m, at(s), &crew(area, 3, false)));
            }
            all.extend(power(m, at(s), &[("MF", kw)]));
        }
        all
    }

    #[test]
    fn a_face_at_production_load_with_nobody_tagged_there_for_ten_minutes_is_raised_and_resolves()
    {
        let mut m = mine();
        // The crew's tags report in the return (A2) while the face (A1) draws 80 kW (idle 5).
        let c = run(&mut m, 0, 600, 80.0, "A2");
        assert!(ops(&c, Kind::UntaggedWork).is_empty(), "not before ten minutes");
        let c = run(&mut m, 600, 610, 80.0, "A2");
        assert_eq!(ops(&c, Kind::UntaggedWork), vec![("raise", "A1".into())]);
        let raised = c
            .iter()
            .find(|c| c.kind == Kind::UntaggedWork)
            .expect("raised");
        assert_eq!(raised.evidence["people"], 0);
        assert_eq!(raised.evidence["meters"][0]["meter"], "MF");
        assert!(
            raised.message.contains("MF at 80 kW (idle 5 kW)")
                && raised.message.contains("without their cards"),
            "{}",
            raised.message
        );
        // Nothing else: a declared, open face is no concealed work.
        assert!(ops(&c, Kind::ConcealedWork).is_empty());
        // The tags show up in the face: resolved at once.
        let c = run(&mut m, 610, 670, 80.0, "A1");
        assert_eq!(ops(&c, Kind::UntaggedWork), vec![("resolve", "A1".into())]);
    }

    #[test]
    fn the_load_must_reach_the_factor_over_idle() {
        // Idle 5 kW, factor 2: 9.9 kW is not production load, 10 kW is.
        let mut m = mine();
        let c = run(&mut m, 0, 3600, 9.9, "A2");
        assert!(ops(&c, Kind::UntaggedWork).is_empty());
        let mut m = mine();
        let c = run(&mut m, 0, 610, 10.0, "A2");
        assert_eq!(ops(&c, Kind::UntaggedWork), vec![("raise", "A1".into())]);
        // And the load dropping resolves it.
        let c = run(&mut m, 610, 620, 4.0, "A2");
        assert_eq!(ops(&c, Kind::UntaggedWork), vec![("resolve", "A1".into())]);
    }

    #[test]
    fn people_tagged_at_the_face_or_an_interruption_keep_it_quiet() {
        let mut m = mine();
        assert!(ops(&run(&mut m, 0, 3600, 80.0, "A1"), Kind::UntaggedWork).is_empty());
        // Nine minutes untagged, a tag back for a minute, nine more: never ten in a row.
        let mut m = mine();
        let mut all = run(&mut m, 0, 540, 80.0, "A2");
        all.extend(run(&mut m, 540, 600, 80.0, "A1"));
        all.extend(run(&mut m, 600, 1140, 80.0, "A2"));
        assert!(ops(&all, Kind::UntaggedWork).is_empty());
    }

    #[test]
    fn without_personnel_data_or_with_a_suspension_order_it_is_not_judged() {
        // No personnel system at all: nobody is known to be anywhere, which proves nothing.
        let mut m = mine();
        for s in (0..3600).step_by(10) {
            assert!(ops(&power(&mut m, at(s), &[("MF", 80.0)]), Kind::UntaggedWork).is_empty());
        }
        // Personnel data that stopped (older than two minutes) says nothing either.
        let mut m = mine();
        people(&mut m, at(0), &crew("A2", 3, false));
        for s in (0..3600).step_by(10) {
            assert!(ops(&power(&mut m, at(s), &[("MF", 80.0)]), Kind::UntaggedWork).is_empty());
        }
        // A suspended mine's production is the suspension kind's business.
        let mut m = mine();
        m.status = MineStatus::Suspended;
        assert!(ops(&run(&mut m, 0, 3600, 80.0, "A2"), Kind::UntaggedWork).is_empty());
    }

    #[test]
    fn a_restored_alert_resolves_when_people_are_tagged_there() {
        let mut m = mine();
        let a = stored(Kind::UntaggedWork, "A1", Some("A1"));
        assert!(<super::Rule as super::KindRule>::restore(&mut m, &a));
        let c = run(&mut m, 0, 10, 80.0, "A1");
        assert_eq!(ops(&c, Kind::UntaggedWork), vec![("resolve", "A1".into())]);
    }
}
