//! What on-call notifications keep: operators' silences, the outcome of each delivery to a sink,
//! and each sink's cursor in the event log (an `engine_state` row under [`cursor_key`]).
//!
//! A sink advances its cursor past an event only together with the record of what became of it
//! ([`Store::advance_sink`], one transaction), so after a restart it resumes exactly where it left
//! off: the event log is the outbox.

use crate::codec::{parse_time, seq_from_sql, seq_to_sql, time_text};
use crate::model::effective_limit;
use crate::pool::{Where, bind_params, on_pool, write_tx};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use minewatch_core::{Alert, Kind};
use serde::Serialize;

/// The `engine_state` key of a sink's cursor: the last seq it is done with.
pub fn cursor_key(sink: &str) -> String {
    format!("notify/cursor/{sink}")
}

/// An operator's silence: notifications of the alerts it covers are held back from sinks while it
/// is in effect (`starts_at <= t < ends_at`). The alerts are still recorded and shown, marked
/// silenced.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Silence {
    /// 0 when new; assigned by the store, increasing with creation order.
    pub id: i64,
    /// The mine silenced.
    pub mine: String,
    /// Only this kind; `None` = any.
    pub kind: Option<Kind>,
    /// Only this subject (point, tag, camera…); `None` = any.
    pub subject: Option<String>,
    /// In effect from this instant…
    pub starts_at: DateTime<Utc>,
    /// …until this one (exclusive); moved earlier when the silence is ended early.
    pub ends_at: DateTime<Utc>,
    /// Why: the work order, the maintenance window.
    pub reason: String,
    /// Who set it.
    pub by: String,
    /// When it was set (wall clock).
    pub created_at: DateTime<Utc>,
    /// Who ended it early; `None` while it runs its course.
    pub ended_by: Option<String>,
}

impl Silence {
    /// Whether the silence is in effect at `at`.
    pub fn in_effect(&self, at: DateTime<Utc>) -> bool {
        self.starts_at <= at && at < self.ends_at
    }

    /// Whether it covers an alert of this mine, kind and subject (at any time).
    pub fn matches(&self, mine: &str, kind: Kind, subject: &str) -> bool {
        self.mine == mine
            && self.kind.is_none_or(|k| k == kind)
            && self.subject.as_deref().is_none_or(|s| s == subject)
    }

    /// Whether it silences `alert` at `at`.
    pub fn silences(&self, alert: &Alert, at: DateTime<Utc>) -> bool {
        self.in_effect(at) && self.matches(&alert.mine, alert.kind, &alert.subject)
    }
}

/// Whether any of `silences` silences `alert` at `at`.
pub fn is_silenced(silences: &[Silence], alert: &Alert, at: DateTime<Utc>) -> bool {
    silences.iter().any(|s| s.silences(alert, at))
}

/// Filters for [`Store::silences`].
#[derive(Debug, Clone, Default)]
pub struct SilenceQuery {
    /// Only silences ending after this instant (`ends_at > t`): with the wall clock, those in
    /// effect or still to come. `None` = every silence ever set.
    pub ending_after: Option<DateTime<Utc>>,
    /// Restrict to these mines (what a token may see); `None` = any, `Some(vec![])` = none.
    pub mines: Option<Vec<String>>,
    /// At most this many, newest first; 0 means [`DEFAULT_LIMIT`](crate::DEFAULT_LIMIT).
    pub limit: u32,
}

/// What became of notifying one sink of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// The sink accepted it.
    Delivered,
    /// Given up: refused for good, or still failing once the event was older than the sink's
    /// `give_up_after`.
    Failed,
}

impl DeliveryState {
    /// As stored and written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    /// Parses a stored state.
    pub fn parse(s: &str) -> Option<DeliveryState> {
        match s {
            "delivered" => Some(DeliveryState::Delivered),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        }
    }
}

/// One delivery record.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// 0 when new; assigned by the store.
    pub id: i64,
    /// The sink's configured name.
    pub sink: String,
    /// The event's seq.
    pub seq: u64,
    /// The event's type (`raised`, `updated`, `resolved`, `acked`, or `renotify`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The alert's mine.
    pub mine: String,
    /// The alert's id.
    pub alert_id: String,
    /// What became of it.
    pub state: DeliveryState,
    /// HTTP attempts made.
    pub attempts: u32,
    /// Wall clock of the first attempt.
    pub first_attempt_at: DateTime<Utc>,
    /// Wall clock of the last attempt.
    pub last_attempt_at: DateTime<Utc>,
    /// Why the last attempt failed; `None` when delivered at the first attempt.
    pub error: Option<String>,
}

/// Filters for [`Store::deliveries`].
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    /// Only this state; `None` = any.
    pub state: Option<DeliveryState>,
    /// Only this sink.
    pub sink: Option<String>,
    /// Restrict to these mines (what a token may see); `None` = any, `Some(vec![])` = none.
    pub mines: Option<Vec<String>>,
    /// At most this many, newest first; 0 means [`DEFAULT_LIMIT`](crate::DEFAULT_LIMIT).
    pub limit: u32,
}

/// A silence row, in column order.
type SilenceRow = (
    i64,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
);

/// The columns of [`SilenceRow`].
const SILENCE_COLUMNS: &str =
    "id, mine, kind, subject, starts_at, ends_at, reason, set_by, created_at, ended_by";

/// A delivery row, in column order.
type DeliveryRow = (
    i64,
    String,
    i64,
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    Option<String>,
);

/// Stores a sink's cursor: `(key, value, updated_at)`.
const UPSERT_CURSOR: &str = "\
INSERT INTO engine_state (key, value, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

impl Store {
    /// Keeps a new silence; returns it with its id.
    pub async fn add_silence(&self, s: &Silence) -> Result<Silence, StoreError> {
        let id: i64 = on_pool!(&self.pool, |p| {
            sqlx::query_scalar(
                "INSERT INTO silences (mine, kind, subject, starts_at, ends_at, reason, set_by,
                                       created_at, ended_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(&s.mine)
            .bind(s.kind.map(Kind::as_str))
            .bind(s.subject.as_deref())
            .bind(time_text(&s.starts_at))
            .bind(time_text(&s.ends_at))
            .bind(no_nul(&s.reason))
            .bind(no_nul(&s.by))
            .bind(time_text(&s.created_at))
            .bind(s.ended_by.as_deref())
            .fetch_one(p)
            .await?
        });
        Ok(Silence { id, ..s.clone() })
    }

    /// Silences matching `q`, newest first (by id).
    pub async fn silences(&self, q: &SilenceQuery) -> Result<Vec<Silence>, StoreError> {
        let mut w = Where::default();
        if let Some(after) = &q.ending_after {
            let p = w.param(time_text(after));
            w.clauses.push(format!("ends_at > {p}"));
        }
        if let Some(mines) = &q.mines {
            if mines.is_empty() {
                return Ok(Vec::new());
            }
            w.any_of("mine", mines);
        }
        let limit = w.param(effective_limit(q.limit));
        let sql = format!(
            "SELECT {SILENCE_COLUMNS} FROM silences{} ORDER BY id DESC LIMIT {limit}",
            w.clause()
        );
        let rows: Vec<SilenceRow> = on_pool!(&self.pool, |p| {
            bind_params!(sqlx::query_as(&sql), w).fetch_all(p).await?
        });
        rows.into_iter().map(decode_silence).collect()
    }

    /// One silence; `None` if unknown.
    pub async fn silence(&self, id: i64) -> Result<Option<Silence>, StoreError> {
        let sql = format!("SELECT {SILENCE_COLUMNS} FROM silences WHERE id = $1");
        let row: Option<SilenceRow> = on_pool!(&self.pool, |p| {
            sqlx::query_as(&sql).bind(id).fetch_optional(p).await?
        });
        row.map(decode_silence).transpose()
    }

    /// Ends a silence at `at` (if it would end later) and records `by` as who ended it. A silence
    /// already over, or already ended by someone, is left as it is. Returns the silence as it now
    /// stands; `None` if unknown.
    pub async fn end_silence(
        &self,
        id: i64,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Silence>, StoreError> {
        let at = time_text(&at);
        on_pool!(&self.pool, |p| {
            sqlx::query(
                "UPDATE silences SET ends_at = $1, ended_by = $2
                 WHERE id = $3 AND ended_by IS NULL AND ends_at > $1",
            )
            .bind(&at)
            .bind(no_nul(by))
            .bind(id)
            .execute(p)
            .await?;
        });
        self.silence(id).await
    }

    /// A sink's cursor: the last seq it is done with; `None` before its first start.
    pub async fn sink_cursor(&self, sink: &str) -> Result<Option<u64>, StoreError> {
        match self.get_state(&cursor_key(sink)).await? {
            None => Ok(None),
            Some(v) => v
                .parse::<u64>()
                .map(Some)
                .map_err(|_| StoreError::Corrupt(format!("sink {sink} cursor {v:?}"))),
        }
    }

    /// Moves a sink's cursor to `seq` and, when given, keeps the record of the delivery that got
    /// it there: one transaction, so a restart neither loses nor repeats what was recorded.
    pub async fn advance_sink(
        &self,
        sink: &str,
        seq: u64,
        delivery: Option<&Delivery>,
    ) -> Result<(), StoreError> {
        let key = cursor_key(sink);
        let now = time_text(&Utc::now());
        let record = delivery
            .map(|d| Ok::<_, StoreError>((d, seq_to_sql(d.seq)?)))
            .transpose()?;
        write_tx!(self, |tx| {
            sqlx::query(UPSERT_CURSOR)
                .bind(&key)
                .bind(seq.to_string())
                .bind(&now)
                .execute(&mut *tx)
                .await?;
            if let Some((d, dseq)) = &record {
                sqlx::query(
                    "INSERT INTO deliveries (sink, seq, type, mine, alert_id, state, attempts,
                                             first_attempt_at, last_attempt_at, error)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&d.sink)
                .bind(*dseq)
                .bind(&d.kind)
                .bind(&d.mine)
                .bind(&d.alert_id)
                .bind(d.state.as_str())
                .bind(i64::from(d.attempts))
                .bind(time_text(&d.first_attempt_at))
                .bind(time_text(&d.last_attempt_at))
                .bind(d.error.as_deref().map(no_nul))
                .execute(&mut *tx)
                .await?;
            }
        });
        Ok(())
    }

    /// Delivery records matching `q`, newest first (by id).
    pub async fn deliveries(&self, q: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError> {
        let mut w = Where::default();
        if let Some(state) = q.state {
            w.eq("state", state.as_str());
        }
        if let Some(sink) = &q.sink {
            w.eq("sink", sink.clone());
        }
        if let Some(mines) = &q.mines {
            if mines.is_empty() {
                return Ok(Vec::new());
            }
            w.any_of("mine", mines);
        }
        let limit = w.param(effective_limit(q.limit));
        let sql = format!(
            "SELECT id, sink, seq, type, mine, alert_id, state, attempts, first_attempt_at,
                    last_attempt_at, error
             FROM deliveries{} ORDER BY id DESC LIMIT {limit}",
            w.clause()
        );
        let rows: Vec<DeliveryRow> = on_pool!(&self.pool, |p| {
            bind_params!(sqlx::query_as(&sql), w).fetch_all(p).await?
        });
        rows.into_iter().map(decode_delivery).collect()
    }

    /// Deletes all but the newest `keep` `delivered` records (failed ones are kept); returns how
    /// many were deleted.
    pub async fn prune_deliveries(&self, keep: u64) -> Result<u64, StoreError> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        Ok(on_pool!(&self.pool, |p| {
            sqlx::query(
                "DELETE FROM deliveries WHERE state = 'delivered' AND id <=
                     (SELECT id FROM deliveries WHERE state = 'delivered'
                      ORDER BY id DESC LIMIT 1 OFFSET $1)",
            )
            .bind(keep)
            .execute(p)
            .await?
            .rows_affected()
        }))
    }
}

/// `s` without NUL characters, which PostgreSQL text cannot hold.
fn no_nul(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

/// Reads a silence row back.
fn decode_silence(row: SilenceRow) -> Result<Silence, StoreError> {
    let (id, mine, kind, subject, starts_at, ends_at, reason, by, created_at, ended_by) = row;
    let kind = kind
        .map(|k| {
            Kind::parse(&k)
                .ok_or_else(|| StoreError::Corrupt(format!("silence {id}: unknown kind {k:?}")))
        })
        .transpose()?;
    Ok(Silence {
        id,
        mine,
        kind,
        subject,
        starts_at: parse_time(&starts_at)?,
        ends_at: parse_time(&ends_at)?,
        reason,
        by,
        created_at: parse_time(&created_at)?,
        ended_by,
    })
}

/// Reads a delivery row back.
fn decode_delivery(row: DeliveryRow) -> Result<Delivery, StoreError> {
    let (id, sink, seq, kind, mine, alert_id, state, attempts, first, last, error) = row;
    Ok(Delivery {
        id,
        sink,
        seq: seq_from_sql(seq)?,
        kind,
        mine,
        alert_id,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery {id}: state {state:?}")))?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        first_attempt_at: parse_time(&first)?,
        last_attempt_at: parse_time(&last)?,
        error,
    })
}
