//! `GET /` and `GET /assets/{name}`: the operator dashboard, served by the binary itself.
//!
//! Six files under `static/` are embedded at build time (`include_str!`): `index.html` (the
//! shell), `app.css` and four scripts (vanilla JS, no framework, loaded in order): `words.js`
//! (times in the mine's offset, units, names, kind labels), `alarms.js` (the alert list),
//! `kpis.js` (the KPI view) and `app.js` (the rest). Nothing is fetched from elsewhere:
//! no CDN, no web fonts, no images; a control room without internet gets the whole page. Every
//! answer says `Cache-Control: no-cache` with a strong `ETag` (a SHA-256 prefix of the content),
//! so a browser revalidates each load and gets a `304 Not Modified` until a new binary brings a
//! new page. The routes are open like `/healthz`: the files hold no data, and the page sends the
//! operator's token itself (an `Authorization` header on `/api/…`, `?token=` on `/ws`).
//!
//! What the page does, from the API it reads (contract §5):
//! - **Alerts**: the open list over `/ws` (snapshot with `alerts` and `cleared`, then one message
//!   per event; on a dropped connection it reconnects with a jittered backoff and resumes with
//!   `after=` the last seq it saw, showing the connection state and a banner while offline),
//!   grouped by severity with critical first and counts per severity. Per ISA-18.2 an alert that
//!   clears unacknowledged stays, marked cleared, until acked; one row per alert with its
//!   activation count and a chattering badge; the alerts of one subject grouped with the point's
//!   live value; shelved ones apart; a mine in a flood (`GET /api/floods`) under a banner with
//!   its alerts collapsed by kind and severity. Filters on mine, kind, severity and state live in
//!   the URL hash (`#view=alerts&mine=…&kind=…&severity=…&state=resolved`); resolved alerts come
//!   from `GET /api/alerts?state=…`.
//! - **Detail** (`#alert=ID`): `GET /api/alerts/{id}`, its evidence as tables and its history;
//!   acknowledging with a note (`POST /api/alerts/{id}/ack`, which needs the operator role; a
//!   refusal is shown), the operator's name kept in `localStorage`; shelving with a reason
//!   (`POST /api/alerts/{id}/shelve`) and unshelving.
//! - **Mines** (`#view=mine&mine=ID`): `GET /api/mines/{id}` every 5 s: people per area, methane
//!   per point with its last hour as an SVG sparkline (the `history` of ch4 points), cameras,
//!   meters and active alerts.
//! - **Silences**: `GET /api/silences?state=active` every 30 s; an alert is marked silenced when
//!   the server says so (`"silenced": true`) or an active silence matches it. "Silence…" on an
//!   alert posts `/api/silences`. When the server answers 404 the page shows no silence controls.
//! - **Sound**: a WebAudio beep for each new critical alert that is neither acknowledged nor
//!   silenced, with a mute switch kept in `localStorage`; audio starts at the first click or key.
//! - **KPIs** (`#view=kpis`): `GET /api/kpis` per mine, refreshed every minute.
//! - **Words and time**: kind labels, units, point status words, names beside ids, and every
//!   time as `2026-12-07 16:05:12 +08:00` in the mine's `utc_offset`.
//!
//! All server text reaches the DOM as text (`textContent`, `setAttribute`), never as markup.

use crate::AppState;
use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// One embedded file.
struct Asset {
    /// The path it is served under.
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// One of the page's scripts, `static/NAME` served as `/assets/NAME`.
macro_rules! script {
    ($name:literal) => {
        Asset {
            path: concat!("/assets/", $name),
            content_type: "text/javascript; charset=utf-8",
            body: include_str!(concat!("../static/", $name)),
        }
    };
}

/// The page, as built into the binary (the scripts in the order `index.html` loads them).
const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../static/index.html"),
    },
    Asset {
        path: "/assets/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../static/app.css"),
    },
    script!("words.js"),
    script!("alarms.js"),
    script!("kpis.js"),
    script!("app.js"),
];

/// The routes of the page: `/` and `/assets/{name}`.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(index))
        .routes(routes!(asset))
}

/// The strong ETag of each asset, in the order of [`ASSETS`], computed once.
fn etags() -> &'static [HeaderValue] {
    static TAGS: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.body.as_bytes());
                let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                HeaderValue::from_str(&format!("\"{hex}\""))
                    .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
            })
            .collect()
    })
}

/// `GET /`.
#[utoipa::path(get, path = "/", tag = "ops", security(()),
    responses(
        (status = 200, description = "The operator dashboard", body = String, content_type = "text/html"),
        (status = 304, description = "The browser's copy (`If-None-Match`) is current"),
    ))]
async fn index(headers: HeaderMap) -> Response {
    serve(0, &headers)
}

/// `GET /assets/{name}`.
#[utoipa::path(get, path = "/assets/{name}", tag = "ops", security(()),
    params(("name" = String, Path, description = "app.css or a script of the page")),
    responses(
        (status = 200, description = "The asset", content(
            (String = "text/css"),
            (String = "text/javascript"),
        )),
        (status = 304, description = "The browser's copy (`If-None-Match`) is current"),
        (status = 404, description = "No such asset", body = crate::openapi::ErrorBody),
    ))]
async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS
        .iter()
        .position(|a| a.path.strip_prefix("/assets/") == Some(name.as_str()))
    {
        Some(i) => serve(i, &headers),
        None => crate::ApiError::not_found(format!("no asset {}", serde_json::json!(name)))
            .into_response(),
    }
}

/// The asset `i`, or a 304 when the browser already has this version.
fn serve(i: usize, headers: &HeaderMap) -> Response {
    let (a, tag) = (&ASSETS[i], &etags()[i]);
    let fresh = headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t.as_bytes() == tag.as_bytes());
    let common = [
        // A new binary may bring a new page: always revalidate, never show a stale one.
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (ETAG, tag.clone()),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(CONTENT_TYPE, HeaderValue::from_static(a.content_type))],
        a.body,
    )
        .into_response()
}
