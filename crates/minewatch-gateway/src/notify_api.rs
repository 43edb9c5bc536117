//! On-call notification routes: silences (`/api/silences`) and the record of deliveries to
//! notification sinks (`/api/deliveries`), plus the `silenced` flag the alert routes add to each
//! alert, computed at response time against the silences in effect.

use crate::AppState;
use crate::access::{Access, Role};
use crate::audit_api::{self, SILENCE_END, SILENCE_SET};
use crate::error::ApiError;
use crate::extract::{JsonBody, MAX_BY, MAX_NOTE, Params, PathId, text_field};
use crate::openapi::{DeliveryList, ErrorBody, SilenceList};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use minewatch_core::time::parse_duration;
use minewatch_core::{Alert, Kind, id};
use minewatch_store::{
    DeliveryQuery, DeliveryState, MAX_LIMIT, Silence, SilenceQuery, Store, is_silenced,
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The longest silence accepted.
const MAX_SILENCE_DAYS: i64 = 366;

/// The routes of this module.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_silences, add_silence))
        .routes(routes!(end_silence))
        .routes(routes!(list_deliveries))
}

/// The silences in effect now or later (the ones that can silence an alert now).
async fn current_silences(store: &Store) -> Result<Vec<Silence>, ApiError> {
    store
        .silences(&SilenceQuery {
            ending_after: Some(Utc::now()),
            mines: None,
            limit: MAX_LIMIT,
        })
        .await
        .map_err(|e| ApiError::store("silences", e))
}

/// `alerts` as JSON objects, each with `"silenced": true|false` as of now.
pub(crate) async fn silenced_alerts(
    store: &Store,
    alerts: &[Alert],
) -> Result<Vec<Value>, ApiError> {
    let silences = current_silences(store).await?;
    let now = Utc::now();
    Ok(alerts
        .iter()
        .map(|a| {
            let mut v = json!(a);
            if let Some(o) = v.as_object_mut() {
                o.insert("silenced".into(), json!(is_silenced(&silences, a, now)));
            }
            v
        })
        .collect())
}

/// Adds `"silenced"` to each alert object of a JSON array (the live view's alerts).
pub(crate) async fn mark_silenced(store: &Store, alerts: &mut Value) -> Result<(), ApiError> {
    let Some(list) = alerts.as_array_mut() else {
        return Ok(());
    };
    if list.is_empty() {
        return Ok(());
    }
    let silences = current_silences(store).await?;
    let now = Utc::now();
    for a in list.iter_mut().filter_map(Value::as_object_mut) {
        let field = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or_default();
        let silenced = Kind::parse(field("kind")).is_some_and(|kind| {
            silences
                .iter()
                .any(|s| s.in_effect(now) && s.matches(field("mine"), kind, field("subject")))
        });
        a.insert("silenced".into(), json!(silenced));
    }
    Ok(())
}

/// `GET /api/silences?state=active|all&mine=&limit=`: `{"silences":[…]}`, newest first.
/// `active` (the default) lists silences in effect or still to come; `all` also those over.
#[utoipa::path(get, path = "/api/silences", tag = "notify",
    params(
        ("state" = Option<String>, Query, description = "active (default: in effect or still to come) or all"),
        ("mine" = Option<String>, Query, description = "Only this mine"),
        ("limit" = Option<u32>, Query, description = "1-1000, default 100"),
    ),
    responses(
        (status = 200, description = "Newest first", body = SilenceList),
        (status = 400, description = "A bad parameter", body = ErrorBody),
    ))]
async fn list_silences(
    State(s): State<AppState>,
    access: Access,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    params.only(&["state", "mine", "limit"])?;
    let active = params
        .parse("state", "active or all", |v| match v {
            "active" => Some(true),
            "all" => Some(false),
            _ => None,
        })?
        .unwrap_or(true);
    let mines = match params.mine("mine")? {
        Some(m) if !access.sees(&m) => return Ok(Json(json!({ "silences": [] }))),
        Some(m) => Some(vec![m]),
        None => access.mines().map(<[String]>::to_vec),
    };
    let silences = s
        .store
        .silences(&SilenceQuery {
            ending_after: active.then(Utc::now),
            mines,
            limit: params.limit()?,
        })
        .await
        .map_err(|e| ApiError::store("silences", e))?;
    Ok(Json(json!({ "silences": silences })))
}

/// The body of a new silence: `ends_at` or `duration` (one of them), times in RFC 3339.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SilenceBody {
    mine: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    starts_at: Option<String>,
    #[serde(default)]
    ends_at: Option<String>,
    #[serde(default)]
    duration: Option<String>,
    reason: String,
    /// Who sets it; the caller's name when absent.
    #[serde(default)]
    by: Option<String>,
}

/// An RFC 3339 field of a body.
fn time_field(name: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::bad_request(format!(
                "{name}: invalid value {}, expected RFC 3339 like 2026-11-23T08:00:00+08:00",
                json!(value)
            ))
        })
}

/// `POST /api/silences`: 201 with the silence.
#[utoipa::path(post, path = "/api/silences", tag = "notify",
    request_body = SilenceBody,
    responses(
        (status = 201, description = "The silence, stored", body = Silence),
        (status = 400, description = "A bad body", body = ErrorBody),
        (status = 403, description = "The token is not an operator's", body = ErrorBody),
        (status = 404, description = "No such mine the caller may see", body = ErrorBody),
    ))]
async fn add_silence(
    State(s): State<AppState>,
    access: Access,
    JsonBody(body): JsonBody<SilenceBody>,
) -> Result<(StatusCode, Json<Silence>), ApiError> {
    access.require(Role::Operator)?;
    if !id::is_valid(&body.mine) {
        return Err(ApiError::bad_request(format!(
            "mine: invalid value {}, expected a mine id (1-64 of A-Z a-z 0-9 _ - .)",
            json!(body.mine)
        )));
    }
    // A silence for a mine that is neither registered nor reporting would silence nothing and
    // hide a typo; one the token does not cover is answered alike, as if it did not exist.
    if !access.sees(&body.mine) || !s.live.mines.contains_key(body.mine.as_str()) {
        return Err(ApiError::not_found(format!("no mine {}", json!(body.mine))));
    }
    let kind = match body.kind.as_deref().filter(|k| !k.is_empty()) {
        None => None,
        Some(k) => Some(Kind::parse(k).ok_or_else(|| {
            ApiError::bad_request(format!(
                "kind: invalid value {}, expected {}",
                json!(k),
                crate::kinds::expected()
            ))
        })?),
    };
    let subject = match body.subject.as_deref().filter(|k| !k.is_empty()) {
        None => None,
        Some(v) if id::is_valid(v) => Some(v.to_owned()),
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "subject: invalid value {}, expected an id (1-64 of A-Z a-z 0-9 _ - .)",
                json!(v)
            )));
        }
    };
    let now = Utc::now();
    let starts_at = match body.starts_at.as_deref().filter(|v| !v.is_empty()) {
        None => now,
        Some(v) => time_field("starts_at", v)?,
    };
    let ends_at = match (
        body.ends_at.as_deref().filter(|v| !v.is_empty()),
        body.duration.as_deref().filter(|v| !v.is_empty()),
    ) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "ends_at, duration: give one of the two, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "ends_at, duration: one of the two (like \"2h\") is required",
            ));
        }
        (Some(v), None) => time_field("ends_at", v)?,
        (None, Some(v)) => {
            let d = parse_duration(v)
                .ok()
                .and_then(|d| TimeDelta::from_std(d).ok())
                .filter(|d| *d > TimeDelta::zero() && d.num_days() <= MAX_SILENCE_DAYS)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "duration: invalid value {}, expected e.g. \"30m\", \"2h\", \"3d\" (at most {MAX_SILENCE_DAYS}d)",
                        json!(v)
                    ))
                })?;
            starts_at + d
        }
    };
    if ends_at <= starts_at {
        return Err(ApiError::bad_request("ends_at: must be after starts_at"));
    }
    if ends_at <= now {
        return Err(ApiError::bad_request("ends_at: must be in the future"));
    }
    if ends_at - starts_at > TimeDelta::days(MAX_SILENCE_DAYS) {
        return Err(ApiError::bad_request(format!(
            "ends_at: a silence lasts at most {MAX_SILENCE_DAYS} days"
        )));
    }
    let reason = text_field("reason", &body.reason, MAX_NOTE, true)?;
    let by = text_field(
        "by",
        body.by.as_deref().unwrap_or(access.who()),
        MAX_BY,
        true,
    )?;
    let silence = s
        .store
        .add_silence(&Silence {
            id: 0,
            mine: body.mine,
            kind,
            subject,
            starts_at,
            ends_at,
            reason,
            by,
            created_at: now,
            ended_by: None,
        })
        .await
        .map_err(|e| ApiError::store("add silence", e))?;
    tracing::info!(id = silence.id, mine = %silence.mine, kind = ?silence.kind.map(Kind::as_str), subject = ?silence.subject, until = %silence.ends_at, by = %silence.by, token = access.who(), "silence set");
    let detail = json!({
        "mine": silence.mine,
        "kind": silence.kind,
        "subject": silence.subject,
        "starts_at": silence.starts_at,
        "ends_at": silence.ends_at,
        "reason": silence.reason,
    });
    let target = silence.id.to_string();
    let done = format!("silence {target} was set");
    audit_api::record(
        &s,
        &access,
        SILENCE_SET,
        &target,
        &silence.by,
        detail,
        &done,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(silence)))
}

/// `DELETE /api/silences/{id}?by=`: ends the silence now; answers it as it now stands (still
/// listed with `state=all`, with `ended_by`). `by` defaults to the caller's name.
#[utoipa::path(delete, path = "/api/silences/{id}", tag = "notify",
    params(
        ("id" = i64, Path, description = "The silence id"),
        ("by" = Option<String>, Query, description = "Who ends it (default: the token's name)"),
    ),
    responses(
        (status = 200, description = "The silence as it now stands", body = Silence),
        (status = 403, description = "The token is not an operator's", body = ErrorBody),
        (status = 404, description = "No such silence the caller may see", body = ErrorBody),
    ))]
async fn end_silence(
    State(s): State<AppState>,
    access: Access,
    PathId(raw): PathId,
    params: Params,
) -> Result<Json<Silence>, ApiError> {
    access.require(Role::Operator)?;
    params.only(&["by"])?;
    let not_found = || ApiError::not_found(format!("no silence {}", json!(raw)));
    let sid = raw
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(not_found)?;
    match s.store.silence(sid).await {
        Ok(Some(found)) if access.sees(&found.mine) => {}
        Ok(_) => return Err(not_found()),
        Err(e) => return Err(ApiError::store("silence", e)),
    }
    let by = text_field("by", params.get("by").unwrap_or(access.who()), MAX_BY, true)?;
    let ended = s
        .store
        .end_silence(sid, &by, Utc::now())
        .await
        .map_err(|e| ApiError::store("end silence", e))?
        .ok_or_else(not_found)?;
    tracing::info!(id = sid, %by, token = access.who(), "silence ended");
    // Ending a silence already over or already ended changes nothing; the request is recorded
    // all the same, and `ended_by` in the detail says whose ending stands.
    let detail =
        json!({ "mine": ended.mine, "ends_at": ended.ends_at, "ended_by": ended.ended_by });
    let target = sid.to_string();
    let done = format!("silence {target} was ended");
    audit_api::record(&s, &access, SILENCE_END, &target, &by, detail, &done).await?;
    Ok(Json(ended))
}

/// `GET /api/deliveries?state=failed|all&sink=&mine=&limit=`: `{"deliveries":[…]}`, newest
/// first. `failed` (the default) lists the notifications given up on.
#[utoipa::path(get, path = "/api/deliveries", tag = "notify",
    params(
        ("state" = Option<String>, Query, description = "failed (default), delivered or all"),
        ("sink" = Option<String>, Query, description = "Only this sink"),
        ("mine" = Option<String>, Query, description = "Only this mine"),
        ("limit" = Option<u32>, Query, description = "1-1000, default 100"),
    ),
    responses(
        (status = 200, description = "Newest first", body = DeliveryList),
        (status = 400, description = "A bad parameter", body = ErrorBody),
    ))]
async fn list_deliveries(
    State(s): State<AppState>,
    access: Access,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    params.only(&["state", "sink", "mine", "limit"])?;
    let state = params
        .parse("state", "failed, delivered or all", |v| match v {
            "failed" => Some(Some(DeliveryState::Failed)),
            "delivered" => Some(Some(DeliveryState::Delivered)),
            "all" => Some(None),
            _ => None,
        })?
        .unwrap_or(Some(DeliveryState::Failed));
    let sink = params.parse("sink", "a sink name", |v| {
        id::is_valid(v).then(|| v.to_owned())
    })?;
    let mines = match params.mine("mine")? {
        Some(m) if !access.sees(&m) => return Ok(Json(json!({ "deliveries": [] }))),
        Some(m) => Some(vec![m]),
        None => access.mines().map(<[String]>::to_vec),
    };
    let deliveries = s
        .store
        .deliveries(&DeliveryQuery {
            state,
            sink,
            mines,
            limit: params.limit()?,
        })
        .await
        .map_err(|e| ApiError::store("deliveries", e))?;
    Ok(Json(json!({ "deliveries": deliveries })))
}
