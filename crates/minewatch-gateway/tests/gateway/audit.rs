//! The audit trail: every operator action that succeeded is recorded with the token's name (or
//! `anonymous`), the client's address, the time, the action, its target and the free-text `by`;
//! `GET /api/audit` pages through it for admins of every mine only.

use crate::common::*;
use chrono::{DateTime, Utc};
use minewatch_core::{EventType, Kind, Severity};
use minewatch_gateway::config::TokenConfig;
use minewatch_gateway::{HttpConfig, Role};
use serde_json::{Value, json};

const VIEWER: &str = "viewer-secret";
const OPERATOR: &str = "operator-secret";
const ADMIN_M1: &str = "admin-m1-secret";
const ADMIN: &str = "admin-secret";

/// The config with a viewer, an operator and an admin of every mine, and an admin of m1.
fn tokens() -> HttpConfig {
    HttpConfig {
        tokens: vec![
            TokenConfig::with_secret("viewer", Role::Viewer, None, VIEWER),
            TokenConfig::with_secret("night-operator", Role::Operator, None, OPERATOR),
            TokenConfig::with_secret("admin-m1", Role::Admin, Some(vec!["m1".into()]), ADMIN_M1),
            TokenConfig::with_secret("chief", Role::Admin, None, ADMIN),
        ],
        ..HttpConfig::default()
    }
}

/// Mines m1 and m2 and an active alert `a{i}` of m1 for each `i` in `1..=alerts`.
async fn populate(gw: &Gateway, alerts: usize) {
    gw.add_mine("m1");
    gw.add_mine("m2");
    for i in 1..=alerts {
        let started = i64::try_from(i).expect("few");
        gw.emit(
            EventType::Raised,
            alert(
                &format!("a{i}"),
                "m1",
                Kind::OverLimit,
                Severity::Critical,
                started,
            ),
        )
        .await;
    }
}

/// The entries of `GET {path}` as the admin of every mine; the request must succeed.
async fn audit(gw: &Gateway, path: &str) -> Vec<Value> {
    let r = gw.as_token(ADMIN, "GET", path, None).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.json()["audit"]
        .as_array()
        .unwrap_or_else(|| panic!("an audit array: {}", r.body))
        .clone()
}

/// The one entry of `action` on `target`, failing the test unless there is exactly one.
fn only<'a>(entries: &'a [Value], action: &str, target: &str) -> &'a Value {
    let found: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == action && e["target"] == target)
        .collect();
    assert_eq!(found.len(), 1, "{action} {target} in {entries:#?}");
    found[0]
}

/// Checks an entry's token, source, `by` and that its time is between `from` and now.
fn check(e: &Value, token: &str, by: &str, from: DateTime<Utc>) {
    assert_eq!(e["token"], token, "{e}");
    assert_eq!(e["source"], "127.0.0.1", "{e}");
    assert_eq!(e["by"], by, "{e}");
    let at = e["at"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .unwrap_or_else(|| panic!("an RFC 3339 at: {e}"));
    assert!(at >= from && at <= Utc::now(), "{e}");
    assert!(e["id"].as_i64().is_some_and(|id| id > 0), "{e}");
}

#[tokio::test]
async fn every_operator_action_is_recorded_with_token_source_time_target_and_by() {
    let gw = Gateway::start_with(1024, tokens()).await;
    populate(&gw, 2).await;
    let from = Utc::now();
    let op = |method: &'static str, path: String, body: Option<Value>| {
        let gw = &gw;
        async move {
            let body = body.map(|b| b.to_string());
            let r = gw.as_token(OPERATOR, method, &path, body.as_deref()).await;
            assert!(
                r.status == 200 || r.status == 201,
                "{method} {path}: {}",
                r.body
            );
            r.json()
        }
    };
    op(
        "POST",
        "/api/alerts/a1/ack".into(),
        Some(json!({"by": "J. Wang", "note": "crew sent"})),
    )
    .await;
    op(
        "POST",
        "/api/alerts/a2/shelve".into(),
        Some(json!({"by": "L. Chen", "reason": "P0101 replaced", "for": "30m"})),
    )
    .await;
    op(
        "POST",
        "/api/alerts/a2/unshelve".into(),
        Some(json!({"by": "L. Chen"})),
    )
    .await;
    let silence = op(
        "POST",
        "/api/silences".into(),
        Some(json!({"mine": "m1", "duration": "2h", "reason": "WO-17", "by": "shift lead"})),
    )
    .await;
    let sid = silence["id"].as_i64().expect("a silence id").to_string();
    op(
        "DELETE",
        format!("/api/silences/{sid}?by=night%20lead"),
        None,
    )
    .await;
    let r = gw
        .as_token(
            ADMIN,
            "PUT",
            "/api/mines/m2/status",
            Some(r#"{"status":"suspended","by":"inspector Li","note":"order 7"}"#),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = gw.as_token(ADMIN, "POST", "/api/admin/reload", None).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let entries = audit(&gw, "/api/audit").await;
    assert_eq!(entries.len(), 7, "{entries:#?}");
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().expect("an action"))
        .collect();
    assert_eq!(
        actions,
        [
            "reload",
            "status",
            "silence_end",
            "silence_set",
            "unshelve",
            "shelve",
            "ack"
        ],
        "newest first"
    );

    let ack = only(&entries, "ack", "a1");
    check(ack, "night-operator", "J. Wang", from);
    assert_eq!(ack["detail"], json!({"mine": "m1", "note": "crew sent"}));
    let shelve = only(&entries, "shelve", "a2");
    check(shelve, "night-operator", "L. Chen", from);
    assert_eq!(shelve["detail"]["reason"], "P0101 replaced");
    assert_eq!(shelve["detail"]["for"], "30m");
    check(
        only(&entries, "unshelve", "a2"),
        "night-operator",
        "L. Chen",
        from,
    );
    let set = only(&entries, "silence_set", &sid);
    check(set, "night-operator", "shift lead", from);
    assert_eq!(set["detail"]["mine"], "m1");
    assert_eq!(set["detail"]["reason"], "WO-17");
    let end = only(&entries, "silence_end", &sid);
    check(end, "night-operator", "night lead", from);
    assert_eq!(end["detail"]["ended_by"], "night lead");
    let status = only(&entries, "status", "m2");
    check(status, "chief", "inspector Li", from);
    assert_eq!(
        status["detail"],
        json!({"status": "suspended", "note": "order 7"})
    );
    let reload = only(&entries, "reload", "");
    check(reload, "chief", "", from);
    assert_eq!(reload["detail"]["changed"], json!(["m2"]));

    // Filters: by action and by token.
    let acks = audit(&gw, "/api/audit?action=ack").await;
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0], *ack);
    let chief = audit(&gw, "/api/audit?token=chief").await;
    assert_eq!(chief.len(), 2, "{chief:#?}");
    let since = ack["at"].as_str().expect("a time");
    let later = audit(
        &gw,
        &format!("/api/audit?since={}", since.replace('+', "%2B")),
    )
    .await;
    assert_eq!(later.len(), 7, "since is inclusive");
}

#[tokio::test]
async fn without_tokens_an_action_over_tcp_is_recorded_as_anonymous_from_the_peer_address() {
    let mut gw = Gateway::start().await;
    populate(&gw, 1).await;
    // Over a real connection through `serve`: the source is the TCP peer the accept loop saw.
    let (status, body) = minewatch_fixtures::http::request(
        gw.addr,
        "POST",
        "/api/alerts/a1/ack",
        Some(&json!({"by": "shift lead"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = minewatch_fixtures::http::get(gw.addr, "/api/audit").await;
    assert_eq!(status, 200, "{body}");
    let entries = body["audit"].as_array().expect("an audit array");
    assert_eq!(entries.len(), 1, "{body}");
    assert_eq!(entries[0]["token"], "anonymous");
    assert_eq!(entries[0]["source"], "127.0.0.1");
    assert_eq!(entries[0]["by"], "shift lead");
    assert_eq!(entries[0]["target"], "a1");
    gw.stop().await;
}

#[tokio::test]
async fn the_audit_is_for_admins_of_every_mine_only() {
    let gw = Gateway::start_with(1024, tokens()).await;
    populate(&gw, 1).await;
    let r = gw.get("/api/audit").await;
    assert_eq!(r.status, 401, "{}", r.body);
    for (token, why) in [
        (VIEWER, "admin role"),
        (OPERATOR, "admin role"),
        (ADMIN_M1, "every mine"),
    ] {
        let r = gw.as_token(token, "GET", "/api/audit", None).await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.error().contains(why), "{}", r.body);
    }
    assert!(audit(&gw, "/api/audit").await.is_empty());
}

#[tokio::test]
async fn refused_and_failed_actions_leave_no_entry() {
    let gw = Gateway::start_with(1024, tokens()).await;
    populate(&gw, 1).await;
    let ack = r#"{"by":"someone"}"#;
    // Too low a role, an unknown alert, a bad body: nothing was done, nothing is recorded.
    let r = gw
        .as_token(VIEWER, "POST", "/api/alerts/a1/ack", Some(ack))
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = gw
        .as_token(OPERATOR, "POST", "/api/alerts/nope/ack", Some(ack))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = gw
        .as_token(
            OPERATOR,
            "POST",
            "/api/alerts/a1/ack",
            Some(r#"{"by":" "}"#),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(audit(&gw, "/api/audit").await.is_empty());
    // The first ack is recorded; the second is a 409 and is not.
    for expected in [200, 409] {
        let r = gw
            .as_token(OPERATOR, "POST", "/api/alerts/a1/ack", Some(ack))
            .await;
        assert_eq!(r.status, expected, "{}", r.body);
    }
    assert_eq!(audit(&gw, "/api/audit").await.len(), 1);
}

#[tokio::test]
async fn the_audit_pages_back_with_before_and_limit_and_refuses_bad_parameters() {
    let gw = Gateway::start_with(1024, tokens()).await;
    populate(&gw, 5).await;
    for i in 1..=5 {
        let body = format!(r#"{{"by":"op {i}"}}"#);
        let path = format!("/api/alerts/a{i}/ack");
        let r = gw.as_token(OPERATOR, "POST", &path, Some(&body)).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let mut targets = Vec::new();
    let mut before: Option<i64> = None;
    let mut pages = 0;
    loop {
        let path = match before {
            Some(b) => format!("/api/audit?limit=2&before={b}"),
            None => "/api/audit?limit=2".to_owned(),
        };
        let page = audit(&gw, &path).await;
        if page.is_empty() {
            break;
        }
        pages += 1;
        assert!(page.len() <= 2 && pages <= 3, "{page:#?}");
        for e in &page {
            targets.push(e["target"].as_str().expect("a target").to_owned());
        }
        before = page.iter().filter_map(|e| e["id"].as_i64()).min();
    }
    assert_eq!(pages, 3);
    assert_eq!(targets, ["a5", "a4", "a3", "a2", "a1"]);

    for (query, field) in [
        ("action=acknowledge", "action"),
        ("before=0", "before"),
        ("limit=0", "limit"),
        ("since=yesterday", "since"),
        ("mine=m1", "\"mine\""),
    ] {
        let r = gw
            .as_token(ADMIN, "GET", &format!("/api/audit?{query}"), None)
            .await;
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert!(r.error().starts_with(field), "{query}: {}", r.body);
    }
}

#[tokio::test]
async fn an_action_whose_audit_entry_cannot_be_written_is_a_500_saying_it_was_done() {
    let temp = minewatch_fixtures::store::file_store().await;
    let gw = Gateway::start_on(temp.store.clone(), 1024, tokens()).await;
    populate(&gw, 1).await;
    // A second connection to the same file makes the audit table refuse every insert.
    let mut conn = {
        use sqlx::Connection;
        sqlx::SqliteConnection::connect(&temp.url)
            .await
            .expect("a second connection")
    };
    sqlx::raw_sql(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit
         BEGIN SELECT RAISE(ABORT, 'audit refused by the test'); END",
    )
    .execute(&mut conn)
    .await
    .expect("create the trigger");
    let r = gw
        .as_token(
            OPERATOR,
            "POST",
            "/api/alerts/a1/ack",
            Some(r#"{"by":"shift lead"}"#),
        )
        .await;
    assert_eq!(r.status, 500, "{}", r.body);
    let error = r.error();
    assert!(
        error.contains("a1 was acknowledged") && error.contains("audit entry could not be written"),
        "{error}"
    );
    // The ack itself went through.
    assert_eq!(gw.control.acks.lock().expect("acks").len(), 1);
    sqlx::raw_sql("DROP TRIGGER refuse_audit")
        .execute(&mut conn)
        .await
        .expect("drop the trigger");
    assert!(audit(&gw, "/api/audit").await.is_empty());
}
