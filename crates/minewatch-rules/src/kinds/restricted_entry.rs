//! `restricted_entry` — a tag in a sealed or restricted area (sealed goaf, blasting zone).
//! Critical. Resolves when it leaves.

use crate::engine::MineState;
use minewatch_core::alert::{Change, ChangeOp, Kind, Severity};
use minewatch_core::registry::AreaKind;
use minewatch_core::time::Millis;
use serde_json::json;

/// Judges tag `tag` after its observation at `at`.
pub fn evaluate(m: &mut MineState, tag: &str, at: Millis, out: &mut Vec<Change>) {
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
    let op = match (t.restricted, inside) {
        (false, true) => ChangeOp::Raise,
        (true, false) => ChangeOp::Resolve,
        _ => return,
    };
    let area = if inside { t.area } else { t.restricted_area };
    if let Some(t) = m.tags.get_mut(tag) {
        t.restricted = inside;
        t.restricted_area = area;
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
