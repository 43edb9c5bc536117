//! [`Store`]: opening the database, the alert writer's transactional [`Store::commit`], and the
//! reads behind the HTTP API, the WebSocket catch-up and the engine's restart.

use crate::codec::{now_text, parse_time, seq_from_sql, seq_to_sql, time_text};
use crate::model::effective_limit;
use crate::pool::{Pool, Where, bind_params, on_pool, write_tx};
use crate::{
    AlertQuery, Cursor, DeadLetter, DeadLetterQuery, StatusOrder, StoreError, WriteBatch, migrate,
};
use chrono::{DateTime, Utc};
use minewatch_core::alarm::AlarmState;
use minewatch_core::registry::MineStatus;
use minewatch_core::{Alert, AlertState, Event, EventType};
use std::borrow::Cow;
use tracing::debug;

/// The durable store of alerts, their events, dead letters, status orders and engine state.
///
/// Cheap to clone: clones share one connection pool. Which backend it is stays private: every
/// method behaves the same on SQLite and PostgreSQL.
#[derive(Clone, Debug)]
pub struct Store {
    /// Every query goes through this pool; for `sqlite::memory:` it holds exactly one connection,
    /// which must never close, since the database lives and dies with it.
    pub(crate) pool: Pool,
    /// The fault every commit meets now (a [`Fault`] as u8): for tests of what the rest of
    /// minewatch does when the store fails.
    #[cfg(feature = "fault-injection")]
    fault: std::sync::Arc<std::sync::atomic::AtomicU8>,
}

/// A fault injected into every commit (feature `fault-injection`).
#[cfg(feature = "fault-injection")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Fault {
    /// Commits work.
    None = 0,
    /// Every commit fails inside its transaction, after its rows are written and before COMMIT,
    /// as on a full disk: nothing is stored.
    BeforeCommit = 1,
    /// Every commit is stored, then reported as failed, as when the connection dies while the
    /// answer to COMMIT is on its way.
    AfterCommit = 2,
}

#[cfg(feature = "fault-injection")]
impl Store {
    /// Injects `fault` into every commit from now on, until called again with [`Fault::None`].
    pub fn inject(&self, fault: Fault) {
        self.fault
            .store(fault as u8, std::sync::atomic::Ordering::Release);
    }

    fn injected(&self, fault: Fault) -> bool {
        self.fault.load(std::sync::atomic::Ordering::Acquire) == fault as u8
    }
}

/// An event row: `(seq, type, at, alert json)`.
type EventRow = (i64, String, String, String);

/// A dead-letter row, in column order.
type DeadLetterRow = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    i64,
    String,
);

/// A status row: `(mine, status, set_by, at, note)`.
type StatusRow = (String, String, String, String, String);

/// The columns of [`EventRow`], for `SELECT … FROM events`.
const EVENT_COLUMNS: &str = "seq, type, at, json";

/// Newest first, deterministically: among alerts started at the same instant, the larger id.
const ALERT_ORDER: &str = "ORDER BY started_at DESC, id DESC";

/// Writes the alert row from an event, unless the row already holds a later event's alert.
const UPSERT_ALERT: &str = "\
INSERT INTO alerts (id, key, mine, kind, severity, state, subject, area, started_at, updated_at,
                    resolved_at, json, last_seq, alarm)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (id) DO UPDATE SET
    key = excluded.key, mine = excluded.mine, kind = excluded.kind,
    severity = excluded.severity, state = excluded.state, subject = excluded.subject,
    area = excluded.area, started_at = excluded.started_at, updated_at = excluded.updated_at,
    resolved_at = excluded.resolved_at, json = excluded.json, last_seq = excluded.last_seq,
    alarm = excluded.alarm
WHERE excluded.last_seq > alerts.last_seq";

/// Appends an event to the log.
const INSERT_EVENT: &str =
    "INSERT INTO events (seq, alert_id, type, at, json) VALUES ($1, $2, $3, $4, $5)";

/// Keeps a dead letter; the id comes from the database.
const INSERT_DEAD_LETTER: &str = "\
INSERT INTO dead_letters (received_at, topic, mine, system, reason, detail, excerpt, count, examples)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// The state-table key of the last committed batch's token.
const COMMIT_TOKEN_KEY: &str = "writer/commit";

/// Applied-message rows per INSERT statement (2 parameters each: well under SQLite's limit).
const APPLIED_PER_INSERT: usize = 1000;

/// Records a regulator's order as the mine's current one.
const UPSERT_MINE_STATUS: &str = "\
INSERT INTO mine_status (mine, status, set_by, at, note) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (mine) DO UPDATE SET
    status = excluded.status, set_by = excluded.set_by, at = excluded.at, note = excluded.note";

/// Stores an engine snapshot: `(key, value, updated_at)`.
const UPSERT_STATE: &str = "\
INSERT INTO engine_state (key, value, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

impl Store {
    /// Opens (creating if missing, with parent directories) and migrates the database at `url`:
    /// `sqlite://PATH` or `sqlite::memory:`, or `postgres://…` / `postgresql://…` (the database
    /// must exist; its tables are created in the connection's `search_path`, normally `public`).
    ///
    /// SQLite files are opened in WAL mode with `synchronous=FULL` (a committed batch survives
    /// power loss), a busy timeout, and foreign keys enforced.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let pool = Pool::connect(url).await?;
        migrate::run(&pool).await?;
        // Not the URL: a PostgreSQL one may carry a password.
        debug!(backend = pool.backend(), "store opened");
        Ok(Store {
            pool,
            #[cfg(feature = "fault-injection")]
            fault: Default::default(),
        })
    }

    /// Waits for queries in flight, then closes every connection (checkpointing the WAL).
    /// Call on shutdown; every clone of this store is closed with it.
    pub async fn close(&self) {
        on_pool!(&self.pool, |p| p.close().await);
    }

    /// One transaction: insert every event (seq, type, at, alert_id, full alert JSON) and upsert
    /// the alert row from `event.alert` (the alert row always holds the alert as of its latest
    /// event), insert the dead letters and the applied-message digests, upsert the snapshots,
    /// and record the batch's token. All or nothing: a seq already stored fails the whole batch.
    ///
    /// A connection whose transaction failed is closed, never handed back to the pool: after a
    /// disk-full or I/O error SQLite may have rolled the transaction back by itself, and a pooled
    /// connection that disagrees with the database about being in a transaction would turn the
    /// next commit into a savepoint that is never committed while it holds the write lock.
    pub async fn commit(&self, batch: &WriteBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        // Encode before taking the write lock, so a JSON error costs other writers nothing.
        let events = batch
            .events
            .iter()
            .map(|e| Ok((e, seq_to_sql(e.seq)?, serde_json::to_string(&e.alert)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let examples = batch
            .dead_letters
            .iter()
            .map(|d| serde_json::to_string(&d.examples))
            .collect::<Result<Vec<_>, _>>()?;
        let applied: Vec<(&str, String)> = batch
            .applied
            .iter()
            .map(|a| (a.mine.as_deref().unwrap_or(""), digest_text(a.digest)))
            .collect();

        write_tx!(self, |tx| {
            for (event, seq, json) in &events {
                let a = &event.alert;
                sqlx::query(UPSERT_ALERT)
                    .bind(&a.id)
                    .bind(&a.key)
                    .bind(&a.mine)
                    .bind(a.kind.as_str())
                    .bind(a.severity.as_str())
                    .bind(a.state.as_str())
                    .bind(&a.subject)
                    .bind(a.area.as_deref())
                    .bind(time_text(&a.started_at))
                    .bind(time_text(&a.updated_at))
                    .bind(a.resolved_at.as_ref().map(time_text))
                    .bind(json)
                    .bind(seq)
                    .bind(a.alarm.alarm_state.as_str())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(INSERT_EVENT)
                    .bind(seq)
                    .bind(&a.id)
                    .bind(event.kind.as_str())
                    .bind(time_text(&event.at))
                    .bind(json)
                    .execute(&mut *tx)
                    .await?;
            }
            for (d, examples) in batch.dead_letters.iter().zip(&examples) {
                sqlx::query(INSERT_DEAD_LETTER)
                    .bind(time_text(&d.received_at))
                    .bind(no_nul(&d.topic))
                    .bind(d.mine.as_deref().map(no_nul))
                    .bind(d.system.as_deref().map(no_nul))
                    .bind(no_nul(&d.reason))
                    .bind(no_nul(&d.detail))
                    .bind(no_nul(&d.excerpt))
                    .bind(i64::try_from(d.count).unwrap_or(i64::MAX))
                    .bind(no_nul(examples))
                    .execute(&mut *tx)
                    .await?;
            }
            // Many rows per statement: a batch can hold a few thousand messages.
            for chunk in applied.chunks(APPLIED_PER_INSERT) {
                let mut q = sqlx::QueryBuilder::new("INSERT INTO applied_messages (mine, digest) ");
                q.push_values(chunk, |mut row, (mine, digest)| {
                    row.push_bind(*mine).push_bind(digest);
                });
                q.build().execute(&mut *tx).await?;
            }
            for (key, value) in &batch.states {
                sqlx::query(UPSERT_STATE)
                    .bind(key)
                    .bind(value)
                    .bind(now_text())
                    .execute(&mut *tx)
                    .await?;
            }
            if !batch.token.is_empty() {
                sqlx::query(UPSERT_STATE)
                    .bind(COMMIT_TOKEN_KEY)
                    .bind(&batch.token)
                    .bind(now_text())
                    .execute(&mut *tx)
                    .await?;
            }
            #[cfg(feature = "fault-injection")]
            if self.injected(Fault::BeforeCommit) {
                return Err(StoreError::Injected);
            }
        });
        #[cfg(feature = "fault-injection")]
        if self.injected(Fault::AfterCommit) {
            return Err(StoreError::Injected);
        }
        debug!(
            events = batch.events.len(),
            dead_letters = batch.dead_letters.len(),
            applied = batch.applied.len(),
            "store batch committed"
        );
        Ok(())
    }

    /// Whether the batch with `token` is the last one committed: asked after a commit failed in
    /// a way that leaves its outcome unknown, before storing it again.
    pub async fn committed(&self, token: &str) -> Result<bool, StoreError> {
        Ok(self.get_state(COMMIT_TOKEN_KEY).await?.as_deref() == Some(token))
    }

    /// The highest seq ever committed; 0 when nothing was. The alert writer continues from here.
    ///
    /// Also consults the alert rows, so the answer stays right even if old events are pruned.
    pub async fn last_seq(&self) -> Result<u64, StoreError> {
        let max: Option<i64> = on_pool!(&self.pool, |p| {
            sqlx::query_scalar(
                "SELECT MAX(m) FROM (SELECT MAX(seq) AS m FROM events
                                 UNION ALL SELECT MAX(last_seq) AS m FROM alerts) AS t",
            )
            .fetch_one(p)
            .await?
        });
        max.map_or(Ok(0), seq_from_sql)
    }

    /// The oldest event still stored; `None` when there are none. A client that missed events
    /// after `S` can catch up from the log only if this is at most `S + 1`.
    pub async fn first_seq(&self) -> Result<Option<u64>, StoreError> {
        let min: Option<i64> = on_pool!(&self.pool, |p| {
            sqlx::query_scalar("SELECT MIN(seq) FROM events")
                .fetch_one(p)
                .await?
        });
        min.map(seq_from_sql).transpose()
    }

    /// Every active alert, newest first.
    pub async fn active_alerts(&self) -> Result<Vec<Alert>, StoreError> {
        let sql = format!("SELECT json FROM alerts WHERE state = $1 {ALERT_ORDER}");
        let rows: Vec<String> = on_pool!(&self.pool, |p| {
            sqlx::query_scalar(&sql)
                .bind(AlertState::Active.as_str())
                .fetch_all(p)
                .await?
        });
        decode_alerts(&rows)
    }

    /// Every alert cleared and waiting for an acknowledgement (ISA-18.2 cleared-unacknowledged),
    /// newest first: what the alert writer keeps listed after a restart.
    pub async fn cleared_unacked(&self) -> Result<Vec<Alert>, StoreError> {
        let sql = format!("SELECT json FROM alerts WHERE alarm = $1 {ALERT_ORDER}");
        let rows: Vec<String> = on_pool!(&self.pool, |p| {
            sqlx::query_scalar(&sql)
                .bind(AlarmState::ClearedUnacked.as_str())
                .fetch_all(p)
                .await?
        });
        decode_alerts(&rows)
    }

    /// Alerts matching every filter of `q`, newest first (`started_at` descending, then id
    /// descending).
    pub async fn alerts(&self, q: &AlertQuery) -> Result<Vec<Alert>, StoreError> {
        let mut w = Where::default();
        if let Some(state) = q.state {
            w.eq("state", state.as_str());
        }
        if let Some(mine) = &q.mine {
            w.eq("mine", mine.clone());
        }
        if let Some(mines) = &q.mines {
            if mines.is_empty() {
                return Ok(Vec::new());
            }
            w.any_of("mine", mines);
        }
        if let Some(kind) = q.kind {
            w.eq("kind", kind.as_str());
        }
        if let Some(severity) = q.severity {
            w.eq("severity", severity.as_str());
        }
        if !q.alarm.is_empty() {
            let states: Vec<String> = q.alarm.iter().map(|s| s.as_str().to_string()).collect();
            w.any_of("alarm", &states);
        }
        if let Some(subject) = &q.subject {
            w.eq("subject", subject.clone());
        }
        if let Some(since) = &q.since {
            let t = w.param(time_text(since));
            w.clauses.push(format!("started_at >= {t}"));
        }
        if let Some(until) = &q.until {
            let t = w.param(time_text(until));
            w.clauses.push(format!("started_at < {t}"));
        }
        // Older than the cursor in the list's order, or newer (then read oldest first, so the
        // page is the one next to the cursor, and turned round).
        let (cmp, order) = match &q.cursor {
            Some(Cursor::Before(t, id)) => (Some((t, id, "<")), ALERT_ORDER),
            Some(Cursor::After(t, id)) => (Some((t, id, ">")), "ORDER BY started_at ASC, id ASC"),
            None => (None, ALERT_ORDER),
        };
        if let Some((t, id, op)) = cmp {
            let t = w.param(time_text(t));
            let id = w.param(id.clone());
            // A row value, which both databases turn into one range of the (started_at, id)
            // index; the same condition spelt with OR made PostgreSQL filter the whole table.
            w.clauses.push(format!("(started_at, id) {op} ({t}, {id})"));
        }
        let limit = w.param(effective_limit(q.limit));
        let sql = format!(
            "SELECT json FROM alerts{} {order} LIMIT {limit}",
            w.clause()
        );
        let rows: Vec<String> = on_pool!(&self.pool, |p| {
            bind_params!(sqlx::query_scalar(&sql), w)
                .fetch_all(p)
                .await?
        });
        let mut alerts = decode_alerts(&rows)?;
        if matches!(q.cursor, Some(Cursor::After(..))) {
            alerts.reverse();
        }
        Ok(alerts)
    }

    /// When the alert with this id started; `None` if unknown (for a paging cursor).
    pub async fn alert_started(&self, id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let t: Option<String> = on_pool!(&self.pool, |p| {
            sqlx::query_scalar("SELECT started_at FROM alerts WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        t.map(|t| parse_time(&t)).transpose()
    }

    /// One alert as it stands, with all its stored events ascending by seq; `None` if unknown.
    pub async fn alert(&self, id: &str) -> Result<Option<(Alert, Vec<Event>)>, StoreError> {
        // One read transaction, so the row and the events are the same snapshot.
        let (json, rows): (String, Vec<EventRow>) = on_pool!(&self.pool, |p| {
            let mut tx = p.begin().await?;
            let json: Option<String> = sqlx::query_scalar("SELECT json FROM alerts WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(json) = json else {
                // Ended here, not left to the drop: a dropped transaction's ROLLBACK is only
                // sent when the pool next uses the connection, which meanwhile sits idle in a
                // transaction holding its lock on `alerts` (seen blocking a DROP SCHEMA).
                tx.rollback().await?;
                return Ok(None);
            };
            let sql =
                format!("SELECT {EVENT_COLUMNS} FROM events WHERE alert_id = $1 ORDER BY seq");
            let rows: Vec<EventRow> = sqlx::query_as(&sql).bind(id).fetch_all(&mut *tx).await?;
            tx.commit().await?;
            (json, rows)
        });
        let events = rows
            .into_iter()
            .map(decode_event)
            .collect::<Result<_, _>>()?;
        Ok(Some((serde_json::from_str(&json)?, events)))
    }

    /// Events with seq above `after`, ascending, at most `limit` (0 means
    /// [`DEFAULT_LIMIT`](crate::DEFAULT_LIMIT), capped at [`MAX_LIMIT`](crate::MAX_LIMIT)).
    pub async fn events_after(&self, after: u64, limit: u32) -> Result<Vec<Event>, StoreError> {
        // Nothing is stored above i64::MAX, so a larger `after` simply finds nothing.
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2");
        let rows: Vec<EventRow> = on_pool!(&self.pool, |p| {
            sqlx::query_as(&sql)
                .bind(after)
                .bind(effective_limit(limit))
                .fetch_all(p)
                .await?
        });
        rows.into_iter().map(decode_event).collect()
    }

    /// Dead letters matching `q`, newest first (by id, which follows insertion order).
    pub async fn dead_letters(&self, q: &DeadLetterQuery) -> Result<Vec<DeadLetter>, StoreError> {
        let mut w = Where::default();
        if let Some(mine) = &q.mine {
            w.eq("mine", mine.clone());
        }
        if let Some(mines) = &q.mines {
            if mines.is_empty() {
                return Ok(Vec::new());
            }
            w.any_of("mine", mines);
        }
        if let Some(before) = q.before_id {
            let p = w.param(before);
            w.clauses.push(format!("id < {p}"));
        }
        let limit = w.param(effective_limit(q.limit));
        let sql = format!(
            "SELECT id, received_at, topic, mine, system, reason, detail, excerpt, count, examples
             FROM dead_letters{} ORDER BY id DESC LIMIT {limit}",
            w.clause()
        );
        let rows: Vec<DeadLetterRow> = on_pool!(&self.pool, |p| {
            bind_params!(sqlx::query_as(&sql), w).fetch_all(p).await?
        });
        rows.into_iter()
            .map(
                |(
                    id,
                    received_at,
                    topic,
                    mine,
                    system,
                    reason,
                    detail,
                    excerpt,
                    count,
                    examples,
                )| {
                    Ok(DeadLetter {
                        id,
                        received_at: parse_time(&received_at)?,
                        topic,
                        mine,
                        system,
                        reason,
                        detail,
                        excerpt,
                        count: u64::try_from(count).unwrap_or(0),
                        examples: serde_json::from_str(&examples)?,
                    })
                },
            )
            .collect()
    }

    /// Deletes all but the newest `keep` dead letters; returns how many were deleted.
    pub async fn prune_dead_letters(&self, keep: u64) -> Result<u64, StoreError> {
        self.keep_newest("dead_letters", keep).await
    }

    /// Deletes up to `batch` closed alerts (alarm state closed: resolved, and acknowledged where
    /// their severity latches) that resolved before `before`, oldest first, with their events and
    /// delivery records, in one transaction; returns (alerts, events) deleted. Active alerts and
    /// cleared ones still waiting for an acknowledgement are never touched. Call again until it
    /// deletes fewer than `batch`, passing the same `resume`: it remembers where the last batch
    /// ended, so each batch starts there in the index instead of stepping again over the entries
    /// of rows already deleted (PostgreSQL keeps them until it vacuums).
    pub async fn prune_closed(
        &self,
        before: &DateTime<Utc>,
        batch: u32,
        resume: &mut Option<String>,
    ) -> Result<(u64, u64), StoreError> {
        let before = time_text(before);
        let batch = i64::from(batch.max(1));
        let from = resume.clone().unwrap_or_default();
        let (alerts, events) = write_tx!(self, |tx| {
            // Closed implies resolved; resolved_at alone keeps the search one index range.
            let rows: Vec<(String, String)> = sqlx::query_as(
                "SELECT id, resolved_at FROM alerts
                 WHERE alarm = $1 AND resolved_at >= $2 AND resolved_at < $3
                 ORDER BY resolved_at LIMIT $4",
            )
            .bind(AlarmState::Closed.as_str())
            .bind(&from)
            .bind(&before)
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?;
            if let Some((_, last)) = rows.last() {
                *resume = Some(last.clone());
            }
            let ids: Vec<String> = rows.into_iter().map(|(id, _)| id).collect();
            if ids.is_empty() {
                (0, 0)
            } else {
                let mut w = Where::default();
                w.any_of("alert_id", &ids);
                let (del_events, del_deliveries) = (
                    format!("DELETE FROM events{}", w.clause()),
                    format!("DELETE FROM deliveries{}", w.clause()),
                );
                let events = bind_params!(sqlx::query(&del_events), w)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                bind_params!(sqlx::query(&del_deliveries), w)
                    .execute(&mut *tx)
                    .await?;
                let mut a = Where::default();
                a.any_of("id", &ids);
                let del_alerts = format!("DELETE FROM alerts{}", a.clause());
                let alerts = bind_params!(sqlx::query(&del_alerts), a)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                (alerts, events)
            }
        });
        if alerts > 0 {
            debug!(alerts, events, "retention pruned");
        }
        Ok((alerts, events))
    }

    /// Deletes all but the newest `keep` rows (by `id`) of `table`; returns how many.
    async fn keep_newest(&self, table: &'static str, keep: u64) -> Result<u64, StoreError> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let sql = format!(
            "DELETE FROM {table} WHERE id <=
                 (SELECT id FROM {table} ORDER BY id DESC LIMIT 1 OFFSET $1)"
        );
        let deleted = on_pool!(&self.pool, |p| {
            sqlx::query(&sql)
                .bind(keep)
                .execute(p)
                .await?
                .rows_affected()
        });
        if deleted > 0 {
            debug!(table, deleted, keep, "pruned");
        }
        Ok(deleted)
    }

    /// Records a regulator's order: it replaces the mine's current order and is appended to the
    /// mine's status history.
    pub async fn set_mine_status(&self, order: &StatusOrder) -> Result<(), StoreError> {
        let at = time_text(&order.at);
        write_tx!(self, |tx| {
            sqlx::query(UPSERT_MINE_STATUS)
                .bind(&order.mine)
                .bind(order.status.as_str())
                .bind(&order.by)
                .bind(&at)
                .bind(&order.note)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO status_history (mine, status, set_by, at, note)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&order.mine)
            .bind(order.status.as_str())
            .bind(&order.by)
            .bind(&at)
            .bind(&order.note)
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }

    /// Every mine's current order, by mine id.
    pub async fn mine_statuses(&self) -> Result<Vec<StatusOrder>, StoreError> {
        let rows: Vec<StatusRow> = on_pool!(&self.pool, |p| {
            sqlx::query_as("SELECT mine, status, set_by, at, note FROM mine_status ORDER BY mine")
                .fetch_all(p)
                .await?
        });
        rows.into_iter()
            .map(|(mine, status, by, at, note)| {
                Ok(StatusOrder {
                    status: MineStatus::parse(&status).ok_or_else(|| {
                        StoreError::Corrupt(format!("mine {mine}: unknown status {status:?}"))
                    })?,
                    mine,
                    by,
                    at: parse_time(&at)?,
                    note,
                })
            })
            .collect()
    }

    /// Lifts the mine's order, so the registry file's status applies again. The lifting is
    /// recorded in the status history (status NULL, at the wall clock); lifting no order is a
    /// no-op.
    pub async fn clear_mine_status(&self, mine: &str) -> Result<(), StoreError> {
        write_tx!(self, |tx| {
            let cleared = sqlx::query("DELETE FROM mine_status WHERE mine = $1")
                .bind(mine)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if cleared > 0 {
                sqlx::query(
                    "INSERT INTO status_history (mine, status, set_by, at, note)
                 VALUES ($1, NULL, '', $2, 'order lifted')",
                )
                .bind(mine)
                .bind(now_text())
                .execute(&mut *tx)
                .await?;
            }
        });
        Ok(())
    }

    /// The digests of the newest `limit` applied messages, with their mines, newest first.
    pub async fn applied_messages(&self, limit: u64) -> Result<Vec<(String, u128)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(String, String)> = on_pool!(&self.pool, |p| {
            sqlx::query_as("SELECT mine, digest FROM applied_messages ORDER BY id DESC LIMIT $1")
                .bind(limit)
                .fetch_all(p)
                .await?
        });
        rows.into_iter()
            .map(|(mine, digest)| {
                let d = u128::from_str_radix(&digest, 16).map_err(|_| {
                    StoreError::Corrupt(format!("applied message digest {digest:?} is not hex"))
                })?;
                Ok((mine, d))
            })
            .collect()
    }

    /// Deletes all but the newest `keep` applied-message digests; returns how many were deleted.
    pub async fn prune_applied(&self, keep: u64) -> Result<u64, StoreError> {
        self.keep_newest("applied_messages", keep).await
    }

    /// Stores an engine snapshot under `key`, replacing any previous value.
    pub async fn put_state(&self, key: &str, value: &str) -> Result<(), StoreError> {
        on_pool!(&self.pool, |p| {
            sqlx::query(UPSERT_STATE)
                .bind(key)
                .bind(value)
                .bind(now_text())
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// The snapshot stored under `key`.
    pub async fn get_state(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(on_pool!(&self.pool, |p| {
            sqlx::query_scalar("SELECT value FROM engine_state WHERE key = $1")
                .bind(key)
                .fetch_optional(p)
                .await?
        }))
    }

    /// Every `(key, value)` whose key starts with `prefix` (exactly, case-sensitive), by key.
    pub async fn states(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        // substr/length rather than LIKE: LIKE is case-insensitive in SQLite, not in PostgreSQL,
        // and `_` / `%` in a key would need escaping.
        Ok(on_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT key, value FROM engine_state
             WHERE substr(key, 1, length($1)) = $1 ORDER BY key",
            )
            .bind(prefix)
            .fetch_all(p)
            .await?
        }))
    }
}

/// A digest as stored: 32 lowercase hex digits.
fn digest_text(d: u128) -> String {
    format!("{d:032x}")
}

/// `s` with every NUL character replaced by U+FFFD: PostgreSQL text cannot hold NUL, and a dead
/// letter's excerpt of hostile input may carry one. Done on both backends so they agree.
fn no_nul(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Reads stored alert JSON back.
fn decode_alerts(rows: &[String]) -> Result<Vec<Alert>, StoreError> {
    rows.iter()
        .map(|json| Ok(serde_json::from_str(json)?))
        .collect()
}

/// Reads an event row back.
fn decode_event((seq, kind, at, json): EventRow) -> Result<Event, StoreError> {
    Ok(Event {
        kind: EventType::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("event {seq}: unknown type {kind:?}")))?,
        seq: seq_from_sql(seq)?,
        at: parse_time(&at)?,
        alert: serde_json::from_str(&json)?,
    })
}
