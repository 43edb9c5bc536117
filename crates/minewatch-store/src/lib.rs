//! The durable store of minewatch: alerts and their events, dead letters, regulators' status
//! orders and engine snapshots, in SQLite or PostgreSQL behind the same [`Store`].
//!
//! The alert writer assigns each event its global, gap-free seq, then hands the batch to
//! [`Store::commit`], one transaction, and publishes only after it returns; the HTTP API and the
//! WebSocket gateway read back through the other [`Store`] methods.
//!
//! Modules:
//! - `pool`: the private `Pool` enum (one variant per backend) and what every query module
//!   shares: `on_pool!`, which compiles one query text once per backend, `write_tx!`, the
//!   run-time filters (`Where`, `bind_params!`), and opening a store URL.
//! - `store`: [`Store`] itself: opening and migrating, the transactional commit, the alert,
//!   event, dead-letter, status and snapshot queries.
//! - `model`: what goes in and out besides core's `Alert` and `Event`: [`WriteBatch`],
//!   [`DeadLetter`], [`AlertQuery`], [`DeadLetterQuery`], [`StatusOrder`].
//! - `kpi`: alarm-system performance per EEMUA 191 / ISA-18.2 ([`Store::kpis`] with
//!   [`KpiQuery`] gives [`Kpis`]): activation rates, peaks, flood time, bad actors, chattering
//!   and stale alerts, acknowledgement times, read from the event log and computed without I/O.
//! - `migrate`: the migration runner over the SQL files in `migrations/sqlite/` and
//!   `migrations/postgres/` (the same steps, each backend's DDL), embedded in the binary.
//! - `notify`: on-call notifications' records: [`Silence`]s, [`Delivery`] outcomes, and each
//!   sink's cursor in the event log, advanced with its delivery record in one transaction.
//! - `audit`: the audit trail of operator actions ([`AuditEntry`], [`Store::record_audit`],
//!   [`Store::audit`] with [`AuditQuery`]): who was authenticated, from where, when, beside the
//!   free-text `by`; only ever appended to.
//! - `codec`: timestamps as fixed-width RFC 3339 UTC text, seqs as SQL integers.
//! - `config`: the `[store]` config section, [`StoreConfig`].
//! - `error`: [`StoreError`].
//!
//! Queries are shared by both backends, so kept portable: `$n` placeholders, `ON CONFLICT`
//! upserts, integer and TEXT columns, timestamps as RFC 3339 TEXT, JSON as TEXT. An alert
//! is stored as its JSON plus the columns queries filter and sort on; reads return the JSON.
#![forbid(unsafe_code)]

mod audit;
mod codec;
mod config;
mod error;
mod kpi;
mod migrate;
mod model;
mod notify;
mod pool;
mod store;

pub use audit::{AuditEntry, AuditQuery};
pub use config::StoreConfig;
pub use error::StoreError;
pub use kpi::{
    AckTimes, Activity, BAD_ACTORS, CHATTER_MIN, Chatter, DEFAULT_FLOOD, KeyCount, KpiQuery, Kpis,
    LISTED, Listed, MAX_KPI_EVENTS, MineKpis, Peak, SPAN, STALE_AFTER, StaleAlert,
};
pub use model::{
    AlertQuery, Applied, Cursor, DEFAULT_LIMIT, DeadLetter, DeadLetterQuery, Example, MAX_LIMIT,
    StatusOrder, WriteBatch,
};
pub use notify::{
    Delivery, DeliveryQuery, DeliveryState, Silence, SilenceQuery, cursor_key, is_silenced,
};
#[cfg(feature = "fault-injection")]
pub use store::Fault;
pub use store::Store;

#[cfg(test)]
mod tests;
