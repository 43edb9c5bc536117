//! Active alerts back from the store after a restart, so a restart neither raises twice nor
//! forgets: each alert is given to its kind ([`KindRule::restore`](crate::kinds::KindRule::restore)),
//! and one whose subject is no longer defined is resolved.

use crate::kinds::{MineState, Subject, hooks};
use minewatch_core::alert::{Alert, Change, ChangeOp};
use std::sync::Arc;

impl MineState {
    /// Restores what the store says is active. Alerts whose subject no longer exists are resolved.
    pub fn restore(&mut self, alerts: &[Alert], out: &mut Vec<Change>) {
        for a in alerts {
            if hooks::restore(self, a) {
                self.active.insert((a.kind, Arc::from(a.subject.as_str())));
                continue;
            }
            let at = a.updated_at.timestamp_millis();
            let subject = a.subject.as_str();
            let s = Subject {
                kind: a.kind,
                subject: Arc::from(subject),
                area: a.area.as_deref().map(Arc::from),
                area_name: None,
            };
            let msg = format!(
                "{} at {} resolved: {} is no longer in the registry",
                a.kind, subject, subject
            );
            out.push(self.change(
                ChangeOp::Resolve,
                s,
                a.severity,
                msg,
                a.value,
                a.limit,
                self.clock.unwrap_or(at),
                a.evidence.clone(),
            ));
        }
    }
}
