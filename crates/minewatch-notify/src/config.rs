//! The `[notify]` config section: renotify, retry bounds, and the sinks.

use minewatch_core::time::de_duration;
use minewatch_core::{Kind, Severity};
use serde::Deserialize;
use std::time::Duration;

/// Config section `[notify]`. Without sinks nothing is sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// A critical alert nobody acknowledges is notified again this often while active. Default
    /// 10 min; 0 turns renotify off.
    #[serde(default = "default_renotify_after", deserialize_with = "de_duration")]
    pub renotify_after: Duration,
    /// The first retry waits about this long (jittered). Default 1 s.
    #[serde(default = "default_retry_min", deserialize_with = "de_duration")]
    pub retry_min: Duration,
    /// Retries back off exponentially up to this wait (jittered). Default 5 min.
    #[serde(default = "default_retry_max", deserialize_with = "de_duration")]
    pub retry_max: Duration,
    /// An event whose delivery still fails once it is older than this is given up and recorded
    /// as failed. Default 1 h.
    #[serde(default = "default_give_up_after", deserialize_with = "de_duration")]
    pub give_up_after: Duration,
    /// The address operators reach minewatch at, for links (`generatorURL`). Default
    /// `http://127.0.0.1:8080`.
    #[serde(default = "default_public_url")]
    pub public_url: String,
    /// CA certificates (PEM) the sinks' HTTPS servers may chain to, on top of the system's CA
    /// store and Mozilla's: for a webhook or Alertmanager behind a private CA.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// `[[notify.webhooks]]`.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    /// `[notify.alertmanager]`.
    #[serde(default)]
    pub alertmanager: Option<AlertmanagerConfig>,
    /// While a mine is in an alarm flood, a webhook gets its events grouped, one notification
    /// this often (and one when the flood ends). Default 1 min.
    #[serde(
        default = "default_flood_group_every",
        deserialize_with = "de_duration"
    )]
    pub flood_group_every: Duration,
    /// What a flood is: set by the server from `[alarms]` (not a `[notify]` key).
    #[serde(skip)]
    pub alarms: minewatch_core::alarm_policy::AlarmConfig,
}

fn default_flood_group_every() -> Duration {
    Duration::from_secs(60)
}

/// One `[[notify.webhooks]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Unique among sinks; names the sink in metrics, logs and delivery records (1-64 of
    /// `A-Z a-z 0-9 _ - .`).
    pub name: String,
    /// `http://` or `https://` URL the JSON is POSTed to.
    pub url: String,
    /// The environment variable holding the HMAC secret (read at start).
    #[serde(default)]
    pub secret_env: Option<String>,
    /// The HMAC secret itself: discouraged (config files get copied); use `secret_env`.
    #[serde(default)]
    pub secret: Option<String>,
    /// Only alerts at or above this severity. Default `info` (all).
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// Only these kinds; empty = all.
    #[serde(default)]
    pub kinds: Vec<Kind>,
    /// Only these mines; empty = all.
    #[serde(default)]
    pub mines: Vec<String>,
    /// One HTTP attempt's timeout. Default 10 s.
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
}

/// `[notify.alertmanager]`: Prometheus Alertmanager's v2 API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Alertmanager's base URL, e.g. `http://alertmanager:9093`; alerts go to `/api/v2/alerts`.
    pub url: String,
    /// Active alerts are sent again this often, so Alertmanager keeps them firing. Default 1 min.
    #[serde(default = "default_resend_every", deserialize_with = "de_duration")]
    pub resend_every: Duration,
    /// Only alerts at or above this severity. Default `info` (all).
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// Only these kinds; empty = all.
    #[serde(default)]
    pub kinds: Vec<Kind>,
    /// Only these mines; empty = all.
    #[serde(default)]
    pub mines: Vec<String>,
    /// One HTTP attempt's timeout. Default 10 s.
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
}

/// The name of the Alertmanager sink in metrics and delivery records.
pub const ALERTMANAGER_SINK: &str = "alertmanager";

/// Ten minutes: long enough not to nag, short enough that an unanswered critical is not forgotten.
fn default_renotify_after() -> Duration {
    Duration::from_secs(600)
}

/// One second: a receiver's hiccup is retried almost at once.
fn default_retry_min() -> Duration {
    Duration::from_secs(1)
}

/// Five minutes: a receiver that is down is not hammered.
fn default_retry_max() -> Duration {
    Duration::from_secs(300)
}

/// One hour: past that a notification is stale; it is recorded as failed instead.
fn default_give_up_after() -> Duration {
    Duration::from_secs(3600)
}

/// The default `[http] listen` address.
fn default_public_url() -> String {
    "http://127.0.0.1:8080".to_owned()
}

/// Every severity.
fn default_min_severity() -> Severity {
    Severity::Info
}

/// Ten seconds for one HTTP attempt.
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Alertmanager's own `resolve_timeout` is 5 min; once a minute keeps well inside it.
fn default_resend_every() -> Duration {
    Duration::from_secs(60)
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            renotify_after: default_renotify_after(),
            retry_min: default_retry_min(),
            retry_max: default_retry_max(),
            give_up_after: default_give_up_after(),
            public_url: default_public_url(),
            ca_file: None,
            webhooks: Vec::new(),
            alertmanager: None,
            flood_group_every: default_flood_group_every(),
            alarms: Default::default(),
        }
    }
}

/// Whether `url` is an absolute http(s) URL with a host.
fn is_http_url(url: &str) -> bool {
    reqwest::Url::parse(url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

impl NotifyConfig {
    /// Checks values that parse but cannot work; the message names the key. Reads each webhook's
    /// `secret_env`, so a missing variable is reported at start (and by `minewatch check`).
    pub fn validate(&self) -> Result<(), String> {
        if self.retry_min.is_zero() || self.retry_min > self.retry_max {
            return Err(format!(
                "notify.retry_min ({:?}) must be above 0 and at most notify.retry_max ({:?})",
                self.retry_min, self.retry_max
            ));
        }
        if self.give_up_after.is_zero() {
            return Err("notify.give_up_after must be above 0".into());
        }
        if !is_http_url(&self.public_url) {
            return Err(format!(
                "notify.public_url {:?} is not an http(s) URL",
                self.public_url
            ));
        }
        if let Some(ca) = &self.ca_file {
            crate::http_client(Duration::from_secs(1), Some(ca))?;
        }
        let mut names: Vec<&str> = Vec::new();
        for (i, w) in self.webhooks.iter().enumerate() {
            let at = format!("notify.webhooks[{i}]");
            if !minewatch_core::id::is_valid(&w.name) || w.name == ALERTMANAGER_SINK {
                return Err(format!(
                    "{at}.name {:?} must be 1-64 characters of A-Z a-z 0-9 _ - . and not \"{ALERTMANAGER_SINK}\"",
                    w.name
                ));
            }
            if names.contains(&w.name.as_str()) {
                return Err(format!("{at}.name {:?} is used twice", w.name));
            }
            names.push(&w.name);
            if !is_http_url(&w.url) {
                return Err(format!("{at}.url {:?} is not an http(s) URL", w.url));
            }
            w.secret().map_err(|e| format!("{at}: {e}"))?;
            check_filters(&at, &w.mines, w.timeout)?;
        }
        if let Some(am) = &self.alertmanager {
            let at = "notify.alertmanager";
            if !is_http_url(&am.url) {
                return Err(format!("{at}.url {:?} is not an http(s) URL", am.url));
            }
            if am.resend_every < Duration::from_secs(1) {
                return Err(format!("{at}.resend_every must be at least 1s"));
            }
            check_filters(at, &am.mines, am.timeout)?;
        }
        Ok(())
    }
}

/// A sink's `mines` must be ids and its `timeout` above 0.
fn check_filters(at: &str, mines: &[String], timeout: Duration) -> Result<(), String> {
    if let Some(m) = mines.iter().find(|m| !minewatch_core::id::is_valid(m)) {
        return Err(format!("{at}.mines: {m:?} is not a valid mine id"));
    }
    if timeout.is_zero() {
        return Err(format!("{at}.timeout must be above 0"));
    }
    Ok(())
}

impl WebhookConfig {
    /// The HMAC secret: from `secret_env` or `secret`, exactly one, not empty.
    pub fn secret(&self) -> Result<String, String> {
        match (&self.secret_env, &self.secret) {
            (Some(_), Some(_)) => Err("give secret_env or secret, not both".into()),
            (None, None) => Err(
                "secret_env (the variable holding the HMAC secret) is required; `secret` also works but is discouraged"
                    .into(),
            ),
            (Some(var), None) => match std::env::var(var) {
                Ok(s) if !s.is_empty() => Ok(s),
                Ok(_) => Err(format!("secret_env: variable {var} is empty")),
                Err(_) => Err(format!("secret_env: variable {var} is not set")),
            },
            (None, Some(s)) if s.is_empty() => Err("secret must not be empty".into()),
            (None, Some(s)) => Ok(s.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<NotifyConfig, String> {
        let cfg: NotifyConfig = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        cfg.validate()?;
        Ok(cfg)
    }

    #[test]
    fn defaults_apply_and_sinks_parse_with_their_filters() {
        let c = parse(
            r#"
renotify_after = "15m"
[[webhooks]]
name = "oncall"
url = "https://pager.example/hook"
secret = "s"
min_severity = "major"
kinds = ["over_limit", "distress"]
mines = ["140100001"]
[alertmanager]
url = "http://alertmanager:9093"
"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.renotify_after, Duration::from_secs(900));
        assert_eq!(c.give_up_after, Duration::from_secs(3600));
        assert_eq!(c.webhooks[0].min_severity, Severity::Major);
        assert_eq!(c.webhooks[0].kinds, [Kind::OverLimit, Kind::Distress]);
        assert_eq!(c.webhooks[0].timeout, Duration::from_secs(10));
        let am = c.alertmanager.expect("alertmanager");
        assert_eq!(am.resend_every, Duration::from_secs(60));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_naming_the_key() {
        let e =
            parse("[[webhooks]]\nname = \"a\"\nurl = \"http://x\"\nsecret = \"s\"\nretries = 3\n")
                .expect_err("unknown key");
        assert!(e.contains("retries"), "{e}");
        let e = parse("[[webhooks]]\nname = \"a\"\nurl = \"ftp://x\"\nsecret = \"s\"\n")
            .expect_err("bad url");
        assert!(e.contains("notify.webhooks[0].url"), "{e}");
        let e = parse(
            "[[webhooks]]\nname = \"a\"\nurl = \"http://x\"\nsecret_env = \"MINEWATCH_TEST_NEVER_SET\"\n",
        )
        .expect_err("missing variable");
        assert!(e.contains("MINEWATCH_TEST_NEVER_SET"), "{e}");
        let e = parse("[[webhooks]]\nname = \"a\"\nurl = \"http://x\"\n").expect_err("no secret");
        assert!(e.contains("secret_env"), "{e}");
        let e = parse(
            "[[webhooks]]\nname = \"a\"\nurl = \"http://x\"\nsecret = \"s\"\n[[webhooks]]\nname = \"a\"\nurl = \"http://y\"\nsecret = \"t\"\n",
        )
        .expect_err("duplicate");
        assert!(e.contains("twice"), "{e}");
        let e = parse("retry_min = \"10m\"\nretry_max = \"1m\"\n").expect_err("min above max");
        assert!(e.contains("retry_min"), "{e}");
        let e = parse("[[webhooks]]\nname = \"a\"\nurl = \"http://x\"\nsecret = \"s\"\nkinds = [\"over_limt\"]\n")
            .expect_err("bad kind");
        assert!(e.contains("over_limt"), "{e}");
    }
}
