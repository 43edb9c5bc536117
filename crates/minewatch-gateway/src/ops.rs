//! What operations and orchestrators poll: `/metrics`, `/healthz`, `/readyz`.

use crate::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use std::sync::atomic::Ordering;

/// The content type of the OpenMetrics text that prometheus-client writes.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The operational routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// `GET /metrics`: every metric, in one exposition.
async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    ([(CONTENT_TYPE, METRICS_CONTENT_TYPE)], s.metrics.encode())
}

/// `GET /healthz`: the process answers.
async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 once the pipeline is up (store open, registry loaded, broker connected, as
/// the binary decides), 503 before and while it is not, and while the store refuses commits (a
/// full disk: nothing is acked or published until it takes them again).
async fn readyz(State(s): State<AppState>) -> (StatusCode, &'static str) {
    if !s.ready.load(Ordering::Acquire) {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    } else if s.metrics.store_failing.get() != 0 {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the store refuses commits",
        )
    } else {
        (StatusCode::OK, "ready")
    }
}
