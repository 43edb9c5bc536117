//! What operations and orchestrators poll: `/metrics`, `/healthz`, `/readyz`.

use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use std::sync::atomic::Ordering;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The content type of the OpenMetrics text that prometheus-client writes.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The operational routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(metrics))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// `GET /metrics`: every metric, in one exposition. With `http.metrics_auth`, only for a bearer
/// token of every mine (401 without a known token, 403 for one limited to some mines).
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses(
        (status = 200, description = "OpenMetrics text", body = String, content_type = "application/openmetrics-text"),
        (status = 401, description = "`http.metrics_auth` is on and the request has no known token", body = crate::openapi::ErrorBody),
        (status = 403, description = "`http.metrics_auth` is on and the token does not cover every mine", body = crate::openapi::ErrorBody),
    ))]
async fn metrics(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let auth = s.auth.current();
    if auth.metrics_auth {
        let access = match crate::access::authenticate_headers(&auth, &headers) {
            Ok(a) => a,
            Err(e) => return e.into_response(),
        };
        if let Err(e) = access.require_all_mines("/metrics shows every mine's figures") {
            return e.into_response();
        }
    }
    ([(CONTENT_TYPE, METRICS_CONTENT_TYPE)], s.metrics.encode()).into_response()
}

/// `GET /healthz`: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", security(()),
    responses((status = 200, description = "`ok`", body = String, content_type = "text/plain")))]
async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 while the server can do its work: started (store open, registry loaded,
/// state built), the store taking commits (a full disk: nothing is acked or published until it
/// takes them again), every pipeline task alive and the broker session up. 503 with the reason
/// otherwise; it turns 200 again by itself when the cause goes away.
#[utoipa::path(get, path = "/readyz", tag = "ops", security(()),
    responses(
        (status = 200, description = "`ready`", body = String, content_type = "text/plain"),
        (status = 503, description = "`not ready: REASON`", body = String, content_type = "text/plain"),
    ))]
async fn readyz(State(s): State<AppState>) -> (StatusCode, String) {
    let not_ready = if !s.ready.load(Ordering::Acquire) {
        Some("starting".to_string())
    } else if s.metrics.store_failing.get() != 0 {
        Some("the store refuses commits".to_string())
    } else {
        s.control.not_ready()
    };
    match not_ready {
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}")),
        None => (StatusCode::OK, "ready".to_string()),
    }
}
