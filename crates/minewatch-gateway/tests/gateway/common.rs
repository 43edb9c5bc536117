//! The harness: the real router over an in-memory store, a live view, a broadcast channel and a
//! fake pipeline. HTTP requests go to the router in process (`tower::ServiceExt::oneshot`); the
//! same router is also served on 127.0.0.1:0 (the `serve` accept loop), where the WebSocket client
//! and the connection tests talk to it.

use axum::body::{Body, to_bytes};
use axum::http::Request;
use chrono::{DateTime, TimeZone, Utc};
use futures_util::StreamExt;
use minewatch_core::alert::{Ack, alert_key};
use minewatch_core::live::{LiveView, MineLive};
use minewatch_core::metrics::Metrics;
use minewatch_core::registry::{MineDef, MineStatus};
use minewatch_core::{
    Alert, AlertState, Event, EventType, Kind, KindInfo, ParamInfo, Severity, SubjectType,
    WireEvent,
};
use minewatch_gateway::{
    AppState, BoxFuture, Control, ControlError, HttpConfig, KindCatalogue, ReloadReport,
};
use minewatch_store::{Store, WriteBatch};
use serde_json::Value;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};
use tower::ServiceExt;

/// The peer address of every request sent in process, as `serve` would record it for a client on
/// loopback (the port is arbitrary).
pub const IN_PROCESS_PEER: ([u8; 4], u16) = ([127, 0, 0, 1], 50_000);

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// Awaits `f`, failing the test with `what` if it takes longer than [`WAIT`].
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Polls `check` until it holds, failing the test after [`WAIT`].
pub async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    within(what, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// A fixed instant plus `secs` seconds.
pub fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_000_000 + secs, 0)
        .single()
        .expect("a valid instant")
}

/// A catalogue as the rules engine would describe its kinds (the gateway does not depend on the
/// rules crate): every kind in contract order; the first with one parameter.
pub fn catalogue() -> Vec<KindInfo> {
    Kind::ALL
        .iter()
        .enumerate()
        .map(|(i, &name)| KindInfo {
            name,
            subject: if i % 2 == 0 {
                SubjectType::Point
            } else {
                SubjectType::Area
            },
            severity: Severity::Major,
            description: "what it catches",
            resolves_on_ack: i % 3 == 1,
            params: if i == 0 {
                vec![ParamInfo {
                    key: "feed_grace",
                    default: serde_json::json!("10s"),
                    unit: "duration",
                    description: "how long a feed may lag",
                }]
            } else {
                Vec::new()
            },
        })
        .collect()
}

/// An active alert as the alert writer would raise it.
pub fn alert(id: &str, mine: &str, kind: Kind, severity: Severity, started: i64) -> Alert {
    let subject = format!("S-{id}");
    Alert {
        id: id.to_owned(),
        key: alert_key(mine, kind, &subject),
        mine: mine.to_owned(),
        kind,
        severity,
        state: AlertState::Active,
        subject,
        area: Some("A1201".to_owned()),
        message: format!("{kind} at {id}"),
        value: Some(1.62),
        limit: Some(1.5),
        started_at: t(started),
        updated_at: t(started),
        resolved_at: None,
        ack: None,
        evidence: serde_json::json!({}),
        alarm: Default::default(),
    }
}

/// The same alert, resolved and closed (acknowledged, or of a severity that does not latch).
pub fn resolved(a: &Alert) -> Alert {
    let mut r = Alert {
        state: AlertState::Resolved,
        resolved_at: Some(a.updated_at),
        ..a.clone()
    };
    r.alarm.alarm_state = minewatch_core::alarm::AlarmState::Closed;
    r
}

/// The same alert, resolved and still waiting for an acknowledgement.
pub fn cleared(a: &Alert) -> Alert {
    let mut r = resolved(a);
    r.alarm.alarm_state = minewatch_core::alarm::AlarmState::ClearedUnacked;
    r
}

/// The same alert at another severity.
pub fn at(a: &Alert, severity: Severity) -> Alert {
    Alert {
        severity,
        ..a.clone()
    }
}

/// A pipeline that records what it is asked and answers from the store.
pub struct FakeControl {
    store: Store,
    /// `(id, by, note)` of every ack asked for.
    pub acks: Mutex<Vec<(String, String, String)>>,
    /// `(id, by, shelved)` of every shelving (`true`) and unshelving (`false`).
    pub shelves: Mutex<Vec<(String, String, bool)>>,
    /// `(mine, status, by, note)` of every status order.
    pub statuses: Mutex<Vec<(String, MineStatus, String, String)>>,
    /// What `reload` answers.
    pub report: ReloadReport,
}

impl Control for FakeControl {
    fn ack(
        &self,
        id: String,
        by: String,
        note: String,
    ) -> BoxFuture<'_, Result<Alert, ControlError>> {
        Box::pin(async move {
            let already = {
                let mut acks = self.acks.lock().expect("acks lock");
                let already = acks.iter().any(|(i, _, _)| *i == id);
                acks.push((id.clone(), by.clone(), note.clone()));
                already
            };
            if already {
                return Err(ControlError::Conflict(format!(
                    "alert {id} is already acknowledged"
                )));
            }
            let Some((mut alert, _)) = self.store.alert(&id).await.expect("store answers") else {
                return Err(ControlError::NotFound(format!("no alert {id}")));
            };
            alert.ack = Some(Ack {
                by,
                at: t(1000),
                note,
            });
            Ok(alert)
        })
    }

    fn shelve(
        &self,
        id: String,
        by: String,
        shelve: Option<(String, i64)>,
    ) -> BoxFuture<'_, Result<Alert, ControlError>> {
        Box::pin(async move {
            self.shelves
                .lock()
                .expect("shelves lock")
                .push((id.clone(), by, shelve.is_some()));
            match self.store.alert(&id).await.expect("store answers") {
                Some((alert, _)) => Ok(alert),
                None => Err(ControlError::NotFound(format!("no alert {id}"))),
            }
        })
    }

    fn reload(&self) -> BoxFuture<'_, Result<ReloadReport, ControlError>> {
        Box::pin(async move { Ok(self.report.clone()) })
    }

    fn set_status(
        &self,
        mine: String,
        status: MineStatus,
        by: String,
        note: String,
    ) -> BoxFuture<'_, Result<(), ControlError>> {
        Box::pin(async move {
            if mine == "unknown" {
                return Err(ControlError::NotFound(format!("no mine {mine}")));
            }
            self.statuses
                .lock()
                .expect("statuses lock")
                .push((mine, status, by, note));
            Ok(())
        })
    }
}

/// A running gateway and the pipeline-side handles that feed it.
pub struct Gateway {
    pub addr: SocketAddr,
    pub state: AppState,
    /// The router over `state`, for requests sent in process.
    router: axum::Router,
    pub control: Arc<FakeControl>,
    next_seq: AtomicU64,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl Gateway {
    /// A gateway with a roomy broadcast channel and the default config.
    pub async fn start() -> Self {
        Self::start_with(1024, HttpConfig::default()).await
    }

    /// A gateway whose broadcast channel holds `capacity` events.
    pub async fn start_with(capacity: usize, config: HttpConfig) -> Self {
        let store = Store::open("sqlite::memory:")
            .await
            .expect("in-memory store");
        Self::start_on(store, capacity, config).await
    }

    /// A gateway over `store`.
    pub async fn start_on(store: Store, capacity: usize, config: HttpConfig) -> Self {
        let control = Arc::new(FakeControl {
            store: store.clone(),
            acks: Mutex::default(),
            shelves: Mutex::default(),
            statuses: Mutex::default(),
            report: ReloadReport {
                mines: 2,
                changed: vec!["m2".into()],
                errors: vec!["registry/m3.toml:4: unknown field `quotta`".into()],
                reloaded: vec!["registry".into()],
            },
        });
        let state = AppState {
            live: Arc::new(LiveView::default()),
            store,
            metrics: Arc::new(Metrics::new()),
            events: broadcast::channel(capacity).0,
            control: control.clone(),
            ready: Arc::new(AtomicBool::new(false)),
            auth: minewatch_gateway::Auth::new(Arc::new(config.clone())),
            config: Arc::new(config),
            kinds: KindCatalogue::new(&catalogue()),
            snapshots: Default::default(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(minewatch_gateway::serve(
            listener,
            state.clone(),
            async move {
                let _ = rx.await;
            },
        ));
        Gateway {
            addr,
            router: minewatch_gateway::router(state.clone()),
            state,
            control,
            next_seq: AtomicU64::new(1),
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Adds a mine to the live view.
    pub fn add_mine(&self, id: &str) {
        let def = Arc::new(MineDef::unregistered(id));
        self.state
            .live
            .mines
            .insert(Arc::from(id), MineLive::new(def, MineStatus::Producing));
    }

    fn next(&self, kind: EventType, alert: Alert) -> Event {
        Event {
            kind,
            seq: self.next_seq.fetch_add(1, Ordering::Relaxed),
            at: t(500),
            alert,
        }
    }

    /// Updates the live view and broadcasts, as the alert writer does after storing.
    fn publish(&self, event: &Event) -> bool {
        let a = &event.alert;
        if a.state == AlertState::Active {
            self.state
                .live
                .alerts
                .insert(a.key.clone(), Arc::new(a.clone()));
        } else {
            self.state.live.alerts.remove(&a.key);
        }
        self.state.live.set_seq(event.seq);
        self.state.events.send(WireEvent::new(event)).is_ok()
    }

    /// Stores an event with the next seq, then updates the live view and broadcasts it.
    pub async fn emit(&self, kind: EventType, alert: Alert) -> Event {
        let event = self.next(kind, alert);
        let batch = WriteBatch {
            events: vec![event.clone()],
            dead_letters: Vec::new(),
            ..WriteBatch::default()
        };
        self.state.store.commit(&batch).await.expect("commit");
        self.publish(&event);
        event
    }

    /// Like [`emit`](Self::emit) without the store and without awaiting: the publisher's side of
    /// a flood. Answers whether the broadcast had a receiver.
    pub fn emit_unstored(&self, kind: EventType, alert: Alert) -> bool {
        let event = self.next(kind, alert);
        self.publish(&event)
    }

    /// The current value of the `ws_clients` gauge.
    pub fn ws_clients(&self) -> i64 {
        self.state.metrics.ws_clients.get()
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: &str) -> Reply {
        self.request("POST", path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &str) -> Reply {
        self.request("PUT", path, Some(body)).await
    }

    /// GET `path` over a real connection, through `serve`'s accept loop: for the tests of
    /// connection handling (the slot cap, stalled clients), which the router alone cannot show.
    pub async fn get_served(&self, path: &str) -> Reply {
        let (status, body) = minewatch_fixtures::http::get(self.addr, path).await;
        let body = match body {
            Value::String(text) => text,
            json => json.to_string(),
        };
        Reply {
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// A request with `Authorization: Bearer {token}`.
    pub async fn as_token(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Reply {
        let auth = format!("Bearer {token}");
        self.request_with(method, path, body, &[("Authorization", &auth)])
            .await
    }

    /// One request (a JSON body when given) to the router, in process, from [`IN_PROCESS_PEER`].
    pub async fn request(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        self.request_with(method, path, body, &[]).await
    }

    /// Like [`request`](Self::request), with extra headers.
    pub async fn request_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        // What `serve`'s accept loop puts on every request; the served tests check that it does.
        let peer = axum::extract::ConnectInfo(SocketAddr::from(IN_PROCESS_PEER));
        let mut req = Request::builder().method(method).uri(path).extension(peer);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let body = match body {
            Some(body) => {
                req = req.header("content-type", "application/json");
                Body::from(body.to_owned())
            }
            None => Body::empty(),
        };
        let req = req.body(body).expect("a request");
        within(&format!("{method} {path}"), async {
            let res = self
                .router
                .clone()
                .oneshot(req)
                .await
                .unwrap_or_else(|e| match e {});
            let status = res.status().as_u16();
            let headers = res
                .headers()
                .iter()
                .map(|(n, v)| {
                    let v = v.to_str().expect("a text header value");
                    (n.as_str().to_owned(), v.to_owned())
                })
                .collect();
            let body = to_bytes(res.into_body(), usize::MAX)
                .await
                .expect("the response body");
            Reply {
                status,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            }
        })
        .await
    }

    /// Opens `/ws?{query}` with `Authorization: Bearer {token}`.
    pub async fn ws_as(&self, token: &str, query: &str) -> Ws {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("ws://{}/ws?{query}", self.addr)
            .into_client_request()
            .expect("a websocket request");
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("a header value"),
        );
        let (ws, _) = within("the websocket handshake", connect_async(req))
            .await
            .expect("websocket handshake");
        ws
    }

    /// Opens `/ws?{query}`.
    pub async fn ws(&self, query: &str) -> Ws {
        let url = format!("ws://{}/ws?{query}", self.addr);
        let (ws, _) = within("the websocket handshake", connect_async(url))
            .await
            .expect("websocket handshake");
        ws
    }

    /// Signals shutdown and waits for `serve` to return.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            within("the server to stop", server)
                .await
                .expect("server task")
                .expect("serve returns Ok");
        }
    }
}

/// An HTTP response.
pub struct Reply {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Whether the `error` of a JSON error body starts by naming `field` (`field: …`, or
    /// `"field": …` for a name the client made up).
    pub fn names(&self, field: &str) -> bool {
        let e = self.error();
        e.starts_with(&format!("{field}: ")) || e.starts_with(&format!("{field:?}: "))
    }

    /// The `error` of a JSON error body.
    pub fn error(&self) -> String {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{}",
            self.body
        );
        self.json()["error"]
            .as_str()
            .expect("an error message")
            .to_owned()
    }
}

/// A WebSocket client connection.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The next text message, as JSON; pings and pongs are skipped.
pub async fn next_json(ws: &mut Ws) -> Value {
    within("a websocket message", async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(text.as_str()).expect("a JSON message");
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    })
    .await
}

/// The `id`s of a JSON array of alerts.
pub fn ids(alerts: &Value) -> Vec<String> {
    alerts
        .as_array()
        .expect("an array of alerts")
        .iter()
        .map(|a| a["id"].as_str().expect("an id").to_owned())
        .collect()
}
