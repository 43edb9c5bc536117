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
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = installed_copy(dir.path(), "deploy/minewatch.toml");
    assert_ok(&check_in_child(&cfg, &[]), "deploy/minewatch.toml");
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

#[test]
fn the_deploy_prometheus_config_is_valid() {
    // promtool ships beside prometheus; the binary follows the MINEWATCH_TEST_PROMETHEUS convention.
    let prometheus = match std::env::var_os("MINEWATCH_TEST_PROMETHEUS") {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(
                p.is_file(),
                "MINEWATCH_TEST_PROMETHEUS={} does not exist",
                p.display()
            );
            p
        }
        None => PathBuf::from("/usr/bin/prometheus"),
    };
    let promtool = prometheus.with_file_name("promtool");
    if !promtool.is_file() {
        eprintln!(
            "notice: skipping the promtool check: {} is not installed",
            promtool.display()
        );
        return;
    }
    let o = Command::new(&promtool)
        .args(["check", "config"])
        .arg(repo().join("deploy/prometheus.yml"))
        .output()
        .expect("run promtool");
    assert!(
        o.status.success(),
        "promtool check config deploy/prometheus.yml:\n{}",
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
