//! `ai_event` — a camera's AI recognition reports an event label (no helmet, person in a danger
//! zone, …). Warning; updated when the labels change. Resolves when no label has been reported for
//! `ai_event_clear` (5 min).

use super::{KindRule, MineState};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::payload::Text;
use minewatch_core::registry::Idx;
use minewatch_core::time::Millis;
use serde_json::{Value, json};

crate::params! {
    /// How long without a label before it resolves.
    ai_event_clear: Duration = mins(5), "duration";
}

/// What this kind keeps per camera.
#[derive(Debug, Clone, Default)]
pub struct Slot {
    /// When a label was last reported.
    pub ai_last: Millis,
    /// The labels of the active alert.
    pub ai_labels: Vec<Box<str>>,
    pub ai_active: bool,
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::AiEvent;
    const SUBJECT: SubjectType = SubjectType::Camera;
    const SEVERITY: Severity = Severity::Warning;
    const DESCRIPTION: &'static str =
        "A camera's AI recognition reports an event (no helmet, person in a danger zone...)";
    type Params = Params;
    crate::slots!(camera = Slot);

    fn on_camera(m: &mut MineState, p: &Params, c: Idx, events: &[Text<'_>], at: Millis, out: &mut Vec<Change>) {
        on_report(m, p, c, events, at, out);
    }

    fn sweep(m: &mut MineState, p: &Params, clock: Millis, _: Millis, out: &mut Vec<Change>) {
        for c in 0..m.cams.len() as Idx {
            sweep(m, p, c, clock, out);
        }
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let Some(c) = m.def.camera(&a.subject) else {
            return false;
        };
        m.cams[c as usize].kinds.ai_event = Slot {
            ai_active: true,
            ai_last: a.updated_at.timestamp_millis(),
            ai_labels: a
                .evidence
                .get("events")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(Value::as_str).map(Box::from).collect())
                .unwrap_or_default(),
        };
        true
    }
}

/// Records the labels camera `c` reported at `at`, then judges it.
fn on_report(
    m: &mut MineState,
    p: &Params,
    c: Idx,
    labels: &[Text<'_>],
    at: Millis,
    out: &mut Vec<Change>,
) {
    if !labels.is_empty() {
        let cam = &mut m.cams[c as usize];
        cam.kinds.ai_event.ai_last = at;
        let mut changed = false;
        for l in labels {
            if !cam.kinds.ai_event.ai_labels.iter().any(|x| **x == **l) && cam.kinds.ai_event.ai_labels.len() < 32 {
                cam.kinds.ai_event.ai_labels.push(Box::from(&**l));
                changed = true;
            }
        }
        let op = if !cam.kinds.ai_event.ai_active {
            cam.kinds.ai_event.ai_active = true;
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
fn sweep(m: &mut MineState, p: &Params, c: Idx, clock: Millis, out: &mut Vec<Change>) {
    let cam = &m.cams[c as usize];
    if !cam.kinds.ai_event.ai_active {
        return;
    }
    if clock - cam.kinds.ai_event.ai_last >= p.ai_event_clear {
        emit(m, ChangeOp::Resolve, c, clock, out);
        let cam = &mut m.cams[c as usize];
        cam.kinds.ai_event.ai_active = false;
        cam.kinds.ai_event.ai_labels.clear();
    } else {
        let due = cam.kinds.ai_event.ai_last + p.ai_event_clear;
        m.due(due);
    }
}

fn emit(m: &MineState, op: ChangeOp, c: Idx, at: Millis, out: &mut Vec<Change>) {
    let cam = &m.cams[c as usize];
    let labels: Vec<&str> = cam.kinds.ai_event.ai_labels.iter().map(|l| &**l).collect();
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
    let evidence = json!({"events": labels, "last_reported": super::ts(cam.kinds.ai_event.ai_last)});
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
