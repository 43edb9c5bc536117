//! `distress` — a tag reports distress (SOS). Critical. Resolves when distress is cleared.

use super::{KindRule, MineState};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::payload::TagObs;
use minewatch_core::time::Millis;
use serde_json::json;

crate::params! {}

/// What this kind keeps per tag.
#[derive(Debug, Clone, Copy, Default)]
pub struct Slot {
    /// The tag's latest observation says distress.
    pub distress: bool,
    /// Whether the alert is raised.
    pub distress_active: bool,
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::Distress;
    const SUBJECT: SubjectType = SubjectType::Tag;
    const SEVERITY: Severity = Severity::Critical;
    const DESCRIPTION: &'static str = "A tag reports distress (SOS)";
    type Params = Params;
    crate::slots!(tag = Slot);

    fn on_tag(m: &mut MineState, _: &Params, obs: &TagObs<'_>, out: &mut Vec<Change>) {
        // The observation is the tag's state unless the tag holds a newer one.
        if let Some(t) = m.tags.get_mut(&*obs.tag)
            && t.ts == obs.ts
        {
            t.kinds.distress.distress = obs.distress;
        }
        evaluate(m, &obs.tag, obs.ts, out);
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        // The tag's own state comes with its next observation; until then it holds the alert
        // (and does not count as underground).
        let t = m.tags.entry(Box::from(a.subject.as_str())).or_default();
        t.kinds.distress = Slot {
            distress: true,
            distress_active: true,
        };
        true
    }
}

/// Judges tag `tag` after its observation at `at`.
fn evaluate(m: &mut MineState, tag: &str, at: Millis, out: &mut Vec<Change>) {
    let Some(t) = m.tags.get(tag) else { return };
    if t.ts == 0 {
        // Restored from an alert after a restart: judged again once the tag is next seen.
        return;
    }
    let op = match (t.kinds.distress.distress_active, t.kinds.distress.distress) {
        (false, true) => ChangeOp::Raise,
        (true, false) => ChangeOp::Resolve,
        _ => return,
    };
    let (now, area) = (t.kinds.distress.distress, t.area);
    if let Some(t) = m.tags.get_mut(tag) {
        t.kinds.distress.distress_active = now;
    }
    let who = m.tag_label(tag);
    let area_name = area.map(|a| m.def.areas[a as usize].name.clone());
    let message = if now {
        format!("DISTRESS from {who} in {}", m.place(area_name.as_deref()))
    } else {
        format!(
            "Distress from {who} cleared ({})",
            m.place(area_name.as_deref())
        )
    };
    let s = m.tag_subject(Kind::Distress, tag, area);
    let evidence = json!({"tag": tag, "person": m.tags.get(tag).and_then(|t| t.person.as_deref()),
        "area": area.map(|a| m.def.areas[a as usize].id.to_string()), "ts": super::ts(at)});
    out.push(m.change(op, s, Severity::Critical, message, None, None, at, evidence));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::{Kind, Severity};

    #[test]
    fn a_distress_call_is_critical_and_clears_with_the_tag() {
        let mut m = mine();
        let mut t = crew("A1", 2, true);
        people(&mut m, at(0), &t);
        t[1].distress = true;
        let c = people(&mut m, at(10), &t);
        assert_eq!(ops(&c, Kind::Distress), vec![("raise", "T1".into())]);
        assert_eq!(
            c.iter()
                .find(|c| c.kind == Kind::Distress)
                .map(|c| c.severity),
            Some(Severity::Critical)
        );
        assert!(
            ops(&people(&mut m, at(20), &t), Kind::Distress).is_empty(),
            "raised once"
        );
        t[1].distress = false;
        assert_eq!(
            ops(&people(&mut m, at(30), &t), Kind::Distress),
            vec![("resolve", "T1".into())]
        );
    }
}
