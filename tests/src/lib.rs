//! The end-to-end harness: starts the real server (store file, registry directory, MQTT, HTTP)
//! against a real broker — the one `MINEWATCH_TEST_MQTT` names (`host:port`, as CI sets for
//! mosquitto), else an embedded rumqttd — and talks to it over MQTT, HTTP and WebSocket.
//! Every harness uses its own topic prefix and client ids, so tests run in parallel on one broker.
//! [`webhook`] is a receiver for the notifications such a server sends.

pub mod fault;
pub mod webhook;

use futures_util::StreamExt;
use minewatch::config::Config;
use minewatch::server::Server;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long any wait in a test may take before it fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// The broker under test.
pub fn broker() -> (String, u16) {
    static BROKER: OnceLock<(String, u16)> = OnceLock::new();
    BROKER
        .get_or_init(|| {
            if let Ok(s) = std::env::var("MINEWATCH_TEST_MQTT") {
                if let Some((h, p)) = s.rsplit_once(':')
                    && let Ok(p) = p.parse()
                {
                    return (h.to_string(), p);
                }
                panic!("MINEWATCH_TEST_MQTT={s:?} must be host:port");
            }
            let port = minewatch::broker::pick_port(0);
            let addr = minewatch::broker::start(port).unwrap_or_else(|e| panic!("{e}"));
            (addr.ip().to_string(), addr.port())
        })
        .clone()
}

/// A name no other test in any process uses at the same time (`{tag}-{pid}-{n}-{nanos}`).
pub fn unique(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{tag}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub use minewatch_fixtures::http::request as http;
pub use minewatch_fixtures::mine::{MINE, mine_as};

/// A running server with its broker connection, temp dir and publisher.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub cfg: Config,
    pub server: Option<Server>,
    pub prefix: String,
    publisher: AsyncClient,
    /// Event time origin: an hour ago, so every ts a test uses is in the past of the wall clock.
    pub t0: i64,
}

impl Harness {
    /// Starts a server on `mines` (file name, TOML) with `tweak` applied to the config.
    pub async fn start(mines: &[(&str, &str)], tweak: impl FnOnce(&mut Config)) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = dir.path().join("registry");
        std::fs::create_dir_all(&reg).expect("registry dir");
        for (name, text) in mines {
            std::fs::write(reg.join(name), text).expect("write mine");
        }
        let (host, port) = broker();
        let prefix = unique("mwtest");
        let mut cfg = Config::default();
        cfg.mqtt.host = host.clone();
        cfg.mqtt.port = port;
        cfg.mqtt.prefix = prefix.clone();
        cfg.mqtt.client_id = unique("mw");
        cfg.mqtt.backoff_min = Duration::from_millis(50);
        cfg.mqtt.backoff_max = Duration::from_millis(500);
        cfg.store.url = format!("sqlite://{}", dir.path().join("store.db").display());
        cfg.registry.dir = reg;
        cfg.http.listen = "127.0.0.1:0".into();
        cfg.engine.shards = 2;
        cfg.engine.tick = Duration::from_millis(100);
        // Wall-clock silence is tested on its own; elsewhere it would only add noise.
        cfg.rules.system_silent.system_silent_after = 3_600_000;
        tweak(&mut cfg);
        let publisher = publisher(&host, port).await;
        let server = Server::start(cfg.clone())
            .await
            .unwrap_or_else(|e| panic!("server: {e}"));
        let t0 = chrono::Utc::now().timestamp_millis() - 3_600_000;
        let h = Harness {
            dir,
            cfg,
            server: Some(server),
            prefix,
            publisher,
            t0,
        };
        h.wait_connected().await;
        h
    }

    /// The running server.
    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("server running")
    }

    /// The HTTP address.
    pub fn http(&self) -> SocketAddr {
        self.server().http_addr
    }

    async fn wait_connected(&self) {
        let m = self.server().metrics.clone();
        wait_until("the server connects to the broker", || {
            let connected = m.mqtt_connected.get() == 1;
            async move { connected.then_some(()) }
        })
        .await;
        // The subscription is queued right after ConnAck; a round trip through the broker proves
        // it is in place: publish to an unregistered mine until the server has handled a message
        // (counted whether the mine is then watched, or refused by `engine.unknown_mines`).
        let probe = unique("probe").replace('-', "_");
        let topic = format!("{}/{probe}/safety", self.prefix);
        let safety = minewatch_core::payload::System::Safety.index();
        let handled = self.server().metrics.messages[safety].clone();
        wait_until("the subscription is active", || {
            let payload = serde_json::json!({"ts": self.ts(0), "readings": []}).to_string();
            let publisher = self.publisher.clone();
            let topic = topic.clone();
            let handled = handled.clone();
            async move {
                let _ = publisher
                    .publish(topic, QoS::AtLeastOnce, false, payload)
                    .await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                (handled.get() > 0).then_some(())
            }
        })
        .await;
        // Acknowledge the probe's alert away so tests see only their own: once it is stored.
        let _ = tokio::time::timeout(WAIT, self.server().pipeline.flush()).await;
        let alerts = self.get(&format!("/api/alerts?mine={probe}")).await.1;
        for a in alerts["alerts"].as_array().cloned().unwrap_or_default() {
            let id = a["id"].as_str().unwrap_or_default();
            self.post(
                &format!("/api/alerts/{id}/ack"),
                &serde_json::json!({"by": "harness"}),
            )
            .await;
        }
    }

    /// RFC 3339 for `secs` after the harness's time origin.
    pub fn ts(&self, secs: i64) -> String {
        minewatch_core::time::format_rfc3339(self.t0 + secs * 1000)
    }

    /// Publishes `payload` to `{prefix}/{mine}/{system}` with QoS 1.
    pub async fn publish(&self, mine: &str, system: &str, payload: &Value) {
        self.publish_raw(
            &format!("{}/{mine}/{system}", self.prefix),
            payload.to_string().into_bytes(),
        )
        .await;
    }

    /// Publishes raw bytes to a topic with QoS 1.
    pub async fn publish_raw(&self, topic: &str, payload: Vec<u8>) {
        self.publisher
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .expect("publish queued");
    }

    /// A safety batch at `secs` of `(point, value, status)`.
    pub async fn safety(&self, mine: &str, secs: i64, readings: &[(&str, f64, u32)]) {
        self.publish(mine, "safety", &self.safety_batch(secs, readings))
            .await;
    }

    /// Like [`Harness::safety`], but returns only once the broker has acknowledged the message
    /// (PUBACK): it is then the broker's, queued for the server's session even while it is down.
    pub async fn safety_acked(&self, mine: &str, secs: i64, readings: &[(&str, f64, u32)]) {
        let topic = format!("{}/{mine}/safety", self.prefix);
        let payload = self.safety_batch(secs, readings).to_string().into_bytes();
        publish_acked(&self.cfg.mqtt.host, self.cfg.mqtt.port, &topic, payload).await;
    }

    fn safety_batch(&self, secs: i64, readings: &[(&str, f64, u32)]) -> Value {
        let r: Vec<Value> = readings
            .iter()
            .map(|(p, v, s)| serde_json::json!({"point": p, "value": v, "status": s}))
            .collect();
        serde_json::json!({"ts": self.ts(secs), "readings": r})
    }

    /// Stops the server (MQTT first, the pipeline drains into the store).
    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }

    /// Starts the server again with the same config (same store, same MQTT session).
    pub async fn restart(&mut self) {
        self.stop().await;
        let server = Server::start(self.cfg.clone())
            .await
            .unwrap_or_else(|e| panic!("restart: {e}"));
        self.server = Some(server);
        let m = self.server().metrics.clone();
        wait_until("the server reconnects to the broker", || {
            let connected = m.mqtt_connected.get() == 1;
            async move { connected.then_some(()) }
        })
        .await;
    }

    /// GET `path`: status and JSON body (Null when not JSON).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        http(self.http(), "GET", path, None).await
    }

    /// POST JSON to `path`.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        http(self.http(), "POST", path, Some(body)).await
    }

    /// Alerts matching a query string, e.g. `state=all&kind=over_limit`.
    pub async fn alerts(&self, query: &str) -> Vec<Value> {
        let (status, v) = self.get(&format!("/api/alerts?{query}")).await;
        assert_eq!(status, 200, "{v}");
        v["alerts"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until an alert matching `query` satisfies `pred`; returns it.
    pub async fn wait_alert(
        &self,
        what: &str,
        query: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        wait_until(what, || async {
            self.alerts(query).await.into_iter().find(|a| pred(a))
        })
        .await
    }

    /// The path of the registry directory.
    pub fn registry_dir(&self) -> PathBuf {
        self.cfg.registry.dir.clone()
    }
}

/// A connected MQTT publisher (its own client id) on `host:port`.
pub async fn publisher(host: &str, port: u16) -> AsyncClient {
    let mut o = MqttOptions::new(unique("pub"), host, port);
    o.set_max_packet_size(1 << 22, 1 << 22);
    o.set_keep_alive(Duration::from_secs(10));
    let (client, mut eventloop) = AsyncClient::new(o, 1024);
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut tx = Some(tx);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if let Some(t) = tx.take() {
                        let _ = t.send(());
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    tokio::time::timeout(WAIT, rx)
        .await
        .expect("publisher connects in time")
        .expect("publisher task");
    client
}

/// Publishes one QoS 1 message from a client of its own and waits for the broker's PUBACK
/// (failing the test after [`WAIT`]).
pub async fn publish_acked(host: &str, port: u16, topic: &str, payload: Vec<u8>) {
    let mut o = MqttOptions::new(unique("pub-acked"), host, port);
    o.set_max_packet_size(1 << 22, 1 << 22);
    let (client, mut eventloop) = AsyncClient::new(o, 16);
    client
        .publish(topic, QoS::AtLeastOnce, false, payload)
        .await
        .expect("publish queued");
    let acked = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => return,
                Ok(_) => {}
                Err(e) => panic!("publishing to {host}:{port}: {e}"),
            }
        }
    };
    tokio::time::timeout(WAIT, acked)
        .await
        .expect("the broker acknowledges the message in time");
    let _ = client.try_disconnect();
}

/// An outside program a test needs, by the suite's convention: the variable `var` (a path, or a
/// name looked up on `PATH`; panics if it names nothing), else `default` if it is there, else
/// `None` after printing a notice that `what` is skipped.
pub fn outside_program(var: &str, default: &str, what: &str) -> Option<PathBuf> {
    if let Some(named) = std::env::var_os(var) {
        let named = PathBuf::from(named);
        let found = if named.components().count() > 1 {
            named.is_file().then_some(named.clone())
        } else {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join(&named))
                    .find(|p| p.is_file())
            })
        };
        return Some(found.unwrap_or_else(|| panic!("{var}={} names no program", named.display())));
    }
    let default = PathBuf::from(default);
    if default.is_file() {
        Some(default)
    } else {
        eprintln!(
            "notice: {} is not installed and {var} is unset; skipping {what}",
            default.display()
        );
        None
    }
}

/// Polls `f` until it yields `Some`, failing the test after [`WAIT`].
pub async fn wait_until<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A WebSocket client on `/ws?query`.
pub struct Ws {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Ws {
    /// Connects to `/ws?{query}`.
    pub async fn connect(addr: SocketAddr, query: &str) -> Ws {
        let url = format!("ws://{addr}/ws?{query}");
        let (stream, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("ws connects in time")
            .expect("ws handshake");
        Ws { stream }
    }

    /// The next JSON text message.
    pub async fn next(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("a WebSocket message in time")
                .expect("stream open")
                .expect("no ws error");
            if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
                return serde_json::from_str(t.as_str()).expect("JSON message");
            }
        }
    }

    /// Reads messages until one satisfies `pred`, returning all read (the last satisfies it).
    pub async fn until(&mut self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let v = self.next().await;
            let done = pred(&v);
            seen.push(v);
            if done {
                return seen;
            }
        }
    }
}
