//! minewatch-sim: realistic telemetry for the mines of a registry, and a publisher.
//!
//! A [`Sim`] holds one model per mine and turns each cadence step ([`Sim::tick`]) into the MQTT
//! batches of contract §1. Clean data stays inside every limit and rule of contract §3, so a day of
//! it raises no alert; anomalies ([`Anomaly`]: an alert kind of §3 and its subject) are injected on
//! top to raise exactly the alert they are named after (and, for a few, an unavoidable companion
//! listed in [`Injection::also`]). Modules, in the order a tick passes through them:
//!
//! - [`sim`]: the [`Sim`], its [`SimConfig`] and the [`Message`]s; per mine it steps the models
//!   below and assembles the five batches.
//! - `clock`: local time, hand-written RFC 3339 timestamps, and the shift plan (three 8-hour shifts
//!   from local midnight, coal cut in the first ~6 h of the first two) that drives everything else.
//! - `values`: safety points; methane by location following cutting, upwind/downwind gaps, smooth
//!   AR(1) noise under a soft bound derived from each point's resolved limits; anomalies applied.
//! - `modes`: whether a mine produces, is suspended or closed over time (registry status, then
//!   [`Sim::set_suspended`]).
//! - `people`: crews per shift sized from area quotas, leaders first down and last up; a
//!   production and a maintenance crew set, switched with the mode.
//! - `power`: meter kW by load class and cutting, and explosives issued at production shift starts.
//! - [`anomaly`]: the injectable [`Anomaly`]; one planner per kind (`anomaly/<kind>.rs`) checks or
//!   picks its subject, turns it into `effect`s on a timeline (mechanisms the models above apply:
//!   drive a point, move a tag, load a meter...), and shapes what only its kind does through hooks
//!   the models and `sim` call (`anomaly::plan::Planner`). Every kind's name appears in its planner
//!   file alone; the kinds come from `minewatch_core::for_each_kind!`.
//! - `json`, `rng`: fixed-decimal JSON writing and the seeded SplitMix64 that makes runs repeatable.
//! - [`scale`]: registries of N mines x M points with realistic point groups (benches, load tool).
//! - [`publish`](mod@publish): [`publish()`] sends ticks to a broker at wall-clock cadence with
//!   rumqttc, QoS 1, reconnecting with backoff, until a shutdown future resolves.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod anomaly;
mod clock;
mod effect;
mod json;
mod modes;
mod people;
mod power;
pub mod publish;
mod rng;
pub mod scale;
pub mod sim;
mod values;

pub use anomaly::Anomaly;
pub use minewatch_core::Kind;
pub use publish::{PublishOptions, publish};
pub use sim::{Injection, Message, Sim, SimConfig};
