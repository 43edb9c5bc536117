//! The harness: a store in a temporary file, the broadcast the alert writer would send on, a
//! webhook receiver, and helpers to emit events as the writer does (store, then broadcast).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::{DateTime, TimeZone, Utc};
use minewatch_core::alert::alert_key;
use minewatch_core::{Alert, AlertState, Event, EventType, Kind, Severity, WireEvent};
use minewatch_fixtures::store::{TempStore, file_store};
use minewatch_notify::sign::verify;
use minewatch_notify::{NotifyConfig, WebhookConfig};
use minewatch_store::{Store, WriteBatch};
use serde_json::Value;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// The webhook secret.
pub const SECRET: &str = "s3cret-for-tests";

/// Polls `check` until it holds, failing the test with `what` after [`WAIT`].
pub async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A fixed instant plus `secs`.
pub fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_000_000 + secs, 0)
        .single()
        .expect("valid")
}

/// An active alert.
pub fn alert(id: &str, mine: &str, kind: Kind, severity: Severity) -> Alert {
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
        started_at: t(0),
        updated_at: t(0),
        resolved_at: None,
        ack: None,
        evidence: serde_json::json!({"readings": [1.5, 1.62]}),
        alarm: Default::default(),
    }
}

/// The same alert, resolved.
pub fn resolved(a: &Alert) -> Alert {
    Alert {
        state: AlertState::Resolved,
        resolved_at: Some(t(60)),
        updated_at: t(60),
        ..a.clone()
    }
}

/// The pipeline side: a store and the broadcast of stored events.
pub struct Log {
    pub store: Store,
    pub events: broadcast::Sender<WireEvent>,
    next: AtomicU64,
    /// The store's file, deleted with it.
    _file: TempStore,
}

impl Log {
    pub async fn new() -> Log {
        let file = file_store().await;
        Log {
            store: file.store.clone(),
            events: broadcast::channel(64).0,
            next: AtomicU64::new(1),
            _file: file,
        }
    }

    /// Stores an event with the next seq, then broadcasts it, as the alert writer does.
    pub async fn emit(&self, kind: EventType, alert: &Alert) -> u64 {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let event = Event {
            kind,
            seq,
            at: Utc::now(),
            alert: alert.clone(),
        };
        self.store
            .commit(&WriteBatch {
                events: vec![event.clone()],
                ..WriteBatch::default()
            })
            .await
            .expect("commit");
        let _ = self.events.send(WireEvent::new(&event));
        seq
    }
}

/// A config with one webhook to `url`, retrying fast.
pub fn config(url: &str) -> NotifyConfig {
    NotifyConfig {
        retry_min: Duration::from_millis(10),
        retry_max: Duration::from_millis(50),
        webhooks: vec![WebhookConfig {
            name: "oncall".into(),
            url: url.to_owned(),
            secret_env: None,
            secret: Some(SECRET.into()),
            min_severity: Severity::Info,
            kinds: Vec::new(),
            mines: Vec::new(),
            timeout: Duration::from_secs(5),
        }],
        ..NotifyConfig::default()
    }
}

/// What the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// 200 after failing (503) this many requests first.
    FailFirst(u32),
    /// Always this status.
    Always(u16),
}

/// A webhook receiver that checks every signature.
pub struct Receiver {
    pub addr: SocketAddr,
    pub state: Arc<ReceiverState>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
pub struct ReceiverState {
    pub mode: Mutex<Option<Mode>>,
    /// Requests seen, accepted or not.
    pub requests: AtomicU32,
    /// Bodies accepted (answered 2xx), in arrival order.
    pub accepted: Mutex<Vec<Value>>,
    /// Requests whose signature did not verify.
    pub bad_signatures: AtomicU32,
}

impl Receiver {
    pub async fn start(mode: Mode) -> Receiver {
        let state = Arc::new(ReceiverState::default());
        *state.mode.lock().expect("lock") = Some(mode);
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            addr,
            state,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().expect("lock") = Some(mode);
    }

    pub fn accepted(&self) -> Vec<Value> {
        self.state.accepted.lock().expect("lock").clone()
    }

    /// The seqs of the accepted event notifications (renotifications left out).
    pub fn seqs(&self) -> Vec<u64> {
        self.accepted()
            .iter()
            .filter(|v| v["type"] != "renotify")
            .map(|v| v["seq"].as_u64().expect("seq"))
            .collect()
    }

    pub fn requests(&self) -> u32 {
        self.state.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(
    State(s): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let n = s.requests.fetch_add(1, Ordering::SeqCst);
    let ts = headers
        .get("x-minewatch-timestamp")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    let sig = headers
        .get("x-minewatch-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !verify(SECRET.as_bytes(), ts, &body, sig) || (Utc::now().timestamp() - ts).abs() > 300 {
        s.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    let mode = s.mode.lock().expect("lock").unwrap_or(Mode::Always(200));
    let status = match mode {
        Mode::FailFirst(k) if n < k => 503,
        Mode::FailFirst(_) => 200,
        Mode::Always(code) => code,
    };
    if status == 200 {
        let v: Value = serde_json::from_slice(&body).expect("a JSON body");
        s.accepted.lock().expect("lock").push(v);
    }
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
