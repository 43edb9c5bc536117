//! The shipped configurations pass `minewatch check`: config/minewatch.toml (the reference),
//! deploy/minewatch.toml (systemd) and deploy/container.toml (Docker/compose).
//!
//! `minewatch check` is `Config::load` then `Registry::load_strict` on the config's registry
//! directory. The binary belongs to another package, so each check runs those two calls in a child
//! process: this test binary re-run on its one ignored test, which gets the file through
//! `MINEWATCH_CHECK_CONFIG` and its own environment (the container's admin token is read from
//! `MINEWATCH_ADMIN_TOKEN` at load; `set_var` would need `unsafe`, which the workspace forbids).
//! The deploy configs name /etc/minewatch/registry: the test checks that the Dockerfile and the
//! systemd unit install config/registry exactly there, then checks a copy of the install layout in
//! a temp dir with that one path rewritten.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const CHILD: &str = "child_checks_the_config_named_by_the_environment";
const CHILD_ENV: &str = "MINEWATCH_CHECK_CONFIG";
const TOKEN_ENV: &str = "MINEWATCH_ADMIN_TOKEN";
/// How long one child check may take.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);
const INSTALLED_REGISTRY: &str = "/etc/minewatch/registry";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    let p = repo().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// The registry files shipped in config/registry.
fn shipped_registry() -> Vec<PathBuf> {
    let dir = repo().join("config/registry");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "config/registry has no mine files");
    v
}

/// What `minewatch check --config path` does, in this process.
fn check(path: &Path) -> Result<String, String> {
    let cfg = minewatch::config::Config::load(path).map_err(|e| e.to_string())?;
    let reg = minewatch_core::registry::Registry::load_strict(&cfg.registry.dir)
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "ok: {} — {} mines, {} points, registry {}",
        path.display(),
        reg.mines.len(),
        reg.point_count(),
        cfg.registry.dir.display()
    ))
}

/// Runs [`check`] on `config` in a child process with `env` set (and the admin token variable
/// removed unless `env` sets it).
fn check_in_child(config: &Path, env: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        CHILD,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, config)
    .env_remove(TOKEN_ENV)
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn the check child");
    let start = Instant::now();
    loop {
        match child.try_wait().expect("child status") {
            Some(_) => break,
            None if start.elapsed() > CHILD_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the check of {} took over {CHILD_TIMEOUT:?}",
                    config.display()
                );
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    child.wait_with_output().expect("child output")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The check, run by [`check_in_child`]; ignored in a normal test run.
#[test]
#[ignore = "run by the other tests in a child process, with MINEWATCH_CHECK_CONFIG set"]
fn child_checks_the_config_named_by_the_environment() {
    let path = std::env::var_os(CHILD_ENV).expect("MINEWATCH_CHECK_CONFIG names a config");
    match check(Path::new(&path)) {
        Ok(line) => println!("{line}"),
        Err(e) => panic!("error: {e}"),
    }
}

/// Copies `rel` (a deploy config) and config/registry into a temp dir laid out like the install,
/// with the registry path rewritten from /etc/minewatch/registry to the copy. Returns the config.
fn installed_copy(dir: &Path, rel: &str) -> PathBuf {
    let source = read(rel);
    let line = format!("dir = \"{INSTALLED_REGISTRY}\"");
    assert_eq!(
        source.lines().filter(|l| l.trim() == line).count(),
        1,
        "{rel}: expected the registry at {INSTALLED_REGISTRY}"
    );
    let reg = dir.join("registry");
    std::fs::create_dir_all(&reg).expect("registry dir");
    for f in shipped_registry() {
        let name = f.file_name().expect("file name");
        std::fs::copy(&f, reg.join(name)).expect("copy mine file");
    }
    let rewritten = source.replace(&line, &format!("dir = {:?}", reg.display().to_string()));
    let cfg = dir.join("minewatch.toml");
    std::fs::write(&cfg, rewritten).expect("write config");
    cfg
}

fn assert_ok(o: &Output, what: &str) {
    let t = text(o);
    assert!(o.status.success(), "{what} fails `minewatch check`:\n{t}");
    let mines = shipped_registry().len();
    assert!(
        t.contains(&format!("— {mines} mines,")),
        "{what}: expected {mines} mines:\n{t}"
    );
}

#[test]
fn the_reference_config_passes_check() {
    let cfg = repo().join("config/minewatch.toml");
    assert_ok(&check_in_child(&cfg, &[]), "config/minewatch.toml");
}

#[test]
fn the_systemd_config_passes_check_in_the_layout_the_unit_installs() {
    let unit = read("deploy/minewatch.service");
    assert!(
        unit.contains("cp deploy/minewatch.toml /etc/minewatch/")
            && unit.contains("cp -r config/registry /etc/minewatch/"),
        "deploy/minewatch.service no longer installs the config and registry the test assumes"
    );
    assert!(unit.contains("--config /etc/minewatch/minewatch.toml"));
    // The unit passes the admin token from its credential in MINEWATCH_ADMIN_TOKEN.
    assert!(
        unit.contains("LoadCredential=admin-token:/etc/minewatch/credentials/admin-token")
            && unit.contains(&format!("{TOKEN_ENV}=\"$(cat %d/admin-token)\"")),
        "deploy/minewatch.service no longer passes the admin-token credential as {TOKEN_ENV}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = installed_copy(dir.path(), "deploy/minewatch.toml");
    assert_ok(
        &check_in_child(&cfg, &[(TOKEN_ENV, "a-test-token-0123456789abcdef")]),
        "deploy/minewatch.toml with MINEWATCH_ADMIN_TOKEN set",
    );
    // Without the credential the service must refuse to start, naming the variable.
    let o = check_in_child(&cfg, &[]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(TOKEN_ENV), "{}", text(&o));
}

#[test]
fn the_container_config_passes_check_with_its_token_and_fails_without() {
    let docker = read("deploy/Dockerfile");
    assert!(
        docker.contains("COPY deploy/container.toml /etc/minewatch/minewatch.toml")
            && docker.contains(&format!("COPY config/registry {INSTALLED_REGISTRY}"))
            && docker.contains("/etc/minewatch/minewatch.toml"),
        "deploy/Dockerfile no longer installs the config and registry the test assumes"
    );
    let compose = read("deploy/compose.yml");
    assert!(
        compose.contains(&format!("{TOKEN_ENV}: ${{{TOKEN_ENV}")),
        "deploy/compose.yml does not pass {TOKEN_ENV} to the container"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = installed_copy(dir.path(), "deploy/container.toml");
    assert_ok(
        &check_in_child(&cfg, &[(TOKEN_ENV, "a-test-token-0123456789abcdef")]),
        "deploy/container.toml with MINEWATCH_ADMIN_TOKEN set",
    );
    // Without the variable the container must refuse to start, naming it.
    let o = check_in_child(&cfg, &[]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(TOKEN_ENV), "{}", text(&o));
}

#[test]
fn check_fails_on_a_broken_config_naming_the_file_and_the_key() {
    // The check above must be able to fail: a typo'd key in a copy of the reference config.
    let dir = tempfile::tempdir().expect("tempdir");
    let source = read("config/minewatch.toml");
    assert!(
        source.contains("feed_grace = "),
        "config/minewatch.toml changed"
    );
    let cfg = dir.path().join("broken.toml");
    std::fs::write(&cfg, source.replacen("feed_grace = ", "feed_grase = ", 1)).expect("write");
    let o = check_in_child(&cfg, &[]);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("broken.toml") && t.contains("feed_grase"), "{t}");
}

/// promtool (Debian's `prometheus` package): `MINEWATCH_TEST_PROMTOOL` names it (missing =
/// failure); unset, /usr/bin/promtool, skipped with a notice when that is not installed.
fn promtool(what: &str) -> Option<PathBuf> {
    minewatch_tests::outside_program("MINEWATCH_TEST_PROMTOOL", "/usr/bin/promtool", what)
}

fn run_ok(cmd: &mut Command, what: &str) -> String {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(o.status.success(), "{what} failed:\n{}", text(&o));
    text(&o)
}

#[test]
fn the_deploy_prometheus_config_is_valid() {
    let Some(promtool) = promtool("promtool check config deploy/prometheus.yml") else {
        return;
    };
    // Also checks the rule files it names exist and parse.
    let out = run_ok(
        Command::new(&promtool)
            .args(["check", "config"])
            .arg(repo().join("deploy/prometheus.yml")),
        "promtool check config deploy/prometheus.yml",
    );
    assert!(out.contains("minewatch-rules.yml"), "{out}");
}

const RULES: &str = "deploy/rules/minewatch-rules.yml";
const RULE_TESTS: &str = "deploy/rules/minewatch-rules.test.yml";

/// The alerts of deploy/rules/minewatch-rules.yml, in order.
fn alert_names(rules: &str) -> Vec<String> {
    rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert:"))
        .map(|n| n.trim().to_string())
        .collect()
}

#[test]
fn the_minewatch_alert_rules_are_loaded_mounted_and_name_real_metrics() {
    let rules = read(RULES);
    let names = alert_names(&rules);
    for want in [
        "MinewatchDown",
        "MinewatchTargetMissing",
        "MinewatchBrokerDisconnected",
        "MinewatchIngestStalled",
        "MinewatchAckFailures",
        "MinewatchQueueSaturated",
        "MinewatchStoreErrors",
        "MinewatchStoreFailing",
        "MinewatchNotificationsFailed",
        "MinewatchNotificationsBehind",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{RULES} has no {want}: {names:?}"
        );
    }
    assert!(
        read("deploy/prometheus.yml").contains("\nrule_files:\n  - rules/minewatch-rules.yml\n"),
        "deploy/prometheus.yml does not load rules/minewatch-rules.yml"
    );
    assert!(
        read("deploy/compose.yml")
            .contains("./rules/minewatch-rules.yml:/etc/prometheus/rules/minewatch-rules.yml:ro"),
        "deploy/compose.yml does not mount the rules beside prometheus.yml"
    );
    // Every minewatch_* name in an expression is one the server documents (docs/operations.md
    // "Metrics", docs/notifications.md for the notify_* ones): no invented metric.
    let documented = format!(
        "{}{}",
        read("docs/operations.md"),
        read("docs/notifications.md")
    );
    let mut used = Vec::new();
    for expr_line in rules.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let mut rest = expr_line;
        while let Some(i) = rest.find("minewatch_") {
            let name: String = rest[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[i + name.len()..];
            if expr_line.contains("summary:") || expr_line.contains("description:") {
                continue;
            }
            used.push(name);
        }
    }
    assert!(
        used.len() >= 10,
        "too few metrics found in {RULES}: {used:?}"
    );
    for name in used {
        assert!(
            documented.contains(&format!("`{name}`")),
            "{RULES} uses {name}, which docs/operations.md and docs/notifications.md do not list"
        );
    }
    // Every alert has a unit test that expects it to fire and one that expects it quiet.
    let tests = read(RULE_TESTS);
    for name in &names {
        let evals: Vec<&str> = tests
            .split("- eval_time:")
            .skip(1)
            .filter(|e| e.contains(&format!("alertname: {name}\n")))
            .collect();
        assert!(
            evals.iter().any(|e| e.contains("exp_alerts: []")),
            "{RULE_TESTS}: no case where {name} stays quiet"
        );
        assert!(
            evals.iter().any(|e| e.contains("exp_labels:")),
            "{RULE_TESTS}: no case where {name} fires"
        );
    }
}

#[test]
fn the_minewatch_alert_rules_pass_promtool_check_and_their_unit_tests() {
    let Some(promtool) = promtool("promtool check rules and test rules on deploy/rules") else {
        return;
    };
    let out = run_ok(
        Command::new(&promtool)
            .args(["check", "rules"])
            .arg(repo().join(RULES)),
        "promtool check rules",
    );
    let n = alert_names(&read(RULES)).len();
    assert!(out.contains(&format!("SUCCESS: {n} rules found")), "{out}");
    run_ok(
        Command::new(&promtool)
            .args(["test", "rules"])
            .arg(repo().join(RULE_TESTS)),
        "promtool test rules",
    );
    // The unit tests can fail: the same tests against the rules with MinewatchDown's `for` gone.
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = replace_present(
        &read(RULES),
        "expr: up{job=\"minewatch\"} == 0\n        for: 2m\n",
        "expr: up{job=\"minewatch\"} == 0\n",
    );
    std::fs::write(dir.path().join("minewatch-rules.yml"), broken).expect("write rules");
    std::fs::copy(
        repo().join(RULE_TESTS),
        dir.path().join("minewatch-rules.test.yml"),
    )
    .expect("copy the tests");
    let o = Command::new(&promtool)
        .args(["test", "rules"])
        .arg(dir.path().join("minewatch-rules.test.yml"))
        .output()
        .expect("run promtool");
    assert!(
        !o.status.success() && text(&o).contains("MinewatchDown"),
        "the unit tests pass rules that fire MinewatchDown at once:\n{}",
        text(&o)
    );
}

#[test]
fn the_deploy_alertmanager_config_is_valid() {
    // amtool ships beside Alertmanager; the binary follows the MINEWATCH_TEST_ALERTMANAGER convention.
    let alertmanager = match std::env::var_os("MINEWATCH_TEST_ALERTMANAGER") {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(
                p.is_file(),
                "MINEWATCH_TEST_ALERTMANAGER={} does not exist",
                p.display()
            );
            p
        }
        None => PathBuf::from("/usr/bin/prometheus-alertmanager"),
    };
    let amtool = alertmanager.with_file_name("amtool");
    if !amtool.is_file() {
        eprintln!(
            "notice: skipping the amtool check: {} is not installed",
            amtool.display()
        );
        return;
    }
    let o = Command::new(&amtool)
        .args(["check-config"])
        .arg(repo().join("deploy/alertmanager.yml"))
        .output()
        .expect("run amtool");
    assert!(
        o.status.success(),
        "amtool check-config deploy/alertmanager.yml:\n{}",
        text(&o)
    );
    let compose = std::fs::read_to_string(repo().join("deploy/compose.yml")).expect("compose.yml");
    assert!(
        compose.contains("./alertmanager.yml:/etc/alertmanager/alertmanager.yml"),
        "deploy/compose.yml mounts deploy/alertmanager.yml into the alertmanager service"
    );
}

/// Debian's stock /etc/mosquitto/mosquitto.conf (bookworm, mosquitto 2.0.11), which
/// deploy/mosquitto.conf joins as /etc/mosquitto/conf.d/minewatch.conf.
const DEBIAN_MOSQUITTO_CONF: &str = "\
# Place your local configuration in /etc/mosquitto/conf.d/
#
# A full description of the configuration file is at
# /usr/share/doc/mosquitto/examples/mosquitto.conf.example

pid_file /run/mosquitto/mosquitto.pid

persistence true
persistence_location /var/lib/mosquitto/

log_dest file /var/log/mosquitto/mosquitto.log

include_dir /etc/mosquitto/conf.d
";
/// How long mosquitto may take to accept a connection.
const BROKER_START: Duration = Duration::from_secs(15);

/// A loopback port nothing listens on (now).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A child process killed (and reaped) when the test ends, passing or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `text` with `from` replaced by `to`, which must occur in it.
fn replace_present(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "expected {from:?} in:\n{text}");
    text.replace(from, to)
}

#[test]
fn the_broker_config_starts_mosquitto_from_debians_conf_d() {
    // The stock file with only its paths moved into the temp dir: every setting it makes stays,
    // so a setting deploy/mosquitto.conf must not repeat (persistence_location) still clashes.
    broker_starts(
        "Debian's stock mosquitto.conf",
        DEBIAN_MOSQUITTO_CONF,
        "/etc/mosquitto/conf.d",
        "/var/lib/mosquitto/",
        &[
            ("/run/mosquitto/mosquitto.pid", "mosquitto.pid"),
            ("/var/log/mosquitto/mosquitto.log", "mosquitto.log"),
        ],
    );
}

#[test]
fn the_broker_config_starts_mosquitto_in_the_compose_layout() {
    let compose = read("deploy/compose.yml");
    for mount in [
        "./mosquitto-container.conf:/mosquitto/config/mosquitto.conf:ro",
        "./mosquitto.conf:/mosquitto/config/conf.d/minewatch.conf:ro",
        "mosquitto-data:/mosquitto/data",
    ] {
        assert!(
            compose.contains(mount),
            "deploy/compose.yml does not mount {mount}"
        );
    }
    broker_starts(
        "deploy/mosquitto-container.conf",
        &read("deploy/mosquitto-container.conf"),
        "/mosquitto/config/conf.d",
        "/mosquitto/data/",
        &[],
    );
}

/// Starts mosquitto on `main` (a main config naming `confd` and `data`, rewritten into a temp
/// dir with the `files` it names) with deploy/mosquitto.conf in the conf.d, its listener moved to
/// a free loopback port, and fails unless mosquitto accepts a connection there.
fn broker_starts(what: &str, main: &str, confd: &str, data: &str, files: &[(&str, &str)]) {
    let Some(mosquitto) = minewatch_tests::outside_program(
        "MINEWATCH_TEST_MOSQUITTO",
        "/usr/sbin/mosquitto",
        "the install of deploy/mosquitto.conf",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir_all(d.join("conf.d")).expect("conf.d");
    std::fs::create_dir_all(d.join("data")).expect("data dir");
    let mut main = replace_present(main, confd, &d.join("conf.d").display().to_string());
    main = replace_present(&main, data, &d.join("data").join("").display().to_string());
    for (from, to) in files {
        main = replace_present(&main, from, &d.join(to).display().to_string());
    }
    // Started as root, mosquitto drops to the `mosquitto` user, which cannot write into root's
    // temp dir; `user root` keeps it root (and does nothing for anyone else).
    if rustix::process::geteuid().is_root() {
        main.push_str("user root\n");
    }
    let main_path = d.join("mosquitto.conf");
    std::fs::write(&main_path, main).expect("write the main config");
    let port = free_port();
    let ours = replace_present(
        &read("deploy/mosquitto.conf"),
        "\nlistener 1883\n",
        &format!("\nlistener {port} 127.0.0.1\n"),
    );
    std::fs::write(d.join("conf.d/minewatch.conf"), ours).expect("write conf.d/minewatch.conf");

    let out = d.join("output.log");
    let stdout = std::fs::File::create(&out).expect("output file");
    let stderr = stdout.try_clone().expect("output file");
    let child = Command::new(&mosquitto)
        .arg("-c")
        .arg(&main_path)
        .stdin(std::process::Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", mosquitto.display()));
    let mut child = Killed(child);
    let logs = || {
        let log_file = files
            .iter()
            .find(|(_, to)| to.ends_with(".log"))
            .and_then(|(_, to)| std::fs::read_to_string(d.join(to)).ok())
            .unwrap_or_default();
        format!(
            "output:\n{}\nlog file:\n{log_file}",
            std::fs::read_to_string(&out).unwrap_or_default()
        )
    };
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().expect("mosquitto status") {
            panic!(
                "mosquitto on {what} with deploy/mosquitto.conf in its conf.d exited ({status}):\n{}",
                logs()
            );
        }
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            break;
        }
        assert!(
            start.elapsed() < BROKER_START,
            "mosquitto on {what} did not accept a connection on {addr} within {BROKER_START:?}:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_systemd_unit_is_hardened_and_passes_systemd_analyze_verify() {
    let unit = read("deploy/minewatch.service");
    let directives: Vec<&str> = unit
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    for want in [
        "SystemCallFilter=@system-service",
        "SystemCallArchitectures=native",
        "MemoryDenyWriteExecute=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=",
        "LoadCredential=admin-token:/etc/minewatch/credentials/admin-token",
    ] {
        assert!(
            directives.contains(&want),
            "deploy/minewatch.service lacks {want}"
        );
    }
    let Some(analyze) = minewatch_tests::outside_program(
        "MINEWATCH_TEST_SYSTEMD_ANALYZE",
        "/usr/bin/systemd-analyze",
        "systemd-analyze verify deploy/minewatch.service",
    ) else {
        return;
    };
    let verify = |unit_text: &str| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("minewatch.service");
        std::fs::write(&path, unit_text).expect("write the unit");
        let o = Command::new(&analyze)
            .args(["verify", "--man=no"])
            .arg(&path)
            .output()
            .expect("run systemd-analyze");
        // verify exits 0 on many mistakes (an unknown system call group is "ignored"), so any
        // message about the file counts as a failure.
        let t = text(&o);
        (o.status.success() && !t.contains("minewatch.service:"), t)
    };
    let (ok, t) = verify(&unit);
    assert!(ok, "systemd-analyze verify deploy/minewatch.service:\n{t}");
    // The check can fail: a misspelt system call group.
    let (ok, t) = verify(&replace_present(
        &unit,
        "SystemCallFilter=@system-service",
        "SystemCallFilter=@system-servic",
    ));
    assert!(
        !ok,
        "systemd-analyze accepted a misspelt SystemCallFilter:\n{t}"
    );
}

/// deploy/compose.yml, parsed.
fn compose() -> yaml_rust2::Yaml {
    let src = read("deploy/compose.yml");
    let mut docs = yaml_rust2::YamlLoader::load_from_str(&src).expect("deploy/compose.yml is YAML");
    assert_eq!(docs.len(), 1, "deploy/compose.yml: one document");
    docs.remove(0)
}

fn yaml_strings(v: &yaml_rust2::Yaml) -> Vec<String> {
    v.as_vec()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_compose_service_has_a_healthcheck_and_its_data_a_named_volume() {
    let c = compose();
    let services = c["services"].as_hash().expect("compose: services");
    let names: Vec<&str> = services.keys().filter_map(|k| k.as_str()).collect();
    for want in [
        "mosquitto",
        "minewatch",
        "prometheus",
        "alertmanager",
        "grafana",
    ] {
        assert!(
            names.contains(&want),
            "compose has no service {want}: {names:?}"
        );
    }
    for name in &names {
        let test = yaml_strings(&c["services"][*name]["healthcheck"]["test"]);
        assert!(
            test.len() >= 2 && (test[0] == "CMD" || test[0] == "CMD-SHELL"),
            "compose service {name} has no healthcheck test: {test:?}"
        );
    }
    let probe = |name: &str| yaml_strings(&c["services"][name]["healthcheck"]["test"]).join(" ");
    assert_eq!(
        probe("minewatch"),
        "CMD /usr/local/bin/minewatch-readyz 127.0.0.1 8080"
    );
    assert!(probe("prometheus").contains("http://localhost:9090/-/ready"));
    assert!(probe("alertmanager").contains("http://localhost:9093/-/ready"));
    assert!(probe("grafana").contains("http://localhost:3000/api/health"));
    assert!(probe("mosquitto").contains("mosquitto_sub"));
    // Data in named volumes, owned by the uid each image runs as (docker copies the image's
    // mount point, owner included, into a new named volume).
    let declared: Vec<&str> = c["volumes"]
        .as_hash()
        .expect("compose: volumes")
        .keys()
        .filter_map(|k| k.as_str())
        .collect();
    for (service, volume, user) in [
        (
            "prometheus",
            "prometheus-data:/prometheus",
            Some("65534:65534"),
        ),
        ("grafana", "grafana-data:/var/lib/grafana", Some("472:0")),
        (
            "alertmanager",
            "alertmanager-data:/alertmanager",
            Some("65534:65534"),
        ),
        (
            "minewatch",
            "minewatch-data:/var/lib/minewatch",
            Some("10001:10001"),
        ),
        ("mosquitto", "mosquitto-data:/mosquitto/data", None),
    ] {
        let mounts = yaml_strings(&c["services"][service]["volumes"]);
        assert!(
            mounts.iter().any(|m| m == volume),
            "compose service {service} does not mount {volume}: {mounts:?}"
        );
        let name = volume.split(':').next().unwrap_or_default();
        assert!(
            declared.contains(&name),
            "compose declares no volume {name}"
        );
        assert_eq!(
            c["services"][service]["user"].as_str(),
            user,
            "compose service {service}: user"
        );
    }
    // minewatch's uid is the one its Dockerfile creates and runs as.
    let docker = read("deploy/Dockerfile");
    assert!(docker.contains("--uid 10001") && docker.contains("\nUSER 10001:10001\n"));
    assert!(
        docker.contains("install -d -o minewatch -g minewatch /var/lib/minewatch"),
        "the image's /var/lib/minewatch must belong to the service user"
    );
}

#[test]
fn the_image_builds_without_debug_info_ignores_build_output_and_probes_readyz() {
    let docker = read("deploy/Dockerfile");
    for want in [
        "CARGO_PROFILE_RELEASE_DEBUG=0",
        "CARGO_PROFILE_RELEASE_STRIP=symbols",
        "cargo build --release --locked -p minewatch --no-default-features",
        "COPY deploy/minewatch-readyz /usr/local/bin/minewatch-readyz",
    ] {
        assert!(docker.contains(want), "deploy/Dockerfile lacks {want}");
    }
    // The HEALTHCHECK runs the probe the image carries, in exec form.
    let health: Vec<&str> = docker
        .lines()
        .skip_while(|l| !l.starts_with("HEALTHCHECK "))
        .take(2)
        .collect();
    let cmd = health
        .iter()
        .find_map(|l| l.trim().strip_prefix("CMD "))
        .unwrap_or_else(|| panic!("deploy/Dockerfile: no HEALTHCHECK … CMD: {health:?}"));
    let cmd: Vec<String> = serde_json::from_str(cmd).expect("HEALTHCHECK CMD is a JSON array");
    assert_eq!(
        cmd,
        ["/usr/local/bin/minewatch-readyz", "127.0.0.1", "8080"],
        "the HEALTHCHECK probes the container's http.listen port"
    );
    assert!(read("deploy/container.toml").contains("listen = \"0.0.0.0:8080\""));
    let ignore: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    for want in ["target/", ".git/", "minewatch-demo/"] {
        assert!(
            ignore.iter().any(|l| l == want),
            ".dockerignore does not exclude {want}: {ignore:?}"
        );
    }
    // Nothing the build needs is ignored.
    for needed in [
        "crates",
        "config",
        "deploy",
        "Cargo.toml",
        "Cargo.lock",
        "tests",
        "benches",
    ] {
        assert!(
            !ignore.iter().any(|l| l.trim_end_matches('/') == needed),
            ".dockerignore excludes {needed}, which the build needs"
        );
    }
}

/// Runs deploy/minewatch-readyz against `port` on loopback; its exit status and output.
fn readyz_probe(port: u16) -> (bool, String) {
    let o = Command::new("bash")
        .arg(repo().join("deploy/minewatch-readyz"))
        .args(["127.0.0.1", &port.to_string()])
        .output()
        .expect("run bash");
    (o.status.success(), text(&o))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readyz_probe_passes_on_a_ready_server_and_fails_otherwise() {
    let h = minewatch_tests::Harness::start(&[("m1.toml", minewatch_tests::MINE)], |_| {}).await;
    let port = h.http().port();
    let (ok, out) = tokio::task::spawn_blocking(move || readyz_probe(port))
        .await
        .expect("probe");
    assert!(ok, "the probe fails on a ready server:\n{out}");

    // Nothing listening.
    let (ok, out) = readyz_probe(free_port());
    assert!(!ok, "the probe passes with nothing listening:\n{out}");

    // A server answering 503, as /readyz does while the store refuses commits.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().expect("accept");
        // The whole request before answering: closing with unread bytes would reset the
        // connection, and the probe could miss the answer.
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut buf).expect("read the request");
            assert!(n > 0, "the probe closed before ending its request");
            request.extend_from_slice(&buf[..n]);
        }
        let request = String::from_utf8_lossy(&request).into_owned();
        s.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 9\r\n\r\nnot ready")
            .expect("write");
        request
    });
    let (ok, out) = readyz_probe(port);
    let request = server.join().expect("the 503 server");
    assert!(request.starts_with("GET /readyz HTTP/1.1\r\n"), "{request}");
    assert!(!ok, "the probe passes on a 503:\n{out}");
    assert!(out.contains("503"), "{out}");
}
