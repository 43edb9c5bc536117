//! Tests of the whole store. Each test of the API runs twice, through `on_both_backends!`:
//! against a fresh SQLite file in its own temporary directory, and against a fresh schema of the
//! PostgreSQL server at `MINEWATCH_TEST_PG` (default [`DEFAULT_PG`]). When `MINEWATCH_TEST_PG`
//! names a server (CI's `.ci/run` always does), the PostgreSQL variants fail, saying so, if it is
//! unreachable: a backend silently untested would look like a backend that works. When it is unset
//! and nothing answers at the default, they are skipped with a notice, so `cargo test` on a fresh
//! machine without PostgreSQL still runs everything else; `MINEWATCH_TEST_PG=skip` skips them
//! outright. Tests of SQLite's own behaviour (WAL, file creation, memory stores) run on SQLite
//! only.

use crate::migrate::migrations_for;
use crate::pool::{Pool, on_pool};
use crate::{
    AlertQuery, Applied, Cursor, DeadLetter, DeadLetterQuery, Delivery, DeliveryQuery,
    DeliveryState, Example, Silence, SilenceQuery, StatusOrder, Store, StoreConfig, StoreError,
    WriteBatch, is_silenced,
};
use chrono::{DateTime, TimeZone, Utc};
use minewatch_core::alert::{Ack, alert_key};
use minewatch_core::registry::MineStatus;
use minewatch_core::{Alert, AlertState, Event, EventType, Kind, Severity};
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use std::sync::atomic::{AtomicU32, Ordering};
use tempfile::TempDir;

/// The test server when `MINEWATCH_TEST_PG` is unset: a local PostgreSQL with trust auth.
const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

/// One test's database: what `url` points to, and what to clean up after.
struct TestDb {
    /// The store URL a test opens (as often as it likes).
    url: String,
    /// The SQLite file's directory, deleted on drop.
    _dir: Option<TempDir>,
    /// The PostgreSQL server's URL and this test's schema in it, dropped on drop.
    pg_schema: Option<(String, String)>,
}

impl TestDb {
    /// A fresh SQLite file in its own temporary directory.
    fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("a temporary directory");
        TestDb {
            url: url_in(&dir),
            _dir: Some(dir),
            pg_schema: None,
        }
    }

    /// A fresh schema on the test PostgreSQL server, or `None` if `MINEWATCH_TEST_PG=skip`, or if
    /// it is unset and nothing answers at [`DEFAULT_PG`].
    ///
    /// # Panics
    /// When a server named by `MINEWATCH_TEST_PG` cannot be reached: CI names one, and a skipped
    /// backend would hide a broken one.
    async fn postgres() -> Option<TestDb> {
        let named = std::env::var("MINEWATCH_TEST_PG").ok();
        let server = named.clone().unwrap_or_else(|| DEFAULT_PG.to_owned());
        if server == "skip" {
            eprintln!("MINEWATCH_TEST_PG=skip: PostgreSQL variant skipped");
            return None;
        }
        /// Tells tests running in parallel in this process apart.
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let schema = format!(
            "mwtest_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = match PgConnection::connect(&server).await {
            Ok(conn) => conn,
            Err(e) if named.is_none() => {
                eprintln!(
                    "MINEWATCH_TEST_PG unset and no PostgreSQL at {server} ({e}): \
                     PostgreSQL variant skipped"
                );
                return None;
            }
            Err(e) => panic!(
                "PostgreSQL store tests need a server at MINEWATCH_TEST_PG={server:?} \
                 (set MINEWATCH_TEST_PG=skip to skip them): {e}"
            ),
        };
        sqlx::raw_sql(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .execute(&mut conn)
        .await
        .expect("create the test schema");
        conn.close().await.expect("close");
        let sep = if server.contains('?') { '&' } else { '?' };
        Some(TestDb {
            url: format!("{server}{sep}options=-csearch_path%3D{schema}"),
            _dir: None,
            pg_schema: Some((server, schema)),
        })
    }

    /// Opens the store, migrating it.
    async fn open(&self) -> Store {
        Store::open(&self.url).await.expect("open the test store")
    }
}

impl Drop for TestDb {
    /// Drops the PostgreSQL schema, on a thread of its own since drop cannot await (and runs on
    /// panic too, so a failed test leaves nothing behind either).
    fn drop(&mut self) {
        let Some((server, schema)) = self.pg_schema.take() else {
            return;
        };
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async {
                let mut conn = PgConnection::connect(&server).await?;
                sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test schema: {dropped:?}");
        }
    }
}

/// Turns each `async fn name(db: TestDb)` listed into a module `name` with two tests, `sqlite`
/// and `postgres`, running it against each backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::TestDb::sqlite()).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(db) = super::TestDb::postgres().await {
                    super::$name(db).await;
                }
            }
        }
    )*};
}

/// A fixed instant plus `secs` seconds and a few nanoseconds, so exact round trips are tested.
fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_000_000 + secs, 123_456_789)
        .single()
        .expect("a valid instant")
}

/// An active alert as the writer would raise it.
fn alert(id: &str, mine: &str, kind: Kind, severity: Severity, started: i64) -> Alert {
    Alert {
        id: id.to_owned(),
        key: alert_key(mine, kind, "P0101"),
        mine: mine.to_owned(),
        kind,
        severity,
        state: AlertState::Active,
        subject: "P0101".to_owned(),
        area: Some("A1201".to_owned()),
        message: format!("{kind} at P0101"),
        value: Some(1.625),
        limit: Some(1.5),
        started_at: t(started),
        updated_at: t(started),
        resolved_at: None,
        ack: None,
        evidence: serde_json::json!({"readings": [1.5, 1.625], "point": "P0101"}),
        alarm: Default::default(),
    }
}

/// The same alert, resolved at `secs`.
fn resolved(a: &Alert, secs: i64) -> Alert {
    Alert {
        state: AlertState::Resolved,
        updated_at: t(secs),
        resolved_at: Some(t(secs)),
        ..a.clone()
    }
}

/// An event carrying `alert` as it stood after it.
fn event(seq: u64, kind: EventType, alert: &Alert) -> Event {
    Event {
        kind,
        seq,
        at: t(i64::try_from(seq).expect("small seq") * 7),
        alert: alert.clone(),
    }
}

/// A batch of events only.
fn events(events: Vec<Event>) -> WriteBatch {
    WriteBatch {
        events,
        ..WriteBatch::default()
    }
}

/// A new dead letter from `mine` (or from a topic naming no valid mine).
fn dead_letter(mine: Option<&str>, reason: &str) -> DeadLetter {
    DeadLetter {
        id: 0,
        received_at: t(1),
        topic: format!("mines/{}/safety", mine.unwrap_or("???")),
        mine: mine.map(str::to_owned),
        system: Some("safety".to_owned()),
        reason: reason.to_owned(),
        detail: format!("{reason} in element 0"),
        excerpt: "{\"readings\":[{\"point\":\"P0101\"".to_owned(),
        count: 1,
        examples: vec![Example {
            detail: format!("{reason} in element 0"),
            excerpt: "{\"point\":\"P0101\"".to_owned(),
        }],
    }
}

/// A regulator's order.
fn order(mine: &str, status: MineStatus, secs: i64) -> StatusOrder {
    StatusOrder {
        mine: mine.to_owned(),
        status,
        by: "regulator-7".to_owned(),
        at: t(secs),
        note: format!("order {secs}"),
    }
}

/// The URL of a database file inside `dir`.
fn url_in(dir: &TempDir) -> String {
    format!("sqlite://{}", dir.path().join("minewatch.db").display())
}

/// A fresh SQLite store in its own temporary directory (kept alive by the returned guard).
async fn fresh_sqlite() -> (TempDir, Store) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(&url_in(&dir))
        .await
        .expect("open a fresh store");
    (dir, store)
}

/// The ids of `alerts`, in order.
fn ids(alerts: &[Alert]) -> Vec<&str> {
    alerts.iter().map(|a| a.id.as_str()).collect()
}

/// The seqs of `events`, in order.
fn seqs(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

async fn an_empty_store_has_no_seq_and_no_alerts(db: TestDb) {
    let store = db.open().await;
    assert_eq!(store.last_seq().await.expect("last_seq"), 0);
    assert_eq!(store.first_seq().await.expect("first_seq"), None);
    assert!(store.active_alerts().await.expect("active").is_empty());
    assert!(store.alert("nope").await.expect("alert").is_none());
    assert!(store.events_after(0, 0).await.expect("events").is_empty());
    store
        .commit(&WriteBatch::default())
        .await
        .expect("an empty batch is a no-op");
}

async fn committed_events_and_alerts_read_back_exactly_as_written(db: TestDb) {
    let store = db.open().await;
    let a = alert("A1", "M1", Kind::OverLimit, Severity::Critical, 0);
    let b = alert("B1", "M2", Kind::Distress, Severity::Critical, 5);
    let written = vec![
        event(1, EventType::Raised, &a),
        event(2, EventType::Raised, &b),
    ];
    store
        .commit(&events(written.clone()))
        .await
        .expect("commit");

    let (stored, its_events) = store.alert("A1").await.expect("alert").expect("A1 stored");
    assert_eq!(stored, a);
    assert_eq!(its_events, vec![written[0].clone()]);
    assert_eq!(store.events_after(0, 0).await.expect("events"), written);
    assert_eq!(store.last_seq().await.expect("last_seq"), 2);
    assert_eq!(store.first_seq().await.expect("first_seq"), Some(1));
    assert_eq!(store.active_alerts().await.expect("active"), vec![b, a]);
}

async fn the_alert_row_follows_its_latest_event_through_ack_and_resolve(db: TestDb) {
    let store = db.open().await;
    let raised = alert("A1", "M1", Kind::OverLimit, Severity::Major, 0);
    let updated = Alert {
        severity: Severity::Critical,
        value: Some(1.75),
        updated_at: t(30),
        ..raised.clone()
    };
    let acked = Alert {
        ack: Some(Ack {
            by: "op".to_owned(),
            at: t(40),
            note: "crew withdrawn".to_owned(),
        }),
        ..updated.clone()
    };
    let done = resolved(&acked, 60);
    let steps = [
        event(1, EventType::Raised, &raised),
        event(2, EventType::Updated, &updated),
        event(3, EventType::Acked, &acked),
        event(4, EventType::Resolved, &done),
    ];
    for step in &steps {
        store
            .commit(&events(vec![step.clone()]))
            .await
            .expect("commit one step");
    }

    let (stored, history) = store.alert("A1").await.expect("alert").expect("stored");
    assert_eq!(stored, done);
    assert_eq!(history, steps.to_vec());
    assert!(store.active_alerts().await.expect("active").is_empty());
    let q = AlertQuery {
        state: Some(AlertState::Resolved),
        ..AlertQuery::default()
    };
    assert_eq!(store.alerts(&q).await.expect("resolved"), vec![done]);
}

async fn the_alert_row_keeps_the_latest_event_when_a_batch_lists_events_out_of_order(db: TestDb) {
    let store = db.open().await;
    let a = alert("A1", "M1", Kind::Flatline, Severity::Major, 0);
    let done = resolved(&a, 10);
    store
        .commit(&events(vec![
            event(2, EventType::Resolved, &done),
            event(1, EventType::Raised, &a),
        ]))
        .await
        .expect("commit");
    let (stored, history) = store.alert("A1").await.expect("alert").expect("stored");
    assert_eq!(stored.state, AlertState::Resolved);
    assert_eq!(seqs(&history), vec![1, 2]);
}

async fn active_alerts_survive_dropping_and_reopening_the_store(db: TestDb) {
    let a = alert("A1", "M1", Kind::OverLimit, Severity::Critical, 0);
    let b = alert("B1", "M1", Kind::SensorFault, Severity::Warning, 1);
    {
        let store = db.open().await;
        store
            .commit(&events(vec![
                event(1, EventType::Raised, &a),
                event(2, EventType::Raised, &b),
                event(3, EventType::Resolved, &resolved(&b, 9)),
            ]))
            .await
            .expect("commit");
    }
    let store = db.open().await;
    assert_eq!(store.active_alerts().await.expect("active"), vec![a]);
    assert_eq!(store.last_seq().await.expect("last_seq"), 3);
}

async fn commit_is_all_or_nothing_when_a_seq_repeats(db: TestDb) {
    let store = db.open().await;
    let a = alert("A1", "M1", Kind::OverLimit, Severity::Major, 0);
    store
        .commit(&events(vec![event(1, EventType::Raised, &a)]))
        .await
        .expect("first commit");

    let b = alert("B1", "M2", Kind::Distress, Severity::Critical, 5);
    let a_resolved = resolved(&a, 20);
    let bad = WriteBatch {
        events: vec![
            event(2, EventType::Raised, &b),
            event(3, EventType::Updated, &a_resolved),
            // Repeats seq 1: the whole batch must go, including what came before it.
            event(1, EventType::Resolved, &a_resolved),
        ],
        dead_letters: vec![dead_letter(Some("M1"), "bad_json")],
        ..WriteBatch::default()
    };
    let err = store.commit(&bad).await.expect_err("a repeated seq fails");
    assert!(matches!(err, StoreError::Sqlx(_)), "{err}");

    assert!(store.alert("B1").await.expect("alert").is_none());
    let (stored, history) = store.alert("A1").await.expect("alert").expect("A1 kept");
    assert_eq!(stored, a);
    assert_eq!(seqs(&history), vec![1]);
    assert_eq!(store.last_seq().await.expect("last_seq"), 1);
    let letters = store
        .dead_letters(&DeadLetterQuery::default())
        .await
        .expect("dead letters");
    assert!(letters.is_empty());
}

async fn events_after_pages_through_the_log_in_seq_order(db: TestDb) {
    let store = db.open().await;
    let a = alert("A1", "M1", Kind::PowerAnomaly, Severity::Warning, 0);
    let mut log = vec![event(1, EventType::Raised, &a)];
    log.extend((2..=25).map(|seq| event(seq, EventType::Updated, &a)));
    // Two commits, the later one listed first, to show order comes from seq, not from insertion.
    store
        .commit(&events(log[12..].to_vec()))
        .await
        .expect("commit");
    store
        .commit(&events(log[..12].to_vec()))
        .await
        .expect("commit");

    let mut after = 0;
    let mut pages = Vec::new();
    loop {
        let page = store.events_after(after, 10).await.expect("page");
        let Some(last) = page.last() else { break };
        after = last.seq;
        pages.push(seqs(&page));
    }
    assert_eq!(
        pages,
        vec![
            (1..=10).collect::<Vec<_>>(),
            (11..=20).collect(),
            (21..=25).collect()
        ]
    );
    assert_eq!(store.events_after(0, 0).await.expect("default limit"), log);
    assert_eq!(
        store.events_after(0, u32::MAX).await.expect("capped").len(),
        25
    );
    assert!(
        store
            .events_after(u64::MAX, 10)
            .await
            .expect("beyond")
            .is_empty()
    );
}

async fn alerts_filter_by_state_mine_mines_kind_severity_and_limit(db: TestDb) {
    let store = db.open().await;
    let a1 = alert("A1", "M1", Kind::OverLimit, Severity::Critical, 1);
    let a2 = resolved(
        &alert("A2", "M1", Kind::SensorFault, Severity::Warning, 2),
        3,
    );
    let a3 = alert("A3", "M2", Kind::OverLimit, Severity::Major, 3);
    let a4 = alert("A4", "M3", Kind::Distress, Severity::Critical, 4);
    // Started at the same instant as A3: the larger id comes first.
    let a5 = alert("A5", "M2", Kind::OverLimit, Severity::Critical, 3);
    let all = [&a1, &a2, &a3, &a4, &a5];
    store
        .commit(&events(
            all.iter()
                .zip(1..)
                .map(|(a, seq)| event(seq, EventType::Raised, a))
                .collect(),
        ))
        .await
        .expect("commit");

    let mines = |m: &[&str]| Some(m.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
    let cases: Vec<(&str, AlertQuery, Vec<&str>)> = vec![
        (
            "all",
            AlertQuery::default(),
            vec!["A4", "A5", "A3", "A2", "A1"],
        ),
        (
            "active",
            AlertQuery {
                state: Some(AlertState::Active),
                ..Default::default()
            },
            vec!["A4", "A5", "A3", "A1"],
        ),
        (
            "resolved",
            AlertQuery {
                state: Some(AlertState::Resolved),
                ..Default::default()
            },
            vec!["A2"],
        ),
        (
            "mine",
            AlertQuery {
                mine: Some("M1".to_owned()),
                ..Default::default()
            },
            vec!["A2", "A1"],
        ),
        (
            "mines",
            AlertQuery {
                mines: mines(&["M1", "M3"]),
                ..Default::default()
            },
            vec!["A4", "A2", "A1"],
        ),
        (
            "no mines",
            AlertQuery {
                mines: mines(&[]),
                ..Default::default()
            },
            vec![],
        ),
        (
            "mine outside mines",
            AlertQuery {
                mine: Some("M2".to_owned()),
                mines: mines(&["M1"]),
                ..Default::default()
            },
            vec![],
        ),
        (
            "kind",
            AlertQuery {
                kind: Some(Kind::OverLimit),
                ..Default::default()
            },
            vec!["A5", "A3", "A1"],
        ),
        (
            "severity is exact, not at-least",
            AlertQuery {
                severity: Some(Severity::Major),
                ..Default::default()
            },
            vec!["A3"],
        ),
        (
            "critical",
            AlertQuery {
                severity: Some(Severity::Critical),
                ..Default::default()
            },
            vec!["A4", "A5", "A1"],
        ),
        (
            "limit",
            AlertQuery {
                limit: 2,
                ..Default::default()
            },
            vec!["A4", "A5"],
        ),
        (
            "combined",
            AlertQuery {
                state: Some(AlertState::Active),
                mine: Some("M2".to_owned()),
                kind: Some(Kind::OverLimit),
                severity: Some(Severity::Critical),
                ..Default::default()
            },
            vec!["A5"],
        ),
    ];
    for (name, q, want) in cases {
        let got = store.alerts(&q).await.expect(name);
        assert_eq!(ids(&got), want, "{name}");
    }
    let everything = store.alerts(&AlertQuery::default()).await.expect("all");
    assert_eq!(everything[3], a2, "reads return the stored alert whole");
}

async fn dead_letters_come_newest_first_and_pruning_keeps_the_newest(db: TestDb) {
    let store = db.open().await;
    let first = WriteBatch {
        events: Vec::new(),
        dead_letters: vec![
            dead_letter(Some("M1"), "r1"),
            dead_letter(None, "r2"),
            dead_letter(Some("M2"), "r3"),
        ],
        ..WriteBatch::default()
    };
    let second = WriteBatch {
        events: Vec::new(),
        dead_letters: vec![dead_letter(Some("M1"), "r4"), dead_letter(Some("M2"), "r5")],
        ..WriteBatch::default()
    };
    store.commit(&first).await.expect("commit");
    store.commit(&second).await.expect("commit");

    let reasons = |letters: &[DeadLetter]| -> Vec<String> {
        letters.iter().map(|d| d.reason.clone()).collect()
    };
    let all = store
        .dead_letters(&DeadLetterQuery::default())
        .await
        .expect("all");
    assert_eq!(reasons(&all), ["r5", "r4", "r3", "r2", "r1"]);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id && w[1].id > 0));
    let r2 = DeadLetter {
        id: all[3].id,
        ..dead_letter(None, "r2")
    };
    assert_eq!(all[3], r2, "read back whole");

    let q = |mine: Option<&str>, mines: Option<&[&str]>, before_id, limit| DeadLetterQuery {
        mine: mine.map(str::to_owned),
        mines: mines.map(|m| m.iter().map(|s| (*s).to_owned()).collect()),
        before_id,
        limit,
    };
    let get = |q: DeadLetterQuery| {
        let store = store.clone();
        async move { store.dead_letters(&q).await.expect("query") }
    };
    assert_eq!(
        reasons(&get(q(Some("M1"), None, None, 0)).await),
        ["r4", "r1"]
    );
    assert_eq!(
        reasons(&get(q(None, Some(&["M2"]), None, 0)).await),
        ["r5", "r3"]
    );
    assert!(get(q(None, Some(&[]), None, 0)).await.is_empty());
    let page = get(q(None, None, None, 2)).await;
    assert_eq!(reasons(&page), ["r5", "r4"]);
    let next = get(q(None, None, page.last().map(|d| d.id), 2)).await;
    assert_eq!(reasons(&next), ["r3", "r2"]);

    assert_eq!(store.prune_dead_letters(2).await.expect("prune"), 3);
    let kept = get(q(None, None, None, 0)).await;
    assert_eq!(reasons(&kept), ["r5", "r4"]);
    assert_eq!(store.prune_dead_letters(2).await.expect("prune again"), 0);
    assert_eq!(store.prune_dead_letters(10).await.expect("keep more"), 0);
    assert_eq!(store.prune_dead_letters(0).await.expect("prune all"), 2);
    assert!(get(q(None, None, None, 0)).await.is_empty());
}

async fn status_orders_upsert_by_mine_survive_reopening_and_can_be_lifted(db: TestDb) {
    {
        let store = db.open().await;
        store
            .set_mine_status(&order("M1", MineStatus::Suspended, 1))
            .await
            .expect("set");
        store
            .set_mine_status(&order("M2", MineStatus::Closed, 2))
            .await
            .expect("set");
        store
            .set_mine_status(&order("M1", MineStatus::Producing, 3))
            .await
            .expect("replace");
    }
    let store = db.open().await;
    assert_eq!(
        store.mine_statuses().await.expect("statuses"),
        vec![
            order("M1", MineStatus::Producing, 3),
            order("M2", MineStatus::Closed, 2)
        ]
    );

    store.clear_mine_status("M1").await.expect("lift");
    store
        .clear_mine_status("M9")
        .await
        .expect("lifting no order is fine");
    assert_eq!(
        store.mine_statuses().await.expect("statuses"),
        vec![order("M2", MineStatus::Closed, 2)]
    );
    let history: Vec<(String, Option<String>)> = on_pool!(&store.pool, |p| {
        sqlx::query_as("SELECT mine, status FROM status_history ORDER BY id")
            .fetch_all(p)
            .await
            .expect("history")
    });
    let some = |m: &str, s: &str| (m.to_owned(), Some(s.to_owned()));
    assert_eq!(
        history,
        vec![
            some("M1", "suspended"),
            some("M2", "closed"),
            some("M1", "producing"),
            ("M1".to_owned(), None),
        ]
    );
}

async fn engine_state_is_upserted_read_and_listed_by_exact_prefix(db: TestDb) {
    let store = db.open().await;
    for (k, v) in [
        ("clock/M2", "20"),
        ("clock/M1", "10"),
        ("clock/M1", "11"),
        ("clockXM3", "30"),
        ("baseline/M1", "{}"),
    ] {
        store.put_state(k, v).await.expect("put");
    }
    assert_eq!(
        store.get_state("clock/M1").await.expect("get").as_deref(),
        Some("11")
    );
    assert_eq!(store.get_state("clock/M9").await.expect("get"), None);
    let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert_eq!(
        store.states("clock/").await.expect("states"),
        pairs(&[("clock/M1", "11"), ("clock/M2", "20")])
    );
    // `_` and `%` are not wildcards, and case matters.
    assert!(store.states("clock_").await.expect("states").is_empty());
    assert!(store.states("clock%").await.expect("states").is_empty());
    assert!(store.states("CLOCK/").await.expect("states").is_empty());
    assert_eq!(store.states("").await.expect("states").len(), 4);
}

#[tokio::test]
async fn opening_creates_missing_parent_directories() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("a").join("b").join("mw.db");
    let store = Store::open(&format!("sqlite://{}", path.display()))
        .await
        .expect("open in a new directory");
    store.put_state("k", "v").await.expect("write");
    assert!(path.exists());
}

#[tokio::test]
async fn a_memory_store_keeps_its_data_while_open() {
    let store = Store::open("sqlite::memory:").await.expect("open memory");
    let a = alert("A1", "M1", Kind::NoLeader, Severity::Major, 0);
    store
        .commit(&events(vec![event(1, EventType::Raised, &a)]))
        .await
        .expect("commit");
    store.put_state("k", "v").await.expect("put");
    assert_eq!(store.active_alerts().await.expect("active"), vec![a]);
    assert_eq!(
        store.get_state("k").await.expect("get").as_deref(),
        Some("v")
    );
}

async fn reopening_applies_each_migration_once_and_a_newer_schema_is_refused(db: TestDb) {
    drop(db.open().await);
    let store = db.open().await;
    assert_eq!(
        applied_migrations(&store).await,
        migrations_for(&store.pool).len()
    );

    on_pool!(&store.pool, |p| {
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'x', '')",
        )
        .execute(p)
        .await
        .expect("pretend a newer build ran");
    });
    store.close().await;
    let err = Store::open(&db.url).await.expect_err("newer schema");
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 999, .. }),
        "{err}"
    );
}

/// How many migrations `store`'s database records as applied.
async fn applied_migrations(store: &Store) -> usize {
    let applied: i64 = on_pool!(&store.pool, |p| {
        sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations")
            .fetch_one(p)
            .await
            .expect("count")
    });
    usize::try_from(applied).expect("small")
}

async fn stores_opened_at_the_same_moment_migrate_once(db: TestDb) {
    // Concurrent on one task (the opens' I/O interleaves), each with its own connections.
    let (a, b, c, d) = tokio::join!(
        Store::open(&db.url),
        Store::open(&db.url),
        Store::open(&db.url),
        Store::open(&db.url)
    );
    let opened = [a, b, c, d].map(|s| s.expect("open concurrently"));
    for store in &opened {
        assert_eq!(
            applied_migrations(store).await,
            migrations_for(&store.pool).len()
        );
    }
    opened[0].put_state("k", "v").await.expect("write");
    assert_eq!(
        opened[3].get_state("k").await.expect("read").as_deref(),
        Some("v")
    );
}

async fn nul_characters_in_dead_letters_are_stored_as_replacement_characters(db: TestDb) {
    let store = db.open().await;
    let letter = DeadLetter {
        excerpt: "{\"point\":\"P\u{0}1\"}".to_owned(),
        detail: "nul\u{0}".to_owned(),
        ..dead_letter(Some("M1"), "bad_json")
    };
    store
        .commit(&WriteBatch {
            dead_letters: vec![letter.clone()],
            ..WriteBatch::default()
        })
        .await
        .expect("a NUL does not fail the batch");
    let stored = store
        .dead_letters(&DeadLetterQuery::default())
        .await
        .expect("read");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].excerpt, "{\"point\":\"P\u{FFFD}1\"}");
    assert_eq!(stored[0].detail, "nul\u{FFFD}");
}

/// A silence of `mine` (and `kind` / `subject` when given) from `from` to `to` seconds.
fn silence(mine: &str, kind: Option<Kind>, subject: Option<&str>, from: i64, to: i64) -> Silence {
    Silence {
        id: 0,
        mine: mine.to_owned(),
        kind,
        subject: subject.map(str::to_owned),
        starts_at: t(from),
        ends_at: t(to),
        reason: "methane sensor recalibration, WO-17".to_owned(),
        by: "shift-lead".to_owned(),
        created_at: t(from),
        ended_by: None,
    }
}

async fn silences_are_kept_listed_matched_and_ended_early(db: TestDb) {
    let store = db.open().await;
    let a = store
        .add_silence(&silence("M1", Some(Kind::OverLimit), Some("P0101"), 0, 100))
        .await
        .expect("add");
    let b = store
        .add_silence(&silence("M1", None, None, 50, 60))
        .await
        .expect("add");
    let c = store
        .add_silence(&silence("M2", None, None, 0, 1000))
        .await
        .expect("add");
    assert!(a.id > 0 && b.id > a.id && c.id > b.id);
    assert_eq!(store.silence(a.id).await.expect("read"), Some(a.clone()));
    assert_eq!(store.silence(999_999).await.expect("read"), None);

    let all = store
        .silences(&SilenceQuery::default())
        .await
        .expect("list");
    assert_eq!(
        all.iter().map(|s| s.id).collect::<Vec<_>>(),
        [c.id, b.id, a.id]
    );
    let running = store
        .silences(&SilenceQuery {
            ending_after: Some(t(70)),
            ..SilenceQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(
        running.iter().map(|s| s.id).collect::<Vec<_>>(),
        [c.id, a.id]
    );
    let m1 = store
        .silences(&SilenceQuery {
            mines: Some(vec!["M1".into()]),
            ..SilenceQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(m1.len(), 2);
    let none = store
        .silences(&SilenceQuery {
            mines: Some(vec![]),
            ..SilenceQuery::default()
        })
        .await
        .expect("list");
    assert!(none.is_empty());

    let hit = alert("a1", "M1", Kind::OverLimit, Severity::Critical, 0);
    let other_kind = alert("a2", "M1", Kind::SensorFault, Severity::Warning, 0);
    assert!(is_silenced(&all, &hit, t(10)));
    assert!(
        !is_silenced(&all, &other_kind, t(10)),
        "a is for over_limit only"
    );
    assert!(
        is_silenced(&all, &other_kind, t(55)),
        "b covers every kind of M1"
    );
    assert!(!is_silenced(&all, &hit, t(100)), "ends_at is exclusive");

    let ended = store
        .end_silence(a.id, "night-lead", t(20))
        .await
        .expect("end")
        .expect("known");
    assert_eq!(ended.ends_at, t(20));
    assert_eq!(ended.ended_by.as_deref(), Some("night-lead"));
    // Ending again changes nothing: the first ending is the record.
    let again = store
        .end_silence(a.id, "someone-else", t(30))
        .await
        .expect("end")
        .expect("known");
    assert_eq!(again, ended);
    assert_eq!(
        store.end_silence(999_999, "x", t(30)).await.expect("end"),
        None
    );
}

/// A delivery record of `seq` to `sink`.
fn delivery(sink: &str, seq: u64, mine: &str, state: DeliveryState) -> Delivery {
    Delivery {
        id: 0,
        sink: sink.to_owned(),
        seq,
        kind: "raised".to_owned(),
        mine: mine.to_owned(),
        alert_id: format!("a{seq}"),
        state,
        attempts: 3,
        first_attempt_at: t(1),
        last_attempt_at: t(9),
        error: (state == DeliveryState::Failed).then(|| "HTTP 503".to_owned()),
    }
}

async fn sink_cursors_advance_with_their_delivery_records(db: TestDb) {
    let store = db.open().await;
    assert_eq!(store.sink_cursor("hook").await.expect("read"), None);
    store.advance_sink("hook", 0, None).await.expect("init");
    assert_eq!(store.sink_cursor("hook").await.expect("read"), Some(0));
    let failed = delivery("hook", 1, "M1", DeliveryState::Failed);
    store
        .advance_sink("hook", 1, Some(&failed))
        .await
        .expect("advance");
    store
        .advance_sink(
            "hook",
            2,
            Some(&delivery("hook", 2, "M2", DeliveryState::Delivered)),
        )
        .await
        .expect("advance");
    store
        .advance_sink(
            "am",
            2,
            Some(&delivery("am", 2, "M2", DeliveryState::Delivered)),
        )
        .await
        .expect("advance");
    assert_eq!(store.sink_cursor("hook").await.expect("read"), Some(2));
    assert_eq!(store.sink_cursor("am").await.expect("read"), Some(2));

    let all = store
        .deliveries(&DeliveryQuery::default())
        .await
        .expect("list");
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].sink, "am", "newest first");
    let only_failed = store
        .deliveries(&DeliveryQuery {
            state: Some(DeliveryState::Failed),
            ..DeliveryQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(only_failed.len(), 1);
    assert_eq!(
        Delivery {
            id: 0,
            ..only_failed[0].clone()
        },
        failed
    );
    let m2_hook = store
        .deliveries(&DeliveryQuery {
            sink: Some("hook".into()),
            mines: Some(vec!["M2".into()]),
            ..DeliveryQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(m2_hook.len(), 1);
    assert_eq!(m2_hook[0].seq, 2);

    // Pruning keeps every failure and the newest delivered records.
    assert_eq!(store.prune_deliveries(1).await.expect("prune"), 1);
    let left = store
        .deliveries(&DeliveryQuery::default())
        .await
        .expect("list");
    assert_eq!(
        left.iter()
            .map(|d| (d.sink.as_str(), d.seq))
            .collect::<Vec<_>>(),
        [("am", 2), ("hook", 1)]
    );
}

async fn applied_digests_are_stored_with_their_batch_read_newest_first_and_pruned(db: TestDb) {
    let store = db.open().await;
    let applied = |mine: &str, digest: u128| Applied {
        mine: Some(std::sync::Arc::from(mine)),
        digest,
    };
    // More than one multi-row INSERT's worth, and the largest digest, in one batch.
    let mut first: Vec<Applied> = (0..2500u128).map(|d| applied("M1", d)).collect();
    first.push(applied("M2", u128::MAX));
    store
        .commit(&WriteBatch {
            applied: first,
            token: "run-1".into(),
            ..WriteBatch::default()
        })
        .await
        .expect("commit");
    assert!(store.committed("run-1").await.expect("token"));
    let bad = WriteBatch {
        events: vec![event(
            1,
            EventType::Raised,
            &alert("A1", "M1", Kind::OverLimit, Severity::Major, 1),
        )],
        applied: vec![applied("M1", 7777)],
        token: "run-2".into(),
        ..WriteBatch::default()
    };
    store.commit(&bad).await.expect("commit");
    // The same seq again: the batch fails whole, its digest and token included.
    let again = WriteBatch {
        applied: vec![applied("M3", 8888)],
        token: "run-3".into(),
        ..bad
    };
    store.commit(&again).await.expect_err("a repeated seq");
    assert!(!store.committed("run-3").await.expect("token"));
    assert!(store.committed("run-2").await.expect("token"));

    let newest = store.applied_messages(3).await.expect("read");
    assert_eq!(
        newest,
        vec![
            ("M1".to_string(), 7777),
            ("M2".to_string(), u128::MAX),
            ("M1".to_string(), 2499)
        ]
    );
    assert_eq!(store.prune_applied(10).await.expect("prune"), 2492);
    let kept = store.applied_messages(100).await.expect("read");
    assert_eq!(kept.len(), 10);
    assert_eq!(kept[0], ("M1".to_string(), 7777));
}

/// Paging with a cursor both ways, ties by id, and a time range: the SQL both databases run.
async fn alerts_page_by_cursor_both_ways_and_filter_by_time_and_subject(db: TestDb) {
    let store = db.open().await;
    let mut list: Vec<Alert> = (1..=5)
        .map(|i| alert(&format!("B{i}"), "M1", Kind::OverLimit, Severity::Major, i))
        .collect();
    // B6 starts with B5: the larger id first.
    list.push(alert("B6", "M1", Kind::OverLimit, Severity::Major, 5));
    list[0].subject = "P0202".to_owned();
    store
        .commit(&events(
            list.iter()
                .zip(1..)
                .map(|(a, seq)| event(seq, EventType::Raised, a))
                .collect(),
        ))
        .await
        .expect("commit");
    let page = |cursor: Option<Cursor>, limit: u32| AlertQuery {
        cursor,
        limit,
        ..Default::default()
    };
    let ids = |v: Vec<Alert>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    let started = |id: &str| {
        list.iter()
            .find(|a| a.id == id)
            .map(|a| a.started_at)
            .expect("listed")
    };
    let before = |id: &str| Some(Cursor::Before(started(id), id.to_owned()));
    let after = |id: &str| Some(Cursor::After(started(id), id.to_owned()));
    let q = |query: AlertQuery| {
        let store = &store;
        async move { ids(store.alerts(&query).await.expect("alerts")) }
    };
    assert_eq!(q(page(None, 2)).await, ["B6", "B5"]);
    assert_eq!(
        q(page(before("B6"), 2)).await,
        ["B5", "B4"],
        "a tie at B6's start"
    );
    assert_eq!(q(page(before("B4"), 5)).await, ["B3", "B2", "B1"]);
    assert_eq!(
        q(page(after("B2"), 2)).await,
        ["B4", "B3"],
        "the page next to the cursor"
    );
    assert_eq!(q(page(after("B5"), 2)).await, ["B6"]);
    assert_eq!(
        store.alert_started("B3").await.expect("read"),
        Some(started("B3"))
    );
    assert_eq!(store.alert_started("nope").await.expect("read"), None);
    let range = AlertQuery {
        since: Some(t(2)),
        until: Some(t(4)),
        ..Default::default()
    };
    assert_eq!(
        q(range).await,
        ["B3", "B2"],
        "since inclusive, until exclusive"
    );
    let subject = AlertQuery {
        subject: Some("P0202".to_owned()),
        ..Default::default()
    };
    assert_eq!(q(subject).await, ["B1"]);
}

/// Retention: closed alerts resolved before the cutoff go, oldest first and in batches, with
/// their events; active alerts, cleared ones still waiting for an ack, and newer ones stay.
async fn retention_prunes_closed_alerts_with_their_events_in_batches_and_keeps_the_rest(
    db: TestDb,
) {
    use minewatch_core::alarm::AlarmState;
    let store = db.open().await;
    let closed = |a: Alert| Alert {
        alarm: minewatch_core::alarm::Alarm {
            alarm_state: AlarmState::Closed,
            ..a.alarm.clone()
        },
        ..a
    };
    let raise = |id: &str| alert(id, "M1", Kind::OverLimit, Severity::Major, 1);
    let a1 = raise("A1");
    let a2 = raise("A2");
    let a3 = raise("A3");
    let a4 = raise("A4");
    let a5 = raise("A5");
    let a3_cleared = Alert {
        alarm: minewatch_core::alarm::Alarm {
            alarm_state: AlarmState::ClearedUnacked,
            ..a3.alarm.clone()
        },
        ..resolved(&a3, 5)
    };
    let list = vec![
        event(1, EventType::Raised, &a1),
        event(2, EventType::Raised, &a2),
        event(3, EventType::Raised, &a3),
        event(4, EventType::Raised, &a4),
        event(5, EventType::Raised, &a5),
        event(6, EventType::Resolved, &closed(resolved(&a1, 10))),
        event(7, EventType::Resolved, &closed(resolved(&a2, 11))),
        event(8, EventType::Resolved, &a3_cleared),
        event(9, EventType::Resolved, &closed(resolved(&a5, 1000))),
    ];
    store.commit(&events(list)).await.expect("commit");
    let cutoff = t(500);
    let mut resume = None;
    assert_eq!(
        store
            .prune_closed(&cutoff, 1, &mut resume)
            .await
            .expect("prune"),
        (1, 2),
        "A1 first"
    );
    assert_eq!(
        store
            .prune_closed(&cutoff, 1, &mut resume)
            .await
            .expect("prune"),
        (1, 2),
        "then A2"
    );
    assert_eq!(
        store
            .prune_closed(&cutoff, 1, &mut resume)
            .await
            .expect("prune"),
        (0, 0),
        "no more"
    );
    let left: Vec<String> = store
        .alerts(&AlertQuery::default())
        .await
        .expect("alerts")
        .into_iter()
        .map(|a| a.id)
        .collect();
    let mut left = left;
    left.sort();
    assert_eq!(left, ["A3", "A4", "A5"]);
    let seqs: Vec<u64> = store
        .events_after(0, 100)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(
        seqs,
        [3, 4, 5, 8, 9],
        "the pruned alerts' events are gone, the others kept"
    );
    assert!(store.alert("A1").await.expect("read").is_none());
}

on_both_backends!(
    retention_prunes_closed_alerts_with_their_events_in_batches_and_keeps_the_rest,
    alerts_page_by_cursor_both_ways_and_filter_by_time_and_subject,
    applied_digests_are_stored_with_their_batch_read_newest_first_and_pruned,
    silences_are_kept_listed_matched_and_ended_early,
    sink_cursors_advance_with_their_delivery_records,
    an_empty_store_has_no_seq_and_no_alerts,
    committed_events_and_alerts_read_back_exactly_as_written,
    the_alert_row_follows_its_latest_event_through_ack_and_resolve,
    the_alert_row_keeps_the_latest_event_when_a_batch_lists_events_out_of_order,
    active_alerts_survive_dropping_and_reopening_the_store,
    commit_is_all_or_nothing_when_a_seq_repeats,
    events_after_pages_through_the_log_in_seq_order,
    alerts_filter_by_state_mine_mines_kind_severity_and_limit,
    dead_letters_come_newest_first_and_pruning_keeps_the_newest,
    status_orders_upsert_by_mine_survive_reopening_and_can_be_lifted,
    engine_state_is_upserted_read_and_listed_by_exact_prefix,
    reopening_applies_each_migration_once_and_a_newer_schema_is_refused,
    stores_opened_at_the_same_moment_migrate_once,
    nul_characters_in_dead_letters_are_stored_as_replacement_characters,
);

/// TLS to PostgreSQL through the URL: `sslmode=require` encrypts (the server must have `ssl`
/// on, as Debian's cluster does, with its snakeoil certificate); `verify-full` against a CA that
/// did not sign the server's certificate is refused, never downgraded.
#[tokio::test]
async fn postgres_over_tls_by_sslmode_and_a_server_it_cannot_verify_is_refused() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (server, _) = db.pg_schema.clone().expect("a postgres test db");
    let mut conn = PgConnection::connect(&server).await.expect("connect");
    let ssl: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(&mut conn)
        .await
        .expect("show ssl");
    conn.close().await.expect("close");
    if ssl != "on" {
        eprintln!("the test PostgreSQL server has ssl off: TLS variant skipped");
        return;
    }
    let with = |extra: &str| {
        let sep = if db.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}{extra}", db.url)
    };
    let store = Store::open(&with("sslmode=require"))
        .await
        .expect("open over TLS");
    let encrypted: bool = on_pool!(&store.pool, |p| {
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(p)
            .await
            .expect("pg_stat_ssl")
    });
    assert!(encrypted, "the connection is encrypted");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("other-ca.pem");
    let other = rcgen::generate_simple_self_signed(vec!["someone-else".into()]).expect("cert");
    std::fs::write(&ca, other.cert.pem()).expect("write");
    let refused = Store::open(&with(&format!(
        "sslmode=verify-full&sslrootcert={}",
        ca.display()
    )))
    .await;
    assert!(
        refused.is_err(),
        "a server certificate no CA given vouches for"
    );
}

#[tokio::test]
async fn urls_that_name_no_supported_database_are_refused() {
    for url in [
        "mysql://localhost/minewatch",
        "postgres:localhost",
        "minewatch.db",
        "sqlite://",
    ] {
        let err = Store::open(url).await.expect_err(url);
        assert!(matches!(err, StoreError::BadUrl { .. }), "{url}: {err}");
    }
}

#[test]
fn store_config_has_defaults_and_refuses_unknown_keys() {
    let cfg: StoreConfig = serde_json::from_str("{}").expect("defaults");
    assert_eq!(cfg.url, "sqlite://minewatch.db");
    assert_eq!(cfg.dead_letter_keep, 10_000);
    assert_eq!(cfg.url, StoreConfig::default().url);
    assert!(serde_json::from_str::<StoreConfig>(r#"{"uri":"sqlite::memory:"}"#).is_err());
}

#[tokio::test]
async fn file_stores_run_in_wal_mode_with_full_sync_and_foreign_keys() {
    let (_dir, store) = fresh_sqlite().await;
    let Pool::Sqlite(pool) = &store.pool else {
        panic!("a SQLite store");
    };
    let mut conn = pool.acquire().await.expect("a connection");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .expect("journal_mode");
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await
        .expect("synchronous");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&mut *conn)
        .await
        .expect("foreign_keys");
    assert_eq!((mode.as_str(), sync, fk), ("wal", 2, 1));
}

/// Not run, only compiled: every store future can be `tokio::spawn`ed, on either backend.
#[allow(dead_code)]
fn store_futures_are_send(store: &Store) {
    fn send<T: Send>(_: T) {}
    send(Store::open("sqlite::memory:"));
    send(store.commit(&WriteBatch::default()));
    send(store.alert("A1"));
    send(store.alerts(&AlertQuery::default()));
    send(store.dead_letters(&DeadLetterQuery::default()));
    send(store.set_mine_status(&order("M1", MineStatus::Closed, 0)));
    send(store.clear_mine_status("M1"));
    send(store.states("clock/"));
}

mod audit;
mod kpi;
