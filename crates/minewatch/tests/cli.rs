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
