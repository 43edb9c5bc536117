//! The command line: `minewatch check` validates config and registry and names the problem;
//! `minewatch demo --inject` refuses an anomaly that does not fit before it starts anything.

use std::process::Command;

fn minewatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_minewatch"))
}

#[test]
fn check_accepts_the_shipped_config() {
    let cfg = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/minewatch.toml");
    let out = minewatch()
        .args(["check", "--config", cfg])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2 mines"), "{stdout}");
}

#[test]
fn check_refuses_a_malformed_registry_file_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = dir.path().join("registry");
    std::fs::create_dir_all(&reg).expect("dir");
    std::fs::write(
        dir.path().join("minewatch.toml"),
        "[registry]\ndir = \"registry\"\n",
    )
    .expect("config");
    std::fs::write(
        reg.join("bad.toml"),
        "id = \"M1\"\nname = \"x\"\nstatus = \"producing\"\nmax_underground = 5\n\n[[point]]\nid = \"P1\"\narea = \"NOPE\"\nkind = \"co\"\n",
    )
    .expect("mine");
    let out = minewatch()
        .args(["check", "--config"])
        .arg(dir.path().join("minewatch.toml"))
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml:8:") && stderr.contains("NOPE"),
        "{stderr}"
    );
}

#[test]
fn check_refuses_an_unknown_config_key_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("m.toml"),
        "[mqtt]\nport = 1883\nhots = \"x\"\n",
    )
    .expect("config");
    let out = minewatch()
        .args(["check", "--config"])
        .arg(dir.path().join("m.toml"))
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("m.toml:3:") && stderr.contains("hots"),
        "{stderr}"
    );
}

#[test]
fn check_and_run_refuse_absurd_durations_with_exit_code_1_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (body, line) in [
        ("[engine]\ntick = 1e300\n", 2),
        ("[rules]\nsilent_after = \"18446744073709551615s\"\n", 2),
    ] {
        let cfg = dir.path().join("m.toml");
        std::fs::write(&cfg, body).expect("config");
        for command in ["check", "run"] {
            let out = minewatch()
                .args([command, "--config"])
                .arg(&cfg)
                .output()
                .expect("runs");
            // 101 would be a panic.
            assert_eq!(out.status.code(), Some(1), "{command} {body}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(&format!("m.toml:{line}: ")) && stderr.contains("36500d"),
                "{command} {body}: {stderr}"
            );
        }
    }
}

/// `minewatch demo --inject SPEC` with its data in a new directory, run to its exit.
fn demo_injecting(spec: &str) -> (std::process::Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = minewatch()
        .args(["demo", "--inject", spec, "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    (out, dir)
}

#[test]
fn demo_refuses_an_unknown_anomaly_kind_listing_the_kinds() {
    let (out, _dir) = demo_injecting("methane_high");
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown anomaly \"methane_high\"") && stderr.contains("over_limit"),
        "{stderr}"
    );
}

#[test]
fn demo_refuses_a_subject_its_mine_does_not_have_before_starting() {
    let (out, dir) = demo_injecting("over_limit:P9999");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--inject over_limit:P9999") && stderr.contains("140100001"),
        "{stderr}"
    );
    // Refused before the store was created or anything listened.
    assert!(!dir.path().join("minewatch.db").exists());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("demo is running"), "{stdout}");
}

/// `minewatch run` on a temp store, an empty registry and a broker that is not there: it logs
/// (migrations, then the broker refusing) and keeps running. Its first `n` log lines, read from a
/// pipe (not a terminal), then it is killed.
fn run_log_lines(extra: &[&str], env: &[(&str, &str)], n: usize) -> Vec<String> {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("registry")).expect("registry dir");
    let config = dir.path().join("minewatch.toml");
    std::fs::write(
        &config,
        "[registry]\ndir = \"registry\"\n\n[store]\nurl = \"sqlite://store.db\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n\n[mqtt]\nhost = \"127.0.0.1\"\nport = 1\n",
    )
    .expect("config");
    let mut cmd = minewatch();
    cmd.args(extra)
        .args(["run", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("runs");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while lines.len() < n {
        match rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(lines.len(), n, "log lines within 30 s: {lines:?}");
    lines
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let lines = run_log_lines(&[], &[], 3);
    assert!(lines.iter().all(|l| !l.contains('\u{1b}')), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("INFO")), "{lines:?}");
}

#[test]
fn log_format_json_writes_one_object_per_line() {
    let lines = run_log_lines(&["--log-format", "json"], &[("NO_COLOR", "1")], 3);
    for l in &lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(
            v["level"].is_string() && v["message"].is_string() && v["timestamp"].is_string(),
            "{l}"
        );
    }
}

#[test]
fn sim_help_lists_every_kind_and_says_how_often_anomalies_come() {
    let out = minewatch().args(["sim", "--help"]).output().expect("runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("every 10 minutes"), "{help}");
    for k in minewatch_core::Kind::ALL {
        assert!(
            help.contains(k.as_str()),
            "{} missing from:\n{help}",
            k.as_str()
        );
    }
}
