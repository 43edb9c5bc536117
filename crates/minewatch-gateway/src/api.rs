//! The `/api/…` routes (contract §5). Alerts, events and dead letters are read from the store,
//! which is authoritative; mines from the [`LiveView`](minewatch_core::live::LiveView). Anything
//! that changes state goes to the pipeline through [`Control`](crate::Control), so the rules
//! engine and the store never disagree.

use crate::AppState;
use crate::access::{Access, Role};
use crate::audit_api::{self, ACK, RELOAD, SHELVE, STATUS, UNSHELVE};
use crate::error::ApiError;
use crate::extract::{JsonBody, MAX_BY, MAX_NOTE, Params, PathId, text_field};
use crate::openapi::{
    AlertDetail, AlertList, DeadLetterList, ErrorBody, EventPage, FloodList, MineDetail, MineList,
    StatusOrder,
};
use axum::Json;
use axum::extract::State;
use minewatch_core::alarm::AlarmState;
use minewatch_core::id;
use minewatch_core::registry::MineStatus;
use minewatch_core::{Alert, AlertState, Kind, Severity};
use minewatch_store::{AlertQuery, DeadLetterQuery, Store, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes under `/api`.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_alerts))
        .routes(routes!(get_alert))
        .routes(routes!(ack_alert))
        .routes(routes!(shelve_alert))
        .routes(routes!(unshelve_alert))
        .routes(routes!(list_floods))
        .routes(routes!(list_events))
        .routes(routes!(list_mines))
        .routes(routes!(get_mine))
        .routes(routes!(set_status))
        .routes(routes!(list_dead_letters))
        .routes(routes!(crate::kpis::kpis))
        .routes(routes!(reload))
}

const SEVERITIES: &str = "critical, major, warning or info";

/// The alarm states an operator still has to see.
const OPEN: [AlarmState; 3] = [
    AlarmState::ActiveUnacked,
    AlarmState::ActiveAcked,
    AlarmState::ClearedUnacked,
];

/// `GET /api/alerts?state=open|active|cleared|resolved|all&mine=&kind=&severity=&limit=`: newest
/// first. `state` defaults to `open`: the active alerts and the cleared ones still waiting for an
/// acknowledgement (ISA-18.2), each with its `alarm_state`. `severity` is a minimum, as on `/ws`.
#[utoipa::path(get, path = "/api/alerts", tag = "alerts",
    params(
        ("state" = Option<String>, Query, description = "open (default: active, and cleared still unacknowledged), active, cleared, resolved or all"),
        ("mine" = Option<String>, Query, description = "Only this mine"),
        ("kind" = Option<minewatch_core::Kind>, Query, description = "Only this kind"),
        ("severity" = Option<Severity>, Query, description = "At least this severity"),
        ("subject" = Option<String>, Query, description = "Only this subject (point, area, tag, camera…)"),
        ("since" = Option<String>, Query, description = "Started at or after this RFC 3339 time"),
        ("until" = Option<String>, Query, description = "Started before this RFC 3339 time"),
        ("before" = Option<String>, Query, description = "Cursor: alerts older than this alert id (the last of a page)"),
        ("after" = Option<String>, Query, description = "Cursor: alerts newer than this alert id (the first of a page)"),
        ("limit" = Option<u32>, Query, description = "1-1000, default 100"),
    ),
    responses(
        (status = 200, description = "Newest first; with `Accept: text/csv`, the same alerts as CSV", content(
            (AlertList = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A bad parameter", body = ErrorBody),
    ))]
async fn list_alerts(
    State(s): State<AppState>,
    access: Access,
    headers: axum::http::HeaderMap,
    params: Params,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    params.only(&[
        "state", "mine", "kind", "severity", "subject", "since", "until", "before", "after",
        "limit",
    ])?;
    let (state, alarm) = params
        .parse("state", "open, active, cleared, resolved or all", |s| {
            Some(match s {
                "open" => (None, OPEN.to_vec()),
                "active" => (Some(AlertState::Active), Vec::new()),
                "cleared" => (None, vec![AlarmState::ClearedUnacked]),
                "resolved" => (Some(AlertState::Resolved), Vec::new()),
                "all" => (None, Vec::new()),
                _ => return None,
            })
        })?
        .unwrap_or((None, OPEN.to_vec()));
    let min_severity = params.parse("severity", SEVERITIES, Severity::parse)?;
    let (since, until) = crate::listing::range(&params)?;
    let mut query = AlertQuery {
        state,
        alarm,
        mine: params.mine("mine")?,
        mines: None,
        kind: params.parse("kind", &crate::kinds::expected(), Kind::parse)?,
        severity: None,
        subject: crate::listing::subject(&params)?,
        since,
        until,
        cursor: crate::listing::cursor(&params, &s.store).await?,
        limit: params.limit()?,
    };
    let csv = crate::listing::wants_csv(&headers);
    let alerts = match &query.mine {
        Some(mine) if !access.sees(mine) => Vec::new(),
        _ => {
            if query.mine.is_none() {
                query.mines = access.mines().map(<[String]>::to_vec);
            }
            alerts_at_least(&s.store, query, min_severity)
                .await
                .map_err(|e| ApiError::store("alerts", e))?
        }
    };
    if csv {
        return Ok(crate::listing::csv(&alerts));
    }
    let alerts = crate::notify_api::silenced_alerts(&s.store, &alerts).await?;
    Ok(Json(json!({ "alerts": alerts })).into_response())
}

/// Alerts of `query` at or above `min`. The store filters on one severity, so this asks once per
/// severity at or above and merges the answers in the store's order (newest first, then id
/// descending): the first `limit` of the union are among the first `limit` of each.
async fn alerts_at_least(
    store: &Store,
    query: AlertQuery,
    min: Option<Severity>,
) -> Result<Vec<Alert>, StoreError> {
    let Some(min) = min.filter(|&min| min > Severity::Info) else {
        return store.alerts(&query).await;
    };
    let mut alerts = Vec::new();
    for severity in Severity::ALL.into_iter().filter(|&s| s >= min) {
        alerts.extend(
            store
                .alerts(&AlertQuery {
                    severity: Some(severity),
                    ..query.clone()
                })
                .await?,
        );
    }
    alerts.sort_by(|a, b| {
        b.started_at
            .cmp(&a.started_at)
            .then_with(|| b.id.cmp(&a.id))
    });
    // A page after the cursor (newer) is the one next to it: the last `limit` of the union.
    let limit = query.limit as usize;
    if matches!(query.cursor, Some(minewatch_store::Cursor::After(..))) && alerts.len() > limit {
        alerts.drain(..alerts.len() - limit);
    }
    alerts.truncate(limit);
    Ok(alerts)
}

/// An alert the caller may see, with its events; 404 otherwise.
async fn visible_alert(
    s: &AppState,
    access: &Access,
    id: &str,
) -> Result<(Alert, Vec<minewatch_core::Event>), ApiError> {
    let not_found = || ApiError::not_found(format!("no alert {}", json!(id)));
    if id.is_empty() || id.len() > id::MAX_ID_LEN {
        return Err(not_found());
    }
    match s
        .store
        .alert(id)
        .await
        .map_err(|e| ApiError::store("alert", e))?
    {
        Some((alert, events)) if access.sees(&alert.mine) => Ok((alert, events)),
        _ => Err(not_found()),
    }
}

/// `GET /api/alerts/{id}`: `{"alert":{…},"events":[…]}`.
#[utoipa::path(get, path = "/api/alerts/{id}", tag = "alerts",
    params(("id" = String, Path, description = "The alert id")),
    responses(
        (status = 200, description = "The alert with its events", body = AlertDetail),
        (status = 404, description = "No such alert the caller may see", body = ErrorBody),
    ))]
async fn get_alert(
    State(s): State<AppState>,
    access: Access,
    PathId(id): PathId,
) -> Result<Json<Value>, ApiError> {
    let (alert, events) = visible_alert(&s, &access, &id).await?;
    let alert = crate::notify_api::silenced_alerts(&s.store, std::slice::from_ref(&alert)).await?;
    Ok(Json(json!({ "alert": alert.first(), "events": events })))
}

/// The body of an ack.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AckBody {
    by: String,
    #[serde(default)]
    note: String,
}

/// The body of a shelving.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ShelveBody {
    by: String,
    reason: String,
    /// How long, as a duration (`"30m"`).
    r#for: String,
}

/// `POST /api/alerts/{id}/ack` `{"by":"…","note":"…"}`: the alert after the ack.
#[utoipa::path(post, path = "/api/alerts/{id}/ack", tag = "alerts",
    params(("id" = String, Path, description = "The alert id")),
    request_body = AckBody,
    responses(
        (status = 200, description = "The alert after the ack", body = Alert),
        (status = 400, description = "A bad body", body = ErrorBody),
        (status = 403, description = "The token is not an operator's", body = ErrorBody),
        (status = 404, description = "No such alert the caller may see", body = ErrorBody),
        (status = 409, description = "Nothing to acknowledge", body = ErrorBody),
    ))]
async fn ack_alert(
    State(s): State<AppState>,
    access: Access,
    PathId(id): PathId,
    JsonBody(body): JsonBody<AckBody>,
) -> Result<Json<Alert>, ApiError> {
    access.require(Role::Operator)?;
    let by = text_field("by", &body.by, MAX_BY, true)?;
    let note = text_field("note", &body.note, MAX_NOTE, false)?;
    // The store tells whether the caller may see the alert's mine before anything changes.
    visible_alert(&s, &access, &id).await?;
    let alert = s.control.ack(id, by.clone(), note.clone()).await?;
    tracing::info!(alert = %alert.id, %by, token = access.who(), "alert acknowledged");
    let detail = json!({ "mine": alert.mine, "note": note });
    let done = format!("alert {} was acknowledged", alert.id);
    audit_api::record(&s, &access, ACK, &alert.id, &by, detail, &done).await?;
    Ok(Json(alert))
}

/// `POST /api/alerts/{id}/shelve` `{"by":"…","reason":"…","for":"30m"}`: hides one active or
/// cleared alert from the open list and from notifications until the time runs out (at most
/// `alarms.shelve_max`); it returns by itself. Operators only; `reason` is required.
#[utoipa::path(post, path = "/api/alerts/{id}/shelve", tag = "alerts",
    params(("id" = String, Path, description = "The alert id")),
    request_body = ShelveBody,
    responses(
        (status = 200, description = "The alert, shelved", body = Alert),
        (status = 400, description = "A bad body", body = ErrorBody),
        (status = 403, description = "The token is not an operator's", body = ErrorBody),
        (status = 404, description = "No such alert the caller may see", body = ErrorBody),
        (status = 409, description = "The alert cannot be shelved now", body = ErrorBody),
    ))]
async fn shelve_alert(
    State(s): State<AppState>,
    access: Access,
    PathId(id): PathId,
    JsonBody(body): JsonBody<ShelveBody>,
) -> Result<Json<Alert>, ApiError> {
    access.require(Role::Operator)?;
    let by = text_field("by", &body.by, MAX_BY, true)?;
    let reason = text_field("reason", &body.reason, MAX_NOTE, true)?;
    let span = minewatch_core::time::parse_duration(&body.r#for)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "\"for\" must be a duration such as \"30m\" or \"2h\", not {:?}",
                body.r#for
            ))
        })?;
    let until = minewatch_core::time::now_millis()
        .saturating_add(i64::try_from(span.as_millis()).unwrap_or(i64::MAX));
    visible_alert(&s, &access, &id).await?;
    let alert = s
        .control
        .shelve(id, by.clone(), Some((reason.clone(), until)))
        .await?;
    tracing::info!(alert = %alert.id, %by, token = access.who(), "alert shelved");
    let until = chrono::DateTime::from_timestamp_millis(until).map(|t| t.to_rfc3339());
    let detail = json!({ "mine": alert.mine, "reason": reason, "for": body.r#for, "until": until });
    let done = format!("alert {} was shelved", alert.id);
    audit_api::record(&s, &access, SHELVE, &alert.id, &by, detail, &done).await?;
    Ok(Json(alert))
}

/// `POST /api/alerts/{id}/unshelve` `{"by":"…"}`: takes a shelved alert back before its time.
#[utoipa::path(post, path = "/api/alerts/{id}/unshelve", tag = "alerts",
    params(("id" = String, Path, description = "The alert id")),
    request_body(content = AckBody, description = "`by` (a `note` is accepted and ignored)"),
    responses(
        (status = 200, description = "The alert, back from the shelf", body = Alert),
        (status = 400, description = "A bad body", body = ErrorBody),
        (status = 403, description = "The token is not an operator's", body = ErrorBody),
        (status = 404, description = "No such alert the caller may see", body = ErrorBody),
        (status = 409, description = "The alert is not shelved", body = ErrorBody),
    ))]
async fn unshelve_alert(
    State(s): State<AppState>,
    access: Access,
    PathId(id): PathId,
    JsonBody(body): JsonBody<AckBody>,
) -> Result<Json<Alert>, ApiError> {
    access.require(Role::Operator)?;
    let by = text_field("by", &body.by, MAX_BY, true)?;
    visible_alert(&s, &access, &id).await?;
    let alert = s.control.shelve(id, by.clone(), None).await?;
    tracing::info!(alert = %alert.id, %by, token = access.who(), "alert unshelved");
    let detail = json!({ "mine": alert.mine });
    let done = format!("alert {} was taken back from the shelf", alert.id);
    audit_api::record(&s, &access, UNSHELVE, &alert.id, &by, detail, &done).await?;
    Ok(Json(alert))
}

/// `GET /api/floods`: `{"floods":{"MINE":{"since","count","peak"}}}`, the mines the caller sees
/// that are in an alarm flood now (more than `alarms.flood_count` new alerts within
/// `alarms.flood_window`).
#[utoipa::path(get, path = "/api/floods", tag = "alerts",
    responses((status = 200, description = "The mines in flood now", body = FloodList)))]
async fn list_floods(State(s): State<AppState>, access: Access) -> Json<Value> {
    let floods: serde_json::Map<String, Value> = s
        .live
        .floods
        .iter()
        .filter(|f| access.sees(f.key()))
        .map(|f| (f.key().clone(), json!(f.value())))
        .collect();
    Json(json!({ "floods": floods }))
}

/// `GET /api/events?after=SEQ&limit=`: `{"events":[…],"next_after":N,"last_seq":N}`, ascending
/// from `after`. A caller limited to some mines gets only their events, so a page can be shorter
/// than `limit`, even empty, although more follow: the next page starts after `next_after`, the
/// last seq this page looked at.
#[utoipa::path(get, path = "/api/events", tag = "alerts",
    params(
        ("after" = Option<u64>, Query, description = "Events after this seq (default 0)"),
        ("limit" = Option<u32>, Query, description = "1-1000, default 100"),
    ),
    responses(
        (status = 200, description = "Ascending from `after`", body = EventPage),
        (status = 400, description = "A bad parameter", body = ErrorBody),
    ))]
async fn list_events(
    State(s): State<AppState>,
    access: Access,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    params.only(&["after", "limit"])?;
    let after = params
        .parse("after", "a seq number", |s| s.parse::<u64>().ok())?
        .unwrap_or(0);
    let limit = params.limit()?;
    let mut events = s
        .store
        .events_after(after, limit)
        .await
        .map_err(|e| ApiError::store("events", e))?;
    let next_after = events.last().map_or(after, |e| e.seq);
    events.retain(|e| access.sees(&e.alert.mine));
    // Read after the page, so that `last_seq` is never below a seq in it.
    let last_seq = s
        .store
        .last_seq()
        .await
        .map_err(|e| ApiError::store("last seq", e))?;
    Ok(Json(
        json!({ "events": events, "next_after": next_after, "last_seq": last_seq }),
    ))
}

/// `GET /api/mines`: `{"mines":[summary…]}`, sorted by id.
#[utoipa::path(get, path = "/api/mines", tag = "mines",
    responses((status = 200, description = "The mines the caller sees, by id", body = MineList)))]
async fn list_mines(State(s): State<AppState>, access: Access) -> Json<Value> {
    let mut active: HashMap<String, usize> = HashMap::new();
    for a in s.live.alerts.iter() {
        *active.entry(a.mine.clone()).or_default() += 1;
    }
    let mut mines: Vec<(Arc<str>, Value)> = s
        .live
        .mines
        .iter()
        .filter(|m| access.sees(m.key()))
        .map(|m| {
            (
                m.key().clone(),
                m.summary(active.get(&**m.key()).copied().unwrap_or(0)),
            )
        })
        .collect();
    mines.sort_by(|a, b| a.0.cmp(&b.0));
    Json(json!({ "mines": mines.into_iter().map(|(_, v)| v).collect::<Vec<_>>() }))
}

/// `GET /api/mines/{id}`: the mine's whole live picture with its active alerts.
#[utoipa::path(get, path = "/api/mines/{id}", tag = "mines",
    params(("id" = String, Path, description = "The mine id")),
    responses(
        (status = 200, description = "The mine's live picture", body = MineDetail),
        (status = 404, description = "No such mine the caller may see", body = ErrorBody),
    ))]
async fn get_mine(
    State(s): State<AppState>,
    access: Access,
    PathId(id): PathId,
) -> Result<Json<Value>, ApiError> {
    let not_found = || ApiError::not_found(format!("no mine {}", json!(id)));
    if !access.sees(&id) {
        return Err(not_found());
    }
    // Collected before the mine's entry is read, so no two dashmap guards are held at once.
    let alerts = s.live.active_alerts(|a| a.mine == id);
    let detail = s.live.mines.get(id.as_str()).map(|m| m.detail(alerts));
    let mut detail = detail.ok_or_else(not_found)?;
    if let Some(alerts) = detail.get_mut("active_alerts") {
        crate::notify_api::mark_silenced(&s.store, alerts).await?;
    }
    Ok(Json(detail))
}

/// The body of a status order.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: MineStatus,
    /// Who gave the order; the caller's name when absent.
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    note: String,
}

/// `PUT /api/mines/{id}/status` `{"status":"suspended","by":"…","note":"…"}`: a regulator's order.
#[utoipa::path(put, path = "/api/mines/{id}/status", tag = "mines",
    params(("id" = String, Path, description = "The mine id")),
    request_body = StatusBody,
    responses(
        (status = 200, description = "The order, stored and in force", body = StatusOrder),
        (status = 400, description = "A bad id or body", body = ErrorBody),
        (status = 403, description = "The token is not an admin's", body = ErrorBody),
        (status = 404, description = "No such mine the caller may see", body = ErrorBody),
    ))]
async fn set_status(
    State(s): State<AppState>,
    access: Access,
    PathId(mine): PathId,
    JsonBody(body): JsonBody<StatusBody>,
) -> Result<Json<Value>, ApiError> {
    access.require(Role::Admin)?;
    if !id::is_valid(&mine) {
        return Err(ApiError::bad_request(format!(
            "id: invalid mine id {}",
            json!(mine)
        )));
    }
    if !access.sees(&mine) {
        return Err(ApiError::not_found(format!("no mine {}", json!(mine))));
    }
    let by = text_field(
        "by",
        body.by.as_deref().unwrap_or(access.who()),
        MAX_BY,
        true,
    )?;
    let note = text_field("note", &body.note, MAX_NOTE, false)?;
    s.control
        .set_status(mine.clone(), body.status, by.clone(), note.clone())
        .await?;
    tracing::info!(%mine, status = body.status.as_str(), %by, token = access.who(), "mine status order recorded");
    let detail = json!({ "status": body.status, "note": note });
    let done = format!("the status order for mine {mine} was recorded");
    audit_api::record(&s, &access, STATUS, &mine, &by, detail, &done).await?;
    Ok(Json(
        json!({ "mine": mine, "status": body.status, "by": by, "note": note }),
    ))
}

/// `GET /api/dead-letters?mine=&before=&limit=`: `{"dead_letters":[…]}`, newest first; page
/// backwards with `before` = the smallest id seen.
#[utoipa::path(get, path = "/api/dead-letters", tag = "admin",
    params(
        ("mine" = Option<String>, Query, description = "Only this mine"),
        ("before" = Option<i64>, Query, description = "Only ids below this one"),
        ("limit" = Option<u32>, Query, description = "1-1000, default 100"),
    ),
    responses(
        (status = 200, description = "Newest first", body = DeadLetterList),
        (status = 400, description = "A bad parameter", body = ErrorBody),
    ))]
async fn list_dead_letters(
    State(s): State<AppState>,
    access: Access,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    params.only(&["mine", "before", "limit"])?;
    let mut query = DeadLetterQuery {
        mine: params.mine("mine")?,
        mines: None,
        before_id: params.parse("before", "a dead-letter id", |s| {
            s.parse::<i64>().ok().filter(|n| *n > 0)
        })?,
        limit: params.limit()?,
    };
    match &query.mine {
        Some(mine) if !access.sees(mine) => return Ok(Json(json!({ "dead_letters": [] }))),
        Some(_) => {}
        None => query.mines = access.mines().map(<[String]>::to_vec),
    }
    let letters = s
        .store
        .dead_letters(&query)
        .await
        .map_err(|e| ApiError::store("dead letters", e))?;
    Ok(Json(json!({ "dead_letters": letters })))
}

/// `POST /api/admin/reload`: the report; still 200 when some files failed, which it lists (their
/// old definitions were kept). A reload changes every mine, so it needs an admin of all mines.
#[utoipa::path(post, path = "/api/admin/reload", tag = "admin",
    responses(
        (status = 200, description = "What was reloaded, and what failed (kept as it was)", body = crate::ReloadReport),
        (status = 403, description = "The token is not an admin of every mine", body = ErrorBody),
    ))]
async fn reload(
    State(s): State<AppState>,
    access: Access,
) -> Result<Json<crate::ReloadReport>, ApiError> {
    access.require(Role::Admin)?;
    access.require_all_mines("reloading the registry changes every mine")?;
    let report = s.control.reload().await?;
    tracing::info!(
        mines = report.mines,
        changed = report.changed.len(),
        errors = report.errors.len(),
        token = access.who(),
        "registry reloaded"
    );
    let detail = json!({
        "mines": report.mines,
        "changed": report.changed,
        "errors": report.errors.len(),
    });
    // A reload has no `by` field: the token is all there is to say who did it.
    let done = "the registry was reloaded";
    audit_api::record(&s, &access, RELOAD, "", "", detail, done).await?;
    Ok(Json(report))
}
