//! The connection pool of either backend and what every query module shares: `on_pool!` (one
//! query text compiled once per backend), `write_tx!` (a write transaction that closes its
//! connection on failure), `bind_params!` with [`Where`] and [`Param`] (filters built at run
//! time), and opening a store URL. [`Store`](crate::Store) and the migration runner both stand
//! on it.

use crate::StoreError;
use sqlx::SqlitePool;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Runs `$body` with `$p` bound to the pool of whichever backend `$pool` (a `&Pool`) is. The body
/// is compiled once per backend, so one query text serves both, type-checked against each.
/// `?` and `return` inside act on the enclosing function.
macro_rules! on_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            $crate::pool::Pool::Sqlite($p) => $body,
            $crate::pool::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Runs `$body` in a write transaction on a connection of `$store`'s pool, with `$tx` bound to
/// the transaction, and commits. SQLite's transaction takes the write lock at once (`BEGIN
/// IMMEDIATE`), so it waits for the busy timeout rather than failing half way. On any error the
/// connection is closed instead of returned to the pool (see [`Store::commit`]), which also
/// rolls back whatever the database still holds open. `?` inside returns from the transaction
/// with a [`StoreError`], and the macro evaluates to `Result<T, StoreError>` `?`-ed in the
/// enclosing function.
macro_rules! write_tx {
    ($store:expr, |$tx:ident| $body:block) => {{
        let begin = $store.pool.begin_statement();
        $crate::pool::on_pool!(&$store.pool, |p| {
            let mut conn = p.acquire().await?;
            let result: Result<_, $crate::StoreError> = async {
                let mut $tx = sqlx::Connection::begin_with(&mut *conn, begin).await?;
                let value = $body;
                $tx.commit().await?;
                Ok(value)
            }
            .await;
            if result.is_err() {
                conn.close_on_drop();
            }
            result?
        })
    }};
}
pub(crate) use write_tx;

/// Binds every value of a [`Where`] to the query `$q`, in placeholder order.
macro_rules! bind_params {
    ($q:expr, $w:expr) => {{
        let mut q = $q;
        for v in &$w.params {
            q = match v {
                $crate::pool::Param::Text(s) => q.bind(s),
                $crate::pool::Param::Int(i) => q.bind(i),
            };
        }
        q
    }};
}
pub(crate) use bind_params;

/// Connections to a database file: one writer at a time (SQLite's rule) plus readers for the API.
const POOL_SIZE: u32 = 4;
/// Connections to a PostgreSQL server, which runs writers and readers side by side.
const PG_POOL_SIZE: u32 = 8;
/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for a free pooled connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection pool on one of the backends; run a query on it with `on_pool!`.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    /// `sqlite://PATH` or `sqlite::memory:`.
    Sqlite(SqlitePool),
    /// `postgres://…` or `postgresql://…`.
    Postgres(PgPool),
}

impl Pool {
    /// Connects to the database at `url` (see [`Store::open`](crate::Store::open)), creating a
    /// SQLite file and its parent directories if missing.
    pub(crate) async fn connect(url: &str) -> Result<Pool, StoreError> {
        Ok(match parse_url(url)? {
            Target::Postgres(url) => Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(PG_POOL_SIZE)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect(&url)
                    .await?,
            ),
            Target::Memory => Pool::Sqlite(open_sqlite(None).await?),
            Target::File(path) => Pool::Sqlite(open_sqlite(Some(path)).await?),
        })
    }

    /// `sqlite` or `postgres`, for logs.
    pub(crate) fn backend(&self) -> &'static str {
        match self {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// How this backend starts a write transaction.
    pub(crate) fn begin_statement(&self) -> &'static str {
        match self {
            Pool::Sqlite(_) => "BEGIN IMMEDIATE",
            Pool::Postgres(_) => "BEGIN",
        }
    }
}

/// Where a store URL points.
#[derive(Debug, PartialEq)]
enum Target {
    /// `sqlite::memory:`: gone when the store is dropped.
    Memory,
    /// `sqlite://PATH`.
    File(PathBuf),
    /// `postgres://…` or `postgresql://…`, passed to sqlx as it is (parameters included).
    Postgres(String),
}

/// Reads `sqlite://PATH`, `sqlite::memory:`, `postgres://…` or `postgresql://…`.
fn parse_url(url: &str) -> Result<Target, StoreError> {
    let bad = |reason| StoreError::BadUrl {
        url: url.to_owned(),
        reason,
    };
    if url == "sqlite::memory:" {
        return Ok(Target::Memory);
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target::Postgres(url.to_owned()));
    }
    let Some(path) = url.strip_prefix("sqlite://") else {
        return Err(bad(
            "expected sqlite://PATH, sqlite::memory:, postgres://… or postgresql://…",
        ));
    };
    if path.is_empty() {
        return Err(bad("no file path after sqlite://"));
    }
    if path.contains('?') {
        return Err(bad("URL parameters are not supported"));
    }
    Ok(Target::File(PathBuf::from(path)))
}

/// Opens a SQLite database: the file at `path`, or in memory when `None`.
async fn open_sqlite(path: Option<PathBuf>) -> Result<SqlitePool, StoreError> {
    let (options, pool) = match path {
        None => (
            SqliteConnectOptions::from_str("sqlite::memory:")?,
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None),
        ),
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|source| StoreError::CreateDir {
                        path: dir.to_owned(),
                        source,
                    })?;
            }
            (
                SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal),
                SqlitePoolOptions::new().max_connections(POOL_SIZE),
            )
        }
    };
    let options = options
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    Ok(pool
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await?)
}

/// A `WHERE` clause built from optional filters, with `$n` placeholders numbered as bound.
///
/// The values are kept as plain [`Param`]s rather than one backend's argument buffer, so the
/// same clause binds on either backend (see `bind_params!`).
#[derive(Default)]
pub(crate) struct Where {
    /// Conditions, joined with `AND`.
    pub(crate) clauses: Vec<String>,
    /// The values, in placeholder order.
    pub(crate) params: Vec<Param>,
}

/// A value bound to a [`Where`] placeholder: the only types the filters need.
pub(crate) enum Param {
    /// A text column's value.
    Text(String),
    /// An integer column's value, or a `LIMIT`.
    Int(i64),
}

impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Param::Text(v.to_owned())
    }
}

impl From<String> for Param {
    fn from(v: String) -> Self {
        Param::Text(v)
    }
}

impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl Where {
    /// Binds `value` and returns its placeholder.
    pub(crate) fn param(&mut self, value: impl Into<Param>) -> String {
        self.params.push(value.into());
        format!("${}", self.params.len())
    }

    /// Adds `column = value`.
    pub(crate) fn eq(&mut self, column: &str, value: impl Into<Param>) {
        let p = self.param(value);
        self.clauses.push(format!("{column} = {p}"));
    }

    /// Adds `column IN (values…)`; `values` must not be empty.
    pub(crate) fn any_of(&mut self, column: &str, values: &[String]) {
        let ps = values
            .iter()
            .map(|v| self.param(v.as_str()))
            .collect::<Vec<_>>();
        self.clauses
            .push(format!("{column} IN ({})", ps.join(", ")));
    }

    /// ` WHERE …`, or nothing when there are no conditions.
    pub(crate) fn clause(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_name_a_file_memory_or_a_postgres_server_and_nothing_else() {
        assert_eq!(
            parse_url("sqlite::memory:").expect("memory"),
            Target::Memory
        );
        assert_eq!(
            parse_url("sqlite://data/minewatch.db").expect("relative"),
            Target::File(PathBuf::from("data/minewatch.db"))
        );
        assert_eq!(
            parse_url("sqlite:///var/lib/minewatch.db").expect("absolute"),
            Target::File(PathBuf::from("/var/lib/minewatch.db"))
        );
        for pg in [
            "postgres://mw@db.example/minewatch",
            "postgresql://mw:secret@10.0.0.5:5432/minewatch?options=-csearch_path%3Dmw",
        ] {
            assert_eq!(
                parse_url(pg).expect("postgres"),
                Target::Postgres(pg.to_owned())
            );
        }
        for bad in [
            "",
            "minewatch.db",
            "sqlite://",
            "sqlite://x.db?mode=ro",
            "postgres:h/db",
            "mysql://h/db",
        ] {
            assert!(
                matches!(parse_url(bad), Err(StoreError::BadUrl { .. })),
                "{bad:?} should be refused"
            );
        }
    }
}
