//! `GET /`: the operator page, one self-contained HTML file (no CDN, vanilla JS) embedded in the
//! binary. It opens `/ws`, keeps the live alerts table, and resumes with `after=` the last seq it
//! saw when the connection drops.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::response::IntoResponse;

/// The page, as built into the binary.
const INDEX_HTML: &str = include_str!("../static/index.html");

/// `GET /`.
pub(crate) async fn index() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            // A new binary may bring a new page; never show a stale one.
            (CACHE_CONTROL, "no-cache"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        INDEX_HTML,
    )
}
