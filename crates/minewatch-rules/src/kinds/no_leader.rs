//! `no_leader` — more than `leader_required_above` people underground and no mine leader down with
//! them (带班下井), for `no_leader_for`. Major. Resolves when a leader is down (or the crew is
//! small enough again). While active, updated whenever the count underground differs from the
//! count last published, so the alert's value and message follow the crew.

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

/// What this kind keeps for the mine.
#[derive(Debug, Clone, Copy, Default)]
pub struct Slot {
    /// The condition.
    pub timed: Timed,
    /// The count last published for the active alert.
    pub published: u32,
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::NoLeader;
    const SUBJECT: SubjectType = SubjectType::Mine;
    const SEVERITY: Severity = Severity::Major;
    const DESCRIPTION: &'static str =
        "A large crew underground with no mine leader down with them (带班下井)";
    type Params = Params;
    crate::slots!(mine = Slot);

    fn after_personnel(m: &mut MineState, p: &Params, at: Millis, out: &mut Vec<Change>) {
        evaluate(m, p, at, out);
    }

    fn sweep(m: &mut MineState, p: &Params, clock: Millis, _: Millis, out: &mut Vec<Change>) {
        evaluate(m, p, clock, out);
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        m.kinds.no_leader.timed.restore(a.started_at.timestamp_millis());
        // A stored alert without a value is updated by the next count.
        m.kinds.no_leader.published = a.value.map_or(u32::MAX, |v| v as u32);
        true
    }
}

/// Judges the mine at `at`.
fn evaluate(m: &mut MineState, p: &Params, at: Millis, out: &mut Vec<Change>) {
    let holds = m.underground > p.leader_required_above && m.leaders_underground == 0;
    let st = &mut m.kinds.no_leader;
    let step = st.timed.step(holds, at, p.no_leader_for, 0);
    if let Some(d) = st.timed.deadline(p.no_leader_for, 0) {
        m.due(d);
    }
    let n = m.underground;
    let (op, t) = match step {
        Step::Hold if m.kinds.no_leader.timed.active && n != m.kinds.no_leader.published => {
            (ChangeOp::Update, at)
        }
        Step::Hold => return,
        Step::Raise(t) => (ChangeOp::Raise, t),
        Step::Resolve(t) => (ChangeOp::Resolve, t),
    };
    m.kinds.no_leader.published = n;
    let message = if op != ChangeOp::Resolve {
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
        "since": if m.kinds.no_leader.timed.since == 0 { None } else { Some(super::ts(m.kinds.no_leader.timed.since)) }});
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
    fn an_active_alerts_count_follows_the_people_underground() {
        let mut m = mine();
        for s in (0..1800).step_by(60) {
            people(&mut m, at(s), &crew("A2", 12, false));
        }
        let c = people(&mut m, at(1800), &crew("A2", 12, false));
        assert_eq!(ops(&c, Kind::NoLeader), vec![("raise", "M1".into())]);
        // The same count: quiet.
        let c = people(&mut m, at(1810), &crew("A2", 12, false));
        assert!(ops(&c, Kind::NoLeader).is_empty());
        // One more: an update carrying the new count.
        let c = people(&mut m, at(1820), &crew("A2", 13, false));
        assert_eq!(ops(&c, Kind::NoLeader), vec![("update", "M1".into())]);
        let u = c.iter().find(|c| c.kind == Kind::NoLeader).expect("update");
        assert_eq!((u.value, u.at), (Some(13.0), at(1820)));
        assert!(u.message.starts_with("13 people"), "{}", u.message);
        let c = people(&mut m, at(1830), &crew("A2", 13, true));
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
