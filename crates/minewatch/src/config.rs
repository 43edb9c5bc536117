//! The main config file. Every section is optional and every key has a documented default; an
//! unknown key is an error naming the file and line.

use minewatch_core::config::{ConfigError, read_text};
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
    /// `[alarms]`: alarm management (latching, re-activation, chattering, floods, shelving).
    #[serde(default)]
    pub alarms: minewatch_core::alarm_policy::AlarmsSection,
    /// The file it was loaded from ([`Config::load`]): a reload reads it again.
    #[serde(skip)]
    pub source: Option<std::path::PathBuf>,
}

/// Bounds of the `[engine]` and `[mqtt]` numbers: beyond them a queue or a thread count cannot be
/// built (tokio panics on a channel of more than `usize::MAX >> 3` slots, a billion shards would
/// exhaust threads), so they are config errors rather than a crash at start.
const MAX_SHARDS: usize = 1024;
const MAX_QUEUE: usize = 1 << 20;
const MAX_WRITER_BATCH: usize = 1 << 16;
/// MQTT's largest packet: a remaining length of at most 268,435,455 bytes.
const MAX_PACKET_BYTES: usize = minewatch_ingest::mqtt::MQTT_MAX_REMAINING_LENGTH;
/// Most elements one message may have decoded: beyond a million, one message would hold up its
/// shard's other mines for seconds, which the cap is there to prevent.
const MAX_ELEMENTS: usize = 1_000_000;
/// Most applied-message digests remembered (about 50 bytes each per shard, and a row each).
const MAX_DEDUP_WINDOW: usize = 10_000_000;
/// Most mines outside the registry watched at once.
const MAX_UNKNOWN_MINES: usize = 1_000_000;

impl Config {
    /// Reads and checks a config file; relative paths become relative to its directory. Every
    /// error names the file, and the line of the key at fault where it is written.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let mut cfg = Self::parse(path, &read_text(path)?)?;
        cfg.source = Some(path.to_path_buf());
        Ok(cfg)
    }

    /// [`Config::load`] of the text `source` of the file at `path`.
    pub fn parse(path: &Path, source: &str) -> Result<Config, ConfigError> {
        let mut cfg: Config =
            toml::from_str(source).map_err(|e| ConfigError::from_toml(path, source, &e))?;
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
        let m = &mut cfg.mqtt;
        for file in [
            &mut m.ca_file,
            &mut m.client_cert_file,
            &mut m.client_key_file,
            &mut m.password_file,
        ]
        .into_iter()
        .flatten()
        {
            if file.is_relative() {
                *file = base.join(&*file);
            }
        }
        // The password from its variable or file, and the TLS files, read now: a problem fails
        // `check` and the start, naming the key.
        cfg.mqtt.resolve().map_err(|m| {
            let key = leading_key(&m).to_owned();
            ConfigError::at_key(path, source, &key, m)
        })?;
        cfg.check().map_err(|m| {
            let key = leading_key(&m).to_owned();
            ConfigError::at_key(path, source, &key, m)
        })?;
        Ok(cfg)
    }

    /// Checks values that parse but cannot work; `path` names the config in the error.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        self.check().map_err(|m| ConfigError::file(path, m))
    }

    /// Checks values that parse but cannot work. Each message starts with the key at fault
    /// (`http.listen …`, `notify.webhooks[0].url …`), which [`Config::load`] turns into its line.
    fn check(&self) -> Result<(), String> {
        self.alarms.to_config()?;
        if !minewatch_core::id::is_valid(&self.mqtt.client_id) {
            return Err(format!(
                "mqtt.client_id {:?} must be 1-64 characters of A-Z a-z 0-9 _ - .",
                self.mqtt.client_id
            ));
        }
        if self.mqtt.prefix.is_empty() || self.mqtt.prefix.contains(['+', '#']) {
            return Err(format!(
                "mqtt.prefix {:?} must be a plain topic prefix",
                self.mqtt.prefix
            ));
        }
        self.mqtt.validate_mines()?;
        if self.mqtt.username.is_some() != self.mqtt.password.is_some() {
            return Err(
                "mqtt.username and mqtt.password (or password_env, password_file) go together"
                    .into(),
            );
        }
        if !(1..=MAX_PACKET_BYTES).contains(&self.mqtt.max_packet_bytes) {
            return Err(format!(
                "mqtt.max_packet_bytes {} must be 1 to {MAX_PACKET_BYTES} (MQTT's largest packet)",
                self.mqtt.max_packet_bytes
            ));
        }
        let e = &self.engine;
        for (key, value, max) in [
            ("engine.shards", e.shards, MAX_SHARDS),
            ("engine.shard_queue", e.shard_queue, MAX_QUEUE),
            ("engine.writer_queue", e.writer_queue, MAX_QUEUE),
            ("engine.writer_batch", e.writer_batch, MAX_WRITER_BATCH),
            (
                "engine.max_unknown_mines",
                e.max_unknown_mines,
                MAX_UNKNOWN_MINES,
            ),
        ] {
            if value > max {
                return Err(format!("{key} {value} must be at most {max}"));
            }
        }
        for (key, value, max) in [
            ("engine.max_elements", e.max_elements, MAX_ELEMENTS),
            ("engine.dedup_window", e.dedup_window, MAX_DEDUP_WINDOW),
        ] {
            if !(1..=max).contains(&value) {
                return Err(format!("{key} {value} must be 1 to {max}"));
            }
        }
        match self.http.listen.parse::<std::net::SocketAddr>() {
            Err(_) => {
                return Err(format!(
                    "http.listen {:?} is not an address like 127.0.0.1:8080",
                    self.http.listen
                ));
            }
            // Without tokens every caller is an unrestricted admin: nothing but loopback then.
            Ok(a) if !a.ip().is_loopback() && !self.http.auth_enabled() => {
                return Err(format!(
                    "http.listen {a} is not a loopback address; without [[http.tokens]] minewatch only serves loopback"
                ));
            }
            Ok(_) => {}
        }
        self.http.validate()?;
        let url = &self.store.url;
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| url.starts_with(p))
        {
            return Err(format!(
                "store.url {url:?}: expected sqlite://PATH, postgres://… or postgresql://…"
            ));
        }
        // Closed alerts are evidence: a retention under a day is a typo ("40" for "40d"), not a
        // policy, and would delete them as soon as they close.
        if let Some(keep) = self.store.retention
            && keep < std::time::Duration::from_secs(86_400)
        {
            return Err(format!(
                "store.retention {keep:?} is under a day; closed alerts are evidence (e.g. \"400d\")"
            ));
        }
        self.notify.validate()?;
        Ok(())
    }
}

/// The dotted key a check's message starts with (`notify.webhooks[0].url` of
/// `"notify.webhooks[0].url \"x\" is not…"`).
fn leading_key(message: &str) -> &str {
    let end = message
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']')))
        .unwrap_or(message.len());
    message[..end].trim_end_matches('.')
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
        assert_eq!(c.rules.duration("feed_grace"), Some(15_000));
        assert_eq!(c.rules.duration("silent_after"), Some(300_000));
    }

    fn write(body: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("m.toml");
        std::fs::write(&p, body).expect("write");
        (dir, p)
    }

    #[test]
    fn the_broker_password_comes_from_a_file_or_a_variable_and_problems_name_the_key() {
        let (dir, p) = write("[mqtt]\nusername = \"mw\"\npassword_file = \"secret\"\n");
        std::fs::write(dir.path().join("secret"), "s3cret\n").expect("write");
        let c = Config::load(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.mqtt.password.as_deref(),
            Some("s3cret"),
            "read beside the config, trimmed"
        );
        let (_d, p) = write("[mqtt]\nusername = \"mw\"\npassword_file = \"missing\"\n");
        let e = Config::load(&p).expect_err("missing file").to_string();
        assert!(e.contains("mqtt.password_file") && e.contains(":3:"), "{e}");
        let (_d, p) = write(
            "[mqtt]\nusername = \"mw\"\npassword_env = \"MINEWATCH_TEST_SURELY_UNSET_9F2\"\n",
        );
        let e = Config::load(&p).expect_err("unset").to_string();
        assert!(e.contains("MINEWATCH_TEST_SURELY_UNSET_9F2"), "{e}");
        let (_d, p) =
            write("[mqtt]\nusername = \"mw\"\npassword = \"x\"\npassword_env = \"PATH\"\n");
        let e = Config::load(&p).expect_err("two sources").to_string();
        assert!(e.contains("one of password"), "{e}");
        let (_d, p) = write("[mqtt]\nca_file = \"ca.pem\"\n");
        let e = Config::load(&p).expect_err("ca without tls").to_string();
        assert!(e.contains("tls = true"), "{e}");
    }

    #[test]
    fn a_broker_server_name_needs_tls_and_a_valid_name_and_errors_name_its_line() {
        let e = error_of("[mqtt]\nhost = \"10.0.0.7\"\nserver_name = \"broker.mine.example\"\n");
        assert!(
            e.message.starts_with("mqtt.server_name") && e.message.contains("tls = true"),
            "{e}"
        );
        assert_eq!(e.line, Some(3), "{e}");
        let e = error_of("[mqtt]\ntls = true\nserver_name = \"broker mine\"\n");
        assert!(e.message.starts_with("mqtt.server_name"), "{e}");
        assert_eq!(e.line, Some(3), "{e}");
    }

    #[test]
    fn retention_under_a_day_is_refused_naming_the_key_and_a_year_is_taken() {
        let (_d, p) = write("[store]\nretention = \"40\"\n");
        let e = Config::load(&p).expect_err("40 s").to_string();
        assert!(e.contains("store.retention") && e.contains(":2:"), "{e}");
        let (_d, p) = write("[store]\nretention = \"400d\"\n");
        let c = Config::load(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.store.retention,
            Some(std::time::Duration::from_secs(400 * 86_400))
        );
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
        assert_eq!(e.line, Some(2), "the check names the key's line: {e}");
    }

    /// The error of a config made of `body`, as `m.toml:LINE: message`.
    fn error_of(body: &str) -> ConfigError {
        match Config::parse(Path::new("m.toml"), body) {
            Ok(_) => panic!("accepted:\n{body}"),
            Err(e) => e,
        }
    }

    #[test]
    fn absurd_durations_are_errors_with_file_and_line_not_panics() {
        for (body, line) in [
            ("[engine]\ntick = 1e300\n", 2),
            ("[rules]\n\nsilent_after = \"18446744073709551615s\"\n", 3),
            ("[mqtt]\nkeep_alive = \"99999999999999999999d\"\n", 2),
            ("[notify]\nretry_max = -1\n", 2),
            ("[http]\nheader_read_timeout = \"soon\"\n", 2),
        ] {
            let e = error_of(body);
            assert_eq!(e.line, Some(line), "{body}: {e}");
            assert!(
                e.to_string().starts_with(&format!("m.toml:{line}: ")),
                "{e}"
            );
        }
        let e = error_of("[engine]\ntick = 1e300\n");
        assert!(e.message.contains("36500d"), "{e}");
    }

    #[test]
    fn numbers_that_cannot_be_built_are_errors_naming_their_key_and_line() {
        for (body, key, line) in [
            (
                "[engine]\nshard_queue = 9000000000000000000\n",
                "engine.shard_queue",
                2,
            ),
            (
                "[engine]\nshards = 1\nwriter_queue = 2000000\n",
                "engine.writer_queue",
                3,
            ),
            (
                "[engine]\nwriter_batch = 100000000\n",
                "engine.writer_batch",
                2,
            ),
            ("[engine]\nmax_elements = 0\n", "engine.max_elements", 2),
            ("[engine]\ndedup_window = 0\n", "engine.dedup_window", 2),
            (
                "[engine]\n\nmax_unknown_mines = 9000000000\n",
                "engine.max_unknown_mines",
                3,
            ),
            ("[engine]\nshards = 100000\n", "engine.shards", 2),
            ("[mqtt]\nmax_packet_bytes = 0\n", "mqtt.max_packet_bytes", 2),
            ("[http]\nmax_connections = 0\n", "http.max_connections", 2),
            (
                "[http]\n\nheader_read_timeout = \"0s\"\n",
                "http.header_read_timeout",
                3,
            ),
            ("[notify]\nretry_min = \"10m\"\n", "notify.retry_min", 2),
            ("[mqtt]\nmines = [\"M1\", \"M 2\"]\n", "mqtt.mines[1]", 2),
        ] {
            let e = error_of(body);
            assert!(e.message.starts_with(key), "{body}: {e}");
            assert_eq!(e.line, Some(line), "{body}: {e}");
        }
        let e = error_of("[mqtt]\nport = 70000\n");
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn the_connection_keys_have_their_defaults_and_take_durations() {
        let c = Config::parse(Path::new("m.toml"), "").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.http.header_read_timeout,
            std::time::Duration::from_secs(10)
        );
        assert_eq!(c.http.max_connections, 1024);
        let c = Config::parse(
            Path::new("m.toml"),
            "[http]\nheader_read_timeout = \"2.5s\"\nmax_connections = 64\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.http.header_read_timeout,
            std::time::Duration::from_millis(2500)
        );
        assert_eq!(c.http.max_connections, 64);
    }

    #[test]
    fn a_config_file_that_is_not_utf8_names_the_offset_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("m.toml");
        std::fs::write(&p, b"[mqtt]\nhost = \"br\xf6ker\"\n").expect("write");
        let e = Config::load(&p).expect_err("latin-1 text");
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("offset 17"), "{e}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Every key that takes a duration or a number, with its section.
        const KEYS: &[(&str, &str)] = &[
            ("mqtt", "port"),
            ("mqtt", "keep_alive"),
            ("mqtt", "max_packet_bytes"),
            ("mqtt", "backoff_min"),
            ("mqtt", "backoff_max"),
            ("engine", "shards"),
            ("engine", "shard_queue"),
            ("engine", "writer_queue"),
            ("engine", "writer_batch"),
            ("engine", "max_clock_skew"),
            ("engine", "tick"),
            ("engine", "command_timeout"),
            ("engine", "snapshot_every"),
            ("engine", "max_elements"),
            ("engine", "dedup_window"),
            ("engine", "max_unknown_mines"),
            ("rules", "feed_grace"),
            ("rules", "fault_after"),
            ("rules", "silent_after"),
            ("rules", "system_silent_after"),
            ("rules", "flat_epsilon"),
            ("rules", "flat_window"),
            ("rules", "mismatch_delta"),
            ("rules", "mismatch_for"),
            ("rules", "mismatch_clear_for"),
            ("rules", "calibration_max"),
            ("rules", "calibration_count"),
            ("rules", "calibration_window"),
            ("rules", "overtime_margin"),
            ("rules", "leader_required_above"),
            ("rules", "no_leader_for"),
            ("rules", "camera_fault_after"),
            ("rules", "no_video_after"),
            ("rules", "ai_event_clear"),
            ("rules", "sealed_power_for"),
            ("rules", "power_sigma"),
            ("rules", "power_anomaly_for"),
            ("rules", "power_learning"),
            ("rules", "production_for"),
            ("rules", "production_clear"),
            ("rules", "explosives_sign_for"),
            ("rules", "concealed_for"),
            ("rules", "concealed_clear"),
            ("store", "dead_letter_keep"),
            ("http", "ws_send_timeout_ms"),
            ("http", "ws_resume_max"),
            ("http", "header_read_timeout"),
            ("http", "max_connections"),
            ("notify", "renotify_after"),
            ("notify", "retry_min"),
            ("notify", "retry_max"),
            ("notify", "give_up_after"),
        ];

        /// A TOML value of any shape a hand might write there.
        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<i64>().prop_map(|n| n.to_string()),
                (0i64..100_000).prop_map(|n| n.to_string()),
                any::<f64>().prop_map(|x| format!("{x:?}").replace("NaN", "nan")),
                Just("1e300".to_owned()),
                Just("-0.0".to_owned()),
                "[0-9.]{1,25}(ms|s|m|min|h|d|x|)".prop_map(|s| format!("{s:?}")),
                any::<String>().prop_map(|s| format!("{s:?}")),
                any::<bool>().prop_map(|b| b.to_string()),
                Just("[1, 2]".to_owned()),
                Just("{ a = 1 }".to_owned()),
                Just("1979-05-27T07:32:00Z".to_owned()),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_value_in_any_duration_or_number_key_loads_or_names_file_and_line(
                entries in proptest::collection::vec((proptest::sample::select(KEYS), value()), 1..4),
            ) {
                // One table per section, each key once (repeats are TOML errors of their own).
                let mut sections: std::collections::BTreeMap<&str, std::collections::BTreeMap<&str, &str>> =
                    Default::default();
                for ((section, key), v) in &entries {
                    sections.entry(section).or_default().insert(key, v);
                }
                let mut body = String::new();
                for (section, keys) in &sections {
                    body.push_str(&format!("[{section}]\n"));
                    for (key, v) in keys {
                        body.push_str(&format!("{key} = {v}\n"));
                    }
                }
                match Config::parse(Path::new("m.toml"), &body) {
                    Ok(c) => {
                        // What the pipeline builds from them must not overflow either.
                        let _ = c.rules.duration("feed_grace");
                        let _ = std::time::Instant::now() + c.engine.tick * 2;
                    }
                    Err(e) => {
                        prop_assert!(e.path == Path::new("m.toml"), "{}", e);
                        prop_assert!(e.line.is_some_and(|l| l >= 1 && l <= body.lines().count().max(1)), "{}\n{}", e, body);
                    }
                }
            }
        }
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
