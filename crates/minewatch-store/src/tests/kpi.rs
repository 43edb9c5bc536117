//! [`Store::kpis`] on both backends, over hand-made event logs at chosen times: activations,
//! peaks and flood time, bad actors and chattering, stale alerts, acknowledgement times, the
//! window, the mines and the cap. Each threshold is tested just under and just over.

use super::{TestDb, t};
use crate::{KpiQuery, Kpis, MAX_KPI_EVENTS, MineKpis, WriteBatch};
use chrono::TimeDelta;
use minewatch_core::alert::alert_key;
use minewatch_core::{Alert, AlertState, Event, EventType, Kind, Severity};

/// An event log under construction; seqs are assigned in order.
#[derive(Default)]
struct Log {
    events: Vec<Event>,
}

impl Log {
    /// Appends an event of `kind` at `secs` carrying `alert`.
    fn push(&mut self, kind: EventType, secs: i64, alert: &Alert) -> &mut Self {
        self.events.push(Event {
            kind,
            seq: self.events.len() as u64 + 1,
            at: t(secs),
            alert: alert.clone(),
        });
        self
    }

    /// Raises (or raises again, under the same id) `id` about `subject` at `secs`.
    fn raise(&mut self, id: &str, mine: &str, subject: &str, severity: Severity, secs: i64) {
        self.push(
            EventType::Raised,
            secs,
            &alert(id, mine, subject, severity, secs),
        );
    }

    /// Stores the log.
    async fn commit(&self, db: &TestDb) -> crate::Store {
        let store = db.open().await;
        store
            .commit(&WriteBatch {
                events: self.events.clone(),
                ..WriteBatch::default()
            })
            .await
            .expect("commit the log");
        store
    }
}

/// An active over-limit alert about `subject`, started at `secs`.
fn alert(id: &str, mine: &str, subject: &str, severity: Severity, secs: i64) -> Alert {
    Alert {
        id: id.to_owned(),
        key: alert_key(mine, Kind::OverLimit, subject),
        mine: mine.to_owned(),
        kind: Kind::OverLimit,
        severity,
        state: AlertState::Active,
        subject: subject.to_owned(),
        area: None,
        message: String::new(),
        value: None,
        limit: None,
        started_at: t(secs),
        updated_at: t(secs),
        resolved_at: None,
        ack: None,
        evidence: serde_json::Value::Null,
        alarm: Default::default(),
    }
}

/// The query over `[t(since), t(until)]` of every mine, flood at 10.
fn query(since: i64, until: i64) -> KpiQuery {
    KpiQuery {
        mines: None,
        since: t(since),
        until: t(until),
        flood: 10,
        max_events: MAX_KPI_EVENTS,
    }
}

fn row<'a>(k: &'a Kpis, mine: &str) -> &'a MineKpis {
    k.mines
        .iter()
        .find(|m| m.mine == mine)
        .unwrap_or_else(|| panic!("no row for {mine} in {k:#?}"))
}

/// m1: 11 activations 10 s apart (one more than the flood threshold within 10 minutes); m2: 10
/// (exactly the threshold). Window: two hours.
async fn eleven_raises_in_ten_minutes_flood_and_ten_do_not(db: TestDb) {
    let mut log = Log::default();
    for i in 0..11 {
        log.raise(
            &format!("a{i}"),
            "m1",
            &format!("P{i}"),
            Severity::Major,
            60 + i * 10,
        );
    }
    for i in 0..10 {
        log.raise(
            &format!("b{i}"),
            "m2",
            &format!("P{i}"),
            Severity::Major,
            60 + i * 10,
        );
    }
    let store = log.commit(&db).await;
    let k = store.kpis(&query(0, 7200)).await.expect("kpis");
    assert!(!k.capped);
    assert_eq!(k.events_read, 21);
    let m1 = &row(&k, "m1").kpis;
    assert_eq!(m1.activations, 11);
    assert_eq!(m1.peak_10min.count, 11);
    assert_eq!(m1.peak_10min.at, Some(t(60)));
    assert!((m1.per_hour - 5.5).abs() < 1e-9, "{}", m1.per_hour);
    assert!(
        (m1.per_10min - 11.0 / 12.0).abs() < 1e-9,
        "{}",
        m1.per_10min
    );
    // From the 11th activation (160 s) until the first is 10 minutes old (660 s).
    assert_eq!(m1.flood_seconds, 500.0);
    assert!((m1.flood_percent - 100.0 * 500.0 / 7200.0).abs() < 1e-9);
    let m2 = &row(&k, "m2").kpis;
    assert_eq!((m2.activations, m2.peak_10min.count), (10, 10));
    assert_eq!(m2.flood_seconds, 0.0);
    // Both mines together: 21 in 100 s, in flood from 110 s (12 in the last 10 minutes) until
    // 710 s, when the activations up to 110 s have left them (10 remain).
    assert_eq!(k.total.activations, 21);
    assert_eq!(k.total.peak_10min.count, 21);
    assert_eq!(k.total.flood_seconds, 600.0);
    // A higher threshold: no flood.
    let k = store
        .kpis(&KpiQuery {
            flood: 11,
            ..query(0, 7200)
        })
        .await
        .expect("kpis");
    assert_eq!(row(&k, "m1").kpis.flood_seconds, 0.0);
}

/// A key raised again under the same id counts once per raise; three raises of a key less than
/// 10 minutes apart chatter, three spread over exactly 10 minutes do not.
async fn activations_are_raises_and_three_within_ten_minutes_chatter(db: TestDb) {
    let mut log = Log::default();
    let a = alert("a", "m1", "FAST", Severity::Critical, 0);
    log.raise("a", "m1", "FAST", Severity::Critical, 0);
    log.push(EventType::Resolved, 100, &a);
    log.raise("a", "m1", "FAST", Severity::Critical, 300);
    log.push(EventType::Resolved, 400, &a);
    log.raise("a", "m1", "FAST", Severity::Critical, 599);
    for (i, secs) in [0, 300, 600].into_iter().enumerate() {
        log.raise(&format!("b{i}"), "m1", "SLOW", Severity::Major, secs);
    }
    // Twelve keys with one raise each: only ten bad actors are listed.
    for i in 0..12 {
        log.raise(
            &format!("c{i}"),
            "m1",
            &format!("Q{i:02}"),
            Severity::Info,
            5000 + i * 700,
        );
    }
    let store = log.commit(&db).await;
    let k = store.kpis(&query(0, 20_000)).await.expect("kpis");
    let m1 = &row(&k, "m1").kpis;
    assert_eq!(m1.activations, 18);
    let fast = alert_key("m1", Kind::OverLimit, "FAST");
    let slow = alert_key("m1", Kind::OverLimit, "SLOW");
    assert_eq!(m1.chattering.count, 1, "{:?}", m1.chattering);
    assert_eq!(m1.chattering.items[0].key, fast);
    assert_eq!(m1.chattering.items[0].activations, 3);
    assert_eq!(m1.chattering.items[0].max_10min, 3);
    assert_eq!(m1.bad_actors.len(), 10);
    assert_eq!(
        (m1.bad_actors[0].key.as_str(), m1.bad_actors[0].count),
        (fast.as_str(), 3)
    );
    assert_eq!(
        (m1.bad_actors[1].key.as_str(), m1.bad_actors[1].count),
        (slow.as_str(), 3)
    );
    assert_eq!(m1.bad_actors[2].count, 1);
    assert_eq!(k.total.chattering.count, 1);
}

/// Acks measured from the activation they answer: 30 s and 90 s for criticals (median 60, p90
/// 84), 10 s for a major; an alert raised again is measured from its latest raise.
async fn ack_times_are_from_the_latest_raise_to_the_ack_by_severity(db: TestDb) {
    let mut log = Log::default();
    let c1 = alert("c1", "m1", "P1", Severity::Critical, 0);
    let c2 = alert("c2", "m1", "P2", Severity::Critical, 0);
    let m = alert("m", "m2", "P3", Severity::Major, 100);
    let r = alert("r", "m2", "P4", Severity::Critical, 0);
    log.push(EventType::Raised, 0, &c1);
    log.push(EventType::Raised, 0, &c2);
    log.push(EventType::Raised, 100, &m);
    log.push(EventType::Acked, 30, &c1);
    log.push(EventType::Acked, 90, &c2);
    log.push(EventType::Acked, 110, &m);
    log.push(EventType::Raised, 0, &r);
    log.push(EventType::Resolved, 50, &r);
    log.push(EventType::Raised, 1000, &r);
    log.push(EventType::Acked, 1030, &r);
    let store = log.commit(&db).await;
    let k = store.kpis(&query(0, 3600)).await.expect("kpis");
    let m1 = &row(&k, "m1").kpis.ack_seconds;
    assert_eq!(m1.len(), 1);
    assert_eq!((m1[0].severity, m1[0].count), (Severity::Critical, 2));
    assert_eq!(m1[0].median, 60.0);
    assert!((m1[0].p90 - 84.0).abs() < 1e-9, "{}", m1[0].p90);
    let m2 = &row(&k, "m2").kpis.ack_seconds;
    assert_eq!(m2.len(), 2, "{m2:?}");
    assert_eq!(
        (m2[0].severity, m2[0].count, m2[0].median),
        (Severity::Critical, 1, 30.0)
    );
    assert_eq!(
        (m2[1].severity, m2[1].count, m2[1].median),
        (Severity::Major, 1, 10.0)
    );
    let total = &k.total.ack_seconds;
    assert_eq!((total[0].severity, total[0].count), (Severity::Critical, 3));
    assert_eq!(total[0].median, 30.0);
}

/// Stale: still active and started more than 24 h before the end of the window.
async fn alerts_active_for_more_than_a_day_are_stale(db: TestDb) {
    let day = TimeDelta::hours(24).num_seconds();
    let until = day + 10_000;
    let mut log = Log::default();
    log.raise("old", "m1", "P1", Severity::Critical, until - day - 1);
    log.raise("young", "m1", "P2", Severity::Critical, until - day + 1);
    let gone = alert("gone", "m1", "P3", Severity::Major, 0);
    log.push(EventType::Raised, 0, &gone);
    let mut resolved = gone.clone();
    resolved.state = AlertState::Resolved;
    log.push(EventType::Resolved, 10, &resolved);
    let store = log.commit(&db).await;
    let k = store.kpis(&query(until - 3600, until)).await.expect("kpis");
    let m1 = &row(&k, "m1").kpis;
    assert_eq!(m1.stale.count, 1, "{:?}", m1.stale);
    assert_eq!(m1.stale.items[0].id, "old");
    assert_eq!(m1.stale.items[0].started_at, t(until - day - 1));
    // No activation in this window, yet the mine has a row for its stale alert.
    assert_eq!(m1.activations, 0);
    assert_eq!(k.total.stale.count, 1);
}

/// Events outside `[since, until]` are not counted; named mines get a row even when quiet, and
/// others none; no mines, nothing.
async fn the_window_and_the_mines_bound_what_is_counted(db: TestDb) {
    let mut log = Log::default();
    log.raise("early", "m1", "P1", Severity::Major, 99);
    log.raise("in", "m1", "P2", Severity::Major, 100);
    log.raise("edge", "m1", "P3", Severity::Major, 200);
    log.raise("late", "m1", "P4", Severity::Major, 201);
    log.raise("other", "m2", "P1", Severity::Major, 150);
    let store = log.commit(&db).await;
    let k = store.kpis(&query(100, 200)).await.expect("kpis");
    assert_eq!(row(&k, "m1").kpis.activations, 2);
    assert_eq!(k.mines.len(), 2);
    let k = store
        .kpis(&KpiQuery {
            mines: Some(vec!["m1".into(), "m3".into()]),
            ..query(0, 1000)
        })
        .await
        .expect("kpis");
    let mines: Vec<&str> = k.mines.iter().map(|m| m.mine.as_str()).collect();
    assert_eq!(mines, ["m1", "m3"]);
    assert_eq!(row(&k, "m3").kpis.activations, 0);
    assert_eq!(k.total.activations, 4);
    let k = store
        .kpis(&KpiQuery {
            mines: Some(Vec::new()),
            ..query(0, 1000)
        })
        .await
        .expect("kpis");
    assert!(k.mines.is_empty());
    assert_eq!((k.total.activations, k.events_read), (0, 0));
}

/// Past `max_events` (activations and acks together) the newest are read, the report says so,
/// and the rates are over what it covers; at exactly `max_events` it is whole.
async fn a_capped_report_covers_the_newest_events_and_says_so(db: TestDb) {
    let mut log = Log::default();
    for i in 0..8 {
        log.raise(
            &format!("a{i}"),
            "m1",
            &format!("P{i}"),
            Severity::Major,
            1000 + i * 100,
        );
    }
    log.push(
        EventType::Acked,
        1750,
        &alert("a7", "m1", "P7", Severity::Major, 1700),
    );
    let store = log.commit(&db).await;
    let whole = store
        .kpis(&KpiQuery {
            max_events: 9,
            ..query(0, 3600)
        })
        .await
        .expect("kpis");
    assert!(!whole.capped);
    assert_eq!((whole.covered_since, whole.total.activations), (t(0), 8));
    let k = store
        .kpis(&KpiQuery {
            max_events: 5,
            ..query(0, 3600)
        })
        .await
        .expect("kpis");
    assert!(k.capped);
    assert_eq!(k.events_read, 5);
    assert_eq!(k.covered_since, t(1400));
    assert_eq!(k.total.activations, 4);
    assert_eq!(k.total.ack_seconds[0].median, 50.0);
    assert!((k.total.per_hour - 4.0 * 3600.0 / 2200.0).abs() < 1e-9);
}

on_both_backends!(
    eleven_raises_in_ten_minutes_flood_and_ten_do_not,
    activations_are_raises_and_three_within_ten_minutes_chatter,
    ack_times_are_from_the_latest_raise_to_the_ack_by_severity,
    alerts_active_for_more_than_a_day_are_stale,
    the_window_and_the_mines_bound_what_is_counted,
    a_capped_report_covers_the_newest_events_and_says_so,
);
