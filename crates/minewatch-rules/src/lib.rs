//! The rules engine: I/O-free, on event time, one [`MineState`] per mine.
//!
//! A mine's state plus an input (a decoded batch with its event time, a wall-clock tick, an
//! operator's ack, a registry change) gives the alert transitions ([`minewatch_core::Change`]) —
//! no sockets or clocks inside and no lock per reading (the shards share one index of window
//! fingerprints, locked once per mine per window), so a day of telemetry replays in a test in a
//! second.
//!
//! - [`config`]: the `[rules]` section; every parameter with its contract default.
//! - [`engine`]: [`Engine`] (the mines of one shard) and [`MineState`] (one mine: its clock, point
//!   states, tags, cameras, meters, and which alerts it holds active).
//! - [`kinds`]: one module per alert kind — its parameters, its evaluation, its tests; and what
//!   kinds share: `state`, `fingerprint` (chunk fingerprints of what points report) and
//!   `feed_index` (the window fingerprints every shard's mines hand in, once per window).
//! - [`timed`]: a condition that must hold for a while to raise (and be clear a while to resolve).
//!
//! Durations are measured on the mine's clock (the latest `ts` seen from it) and fire when that
//! clock passes them, even if the point in question sends nothing more: every pending deadline
//! lowers the mine's `next_due`, and a sweep runs when the clock reaches it.
#![forbid(unsafe_code)]

pub mod config;
pub mod engine;
pub mod kinds;
pub mod timed;

pub use engine::{Engine, Params};
pub use kinds::{MineState, RulesConfig};
