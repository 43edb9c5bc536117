//! `mine_over_capacity` — more people underground than the mine's approved `max_underground`.
//! Major. Resolves at or under. While active, updated whenever the count underground differs
//! from the count last published, so the alert's value and message follow the crew.

use super::{KindRule, MineState};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::time::Millis;
use serde_json::json;

crate::params! {}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::MineOverCapacity;
    const SUBJECT: SubjectType = SubjectType::Mine;
    const SEVERITY: Severity = Severity::Major;
    const DESCRIPTION: &'static str =
        "More people underground than the mine's approved maximum";
    type Params = Params;
    // For the mine: the count last published while the alert is raised (None: not raised).
    crate::slots!(mine = Option<u32>);

    fn after_personnel(m: &mut MineState, _: &Params, at: Millis, out: &mut Vec<Change>) {
        evaluate(m, at, out);
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        // A stored alert without a value is updated by the next count.
        m.kinds.mine_over_capacity = Some(a.value.map_or(u32::MAX, |v| v as u32));
        true
    }
}

/// Re-judges the mine after the people count changed at `at`.
fn evaluate(m: &mut MineState, at: Millis, out: &mut Vec<Change>) {
    let max = m.def.max_underground;
    let over = max > 0 && m.underground > max;
    let n = m.underground;
    let op = match (m.kinds.mine_over_capacity, over) {
        (None, true) => ChangeOp::Raise,
        (Some(_), false) => ChangeOp::Resolve,
        (Some(last), true) if last != n => ChangeOp::Update,
        _ => return,
    };
    m.kinds.mine_over_capacity = over.then_some(n);
    let message = if over {
        format!(
            "{n} people underground at {}, above the approved {max}",
            m.place(None)
        )
    } else {
        format!(
            "{n} people underground at {}, within the approved {max}",
            m.place(None)
        )
    };
    let s = m.mine_subject(Kind::MineOverCapacity);
    let evidence = json!({"underground": n, "max_underground": max, "leaders_underground": m.leaders_underground});
    out.push(m.change(
        op,
        s,
        Severity::Major,
        message,
        Some(n as f64),
        Some(max as f64),
        at,
        evidence,
    ));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::Kind;

    #[test]
    fn more_people_than_approved_is_flagged_and_resolves_when_they_come_up() {
        let mut m = mine();
        assert!(
            ops(
                &people(&mut m, at(0), &crew("A2", 100, true)),
                Kind::MineOverCapacity
            )
            .is_empty()
        );
        let c = people(&mut m, at(10), &crew("A2", 101, true));
        assert_eq!(
            ops(&c, Kind::MineOverCapacity),
            vec![("raise", "M1".into())]
        );
        let mut back = crew("A2", 101, true);
        back[100].underground = false;
        let c = people(&mut m, at(20), &back);
        assert_eq!(
            ops(&c, Kind::MineOverCapacity),
            vec![("resolve", "M1".into())]
        );
    }

    #[test]
    fn an_active_alerts_count_follows_the_people_underground() {
        let mut m = mine();
        let c = people(&mut m, at(0), &crew("A2", 101, true));
        assert_eq!(ops(&c, Kind::MineOverCapacity), vec![("raise", "M1".into())]);
        // The same count again: quiet (under the threshold of one person).
        let c = people(&mut m, at(10), &crew("A2", 101, true));
        assert!(ops(&c, Kind::MineOverCapacity).is_empty());
        // One more: an update carrying the new count, in the value and the message.
        let c = people(&mut m, at(20), &crew("A2", 102, true));
        assert_eq!(ops(&c, Kind::MineOverCapacity), vec![("update", "M1".into())]);
        let u = c.iter().find(|c| c.kind == Kind::MineOverCapacity).expect("update");
        assert_eq!(u.value, Some(102.0));
        assert!(u.message.contains("102 people"), "{}", u.message);
        let mut back = crew("A2", 102, true);
        for t in back.iter_mut().skip(100) {
            t.underground = false;
        }
        let c = people(&mut m, at(30), &back);
        assert_eq!(ops(&c, Kind::MineOverCapacity), vec![("resolve", "M1".into())]);
    }
}
