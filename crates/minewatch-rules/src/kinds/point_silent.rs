//! `point_silent` — a defined point sent nothing for `silent_after` of its mine's clock. Major.
//! Resolves when it reports. Points that never reported are judged from when the mine's clock
//! started (or the definition was loaded), so a restart gives every point a full period. Never
//! updated: a silent point sends no readings while the alert is active (its first one resolves it).

use super::{KindRule, MineState, ts};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::registry::{Idx, MineStatus};
use minewatch_core::time::Millis;
use serde_json::json;

crate::params! {
    /// How long (mine clock) a defined point may send nothing: 120 s, four polling cycles of the
    /// 30 s the standard allows.
    silent_after: Duration = secs(120), "duration";
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::PointSilent;
    const SUBJECT: SubjectType = SubjectType::Point;
    const SEVERITY: Severity = Severity::Major;
    const DESCRIPTION: &'static str = "A defined point that sent nothing for a while of its mine's clock";
    type Params = Params;
    // Per point: whether the alert is raised.
    crate::slots!(point = bool);

    fn on_reading(m: &mut MineState, _: &Params, i: Idx, at: Millis, out: &mut Vec<Change>) {
        if m.points[i as usize].kinds.point_silent {
            resolve(m, i, at, out);
        }
    }

    fn sweep(m: &mut MineState, p: &Params, clock: Millis, epoch: Millis, out: &mut Vec<Change>) {
        for i in 0..m.points.len() as Idx {
            sweep(m, p, i, clock, epoch, out);
        }
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let Some(i) = m.def.point(&a.subject) else {
            return false;
        };
        m.points[i as usize].kinds.point_silent = true;
        true
    }
}

/// Raises for a point whose silence has reached `silent_after`; otherwise schedules the check.
fn sweep(
    m: &mut MineState,
    p: &Params,
    i: Idx,
    clock: Millis,
    epoch: Millis,
    out: &mut Vec<Change>,
) {
    let st = m.points[i as usize];
    if st.kinds.point_silent || m.status == MineStatus::Closed {
        return;
    }
    let base = st.last_seen.max(epoch);
    let due = base + p.silent_after;
    if clock < due {
        m.due(due);
        return;
    }
    m.points[i as usize].kinds.point_silent = true;
    let point = &m.def.points[i as usize];
    let s = m.point_subject(Kind::PointSilent, i);
    let last = if st.last_seen == 0 {
        "since monitoring began".to_string()
    } else {
        format!("since {}", ts(st.last_seen))
    };
    let message = format!(
        "{} point {} ({}) has sent nothing for {} s ({last})",
        point.kind.label(),
        point.id,
        m.place(s.area_name),
        (clock - base) / 1000
    );
    let evidence = json!({
        "last_seen": if st.last_seen == 0 { None } else { Some(ts(st.last_seen)) },
        "last_value": if st.last_seen == 0 { None } else { Some(st.value) },
        "silent_after_s": p.silent_after / 1000,
        "mine_clock": ts(clock),
    });
    out.push(m.change(
        ChangeOp::Raise,
        s,
        Severity::Major,
        message,
        None,
        None,
        due,
        evidence,
    ));
}

/// The point reported at `at`.
fn resolve(m: &mut MineState, i: Idx, at: Millis, out: &mut Vec<Change>) {
    m.points[i as usize].kinds.point_silent = false;
    let point = &m.def.points[i as usize];
    let s = m.point_subject(Kind::PointSilent, i);
    let message = format!(
        "{} point {} ({}) reports again",
        point.kind.label(),
        point.id,
        m.place(s.area_name)
    );
    let v = m.points[i as usize].value;
    out.push(m.change(
        ChangeOp::Resolve,
        s,
        Severity::Major,
        message,
        Some(v),
        None,
        at,
        json!({"value": v, "ts": ts(at)}),
    ));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::Kind;

    fn all_but_p1(t: i64) -> minewatch_core::payload::Batch<'static> {
        safety(
            t,
            &[
                ("P0", 0.05, 0),
                ("P2", 0.45, 0),
                ("O1", 20.8, 0),
                ("F1", 1.0, 0),
                ("F2", 1.0, 0),
            ],
        )
    }

    #[test]
    fn a_point_silent_for_two_minutes_of_mine_clock_is_raised_and_resolves_when_it_reports() {
        let mut m = mine();
        feed(&mut m, &normal(at(0)));
        for s in (10..=110).step_by(10) {
            let c = feed(&mut m, &all_but_p1(at(s)));
            assert!(
                ops(&c, Kind::PointSilent).is_empty(),
                "nothing before 120 s (at {s} s)"
            );
        }
        let c = feed(&mut m, &all_but_p1(at(120)));
        assert_eq!(ops(&c, Kind::PointSilent), vec![("raise", "P1".into())]);
        assert!(
            ops(&feed(&mut m, &all_but_p1(at(140))), Kind::PointSilent).is_empty(),
            "raised once"
        );
        let c = feed(&mut m, &normal(at(150)));
        assert_eq!(ops(&c, Kind::PointSilent), vec![("resolve", "P1".into())]);
    }

    #[test]
    fn a_point_that_never_reported_is_judged_from_the_start_of_the_mine_clock() {
        let mut m = mine();
        feed(&mut m, &all_but_p1(at(0)));
        assert!(ops(&feed(&mut m, &all_but_p1(at(110))), Kind::PointSilent).is_empty());
        let c = feed(&mut m, &all_but_p1(at(120)));
        assert_eq!(ops(&c, Kind::PointSilent), vec![("raise", "P1".into())]);
    }

    #[test]
    fn a_mine_that_reports_regularly_raises_nothing_all_day() {
        let mut m = mine();
        for s in (0..86_400).step_by(10) {
            let c = feed(&mut m, &normal(at(s)));
            assert!(c.is_empty(), "at {s} s: {c:?}");
        }
    }
}
