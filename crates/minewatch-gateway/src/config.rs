//! The `[http]` section of the main config.

use crate::token::{Role, TokenDigest};
use minewatch_core::time::de_duration;
use serde::Deserialize;
use std::time::Duration;

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
    /// How long a client has to send a request's whole header: from the moment its connection
    /// is accepted, and again from the end of each response on a keep-alive connection. A
    /// connection that has not delivered a complete header by then is closed, so slow or stalled
    /// clients (slowloris) and idle keep-alive connections give their slot back. A JSON body has
    /// as long again once its header is in (else 408 and the connection closes).
    #[serde(
        default = "default_header_read_timeout",
        deserialize_with = "de_duration"
    )]
    pub header_read_timeout: Duration,
    /// The most connections open at once, WebSocket ones included. When all are taken the server
    /// stops accepting until one closes: new connections wait in the kernel's listen backlog
    /// rather than being refused. Keep it well below the process's open-files limit.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// `[[http.tokens]]`: who may use the API. None configured means no auth at all, which the
    /// binary allows only on a loopback address.
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    /// `/metrics` needs a bearer token of `[[http.tokens]]` for every mine (`mines = ["*"]`, any
    /// role): the per-mine figures tell how each mine is doing. Off by default (Prometheus on a
    /// private network); needs tokens.
    #[serde(default)]
    pub metrics_auth: bool,
}

/// One `[[http.tokens]]` entry: a bearer token's name, role and mines. The secret itself is never
/// kept, only its SHA-256, resolved when the config is read (from `sha256`, or by hashing the
/// variable named by `env`), so a missing variable fails at start rather than at the first request.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawToken")]
pub struct TokenConfig {
    /// Who the caller is in logs and in `by` defaults; never the secret.
    pub name: String,
    /// What the caller may do.
    pub role: Role,
    /// The mines the caller may see; `None` for `*`.
    pub mines: Option<Vec<String>>,
    /// SHA-256 of the secret; a presented token is hashed and compared in constant time.
    pub(crate) digest: TokenDigest,
}

impl TokenConfig {
    /// A token with its secret given in clear, as tests and tools build one.
    pub fn with_secret(name: &str, role: Role, mines: Option<Vec<String>>, secret: &str) -> Self {
        TokenConfig {
            name: name.to_owned(),
            role,
            mines,
            digest: TokenDigest::of(secret),
        }
    }

    /// Whether two entries hold the same secret.
    pub fn same_secret(&self, other: &TokenConfig) -> bool {
        self.digest == other.digest
    }
}

/// A token entry as written in the file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    name: String,
    role: Role,
    mines: Vec<String>,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    env: Option<String>,
}

impl TryFrom<RawToken> for TokenConfig {
    type Error = String;

    fn try_from(raw: RawToken) -> Result<Self, String> {
        let name = raw.name.trim().to_owned();
        if name.is_empty() {
            return Err("a token's name must not be empty".into());
        }
        let mines = if raw.mines.iter().any(|m| m == "*") {
            if raw.mines.len() != 1 {
                return Err(format!(
                    "token {name:?}: mines = [\"*\"] stands alone, for every mine"
                ));
            }
            None
        } else {
            if raw.mines.is_empty() {
                return Err(format!(
                    "token {name:?}: mines must list mine ids, or be [\"*\"] for every mine"
                ));
            }
            if let Some(bad) = raw.mines.iter().find(|m| !minewatch_core::id::is_valid(m)) {
                return Err(format!("token {name:?}: {bad:?} is not a valid mine id"));
            }
            Some(raw.mines)
        };
        let digest = match (raw.sha256, raw.env) {
            (Some(hex), None) => TokenDigest::from_hex(&hex).ok_or_else(|| {
                format!("token {name:?}: sha256 must be 64 hex digits (the SHA-256 of the token)")
            })?,
            (None, Some(var)) => match std::env::var(&var) {
                Ok(secret) if !secret.trim().is_empty() => TokenDigest::of(secret.trim()),
                Ok(_) => {
                    return Err(format!(
                        "token {name:?}: environment variable {var} is empty"
                    ));
                }
                Err(_) => {
                    return Err(format!(
                        "token {name:?}: environment variable {var} is not set"
                    ));
                }
            },
            (Some(_), Some(_)) => {
                return Err(format!(
                    "token {name:?}: give either sha256 or env, not both"
                ));
            }
            (None, None) => {
                return Err(format!(
                    "token {name:?}: give its secret as sha256 = \"<hex>\" or env = \"VARIABLE\""
                ));
            }
        };
        Ok(TokenConfig {
            name,
            role: raw.role,
            mines,
            digest,
        })
    }
}

impl HttpConfig {
    /// Whether bearer tokens are required; without any, every caller is an unrestricted admin.
    pub fn auth_enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Checks values that parse but cannot work, and the tokens together. The message starts
    /// with the key at fault.
    pub fn validate(&self) -> Result<(), String> {
        if self.header_read_timeout.is_zero() {
            return Err("http.header_read_timeout must be above 0".into());
        }
        let max_ms = minewatch_core::time::millis(minewatch_core::time::MAX_DURATION);
        if u64::try_from(max_ms).is_ok_and(|max| self.ws_send_timeout_ms > max) {
            return Err(format!(
                "http.ws_send_timeout_ms {} must be at most {max_ms} (100 years)",
                self.ws_send_timeout_ms
            ));
        }
        if !(1..=MAX_CONNECTIONS).contains(&self.max_connections) {
            return Err(format!(
                "http.max_connections {} must be 1 to {MAX_CONNECTIONS}",
                self.max_connections
            ));
        }
        if self.metrics_auth && !self.auth_enabled() {
            return Err("http.metrics_auth needs [[http.tokens]] (a token for Prometheus)".into());
        }
        self.validate_tokens()
    }

    /// Checks the tokens together: names and secrets must be unique, so that logs name one
    /// token and a secret maps to one role.
    pub fn validate_tokens(&self) -> Result<(), String> {
        for (i, t) in self.tokens.iter().enumerate() {
            for u in &self.tokens[..i] {
                if u.name == t.name {
                    return Err(format!("http.tokens: two tokens are named {:?}", t.name));
                }
                if u.same_secret(t) {
                    return Err(format!(
                        "http.tokens: tokens {:?} and {:?} have the same secret",
                        u.name, t.name
                    ));
                }
            }
        }
        Ok(())
    }
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

/// Ten seconds: a browser or a script sends its header in milliseconds, even over a poor link;
/// a client that takes longer is stalled or hostile. It also closes a keep-alive connection idle
/// for that long, which browsers reopen without notice.
pub fn default_header_read_timeout() -> Duration {
    Duration::from_secs(10)
}

/// 1,024: a control room's browsers (a few connections each, one WebSocket) and scrapers use a
/// small part of it; with the header-read timeout, 1,000 stalled clients cannot take them all for
/// longer than that timeout. The deployed unit's open-files limit is 65,536; `minewatch run`
/// warns when the process's limit leaves less room than this needs.
pub fn default_max_connections() -> usize {
    1024
}

/// The largest `max_connections` accepted: far beyond any open-files limit worth having.
pub const MAX_CONNECTIONS: usize = 1 << 20;

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_listen(),
            ws_send_timeout_ms: default_ws_send_timeout_ms(),
            ws_resume_max: default_ws_resume_max(),
            header_read_timeout: default_header_read_timeout(),
            max_connections: default_max_connections(),
            tokens: Vec::new(),
            metrics_auth: false,
        }
    }
}
