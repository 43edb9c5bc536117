//! `no_video_work` (无视频不作业) — people in a coal_face or heading area while no camera of that
//! area is in state ok, for `no_video_after`. Major. Judged from the personnel and video systems
//! together. Resolves when a camera is ok or the people leave.

use super::{KindRule, MineState};
use crate::timed::{Step, Timed};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::payload::CameraState;
use minewatch_core::registry::{AreaKind, Idx};
use minewatch_core::time::Millis;
use serde_json::json;

crate::params! {
    /// How long people may work without a working camera.
    no_video_after: Duration = mins(5), "duration";
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::NoVideoWork;
    const SUBJECT: SubjectType = SubjectType::Area;
    const SEVERITY: Severity = Severity::Major;
    const DESCRIPTION: &'static str =
        "People working in a face or heading while no camera there is ok (无视频不作业)";
    type Params = Params;
    crate::slots!(area = Timed);

    fn after_video(m: &mut MineState, p: &Params, at: Millis, out: &mut Vec<Change>) {
        evaluate(m, p, at, out);
    }

    fn cross_system(m: &mut MineState, p: &Params, at: Millis, out: &mut Vec<Change>) {
        evaluate(m, p, at, out);
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let Some(i) = m.def.area(&a.subject) else {
            return false;
        };
        m.area_state[i as usize]
            .kinds
            .no_video_work
            .restore(a.started_at.timestamp_millis());
        true
    }
}

/// Judges every working area at `at`.
fn evaluate(m: &mut MineState, p: &Params, at: Millis, out: &mut Vec<Change>) {
    for a in 0..m.def.areas.len() as Idx {
        if !matches!(
            m.def.areas[a as usize].kind,
            AreaKind::CoalFace | AreaKind::Heading
        ) {
            continue;
        }
        let people = m.people[a as usize];
        let cams_ok = m.area_cameras[a as usize]
            .iter()
            .any(|&c| m.cams[c as usize].state == Some(CameraState::Ok));
        let holds = people > 0 && !cams_ok;
        let st = &mut m.area_state[a as usize].kinds.no_video_work;
        let step = st.step(holds, at, p.no_video_after, 0);
        if let Some(d) = st.deadline(p.no_video_after, 0) {
            m.due(d);
        }
        let (op, t) = match step {
            Step::Hold => continue,
            Step::Raise(t) => (ChangeOp::Raise, t),
            Step::Resolve(t) => (ChangeOp::Resolve, t),
        };
        let area = &m.def.areas[a as usize];
        let cams: Vec<_> = m.area_cameras[a as usize]
            .iter()
            .map(|&c| json!({"camera": &*m.def.cameras[c as usize].id, "state": m.cams[c as usize].state.map(super::camera_state_name)}))
            .collect();
        let message = if op == ChangeOp::Raise {
            format!(
                "{people} people working in {} ({}) with no camera there in state ok for {} min",
                area.id,
                m.place(Some(&area.name)),
                p.no_video_after / 60_000
            )
        } else if cams_ok {
            format!(
                "{} ({}) has a working camera again",
                area.id,
                m.place(Some(&area.name))
            )
        } else {
            format!(
                "Nobody is working in {} ({}) any more",
                area.id,
                m.place(Some(&area.name))
            )
        };
        let s = m.area_subject(Kind::NoVideoWork, a);
        let evidence = json!({"people": people, "cameras": cams, "tags": m.tags_in(a, 50)});
        out.push(m.change(
            op,
            s,
            Severity::Major,
            message,
            Some(people as f64),
            None,
            t,
            evidence,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::Kind;
    use minewatch_core::payload::CameraState;

    #[test]
    fn work_at_a_face_without_a_working_camera_for_five_minutes_is_flagged() {
        let mut m = mine();
        video(&mut m, at(0), "C1", CameraState::SignalLoss, &[]);
        let mut all = Vec::new();
        for s in (0..=290).step_by(10) {
            all.extend(people(&mut m, at(s), &crew("A1", 3, true)));
        }
        assert!(ops(&all, Kind::NoVideoWork).is_empty());
        let c = people(&mut m, at(300), &crew("A1", 3, true));
        assert_eq!(ops(&c, Kind::NoVideoWork), vec![("raise", "A1".into())]);
        let c = video(&mut m, at(310), "C1", CameraState::Ok, &[]);
        assert_eq!(ops(&c, Kind::NoVideoWork), vec![("resolve", "A1".into())]);
    }

    #[test]
    fn an_empty_face_needs_no_video() {
        let mut m = mine();
        video(&mut m, at(0), "C1", CameraState::Offline, &[]);
        for s in (0..=900).step_by(30) {
            assert!(
                ops(
                    &people(&mut m, at(s), &crew("A2", 3, true)),
                    Kind::NoVideoWork
                )
                .is_empty()
            );
        }
    }
}
