//! `GET /api/kpis?mine=&since=&flood=`: alarm-system performance per EEMUA 191 / ISA-18.2 over
//! `[since, now]`, per mine the caller sees and over all of them. The store computes the figures
//! ([`Store::kpis`](minewatch_store::Store::kpis)); this checks the parameters and the mines.

use crate::AppState;
use crate::access::Access;
use crate::error::ApiError;
use crate::extract::Params;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, TimeDelta, Utc};
use minewatch_store::{DEFAULT_FLOOD, KpiQuery, Kpis, MAX_KPI_EVENTS};

/// The window when `since` is absent: the last day.
const DEFAULT_WINDOW: TimeDelta = TimeDelta::hours(24);
/// The longest window: a month of events is what one request may read (and at most
/// [`MAX_KPI_EVENTS`] of them).
const MAX_WINDOW: TimeDelta = TimeDelta::days(31);
/// The largest flood threshold accepted.
const MAX_FLOOD: u32 = 10_000;

/// `GET /api/kpis`: the [`Kpis`] of the window. A `mine` the caller does not see gives a report
/// with no mines, as `/api/alerts` gives no alerts.
#[utoipa::path(get, path = "/api/kpis", tag = "alerts",
    params(
        ("mine" = Option<String>, Query, description = "Only this mine"),
        ("since" = Option<String>, Query, description = "Window start, RFC 3339 (default: a day ago; at most 31 days)"),
        ("flood" = Option<u32>, Query, description = "Flood threshold, activations per 10 minutes (1-10000)"),
    ),
    responses(
        (status = 200, description = "The figures of the window", body = Kpis),
        (status = 400, description = "A bad parameter", body = crate::openapi::ErrorBody),
    ))]
pub(crate) async fn kpis(
    State(s): State<AppState>,
    access: Access,
    params: Params,
) -> Result<Json<Kpis>, ApiError> {
    params.only(&["mine", "since", "flood"])?;
    let now = Utc::now();
    let since = since(&params, now)?;
    let flood = params
        .parse("flood", &format!("a number from 1 to {MAX_FLOOD}"), |s| {
            s.parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_FLOOD).contains(n))
        })?
        .unwrap_or(DEFAULT_FLOOD);
    let mines = match params.mine("mine")? {
        Some(mine) if access.sees(&mine) => Some(vec![mine]),
        Some(_) => Some(Vec::new()),
        None => access.mines().map(<[String]>::to_vec),
    };
    let query = KpiQuery {
        mines,
        since,
        until: now,
        flood,
        max_events: MAX_KPI_EVENTS,
    };
    let kpis = s
        .store
        .kpis(&query)
        .await
        .map_err(|e| ApiError::store("kpis", e))?;
    if kpis.capped {
        tracing::warn!(since = %kpis.since, covered_since = %kpis.covered_since, "kpi report capped at {MAX_KPI_EVENTS} events");
    }
    Ok(Json(kpis))
}

/// `since`: an RFC 3339 instant before `now` and at most [`MAX_WINDOW`] before it; a day ago
/// when absent.
fn since(params: &Params, now: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    let Some(since) = params.parse(
        "since",
        "an RFC 3339 time such as 2026-05-01T06:00:00Z",
        |s| DateTime::parse_from_rfc3339(s).ok(),
    )?
    else {
        return Ok(now - DEFAULT_WINDOW);
    };
    let since = since.with_timezone(&Utc);
    if since >= now {
        return Err(ApiError::bad_request(format!(
            "since: {since} is not in the past"
        )));
    }
    if now - since > MAX_WINDOW {
        return Err(ApiError::bad_request(format!(
            "since: {since} is more than {} days ago; the window is at most that long",
            MAX_WINDOW.num_days()
        )));
    }
    Ok(since)
}
