//! The audit trail: one row per operator action that succeeded (an ack, a shelving, a silence set
//! or ended, a status order, a registry reload), with who was authenticated (`token`), where the
//! request came from (`source`), when (`at`), and the free-text `by` the operator typed beside it.
//! Rows are only ever added; [`Store::audit`] pages through them newest first by id.

use crate::codec::{parse_time, time_text};
use crate::model::effective_limit;
use crate::pool::{Where, bind_params, on_pool};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// One operator action, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// 0 when new; assigned by the store, increasing with insertion order.
    pub id: i64,
    /// When the action was done (wall clock).
    pub at: DateTime<Utc>,
    /// What was done: `ack`, `shelve`, `unshelve`, `silence_set`, `silence_end`, `status`,
    /// `reload`.
    pub action: String,
    /// What it was done to: an alert id, a mine id, a silence id; empty for a reload.
    pub target: String,
    /// Who was authenticated: the token's name, or `anonymous` when no tokens are configured.
    pub token: String,
    /// The client's IP address as the server saw it (a proxy's, behind one).
    pub source: String,
    /// The free-text `by` of the request: who the operator said they were.
    pub by: String,
    /// The rest of the request that matters (a note, a reason, a status), as a JSON object.
    pub detail: Value,
}

/// Filters and paging for [`Store::audit`].
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only ids below this one: pass the smallest id of a page to get the next (older) page.
    pub before_id: Option<i64>,
    /// At most this many; 0 means [`DEFAULT_LIMIT`](crate::DEFAULT_LIMIT), capped at
    /// [`MAX_LIMIT`](crate::MAX_LIMIT).
    pub limit: u32,
    /// Only this action.
    pub action: Option<String>,
    /// Only actions of this token.
    pub token: Option<String>,
    /// Only actions at or after this instant.
    pub since: Option<DateTime<Utc>>,
}

/// An audit row, in column order.
type AuditRow = (i64, String, String, String, String, String, String, String);

impl Store {
    /// Records an operator action; returns it with its id.
    pub async fn record_audit(&self, entry: &AuditEntry) -> Result<AuditEntry, StoreError> {
        let detail = serde_json::to_string(&entry.detail)?;
        let id: i64 = on_pool!(&self.pool, |p| {
            sqlx::query_scalar(
                "INSERT INTO audit (at, action, target, token, source, by_text, detail)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(time_text(&entry.at))
            .bind(no_nul(&entry.action))
            .bind(no_nul(&entry.target))
            .bind(no_nul(&entry.token))
            .bind(no_nul(&entry.source))
            .bind(no_nul(&entry.by))
            .bind(no_nul(&detail))
            .fetch_one(p)
            .await?
        });
        Ok(AuditEntry {
            id,
            ..entry.clone()
        })
    }

    /// Audit entries matching `q`, newest first (by id).
    pub async fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let mut w = Where::default();
        if let Some(action) = &q.action {
            w.eq("action", action.clone());
        }
        if let Some(token) = &q.token {
            w.eq("token", token.clone());
        }
        if let Some(since) = &q.since {
            let p = w.param(time_text(since));
            w.clauses.push(format!("at >= {p}"));
        }
        if let Some(before) = q.before_id {
            let p = w.param(before);
            w.clauses.push(format!("id < {p}"));
        }
        let limit = w.param(effective_limit(q.limit));
        let sql = format!(
            "SELECT id, at, action, target, token, source, by_text, detail
             FROM audit{} ORDER BY id DESC LIMIT {limit}",
            w.clause()
        );
        let rows: Vec<AuditRow> = on_pool!(&self.pool, |p| {
            bind_params!(sqlx::query_as(&sql), w).fetch_all(p).await?
        });
        rows.into_iter().map(decode_audit).collect()
    }
}

/// `s` without NUL characters, which PostgreSQL text cannot hold.
fn no_nul(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

/// Reads an audit row back.
fn decode_audit(row: AuditRow) -> Result<AuditEntry, StoreError> {
    let (id, at, action, target, token, source, by, detail) = row;
    Ok(AuditEntry {
        id,
        at: parse_time(&at)?,
        action,
        target,
        token,
        source,
        by,
        detail: serde_json::from_str(&detail)?,
    })
}
