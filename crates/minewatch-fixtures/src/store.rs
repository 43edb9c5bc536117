//! A fresh store for a test.

use minewatch_store::Store;
use tempfile::TempDir;

/// A store in a SQLite file of its own; the file goes with the value.
pub struct TempStore {
    pub store: Store,
    /// The store's URL, to open it again (as after a restart).
    pub url: String,
    /// Deleted on drop.
    pub dir: TempDir,
}

/// Opens (and migrates) a new SQLite store in a temporary directory.
pub async fn file_store() -> TempStore {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("minewatch.db").display());
    let store = Store::open(&url)
        .await
        .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    TempStore { store, url, dir }
}
