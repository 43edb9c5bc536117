//! Alerts (contract §3–§4): the alert object, its lifecycle events, and the [`Change`]s that the
//! rules engine emits and the alert writer turns into stored, sequenced events.

use crate::time::Millis;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

macro_rules! kinds {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// Every alert kind of contract §3.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Kind { $($variant),* }

        impl Kind {
            /// Every kind, in contract order.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];

            /// The kind as written in keys, JSON and labels.
            pub fn as_str(self) -> &'static str {
                match self { $(Kind::$variant => $name),* }
            }

            /// Parses a kind name.
            pub fn parse(s: &str) -> Option<Kind> {
                match s { $($name => Some(Kind::$variant),)* _ => None }
            }
        }
    };
}

kinds! {
    OverLimit => "over_limit",
    PowerOffFailure => "power_off_failure",
    SensorFault => "sensor_fault",
    PointSilent => "point_silent",
    SystemSilent => "system_silent",
    Flatline => "flatline",
    NeighbourMismatch => "neighbour_mismatch",
    CalibrationAbuse => "calibration_abuse",
    AreaOverQuota => "area_over_quota",
    MineOverCapacity => "mine_over_capacity",
    RestrictedEntry => "restricted_entry",
    Overtime => "overtime",
    NoLeader => "no_leader",
    Distress => "distress",
    CameraFault => "camera_fault",
    CameraTamper => "camera_tamper",
    NoVideoWork => "no_video_work",
    AiEvent => "ai_event",
    PowerInSealedArea => "power_in_sealed_area",
    PowerAnomaly => "power_anomaly",
    ExplosivesUndeclared => "explosives_undeclared",
    ProductionWhileSuspended => "production_while_suspended",
    ConcealedWork => "concealed_work",
    UnregisteredDevice => "unregistered_device",
}

impl Kind {
    /// Kinds that do not resolve by themselves but when acknowledged.
    pub fn resolves_on_ack(self) -> bool {
        matches!(self, Kind::ExplosivesUndeclared | Kind::UnregisteredDevice)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Severity, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Major,
    Critical,
}

impl Severity {
    /// Every severity, least severe first.
    pub const ALL: [Severity; 4] = [
        Severity::Info,
        Severity::Warning,
        Severity::Major,
        Severity::Critical,
    ];

    /// As written in JSON and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Major => "major",
            Severity::Critical => "critical",
        }
    }

    /// Parses a severity name.
    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Whether an alert's condition still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Active,
    Resolved,
}

impl AlertState {
    /// As written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Active => "active",
            AlertState::Resolved => "resolved",
        }
    }
}

/// An operator's acknowledgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub note: String,
}

/// The alert object of contract §4.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    /// `mine/kind/subject`: at most one active alert per key.
    pub key: String,
    pub mine: String,
    pub kind: Kind,
    pub severity: Severity,
    pub state: AlertState,
    pub subject: String,
    pub area: Option<String>,
    pub message: String,
    pub value: Option<f64>,
    pub limit: Option<f64>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub ack: Option<Ack>,
    pub evidence: serde_json::Value,
}

/// The dedup key of an alert.
pub fn alert_key(mine: &str, kind: Kind, subject: &str) -> String {
    format!("{mine}/{}/{subject}", kind.as_str())
}

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Raised,
    Updated,
    Resolved,
    Acked,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 4] = [
        EventType::Raised,
        EventType::Updated,
        EventType::Resolved,
        EventType::Acked,
    ];

    /// As written in JSON and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Raised => "raised",
            EventType::Updated => "updated",
            EventType::Resolved => "resolved",
            EventType::Acked => "acked",
        }
    }

    /// Parses an event type name.
    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// One change of one alert, with its place in the global, gap-free sequence. Serialized, it is the
/// WebSocket message `{"type":…,"seq":…,"alert":{…}}` (plus `at`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: EventType,
    pub seq: u64,
    /// Wall-clock time the event was recorded.
    pub at: DateTime<Utc>,
    /// The alert as it stood after this event.
    pub alert: Alert,
}

/// What a rule asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeOp {
    /// The condition began: a new alert.
    Raise,
    /// The condition of an active alert changed (value, severity, evidence).
    Update,
    /// The condition cleared.
    Resolve,
    /// An operator acknowledged the alert with this id.
    Ack {
        id: String,
        by: String,
        note: String,
    },
}

/// A transition emitted by the rules engine for the alert writer.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub op: ChangeOp,
    pub mine: Arc<str>,
    pub kind: Kind,
    pub subject: Arc<str>,
    pub area: Option<Arc<str>>,
    pub severity: Severity,
    pub message: String,
    pub value: Option<f64>,
    pub limit: Option<f64>,
    /// Event time of the transition (the mine's clock).
    pub at: Millis,
    pub evidence: serde_json::Value,
}

impl Change {
    /// The dedup key this change applies to.
    pub fn key(&self) -> String {
        alert_key(&self.mine, self.kind, &self.subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        assert_eq!(Kind::ALL.len(), 24);
        for &k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            let json = serde_json::to_string(&k).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        assert!(Severity::Critical > Severity::Major && Severity::Major > Severity::Warning);
    }
}

/// An event as it is broadcast to WebSocket clients: serialized once, with what filters need.
#[derive(Debug, Clone)]
pub struct WireEvent {
    pub seq: u64,
    pub mine: Arc<str>,
    pub severity: Severity,
    pub kind: Kind,
    /// The event serialized as JSON (`{"type":…,"seq":…,"at":…,"alert":{…}}`).
    pub json: Arc<str>,
}

impl WireEvent {
    /// Serializes an event for broadcast.
    pub fn new(event: &Event) -> Self {
        WireEvent {
            seq: event.seq,
            mine: Arc::from(event.alert.mine.as_str()),
            severity: event.alert.severity,
            kind: event.alert.kind,
            json: Arc::from(serde_json::to_string(event).unwrap_or_default()),
        }
    }
}
