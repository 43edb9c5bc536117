//! The HTTP API over real HTTP.

use crate::common::*;
use minewatch_core::registry::MineStatus;
use minewatch_core::{EventType, Kind, Severity};
use minewatch_fixtures::metrics;
use minewatch_gateway::METRICS_CONTENT_TYPE;
use minewatch_store::{DeadLetter, WriteBatch};
use std::sync::atomic::Ordering;

/// a1 m1 critical over_limit, a2 m1 warning sensor_fault, a3 m2 major over_limit (active);
/// a4 m2 critical distress (resolved). Started in that order.
async fn four_alerts(gw: &Gateway) {
    gw.emit(
        EventType::Raised,
        alert("a1", "m1", Kind::OverLimit, Severity::Critical, 1),
    )
    .await;
    gw.emit(
        EventType::Raised,
        alert("a2", "m1", Kind::SensorFault, Severity::Warning, 2),
    )
    .await;
    gw.emit(
        EventType::Raised,
        alert("a3", "m2", Kind::OverLimit, Severity::Major, 3),
    )
    .await;
    let a4 = alert("a4", "m2", Kind::Distress, Severity::Critical, 4);
    gw.emit(EventType::Raised, a4.clone()).await;
    gw.emit(EventType::Resolved, resolved(&a4)).await;
}

async fn alert_ids(gw: &Gateway, query: &str) -> Vec<String> {
    let r = gw.get(&format!("/api/alerts?{query}")).await;
    assert_eq!(r.status, 200, "{query}: {}", r.body);
    ids(&r.json()["alerts"])
}

#[tokio::test]
async fn alerts_are_listed_newest_first_and_filtered_by_state_mine_kind_and_minimum_severity() {
    let gw = Gateway::start().await;
    four_alerts(&gw).await;

    assert_eq!(
        alert_ids(&gw, "").await,
        ["a3", "a2", "a1"],
        "open by default (a4 is closed)"
    );
    assert_eq!(alert_ids(&gw, "state=active").await, ["a3", "a2", "a1"]);
    assert_eq!(alert_ids(&gw, "state=cleared").await, Vec::<String>::new());
    assert_eq!(alert_ids(&gw, "state=all").await, ["a4", "a3", "a2", "a1"]);
    assert_eq!(alert_ids(&gw, "state=resolved").await, ["a4"]);
    assert_eq!(alert_ids(&gw, "mine=m1").await, ["a2", "a1"]);
    assert_eq!(alert_ids(&gw, "kind=over_limit").await, ["a3", "a1"]);
    assert_eq!(alert_ids(&gw, "severity=major").await, ["a3", "a1"]);
    assert_eq!(
        alert_ids(&gw, "severity=critical&state=all").await,
        ["a4", "a1"]
    );
    assert_eq!(
        alert_ids(&gw, "severity=warning&state=all&limit=2").await,
        ["a4", "a3"]
    );
    assert_eq!(alert_ids(&gw, "limit=1").await, ["a3"]);
    assert_eq!(
        alert_ids(&gw, "mine=&kind=&severity=").await,
        ["a3", "a2", "a1"],
        "empty means any"
    );
    assert_eq!(alert_ids(&gw, "mine=m9").await, Vec::<String>::new());
}

#[tokio::test]
async fn alerts_page_with_a_cursor_both_ways_and_filter_by_time_and_subject() {
    let gw = Gateway::start().await;
    // Seven alerts started a second apart (b1 oldest), and two at the same second (ties by id).
    for i in 1..=7_i64 {
        gw.emit(
            EventType::Raised,
            alert(&format!("b{i}"), "m1", Kind::OverLimit, Severity::Major, i),
        )
        .await;
    }
    gw.emit(
        EventType::Raised,
        alert("b8", "m1", Kind::OverLimit, Severity::Major, 7),
    )
    .await;
    // Newest first, ties by id descending: b8 b7 b6 ... b1. Paging down and back up.
    assert_eq!(alert_ids(&gw, "limit=3").await, ["b8", "b7", "b6"]);
    assert_eq!(
        alert_ids(&gw, "limit=3&before=b6").await,
        ["b5", "b4", "b3"]
    );
    assert_eq!(alert_ids(&gw, "limit=3&before=b3").await, ["b2", "b1"]);
    assert_eq!(
        alert_ids(&gw, "limit=3&before=b1").await,
        Vec::<String>::new()
    );
    assert_eq!(alert_ids(&gw, "limit=3&after=b3").await, ["b6", "b5", "b4"]);
    assert_eq!(alert_ids(&gw, "limit=3&after=b6").await, ["b8", "b7"]);
    assert_eq!(
        alert_ids(&gw, "limit=2&before=b8").await,
        ["b7", "b6"],
        "a tie"
    );
    // With a minimum severity (one query per severity, merged): the same pages.
    assert_eq!(
        alert_ids(&gw, "limit=3&after=b3&severity=major").await,
        ["b6", "b5", "b4"]
    );
    // Started in [since, until).
    // With Z, not +00:00: a `+` in a query string is a space.
    let since = t(3).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let until = t(5).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    assert_eq!(
        alert_ids(&gw, &format!("since={since}&until={until}")).await,
        ["b4", "b3"]
    );
    assert_eq!(alert_ids(&gw, "subject=S-b2").await, ["b2"]);
    // Bad values are refused by name.
    for (q, name) in [
        ("before=nope", "before"),
        ("before=b1&after=b2", "before, after"),
        ("since=yesterday", "since"),
        (&format!("since={until}&until={since}") as &str, "until"),
        ("subject=a%20b", "subject"),
    ] {
        let r = gw.get(&format!("/api/alerts?{q}")).await;
        assert_eq!(r.status, 400, "{q}: {}", r.body);
        assert!(
            r.json()["error"]
                .as_str()
                .is_some_and(|e| e.starts_with(name)),
            "{q}: {}",
            r.body
        );
    }
}

#[tokio::test]
async fn alerts_come_as_csv_for_reports_when_asked() {
    let gw = Gateway::start().await;
    four_alerts(&gw).await;
    let mut a = alert("c1", "m1", Kind::OverLimit, Severity::Major, 9);
    a.message = "=cmd, \"quoted\"".to_owned();
    gw.emit(EventType::Raised, a).await;
    let r = gw
        .request_with(
            "GET",
            "/api/alerts?state=all",
            None,
            &[("accept", "text/csv")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/csv")),
        "{:?}",
        r.header("content-type")
    );
    let lines: Vec<&str> = r.body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 6, "a header and five alerts: {}", r.body);
    assert!(
        lines[0].starts_with("id,mine,kind,severity,state,alarm_state,subject"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("c1,m1,over_limit,major,active,active_unacked,S-c1,A1201,1.62,1.5,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].ends_with(",\"'=cmd, \"\"quoted\"\"\""),
        "defused and quoted: {}",
        lines[1]
    );
    // JSON stays the default.
    let r = gw.get("/api/alerts?state=all").await;
    assert_eq!(r.json()["alerts"].as_array().map(Vec::len), Some(5));
}

#[tokio::test]
async fn a_cleared_alert_waiting_for_an_ack_is_listed_by_default_until_acknowledged() {
    let gw = Gateway::start().await;
    four_alerts(&gw).await;
    let a5 = alert("a5", "m1", Kind::OverLimit, Severity::Critical, 5);
    gw.emit(EventType::Raised, a5.clone()).await;
    gw.emit(EventType::Resolved, cleared(&a5)).await;
    assert_eq!(alert_ids(&gw, "").await, ["a5", "a3", "a2", "a1"]);
    assert_eq!(alert_ids(&gw, "state=cleared").await, ["a5"]);
    assert_eq!(alert_ids(&gw, "state=active").await, ["a3", "a2", "a1"]);
    let r = gw.get("/api/alerts?state=cleared").await;
    assert_eq!(r.json()["alerts"][0]["alarm_state"], "cleared_unacked");
    let mut acked = resolved(&a5);
    acked.ack = Some(minewatch_core::alert::Ack {
        by: "op".into(),
        at: acked.updated_at,
        note: String::new(),
    });
    gw.emit(EventType::Acked, acked).await;
    assert_eq!(alert_ids(&gw, "").await, ["a3", "a2", "a1"]);
}

#[tokio::test]
async fn bad_alert_parameters_are_rejected_with_400_naming_the_parameter() {
    let gw = Gateway::start().await;
    for (query, named) in [
        ("state=opened", "state"),
        ("severity=huge", "severity"),
        ("kind=flood", "kind"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("mine=a%2Fb", "mine"),
        ("sevrity=major", "sevrity"),
        ("mine=m1&mine=m2", "mine"),
    ] {
        let r = gw.get(&format!("/api/alerts?{query}")).await;
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert!(r.names(named), "{query}: {}", r.body);
    }
}

#[tokio::test]
async fn out_of_range_and_undecodable_parameters_are_400_naming_the_parameter_on_every_route() {
    let gw = Gateway::start().await;
    let long = "x".repeat(10_000);
    for (path, named) in [
        ("/api/alerts?limit=99999999999999999999", "limit"),
        ("/api/alerts?limit=-1", "limit"),
        ("/api/alerts?mine=%FF%FE", "mine"),
        ("/api/events?after=18446744073709551616", "after"),
        ("/api/events?after=1e3", "after"),
        ("/api/dead-letters?before=9223372036854775808", "before"),
        ("/api/dead-letters?before=-5", "before"),
        ("/api/silences?state=%00", "state"),
        ("/api/silences?limit=0", "limit"),
        ("/api/deliveries?sink=a%2Fb", "sink"),
        ("/api/deliveries?state=all&state=all", "state"),
    ] {
        let r = gw.get(path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert!(r.names(named), "{path}: {}", r.body);
    }
    let r = gw.get(&format!("/api/alerts?{long}=1")).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.error().starts_with("\"xxxxxxxxxx") && r.error().len() < 200,
        "a long name is quoted shortened: {}",
        r.error()
    );
}

#[tokio::test]
async fn an_alert_is_returned_with_its_events_and_an_unknown_id_is_404() {
    let gw = Gateway::start().await;
    let a1 = alert("a1", "m1", Kind::OverLimit, Severity::Major, 1);
    gw.emit(EventType::Raised, a1.clone()).await;
    gw.emit(
        EventType::Raised,
        alert("a2", "m1", Kind::Flatline, Severity::Major, 2),
    )
    .await;
    gw.emit(EventType::Updated, at(&a1, Severity::Critical))
        .await;
    gw.emit(EventType::Resolved, resolved(&at(&a1, Severity::Critical)))
        .await;

    let r = gw.get("/api/alerts/a1").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["alert"]["id"], "a1");
    assert_eq!(v["alert"]["state"], "resolved");
    assert_eq!(v["alert"]["severity"], "critical");
    let events: Vec<(String, u64)> = v["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default().to_owned(),
                e["seq"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("raised".to_owned(), 1),
            ("updated".to_owned(), 3),
            ("resolved".to_owned(), 4)
        ]
    );

    let r = gw.get("/api/alerts/nope").await;
    assert_eq!(r.status, 404);
    assert!(r.error().contains("nope"), "{}", r.body);
}

#[tokio::test]
async fn an_ack_goes_to_the_pipeline_and_a_second_ack_is_a_conflict() {
    let gw = Gateway::start().await;
    gw.emit(
        EventType::Raised,
        alert("a1", "m1", Kind::ExplosivesUndeclared, Severity::Major, 1),
    )
    .await;

    let r = gw
        .post(
            "/api/alerts/a1/ack",
            r#"{"by":"shift lead","note":"crew sent"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["ack"]["by"], "shift lead");
    assert_eq!(r.json()["id"], "a1");
    let calls = gw.control.acks.lock().expect("acks").clone();
    assert_eq!(
        calls,
        [(
            "a1".to_owned(),
            "shift lead".to_owned(),
            "crew sent".to_owned()
        )]
    );

    let r = gw
        .post("/api/alerts/a1/ack", r#"{"by":"someone else"}"#)
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.error().contains("already"), "{}", r.body);
    assert_eq!(gw.control.acks.lock().expect("acks").len(), 2);
}

#[tokio::test]
async fn a_malformed_ack_is_400_and_an_ack_of_an_unknown_alert_is_404_without_reaching_the_pipeline()
 {
    let gw = Gateway::start().await;
    gw.emit(
        EventType::Raised,
        alert("a1", "m1", Kind::OverLimit, Severity::Major, 1),
    )
    .await;
    let long = "x".repeat(129);
    for (body, named) in [
        (r#"{"by":"  "}"#.to_owned(), "by"),
        (r#"{"note":"no author"}"#.to_owned(), "by"),
        (format!(r#"{{"by":"{long}"}}"#), "by"),
        (
            format!(r#"{{"by":"op","note":"{}"}}"#, "n".repeat(1025)),
            "note",
        ),
        (r#"{"by":"op","urgent":true}"#.to_owned(), "urgent"),
        (r#"{"by":5}"#.to_owned(), "by"),
        (r#"{"by":"op","note":["a"]}"#.to_owned(), "note"),
        ("not json".to_owned(), "body"),
        ("[1]".to_owned(), "body"),
    ] {
        let r = gw.post("/api/alerts/a1/ack", &body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.names(named), "{body}: {}", r.body);
    }
    // The field, then what was wrong with it; no position in the body.
    let r = gw.post("/api/alerts/a1/ack", r#"{"by":5}"#).await;
    assert_eq!(
        r.error(),
        "by: invalid type: integer `5`, expected a string"
    );
    let r = gw.post("/api/alerts/a1/ack", r#"{"note":"x"}"#).await;
    assert_eq!(r.error(), "by: is required");
    let r = gw.post("/api/alerts/zz/ack", r#"{"by":"op"}"#).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(gw.control.acks.lock().expect("acks").is_empty());
}

#[tokio::test]
async fn the_event_log_pages_forward_from_a_seq_and_tells_the_last_seq() {
    let gw = Gateway::start().await;
    four_alerts(&gw).await;
    let r = gw.get("/api/events?after=2&limit=2").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let seqs: Vec<u64> = v["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    assert_eq!(seqs, [3, 4]);
    assert_eq!(v["events"][0]["type"], "raised");
    assert_eq!(v["events"][0]["alert"]["id"], "a3");
    assert_eq!(v["last_seq"], 5);
    assert_eq!(
        gw.get("/api/events?after=5").await.json()["events"],
        serde_json::json!([])
    );
    assert!(gw.get("/api/events?after=-1").await.names("after"));
}

#[tokio::test]
async fn mines_are_listed_by_id_from_the_live_view_with_their_active_alerts() {
    let gw = Gateway::start().await;
    gw.add_mine("m2");
    gw.add_mine("m1");
    four_alerts(&gw).await;

    let r = gw.get("/api/mines").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(ids(&v["mines"]), ["m1", "m2"]);
    assert_eq!(v["mines"][0]["active_alerts"], 2);
    assert_eq!(v["mines"][1]["active_alerts"], 1);

    let r = gw.get("/api/mines/m1").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["id"], "m1");
    assert_eq!(ids(&v["active_alerts"]), ["a1", "a2"], "most severe first");

    assert_eq!(gw.get("/api/mines/m9").await.status, 404);
}

#[tokio::test]
async fn a_status_order_goes_to_the_pipeline_and_a_bad_status_is_400() {
    let gw = Gateway::start().await;
    let r = gw
        .put(
            "/api/mines/m1/status",
            r#"{"status":"suspended","by":"regulator","note":"order 7"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "suspended");
    let r = gw
        .put("/api/mines/m2/status", r#"{"status":"producing"}"#)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        *gw.control.statuses.lock().expect("statuses"),
        [
            (
                "m1".to_owned(),
                MineStatus::Suspended,
                "regulator".to_owned(),
                "order 7".to_owned()
            ),
            (
                "m2".to_owned(),
                MineStatus::Producing,
                "anonymous".to_owned(),
                String::new()
            ),
        ]
    );

    let r = gw
        .put("/api/mines/m1/status", r#"{"status":"paused"}"#)
        .await;
    assert_eq!(r.status, 400);
    assert!(r.names("status"), "{}", r.body);
    let r = gw
        .put("/api/mines/unknown/status", r#"{"status":"closed"}"#)
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(gw.control.statuses.lock().expect("statuses").len(), 2);
}

#[tokio::test]
async fn a_reload_answers_its_report_even_when_some_files_failed() {
    let gw = Gateway::start().await;
    let r = gw.post("/api/admin/reload", "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["mines"], 2);
    assert_eq!(v["changed"], serde_json::json!(["m2"]));
    assert!(
        v["errors"][0]
            .as_str()
            .unwrap_or_default()
            .contains("m3.toml"),
        "{v}"
    );
}

#[tokio::test]
async fn dead_letters_are_listed_newest_first_and_page_backwards() {
    let gw = Gateway::start().await;
    let letter = |mine: Option<&str>, reason: &str| DeadLetter {
        id: 0,
        received_at: t(1),
        topic: format!("mines/{}/safety", mine.unwrap_or("?")),
        mine: mine.map(str::to_owned),
        system: Some("safety".into()),
        reason: reason.into(),
        detail: "detail".into(),
        excerpt: "{}".into(),
        count: 1,
        examples: Vec::new(),
    };
    let batch = WriteBatch {
        events: Vec::new(),
        dead_letters: vec![
            letter(Some("m1"), "bad_json"),
            letter(Some("m2"), "bad_id"),
            letter(Some("m1"), "too_far_ahead"),
        ],
        ..WriteBatch::default()
    };
    gw.state
        .store
        .commit(&batch)
        .await
        .expect("commit dead letters");

    let v = gw.get("/api/dead-letters").await.json();
    let reasons: Vec<&str> = v["dead_letters"]
        .as_array()
        .expect("dead letters")
        .iter()
        .filter_map(|d| d["reason"].as_str())
        .collect();
    assert_eq!(reasons, ["too_far_ahead", "bad_id", "bad_json"]);

    let v = gw.get("/api/dead-letters?mine=m1&limit=1").await.json();
    assert_eq!(v["dead_letters"][0]["reason"], "too_far_ahead");
    let oldest_seen = v["dead_letters"][0]["id"].as_i64().expect("an id");
    let v = gw
        .get(&format!("/api/dead-letters?mine=m1&before={oldest_seen}"))
        .await
        .json();
    assert_eq!(v["dead_letters"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["dead_letters"][0]["reason"], "bad_json");

    assert!(gw.get("/api/dead-letters?before=0").await.names("before"));
}

#[tokio::test]
async fn metrics_are_served_as_openmetrics_and_count_websocket_clients() {
    let gw = Gateway::start().await;
    let r = gw.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(METRICS_CONTENT_TYPE));
    let clients = |text: &str| metrics::value(text, "minewatch_ws_clients", &[]);
    assert_eq!(clients(&r.body), Some(0.0), "{}", r.body);

    let mut ws = gw.ws("").await;
    next_json(&mut ws).await;
    assert_eq!(clients(&gw.get("/metrics").await.body), Some(1.0));
    within("the client to close", ws.close(None))
        .await
        .expect("close");
    eventually("the gauge to drop", || async { gw.ws_clients() == 0 }).await;
    assert_eq!(clients(&gw.get("/metrics").await.body), Some(0.0));
}

#[tokio::test]
async fn readyz_follows_the_ready_flag_and_the_store_and_healthz_always_answers() {
    let gw = Gateway::start().await;
    assert_eq!(gw.get("/readyz").await.status, 503);
    let r = gw.get("/healthz").await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    gw.state.ready.store(true, Ordering::Release);
    assert_eq!(gw.get("/readyz").await.status, 200);
    // The alert writer flags a store that refuses commits: not ready until it takes them again.
    gw.state.metrics.store_failing.set(1);
    let r = gw.get("/readyz").await;
    assert_eq!(r.status, 503);
    assert!(r.body.contains("store"), "{}", r.body);
    gw.state.metrics.store_failing.set(0);
    assert_eq!(gw.get("/readyz").await.status, 200);
    gw.state.ready.store(false, Ordering::Release);
    assert_eq!(gw.get("/readyz").await.status, 503);
}

#[tokio::test]
async fn the_operator_page_is_served_and_unknown_routes_and_methods_answer_json() {
    let gw = Gateway::start().await;
    let r = gw.get("/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(r.body.contains("/assets/app.js") && r.body.contains("/assets/app.css"));
    let js = gw.get("/assets/app.js").await;
    assert_eq!(js.status, 200);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(
        js.body.contains("/ws?") && js.body.contains("after"),
        "the page resumes with after="
    );

    let r = gw.get("/api/nothing").await;
    assert_eq!(r.status, 404);
    assert!(r.error().contains("/api/nothing"));
    let r = gw.request("DELETE", "/api/alerts", None).await;
    assert_eq!(r.status, 405);
    assert!(r.error().contains("DELETE"));
    assert_eq!(r.header("allow"), Some("GET,HEAD"));
}

#[tokio::test]
async fn the_dashboard_is_self_contained_and_revalidated_with_an_etag() {
    let gw = Gateway::start().await;
    for (path, kind) in [
        ("/", "text/html"),
        ("/assets/app.css", "text/css"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/words.js", "text/javascript"),
        ("/assets/alarms.js", "text/javascript"),
        ("/assets/kpis.js", "text/javascript"),
    ] {
        let r = gw.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with(kind)),
            "{path}"
        );
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{path}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        // Nothing is loaded from elsewhere: no CDN, no web fonts. (The SVG namespace is a name.)
        let body = r.body.replace("http://www.w3.org/2000/svg", "");
        for outside in ["http://", "https://", "//cdn", "@import", "@font-face"] {
            assert!(!body.contains(outside), "{path} refers to {outside}");
        }
        let tag = r.header("etag").expect("an ETag").to_string();
        assert!(
            tag.starts_with('"') && tag.ends_with('"') && tag.len() > 8,
            "{tag}"
        );
        let again = gw
            .request_with("GET", path, None, &[("If-None-Match", &tag)])
            .await;
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty());
        let other = gw
            .request_with("GET", path, None, &[("If-None-Match", "\"old\"")])
            .await;
        assert_eq!(other.status, 200, "{path}");
    }
    for script in ["app.js", "words.js", "alarms.js", "kpis.js"] {
        let js = gw.get(&format!("/assets/{script}")).await;
        assert!(
            !js.body.contains("innerHTML"),
            "{script}: server text goes in as text"
        );
    }
    let r = gw.get("/assets/nothing.js").await;
    assert_eq!(r.status, 404);
    assert!(r.error().contains("nothing.js"));
}
