//! Alerts (contract §3–§4): the alert object, its lifecycle events, and the [`Change`]s that the
//! rules engine emits and the alert writer turns into stored, sequenced events.

use crate::time::Millis;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// **The one list of alert kinds** (contract §3, in contract order). Adding a kind is one line
/// here, its module `minewatch_rules::kinds::<snake>` and its planner
/// `minewatch_sim::anomaly::<snake>`: everything else (the [`Kind`] enum and its names, the
/// `[rules]` configuration, the engine's dispatch, restore and reload handling, `/api/kinds`, the
/// simulator's `--inject`) is generated from this list by the callback macro `$m`, which receives
/// one `snake_case CamelCase` pair per kind.
///
/// The list lives in the core crate because every crate shares the [`Kind`] enum; the rules
/// engine (`minewatch_rules::kinds`) and the simulator expand it.
#[macro_export]
macro_rules! for_each_kind {
    ($m:ident) => {
        $m! {
            over_limit OverLimit,
            power_off_failure PowerOffFailure,
            sensor_fault SensorFault,
            point_silent PointSilent,
            system_silent SystemSilent,
            flatline Flatline,
            neighbour_mismatch NeighbourMismatch,
            calibration_abuse CalibrationAbuse,
            area_over_quota AreaOverQuota,
            mine_over_capacity MineOverCapacity,
            restricted_entry RestrictedEntry,
            overtime Overtime,
            no_leader NoLeader,
            distress Distress,
            camera_fault CameraFault,
            camera_tamper CameraTamper,
            no_video_work NoVideoWork,
            ai_event AiEvent,
            power_in_sealed_area PowerInSealedArea,
            power_anomaly PowerAnomaly,
            explosives_undeclared ExplosivesUndeclared,
            production_while_suspended ProductionWhileSuspended,
            concealed_work ConcealedWork,
            unregistered_device UnregisteredDevice,
            clock_fault ClockFault,
            data_rejected DataRejected,
            sensor_unresponsive SensorUnresponsive,
            untagged_work UntaggedWork,
            replayed_data ReplayedData,
            copied_feed CopiedFeed,
        }
    };
}

macro_rules! define_kind {
    ($($snake:ident $camel:ident),* $(,)?) => {
        /// Every alert kind of contract §3, generated from [`for_each_kind!`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum Kind { $($camel),* }

        impl Kind {
            /// Every kind, in contract order.
            pub const ALL: &'static [Kind] = &[$(Kind::$camel),*];

            /// The kind as written in keys, JSON and labels.
            pub fn as_str(self) -> &'static str {
                match self { $(Kind::$camel => stringify!($snake)),* }
            }

            /// Parses a kind name.
            pub fn parse(s: &str) -> Option<Kind> {
                match s { $(stringify!($snake) => Some(Kind::$camel),)* _ => None }
            }
        }
    };
}

for_each_kind!(define_kind);

impl Kind {
    /// The kind in an operator's words ("power not cut" for `power_off_failure`): what the
    /// dashboard shows and `GET /api/kinds` gives as `label`. The one table of these words; a
    /// test keeps every label non-empty and distinct.
    pub fn label(self) -> &'static str {
        match self {
            Kind::OverLimit => "over limit",
            Kind::PowerOffFailure => "power not cut",
            Kind::SensorFault => "sensor fault",
            Kind::PointSilent => "point silent",
            Kind::SystemSilent => "system silent",
            Kind::Flatline => "flat reading",
            Kind::NeighbourMismatch => "disagrees with upwind",
            Kind::CalibrationAbuse => "calibration misuse",
            Kind::AreaOverQuota => "area over quota",
            Kind::MineOverCapacity => "mine over capacity",
            Kind::RestrictedEntry => "in restricted area",
            Kind::Overtime => "overtime underground",
            Kind::NoLeader => "no leader underground",
            Kind::Distress => "distress call",
            Kind::CameraFault => "camera fault",
            Kind::CameraTamper => "camera tampered",
            Kind::NoVideoWork => "work without video",
            Kind::AiEvent => "video event",
            Kind::PowerInSealedArea => "power in sealed area",
            Kind::PowerAnomaly => "unusual power use",
            Kind::ExplosivesUndeclared => "explosives to undeclared area",
            Kind::ProductionWhileSuspended => "producing while suspended",
            Kind::ConcealedWork => "concealed work",
            Kind::UnregisteredDevice => "unregistered device",
            Kind::ClockFault => "clock wrong",
            Kind::DataRejected => "data rejected",
            Kind::SensorUnresponsive => "sensor not responding",
            Kind::UntaggedWork => "work without tags",
            Kind::ReplayedData => "replayed data",
            Kind::CopiedFeed => "copied feed",
        }
    }
}

/// What an alert of a kind is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectType {
    /// A safety-monitoring point (sensor or switch).
    Point,
    /// An area (face, heading, sealed area...), defined or only seen in data.
    Area,
    Camera,
    /// An electricity meter.
    Meter,
    /// A personnel tag.
    Tag,
    /// The mine itself.
    Mine,
    /// A device or area the registry does not define (its type is in the evidence).
    Device,
}

/// One parameter of a kind, as `GET /api/kinds` describes it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ParamInfo {
    /// The key under `[rules]`.
    pub key: &'static str,
    /// The default, as it would be written in the config (`"10s"`, `0.8`, `3`).
    pub default: serde_json::Value,
    /// `duration`, `%`, `sigma`, `count`...
    pub unit: &'static str,
    pub description: &'static str,
}

/// One alert kind, as `GET /api/kinds` describes it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KindInfo {
    pub name: Kind,
    pub subject: SubjectType,
    /// The severity it is raised with unless its condition says otherwise.
    pub severity: Severity,
    /// One line: what it catches.
    pub description: &'static str,
    /// Whether it stays until acknowledged instead of resolving by itself.
    pub resolves_on_ack: bool,
    pub params: Vec<ParamInfo>,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Severity, least severe first: the order `Ord` compares by (`Critical` is the greatest).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ack {
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub note: String,
}

/// The alert object of contract §4.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// Alarm management (ISA-18.2 state, re-activations, shelving): fields added beside the
    /// ones above, see [`crate::alarm`].
    #[serde(flatten)]
    pub alarm: crate::alarm::Alarm,
}

/// The dedup key of an alert.
pub fn alert_key(mine: &str, kind: Kind, subject: &str) -> String {
    format!("{mine}/{}/{subject}", kind.as_str())
}

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Raised,
    Updated,
    Resolved,
    Acked,
    /// An operator shelved the alert.
    Shelved,
    /// The alert came back from the shelf: its time ran out or an operator took it back.
    Unshelved,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 6] = [
        EventType::Raised,
        EventType::Updated,
        EventType::Resolved,
        EventType::Acked,
        EventType::Shelved,
        EventType::Unshelved,
    ];

    /// As written in JSON and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Raised => "raised",
            EventType::Updated => "updated",
            EventType::Resolved => "resolved",
            EventType::Acked => "acked",
            EventType::Shelved => "shelved",
            EventType::Unshelved => "unshelved",
        }
    }

    /// Parses an event type name.
    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// One change of one alert, with its place in the global, gap-free sequence. Serialized, it is the
/// WebSocket message `{"type":…,"seq":…,"alert":{…}}` (plus `at`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// An operator shelved the alert with this id until `until` (wall clock).
    Shelve {
        id: String,
        by: String,
        reason: String,
        until: Millis,
    },
    /// An operator took the alert with this id back from the shelf.
    Unshelve { id: String, by: String },
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
    /// An operator's command `op` (shelve, unshelve) about `alert`, at wall time `at`: the alert's
    /// key fields, nothing a rule would fill in.
    pub fn command(op: ChangeOp, alert: &Alert, at: Millis) -> Change {
        Change {
            op,
            mine: Arc::from(alert.mine.as_str()),
            kind: alert.kind,
            subject: Arc::from(alert.subject.as_str()),
            area: None,
            severity: alert.severity,
            message: String::new(),
            value: None,
            limit: None,
            at,
            evidence: serde_json::Value::Null,
        }
    }

    /// The dedup key this change applies to.
    pub fn key(&self) -> String {
        alert_key(&self.mine, self.kind, &self.subject)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An active major `over_limit` alert, for tests.
    pub(crate) fn sample_alert() -> Alert {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        Alert {
            id: "a1".into(),
            key: "M1/over_limit/P1".into(),
            mine: "M1".into(),
            kind: Kind::OverLimit,
            severity: Severity::Major,
            state: AlertState::Active,
            subject: "P1".into(),
            area: None,
            message: "P1 over".into(),
            value: Some(1.2),
            limit: Some(1.0),
            started_at: t,
            updated_at: t,
            resolved_at: None,
            ack: None,
            evidence: serde_json::Value::Null,
            alarm: crate::alarm::Alarm::default(),
        }
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        assert_eq!(Kind::ALL.len(), 30);
        for &k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            let json = serde_json::to_string(&k).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        assert!(Severity::Critical > Severity::Major && Severity::Major > Severity::Warning);
    }

    #[test]
    fn every_kind_has_its_own_label_in_words() {
        let mut seen = std::collections::HashSet::new();
        for &k in Kind::ALL {
            let l = k.label();
            assert!(!l.trim().is_empty(), "{k} has no label");
            assert!(!l.contains('_'), "{k}'s label {l:?} is not in words");
            assert!(seen.insert(l), "{k} shares its label {l:?}");
        }
        assert_eq!(Kind::PowerOffFailure.label(), "power not cut");
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
