//! What the gateway asks of the running pipeline: acknowledge an alert, reload the registry, record
//! a regulator's status order. The binary implements [`Control`] over the pipeline's queues; tests
//! use a fake.

use minewatch_core::Alert;
use minewatch_core::registry::MineStatus;
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;

/// A boxed future, so that [`Control`] stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the gateway asks of the running pipeline. Every call must answer in bounded time: an
/// implementation that waits on a queue or a reply gives up with [`ControlError::Unavailable`].
pub trait Control: Send + Sync + 'static {
    /// Acknowledges the alert with this id; answers the alert as it stands after the ack.
    fn ack(
        &self,
        id: String,
        by: String,
        note: String,
    ) -> BoxFuture<'_, Result<Alert, ControlError>>;

    /// Shelves the alert with this id until `until` (wall clock, ms) with a reason, or takes it
    /// back from the shelf (`shelve` = `None`); answers the alert as it stands after.
    fn shelve(
        &self,
        id: String,
        by: String,
        shelve: Option<(String, i64)>,
    ) -> BoxFuture<'_, Result<Alert, ControlError>> {
        let _ = (id, by, shelve);
        Box::pin(async {
            Err(ControlError::Unavailable(
                "shelving is not available".into(),
            ))
        })
    }

    /// Re-reads the registry directory. Files that fail are listed in the report and keep their
    /// old definitions.
    fn reload(&self) -> BoxFuture<'_, Result<ReloadReport, ControlError>>;

    /// Why the pipeline cannot do its work now (a stopped task, the broker session down), for
    /// `/readyz`; `None` when it can.
    fn not_ready(&self) -> Option<String> {
        None
    }

    /// Records a regulator's order for a mine's status; it outranks the registry file.
    fn set_status(
        &self,
        mine: String,
        status: MineStatus,
        by: String,
        note: String,
    ) -> BoxFuture<'_, Result<(), ControlError>>;
}

/// Why the pipeline refused or could not carry out a request; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No such alert or mine (404).
    #[error("{0}")]
    NotFound(String),
    /// The request contradicts the current state, e.g. the alert is already acknowledged (409).
    #[error("{0}")]
    Conflict(String),
    /// The request is malformed in a way only the pipeline can tell (400).
    #[error("{0}")]
    Invalid(String),
    /// The pipeline did not answer in time or is shutting down (503).
    #[error("{0}")]
    Unavailable(String),
}

/// The outcome of a registry reload.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReloadReport {
    /// Mines defined after the reload.
    pub mines: usize,
    /// Mines whose definition was added, changed or removed.
    pub changed: Vec<String>,
    /// Files that failed to load, each with its file and line; their old definitions were kept.
    /// Also a config file that failed to load (the running config then kept whole) and config
    /// keys only a restart applies.
    pub errors: Vec<String>,
    /// What was put in force: `tokens`, `rules`, `notify` (from the config file) and `registry`.
    pub reloaded: Vec<String>,
}
