//! The `[mqtt]` and `[engine]` sections of the main config.

use minewatch_core::time::de_duration;
use serde::Deserialize;
use std::time::Duration;

fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_port() -> u16 {
    1883
}
/// A fixed client id: the broker keeps this session's subscriptions and queued messages while
/// minewatch is down.
fn default_client_id() -> String {
    "minewatch".into()
}
fn default_prefix() -> String {
    "mines".into()
}
fn default_keep_alive() -> Duration {
    Duration::from_secs(30)
}
/// 4 MiB: a batch of a large mine's points with per-element timestamps stays far below it.
fn default_max_packet_bytes() -> usize {
    4 << 20
}
fn default_backoff_min() -> Duration {
    Duration::from_millis(200)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(30)
}

/// `[mqtt]`: where telemetry comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    #[serde(default = "default_host")]
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    /// Fixed client id of the persistent session (clean_session = false).
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Topic prefix: topics are `{prefix}/{mine}/{system}`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default = "default_keep_alive", deserialize_with = "de_duration")]
    pub keep_alive: Duration,
    /// Largest message accepted.
    #[serde(default = "default_max_packet_bytes")]
    pub max_packet_bytes: usize,
    /// The mines this instance owns; empty means every mine (`{prefix}/+/{system}`). Several
    /// instances split a broker's mines by listing disjoint sets.
    #[serde(default)]
    pub mines: Vec<String>,
    /// Reconnect backoff floor and ceiling (jittered exponential).
    #[serde(default = "default_backoff_min", deserialize_with = "de_duration")]
    pub backoff_min: Duration,
    #[serde(default = "default_backoff_max", deserialize_with = "de_duration")]
    pub backoff_max: Duration,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            host: default_host(),
            port: default_port(),
            client_id: default_client_id(),
            prefix: default_prefix(),
            username: None,
            password: None,
            keep_alive: default_keep_alive(),
            max_packet_bytes: default_max_packet_bytes(),
            mines: Vec::new(),
            backoff_min: default_backoff_min(),
            backoff_max: default_backoff_max(),
        }
    }
}

fn default_shard_queue() -> usize {
    256
}
fn default_writer_queue() -> usize {
    1024
}
fn default_max_clock_skew() -> Duration {
    Duration::from_secs(300)
}
fn default_tick() -> Duration {
    Duration::from_secs(1)
}
fn default_command_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_writer_batch() -> usize {
    512
}
/// Five minutes: a crash loses at most this much learning (power baselines, calibration history).
fn default_snapshot_every() -> Duration {
    Duration::from_secs(300)
}

/// `[engine]`: shards, queues, time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Shard workers; 0 means one per CPU core.
    #[serde(default)]
    pub shards: usize,
    /// Messages waiting per shard before the MQTT reader waits (the broker then holds the rest).
    #[serde(default = "default_shard_queue")]
    pub shard_queue: usize,
    /// Shard outputs waiting for the alert writer.
    #[serde(default = "default_writer_queue")]
    pub writer_queue: usize,
    /// Most shard outputs the writer stores in one transaction.
    #[serde(default = "default_writer_batch")]
    pub writer_batch: usize,
    /// A `ts` further than this ahead of the wall clock is rejected.
    #[serde(default = "default_max_clock_skew", deserialize_with = "de_duration")]
    pub max_clock_skew: Duration,
    /// Wall-clock tick for `system_silent`.
    #[serde(default = "default_tick", deserialize_with = "de_duration")]
    pub tick: Duration,
    /// How long an operator command (ack, status, reload) may wait for the pipeline.
    #[serde(default = "default_command_timeout", deserialize_with = "de_duration")]
    pub command_timeout: Duration,
    /// How often the shards store what the rules learned (and always at shutdown).
    #[serde(default = "default_snapshot_every", deserialize_with = "de_duration")]
    pub snapshot_every: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            shards: 0,
            shard_queue: default_shard_queue(),
            writer_queue: default_writer_queue(),
            writer_batch: default_writer_batch(),
            max_clock_skew: default_max_clock_skew(),
            tick: default_tick(),
            command_timeout: default_command_timeout(),
            snapshot_every: default_snapshot_every(),
        }
    }
}

impl EngineConfig {
    /// The number of shards to run.
    pub fn shard_count(&self) -> usize {
        if self.shards > 0 {
            self.shards
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }
}
