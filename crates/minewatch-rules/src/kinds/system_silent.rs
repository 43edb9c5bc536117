//! `system_silent` — a mine's safety, personnel or video system sent nothing for
//! `system_silent_after` of wall clock: the one wall-clock rule (a switched-off system sends no
//! event time to measure by). One alert per mine listing the silent systems; major, critical with
//! people underground. Resolves when every system reports again.

use super::{KindRule, MineState, Subject, ts};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::payload::System;
use minewatch_core::registry::MineStatus;
use minewatch_core::time::Millis;
use serde_json::{Value, json};

crate::params! {
    /// How long (wall clock) a safety, personnel or video system may send nothing.
    system_silent_after: Duration = secs(120), "duration";
}

/// What this kind keeps for the mine.
#[derive(Debug, Clone, Default)]
pub struct Systems {
    /// Wall clock when watching began (first tick), so a system that never reported is judged
    /// from then.
    pub watching_since: Option<Millis>,
    /// Systems in the active alert, and its severity.
    pub silent: Vec<System>,
    pub severity: Option<Severity>,
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::SystemSilent;
    const SUBJECT: SubjectType = SubjectType::Mine;
    const SEVERITY: Severity = Severity::Major;
    const DESCRIPTION: &'static str =
        "A mine's safety, personnel or video system sent nothing for a while of wall clock (critical with people underground)";
    type Params = Params;
    crate::slots!(mine = Systems);

    fn on_message(m: &mut MineState, p: &Params, system: System, _: Millis, wall: Millis, out: &mut Vec<Change>) {
        if m.kinds.system_silent.silent.contains(&system) {
            evaluate(m, p, wall, out);
        }
    }

    fn on_tick(m: &mut MineState, p: &Params, wall: Millis, out: &mut Vec<Change>) {
        if m.kinds.system_silent.watching_since.is_none() {
            m.kinds.system_silent.watching_since = Some(wall);
        }
        evaluate(m, p, wall, out);
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let st = &mut m.kinds.system_silent;
        st.silent = a
            .evidence
            .get("silent")
            .and_then(Value::as_array)
            .map(|v| {
                v.iter()
                    .filter_map(|s| s.as_str().and_then(System::parse))
                    .collect()
            })
            .unwrap_or_default();
        st.severity = Some(a.severity);
        true
    }
}

/// The systems a mine is expected to run, from what its registry defines.
fn expected(m: &MineState) -> impl Iterator<Item = System> + '_ {
    [
        (System::Safety, !m.def.points.is_empty()),
        (System::Personnel, !m.def.areas.is_empty()),
        (System::Video, !m.def.cameras.is_empty()),
    ]
    .into_iter()
    .filter(|(_, e)| *e)
    .map(|(s, _)| s)
}

/// Re-judges the mine at wall time `wall`.
fn evaluate(m: &mut MineState, p: &Params, wall: Millis, out: &mut Vec<Change>) {
    let watching = m.def.registered && m.status != MineStatus::Closed;
    let silent: Vec<System> = match (watching, m.kinds.system_silent.watching_since) {
        (true, Some(since)) => expected(m)
            .filter(|s| {
                wall - m.last_arrival[s.index()].unwrap_or(since) >= p.system_silent_after
            })
            .collect(),
        _ => Vec::new(),
    };
    let severity = if m.underground > 0 {
        Severity::Critical
    } else {
        Severity::Major
    };
    let op = match (m.kinds.system_silent.severity, silent.is_empty()) {
        (None, true) => return,
        (None, false) => ChangeOp::Raise,
        (Some(_), true) => ChangeOp::Resolve,
        (Some(old), false) if old != severity || silent != m.kinds.system_silent.silent => ChangeOp::Update,
        (Some(_), false) => return,
    };
    let names: Vec<&str> = silent.iter().map(|s| s.as_str()).collect();
    let place = m.place(None);
    let message = match op {
        ChangeOp::Resolve => format!("Every monitoring system of {place} reports again"),
        _ => format!(
            "The {} system{} of {place} sent nothing for {} s{}",
            names.join(", "),
            if names.len() > 1 { "s" } else { "" },
            p.system_silent_after / 1000,
            if m.underground > 0 {
                format!(" with {} people underground", m.underground)
            } else {
                String::new()
            }
        ),
    };
    let last_seen: serde_json::Map<String, serde_json::Value> = expected(m)
        .map(|s| {
            (
                s.as_str().to_string(),
                json!(m.last_arrival[s.index()].map(ts)),
            )
        })
        .collect();
    let evidence = json!({
        "silent": names, "last_seen": last_seen, "after_s": p.system_silent_after / 1000,
        "underground": m.underground, "wall_clock": ts(wall),
    });
    let final_sev = if op == ChangeOp::Resolve {
        m.kinds.system_silent.severity.unwrap_or(severity)
    } else {
        severity
    };
    if op == ChangeOp::Resolve {
        m.kinds.system_silent.severity = None;
        m.kinds.system_silent.silent.clear();
    } else {
        m.kinds.system_silent.severity = Some(severity);
        m.kinds.system_silent.silent = silent;
    }
    let s = Subject {
        kind: Kind::SystemSilent,
        subject: m.def.id.clone(),
        area: None,
        area_name: None,
    };
    out.push(m.change(op, s, final_sev, message, None, None, wall, evidence));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::kinds::RulesConfig as Params;
    use minewatch_core::alert::{ChangeOp, Kind, Severity};
    use minewatch_core::payload::{Batch, Items, System, TagObs};

    fn tick(m: &mut crate::MineState, wall: i64) -> Vec<minewatch_core::Change> {
        let mut out = Vec::new();
        m.on_tick(&Params::default(), wall, &mut out);
        out
    }

    fn arrive(
        m: &mut crate::MineState,
        system: System,
        b: &Batch<'_>,
        wall: i64,
    ) -> Vec<minewatch_core::Change> {
        let mut out = Vec::new();
        m.on_batch(&Params::default(), system, b, wall, &mut out);
        out
    }

    fn video(t: i64) -> Batch<'static> {
        Batch::new(t, Items::Video(Vec::new()))
    }

    fn people(t: i64) -> Batch<'static> {
        let tag = TagObs {
            tag: "T1".into(),
            person: None,
            leader: true,
            area: Some("A1".into()),
            underground: true,
            down_at: None,
            distress: false,
            ts: t,
        };
        Batch::new(t, Items::Personnel(vec![tag]))
    }

    #[test]
    fn a_silent_system_raises_on_wall_clock_and_escalates_with_people_underground() {
        let mut m = mine();
        assert!(tick(&mut m, at(0)).is_empty());
        arrive(&mut m, System::Safety, &normal(at(60)), at(60));
        arrive(&mut m, System::Video, &video(at(60)), at(60));
        assert!(tick(&mut m, at(119)).is_empty());
        let c = tick(&mut m, at(120));
        assert_eq!(ops(&c, Kind::SystemSilent), vec![("raise", "M1".into())]);
        assert_eq!(c[0].severity, Severity::Major);
        assert_eq!(c[0].evidence["silent"], serde_json::json!(["personnel"]));
        // People report (personnel back), then safety and video go quiet with people down.
        let c = arrive(&mut m, System::Personnel, &people(at(125)), at(125));
        assert_eq!(ops(&c, Kind::SystemSilent), vec![("resolve", "M1".into())]);
        assert!(tick(&mut m, at(179)).is_empty());
        let c = tick(&mut m, at(180));
        assert_eq!(ops(&c, Kind::SystemSilent), vec![("raise", "M1".into())]);
        assert_eq!(c[0].severity, Severity::Critical);
        assert!(c[0].message.contains("safety, video"), "{}", c[0].message);
        assert!(
            tick(&mut m, at(300))
                .iter()
                .all(|c| c.op != ChangeOp::Raise),
            "raised once"
        );
    }

    #[test]
    fn a_mine_whose_systems_all_report_is_never_silent() {
        let mut m = mine();
        tick(&mut m, at(0));
        for s in (0..3600).step_by(10) {
            arrive(&mut m, System::Safety, &normal(at(s)), at(s));
            arrive(&mut m, System::Personnel, &people(at(s)), at(s));
            arrive(&mut m, System::Video, &video(at(s)), at(s));
            assert!(tick(&mut m, at(s) + 5_000).is_empty());
        }
    }
}
