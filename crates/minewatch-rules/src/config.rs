//! The `[rules]` section of the main config. Each parameter's default lives in its kind's module
//! (contract §3) and is documented there.

use crate::kinds::{point_silent, power_off_failure, sensor_fault, system_silent};
use minewatch_core::time::{de_duration, millis};
use serde::Deserialize;
use std::time::Duration;

/// Rule parameters, settable under `[rules]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// How long a feed may stay energized after its point reached power-off level.
    #[serde(
        default = "power_off_failure::default_feed_grace",
        deserialize_with = "de_duration"
    )]
    pub feed_grace: Duration,
    /// How long a fault status must last before `sensor_fault`.
    #[serde(
        default = "sensor_fault::default_fault_after",
        deserialize_with = "de_duration"
    )]
    pub fault_after: Duration,
    /// How long (mine clock) a defined point may send nothing before `point_silent`.
    #[serde(
        default = "point_silent::default_silent_after",
        deserialize_with = "de_duration"
    )]
    pub silent_after: Duration,
    /// How long (wall clock) a mine's safety, personnel or video system may send nothing.
    #[serde(
        default = "system_silent::default_system_silent_after",
        deserialize_with = "de_duration"
    )]
    pub system_silent_after: Duration,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            feed_grace: power_off_failure::default_feed_grace(),
            fault_after: sensor_fault::default_fault_after(),
            silent_after: point_silent::default_silent_after(),
            system_silent_after: system_silent::default_system_silent_after(),
        }
    }
}

/// The parameters in milliseconds, as the engine uses them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub feed_grace: i64,
    pub fault_after: i64,
    pub silent_after: i64,
    pub system_silent_after: i64,
}

impl From<&RulesConfig> for Params {
    fn from(c: &RulesConfig) -> Self {
        Params {
            feed_grace: millis(c.feed_grace),
            fault_after: millis(c.fault_after),
            silent_after: millis(c.silent_after),
            system_silent_after: millis(c.system_silent_after),
        }
    }
}

impl Default for Params {
    fn default() -> Self {
        Params::from(&RulesConfig::default())
    }
}
