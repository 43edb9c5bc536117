//! `restricted_entry` — a tag in a sealed or restricted area (sealed goaf, blasting zone).
//! Critical. Resolves when it leaves.

use super::{KindRule, MineState, Remap};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::payload::TagObs;
use minewatch_core::registry::{AreaKind, Idx, MineDef};
use minewatch_core::time::Millis;
use serde_json::json;

crate::params! {}

/// What this kind keeps per tag.
#[derive(Debug, Clone, Copy, Default)]
pub struct Slot {
    /// Whether the alert is raised, and about which area.
    pub restricted: bool,
    pub restricted_area: Option<Idx>,
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::RestrictedEntry;
    const SUBJECT: SubjectType = SubjectType::Tag;
    const SEVERITY: Severity = Severity::Critical;
    const DESCRIPTION: &'static str =
        "A tag in a sealed or restricted area (sealed goaf, blasting zone)";
    type Params = Params;
    crate::slots!(tag = Slot);

    fn on_tag(m: &mut MineState, _: &Params, obs: &TagObs<'_>, out: &mut Vec<Change>) {
        evaluate(m, &obs.tag, obs.ts, out);
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        // The tag's own state comes with its next observation; until then it holds the alert
        // (and does not count as underground).
        let area = a.area.as_deref().and_then(|x| m.def.area(x));
        let t = m.tags.entry(Box::from(a.subject.as_str())).or_default();
        t.kinds.restricted_entry = Slot {
            restricted: true,
            restricted_area: area,
        };
        true
    }

    fn rebind_tag(slot: &mut Slot, r: &Remap<'_>) {
        slot.restricted_area = slot
            .restricted_area
            .and_then(|a| r.areas.get(a as usize).copied().flatten());
        if slot.restricted_area.is_none() {
            // The area has gone: so has the alert (resolved by the reload).
            slot.restricted = false;
        }
    }

    /// A tag is no registry subject, but the restricted area it was in is: when that area has
    /// gone, so has the alert.
    fn still_applies(_: &MineDef, m: &MineState, subject: &str) -> bool {
        m.tags
            .get(subject)
            .is_some_and(|t| t.kinds.restricted_entry.restricted_area.is_some())
    }
}

/// Judges tag `tag` after its observation at `at`.
fn evaluate(m: &mut MineState, tag: &str, at: Millis, out: &mut Vec<Change>) {
    let Some(t) = m.tags.get(tag) else { return };
    if t.ts == 0 {
        // Restored from an alert after a restart: judged again once the tag is next seen.
        return;
    }
    let inside = t.underground
        && t.area.is_some_and(|a| {
            matches!(
                m.def.areas[a as usize].kind,
                AreaKind::Sealed | AreaKind::Restricted
            )
        });
    let op = match (t.kinds.restricted_entry.restricted, inside) {
        (false, true) => ChangeOp::Raise,
        (true, false) => ChangeOp::Resolve,
        _ => return,
    };
    let area = if inside { t.area } else { t.kinds.restricted_entry.restricted_area };
    if let Some(t) = m.tags.get_mut(tag) {
        t.kinds.restricted_entry.restricted = inside;
        t.kinds.restricted_entry.restricted_area = area;
    }
    let who = m.tag_label(tag);
    let (area_id, area_name) = area.map_or((String::new(), String::new()), |a| {
        let a = &m.def.areas[a as usize];
        (a.id.to_string(), a.name.clone())
    });
    let message = if inside {
        format!(
            "{who} is in {area_id} ({}), a sealed or restricted area",
            m.place(Some(&area_name))
        )
    } else {
        format!("{who} has left {area_id} ({})", m.place(Some(&area_name)))
    };
    let s = m.tag_subject(Kind::RestrictedEntry, tag, area);
    let evidence = json!({"tag": tag, "person": m.tags.get(tag).and_then(|t| t.person.as_deref()), "area": area_id, "ts": super::ts(at)});
    out.push(m.change(op, s, Severity::Critical, message, None, None, at, evidence));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::Kind;

    #[test]
    fn a_tag_entering_a_sealed_area_is_critical_until_it_leaves() {
        let mut m = mine();
        let mut t = crew("A1", 1, true);
        people(&mut m, at(0), &t);
        t[0].area = Some("S1".into());
        let c = people(&mut m, at(10), &t);
        assert_eq!(ops(&c, Kind::RestrictedEntry), vec![("raise", "T0".into())]);
        t[0].area = Some("A1".into());
        let c = people(&mut m, at(20), &t);
        assert_eq!(
            ops(&c, Kind::RestrictedEntry),
            vec![("resolve", "T0".into())]
        );
    }
}
