//! The store at scale (issue 14 point 6): a store of `--events` events (default 10 M with
//! `--bench`, 20,000 otherwise), half of them closed alerts spread over 400 days, then
//! - `/api/alerts` filters (mine, kind, subject, a time range, a cursor page) timed (median of 21),
//! - the query plans of those and of retention's batch (`EXPLAIN QUERY PLAN` / `EXPLAIN`),
//! - retention pruning the alerts that resolved more than 200 days ago: alerts and events per second.
//!
//! SQLite in a temp file; PostgreSQL too when `MINEWATCH_BENCH_PG` names a server (a schema of
//! its own, dropped after). `cargo bench -p minewatch-benches --bench store_retention -- --bench`.
//!
//! `--copies K` (default 20 with `--bench`, 1 otherwise): a K-th of the events is written through
//! the store, which writes about 3,000 events a second here (10 M would take an hour), and the
//! store is then copied K-1 times over in SQL, each copy's alerts with ids, keys and seqs of their
//! own and the same times: K alerts in each time slot of the one written, the same rows, indexes
//! and JSON the store writes.

use chrono::{DateTime, Duration, TimeZone, Utc};
use minewatch_core::alarm::AlarmState;
use minewatch_core::alert::alert_key;
use minewatch_core::{Alert, AlertState, Event, EventType, Kind, Severity};
use minewatch_store::{AlertQuery, Cursor, Store, WriteBatch};
use std::time::Instant;

const MINES: usize = 100;
const KINDS: [Kind; 4] = [
    Kind::OverLimit,
    Kind::SensorFault,
    Kind::PointSilent,
    Kind::Flatline,
];
/// Events per commit while filling.
const FILL_BATCH: usize = 5_000;

fn origin() -> DateTime<Utc> {
    Utc.timestamp_opt(1_760_000_000, 0)
        .single()
        .unwrap_or_default()
}

/// Alert `i` of `n`: started over 400 days, resolved an hour later (closed), or still active for
/// one in 50.
fn alert(i: usize, n: usize) -> (Alert, bool) {
    let span = 400 * 86_400_i64;
    let started = origin() + Duration::seconds(span * i as i64 / n.max(1) as i64);
    let mine = format!("M{:03}", i % MINES);
    let kind = KINDS[i % KINDS.len()];
    let subject = format!("P{:04}", (i / MINES) % 300);
    let a = Alert {
        id: format!("{:026}", i),
        key: alert_key(&mine, kind, &subject),
        mine,
        kind,
        severity: Severity::Major,
        state: AlertState::Active,
        subject,
        area: Some("A1".into()),
        message: format!("{kind} alert number {i}"),
        value: Some(1.2),
        limit: Some(1.0),
        started_at: started,
        updated_at: started,
        resolved_at: None,
        ack: None,
        evidence: serde_json::json!({"value": 1.2}),
        alarm: Default::default(),
    };
    (a, !i.is_multiple_of(50))
}

async fn fill(store: &Store, events: usize) {
    let alerts = events / 2;
    let mut batch = Vec::with_capacity(FILL_BATCH);
    let mut seq = 0_u64;
    let started = Instant::now();
    for i in 0..alerts {
        let (a, closes) = alert(i, alerts);
        seq += 1;
        batch.push(Event {
            kind: EventType::Raised,
            seq,
            at: a.started_at,
            alert: a.clone(),
        });
        if closes {
            let mut r = a.clone();
            r.state = AlertState::Resolved;
            r.resolved_at = Some(a.started_at + Duration::hours(1));
            r.updated_at = a.started_at + Duration::hours(1);
            r.alarm.alarm_state = AlarmState::Closed;
            seq += 1;
            batch.push(Event {
                kind: EventType::Resolved,
                seq,
                at: r.updated_at,
                alert: r,
            });
        }
        if batch.len() >= FILL_BATCH {
            commit(store, &mut batch).await;
        }
    }
    commit(store, &mut batch).await;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "  filled: {seq} events, {alerts} alerts in {secs:.1} s ({:.0} events/s)",
        seq as f64 / secs
    );
}

/// Copies every alert and event of the store `copies - 1` times, each copy with ids, keys and seqs
/// of its own (`-k` appended, seq shifted by `k` times the largest).
async fn replicate(url: &str, pg: bool, copies: usize) {
    use sqlx::Connection;
    if copies < 2 {
        return;
    }
    let started = Instant::now();
    // The alert JSON with its id made the copy's (`column` holds the alert's id).
    let set_id = |column: &str, k: usize| {
        if pg {
            format!("jsonb_set(json::jsonb, '{{id}}', to_jsonb({column} || '-{k}'))::text")
        } else {
            format!("json_set(json, '$.id', {column} || '-{k}')")
        }
    };
    let statements = |k: usize, max: i64| {
        [
            format!(
                "INSERT INTO alerts (id, key, mine, kind, severity, state, subject, area, started_at, \
                 updated_at, resolved_at, json, last_seq, alarm) \
                 SELECT id || '-{k}', key || '-{k}', mine, kind, severity, state, subject, area, \
                 started_at, updated_at, resolved_at, {}, last_seq + {}, alarm FROM alerts \
                 WHERE id NOT LIKE '%-%'",
                set_id("id", k),
                max * k as i64
            ),
            format!(
                "INSERT INTO events (seq, alert_id, type, at, json) \
                 SELECT seq + {}, alert_id || '-{k}', type, at, {} FROM events WHERE seq <= {max}",
                max * k as i64,
                set_id("alert_id", k)
            ),
        ]
    };
    // The same steps on either database's connection type.
    macro_rules! copy_on {
        ($conn:ty) => {{
            let mut c = <$conn>::connect(url).await?;
            let max: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events")
                .fetch_one(&mut c)
                .await?;
            for k in 1..copies {
                for sql in statements(k, max) {
                    sqlx::query(&sql).execute(&mut c).await?;
                }
            }
            sqlx::query("ANALYZE").execute(&mut c).await?;
        }};
    }
    let result: Result<(), sqlx::Error> = async {
        if pg {
            copy_on!(sqlx::PgConnection);
        } else {
            copy_on!(sqlx::SqliteConnection);
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        panic!("copying the store: {e}");
    }
    println!(
        "  copied {} times over in SQL in {:.1} s",
        copies - 1,
        started.elapsed().as_secs_f64()
    );
}

async fn commit(store: &Store, batch: &mut Vec<Event>) {
    if batch.is_empty() {
        return;
    }
    let b = WriteBatch {
        events: std::mem::take(batch),
        ..WriteBatch::default()
    };
    if let Err(e) = store.commit(&b).await {
        panic!("commit: {e}");
    }
}

/// Median of 21 runs of the query, in ms.
async fn time(store: &Store, q: &AlertQuery) -> (f64, usize) {
    let mut ms = Vec::new();
    let mut n = 0;
    for _ in 0..21 {
        let t = Instant::now();
        n = store.alerts(q).await.map(|v| v.len()).unwrap_or(0);
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    (ms[10], n)
}

fn queries(alerts: usize) -> Vec<(&'static str, AlertQuery, String)> {
    let mid = alert(alerts / 2, alerts).0;
    let since = origin() + Duration::days(100);
    let until = origin() + Duration::days(101);
    let t = |d: &DateTime<Utc>| d.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    vec![
        ("newest 100, all states", AlertQuery { limit: 100, ..Default::default() },
         "SELECT json FROM alerts ORDER BY started_at DESC, id DESC LIMIT 100".into()),
        ("one mine", AlertQuery { mine: Some("M042".into()), limit: 100, ..Default::default() },
         "SELECT json FROM alerts WHERE mine = 'M042' ORDER BY started_at DESC, id DESC LIMIT 100".into()),
        ("one mine and kind", AlertQuery { mine: Some("M042".into()), kind: Some(Kind::SensorFault), limit: 100, ..Default::default() },
         "SELECT json FROM alerts WHERE mine = 'M042' AND kind = 'sensor_fault' ORDER BY started_at DESC, id DESC LIMIT 100".into()),
        ("a subject", AlertQuery { subject: Some(mid.subject.clone()), limit: 100, ..Default::default() },
         format!("SELECT json FROM alerts WHERE subject = '{}' ORDER BY started_at DESC, id DESC LIMIT 100", mid.subject)),
        ("a day (since, until)", AlertQuery { since: Some(since), until: Some(until), limit: 100, ..Default::default() },
         format!("SELECT json FROM alerts WHERE started_at >= '{}' AND started_at < '{}' ORDER BY started_at DESC, id DESC LIMIT 100", t(&since), t(&until))),
        ("a page mid-way (before)", AlertQuery { cursor: Some(Cursor::Before(mid.started_at, mid.id.clone())), limit: 100, ..Default::default() },
         format!("SELECT json FROM alerts WHERE (started_at, id) < ('{0}', '{1}') ORDER BY started_at DESC, id DESC LIMIT 100", t(&mid.started_at), mid.id)),
        ("open alerts", AlertQuery { alarm: vec![AlarmState::ActiveUnacked, AlarmState::ActiveAcked, AlarmState::ClearedUnacked], limit: 100, ..Default::default() },
         "SELECT json FROM alerts WHERE alarm IN ('active_unacked','active_acked','cleared_unacked') ORDER BY started_at DESC, id DESC LIMIT 100".into()),
    ]
}

async fn plans(url: &str, pg: bool, sqls: &[String]) {
    use sqlx::Connection;
    let explain = if pg {
        "EXPLAIN "
    } else {
        "EXPLAIN QUERY PLAN "
    };
    for sql in sqls {
        let lines: Vec<String> = if pg {
            let Ok(mut c) = sqlx::PgConnection::connect(url).await else {
                return;
            };
            sqlx::query_scalar::<_, String>(&format!("{explain}{sql}"))
                .fetch_all(&mut c)
                .await
                .unwrap_or_default()
        } else {
            let Ok(mut c) = sqlx::SqliteConnection::connect(url).await else {
                return;
            };
            sqlx::query_as::<_, (i64, i64, i64, String)>(&format!("{explain}{sql}"))
                .fetch_all(&mut c)
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|r| r.3)
                .collect()
        };
        println!(
            "    {}\n      {}",
            &sql[..sql.len().min(110)],
            lines.join("\n      ")
        );
    }
}

async fn run(label: &str, url: &str, pg: bool, events: usize, copies: usize) {
    println!("{label}:");
    let store = match Store::open(url).await {
        Ok(s) => s,
        Err(e) => {
            println!("  cannot open {label}: {e}");
            return;
        }
    };
    fill(&store, events / copies).await;
    replicate(url, pg, copies).await;
    let alerts = events / copies / 2;
    let qs = queries(alerts);
    for (what, q, _) in &qs {
        let (ms, n) = time(&store, q).await;
        println!("  /api/alerts {what:<26} {ms:8.2} ms median ({n} alerts)");
    }
    let cutoff = origin() + Duration::days(200);
    let mut sqls: Vec<String> = qs.iter().map(|q| q.2.clone()).collect();
    sqls.push(format!(
        "SELECT id, resolved_at FROM alerts WHERE alarm = 'closed' AND resolved_at >= '' AND resolved_at < '{}' ORDER BY resolved_at LIMIT 500",
        cutoff.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
    ));
    println!("  plans:");
    plans(url, pg, &sqls).await;
    let started = Instant::now();
    let (mut a, mut e, mut resume) = (0, 0, None);
    loop {
        match store.prune_closed(&cutoff, 500, &mut resume).await {
            Ok((pa, pe)) => {
                a += pa;
                e += pe;
                if pa < 500 {
                    break;
                }
            }
            Err(err) => {
                println!("  prune failed: {err}");
                break;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "  retention: {a} alerts and {e} events pruned in {secs:.1} s: {:.0} alerts/s, {:.0} events/s",
        a as f64 / secs,
        e as f64 / secs
    );
    let (ms, n) = time(&store, &qs[0].1).await;
    println!("  after pruning: /api/alerts newest 100 {ms:.2} ms ({n})");
    store.close().await;
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let events = std::env::args()
        .skip_while(|a| a != "--events")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(if bench { 10_000_000 } else { 20_000 });
    let copies = std::env::args()
        .skip_while(|a| a != "--copies")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(if bench { 20 } else { 1 })
        .max(1);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    };
    rt.block_on(async {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("tempdir: {e}"),
        };
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        run("SQLite", &url, false, events, copies).await;
        if let Ok(server) = std::env::var("MINEWATCH_BENCH_PG") {
            use sqlx::Connection;
            let schema = format!("mwbench_{}", std::process::id());
            if let Ok(mut c) = sqlx::PgConnection::connect(&server).await {
                let _ = sqlx::raw_sql(&format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
                ))
                .execute(&mut c)
                .await;
                let sep = if server.contains('?') { '&' } else { '?' };
                let url = format!("{server}{sep}options=-csearch_path%3D{schema}");
                run("PostgreSQL", &url, true, events, copies).await;
                let _ = sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&mut c)
                    .await;
            }
        }
    });
}
