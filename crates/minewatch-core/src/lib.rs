//! The shared vocabulary of minewatch: what a mine is, what arrives, what an alert is.
//!
//! Modules, in the order data passes through them:
//! - [`registry`]: the mine registry (one TOML file per mine), parsed strictly, validated, and
//!   compiled into index-based [`registry::MineDef`]s that the rules engine uses on its hot path.
//! - [`payload`]: MQTT topics and payloads (contract §1) decoded without copying; one bad element is
//!   rejected alone with a [`payload::Reason`].
//! - [`alarm`]: alarm management (ISA-18.2 states, re-activation, chattering, shelving, floods).
//! - [`alert`]: the alert object, its events and the [`alert::Change`]s the rules engine emits.
//! - [`point_status`]: a point's status bitmask in words (`status_words`).
//! - [`live`]: the live picture (latest values, active alerts) that shards and the alert writer
//!   update and the HTTP API and WebSocket gateway read.
//! - [`metrics`]: every Prometheus metric, in one registry, so logs and dashboards agree.
//! - [`config`] and [`time`]: config errors that name file and line, durations, event time.
//! - [`backoff`]: the jittered exponential backoff of every retry loop (MQTT reconnects, store
//!   retries, notifications, the simulator).
#![forbid(unsafe_code)]

pub mod alarm;
pub mod alarm_policy;
pub mod alert;
pub mod backoff;
pub mod config;
pub mod id;
pub mod live;
pub mod metrics;
pub mod payload;
pub mod point_status;
pub mod procfs;
pub mod registry;
pub mod time;

pub use alert::{
    Alert, AlertState, Change, ChangeOp, Event, EventType, Kind, KindInfo, ParamInfo, Severity,
    SubjectType, WireEvent,
};
pub use config::ConfigError;
pub use registry::{MineDef, Registry};
