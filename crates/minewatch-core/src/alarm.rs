//! Alarm management for the control room (ANSI/ISA-18.2, IEC 62682, EEMUA 191): what an operator
//! sees of an alert beyond "active or resolved".
//!
//! - **States** ([`AlarmState`]): active-unacknowledged, active-acknowledged,
//!   cleared-unacknowledged (returned to normal, still waiting for an ack; only for the severities
//!   that latch, by default critical and major) and closed.
//! - **Re-activation and chattering**: an alert that clears and raises again with the same key
//!   within `rearm_window` is the same alert, re-activated (its `count` goes up, its earlier
//!   activations are kept in `activations`); with `chatter_count` activations inside
//!   `chatter_window` it is marked `chattering`.
//! - **Shelving** ([`Shelf`]): an operator hides one alert for a bounded time with a reason; it
//!   returns by itself. Suppression by design stays what silences are.
//! - **Floods** ([`FloodWindow`]): more than `flood_count` new alerts of one mine within
//!   `flood_window` (EEMUA 191's reference: 10 per 10 minutes per operator).
//!
//! The fields live in [`Alarm`], flattened into the alert object: existing fields keep their
//! meaning, these are added beside them. The rules that set them (`[alarms]`) are in
//! [`crate::alarm_policy`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How many earlier activations an alert keeps in `activations` (the oldest forgotten first; the
/// `count` keeps counting).
pub const ACTIVATIONS_KEPT: usize = 20;

/// An alert's state in the ISA-18.2 sense.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AlarmState {
    /// Active, not acknowledged.
    #[default]
    ActiveUnacked,
    /// Active, acknowledged.
    ActiveAcked,
    /// Returned to normal, still waiting for an acknowledgement.
    ClearedUnacked,
    /// Returned to normal and acknowledged (or of a severity that does not latch).
    Closed,
}

impl AlarmState {
    /// Every state, in the order an operator meets them.
    pub const ALL: [AlarmState; 4] = [
        AlarmState::ActiveUnacked,
        AlarmState::ActiveAcked,
        AlarmState::ClearedUnacked,
        AlarmState::Closed,
    ];

    /// As written in JSON and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::ActiveUnacked => "active_unacked",
            AlarmState::ActiveAcked => "active_acked",
            AlarmState::ClearedUnacked => "cleared_unacked",
            AlarmState::Closed => "closed",
        }
    }

    /// Parses a state name.
    pub fn parse(s: &str) -> Option<AlarmState> {
        AlarmState::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether an operator still has to see it: active, or cleared and waiting for an ack.
    pub fn is_open(self) -> bool {
        self != AlarmState::Closed
    }
}

/// One earlier activation of a re-activated alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Activation {
    pub started_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The value when it was raised, if the kind has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Who acknowledged that activation, if anyone did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_by: Option<String>,
}

/// An operator's shelving of one alert: hidden from the active list and from notifications until
/// `until`, when it returns by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Shelf {
    pub by: String,
    pub reason: String,
    pub at: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// What alarm management adds to an alert, flattened into the alert object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alarm {
    /// The ISA-18.2 state.
    #[serde(default)]
    pub alarm_state: AlarmState,
    /// Activations of this alert: 1, plus one per re-activation within `rearm_window`.
    #[serde(default = "one")]
    pub count: u32,
    /// Activated `chatter_count` times or more within `chatter_window`.
    #[serde(default)]
    pub chattering: bool,
    /// The earlier activations, oldest first (at most [`ACTIVATIONS_KEPT`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activations: Vec<Activation>,
    /// The value when this activation was raised (`value` follows the point while it is active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raised_value: Option<f64>,
    /// Shelved by an operator, until a time.
    #[serde(default)]
    pub shelved: Option<Shelf>,
}

fn one() -> u32 {
    1
}

impl Default for Alarm {
    fn default() -> Self {
        Alarm {
            alarm_state: AlarmState::ActiveUnacked,
            count: 1,
            chattering: false,
            activations: Vec::new(),
            raised_value: None,
            shelved: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Alert;

    #[test]
    fn an_alert_stored_before_alarm_management_reads_with_defaults() {
        let mut v = serde_json::to_value(crate::alert::tests::sample_alert()).expect("json");
        for k in ["alarm_state", "count", "chattering", "shelved"] {
            v.as_object_mut().expect("object").remove(k);
        }
        let a: Alert = serde_json::from_value(v).expect("old alert reads");
        assert_eq!(a.alarm, Alarm::default());
        let again = serde_json::to_value(&a).expect("json");
        assert_eq!(again["alarm_state"], "active_unacked");
        assert_eq!(again["count"], 1);
    }
}
