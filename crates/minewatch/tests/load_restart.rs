//! `minewatch load restart` at a tiny size: the tool starts this very binary as the server (a
//! child process, so the memory it reads is the server's alone), raises alerts, restarts it and
//! fills its live state. No timing or memory figure is asserted, only that the report holds
//! together; BENCHMARKS.md has the figures at a million points.
#![cfg(feature = "tools")]

use std::process::Command;

/// The test broker: `MINEWATCH_TEST_MQTT` (CI sets it and starts mosquitto), else a broker on
/// the default port if one answers; `None` (skip) otherwise.
fn broker() -> Option<String> {
    if let Ok(b) = std::env::var("MINEWATCH_TEST_MQTT") {
        return Some(b);
    }
    let local = "127.0.0.1:1883";
    if std::net::TcpStream::connect(local).is_ok() {
        return Some(local.to_string());
    }
    eprintln!("skipped: no broker (set MINEWATCH_TEST_MQTT=host:port)");
    None
}

#[test]
fn restart_reports_every_restart_the_alerts_kept_and_the_servers_own_memory() {
    let Some(broker) = broker() else {
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_minewatch"))
        .args([
            "load",
            "restart",
            "--broker",
            &broker,
            "--mines",
            "3",
            "--points",
            "40",
            "--alerts",
            "9",
            "--restarts",
            "2",
            "--shards",
            "2",
        ])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line in:\n{stdout}"));
    let r: serde_json::Value = serde_json::from_str(line).expect("JSON");
    assert_eq!(r["mode"], "restart");
    assert_eq!(r["alerts_before"], 9, "{r}");
    assert_eq!(
        r["alerts_after"], 9,
        "the alerts are active after each restart: {r}"
    );
    assert_eq!(r["restarts_secs"].as_array().map(Vec::len), Some(2), "{r}");
    assert!(r["ready_secs"].as_f64().is_some_and(|s| s > 0.0), "{r}");
    assert!(r["tags"].as_u64().is_some_and(|t| t > 0), "{r}");
    if cfg!(target_os = "linux") {
        for k in [
            "rss_empty",
            "rss_registry",
            "rss_state",
            "rss_ready",
            "rss_rounds",
        ] {
            assert!(r[k].as_u64().is_some_and(|b| b > 1_000_000), "{k}: {r}");
        }
        assert!(r["engine_bytes_per_point"].is_number(), "{r}");
    }
}
