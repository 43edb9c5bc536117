//! `GET /api/kpis`: the report over real stored events, its parameters refused by name, and a
//! token that sees only its mines.

use crate::common::*;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use minewatch_core::{Event, EventType, Kind, Severity};
use minewatch_gateway::config::TokenConfig;
use minewatch_gateway::{HttpConfig, Role};
use minewatch_store::WriteBatch;

const VIEWER_M1: &str = "viewer-m1-secret";

/// `minutes` before now, as an RFC 3339 query value (`Z`, so no `+` to escape).
fn ago(minutes: i64) -> String {
    (Utc::now() - TimeDelta::minutes(minutes)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Stores, 2 h ago, 11 activations 10 s apart in m1 (a flood) and one in m2; 3 h ago one more in
/// m1. `t()` of the harness is a fixed date, so these are built against the wall clock.
async fn seeded(gw: &Gateway) {
    let base: DateTime<Utc> = Utc::now() - TimeDelta::hours(2);
    let mut events = Vec::new();
    let mut raise = |id: String, mine: &str, at: DateTime<Utc>| {
        let mut a = alert(&id, mine, Kind::OverLimit, Severity::Major, 0);
        a.started_at = at;
        a.updated_at = at;
        events.push(Event {
            kind: EventType::Raised,
            seq: events.len() as u64 + 1,
            at,
            alert: a,
        });
    };
    for i in 0..11 {
        raise(format!("a{i}"), "m1", base + TimeDelta::seconds(i * 10));
    }
    raise("b".into(), "m2", base);
    raise("early".into(), "m1", base - TimeDelta::hours(1));
    gw.state
        .store
        .commit(&WriteBatch {
            events,
            ..WriteBatch::default()
        })
        .await
        .expect("commit");
}

#[tokio::test]
async fn the_report_counts_the_last_day_per_mine_by_default_and_from_since_when_given() {
    let gw = Gateway::start().await;
    seeded(&gw).await;
    let r = gw.get("/api/kpis").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["flood"], 10);
    assert_eq!(v["capped"], false);
    let mines = v["mines"].as_array().expect("mines");
    assert_eq!(mines.len(), 2, "{v}");
    assert_eq!(mines[0]["mine"], "m1");
    assert_eq!(mines[0]["activations"], 12);
    assert_eq!(mines[0]["peak_10min"]["count"], 11);
    assert_eq!(mines[0]["flood_seconds"], 500.0);
    assert_eq!(mines[0]["bad_actors"].as_array().map(Vec::len), Some(10));
    assert_eq!(mines[1]["mine"], "m2");
    assert_eq!(v["total"]["activations"], 13);

    let r = gw
        .get(&format!("/api/kpis?since={}&mine=m1&flood=11", ago(150)))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let mines = v["mines"].as_array().expect("mines");
    assert_eq!(mines.len(), 1, "{v}");
    assert_eq!(mines[0]["activations"], 11);
    assert_eq!(mines[0]["flood_seconds"], 0.0);
}

#[tokio::test]
async fn bad_parameters_are_refused_by_name() {
    let gw = Gateway::start().await;
    for (query, field) in [
        ("since=yesterday", "since"),
        ("since=2026-01-01", "since"),
        (&*format!("since={}", ago(-5)), "since"),
        (&*format!("since={}", ago(32 * 24 * 60)), "since"),
        ("flood=0", "flood"),
        ("flood=10001", "flood"),
        ("mine=a/b", "mine"),
        ("limit=5", "limit"),
        ("flood=5&flood=6", "flood"),
    ] {
        let r = gw.get(&format!("/api/kpis?{query}")).await;
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert!(r.names(field), "{query}: {}", r.error());
    }
    // Just inside the bounds.
    for query in [
        format!("since={}", ago(31 * 24 * 60 - 1)),
        "flood=1".to_owned(),
        "flood=10000".to_owned(),
    ] {
        let r = gw.get(&format!("/api/kpis?{query}")).await;
        assert_eq!(r.status, 200, "{query}: {}", r.body);
    }
}

#[tokio::test]
async fn a_token_gets_only_its_mines() {
    let config = HttpConfig {
        tokens: vec![TokenConfig::with_secret(
            "viewer-m1",
            Role::Viewer,
            Some(vec!["m1".to_owned()]),
            VIEWER_M1,
        )],
        ..HttpConfig::default()
    };
    let gw = Gateway::start_with(1024, config).await;
    seeded(&gw).await;
    assert_eq!(gw.get("/api/kpis").await.status, 401);
    let r = gw.as_token(VIEWER_M1, "GET", "/api/kpis", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let mines: Vec<&str> = v["mines"]
        .as_array()
        .expect("mines")
        .iter()
        .map(|m| m["mine"].as_str().expect("a mine"))
        .collect();
    assert_eq!(mines, ["m1"]);
    assert_eq!(v["total"]["activations"], 12);
    let r = gw
        .as_token(VIEWER_M1, "GET", "/api/kpis?mine=m2", None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["mines"].as_array().map(Vec::len), Some(0), "{v}");
    assert_eq!(v["total"]["activations"], 0);
}
