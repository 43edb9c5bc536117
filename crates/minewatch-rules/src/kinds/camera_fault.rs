//! `camera_fault` — a camera offline, with signal loss, frozen or degraded for
//! `camera_fault_after`. Warning. Resolves when its state is ok.

use super::{KindRule, MineState};
use crate::timed::{Step, Timed};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::payload::{CameraState, Text};
use minewatch_core::registry::Idx;
use minewatch_core::time::Millis;
use serde_json::json;

crate::params! {
    /// How long a fault state must last.
    camera_fault_after: Duration = secs(60), "duration";
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::CameraFault;
    const SUBJECT: SubjectType = SubjectType::Camera;
    const SEVERITY: Severity = Severity::Warning;
    const DESCRIPTION: &'static str =
        "A camera offline, with signal loss, frozen or degraded for a while";
    type Params = Params;
    crate::slots!(camera = Timed);

    fn on_camera(m: &mut MineState, p: &Params, c: Idx, _: &[Text<'_>], at: Millis, out: &mut Vec<Change>) {
        evaluate(m, p, c, at, out);
    }

    fn sweep(m: &mut MineState, p: &Params, clock: Millis, _: Millis, out: &mut Vec<Change>) {
        for c in 0..m.cams.len() as Idx {
            evaluate(m, p, c, clock, out);
        }
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let Some(c) = m.def.camera(&a.subject) else {
            return false;
        };
        m.cams[c as usize]
            .kinds
            .camera_fault
            .restore(a.started_at.timestamp_millis());
        true
    }
}

/// Whether a state is a fault (not a tamper).
fn is_fault(s: CameraState) -> bool {
    matches!(
        s,
        CameraState::Offline
            | CameraState::SignalLoss
            | CameraState::Frozen
            | CameraState::Degraded
    )
}

/// Judges camera `c` at `at`.
fn evaluate(m: &mut MineState, p: &Params, c: Idx, at: Millis, out: &mut Vec<Change>) {
    let Some(state) = m.cams[c as usize].state else {
        return;
    };
    let cam = &mut m.cams[c as usize];
    // Raised by a fault state; resolved only by ok (a fault turning into a tamper stays raised).
    let holds = if cam.kinds.camera_fault.active {
        state != CameraState::Ok
    } else {
        is_fault(state)
    };
    let step = cam.kinds.camera_fault.step(holds, at, p.camera_fault_after, 0);
    if let Some(d) = cam.kinds.camera_fault.deadline(p.camera_fault_after, 0) {
        m.due(d);
    }
    let (op, t) = match step {
        Step::Hold => return,
        Step::Raise(t) => (ChangeOp::Raise, t),
        Step::Resolve(t) => (ChangeOp::Resolve, t),
    };
    let name = super::camera_state_name(state);
    let s = m.camera_subject(Kind::CameraFault, c);
    let id = &m.def.cameras[c as usize].id;
    let message = if op == ChangeOp::Raise {
        format!(
            "Camera {id} ({}) is {name} for over {} s",
            m.place(s.area_name),
            p.camera_fault_after / 1000
        )
    } else {
        format!("Camera {id} ({}) reports {name}", m.place(s.area_name))
    };
    let evidence = json!({"state": name, "since": super::ts(m.cams[c as usize].kinds.camera_fault.since.max(t - p.camera_fault_after)), "ts": super::ts(at)});
    out.push(m.change(op, s, Severity::Warning, message, None, None, t, evidence));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::Kind;
    use minewatch_core::payload::CameraState;

    #[test]
    fn a_camera_offline_for_a_minute_warns_and_resolves_when_ok() {
        let mut m = mine();
        assert!(
            ops(
                &video(&mut m, at(0), "C1", CameraState::Offline, &[]),
                Kind::CameraFault
            )
            .is_empty()
        );
        assert!(
            ops(
                &video(&mut m, at(50), "C1", CameraState::Frozen, &[]),
                Kind::CameraFault
            )
            .is_empty()
        );
        let c = video(&mut m, at(60), "C1", CameraState::Frozen, &[]);
        assert_eq!(ops(&c, Kind::CameraFault), vec![("raise", "C1".into())]);
        let c = video(&mut m, at(70), "C1", CameraState::Ok, &[]);
        assert_eq!(ops(&c, Kind::CameraFault), vec![("resolve", "C1".into())]);
    }
}
