//! The main config file. Every section is optional and every key has a documented default; an
//! unknown key is an error naming the file and line.

use minewatch_core::config::{ConfigError, parse_toml_file};
use minewatch_gateway::HttpConfig;
use minewatch_ingest::{EngineConfig, MqttConfig};
use minewatch_notify::NotifyConfig;
use minewatch_rules::RulesConfig;
use minewatch_store::StoreConfig;
use serde::Deserialize;
use std::path::{Path, PathBuf};

fn default_registry_dir() -> PathBuf {
    PathBuf::from("registry")
}

/// `[registry]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// The directory of mine files (`*.toml`), relative to the config file.
    #[serde(default = "default_registry_dir")]
    pub dir: PathBuf,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            dir: default_registry_dir(),
        }
    }
}

/// The whole config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub mqtt: MqttConfig,
    #[serde(default)]
    pub engine: EngineConfig,
    #[serde(default)]
    pub rules: RulesConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub registry: RegistryConfig,
    /// `[notify]`: on-call notification sinks (webhooks, Alertmanager).
    #[serde(default)]
    pub notify: NotifyConfig,
}

impl Config {
    /// Reads and checks a config file; relative paths become relative to its directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let (mut cfg, _source): (Config, String) = parse_toml_file(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        if cfg.registry.dir.is_relative() {
            cfg.registry.dir = base.join(&cfg.registry.dir);
        }
        if let Some(rest) = cfg.store.url.strip_prefix("sqlite://") {
            let p = Path::new(rest.split('?').next().unwrap_or(rest));
            if p.is_relative() && !rest.is_empty() {
                cfg.store.url = format!("sqlite://{}", base.join(rest).display());
            }
        }
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Checks values that parse but cannot work.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::file(path, m));
        if !minewatch_core::id::is_valid(&self.mqtt.client_id) {
            return bad(format!(
                "mqtt.client_id {:?} must be 1-64 characters of A-Z a-z 0-9 _ - .",
                self.mqtt.client_id
            ));
        }
        if self.mqtt.prefix.is_empty() || self.mqtt.prefix.contains(['+', '#']) {
            return bad(format!(
                "mqtt.prefix {:?} must be a plain topic prefix",
                self.mqtt.prefix
            ));
        }
        self.mqtt
            .validate_mines()
            .map_err(|m| ConfigError::file(path, m))?;
        if self.mqtt.username.is_some() != self.mqtt.password.is_some() {
            return bad("mqtt.username and mqtt.password go together".into());
        }
        match self.http.listen.parse::<std::net::SocketAddr>() {
            Err(_) => {
                return bad(format!(
                    "http.listen {:?} is not an address like 127.0.0.1:8080",
                    self.http.listen
                ));
            }
            // Without tokens every caller is an unrestricted admin: nothing but loopback then.
            Ok(a) if !a.ip().is_loopback() && !self.http.auth_enabled() => {
                return bad(format!(
                    "http.listen {a} is not a loopback address; without [[http.tokens]] minewatch only serves loopback"
                ));
            }
            Ok(_) => {}
        }
        self.http
            .validate_tokens()
            .map_err(|m| ConfigError::file(path, m))?;
        let url = &self.store.url;
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| url.starts_with(p))
        {
            return bad(format!(
                "store.url {url:?}: expected sqlite://PATH, postgres://… or postgresql://…"
            ));
        }
        self.notify
            .validate()
            .map_err(|m| ConfigError::file(path, m))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_config_loads_and_resolves_paths() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/minewatch.toml");
        let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(cfg.registry.dir.ends_with("registry"));
        assert!(
            cfg.registry.dir.is_absolute()
                || cfg.registry.dir.starts_with(env!("CARGO_MANIFEST_DIR"))
        );
    }

    #[test]
    fn a_typo_names_the_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("m.toml");
        std::fs::write(
            &p,
            "[mqtt]\nhost = \"127.0.0.1\"\n\n[rules]\nfeed_grase = \"10s\"\n",
        )
        .expect("write");
        let e = Config::load(&p).expect_err("typo");
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.to_string().contains("feed_grase"), "{e}");
    }

    #[test]
    fn durations_and_numbers_both_work_for_rule_parameters() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("m.toml");
        std::fs::write(&p, "[rules]\nfeed_grace = \"15s\"\nsilent_after = 300\n").expect("write");
        let c = Config::load(&p).expect("valid");
        assert_eq!(c.rules.feed_grace, std::time::Duration::from_secs(15));
        assert_eq!(c.rules.silent_after, std::time::Duration::from_secs(300));
    }

    fn write(body: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("m.toml");
        std::fs::write(&p, body).expect("write");
        (dir, p)
    }

    const OPS_SHA: &str =
        "sha256 = \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"";

    #[test]
    fn tokens_allow_a_non_loopback_listen() {
        let (_d, p) = write(&format!(
            "[http]\nlisten = \"0.0.0.0:8080\"\n\n[[http.tokens]]\nname = \"ops\"\nrole = \"operator\"\nmines = [\"140100001\"]\n{OPS_SHA}\n"
        ));
        let c = Config::load(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.http.tokens.len(), 1);
        assert_eq!(c.http.tokens[0].name, "ops");
        assert_eq!(c.http.tokens[0].mines, Some(vec!["140100001".to_owned()]));
    }

    #[test]
    fn no_tokens_still_refuse_a_non_loopback_listen() {
        let (_d, p) = write("[http]\nlisten = \"0.0.0.0:8080\"\n");
        let e = Config::load(&p).expect_err("non-loopback without tokens");
        assert!(e.to_string().contains("loopback"), "{e}");
    }

    fn token_error(entry: &str) -> String {
        let (_d, p) = write(&format!(
            "[http]\nlisten = \"127.0.0.1:8080\"\n\n[[http.tokens]]\nname = \"ops\"\n{entry}\n"
        ));
        match Config::load(&p) {
            Ok(_) => panic!("accepted: {entry}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_token_with_both_or_neither_sha256_and_env_is_a_config_error() {
        let both = token_error(&format!(
            "role = \"viewer\"\nmines = [\"*\"]\n{OPS_SHA}\nenv = \"PATH\""
        ));
        assert!(both.contains("not both"), "{both}");
        let neither = token_error("role = \"viewer\"\nmines = [\"*\"]");
        assert!(
            neither.contains("sha256") && neither.contains("env"),
            "{neither}"
        );
    }

    #[test]
    fn an_unknown_role_is_a_config_error_naming_it() {
        let e = token_error(&format!("role = \"root\"\nmines = [\"*\"]\n{OPS_SHA}"));
        assert!(e.contains("root") && e.contains("viewer"), "{e}");
    }

    #[test]
    fn a_missing_token_variable_is_a_config_error_naming_it() {
        let e = token_error(
            "role = \"admin\"\nmines = [\"*\"]\nenv = \"MINEWATCH_TEST_TOKEN_NEVER_SET\"",
        );
        assert!(e.contains("MINEWATCH_TEST_TOKEN_NEVER_SET"), "{e}");
    }

    #[test]
    fn a_token_read_from_the_environment_is_kept_as_its_hash() {
        // Cargo sets CARGO_PKG_NAME for the test process; edition 2024 makes set_var unsafe.
        let (_d, p) = write(
            "[[http.tokens]]\nname = \"ci\"\nrole = \"viewer\"\nmines = [\"*\"]\nenv = \"CARGO_PKG_NAME\"\n",
        );
        let c = Config::load(&p).unwrap_or_else(|e| panic!("{e}"));
        let expected = minewatch_gateway::HttpConfig {
            tokens: vec![minewatch_gateway::config::TokenConfig::with_secret(
                "ci",
                minewatch_gateway::Role::Viewer,
                None,
                env!("CARGO_PKG_NAME"),
            )],
            ..Default::default()
        };
        assert!(c.http.tokens[0].same_secret(&expected.tokens[0]));
    }

    #[test]
    fn notify_sections_parse_strictly_and_bad_values_name_their_key() {
        let (_d, p) = write(
            "[notify]\nrenotify_after = \"5m\"\n\n[[notify.webhooks]]\nname = \"oncall\"\nurl = \"https://pager.example/hook\"\nsecret_env = \"CARGO_PKG_NAME\"\nmin_severity = \"major\"\n\n[notify.alertmanager]\nurl = \"http://alertmanager:9093\"\n",
        );
        let c = Config::load(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.notify.webhooks[0].name, "oncall");
        assert_eq!(c.notify.renotify_after, std::time::Duration::from_secs(300));
        assert!(c.notify.alertmanager.is_some());
        let (_d, p) = write("[notify]\nrenotify_afterr = \"5m\"\n");
        let e = Config::load(&p).expect_err("typo");
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.to_string().contains("renotify_afterr"), "{e}");
        let (_d, p) = write(
            "[[notify.webhooks]]\nname = \"oncall\"\nurl = \"https://pager.example/hook\"\nsecret_env = \"MINEWATCH_TEST_NEVER_SET\"\n",
        );
        let e = Config::load(&p)
            .expect_err("missing secret variable")
            .to_string();
        assert!(
            e.contains("m.toml")
                && e.contains("notify.webhooks[0]")
                && e.contains("MINEWATCH_TEST_NEVER_SET"),
            "{e}"
        );
    }

    #[test]
    fn owned_mines_that_are_bad_or_listed_twice_name_the_file_and_key() {
        let (_d, p) = write("[mqtt]\nmines = [\"M1\", \"M/2\"]\n");
        let e = Config::load(&p).expect_err("bad id").to_string();
        assert!(e.contains("m.toml") && e.contains("mqtt.mines[1]"), "{e}");
        let (_d, p) = write("[mqtt]\nmines = [\"M1\", \"M2\", \"M1\"]\n");
        let e = Config::load(&p).expect_err("twice").to_string();
        assert!(
            e.contains("m.toml") && e.contains("mqtt.mines[2]") && e.contains("twice"),
            "{e}"
        );
        let (_d, p) = write("[mqtt]\nmines = [\"M1\", \"M2\"]\n");
        assert_eq!(Config::load(&p).map(|c| c.mqtt.mines.len()), Ok(2));
    }

    #[test]
    fn bad_mines_and_duplicate_tokens_are_config_errors() {
        let e = token_error(&format!("role = \"viewer\"\nmines = []\n{OPS_SHA}"));
        assert!(e.contains("mines"), "{e}");
        let e = token_error(&format!(
            "role = \"viewer\"\nmines = [\"*\", \"m1\"]\n{OPS_SHA}"
        ));
        assert!(e.contains("*"), "{e}");
        let e = token_error(&format!(
            "role = \"viewer\"\nmines = [\"*\"]\n{OPS_SHA}\n\n[[http.tokens]]\nname = \"ops2\"\nrole = \"admin\"\nmines = [\"*\"]\n{OPS_SHA}"
        ));
        assert!(e.contains("same secret"), "{e}");
    }
}
