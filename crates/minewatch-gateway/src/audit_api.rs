//! The audit trail of operator actions: [`record`], which every route that changes state calls
//! once its action has succeeded, and `GET /api/audit`, which pages through what was recorded.
//!
//! Each entry holds who was authenticated (the token's name, `anonymous` without tokens), the
//! client's IP address (the TCP peer; a forwarded-for header is not trusted), the time, the action
//! and its target, beside the free-text `by` the operator typed and the request's details.
//!
//! **When it is written.** After the action's own durable write: an ack, a shelving and a status
//! order are stored by the pipeline (through [`Control`](crate::Control)), a silence by the store,
//! and a reload changes only memory. The action is not undone when its audit entry cannot be
//! written: the request then answers 500 with an error that says the action was done and the audit
//! entry is missing (the cause is logged). So no entry records an action that did not happen; an
//! action without an entry is always answered as such to whoever did it.

use crate::AppState;
use crate::access::{Access, Role};
use crate::error::ApiError;
use crate::extract::{MAX_BY, Params};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use minewatch_store::{AuditEntry, AuditQuery};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// An acknowledgement; target: the alert id.
pub(crate) const ACK: &str = "ack";
/// A shelving; target: the alert id.
pub(crate) const SHELVE: &str = "shelve";
/// An alert taken back from the shelf; target: the alert id.
pub(crate) const UNSHELVE: &str = "unshelve";
/// A silence set; target: the silence id.
pub(crate) const SILENCE_SET: &str = "silence_set";
/// A silence ended; target: the silence id.
pub(crate) const SILENCE_END: &str = "silence_end";
/// A regulator's status order; target: the mine id.
pub(crate) const STATUS: &str = "status";
/// A registry reload; no target.
pub(crate) const RELOAD: &str = "reload";

/// Every action recorded, for `?action=`.
const ACTIONS: [&str; 7] = [
    ACK,
    SHELVE,
    UNSHELVE,
    SILENCE_SET,
    SILENCE_END,
    STATUS,
    RELOAD,
];

/// The routes of this module.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// Records that `access` did `action` to `target`, saying they were `by`, with `detail` (a JSON
/// object). Call it only after the action succeeded; `done` says what was done, for the error
/// answered when the entry cannot be written (a 500 stating that the action happened).
pub(crate) async fn record(
    s: &AppState,
    access: &Access,
    action: &'static str,
    target: &str,
    by: &str,
    detail: Value,
    done: &str,
) -> Result<(), ApiError> {
    let entry = AuditEntry {
        id: 0,
        at: Utc::now(),
        action: action.to_owned(),
        target: target.to_owned(),
        token: access.who().to_owned(),
        source: access.source(),
        by: by.to_owned(),
        detail,
    };
    match s.store.record_audit(&entry).await {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::error!(error = %e, action, target, token = %entry.token, source = %entry.source, "audit entry not written; the action was done");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{done}, but its audit entry could not be written (store error)"),
            ))
        }
    }
}

/// `GET /api/audit?before=&limit=&action=&token=&since=`: `{"audit":[…]}`, newest first; page
/// backwards with `before` = the smallest id seen. Admins of every mine only: the entries name
/// alerts, silences and mines of all of them.
#[utoipa::path(get, path = "/api/audit", tag = "admin",
    params(
        ("before" = Option<i64>, Query, description = "Only ids below this one"),
        ("limit" = Option<u32>, Query, description = "1-1000, default 100"),
        ("action" = Option<String>, Query, description = "ack, shelve, unshelve, silence_set, silence_end, status or reload"),
        ("token" = Option<String>, Query, description = "Only actions under this token name"),
        ("since" = Option<String>, Query, description = "At or after this RFC 3339 time"),
    ),
    responses(
        (status = 200, description = "Newest first", body = crate::openapi::AuditList),
        (status = 400, description = "A bad parameter", body = crate::openapi::ErrorBody),
        (status = 403, description = "The token is not an admin of every mine", body = crate::openapi::ErrorBody),
    ))]
async fn list_audit(
    State(s): State<AppState>,
    access: Access,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    access.require(Role::Admin)?;
    access.require_all_mines("the audit trail covers every mine")?;
    params.only(&["before", "limit", "action", "token", "since"])?;
    let query = AuditQuery {
        before_id: params.parse("before", "an audit entry id", |v| {
            v.parse::<i64>().ok().filter(|n| *n > 0)
        })?,
        limit: params.limit()?,
        action: params.parse("action", &ACTIONS.join(", "), |v| {
            ACTIONS.contains(&v).then(|| v.to_owned())
        })?,
        token: params.parse("token", "a token name", |v| {
            (v.chars().count() <= MAX_BY).then(|| v.to_owned())
        })?,
        since: params.parse("since", "an RFC 3339 time", |v| {
            DateTime::parse_from_rfc3339(v)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })?,
    };
    let entries = s
        .store
        .audit(&query)
        .await
        .map_err(|e| ApiError::store("audit", e))?;
    Ok(Json(json!({ "audit": entries })))
}
