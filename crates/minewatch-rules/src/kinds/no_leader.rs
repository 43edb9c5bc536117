//! `no_leader` — more than `leader_required_above` people underground and no mine leader down with
//! them (带班下井), for `no_leader_for`. Major. Resolves when a leader is down (or the crew is
//! small enough again).

use super::{KindRule, MineState};
use crate::timed::{Step, Timed};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::time::Millis;
use serde_json::json;

crate::params! {
    /// The crew size above which a leader must be down.
    leader_required_above: Count = 10, "people";
    /// How long without a leader.
    no_leader_for: Duration = mins(30), "duration";
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::NoLeader;
    const SUBJECT: SubjectType = SubjectType::Mine;
    const SEVERITY: Severity = Severity::Major;
    const DESCRIPTION: &'static str =
        "A large crew underground with no mine leader down with them (带班下井)";
    type Params = Params;
    crate::slots!(mine = Timed);

    fn after_personnel(m: &mut MineState, p: &Params, at: Millis, out: &mut Vec<Change>) {
        evaluate(m, p, at, out);
    }

    fn sweep(m: &mut MineState, p: &Params, clock: Millis, _: Millis, out: &mut Vec<Change>) {
        evaluate(m, p, clock, out);
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        m.kinds.no_leader.restore(a.started_at.timestamp_millis());
        true
    }
}

/// Judges the mine at `at`.
fn evaluate(m: &mut MineState, p: &Params, at: Millis, out: &mut Vec<Change>) {
    let holds = m.underground > p.leader_required_above && m.leaders_underground == 0;
    let step = m.kinds.no_leader.step(holds, at, p.no_leader_for, 0);
    if let Some(d) = m.kinds.no_leader.deadline(p.no_leader_for, 0) {
        m.due(d);
    }
    let (op, t) = match step {
        Step::Hold => return,
        Step::Raise(t) => (ChangeOp::Raise, t),
        Step::Resolve(t) => (ChangeOp::Resolve, t),
    };
    let n = m.underground;
    let message = if op == ChangeOp::Raise {
        format!(
            "{n} people underground at {} and no mine leader with them for {} min",
            m.place(None),
            p.no_leader_for / 60_000
        )
    } else {
        format!(
            "A mine leader is underground at {} again ({} leaders, {n} people)",
            m.place(None),
            m.leaders_underground
        )
    };
    let s = m.mine_subject(Kind::NoLeader);
    let evidence = json!({"underground": n, "leaders_underground": m.leaders_underground, "required_above": p.leader_required_above,
        "since": if m.kinds.no_leader.since == 0 { None } else { Some(super::ts(m.kinds.no_leader.since)) }});
    out.push(m.change(
        op,
        s,
        Severity::Major,
        message,
        Some(n as f64),
        None,
        t,
        evidence,
    ));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::Kind;

    #[test]
    fn a_crew_without_a_leader_for_thirty_minutes_is_flagged_and_resolves_when_one_goes_down() {
        let mut m = mine();
        let no_leader = crew("A2", 12, false);
        let mut all = Vec::new();
        for s in (0..=1790).step_by(10) {
            all.extend(people(&mut m, at(s), &no_leader));
        }
        assert!(ops(&all, Kind::NoLeader).is_empty());
        let c = people(&mut m, at(1800), &no_leader);
        assert_eq!(ops(&c, Kind::NoLeader), vec![("raise", "M1".into())]);
        let c = people(&mut m, at(1810), &crew("A2", 12, true));
        assert_eq!(ops(&c, Kind::NoLeader), vec![("resolve", "M1".into())]);
    }

    #[test]
    fn a_small_crew_needs_no_leader() {
        let mut m = mine();
        for s in (0..=3600).step_by(60) {
            assert!(
                ops(
                    &people(&mut m, at(s), &crew("A2", 10, false)),
                    Kind::NoLeader
                )
                .is_empty()
            );
        }
    }
}
