//! The main config file. Every section is optional and every key has a documented default; an
//! unknown key is an error naming the file and line.

use minewatch_core::config::{ConfigError, parse_toml_file};
use minewatch_gateway::HttpConfig;
use minewatch_ingest::{EngineConfig, MqttConfig};
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
        for m in &self.mqtt.mines {
            if !minewatch_core::id::is_valid(m) {
                return bad(format!("mqtt.mines: {m:?} is not a valid mine id"));
            }
        }
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
            // Auth tokens are not configurable yet, so nothing but loopback may be served.
            Ok(a) if !a.ip().is_loopback() => {
                return bad(format!(
                    "http.listen {a} is not a loopback address; without auth tokens minewatch only serves loopback"
                ));
            }
            Ok(_) => {}
        }
        if !self.store.url.starts_with("sqlite:") {
            return bad(format!(
                "store.url {:?}: only sqlite:// stores are supported so far",
                self.store.url
            ));
        }
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
}
