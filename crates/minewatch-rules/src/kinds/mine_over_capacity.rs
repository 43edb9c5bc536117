//! `mine_over_capacity` — more people underground than the mine's approved `max_underground`.
//! Major. Resolves at or under.

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
    // For the mine: whether the alert is raised.
    crate::slots!(mine = bool);

    fn after_personnel(m: &mut MineState, _: &Params, at: Millis, out: &mut Vec<Change>) {
        evaluate(m, at, out);
    }

    fn restore(m: &mut MineState, _: &Alert) -> bool {
        m.kinds.mine_over_capacity = true;
        true
    }
}

/// Re-judges the mine after the people count changed at `at`.
fn evaluate(m: &mut MineState, at: Millis, out: &mut Vec<Change>) {
    let max = m.def.max_underground;
    let over = max > 0 && m.underground > max;
    let op = match (m.kinds.mine_over_capacity, over) {
        (false, true) => ChangeOp::Raise,
        (true, false) => ChangeOp::Resolve,
        _ => return,
    };
    m.kinds.mine_over_capacity = over;
    let n = m.underground;
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
}
