//! The `[rules]` section of the main config. Each parameter's default lives in its kind's module
//! (contract §3) and is documented there; durations take units ("10s", "5m", "3d") or seconds.

use crate::kinds::*;
use minewatch_core::time::{de_duration, millis};
use serde::Deserialize;
use std::time::Duration;

fn de_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "{v} must be a number >= 0"
        )))
    }
}

fn de_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    u32::deserialize(d)
}

/// Rule parameters, settable under `[rules]`; a missing key takes its kind's default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// `power_off_failure`: how long a feed may stay energized after its point reached power-off.
    #[serde(deserialize_with = "de_duration")]
    pub feed_grace: Duration,
    /// `sensor_fault`: how long a fault status must last.
    #[serde(deserialize_with = "de_duration")]
    pub fault_after: Duration,
    /// `point_silent`: how long (mine clock) a defined point may send nothing.
    #[serde(deserialize_with = "de_duration")]
    pub silent_after: Duration,
    /// `system_silent`: how long (wall clock) a safety, personnel or video system may send nothing.
    #[serde(deserialize_with = "de_duration")]
    pub system_silent_after: Duration,
    /// `flatline`: the least variation of a face methane point over the window.
    #[serde(deserialize_with = "de_number")]
    pub flat_epsilon: f64,
    /// `flatline`: the window.
    #[serde(deserialize_with = "de_duration")]
    pub flat_window: Duration,
    /// `neighbour_mismatch`: the gap between a methane point and its upwind neighbour.
    #[serde(deserialize_with = "de_number")]
    pub mismatch_delta: f64,
    /// `neighbour_mismatch`: how long the gap must last.
    #[serde(deserialize_with = "de_duration")]
    pub mismatch_for: Duration,
    /// `neighbour_mismatch`: how long the gap must stay below half the delta to resolve.
    #[serde(deserialize_with = "de_duration")]
    pub mismatch_clear_for: Duration,
    /// `calibration_abuse`: the longest calibration.
    #[serde(deserialize_with = "de_duration")]
    pub calibration_max: Duration,
    /// `calibration_abuse`: the most calibrations within the window.
    #[serde(deserialize_with = "de_count")]
    pub calibration_count: u32,
    /// `calibration_abuse`: the window calibrations are counted in.
    #[serde(deserialize_with = "de_duration")]
    pub calibration_window: Duration,
    /// `overtime`: allowed beyond the mine's shift_hours.
    #[serde(deserialize_with = "de_duration")]
    pub overtime_margin: Duration,
    /// `no_leader`: the crew size above which a leader must be down.
    #[serde(deserialize_with = "de_count")]
    pub leader_required_above: u32,
    /// `no_leader`: how long without a leader.
    #[serde(deserialize_with = "de_duration")]
    pub no_leader_for: Duration,
    /// `camera_fault`: how long a fault state must last.
    #[serde(deserialize_with = "de_duration")]
    pub camera_fault_after: Duration,
    /// `no_video_work`: how long people may work without a working camera.
    #[serde(deserialize_with = "de_duration")]
    pub no_video_after: Duration,
    /// `ai_event`: how long without a label before it resolves.
    #[serde(deserialize_with = "de_duration")]
    pub ai_event_clear: Duration,
    /// `power_in_sealed_area`: above idle this long to raise, idle this long to resolve.
    #[serde(deserialize_with = "de_duration")]
    pub sealed_power_for: Duration,
    /// `power_anomaly`: deviations from the hourly baseline.
    #[serde(deserialize_with = "de_number")]
    pub power_sigma: f64,
    /// `power_anomaly`: how long the departure must last.
    #[serde(deserialize_with = "de_duration")]
    pub power_anomaly_for: Duration,
    /// `power_anomaly`: how much data before judging.
    #[serde(deserialize_with = "de_duration")]
    pub power_learning: Duration,
    /// `production_while_suspended`: a face or hoist load above idle this long is a sign.
    #[serde(deserialize_with = "de_duration")]
    pub production_for: Duration,
    /// `production_while_suspended`: how long without a sign to resolve.
    #[serde(deserialize_with = "de_duration")]
    pub production_clear: Duration,
    /// `production_while_suspended`, `concealed_work`: how long an explosives issue counts as a sign.
    #[serde(deserialize_with = "de_duration")]
    pub explosives_sign_for: Duration,
    /// `concealed_work`: how long two or more signs must show.
    #[serde(deserialize_with = "de_duration")]
    pub concealed_for: Duration,
    /// `concealed_work`: how long without any sign to resolve.
    #[serde(deserialize_with = "de_duration")]
    pub concealed_clear: Duration,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            feed_grace: power_off_failure::default_feed_grace(),
            fault_after: sensor_fault::default_fault_after(),
            silent_after: point_silent::default_silent_after(),
            system_silent_after: system_silent::default_system_silent_after(),
            flat_epsilon: flatline::default_flat_epsilon(),
            flat_window: flatline::default_flat_window(),
            mismatch_delta: neighbour_mismatch::default_mismatch_delta(),
            mismatch_for: neighbour_mismatch::default_mismatch_for(),
            mismatch_clear_for: neighbour_mismatch::default_mismatch_clear_for(),
            calibration_max: calibration_abuse::default_calibration_max(),
            calibration_count: calibration_abuse::default_calibration_count(),
            calibration_window: calibration_abuse::default_calibration_window(),
            overtime_margin: overtime::default_overtime_margin(),
            leader_required_above: no_leader::default_leader_required_above(),
            no_leader_for: no_leader::default_no_leader_for(),
            camera_fault_after: camera_fault::default_camera_fault_after(),
            no_video_after: no_video_work::default_no_video_after(),
            ai_event_clear: ai_event::default_ai_event_clear(),
            sealed_power_for: power_in_sealed_area::default_sealed_power_for(),
            power_sigma: power_anomaly::default_power_sigma(),
            power_anomaly_for: power_anomaly::default_power_anomaly_for(),
            power_learning: power_anomaly::default_power_learning(),
            production_for: production_while_suspended::default_production_for(),
            production_clear: production_while_suspended::default_production_clear(),
            explosives_sign_for: production_while_suspended::default_explosives_sign_for(),
            concealed_for: concealed_work::default_concealed_for(),
            concealed_clear: concealed_work::default_concealed_clear(),
        }
    }
}

/// The parameters as the engine uses them (durations in milliseconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub feed_grace: i64,
    pub fault_after: i64,
    pub silent_after: i64,
    pub system_silent_after: i64,
    pub flat_epsilon: f64,
    pub flat_window: i64,
    pub mismatch_delta: f64,
    pub mismatch_for: i64,
    pub mismatch_clear_for: i64,
    pub calibration_max: i64,
    pub calibration_count: u32,
    pub calibration_window: i64,
    pub overtime_margin: i64,
    pub leader_required_above: u32,
    pub no_leader_for: i64,
    pub camera_fault_after: i64,
    pub no_video_after: i64,
    pub ai_event_clear: i64,
    pub sealed_power_for: i64,
    pub power_sigma: f64,
    pub power_anomaly_for: i64,
    pub power_learning: i64,
    pub production_for: i64,
    pub production_clear: i64,
    pub explosives_sign_for: i64,
    pub concealed_for: i64,
    pub concealed_clear: i64,
}

impl From<&RulesConfig> for Params {
    fn from(c: &RulesConfig) -> Self {
        Params {
            feed_grace: millis(c.feed_grace),
            fault_after: millis(c.fault_after),
            silent_after: millis(c.silent_after),
            system_silent_after: millis(c.system_silent_after),
            flat_epsilon: c.flat_epsilon,
            flat_window: millis(c.flat_window),
            mismatch_delta: c.mismatch_delta,
            mismatch_for: millis(c.mismatch_for),
            mismatch_clear_for: millis(c.mismatch_clear_for),
            calibration_max: millis(c.calibration_max),
            calibration_count: c.calibration_count,
            calibration_window: millis(c.calibration_window),
            overtime_margin: millis(c.overtime_margin),
            leader_required_above: c.leader_required_above,
            no_leader_for: millis(c.no_leader_for),
            camera_fault_after: millis(c.camera_fault_after),
            no_video_after: millis(c.no_video_after),
            ai_event_clear: millis(c.ai_event_clear),
            sealed_power_for: millis(c.sealed_power_for),
            power_sigma: c.power_sigma,
            power_anomaly_for: millis(c.power_anomaly_for),
            power_learning: millis(c.power_learning),
            production_for: millis(c.production_for),
            production_clear: millis(c.production_clear),
            explosives_sign_for: millis(c.explosives_sign_for),
            concealed_for: millis(c.concealed_for),
            concealed_clear: millis(c.concealed_clear),
        }
    }
}

impl Default for Params {
    fn default() -> Self {
        Params::from(&RulesConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_has_its_contract_default_and_can_be_set() {
        let c: RulesConfig =
            toml::from_str("flat_epsilon = 0.01\nmismatch_for = \"10m\"\ncalibration_count = 5\n")
                .expect("parses");
        assert_eq!(c.flat_epsilon, 0.01);
        assert_eq!(c.mismatch_for, Duration::from_secs(600));
        assert_eq!(c.calibration_count, 5);
        assert_eq!(
            c.feed_grace,
            Duration::from_secs(10),
            "unset keys keep their defaults"
        );
        let d = RulesConfig::default();
        assert_eq!(
            (d.feed_grace, d.fault_after, d.silent_after),
            (
                Duration::from_secs(10),
                Duration::from_secs(60),
                Duration::from_secs(120)
            )
        );
        assert_eq!(
            (d.flat_epsilon, d.mismatch_delta, d.power_sigma),
            (0.005, 0.8, 4.0)
        );
        assert_eq!((d.calibration_count, d.leader_required_above), (3, 10));
        assert_eq!(d.power_learning, Duration::from_secs(3 * 86_400));
        assert!(
            toml::from_str::<RulesConfig>("flat_epsilom = 1").is_err(),
            "typos are errors"
        );
        assert!(toml::from_str::<RulesConfig>("flat_epsilon = -1").is_err());
    }
}
