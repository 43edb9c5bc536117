//! `overtime` — a tag underground longer than the mine's `shift_hours` plus `overtime_margin`.
//! Warning. Resolves when it comes out.

use super::{KindRule, MineState};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::payload::TagObs;
use minewatch_core::time::Millis;
use serde_json::json;

crate::params! {
    /// Allowed beyond the mine's `shift_hours`: 2 hours.
    overtime_margin: Duration = hours(2), "duration";
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::Overtime;
    const SUBJECT: SubjectType = SubjectType::Tag;
    const SEVERITY: Severity = Severity::Warning;
    const DESCRIPTION: &'static str =
        "A tag underground longer than the mine's shift plus a margin";
    type Params = Params;
    // Per tag: whether the alert is raised.
    crate::slots!(tag = bool);

    fn on_tag(m: &mut MineState, p: &Params, obs: &TagObs<'_>, out: &mut Vec<Change>) {
        evaluate(m, p, &obs.tag, obs.ts, out);
    }

    fn sweep(m: &mut MineState, p: &Params, clock: Millis, _: Millis, out: &mut Vec<Change>) {
        let tags: Vec<Box<str>> = m
            .tags
            .iter()
            .filter(|(_, t)| t.underground || t.kinds.overtime)
            .map(|(k, _)| k.clone())
            .collect();
        for t in tags {
            evaluate(m, p, &t, clock, out);
        }
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        // The tag's own state comes with its next observation; until then it holds the alert.
        let t = m.tags.entry(Box::from(a.subject.as_str())).or_default();
        t.kinds.overtime = true;
        true
    }
}

/// How long a tag may stay underground in this mine.
fn limit(m: &MineState, p: &Params) -> Millis {
    (m.def.shift_hours * 3_600_000.0) as Millis + p.overtime_margin
}

/// Judges tag `tag` at `at` (after an observation, or on a sweep).
fn evaluate(m: &mut MineState, p: &Params, tag: &str, at: Millis, out: &mut Vec<Change>) {
    let limit = limit(m, p);
    let Some(t) = m.tags.get(tag) else { return };
    if t.ts == 0 {
        // Restored from an alert after a restart: judged again once the tag is next seen.
        return;
    }
    let (underground, down_at, area, active) = (t.underground, t.down_at, t.area, t.kinds.overtime);
    let over = underground && down_at.is_some_and(|d| at - d > limit);
    if !over
        && underground
        && let Some(d) = down_at
    {
        m.due(d + limit + 1);
    }
    let op = match (active, over) {
        (false, true) => ChangeOp::Raise,
        (true, false) => ChangeOp::Resolve,
        _ => return,
    };
    if let Some(t) = m.tags.get_mut(tag) {
        t.kinds.overtime = over;
    }
    let who = m.tag_label(tag);
    let hours = down_at.map_or(0.0, |d| (at - d) as f64 / 3_600_000.0);
    let area_name = area.map(|a| m.def.areas[a as usize].name.clone());
    let message = if over {
        format!(
            "{who} has been underground {hours:.1} h ({}), beyond the {} h shift and {} h margin",
            m.place(area_name.as_deref()),
            m.def.shift_hours,
            p.overtime_margin / 3_600_000
        )
    } else {
        format!(
            "{who} has come out after {hours:.1} h ({})",
            m.place(area_name.as_deref())
        )
    };
    let s = m.tag_subject(Kind::Overtime, tag, area);
    let evidence = json!({"tag": tag, "down_at": down_at.map(super::ts), "hours": hours, "limit_h": limit as f64 / 3_600_000.0});
    out.push(m.change(
        op,
        s,
        Severity::Warning,
        message,
        Some(hours),
        Some(limit as f64 / 3_600_000.0),
        at,
        evidence,
    ));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::Kind;

    #[test]
    fn a_tag_down_past_shift_and_margin_is_flagged_even_without_new_data_and_resolves_when_out() {
        let mut m = mine();
        let mut t = crew("A1", 2, true);
        t[1].down_at = Some(at(0));
        people(&mut m, at(0), &t);
        // Ten hours later only a safety batch arrives: the mine clock passes the limit.
        assert!(
            ops(
                &feed(&mut m, &safety(at(10 * 3600), &[("P0", 0.05, 0)])),
                Kind::Overtime
            )
            .is_empty()
        );
        let c = feed(&mut m, &safety(at(10 * 3600 + 10), &[("P0", 0.05, 0)]));
        assert_eq!(ops(&c, Kind::Overtime), vec![("raise", "T1".into())]);
        t[1].underground = false;
        let c = people(&mut m, at(10 * 3600 + 20), &t);
        assert_eq!(ops(&c, Kind::Overtime), vec![("resolve", "T1".into())]);
    }

    #[test]
    fn a_restored_overtime_is_not_resolved_until_the_tag_is_seen_again() {
        let mut m = mine();
        let mut out = Vec::new();
        m.restore(&[stored(Kind::Overtime, "T1", Some("A1"))], &mut out);
        let c = people(&mut m, at(0), &crew("A2", 1, true));
        assert!(ops(&c, Kind::Overtime).is_empty(), "{c:?}");
        let mut t = crew("A1", 2, true);
        t[1].underground = false;
        let c = people(&mut m, at(10), &t);
        assert_eq!(ops(&c, Kind::Overtime), vec![("resolve", "T1".into())]);
    }
}
