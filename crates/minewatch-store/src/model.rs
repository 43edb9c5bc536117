//! What goes in and out of the store besides the core [`Alert`](minewatch_core::Alert) and
//! [`Event`]: write batches, dead letters, queries and regulators' status orders.

use chrono::{DateTime, Utc};
use minewatch_core::alarm::AlarmState;
use minewatch_core::registry::MineStatus;
use minewatch_core::{AlertState, Event, Kind, Severity};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Rows a query returns when it asks for none in particular (`limit: 0`).
pub const DEFAULT_LIMIT: u32 = 100;
/// The most rows one query returns, whatever it asks for.
pub const MAX_LIMIT: u32 = 10_000;

/// Everything the alert writer stores in one transaction, before it publishes any of it.
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    /// Sequenced events; each also updates its alert's row. Any order; seqs must be new.
    pub events: Vec<Event>,
    /// Rejected input to keep; their `id`s are ignored and assigned by the store.
    pub dead_letters: Vec<DeadLetter>,
    /// Engine snapshots to upsert into the state table: (key, JSON).
    pub states: Vec<(String, String)>,
    /// The messages whose effects this batch holds, so a redelivered copy is recognised.
    pub applied: Vec<Applied>,
    /// Identifies this batch: stored with it, so that after a failed commit whose outcome is
    /// unknown (the connection died during COMMIT) the writer can ask whether it landed
    /// ([`Store::committed`](crate::Store::committed)) instead of storing it twice. Empty: none.
    pub token: String,
}

impl WriteBatch {
    /// Whether there is nothing to store.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.dead_letters.is_empty()
            && self.states.is_empty()
            && self.applied.is_empty()
    }
}

/// A message whose effects were stored: its mine and its digest (see `applied_messages`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The mine of the message's topic; `None` for a topic that names none.
    pub mine: Option<Arc<str>>,
    /// 128-bit digest of the message's topic and payload.
    pub digest: u128,
}

/// One rejected message, or every element of one message rejected for one reason, kept for
/// operators (contract §1).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    /// 0 when new; assigned by the store, increasing with insertion order.
    pub id: i64,
    /// Wall-clock time the input arrived.
    pub received_at: DateTime<Utc>,
    /// The MQTT topic it came on.
    pub topic: String,
    /// The mine, when the topic named a valid one.
    pub mine: Option<String>,
    /// The system, when the topic named a valid one.
    pub system: Option<String>,
    /// Machine-readable reason (a `payload::Reason` name).
    pub reason: String,
    /// Human-readable detail (of the first element, when this stands for several).
    pub detail: String,
    /// The start of the offending input (of the first element, when this stands for several).
    pub excerpt: String,
    /// How many elements (or messages) this dead letter stands for: 1 for a whole message.
    pub count: u64,
    /// The first few elements rejected, the first of them also in `detail` and `excerpt`.
    pub examples: Vec<Example>,
}

/// One rejected element of a summarised dead letter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Example {
    /// What was wrong with it.
    pub detail: String,
    /// Its start.
    pub excerpt: String,
}

/// Filters for [`Store::alerts`](crate::Store::alerts); every `Some` narrows the result.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    /// Only alerts in this state; `None` = all.
    pub state: Option<AlertState>,
    /// Only this mine.
    pub mine: Option<String>,
    /// Restrict to these mines (what a token may see); `None` = any, `Some(vec![])` = none.
    pub mines: Option<Vec<String>>,
    /// Only this kind.
    pub kind: Option<Kind>,
    /// Only exactly this severity.
    pub severity: Option<Severity>,
    /// Only alerts in one of these alarm states; empty = any.
    pub alarm: Vec<AlarmState>,
    /// Only this subject (a point, area, camera, meter or the mine).
    pub subject: Option<String>,
    /// Only alerts started at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only alerts started before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Paging: only alerts after (older than) or before (newer than) this one in the list's
    /// order (newest first, then id descending). The page is still listed newest first.
    pub cursor: Option<Cursor>,
    /// At most this many; 0 means [`DEFAULT_LIMIT`], capped at [`MAX_LIMIT`].
    pub limit: u32,
}

/// A place in the alert list: an alert's start and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// The page of alerts listed after this one: older.
    Before(DateTime<Utc>, String),
    /// The page of alerts listed just before this one: newer.
    After(DateTime<Utc>, String),
}

/// Filters and paging for [`Store::dead_letters`](crate::Store::dead_letters).
#[derive(Debug, Clone, Default)]
pub struct DeadLetterQuery {
    /// Only this mine.
    pub mine: Option<String>,
    /// Restrict to these mines (what a token may see); `None` = any, `Some(vec![])` = none.
    pub mines: Option<Vec<String>>,
    /// Only ids below this one: pass the last id of a page to get the next (older) page.
    pub before_id: Option<i64>,
    /// At most this many; 0 means [`DEFAULT_LIMIT`], capped at [`MAX_LIMIT`].
    pub limit: u32,
}

/// A regulator's order on a mine's status, outranking the registry file until cleared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusOrder {
    /// The mine ordered.
    pub mine: String,
    /// The status ordered.
    pub status: MineStatus,
    /// Who gave the order (the token's name or the operator).
    pub by: String,
    /// When the order was given.
    pub at: DateTime<Utc>,
    /// Free text: the order's reference, the reason.
    pub note: String,
}

/// A query's `limit` as rows to fetch: 0 is the default, anything is capped.
pub(crate) fn effective_limit(limit: u32) -> i64 {
    match limit {
        0 => i64::from(DEFAULT_LIMIT),
        n => i64::from(n.min(MAX_LIMIT)),
    }
}
