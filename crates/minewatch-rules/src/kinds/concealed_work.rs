//! `concealed_work` (隐蔽工作面) — an undeclared or sealed area (or one the registry does not
//! define) shows two or more independent signs of work for `concealed_for` (30 min): people there,
//! a meter there above idle, explosives issued there (a sign for `explosives_sign_for`), data
//! reporting from an area the registry does not define. Critical; judged from the personnel,
//! power and explosives systems together. Resolves when every sign has been gone for
//! `concealed_clear` (1 h).

use super::{KindRule, MineState, Subject};
use crate::timed::{Step, Timed};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::registry::{AreaKind, Idx};
use minewatch_core::time::Millis;
use serde_json::{Value, json};
use std::sync::Arc;

crate::params! {
    /// How long two or more signs must show.
    concealed_for: Duration = mins(30), "duration";
    /// How long without any sign to resolve.
    concealed_clear: Duration = hours(1), "duration";
    /// How long an explosives issue counts as a sign (a key another kind declares
    /// too).
    explosives_sign_for: Duration = hours(1), "duration";
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::ConcealedWork;
    const SUBJECT: SubjectType = SubjectType::Area;
    const SEVERITY: Severity = Severity::Critical;
    const DESCRIPTION: &'static str =
        "An undeclared or sealed area (or one not in the registry) shows two or more signs of work (隐蔽工作面)";
    type Params = Params;
    crate::slots!(area = Timed);

    fn cross_system(m: &mut MineState, p: &Params, at: Millis, out: &mut Vec<Change>) {
        evaluate(m, p, at, out);
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let started = a.started_at.timestamp_millis();
        match m.def.area(&a.subject) {
            Some(i) => m.area_state[i as usize].kinds.concealed_work.restore(started),
            None => m.extra_area(&a.subject).kinds.concealed_work.restore(started),
        }
        true
    }
}

fn watched(m: &MineState, a: Idx) -> bool {
    let area = &m.def.areas[a as usize];
    area.kind == AreaKind::Sealed || !area.declared
}

fn registered_signs(m: &MineState, p: &Params, a: Idx, at: Millis) -> Vec<Value> {
    let mut s = Vec::new();
    if m.people[a as usize] > 0 {
        s.push(json!({"sign": "people", "people": m.people[a as usize], "tags": m.tags_in(a, 20)}));
    }
    let loads: Vec<Value> = m.area_meters[a as usize]
        .iter()
        .filter(|&&i| m.meter_state[i as usize].ts != 0 && m.meter_state[i as usize].kw > m.def.meters[i as usize].idle_kw)
        .map(|&i| json!({"meter": &*m.def.meters[i as usize].id, "kw": m.meter_state[i as usize].kw, "idle_kw": m.def.meters[i as usize].idle_kw}))
        .collect();
    if !loads.is_empty() {
        s.push(json!({"sign": "load", "meters": loads}));
    }
    let e = m.area_state[a as usize].explosives_at;
    if e != 0 && at - e < p.explosives_sign_for {
        s.push(json!({"sign": "explosives", "issued_at": super::ts(e)}));
    }
    s
}

/// Judges every watched area (registered and not) at `at`.
fn evaluate(m: &mut MineState, p: &Params, at: Millis, out: &mut Vec<Change>) {
    for a in 0..m.def.areas.len() as Idx {
        if !watched(m, a) {
            continue;
        }
        let signs = registered_signs(m, p, a, at);
        let area = &m.def.areas[a as usize];
        let s = Subject {
            kind: Kind::ConcealedWork,
            subject: area.id.clone(),
            area: Some(area.id.clone()),
            area_name: None,
        };
        let label = format!(
            "{} ({})",
            area.id,
            if area.kind == AreaKind::Sealed {
                "sealed"
            } else {
                "undeclared"
            }
        );
        let mut t = m.area_state[a as usize].kinds.concealed_work;
        step(m, p, &mut t, s, &label, signs, at, out);
        m.area_state[a as usize].kinds.concealed_work = t;
        let e = m.area_state[a as usize].explosives_at;
        if e != 0 && at - e < p.explosives_sign_for {
            m.due(e + p.explosives_sign_for);
        }
    }
    let ids: Vec<Box<str>> = m.extra_areas.keys().cloned().collect();
    for id in ids {
        let Some(&x) = m.extra_areas.get(&id) else {
            continue;
        };
        let mut signs = vec![json!({"sign": "unregistered", "area": &*id})];
        if x.people > 0 {
            signs.push(json!({"sign": "people", "people": x.people}));
        }
        if x.explosives_at != 0 && at - x.explosives_at < p.explosives_sign_for {
            signs.push(json!({"sign": "explosives", "issued_at": super::ts(x.explosives_at)}));
            m.due(x.explosives_at + p.explosives_sign_for);
        }
        // Being unregistered is a sign only while something reports from the area.
        if signs.len() == 1 {
            signs.clear();
        }
        let mut t = x.kinds.concealed_work;
        let s = Subject {
            kind: Kind::ConcealedWork,
            subject: Arc::from(&*id),
            area: Some(Arc::from(&*id)),
            area_name: None,
        };
        let label = format!("{id} (not in the registry)");
        step(m, p, &mut t, s, &label, signs, at, out);
        if let Some(x) = m.extra_areas.get_mut(&id) {
            x.kinds.concealed_work = t;
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn step(
    m: &mut MineState,
    p: &Params,
    t: &mut Timed,
    s: Subject<'_>,
    label: &str,
    signs: Vec<Value>,
    at: Millis,
    out: &mut Vec<Change>,
) {
    // Two signs start it; once raised, any sign keeps it.
    let holds = if t.active {
        !signs.is_empty()
    } else {
        signs.len() >= 2
    };
    let step = t.step(holds, at, p.concealed_for, p.concealed_clear);
    if let Some(d) = t.deadline(p.concealed_for, p.concealed_clear) {
        m.due(d);
    }
    let (op, when) = match step {
        Step::Hold => return,
        Step::Raise(w) => (ChangeOp::Raise, w),
        Step::Resolve(w) => (ChangeOp::Resolve, w),
    };
    let message = if op == ChangeOp::Raise {
        let what: Vec<&str> = signs.iter().filter_map(|s| s["sign"].as_str()).collect();
        format!(
            "Concealed work? {label} at {} shows {} for {} min",
            m.place(None),
            what.join(" + "),
            p.concealed_for / 60_000
        )
    } else {
        format!(
            "No sign of work in {label} at {} for an hour",
            m.place(None)
        )
    };
    let evidence = json!({"signs": signs, "since": if t.since == 0 { None } else { Some(super::ts(t.since)) }});
    out.push(m.change(
        op,
        s,
        Severity::Critical,
        message,
        None,
        None,
        when,
        evidence,
    ));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::Kind;

    #[test]
    fn people_and_load_in_an_undeclared_area_for_thirty_minutes_is_concealed_work() {
        let mut m = mine();
        let mut all = Vec::new();
        for s in (0..=1790).step_by(10) {
            all.extend(people(&mut m, at(s), &crew("U1", 3, false)));
            all.extend(power(&mut m, at(s), &[("MU", 80.0)]));
        }
        assert!(ops(&all, Kind::ConcealedWork).is_empty());
        let c = power(&mut m, at(1800), &[("MU", 80.0)]);
        assert_eq!(ops(&c, Kind::ConcealedWork), vec![("raise", "U1".into())]);
        let signs = &c
            .iter()
            .find(|c| c.kind == Kind::ConcealedWork)
            .map(|c| c.evidence["signs"].clone())
            .unwrap_or_default();
        assert_eq!(signs.as_array().map(Vec::len), Some(2), "{signs}");
    }

    #[test]
    fn a_single_sign_is_not_enough() {
        let mut m = mine();
        for s in (0..=3600).step_by(10) {
            assert!(ops(&power(&mut m, at(s), &[("MU", 80.0)]), Kind::ConcealedWork).is_empty());
        }
    }

    #[test]
    fn people_reporting_from_an_area_the_registry_does_not_define_is_two_signs() {
        let mut m = mine();
        let mut all = Vec::new();
        for s in (0..=1800).step_by(10) {
            all.extend(people(&mut m, at(s), &crew("A99", 2, false)));
        }
        assert_eq!(
            ops(&all, Kind::ConcealedWork),
            vec![("raise", "A99".into())]
        );
        assert_eq!(
            ops(&all, Kind::UnregisteredDevice),
            vec![("raise", "A99".into())]
        );
    }
}
