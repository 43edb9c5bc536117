//! The ingest pipeline: MQTT in, rules per shard, alerts stored before anything is published.
//!
//! ```text
//!  broker ──► mqtt (one task owns the rumqttc event loop)
//!               │ route by mine (hash) into bounded queues
//!               ▼
//!            shard 0..N (each owns its mines' rule state: decode → rules → live view)
//!               │ changes, dead letters, the message's ack token (bounded queue)
//!               ▼
//!            writer (one task: seq, one store transaction per batch, then live view,
//!                    broadcast to WebSocket clients, and MQTT acks in order)
//! ```
//!
//! - [`config`]: the `[mqtt]` and `[engine]` sections.
//! - [`mqtt`]: the connection: persistent session, QoS 1, manual acks, jittered backoff,
//!   re-subscribe when the broker has no session.
//! - [`router`]: hands each message to its mine's shard, dropping (and acking) mines this
//!   instance does not own.
//! - [`shard`]: a shard worker; per-mine state stays inside it, with no lock on the hot path.
//! - [`writer`]: the alert writer: dedup by key, lifecycle, the global gap-free seq; alert ids
//!   from [`alert_id`].
//! - [`acks`]: ack tokens and the sequencer that releases PUBACKs in arrival order once stored.
//! - [`pipeline`]: starts it all, restores state from the store, and takes operator commands.
#![forbid(unsafe_code)]

pub mod acks;
pub mod alert_id;
pub mod config;
pub mod dedup;
pub mod mqtt;
pub mod pipeline;
pub mod router;
pub mod shard;
pub mod tls;
pub mod writer;

pub use config::{EngineConfig, MqttConfig};
pub use pipeline::{AckError, Pipeline, ReloadOutcome};
