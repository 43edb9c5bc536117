//! A tiny migration runner: the schema as an ordered list of SQL files embedded in the binary,
//! each applied once, in its own transaction, and recorded in `schema_migrations`.

use crate::StoreError;
use crate::codec::now_text;
use sqlx::SqlitePool;
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

/// Every migration, in order.
pub(crate) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "init",
    sql: include_str!("../migrations/0001_init.sql"),
}];

/// Brings the database up to the newest schema this build knows.
///
/// Safe against a second process opening the same file at the same moment: each step's first
/// statement claims its version row (a write, so it waits for the other writer under the busy
/// timeout); whoever finds the row already there skips the step.
pub(crate) async fn run(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER NOT NULL PRIMARY KEY,
             name       TEXT    NOT NULL,
             applied_at TEXT    NOT NULL
         )",
    )
    .execute(pool)
    .await?;

    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    let found: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(pool)
        .await?;
    let found = found.unwrap_or(0);
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }

    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        let failed = |source| StoreError::Migration {
            version: m.version,
            name: m.name,
            source,
        };
        let mut tx = pool.begin().await.map_err(failed)?;
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
            continue;
        }
        sqlx::raw_sql(m.sql)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        info!(
            version = m.version,
            name = m.name,
            "store migration applied"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_versions_start_at_one_and_increase_by_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(
                m.version,
                i64::try_from(i).expect("few migrations") + 1,
                "{}",
                m.name
            );
        }
    }
}
