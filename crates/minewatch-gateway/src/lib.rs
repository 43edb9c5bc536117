//! The HTTP API, the WebSocket gateway and the operator page (contract §5).
//!
//! The gateway reads alerts, events and dead letters from the [`Store`], mines and active alerts
//! from the [`LiveView`], and the broadcast of [`WireEvent`]s that the pipeline's alert writer
//! sends after storing each event. Whatever changes the pipeline's state (an ack, a shelving, a
//! status order, a registry reload) is asked of the pipeline through [`Control`]; the gateway
//! itself writes only silences and the audit trail of those actions.
//!
//! Modules, in the order a request passes through them:
//! - [`config`]: the `[http]` config section, with its tokens (kept as SHA-256 digests).
//! - `token`: a token's [`Role`] and the SHA-256 digest of its secret, which the config and
//!   [`access`] share.
//! - [`access`]: who is asking and which mines they may see: the bearer token (from the header,
//!   or `?token=` on `/ws`) looked up among `[[http.tokens]]`; a 401 when tokens are configured and
//!   the request has no known one. Every handler takes an [`Access`] and filters mines with it.
//! - `extract`: query parameters, path ids and JSON bodies, rejected with a 400 naming what was
//!   wrong.
//! - `api`: the `/api/…` routes.
//! - `kpis`: `/api/kpis`, alarm-system performance (rates, floods, bad actors, chattering, stale
//!   alerts, acknowledgement times) computed by the store over a window.
//! - [`kinds`]: `/api/kinds`, the alert kinds as the binary describes them.
//! - `notify_api`: `/api/silences` and `/api/deliveries` (on-call notifications), and the
//!   `silenced` flag the alert routes add.
//! - `ws`: `/ws`, one task per client: a snapshot (or a replay from the store), then the live
//!   events, filtered; a client that falls behind gets a fresh snapshot and is never waited for.
//! - `audit_api`: the audit trail: every operator action (ack, shelve, silence set and end,
//!   status order, reload) recorded once it succeeded, with the token's name, the client's address
//!   and the time beside the free-text `by`; `GET /api/audit` pages through it (admins only).
//! - `ops`: `/metrics`, `/healthz`, `/readyz`.
//! - `page`: `/` and `/assets/…`, the operator dashboard (`static/`, embedded in the binary).
//! - [`control`]: the [`Control`] trait that the binary implements over the pipeline.
//! - [`error`]: every failed request answers `{"error":"…"}`.
//! - `conn`: the accept loop of [`serve`]: a slot of `http.max_connections` per connection (held
//!   by a WebSocket session as long as it lives), hyper's HTTP/1 with `http.header_read_timeout`,
//!   WebSocket upgrades, and the graceful shutdown.
#![forbid(unsafe_code)]

pub mod access;
mod api;
mod audit_api;
pub mod config;
mod conn;
pub mod control;
pub mod error;
mod extract;
pub mod kinds;
mod kpis;
mod listing;
mod notify_api;
pub mod openapi;
mod ops;
mod page;
mod token;
mod ws;

pub use access::{Access, Role};
pub use config::{HttpConfig, TokenConfig};
pub use control::{BoxFuture, Control, ControlError, ReloadReport};
pub use error::ApiError;
pub use kinds::KindCatalogue;
pub use ops::METRICS_CONTENT_TYPE;
pub use ws::SnapshotCache;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::StatusCode;
use minewatch_core::WireEvent;
use minewatch_core::live::LiveView;
use minewatch_core::metrics::Metrics;
use minewatch_store::Store;
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Everything the handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The live picture: mines, active alerts, the last published seq.
    pub live: Arc<LiveView>,
    /// The authoritative record: alerts, events, dead letters, status orders.
    pub store: Store,
    /// Read by `/metrics`; the gateway counts its WebSocket clients and resyncs here.
    pub metrics: Arc<Metrics>,
    /// Every stored event, in seq order, from the alert writer. Bounded: a WebSocket client that
    /// falls more than its capacity behind is resynced, so the writer never waits for one.
    pub events: broadcast::Sender<WireEvent>,
    /// Acks, status orders and reloads go to the pipeline through this.
    pub control: Arc<dyn Control>,
    /// `/readyz` answers 200 only while this is true; the binary sets it.
    pub ready: Arc<AtomicBool>,
    /// The `[http]` section as the server started with it.
    pub config: Arc<HttpConfig>,
    /// The tokens in force (and `metrics_auth`): the started `[http]` section until a reload
    /// swaps in a new one whole.
    pub auth: Arc<Auth>,
    /// What `/api/kinds` answers: the rules engine's catalogue, which the binary passes in.
    pub kinds: KindCatalogue,
    /// The last WebSocket snapshot encoded, shared by the clients that need the same one.
    pub snapshots: Arc<SnapshotCache>,
}

/// The `[http]` section whose tokens authenticate requests, swapped whole by a reload (a request
/// sees the old tokens or the new ones, never a mix).
#[derive(Debug)]
pub struct Auth(std::sync::RwLock<Arc<HttpConfig>>);

impl Auth {
    pub fn new(config: Arc<HttpConfig>) -> Arc<Auth> {
        Arc::new(Auth(std::sync::RwLock::new(config)))
    }

    /// The section in force.
    pub fn current(&self) -> Arc<HttpConfig> {
        match self.0.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Puts `config` in force for the requests that come after.
    pub fn replace(&self, config: Arc<HttpConfig>) {
        match self.0.write() {
            Ok(mut c) => *c = config,
            Err(p) => *p.into_inner() = config,
        }
    }
}

/// How WebSocket sessions learn of a shutdown, and how [`serve`] waits for them: an upgraded
/// connection leaves hyper's graceful shutdown, so the gateway tracks its sessions itself.
#[derive(Clone)]
struct Lifecycle {
    /// Turns true when the server shuts down.
    closing: watch::Receiver<bool>,
    /// Held by every session; [`serve`] waits until all clones are dropped.
    _sessions: mpsc::Sender<()>,
}

impl Lifecycle {
    /// For a router served by someone else: never closes, nobody waits.
    fn detached() -> Self {
        Lifecycle {
            closing: watch::channel(false).1,
            _sessions: mpsc::channel(1).0,
        }
    }

    /// Resolves when the server shuts down; never, for a detached router.
    async fn closing(&mut self) {
        if self.closing.wait_for(|closing| *closing).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The whole HTTP surface: `/api/…`, `/ws`, `/metrics`, `/healthz`, `/readyz`, `/` and `/assets/…`.
///
/// WebSocket sessions of a router built here are not closed at shutdown; [`serve`] does that.
pub fn router(state: AppState) -> Router {
    build(state, Lifecycle::detached())
}

fn build(state: AppState, life: Lifecycle) -> Router {
    let (routes, _) = routes().split_for_parts();
    routes
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(axum::Extension(life))
        .with_state(state)
}

/// Every route of the server, each with its description (see [`openapi`]).
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::frame())
        .merge(api::routes())
        .merge(audit_api::routes())
        .merge(kinds::routes())
        .merge(notify_api::routes())
        .merge(ops::routes())
        .merge(ws::routes())
        .merge(page::routes())
        .routes(routes!(openapi_json))
}

/// The OpenAPI document of every route, built once and kept as the JSON served.
pub fn openapi_document() -> &'static Bytes {
    static DOC: OnceLock<Bytes> = OnceLock::new();
    DOC.get_or_init(|| {
        let (_, doc) = routes().split_for_parts();
        Bytes::from(
            doc.to_pretty_json().unwrap_or_else(|e| {
                format!("{{\"error\":\"the document did not serialize: {e}\"}}")
            }),
        )
    })
}

/// `GET /api/openapi.json`.
#[utoipa::path(get, path = "/api/openapi.json", tag = "ops", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi_document().clone(),
    )
}

async fn no_route(req: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.uri().path()
    ))
}

async fn wrong_method(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

/// Serves until `shutdown` resolves, then stops accepting, lets requests in flight finish, tells
/// WebSocket clients the server is going away (close code 1001) and waits for their sessions, at
/// most a send timeout (plus a second) in all.
///
/// At most `http.max_connections` connections are open at once (when all are taken, new ones wait
/// in the listen backlog), and a client that has not sent a whole request header within
/// `http.header_read_timeout` of connecting, or of its previous response, is closed (see `conn`).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (closing_tx, closing) = watch::channel(false);
    let (sessions, mut sessions_done) = mpsc::channel::<()>(1);
    let drain = Duration::from_millis(state.config.ws_send_timeout_ms)
        .saturating_add(Duration::from_secs(1));
    let limits = conn::Limits {
        header_read_timeout: state.config.header_read_timeout,
        max_connections: state.config.max_connections,
        drain,
    };
    let metrics = state.metrics.clone();
    let app = build(
        state,
        Lifecycle {
            closing,
            _sessions: sessions,
        },
    );
    let signal = async move {
        shutdown.await;
        tracing::info!("http server shutting down");
        // No receiver left only means no session to tell.
        let _ = closing_tx.send(true);
    };
    let deadline = conn::run(listener, app, metrics, limits, signal).await;
    // `recv` answers `None` once the last session has dropped its sender.
    if tokio::time::timeout_at(deadline, sessions_done.recv())
        .await
        .is_err()
    {
        tracing::warn!("websocket sessions still open after shutdown");
    }
    Ok(())
}
