//! `camera_tamper` — a camera occluded or turned (scene change). Major; critical when it watches a
//! seal (a camera turned from the seal of a closed area hides a concealed face). Resolves when ok.

use super::{KindRule, MineState};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::payload::{CameraState, Text};
use minewatch_core::registry::{Idx, Watches};
use minewatch_core::time::Millis;
use serde_json::json;

crate::params! {}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::CameraTamper;
    const SUBJECT: SubjectType = SubjectType::Camera;
    const SEVERITY: Severity = Severity::Major;
    const DESCRIPTION: &'static str =
        "A camera occluded or turned away (critical when it watches a seal)";
    type Params = Params;
    // Per camera: whether the alert is raised.
    crate::slots!(camera = bool);

    fn on_camera(m: &mut MineState, _: &Params, c: Idx, _: &[Text<'_>], at: Millis, out: &mut Vec<Change>) {
        evaluate(m, c, at, out);
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let Some(c) = m.def.camera(&a.subject) else {
            return false;
        };
        m.cams[c as usize].kinds.camera_tamper = true;
        true
    }
}

/// Judges camera `c` at `at`.
fn evaluate(m: &mut MineState, c: Idx, at: Millis, out: &mut Vec<Change>) {
    let Some(state) = m.cams[c as usize].state else {
        return;
    };
    let tampered = matches!(state, CameraState::Occluded | CameraState::SceneChange);
    let seal = m.def.cameras[c as usize].watches == Watches::Seal;
    let sev = if seal {
        Severity::Critical
    } else {
        Severity::Major
    };
    let op = match (m.cams[c as usize].kinds.camera_tamper, tampered) {
        (false, true) => ChangeOp::Raise,
        (true, false) if state == CameraState::Ok => ChangeOp::Resolve,
        _ => return,
    };
    m.cams[c as usize].kinds.camera_tamper = tampered;
    let name = super::camera_state_name(state);
    let s = m.camera_subject(Kind::CameraTamper, c);
    let id = &m.def.cameras[c as usize].id;
    let what = if seal { " — it watches a seal" } else { "" };
    let message = if op == ChangeOp::Raise {
        format!(
            "Camera {id} ({}) reports {name}: covered or turned{what}",
            m.place(s.area_name)
        )
    } else {
        format!("Camera {id} ({}) reports ok again", m.place(s.area_name))
    };
    let evidence =
        json!({"state": name, "watches": m.def.cameras[c as usize].watches, "ts": super::ts(at)});
    out.push(m.change(op, s, sev, message, None, None, at, evidence));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::{Kind, Severity};
    use minewatch_core::payload::CameraState;

    #[test]
    fn a_camera_turned_from_a_seal_is_critical_at_once_and_resolves_when_ok() {
        let mut m = mine();
        let c = video(&mut m, at(0), "C2", CameraState::SceneChange, &[]);
        assert_eq!(ops(&c, Kind::CameraTamper), vec![("raise", "C2".into())]);
        assert_eq!(
            c.iter()
                .find(|c| c.kind == Kind::CameraTamper)
                .map(|c| c.severity),
            Some(Severity::Critical)
        );
        let c = video(&mut m, at(10), "C1", CameraState::Occluded, &[]);
        assert_eq!(
            c.iter()
                .find(|c| c.kind == Kind::CameraTamper)
                .map(|c| c.severity),
            Some(Severity::Major)
        );
        let c = video(&mut m, at(20), "C2", CameraState::Ok, &[]);
        assert_eq!(ops(&c, Kind::CameraTamper), vec![("resolve", "C2".into())]);
    }
}
