//! `area_over_quota` — more people in an area than its `quota`: warning; major above 120 % (the
//! 2020 hazard criteria call a crew 20 % over its limit a major hazard). Resolves at or under quota.
//! While active, updated when the severity changes or the count in the area differs from the
//! count last published, so the alert's value and message follow the people there.

use super::{KindRule, MineState};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::registry::Idx;
use minewatch_core::time::Millis;
use serde_json::json;

crate::params! {}

/// What this kind keeps per area.
#[derive(Debug, Clone, Copy, Default)]
pub struct Slot {
    /// Severity of the active alert, if any.
    pub sev: Option<Severity>,
    /// The count last published for the active alert.
    pub published: u32,
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::AreaOverQuota;
    const SUBJECT: SubjectType = SubjectType::Area;
    const SEVERITY: Severity = Severity::Warning;
    const DESCRIPTION: &'static str =
        "More people in an area than its quota (major above 120 %)";
    type Params = Params;
    crate::slots!(area = Slot);

    fn after_personnel(m: &mut MineState, _: &Params, at: Millis, out: &mut Vec<Change>) {
        evaluate(m, at, out);
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let Some(i) = m.def.area(&a.subject) else {
            return false;
        };
        // A stored alert without a value is updated by the next count.
        m.area_state[i as usize].kinds.area_over_quota = Slot {
            sev: Some(a.severity),
            published: a.value.map_or(u32::MAX, |v| v as u32),
        };
        true
    }
}

/// Re-judges every area with a quota after the people count changed at `at`.
fn evaluate(m: &mut MineState, at: Millis, out: &mut Vec<Change>) {
    for a in 0..m.def.areas.len() as Idx {
        let Some(quota) = m.def.areas[a as usize].quota else {
            continue;
        };
        let n = m.people[a as usize];
        let sev = if n as f64 > quota as f64 * 1.2 {
            Some(Severity::Major)
        } else if n > quota {
            Some(Severity::Warning)
        } else {
            None
        };
        let Slot { sev: old, published } = m.area_state[a as usize].kinds.area_over_quota;
        let op = match (old, sev) {
            (None, Some(_)) => ChangeOp::Raise,
            (Some(o), Some(s)) if o != s || n != published => ChangeOp::Update,
            (Some(_), None) => ChangeOp::Resolve,
            _ => continue,
        };
        m.area_state[a as usize].kinds.area_over_quota = Slot { sev, published: n };
        let area = &m.def.areas[a as usize];
        let s = m.area_subject(Kind::AreaOverQuota, a);
        let message = match op {
            ChangeOp::Resolve => format!(
                "{} ({}) is back within its quota: {n} of {quota} people",
                area.id,
                m.place(Some(&area.name))
            ),
            _ => format!(
                "{n} people in {} ({}), quota {quota} ({:.0}%)",
                area.id,
                m.place(Some(&area.name)),
                n as f64 * 100.0 / quota.max(1) as f64
            ),
        };
        let tags = m.tags_in(a, 50);
        let evidence = json!({"people": n, "quota": quota, "ratio": n as f64 / quota.max(1) as f64, "tags": tags});
        let sev = sev.or(old).unwrap_or(Severity::Warning);
        out.push(m.change(
            op,
            s,
            sev,
            message,
            Some(n as f64),
            Some(quota as f64),
            at,
            evidence,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::{Kind, Severity};

    #[test]
    fn an_area_over_quota_warns_escalates_above_120_percent_and_resolves() {
        let mut m = mine();
        let c = people(&mut m, at(0), &crew("A1", 10, true));
        assert!(
            ops(&c, Kind::AreaOverQuota).is_empty(),
            "10 of 10 is within quota"
        );
        let c = people(&mut m, at(10), &crew("A1", 11, true));
        assert_eq!(ops(&c, Kind::AreaOverQuota), vec![("raise", "A1".into())]);
        assert_eq!(
            c.iter()
                .find(|c| c.kind == Kind::AreaOverQuota)
                .map(|c| c.severity),
            Some(Severity::Warning)
        );
        let c = people(&mut m, at(20), &crew("A1", 13, true));
        let u: Vec<_> = c.iter().filter(|c| c.kind == Kind::AreaOverQuota).collect();
        assert_eq!((u.len(), u[0].severity), (1, Severity::Major));
        let mut back = crew("A1", 13, true);
        for t in back.iter_mut().skip(10) {
            t.underground = false;
        }
        let c = people(&mut m, at(30), &back);
        assert_eq!(ops(&c, Kind::AreaOverQuota), vec![("resolve", "A1".into())]);
    }

    #[test]
    fn an_active_alerts_count_follows_the_people_in_the_area() {
        let mut m = mine();
        let c = people(&mut m, at(0), &crew("A1", 11, true));
        assert_eq!(ops(&c, Kind::AreaOverQuota), vec![("raise", "A1".into())]);
        // The same count: quiet.
        let c = people(&mut m, at(10), &crew("A1", 11, true));
        assert!(ops(&c, Kind::AreaOverQuota).is_empty());
        // One more, still a warning (12 of 10 is not above 120 %): an update with the new count.
        let c = people(&mut m, at(20), &crew("A1", 12, true));
        assert_eq!(ops(&c, Kind::AreaOverQuota), vec![("update", "A1".into())]);
        let u = c.iter().find(|c| c.kind == Kind::AreaOverQuota).expect("update");
        assert_eq!((u.value, u.severity), (Some(12.0), Severity::Warning));
        assert!(u.message.starts_with("12 people"), "{}", u.message);
        let mut back = crew("A1", 12, true);
        for t in back.iter_mut().skip(10) {
            t.underground = false;
        }
        let c = people(&mut m, at(30), &back);
        assert_eq!(ops(&c, Kind::AreaOverQuota), vec![("resolve", "A1".into())]);
    }
}
