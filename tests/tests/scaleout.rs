//! Scale-out end to end: two real servers on loopback share one broker and one registry of six
//! mines, each owning three through `[mqtt] mines` (own client id, store and HTTP port). Every
//! mine's over-limit alert is raised exactly once, on its owner. Then ownership moves (M3 from A to
//! B, both restarted with their client ids, so A's persistent session still holds M3's filters):
//! A acks and drops M3's data unread, B raises M3's alert.
//!
//! "Nothing raised" is proven with markers, not sleeps: each instance runs one shard, and after the
//! data under test the publisher sends, on the same connection, a reading of a point the registry
//! lacks to a mine the instance owns. The broker delivers one connection's messages to a subscriber
//! in order, and one shard and one writer store in order, so once the marker's
//! `unregistered_device` alert is visible everything delivered before it has been stored.

use minewatch::config::Config;
use minewatch::server::Server;
use minewatch_core::payload::System;
use minewatch_fixtures::mine::one_point_mine;
use minewatch_tests::{broker, http, publisher, unique, wait_until};
use rumqttc::{AsyncClient, QoS};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const MINES: [&str; 6] = ["M1", "M2", "M3", "M4", "M5", "M6"];

/// One minewatch instance: its config (client id, store, HTTP port, owned mines) and its server.
struct Instance {
    cfg: Config,
    server: Option<Server>,
}

impl Instance {
    async fn start(cfg: Config) -> Instance {
        let server = Server::start(cfg.clone())
            .await
            .unwrap_or_else(|e| panic!("server {}: {e}", cfg.mqtt.client_id));
        let i = Instance {
            cfg,
            server: Some(server),
        };
        wait_until("the instance connects to the broker", || {
            let connected = i.server().metrics.mqtt_connected.get() == 1;
            async move { connected.then_some(()) }
        })
        .await;
        i
    }

    /// Stops it and starts it again with the same client id and store, owning `mines`.
    async fn restart(&mut self, mines: &[&str]) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        let mut cfg = self.cfg.clone();
        cfg.mqtt.mines = mines.iter().map(|m| m.to_string()).collect();
        *self = Instance::start(cfg).await;
    }

    fn owns(&self, mine: &str) -> bool {
        self.cfg.mqtt.mines.iter().any(|m| m == mine)
    }

    fn addr(&self) -> SocketAddr {
        self.server().http_addr
    }

    fn server(&self) -> &Server {
        self.server.as_ref().expect("running")
    }

    /// `minewatch_not_owned_total{system="safety"}`.
    fn not_owned_safety(&self) -> u64 {
        self.server().metrics.not_owned[System::Safety.index()].get()
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        http(self.addr(), "GET", path, None).await
    }

    async fn alerts(&self, query: &str) -> Vec<Value> {
        let (status, v) = self.get(&format!("/api/alerts?{query}")).await;
        assert_eq!(status, 200, "{v}");
        v["alerts"].as_array().cloned().unwrap_or_default()
    }

    async fn mine_ids(&self) -> Vec<String> {
        let (status, v) = self.get("/api/mines").await;
        assert_eq!(status, 200, "{v}");
        v["mines"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .filter_map(|m| m["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `mine` has a clock here (its data was read).
    async fn has_clock(&self, mine: &str) -> bool {
        let (status, v) = self.get(&format!("/api/mines/{mine}")).await;
        status == 200 && !v["clock"].is_null()
    }

    async fn shutdown(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

/// The publisher side: one connection, so its messages reach each subscriber in order.
struct Feed {
    client: AsyncClient,
    prefix: String,
    /// Event time origin: an hour ago, so every ts is in the wall clock's past.
    t0: i64,
}

impl Feed {
    fn ts(&self, secs: i64) -> String {
        minewatch_core::time::format_rfc3339(self.t0 + secs * 1000)
    }

    async fn reading(&self, mine: &str, secs: i64, point: &str, value: f64) {
        let payload = json!({"ts": self.ts(secs), "readings": [{"point": point, "value": value}]});
        self.client
            .publish(
                format!("{}/{mine}/safety", self.prefix),
                QoS::AtLeastOnce,
                false,
                payload.to_string(),
            )
            .await
            .expect("publish queued");
    }

    /// Publishes a normal reading at `secs` to each of `mines` until `inst` shows a clock for every
    /// one: the instance's subscriptions are in place. Returns how many messages it published.
    async fn until_read(&self, inst: &Instance, mines: &[&str], secs: i64) -> u64 {
        let sent = AtomicU64::new(0);
        wait_until("the instance reads its mines", || async {
            let mut all = true;
            for m in mines {
                if !inst.has_clock(m).await {
                    all = false;
                    self.reading(m, secs, "P1", 0.4).await;
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            if !all {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            all.then_some(())
        })
        .await;
        sent.into_inner()
    }

    /// Publishes a marker (a point the registry lacks) to `mine`, owned by `inst`, and waits until
    /// its `unregistered_device` alert is stored there: everything sent before it is stored too.
    async fn marker(&self, inst: &Instance, mine: &str, secs: i64, point: &str) {
        self.reading(mine, secs, point, 0.1).await;
        let query = format!("state=all&kind=unregistered_device&mine={mine}");
        wait_until(&format!("the marker {point} on {mine}"), || async {
            inst.alerts(&query)
                .await
                .iter()
                .any(|a| a["subject"].as_str().is_some_and(|s| s.contains(point)))
                .then_some(())
        })
        .await;
    }
}

fn config(dir: &Path, name: &str, prefix: &str, mines: &[&str]) -> Config {
    let (host, port) = broker();
    let mut cfg = Config::default();
    cfg.mqtt.host = host;
    cfg.mqtt.port = port;
    cfg.mqtt.prefix = prefix.to_string();
    cfg.mqtt.client_id = unique(name);
    cfg.mqtt.mines = mines.iter().map(|m| m.to_string()).collect();
    cfg.mqtt.backoff_min = Duration::from_millis(50);
    cfg.mqtt.backoff_max = Duration::from_millis(500);
    cfg.store.url = format!("sqlite://{}", dir.join(format!("{name}.db")).display());
    // The same registry directory for both.
    cfg.registry.dir = dir.join("registry");
    cfg.http.listen = "127.0.0.1:0".into();
    // One shard: the marker argument needs one ordered path from broker to store.
    cfg.engine.shards = 1;
    cfg.engine.tick = Duration::from_millis(100);
    cfg.rules.system_silent.system_silent_after = 3_600_000;
    cfg
}

/// Over-limit alerts of `mine` on `inst`, any state.
async fn over_limit(inst: &Instance, mine: &str) -> Vec<Value> {
    inst.alerts(&format!("state=all&kind=over_limit&mine={mine}"))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_split_the_mines_and_raise_every_alert_exactly_once_on_its_owner() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = dir.path().join("registry");
    std::fs::create_dir_all(&reg).expect("registry dir");
    for m in MINES {
        std::fs::write(reg.join(format!("{m}.toml")), one_point_mine(m)).expect("write mine");
    }
    let prefix = unique("mwscale");
    let (host, port) = broker();
    let feed = Feed {
        client: publisher(&host, port).await,
        prefix: prefix.clone(),
        t0: chrono::Utc::now().timestamp_millis() - 3_600_000,
    };
    let mut a = Instance::start(config(dir.path(), "a", &prefix, &MINES[..3])).await;
    let mut b = Instance::start(config(dir.path(), "b", &prefix, &MINES[3..])).await;
    assert_ne!(a.cfg.mqtt.client_id, b.cfg.mqtt.client_id);
    assert_ne!(a.addr(), b.addr());

    // Each instance lists only its own mines, and reads them.
    assert_eq!(a.mine_ids().await, vec!["M1", "M2", "M3"]);
    assert_eq!(b.mine_ids().await, vec!["M4", "M5", "M6"]);
    feed.until_read(&a, &MINES[..3], 0).await;
    feed.until_read(&b, &MINES[3..], 0).await;

    // Over the alarm limit on all six, then back to normal.
    for m in MINES {
        feed.reading(m, 10, "P1", 1.2).await;
    }
    for m in MINES {
        feed.reading(m, 20, "P1", 0.4).await;
    }
    feed.marker(&a, "M1", 21, "MARK_A1").await;
    feed.marker(&b, "M4", 21, "MARK_B1").await;
    for m in MINES {
        let (owner, other) = if a.owns(m) { (&a, &b) } else { (&b, &a) };
        let mut alerts = Vec::new();
        wait_until(
            &format!("{m}'s over_limit resolved on its owner"),
            || async {
                let v = over_limit(owner, m).await;
                v.iter().any(|a| a["state"] == "resolved").then_some(())
            },
        )
        .await;
        alerts.extend(over_limit(owner, m).await);
        assert_eq!(
            alerts.len(),
            1,
            "{m}: exactly one over_limit on its owner: {alerts:?}"
        );
        assert_eq!(alerts[0]["subject"], "P1");
        assert_eq!(alerts[0]["state"], "resolved");
        let elsewhere = other.alerts(&format!("state=all&mine={m}")).await;
        assert!(
            elsewhere.is_empty(),
            "{m} raised on the other instance: {elsewhere:?}"
        );
        let (status, _) = other.get(&format!("/api/mines/{m}")).await;
        assert_eq!(
            status, 404,
            "{m} is not served by the instance that does not own it"
        );
    }
    assert_eq!(a.mine_ids().await, vec!["M1", "M2", "M3"]);
    assert_eq!(b.mine_ids().await, vec!["M4", "M5", "M6"]);
    assert_eq!(a.not_owned_safety(), 0);
    assert_eq!(b.not_owned_safety(), 0);

    // M3 moves from A to B. A keeps its client id: the broker's session still holds M3's filters.
    a.restart(&["M1", "M2"]).await;
    b.restart(&["M3", "M4", "M5", "M6"]).await;
    assert_eq!(a.mine_ids().await, vec!["M1", "M2"]);
    // Until B reads M3 (its new filter is in place), A receives M3 too and drops each message.
    let mut sent = feed.until_read(&b, &["M3"], 28).await;
    feed.reading("M3", 30, "P1", 1.3).await;
    sent += 1;
    feed.marker(&a, "M2", 31, "MARK_A2").await;
    // Everything A was sent before the marker is stored: M3's messages left no trace...
    let on_a = a.alerts("state=all&mine=M3").await;
    assert_eq!(on_a.len(), 1, "nothing new for M3 on A: {on_a:?}");
    assert_eq!(on_a[0]["state"], "resolved");
    assert!(!a.mine_ids().await.contains(&"M3".to_string()));
    assert!(!a.has_clock("M3").await);
    // ...because the old filters did deliver them, and A acked and dropped each one unread.
    assert_eq!(a.not_owned_safety(), sent, "each M3 message dropped once");
    // B, its new owner, raises it.
    let raised = wait_until("M3's over_limit on B", || async {
        over_limit(&b, "M3")
            .await
            .into_iter()
            .find(|x| x["state"] == "active")
    })
    .await;
    assert_eq!(raised["value"], 1.3);
    assert_eq!(over_limit(&b, "M3").await.len(), 1);
    assert_eq!(b.not_owned_safety(), 0);

    a.shutdown().await;
    b.shutdown().await;
}
