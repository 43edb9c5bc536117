//! A tiny migration runner: the schema as an ordered list of SQL files per backend, embedded in
//! the binary, each applied once, in its own transaction, and recorded in `schema_migrations`.
//!
//! The two lists (`migrations/sqlite/`, `migrations/postgres/`) carry the same versions and
//! names; only the DDL's spelling differs. Queries are shared (see `pool`).

use crate::StoreError;
use crate::codec::now_text;
use crate::pool::{Pool, on_pool};
use sqlx::Executor;
use tracing::info;

/// One schema step.
pub(crate) struct Migration {
    /// Strictly increasing; never renumber or edit a released migration, add a new one.
    pub version: i64,
    /// Short name, for logs and errors.
    pub name: &'static str,
    /// The statements, run as one batch.
    pub sql: &'static str,
}

/// Every SQLite migration, in order.
pub(crate) const SQLITE_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "notify",
        sql: include_str!("../migrations/sqlite/0002_notify.sql"),
    },
    Migration {
        version: 3,
        name: "integrity",
        sql: include_str!("../migrations/sqlite/0003_integrity.sql"),
    },
    Migration {
        version: 4,
        name: "alarms",
        sql: include_str!("../migrations/sqlite/0004_alarms.sql"),
    },
    Migration {
        version: 5,
        name: "kpi_index",
        sql: include_str!("../migrations/sqlite/0005_kpi_index.sql"),
    },
    Migration {
        version: 6,
        name: "audit",
        sql: include_str!("../migrations/sqlite/0006_audit.sql"),
    },
    Migration {
        version: 7,
        name: "retention",
        sql: include_str!("../migrations/sqlite/0007_retention.sql"),
    },
];

/// Every PostgreSQL migration, in order: the same steps as [`SQLITE_MIGRATIONS`].
pub(crate) const POSTGRES_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "notify",
        sql: include_str!("../migrations/postgres/0002_notify.sql"),
    },
    Migration {
        version: 3,
        name: "integrity",
        sql: include_str!("../migrations/postgres/0003_integrity.sql"),
    },
    Migration {
        version: 4,
        name: "alarms",
        sql: include_str!("../migrations/postgres/0004_alarms.sql"),
    },
    Migration {
        version: 5,
        name: "kpi_index",
        sql: include_str!("../migrations/postgres/0005_kpi_index.sql"),
    },
    Migration {
        version: 6,
        name: "audit",
        sql: include_str!("../migrations/postgres/0006_audit.sql"),
    },
    Migration {
        version: 7,
        name: "retention",
        sql: include_str!("../migrations/postgres/0007_retention.sql"),
    },
];

/// What differs between the backends in migrating.
struct Dialect {
    /// The backend's migrations.
    migrations: &'static [Migration],
    /// Creates the bookkeeping table (BIGINT in PostgreSQL, so versions read back as i64).
    bootstrap: &'static str,
    /// First statement of every migration transaction, serialising migrators; `None` where the
    /// database's own write lock already does (SQLite).
    lock: Option<&'static str>,
}

/// SQLite: the first write in a transaction takes the file's write lock, waiting for another
/// process under the busy timeout.
const SQLITE: Dialect = Dialect {
    migrations: SQLITE_MIGRATIONS,
    bootstrap: "CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    INTEGER NOT NULL PRIMARY KEY,
                    name       TEXT    NOT NULL,
                    applied_at TEXT    NOT NULL
                )",
    lock: None,
};

/// PostgreSQL: two instances starting together would race even on `CREATE TABLE IF NOT EXISTS`,
/// so every migration transaction first takes a transaction-scoped advisory lock (released at
/// commit or rollback). The key is arbitrary but fixed: the ASCII of "minewatc" as a number.
const POSTGRES: Dialect = Dialect {
    migrations: POSTGRES_MIGRATIONS,
    bootstrap: "CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    BIGINT NOT NULL PRIMARY KEY,
                    name       TEXT   NOT NULL,
                    applied_at TEXT   NOT NULL
                )",
    lock: Some("SELECT pg_advisory_xact_lock(7883954004762391651)"),
};

/// The migrations `pool`'s backend applies; for tests.
#[cfg(test)]
pub(crate) fn migrations_for(pool: &Pool) -> &'static [Migration] {
    dialect(pool).migrations
}

/// The dialect of `pool`'s backend.
fn dialect(pool: &Pool) -> &'static Dialect {
    match pool {
        Pool::Sqlite(_) => &SQLITE,
        Pool::Postgres(_) => &POSTGRES,
    }
}

/// Brings the database up to the newest schema this build knows.
///
/// Safe against a second process migrating the same database at the same moment: each step's
/// transaction is serialised against the other process's (SQLite's write lock, PostgreSQL's
/// advisory lock), and its claim of the version row finds the row already there if the other
/// process applied it first, so the step is skipped.
pub(crate) async fn run(pool: &Pool) -> Result<(), StoreError> {
    let d = dialect(pool);
    let known = d.migrations.last().map_or(0, |m| m.version);
    let found = on_pool!(pool, |p| {
        let mut tx = p.begin().await?;
        if let Some(lock) = d.lock {
            sqlx::query(lock).execute(&mut *tx).await?;
        }
        // `Executor::execute(conn, raw_sql(…))` rather than `raw_sql(…).execute(conn)`: the
        // latter makes this future (so `Store::open`) not `Send` (a rustc higher-ranked
        // lifetime limitation), which `tokio::spawn` needs.
        (&mut *tx).execute(sqlx::raw_sql(d.bootstrap)).await?;
        let found: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        found
    })
    .unwrap_or(0);
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }

    for m in d.migrations.iter().filter(|m| m.version > found) {
        let failed = |source| StoreError::Migration {
            version: m.version,
            name: m.name,
            source,
        };
        let applied = on_pool!(pool, |p| {
            let mut tx = p.begin().await.map_err(failed)?;
            if let Some(lock) = d.lock {
                sqlx::query(lock).execute(&mut *tx).await.map_err(failed)?;
            }
            let claimed = sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)
                 ON CONFLICT (version) DO NOTHING",
            )
            .bind(m.version)
            .bind(m.name)
            .bind(now_text())
            .execute(&mut *tx)
            .await
            .map_err(failed)?
            .rows_affected();
            if claimed == 0 {
                // Another process applied it between our check and our claim.
                tx.rollback().await.map_err(failed)?;
                false
            } else {
                (&mut *tx)
                    .execute(sqlx::raw_sql(m.sql))
                    .await
                    .map_err(failed)?;
                tx.commit().await.map_err(failed)?;
                true
            }
        });
        if applied {
            info!(
                version = m.version,
                name = m.name,
                "store migration applied"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_versions_start_at_one_and_increase_by_one() {
        for list in [SQLITE_MIGRATIONS, POSTGRES_MIGRATIONS] {
            for (i, m) in list.iter().enumerate() {
                assert_eq!(
                    m.version,
                    i64::try_from(i).expect("few migrations") + 1,
                    "{}",
                    m.name
                );
            }
        }
    }

    #[test]
    fn both_backends_carry_the_same_migration_steps() {
        let steps = |list: &[Migration]| -> Vec<(i64, &str)> {
            list.iter().map(|m| (m.version, m.name)).collect()
        };
        assert_eq!(steps(SQLITE_MIGRATIONS), steps(POSTGRES_MIGRATIONS));
    }
}
