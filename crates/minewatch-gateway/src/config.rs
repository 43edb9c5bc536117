//! The `[http]` section of the main config.

use serde::Deserialize;

/// How the HTTP API and the WebSocket gateway listen and treat their clients.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// The address to bind, `host:port`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// A WebSocket client whose socket does not take a message within this many milliseconds is
    /// dropped, so one stalled client holds nothing but its own connection.
    #[serde(default = "default_ws_send_timeout_ms")]
    pub ws_send_timeout_ms: u64,
    /// The most events replayed to a client resuming with `?after=`; a longer gap gets a fresh
    /// snapshot instead, which is smaller and faster than a long replay.
    #[serde(default = "default_ws_resume_max")]
    pub ws_resume_max: u32,
}

/// Loopback only: without tokens configured the server must not be reachable from outside
/// (contract §5).
pub fn default_listen() -> String {
    "127.0.0.1:8080".to_string()
}

/// Ten seconds: long enough for a browser on a poor link, short enough that a dead one is noticed.
pub fn default_ws_send_timeout_ms() -> u64 {
    10_000
}

/// Ten thousand events: a few minutes of a busy pipeline.
pub fn default_ws_resume_max() -> u32 {
    10_000
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_listen(),
            ws_send_timeout_ms: default_ws_send_timeout_ms(),
            ws_resume_max: default_ws_resume_max(),
        }
    }
}
