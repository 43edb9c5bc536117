//! Tests of the whole store, each against a fresh SQLite file in its own temporary directory.

use crate::migrate::MIGRATIONS;
use crate::{
    AlertQuery, DeadLetter, DeadLetterQuery, StatusOrder, Store, StoreConfig, StoreError,
    WriteBatch,
};
use chrono::{DateTime, TimeZone, Utc};
use minewatch_core::alert::{Ack, alert_key};
use minewatch_core::registry::MineStatus;
use minewatch_core::{Alert, AlertState, Event, EventType, Kind, Severity};
use tempfile::TempDir;

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
        dead_letters: Vec::new(),
        states: Vec::new(),
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

/// A fresh store in its own temporary directory (kept alive by the returned guard).
async fn fresh() -> (TempDir, Store) {
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

#[tokio::test]
async fn an_empty_store_has_no_seq_and_no_alerts() {
    let (_dir, store) = fresh().await;
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

#[tokio::test]
async fn committed_events_and_alerts_read_back_exactly_as_written() {
    let (_dir, store) = fresh().await;
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

#[tokio::test]
async fn the_alert_row_follows_its_latest_event_through_ack_and_resolve() {
    let (_dir, store) = fresh().await;
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

#[tokio::test]
async fn the_alert_row_keeps_the_latest_event_when_a_batch_lists_events_out_of_order() {
    let (_dir, store) = fresh().await;
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

#[tokio::test]
async fn active_alerts_survive_dropping_and_reopening_the_store() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = url_in(&dir);
    let a = alert("A1", "M1", Kind::OverLimit, Severity::Critical, 0);
    let b = alert("B1", "M1", Kind::SensorFault, Severity::Warning, 1);
    {
        let store = Store::open(&url).await.expect("open");
        store
            .commit(&events(vec![
                event(1, EventType::Raised, &a),
                event(2, EventType::Raised, &b),
                event(3, EventType::Resolved, &resolved(&b, 9)),
            ]))
            .await
            .expect("commit");
    }
    let store = Store::open(&url).await.expect("reopen");
    assert_eq!(store.active_alerts().await.expect("active"), vec![a]);
    assert_eq!(store.last_seq().await.expect("last_seq"), 3);
}

#[tokio::test]
async fn commit_is_all_or_nothing_when_a_seq_repeats() {
    let (_dir, store) = fresh().await;
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
        states: Vec::new(),
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

#[tokio::test]
async fn events_after_pages_through_the_log_in_seq_order() {
    let (_dir, store) = fresh().await;
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

#[tokio::test]
async fn alerts_filter_by_state_mine_mines_kind_severity_and_limit() {
    let (_dir, store) = fresh().await;
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

#[tokio::test]
async fn dead_letters_come_newest_first_and_pruning_keeps_the_newest() {
    let (_dir, store) = fresh().await;
    let first = WriteBatch {
        events: Vec::new(),
        dead_letters: vec![
            dead_letter(Some("M1"), "r1"),
            dead_letter(None, "r2"),
            dead_letter(Some("M2"), "r3"),
        ],
        states: Vec::new(),
    };
    let second = WriteBatch {
        events: Vec::new(),
        dead_letters: vec![dead_letter(Some("M1"), "r4"), dead_letter(Some("M2"), "r5")],
        states: Vec::new(),
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

#[tokio::test]
async fn status_orders_upsert_by_mine_survive_reopening_and_can_be_lifted() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = url_in(&dir);
    {
        let store = Store::open(&url).await.expect("open");
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
    let store = Store::open(&url).await.expect("reopen");
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
    let history: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT mine, status FROM status_history ORDER BY id")
            .fetch_all(&store.pool)
            .await
            .expect("history");
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

#[tokio::test]
async fn engine_state_is_upserted_read_and_listed_by_exact_prefix() {
    let (_dir, store) = fresh().await;
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

#[tokio::test]
async fn reopening_applies_each_migration_once_and_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = url_in(&dir);
    drop(Store::open(&url).await.expect("open"));
    let store = Store::open(&url).await.expect("reopen");
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations")
        .fetch_one(&store.pool)
        .await
        .expect("count");
    assert_eq!(usize::try_from(applied).expect("small"), MIGRATIONS.len());

    sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'x', '')")
        .execute(&store.pool)
        .await
        .expect("pretend a newer build ran");
    store.close().await;
    let err = Store::open(&url).await.expect_err("newer schema");
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 999, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn urls_that_are_not_sqlite_are_refused() {
    for url in [
        "postgres://localhost/minewatch",
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
    let (_dir, store) = fresh().await;
    let mut conn = store.pool.acquire().await.expect("a connection");
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
