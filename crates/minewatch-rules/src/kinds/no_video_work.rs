//! `no_video_work` (无视频不作业) — people in a coal_face or heading area while no camera of that
//! area is in state ok, for `no_video_after`. Major. Judged from the personnel and video systems
//! together. Resolves when a camera is ok or the people leave. While active, updated whenever the
//! count of people in the area differs from the count last published, so the alert's value and
//! message follow the people there.

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

/// What this kind keeps per area.
#[derive(Debug, Clone, Copy, Default)]
pub struct Slot {
    /// The condition.
    pub timed: Timed,
    /// The count last published for the active alert.
    pub published: u32,
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::NoVideoWork;
    const SUBJECT: SubjectType = SubjectType::Area;
    const SEVERITY: Severity = Severity::Major;
    const DESCRIPTION: &'static str =
        "People working in a face or heading while no camera there is ok (无视频不作业)";
    type Params = Params;
    crate::slots!(area = Slot);

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
        let st = &mut m.area_state[i as usize].kinds.no_video_work;
        st.timed.restore(a.started_at.timestamp_millis());
        // A stored alert without a value is updated by the next count.
        st.published = a.value.map_or(u32::MAX, |v| v as u32);
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
        let step = st.timed.step(holds, at, p.no_video_after, 0);
        let (active, published) = (st.timed.active, st.published);
        st.published = people;
        if let Some(d) = st.timed.deadline(p.no_video_after, 0) {
            m.due(d);
        }
        let (op, t) = match step {
            Step::Hold if active && people != published => (ChangeOp::Update, at),
            Step::Hold => continue,
            Step::Raise(t) => (ChangeOp::Raise, t),
            Step::Resolve(t) => (ChangeOp::Resolve, t),
        };
        let area = &m.def.areas[a as usize];
        let cams: Vec<_> = m.area_cameras[a as usize]
            .iter()
            .map(|&c| json!({"camera": &*m.def.cameras[c as usize].id, "state": m.cams[c as usize].state.map(super::camera_state_name)}))
            .collect();
        let message = if op != ChangeOp::Resolve {
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
    fn an_active_alerts_count_follows_the_people_at_the_face() {
        let mut m = mine();
        video(&mut m, at(0), "C1", CameraState::SignalLoss, &[]);
        for s in (0..300).step_by(60) {
            people(&mut m, at(s), &crew("A1", 3, true));
        }
        let c = people(&mut m, at(300), &crew("A1", 3, true));
        assert_eq!(ops(&c, Kind::NoVideoWork), vec![("raise", "A1".into())]);
        // The same count: quiet.
        let c = people(&mut m, at(310), &crew("A1", 3, true));
        assert!(ops(&c, Kind::NoVideoWork).is_empty());
        // One more: an update carrying the new count.
        let c = people(&mut m, at(320), &crew("A1", 4, true));
        assert_eq!(ops(&c, Kind::NoVideoWork), vec![("update", "A1".into())]);
        let u = c.iter().find(|c| c.kind == Kind::NoVideoWork).expect("update");
        assert_eq!(u.value, Some(4.0));
        assert!(u.message.starts_with("4 people"), "{}", u.message);
        let c = video(&mut m, at(330), "C1", CameraState::Ok, &[]);
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
