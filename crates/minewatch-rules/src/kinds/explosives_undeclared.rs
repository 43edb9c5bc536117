//! `explosives_undeclared` — explosives issued to an area that is sealed, restricted, not declared,
//! or not in the registry at all. Major. Stays until acknowledged; an issue after the ack raises
//! it again. Never updated: its value is the kg of the issue that raised it, an event, not a level
//! that moves; a further issue to the area while active is not re-judged (the alert stands until
//! an operator acknowledges it).

use super::{KindRule, MineState, Subject};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::payload::IssueObs;
use minewatch_core::registry::AreaKind;
use minewatch_core::time::Millis;
use serde_json::json;
use std::sync::Arc;

crate::params! {}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::ExplosivesUndeclared;
    const SUBJECT: SubjectType = SubjectType::Area;
    const SEVERITY: Severity = Severity::Major;
    const DESCRIPTION: &'static str =
        "Explosives issued to an area that is sealed, restricted, undeclared or not in the registry";
    const RESOLVES_ON_ACK: bool = true;
    type Params = Params;
    // Per area (registered or not): whether the alert is raised.
    crate::slots!(area = bool);

    fn on_issue(m: &mut MineState, _: &Params, i: &IssueObs<'_>, out: &mut Vec<Change>) {
        on_issue(m, &i.area, i.kg, i.detonators, i.ts, out);
    }

    fn on_ack(m: &mut MineState, alert: &Alert, at: Millis, out: &mut Vec<Change>) {
        acked(m, alert, at, out);
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        match m.def.area(&a.subject) {
            Some(i) => m.area_state[i as usize].kinds.explosives_undeclared = true,
            None => m.extra_area(&a.subject).kinds.explosives_undeclared = true,
        }
        true
    }
}

/// An issue of `kg` and `detonators` to area `area` at `at`.
fn on_issue(
    m: &mut MineState,
    area: &str,
    kg: f64,
    detonators: u32,
    at: Millis,
    out: &mut Vec<Change>,
) {
    let (why, registered) = match m.def.area(area) {
        Some(a) => {
            let def = &m.def.areas[a as usize];
            let why = match def.kind {
                AreaKind::Sealed => "a sealed area",
                AreaKind::Restricted => "a restricted area",
                _ if !def.declared => "an undeclared area",
                _ => return,
            };
            if m.area_state[a as usize].kinds.explosives_undeclared {
                return;
            }
            m.area_state[a as usize].kinds.explosives_undeclared = true;
            (why, true)
        }
        None => {
            let e = m.extra_area(area);
            if e.kinds.explosives_undeclared {
                return;
            }
            e.kinds.explosives_undeclared = true;
            ("an area the registry does not define", false)
        }
    };
    let name = m
        .def
        .area(area)
        .map(|a| m.def.areas[a as usize].name.clone());
    let message = format!(
        "{kg} kg of explosives and {detonators} detonators issued to {area} ({}), {why}",
        m.place(name.as_deref())
    );
    let s = Subject {
        kind: Kind::ExplosivesUndeclared,
        subject: Arc::from(area),
        area: Some(Arc::from(area)),
        area_name: None,
    };
    let evidence = json!({"area": area, "kg": kg, "detonators": detonators, "reason": why, "registered": registered, "ts": super::ts(at)});
    out.push(m.change(
        ChangeOp::Raise,
        s,
        Severity::Major,
        message,
        Some(kg),
        None,
        at,
        evidence,
    ));
}

/// The operator acknowledged the alert: it resolves, and the next issue raises a new one.
fn acked(m: &mut MineState, alert: &Alert, at: Millis, out: &mut Vec<Change>) {
    match m.def.area(&alert.subject) {
        Some(a) => m.area_state[a as usize].kinds.explosives_undeclared = false,
        None => m.extra_area(&alert.subject).kinds.explosives_undeclared = false,
    }
    let s = Subject {
        kind: Kind::ExplosivesUndeclared,
        subject: Arc::from(alert.subject.as_str()),
        area: alert.area.as_deref().map(Arc::from),
        area_name: None,
    };
    let message = format!("{} (acknowledged)", alert.message);
    out.push(m.change(
        ChangeOp::Resolve,
        s,
        alert.severity,
        message,
        alert.value,
        None,
        at,
        alert.evidence.clone(),
    ));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::Kind;

    #[test]
    fn explosives_to_a_sealed_undeclared_or_unknown_area_are_flagged_once_until_acked() {
        let mut m = mine();
        assert!(
            ops(
                &explosives(&mut m, at(0), "A1", 24.0),
                Kind::ExplosivesUndeclared
            )
            .is_empty(),
            "a declared face"
        );
        let c = explosives(&mut m, at(10), "S1", 10.0);
        assert_eq!(
            ops(&c, Kind::ExplosivesUndeclared),
            vec![("raise", "S1".into())]
        );
        assert!(
            ops(
                &explosives(&mut m, at(20), "S1", 10.0),
                Kind::ExplosivesUndeclared
            )
            .is_empty(),
            "stays, not raised twice"
        );
        let c = explosives(&mut m, at(30), "U1", 5.0);
        assert_eq!(
            ops(&c, Kind::ExplosivesUndeclared),
            vec![("raise", "U1".into())]
        );
        let c = explosives(&mut m, at(40), "A9", 5.0);
        assert_eq!(
            ops(&c, Kind::ExplosivesUndeclared),
            vec![("raise", "A9".into())]
        );
    }
}
