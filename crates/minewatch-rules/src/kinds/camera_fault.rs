//! `camera_fault` — a camera offline, with signal loss, frozen or degraded for
//! `camera_fault_after`. Warning. Resolves when its state is ok.

use crate::config::Params;
use crate::engine::MineState;
use crate::timed::Step;
use minewatch_core::alert::{Change, ChangeOp, Kind, Severity};
use minewatch_core::payload::CameraState;
use minewatch_core::registry::Idx;
use minewatch_core::time::Millis;
use serde_json::json;
use std::time::Duration;

/// Default `camera_fault_after`: 60 s.
pub fn default_camera_fault_after() -> Duration {
    Duration::from_secs(60)
}

/// Whether a state is a fault (not a tamper).
pub fn is_fault(s: CameraState) -> bool {
    matches!(
        s,
        CameraState::Offline
            | CameraState::SignalLoss
            | CameraState::Frozen
            | CameraState::Degraded
    )
}

/// Judges camera `c` at `at`.
pub fn evaluate(m: &mut MineState, p: &Params, c: Idx, at: Millis, out: &mut Vec<Change>) {
    let Some(state) = m.cams[c as usize].state else {
        return;
    };
    let cam = &mut m.cams[c as usize];
    // Raised by a fault state; resolved only by ok (a fault turning into a tamper stays raised).
    let holds = if cam.fault.active {
        state != CameraState::Ok
    } else {
        is_fault(state)
    };
    let step = cam.fault.step(holds, at, p.camera_fault_after, 0);
    if let Some(d) = cam.fault.deadline(p.camera_fault_after, 0) {
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
    let evidence = json!({"state": name, "since": super::ts(m.cams[c as usize].fault.since.max(t - p.camera_fault_after)), "ts": super::ts(at)});
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
