//! Against the real Alertmanager: `MINEWATCH_TEST_ALERTMANAGER` names the binary (the test fails
//! if it is missing); unset, `/usr/bin/prometheus-alertmanager` is used, and the test is skipped
//! with a notice when that is missing.

use crate::common::*;
use chrono::{TimeDelta, Utc};
use minewatch_core::metrics::Metrics;
use minewatch_core::{Alert, AlertState, EventType, Kind, Severity};
use minewatch_notify::{AlertmanagerConfig, Notifier, NotifyConfig};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The Debian package's binary.
const DEFAULT_BIN: &str = "/usr/bin/prometheus-alertmanager";

/// The binary to run, or `None` to skip.
fn binary() -> Option<PathBuf> {
    match std::env::var("MINEWATCH_TEST_ALERTMANAGER") {
        Ok(named) => {
            let p = PathBuf::from(&named);
            assert!(
                p.exists(),
                "MINEWATCH_TEST_ALERTMANAGER={named:?} does not exist"
            );
            Some(p)
        }
        Err(_) if PathBuf::from(DEFAULT_BIN).exists() => Some(PathBuf::from(DEFAULT_BIN)),
        Err(_) => {
            eprintln!(
                "MINEWATCH_TEST_ALERTMANAGER unset and no {DEFAULT_BIN}: Alertmanager test skipped"
            );
            None
        }
    }
}

/// A running Alertmanager, killed on drop.
struct Am {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Am {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

async fn start_alertmanager(bin: &PathBuf) -> Am {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
    )
    .expect("write config");
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start alertmanager");
    let am = Am {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    let client = reqwest::Client::new();
    eventually("alertmanager ready", || async {
        client
            .get(format!("{}/-/ready", am.url))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    am
}

/// Alertmanager's alerts (active ones, with their labels).
async fn am_alerts(url: &str) -> Vec<Value> {
    let r = reqwest::Client::new()
        .get(format!("{url}/api/v2/alerts"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("GET /api/v2/alerts");
    let body = r.bytes().await.expect("a body");
    serde_json::from_slice(&body).expect("a JSON list")
}

/// Ours among them, by key label.
fn ours<'a>(alerts: &'a [Value], key: &str) -> Option<&'a Value> {
    alerts.iter().find(|a| a["labels"]["key"] == key)
}

#[tokio::test]
async fn alerts_fire_in_alertmanager_with_their_labels_and_end_when_resolved() {
    let Some(bin) = binary() else {
        return;
    };
    let am = start_alertmanager(&bin).await;
    let log = Log::new().await;
    let metrics = Metrics::new();
    let cfg = NotifyConfig {
        alertmanager: Some(AlertmanagerConfig {
            url: am.url.clone(),
            resend_every: Duration::from_secs(1),
            min_severity: Severity::Info,
            kinds: Vec::new(),
            mines: Vec::new(),
            timeout: Duration::from_secs(5),
        }),
        public_url: "http://minewatch.example:8080".into(),
        ..NotifyConfig::default()
    };
    let n = Notifier::start(&cfg, log.store.clone(), &log.events, &metrics)
        .await
        .expect("start");
    let now = Utc::now();
    let a = Alert {
        started_at: now,
        updated_at: now,
        ..alert("a1", "140100001", Kind::OverLimit, Severity::Critical)
    };
    log.emit(EventType::Raised, &a).await;
    eventually("the alert firing in alertmanager", || async {
        ours(&am_alerts(&am.url).await, &a.key).is_some()
    })
    .await;
    let all = am_alerts(&am.url).await;
    let firing = ours(&all, &a.key).expect("firing").clone();
    let l = &firing["labels"];
    assert_eq!(l["alertname"], "over_limit");
    assert_eq!(l["mine"], "140100001");
    assert_eq!(l["subject"], "S-a1");
    assert_eq!(l["area"], "A1201");
    assert_eq!(l["severity"], "critical");
    assert_eq!(firing["annotations"]["summary"], a.message);
    assert_eq!(firing["status"]["state"], "active");
    assert_eq!(
        firing["generatorURL"],
        "http://minewatch.example:8080/api/alerts/a1"
    );

    let end = Utc::now();
    let r = Alert {
        state: AlertState::Resolved,
        resolved_at: Some(end),
        updated_at: end,
        ..a.clone()
    };
    log.emit(EventType::Resolved, &r).await;
    eventually("the alert ended in alertmanager", || async {
        let all = am_alerts(&am.url).await;
        match ours(&all, &a.key) {
            None => true,
            Some(v) => v["endsAt"]
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .is_some_and(|e| e <= Utc::now() + TimeDelta::seconds(1)),
        }
    })
    .await;
    // Resends do not bring it back.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let all = am_alerts(&am.url).await;
    assert!(
        ours(&all, &a.key).is_none_or(|v| v["endsAt"].as_str().is_some()),
        "{all:?}"
    );
    n.shutdown(Duration::from_secs(5)).await;
}
