//! What `GET /api/alerts` takes beyond its filters: a time range, a subject, a paging cursor, and
//! an answer as CSV for reports (`Accept: text/csv`).

use crate::error::ApiError;
use crate::extract::Params;
use axum::http::header::{ACCEPT, CONTENT_DISPOSITION, CONTENT_TYPE, HeaderMap};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use minewatch_core::{Alert, id};
use minewatch_store::{Cursor, Store};
use serde_json::json;

const TIME: &str = "an RFC 3339 time such as 2026-05-01T06:00:00Z";

/// A time range: from (inclusive), to (exclusive).
pub(crate) type Range = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// `since` and `until` (RFC 3339): alerts started in `[since, until)`.
pub(crate) fn range(params: &Params) -> Result<Range, ApiError> {
    let time = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    let since = params.parse("since", TIME, time)?;
    let until = params.parse("until", TIME, time)?;
    match (since, until) {
        (Some(s), Some(u)) if s >= u => Err(ApiError::bad_request(format!(
            "until: {u} is not after since {s}"
        ))),
        _ => Ok((since, until)),
    }
}

/// `subject`: a point, area, camera or meter id, or the mine's.
pub(crate) fn subject(params: &Params) -> Result<Option<String>, ApiError> {
    params.parse("subject", "an id (1-64 of A-Z a-z 0-9 _ - .)", |s| {
        id::is_valid(s).then(|| s.to_string())
    })
}

/// `before=ID` (the page after that alert: older) or `after=ID` (the page before it: newer), an
/// alert id from a page already read; at most one of them.
pub(crate) async fn cursor(params: &Params, store: &Store) -> Result<Option<Cursor>, ApiError> {
    let expected = "an alert id from a page already read";
    let valid = |s: &str| (!s.is_empty() && s.len() <= id::MAX_ID_LEN).then(|| s.to_string());
    let before = params.parse("before", expected, valid)?;
    let after = params.parse("after", expected, valid)?;
    let (name, id, before) = match (before, after) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "before, after: give one of them, not both".to_string(),
            ));
        }
        (Some(id), None) => ("before", id, true),
        (None, Some(id)) => ("after", id, false),
        (None, None) => return Ok(None),
    };
    let started = store
        .alert_started(&id)
        .await
        .map_err(|e| ApiError::store("alert", e))?
        .ok_or_else(|| ApiError::bad_request(format!("{name}: no alert {}", json!(id))))?;
    Ok(Some(if before {
        Cursor::Before(started, id)
    } else {
        Cursor::After(started, id)
    }))
}

/// Whether the client asked for CSV (`Accept: text/csv`).
pub(crate) fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/csv"))
        })
}

/// The columns of the CSV answer, in order.
pub(crate) const CSV_COLUMNS: [&str; 18] = [
    "id",
    "mine",
    "kind",
    "severity",
    "state",
    "alarm_state",
    "subject",
    "area",
    "value",
    "limit",
    "raised_value",
    "count",
    "started_at",
    "updated_at",
    "resolved_at",
    "acked_by",
    "acked_at",
    "message",
];

/// Alerts as CSV (RFC 4180: CRLF lines, fields quoted when needed), one row per alert under a
/// header row, served as an attachment.
pub(crate) fn csv(alerts: &[Alert]) -> Response {
    let mut out = String::with_capacity(64 + alerts.len() * 256);
    row(&mut out, CSV_COLUMNS.iter().map(|c| c.to_string()));
    for a in alerts {
        let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        let time = |t: Option<&DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
        row(
            &mut out,
            [
                a.id.clone(),
                a.mine.clone(),
                a.kind.as_str().to_string(),
                a.severity.as_str().to_string(),
                a.state.as_str().to_string(),
                a.alarm.alarm_state.as_str().to_string(),
                a.subject.clone(),
                a.area.clone().unwrap_or_default(),
                num(a.value),
                num(a.limit),
                num(a.alarm.raised_value),
                a.alarm.count.to_string(),
                time(Some(&a.started_at)),
                time(Some(&a.updated_at)),
                time(a.resolved_at.as_ref()),
                a.ack.as_ref().map(|k| k.by.clone()).unwrap_or_default(),
                time(a.ack.as_ref().map(|k| &k.at)),
                a.message.clone(),
            ]
            .into_iter(),
        );
    }
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8"),
            (CONTENT_DISPOSITION, "attachment; filename=\"alerts.csv\""),
        ],
        out,
    )
        .into_response()
}

fn row(out: &mut String, fields: impl Iterator<Item = String>) {
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(out, &f);
    }
    out.push_str("\r\n");
}

/// One field: quoted when it holds a comma, quote or line break; a text a spreadsheet would take
/// for a formula (`=`, `+`, `-`, `@` first, then not a number) gets a leading `'` (OWASP's CSV
/// injection advice), since the messages carry mine and point names from registry files.
fn field(out: &mut String, f: &str) {
    let formula = f.starts_with(['=', '+', '-', '@', '\t', '\r']) && f.parse::<f64>().is_err();
    let quote = formula || f.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
        if formula {
            out.push('\'');
        }
        out.push_str(&f.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(f);
    }
}

#[cfg(test)]
mod tests {
    use super::field;

    fn one(f: &str) -> String {
        let mut s = String::new();
        field(&mut s, f);
        s
    }

    #[test]
    fn fields_are_quoted_when_needed_and_formulas_are_defused() {
        assert_eq!(one("plain"), "plain");
        assert_eq!(one("a,b"), "\"a,b\"");
        assert_eq!(one("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(one("two\nlines"), "\"two\nlines\"");
        assert_eq!(one("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(one("-0.5"), "-0.5", "a negative number stays a number");
        assert_eq!(one("@SUM(A1)"), "\"'@SUM(A1)\"");
    }
}
