//! The one error type of the store.

use std::path::PathBuf;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed a statement or a connection: I/O, a locked file past the busy timeout,
    /// or a constraint (a `seq` stored twice fails the whole batch with this).
    #[error("store database error: {0}")]
    Sqlx(#[from] sqlx::Error),

    /// An alert could not be written as JSON, or stored JSON could not be read back as an alert.
    #[error("store JSON error: {0}")]
    Json(#[from] serde_json::Error),

    /// The store URL is none of `sqlite://PATH`, `sqlite::memory:`, `postgres://…`,
    /// `postgresql://…`.
    #[error("bad store url {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The directory that should hold the database file could not be created.
    #[error("cannot create store directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// A schema migration failed; the database is left at the previous version.
    #[error("store migration {version} ({name}) failed: {source}")]
    Migration {
        /// The migration's version.
        version: i64,
        /// The migration's name.
        name: &'static str,
        /// The statement that failed.
        source: sqlx::Error,
    },

    /// The database was migrated by a newer minewatch than this one; refusing to touch it.
    #[error(
        "store schema is at version {found}, this build knows only up to {known}: upgrade minewatch"
    )]
    SchemaTooNew {
        /// The highest version recorded in the database.
        found: i64,
        /// The highest version this build carries.
        known: i64,
    },

    /// A commit failed on purpose (feature `fault-injection`, see `Store::inject`).
    #[cfg(feature = "fault-injection")]
    #[error("injected store failure")]
    Injected,

    /// A sequence number above `i64::MAX`, which SQL integers cannot hold.
    #[error("event seq {0} is out of range for the store")]
    SeqOutOfRange(u64),

    /// A stored value this build cannot read back (a negative seq, an unknown status or event
    /// type, a malformed timestamp): the database was edited by hand or is damaged.
    #[error("corrupt store value: {0}")]
    Corrupt(String),
}
