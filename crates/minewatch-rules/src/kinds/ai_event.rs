//! `ai_event` — a camera's AI recognition reports an event label (no helmet, person in a danger
//! zone, …). Warning; updated when the labels change. Resolves when no label has been reported for
//! `ai_event_clear` (5 min).

use crate::config::Params;
use crate::engine::MineState;
use minewatch_core::alert::{Change, ChangeOp, Kind, Severity};
use minewatch_core::payload::Text;
use minewatch_core::registry::Idx;
use minewatch_core::time::Millis;
use serde_json::json;
use std::time::Duration;

/// Default `ai_event_clear`: 5 minutes without a label.
pub fn default_ai_event_clear() -> Duration {
    Duration::from_secs(5 * 60)
}

/// Records the labels camera `c` reported at `at`, then judges it.
pub fn on_report(
    m: &mut MineState,
    p: &Params,
    c: Idx,
    labels: &[Text<'_>],
    at: Millis,
    out: &mut Vec<Change>,
) {
    if !labels.is_empty() {
        let cam = &mut m.cams[c as usize];
        cam.ai_last = at;
        let mut changed = false;
        for l in labels {
            if !cam.ai_labels.iter().any(|x| **x == **l) && cam.ai_labels.len() < 32 {
                cam.ai_labels.push(Box::from(&**l));
                changed = true;
            }
        }
        let op = if !cam.ai_active {
            cam.ai_active = true;
            ChangeOp::Raise
        } else if changed {
            ChangeOp::Update
        } else {
            m.due(at + p.ai_event_clear);
            return;
        };
        m.due(at + p.ai_event_clear);
        emit(m, op, c, at, out);
    } else {
        sweep(m, p, c, at, out);
    }
}

/// Resolves when the labels have not been reported for `ai_event_clear`.
pub fn sweep(m: &mut MineState, p: &Params, c: Idx, clock: Millis, out: &mut Vec<Change>) {
    let cam = &m.cams[c as usize];
    if !cam.ai_active {
        return;
    }
    if clock - cam.ai_last >= p.ai_event_clear {
        emit(m, ChangeOp::Resolve, c, clock, out);
        let cam = &mut m.cams[c as usize];
        cam.ai_active = false;
        cam.ai_labels.clear();
    } else {
        let due = cam.ai_last + p.ai_event_clear;
        m.due(due);
    }
}

fn emit(m: &MineState, op: ChangeOp, c: Idx, at: Millis, out: &mut Vec<Change>) {
    let cam = &m.cams[c as usize];
    let labels: Vec<&str> = cam.ai_labels.iter().map(|l| &**l).collect();
    let s = m.camera_subject(Kind::AiEvent, c);
    let id = &m.def.cameras[c as usize].id;
    let message = if op == ChangeOp::Resolve {
        format!(
            "Camera {id} ({}) reports no more events",
            m.place(s.area_name)
        )
    } else {
        format!(
            "Camera {id} ({}) reports {}",
            m.place(s.area_name),
            labels.join(", ")
        )
    };
    let evidence = json!({"events": labels, "last_reported": super::ts(cam.ai_last)});
    out.push(m.change(op, s, Severity::Warning, message, None, None, at, evidence));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::Kind;
    use minewatch_core::payload::CameraState;

    #[test]
    fn an_ai_label_warns_updates_with_new_labels_and_resolves_five_minutes_after_the_last() {
        let mut m = mine();
        let c = video(&mut m, at(0), "C1", CameraState::Ok, &["no_helmet"]);
        assert_eq!(ops(&c, Kind::AiEvent), vec![("raise", "C1".into())]);
        assert!(
            ops(
                &video(&mut m, at(10), "C1", CameraState::Ok, &["no_helmet"]),
                Kind::AiEvent
            )
            .is_empty()
        );
        let c = video(
            &mut m,
            at(20),
            "C1",
            CameraState::Ok,
            &["no_helmet", "smoking"],
        );
        assert_eq!(ops(&c, Kind::AiEvent), vec![("update", "C1".into())]);
        assert!(
            ops(
                &video(&mut m, at(310), "C1", CameraState::Ok, &[]),
                Kind::AiEvent
            )
            .is_empty()
        );
        let c = video(&mut m, at(320), "C1", CameraState::Ok, &[]);
        assert_eq!(ops(&c, Kind::AiEvent), vec![("resolve", "C1".into())]);
    }
}
