//! The `[mqtt]` and `[engine]` sections of the main config.

use minewatch_core::time::de_duration;
use serde::Deserialize;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
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
/// 1 s: a broker that comes back is reached within about a second (the wait is jittered between
/// half the ceiling and the ceiling), and a broker that stays down is tried once a second.
fn default_backoff_max() -> Duration {
    Duration::from_secs(1)
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
    /// The password in the file itself; better `password_env` or `password_file`.
    #[serde(default)]
    pub password: Option<String>,
    /// The password from this environment variable (read at start).
    #[serde(default)]
    pub password_env: Option<String>,
    /// The password from this file (read at start; surrounding whitespace ignored): e.g. a
    /// systemd credential, `/run/credentials/minewatch.service/mqtt-password`.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// TLS to the broker (its TLS listener, usually port 8883).
    #[serde(default)]
    pub tls: bool,
    /// CA certificates (PEM) the broker's certificate must chain to; the system's CA store when
    /// absent. With `tls`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The client certificate (PEM) and key (PEM) for mutual TLS. With `tls`.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
    /// The name (DNS name or IP address) the broker's certificate must carry, when it is not
    /// `host`: a broker reached by IP address, or through a tunnel or NAT, whose certificate
    /// names its DNS name. With `tls`.
    #[serde(default)]
    pub server_name: Option<String>,
    /// The TLS client config built from the files by [`MqttConfig::resolve`].
    #[serde(skip)]
    pub tls_config: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// Whether [`MqttConfig::resolve`] has succeeded: the pipeline resolves a config made in
    /// code at start, and only once (a second run would take the password it read for a second
    /// source).
    #[serde(skip)]
    pub(crate) resolved: bool,
    #[serde(default = "default_keep_alive", deserialize_with = "de_duration")]
    pub keep_alive: Duration,
    /// Largest message accepted. A larger one is still read off the connection (MQTT 3.1.1 has
    /// no way to refuse it, and refusing to read it would make it a poison message the broker
    /// sends again forever), then acked and dead-lettered as `too_large` with its first bytes.
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
            password_env: None,
            password_file: None,
            tls: false,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            server_name: None,
            tls_config: None,
            resolved: false,
            keep_alive: default_keep_alive(),
            max_packet_bytes: default_max_packet_bytes(),
            mines: Vec::new(),
            backoff_min: default_backoff_min(),
            backoff_max: default_backoff_max(),
        }
    }
}

impl MqttConfig {
    /// Reads what the config names outside itself: the password from `password_env` or
    /// `password_file`, and (with `tls`) the certificate files and `server_name` into a TLS
    /// client config. The message names the key; the caller adds the file. The connection is
    /// built only from a resolved config ([`MqttConfig::is_resolved`]).
    pub fn resolve(&mut self) -> Result<(), String> {
        let sources = [
            self.password.is_some(),
            self.password_env.is_some(),
            self.password_file.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() > 1 {
            return Err(
                "mqtt.password: give one of password, password_env and password_file".into(),
            );
        }
        if let Some(var) = &self.password_env {
            let value = std::env::var(var)
                .map_err(|_| format!("mqtt.password_env: the variable {var} is not set"))?;
            self.password = Some(value.trim().to_owned());
        }
        if let Some(path) = &self.password_file {
            let value = std::fs::read_to_string(path)
                .map_err(|e| format!("mqtt.password_file {}: {e}", path.display()))?;
            self.password = Some(value.trim().to_owned());
        }
        let files = [&self.ca_file, &self.client_cert_file, &self.client_key_file];
        if !self.tls && files.iter().any(|f| f.is_some()) {
            return Err("mqtt.tls: ca_file and the client certificate need tls = true".into());
        }
        let server_name = match &self.server_name {
            Some(_) if !self.tls => {
                return Err(
                    "mqtt.server_name needs tls = true (it is the name the broker's certificate must carry)"
                        .into(),
                );
            }
            Some(name) => Some(crate::tls::server_name(name)?),
            None => None,
        };
        if self.tls {
            self.tls_config = Some(crate::tls::client_config(&crate::tls::TlsFiles {
                ca_file: self.ca_file.as_deref(),
                client_cert_file: self.client_cert_file.as_deref(),
                client_key_file: self.client_key_file.as_deref(),
                server_name,
            })?);
        }
        self.resolved = true;
        Ok(())
    }

    /// Whether [`MqttConfig::resolve`] has succeeded on this config.
    pub fn is_resolved(&self) -> bool {
        self.resolved
    }

    /// Checks `mines`: every entry a valid mine id, none twice. The message names the key; the
    /// caller adds the file.
    pub fn validate_mines(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for (i, m) in self.mines.iter().enumerate() {
            if !minewatch_core::id::is_valid(m) {
                return Err(format!(
                    "mqtt.mines[{i}]: {m:?} is not a valid mine id (1-64 characters of A-Z a-z 0-9 _ - .)"
                ));
            }
            if !seen.insert(m.as_str()) {
                return Err(format!("mqtt.mines[{i}]: {m:?} is listed twice"));
            }
        }
        Ok(())
    }

    /// The mines this instance owns; `None` when it owns every mine (`mines` empty).
    pub fn owned(&self) -> Option<Ownership> {
        (!self.mines.is_empty()).then(|| Ownership {
            mines: self.mines.iter().map(|m| Arc::from(m.as_str())).collect(),
        })
    }
}

/// The set of mines an instance owns (`[mqtt] mines`). A message for any other mine is acked and
/// dropped unread: with a persistent session the broker keeps filters of an older `mines` list.
#[derive(Debug, Clone, Default)]
pub struct Ownership {
    mines: HashSet<Arc<str>>,
}

impl Ownership {
    /// Whether `mine` is one of this instance's.
    pub fn owns(&self, mine: &str) -> bool {
        self.mines.contains(mine)
    }

    /// `(registered but not owned, owned but not registered)`, each sorted: the first are left to
    /// other instances, the second will raise alerts about unregistered devices here.
    pub fn gaps<'a>(
        &'a self,
        registered: impl Iterator<Item = &'a str>,
    ) -> (Vec<&'a str>, Vec<&'a str>) {
        let registered: HashSet<&str> = registered.collect();
        let mut foreign: Vec<&str> = registered
            .iter()
            .copied()
            .filter(|m| !self.owns(m))
            .collect();
        let mut missing: Vec<&str> = self
            .mines
            .iter()
            .map(|m| &**m)
            .filter(|m| !registered.contains(m))
            .collect();
        foreign.sort_unstable();
        missing.sort_unstable();
        (foreign, missing)
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
/// [`DEFAULT_MAX_ELEMENTS`](minewatch_core::payload::DEFAULT_MAX_ELEMENTS): a message can cost at
/// most about 10 ms of a shard's time.
fn default_max_elements() -> usize {
    minewatch_core::payload::DEFAULT_MAX_ELEMENTS
}
/// 100,000: more than any broker keeps in flight for one session (MQTT packet ids give at most
/// 65,535), so every message that can be delivered again is still remembered.
fn default_dedup_window() -> usize {
    100_000
}
/// 100 mines the registry lacks: enough to see a misconfiguration, too few to exhaust anything.
fn default_max_unknown_mines() -> usize {
    100
}

/// What to do with data from a mine the registry does not define.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownMines {
    /// Watch it (its data raises alerts about unregistered devices), up to `max_unknown_mines` such mines;
    /// data from any further one is dead-lettered as `unknown_mine`.
    #[default]
    Watch,
    /// Dead-letter all of it as `unknown_mine` and keep no state for it.
    Refuse,
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
    /// Wall-clock tick: how often the rules check what depends on wall time rather than on data
    /// (a monitoring system that has fallen silent sends nothing that could trigger the check).
    #[serde(default = "default_tick", deserialize_with = "de_duration")]
    pub tick: Duration,
    /// How long an operator command (ack, status, reload) may wait for the pipeline.
    #[serde(default = "default_command_timeout", deserialize_with = "de_duration")]
    pub command_timeout: Duration,
    /// How often the shards store what the rules learned (and always at shutdown).
    #[serde(default = "default_snapshot_every", deserialize_with = "de_duration")]
    pub snapshot_every: Duration,
    /// Most elements of one message that are decoded; the rest are counted and dead-lettered as
    /// `too_many_elements`, so one message cannot hold up the other mines of its shard.
    #[serde(default = "default_max_elements")]
    pub max_elements: usize,
    /// How many applied messages are remembered (in memory per shard and in the store), so that
    /// one delivered again after a lost PUBACK is acked without being applied twice.
    #[serde(default = "default_dedup_window")]
    pub dedup_window: usize,
    /// `watch` (the default) or `refuse` data from mines the registry does not define.
    #[serde(default)]
    pub unknown_mines: UnknownMines,
    /// Most mines outside the registry watched at once (with `unknown_mines = "watch"`).
    #[serde(default = "default_max_unknown_mines")]
    pub max_unknown_mines: usize,
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
            max_elements: default_max_elements(),
            dedup_window: default_dedup_window(),
            unknown_mines: UnknownMines::default(),
            max_unknown_mines: default_max_unknown_mines(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn with_mines(mines: &[&str]) -> MqttConfig {
        MqttConfig {
            mines: mines.iter().map(|m| m.to_string()).collect(),
            ..MqttConfig::default()
        }
    }

    #[test]
    fn owned_mines_must_be_valid_ids_and_listed_once() {
        assert_eq!(with_mines(&[]).validate_mines(), Ok(()));
        assert_eq!(with_mines(&["M1", "m-2.x"]).validate_mines(), Ok(()));
        let e = with_mines(&["M1", "M 2"])
            .validate_mines()
            .expect_err("space");
        assert!(e.contains("mqtt.mines[1]") && e.contains("\"M 2\""), "{e}");
        let e = with_mines(&["M1", "M2", "M1"])
            .validate_mines()
            .expect_err("twice");
        assert!(e.contains("mqtt.mines[2]") && e.contains("twice"), "{e}");
        let e = with_mines(&[""]).validate_mines().expect_err("empty id");
        assert!(e.contains("mqtt.mines[0]"), "{e}");
    }

    #[test]
    fn a_server_name_needs_tls_and_must_be_a_dns_name_or_an_ip_address() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = rcgen::generate_simple_self_signed(vec!["broker.mine.example".into()])
            .expect("a certificate");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.cert.pem()).expect("write");
        let with = |tls: bool, name: &str| MqttConfig {
            tls,
            ca_file: tls.then(|| ca_file.clone()),
            server_name: Some(name.to_owned()),
            ..MqttConfig::default()
        };
        let e = with(false, "broker.mine.example")
            .resolve()
            .expect_err("without tls");
        assert!(
            e.starts_with("mqtt.server_name") && e.contains("tls = true"),
            "{e}"
        );
        for bad in ["", "broker mine.example", "broker..example"] {
            let e = with(true, bad).resolve().expect_err(bad);
            assert!(e.starts_with("mqtt.server_name") && e.contains(bad), "{e}");
        }
        for good in ["broker.mine.example", "10.20.0.7", "::1"] {
            let mut c = with(true, good);
            assert_eq!(c.resolve(), Ok(()), "{good}");
            assert!(c.tls_config.is_some(), "{good}");
        }
    }

    #[test]
    fn an_empty_list_owns_every_mine_and_a_list_owns_only_its_own() {
        assert!(with_mines(&[]).owned().is_none());
        let o = with_mines(&["M1", "M2"]).owned().expect("a list");
        assert!(o.owns("M1") && o.owns("M2"));
        assert!(!o.owns("M3") && !o.owns("m1") && !o.owns(""));
    }

    #[test]
    fn gaps_name_foreign_registry_mines_and_owned_mines_the_registry_lacks() {
        let o = with_mines(&["M1", "M2", "M9"]).owned().expect("a list");
        let (foreign, missing) = o.gaps(["M3", "M1", "M2", "M4"].into_iter());
        assert_eq!(foreign, vec!["M3", "M4"]);
        assert_eq!(missing, vec!["M9"]);
    }
}
