//! The fault suite, store side: the disk under the store fills up, then space returns.
//!
//! The store lives on a small tmpfs when this process may mount one (root, as CI runs); then the
//! disk really fills: a filler file takes every free byte, and SQLite's next write fails with
//! SQLITE_FULL. Where no tmpfs can be mounted, the same failure is injected into every commit,
//! inside its transaction, before COMMIT (`Store::inject`, feature `fault-injection`), and a
//! notice says so.
//!
//! The server reaches the broker through a proxy that counts the PUBACKs it sends, so the test
//! sees exactly what was acked: never a message whose effects are not stored.

use minewatch_core::payload::System;
use minewatch_store::Fault;
use minewatch_tests::fault::PubackDropProxy;
use minewatch_tests::{Harness, MINE, broker, wait_until};
use serde_json::Value;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `bytes` on `dir`; `None` where this process may not mount.
    fn mount(dir: &Path, bytes: u64) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("mount point");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs {
            dir: dir.to_path_buf(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// How the disk fills: for real, or by injection.
enum Disk {
    Real { _fs: Tmpfs, filler: PathBuf },
    Injected,
}

impl Disk {
    /// Takes every free byte (or makes every commit fail).
    fn fill(&self, h: &Harness) {
        match self {
            Disk::Real { filler, .. } => {
                let mut f = std::fs::File::create(filler).expect("filler");
                let chunk = vec![0u8; 64 * 1024];
                // Until the file system refuses: ENOSPC.
                while f.write_all(&chunk).is_ok() {}
                let _ = f.flush();
            }
            Disk::Injected => h.server().store.inject(Fault::BeforeCommit),
        }
    }

    /// Gives the space back.
    fn free(&self, h: &Harness) {
        match self {
            Disk::Real { filler, .. } => std::fs::remove_file(filler).expect("remove the filler"),
            Disk::Injected => h.server().store.inject(Fault::None),
        }
    }
}

/// Messages published while the disk is full: P1 over its alarm in the odd ones, so each odd
/// message raises one over_limit and the next even one resolves it.
const K: i64 = 40;

fn message(h: &Harness, j: i64) -> Value {
    let p1 = if j % 2 == 1 { 1.2 } else { 0.4 };
    serde_json::json!({"ts": h.ts(j * 10), "readings": [
        {"point": "P0", "value": 0.05},
        {"point": "P1", "value": p1},
        // A value unique to the message: the live picture shows which one was applied last.
        {"point": "P2", "value": 0.3 + j as f64 / 1000.0},
        {"point": "F1", "value": 1},
        {"point": "F2", "value": 1},
    ]})
}

/// The value P2 shows in the live picture.
async fn p2(h: &Harness) -> Option<f64> {
    let (_, m) = h.get("/api/mines/M1").await;
    m["points"]
        .as_array()?
        .iter()
        .find(|p| p["id"] == "P2")?
        .get("value")?
        .as_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_holds_every_ack_until_space_returns_then_nothing_is_lost_or_repeated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mount = dir.path().join("disk");
    let fs = Tmpfs::mount(&mount, 16 << 20);
    if fs.is_none() {
        println!(
            "notice: cannot mount a tmpfs here (not root?); the store's failure is injected instead"
        );
    }
    let (host, port) = broker();
    let upstream: SocketAddr = format!("{host}:{port}").parse().expect("broker address");
    let proxy = PubackDropProxy::start(upstream, false).await;
    let on_tmpfs = fs.is_some();
    let store_path = mount.join("store.db");
    let mut h = Harness::start(&[("m1.toml", MINE)], |c| {
        c.mqtt.host = "127.0.0.1".into();
        c.mqtt.port = proxy.port();
        // Each over-limit cycle of the stream is its own alert: this test counts alerts, and a
        // raise within `rearm_window` of a resolve would re-activate the last one instead.
        c.alarms.rearm_window = Duration::from_millis(1);
        if on_tmpfs {
            c.store.url = format!("sqlite://{}", store_path.display());
        }
    })
    .await;
    let disk = match fs {
        Some(fs) => Disk::Real {
            _fs: fs,
            filler: mount.join("filler"),
        },
        None => Disk::Injected,
    };
    let safety = System::Safety.index();
    let handled = h.server().metrics.messages[safety].clone();

    h.publish("M1", "safety", &message(&h, 0)).await;
    wait_until("the first message applied", || async {
        (p2(&h).await == Some(0.3)).then_some(())
    })
    .await;
    wait_until("everything so far acked", || async {
        (proxy.forwarded() == handled.get()).then_some(())
    })
    .await;
    let acked_before = proxy.forwarded();

    disk.fill(&h);
    for j in 1..=K {
        h.publish("M1", "safety", &message(&h, j)).await;
    }
    let metrics = h.server().metrics.clone();
    wait_until("the store refuses a commit, twice", || async {
        (metrics.store_failing.get() == 1 && metrics.store_errors.get() >= 2).then_some(())
    })
    .await;
    let (status, _) = h.get("/readyz").await;
    assert_eq!(status, 503, "not ready while the store refuses commits");
    // Every PUBACK sent is for a message whose effects are stored: never more acks than digests.
    for _ in 0..5 {
        let acked = proxy.forwarded();
        let stored = h
            .server()
            .store
            .applied_messages(1_000_000)
            .await
            .expect("read the store")
            .len() as u64;
        assert!(
            acked <= stored,
            "{acked} PUBACKs sent for {stored} messages stored"
        );
        assert!(acked >= acked_before);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        handled.get() > proxy.forwarded(),
        "messages were taken and are held unacked"
    );

    disk.free(&h);
    wait_until("the store takes commits again", || async {
        (metrics.store_failing.get() == 0).then_some(())
    })
    .await;
    wait_until("every message applied", || async {
        (p2(&h).await == Some(0.3 + K as f64 / 1000.0)).then_some(())
    })
    .await;
    wait_until("every message acked once", || async {
        (proxy.forwarded() == handled.get()).then_some(())
    })
    .await;
    let (status, _) = h.get("/readyz").await;
    assert_eq!(status, 200);

    // Exact, and durable: the same after a restart.
    for round in ["before", "after"] {
        if round == "after" {
            h.restart().await;
        }
        let alerts = h
            .alerts("state=all&mine=M1&kind=over_limit&limit=1000")
            .await;
        assert_eq!(
            alerts.len() as i64,
            K / 2,
            "{round} the restart: {alerts:?}"
        );
        for a in &alerts {
            let id = a["id"].as_str().unwrap_or_default();
            let (_, detail) = h.get(&format!("/api/alerts/{id}")).await;
            let types: Vec<&str> = detail["events"]
                .as_array()
                .map(|e| e.iter().filter_map(|e| e["type"].as_str()).collect())
                .unwrap_or_default();
            assert_eq!(types, ["raised", "resolved"], "{round}: {detail}");
        }
        let (_, letters) = h.get("/api/dead-letters?mine=M1").await;
        assert_eq!(letters["dead_letters"], serde_json::json!([]), "{round}");
    }
}
