//! The `[store]` config section.

use serde::Deserialize;

/// Config section `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://PATH` (created with its parent directories if missing), `sqlite::memory:`, or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` (also `postgresql://`; the database must exist).
    /// Default `"sqlite://minewatch.db"`.
    #[serde(default = "default_url")]
    pub url: String,
    /// How many dead letters to keep (oldest pruned). Default 10000.
    #[serde(default = "default_dead_letter_keep")]
    pub dead_letter_keep: u64,
    /// How long a closed alert (resolved, and acknowledged where its severity latches) is kept,
    /// with its events and delivery records, after it resolved; `None` (the default): forever.
    #[serde(default, deserialize_with = "de_retention")]
    pub retention: Option<std::time::Duration>,
}

fn de_retention<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::time::Duration>, D::Error> {
    minewatch_core::time::de_duration(d).map(Some)
}

/// The database file `minewatch.db`; `minewatch run` and `check` take a relative path from the
/// config file's directory (like `registry.dir`).
fn default_url() -> String {
    "sqlite://minewatch.db".to_owned()
}

/// Enough dead letters to diagnose a misbehaving feed, few enough to stay small.
fn default_dead_letter_keep() -> u64 {
    10_000
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: default_url(),
            dead_letter_keep: default_dead_letter_keep(),
            retention: None,
        }
    }
}
