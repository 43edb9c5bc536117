//! One module per alert kind: its parameters with their defaults, its evaluation, its tests.

pub mod ai_event;
pub mod area_over_quota;
pub mod calibration_abuse;
pub mod camera_fault;
pub mod camera_tamper;
pub mod concealed_work;
pub mod distress;
pub mod explosives_undeclared;
pub mod flatline;
pub mod mine_over_capacity;
pub mod neighbour_mismatch;
pub mod no_leader;
pub mod no_video_work;
pub mod over_limit;
pub mod overtime;
pub mod point_silent;
pub mod power_anomaly;
pub mod power_in_sealed_area;
pub mod power_off_failure;
pub mod production_while_suspended;
pub mod restricted_entry;
pub mod sensor_fault;
pub mod system_silent;
pub mod unregistered_device;

#[cfg(test)]
pub(crate) mod testkit;

use minewatch_core::payload::CameraState;
use minewatch_core::time::format_rfc3339;

/// A camera state as written in payloads.
pub fn camera_state_name(s: CameraState) -> &'static str {
    match s {
        CameraState::Ok => "ok",
        CameraState::Offline => "offline",
        CameraState::SignalLoss => "signal_loss",
        CameraState::Frozen => "frozen",
        CameraState::Occluded => "occluded",
        CameraState::SceneChange => "scene_change",
        CameraState::Degraded => "degraded",
    }
}

/// Status bit: the point is being calibrated (test gas); its value is not a reading of the air.
pub const STATUS_CALIBRATION: u32 = 4;
/// Status bits that mean the reading cannot be trusted: over-range, substation fault, not polled,
/// sensor fault.
pub const STATUS_FAULT: u32 = 8 | 16 | 32 | 128;

/// Names of the set status bits, for messages and evidence.
pub fn status_names(status: u32) -> Vec<&'static str> {
    [
        (1, "alarm"),
        (2, "power-off"),
        (4, "calibration"),
        (8, "over-range"),
        (16, "substation fault"),
        (32, "not polled"),
        (64, "paused"),
        (128, "sensor fault"),
    ]
    .into_iter()
    .filter(|(bit, _)| status & bit != 0)
    .map(|(_, name)| name)
    .collect()
}

/// A value with its unit, trimmed of float noise.
pub fn fmt_value(v: f64, unit: &str) -> String {
    let s = format!("{:.3}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{unit}")
}

/// Event time as RFC 3339, for evidence.
pub fn ts(ms: i64) -> String {
    format_rfc3339(ms)
}

/// Every kind described for `GET /api/kinds`: name, subject type, default severity, parameters
/// with their defaults and units, one line on what it catches.
pub fn catalogue() -> Vec<minewatch_core::KindInfo> {
    minewatch_core::Kind::ALL
        .iter()
        .map(|&k| minewatch_core::KindInfo {
            name: k,
            subject: minewatch_core::SubjectType::Mine,
            severity: minewatch_core::Severity::Warning,
            description: "",
            resolves_on_ack: k.resolves_on_ack(),
            params: Vec::new(),
        })
        .collect()
}
