//! Bearer tokens over real HTTP and WebSocket: 401 without a known token, roles, and a token that
//! sees only its mines on every route.

use crate::common::*;
use minewatch_core::{EventType, Kind, Severity};
use minewatch_gateway::config::TokenConfig;
use minewatch_gateway::{HttpConfig, Role};
use minewatch_store::{DeadLetter, WriteBatch};
use serde_json::Value;

const VIEWER_M1: &str = "viewer-m1-secret";
const OPERATOR_M1: &str = "operator-m1-secret";
const ADMIN_M1: &str = "admin-m1-secret";
const ADMIN_ALL: &str = "admin-all-secret";

/// A gateway with four tokens: a viewer, an operator and an admin of m1, and an admin of `*`.
async fn with_tokens() -> Gateway {
    let m1 = || Some(vec!["m1".to_owned()]);
    let config = HttpConfig {
        tokens: vec![
            TokenConfig::with_secret("viewer-m1", Role::Viewer, m1(), VIEWER_M1),
            TokenConfig::with_secret("operator-m1", Role::Operator, m1(), OPERATOR_M1),
            TokenConfig::with_secret("admin-m1", Role::Admin, m1(), ADMIN_M1),
            TokenConfig::with_secret("admin-all", Role::Admin, None, ADMIN_ALL),
        ],
        ..HttpConfig::default()
    };
    let gw = Gateway::start_with(1024, config).await;
    gw.add_mine("m1");
    gw.add_mine("m2");
    gw.emit(
        EventType::Raised,
        alert("a1", "m1", Kind::OverLimit, Severity::Critical, 1),
    )
    .await;
    gw.emit(
        EventType::Raised,
        alert("b1", "m2", Kind::OverLimit, Severity::Critical, 2),
    )
    .await;
    gw
}

async fn get_as(gw: &Gateway, token: &str, path: &str) -> Reply {
    gw.as_token(token, "GET", path, None).await
}

fn mine_ids(v: &Value, key: &str, field: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("an array {key}: {v}"))
        .iter()
        .map(|x| x[field].as_str().expect("a string").to_owned())
        .collect()
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_401_with_a_bearer_challenge_and_the_open_routes_stay_open() {
    let gw = with_tokens().await;
    for path in [
        "/api/alerts",
        "/api/alerts/a1",
        "/api/mines",
        "/api/events",
        "/ws",
    ] {
        let r = gw.get(path).await;
        assert_eq!(r.status, 401, "{path}: {}", r.body);
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{path}");
        assert!(r.error().contains("token"), "{}", r.body);

        let r = get_as(&gw, "not-a-token", path).await;
        assert_eq!(r.status, 401, "{path}: {}", r.body);
        let challenge = r.header("www-authenticate").unwrap_or_default();
        assert!(challenge.starts_with("Bearer"), "{path}: {challenge}");
    }
    let r = gw.post("/api/alerts/a1/ack", r#"{"by":"someone"}"#).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(gw.control.acks.lock().expect("acks").is_empty());
    let basic = gw
        .request_with(
            "GET",
            "/api/alerts",
            None,
            &[("Authorization", "Basic dXNlcjpwYXNz")],
        )
        .await;
    assert_eq!(basic.status, 401, "{}", basic.body);
    let url = format!("ws://{}/ws?token=wrong", gw.addr);
    assert!(tokio_tungstenite::connect_async(url).await.is_err());

    for open in ["/healthz", "/metrics", "/"] {
        assert_eq!(gw.get(open).await.status, 200, "{open}");
    }
    assert_eq!(gw.get("/readyz").await.status, 503, "open, and not ready");
}

#[tokio::test]
async fn a_viewer_of_one_mine_cannot_list_fetch_or_ack_another_mines_alerts() {
    let gw = with_tokens().await;

    let v = get_as(&gw, VIEWER_M1, "/api/alerts").await.json();
    assert_eq!(ids(&v["alerts"]), ["a1"]);
    let v = get_as(&gw, VIEWER_M1, "/api/alerts?mine=m2&state=all")
        .await
        .json();
    assert_eq!(ids(&v["alerts"]), Vec::<String>::new());
    let v = get_as(&gw, ADMIN_ALL, "/api/alerts").await.json();
    assert_eq!(ids(&v["alerts"]), ["b1", "a1"]);

    assert_eq!(get_as(&gw, VIEWER_M1, "/api/alerts/a1").await.status, 200);
    let r = get_as(&gw, VIEWER_M1, "/api/alerts/b1").await;
    assert_eq!(
        r.status, 404,
        "another mine's alert does not exist: {}",
        r.body
    );
    let unknown = get_as(&gw, VIEWER_M1, "/api/alerts/zz").await;
    assert_eq!(
        r.body.replace("b1", "zz"),
        unknown.body,
        "the same answer as an unknown id"
    );

    let r = gw
        .as_token(
            OPERATOR_M1,
            "POST",
            "/api/alerts/b1/ack",
            Some(r#"{"by":"ops"}"#),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(gw.control.acks.lock().expect("acks").is_empty());

    let v = get_as(&gw, VIEWER_M1, "/api/events").await.json();
    let mines: Vec<&str> = v["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["alert"]["mine"].as_str().expect("a mine"))
        .collect();
    assert_eq!(mines, ["m1"]);
    assert_eq!(v["next_after"], 2, "the page looked at both events: {v}");
    assert_eq!(v["last_seq"], 2);

    let v = get_as(&gw, VIEWER_M1, "/api/mines").await.json();
    assert_eq!(mine_ids(&v, "mines", "id"), ["m1"]);
    assert_eq!(get_as(&gw, VIEWER_M1, "/api/mines/m1").await.status, 200);
    assert_eq!(get_as(&gw, VIEWER_M1, "/api/mines/m2").await.status, 404);

    let letter = |mine: &str| DeadLetter {
        id: 0,
        received_at: t(1),
        topic: format!("mines/{mine}/safety"),
        mine: Some(mine.to_owned()),
        system: Some("safety".into()),
        reason: "bad_json".into(),
        detail: "detail".into(),
        excerpt: "{}".into(),
        count: 1,
        examples: Vec::new(),
    };
    let batch = WriteBatch {
        events: Vec::new(),
        dead_letters: vec![letter("m1"), letter("m2")],
        ..WriteBatch::default()
    };
    gw.state.store.commit(&batch).await.expect("commit");
    let v = get_as(&gw, VIEWER_M1, "/api/dead-letters").await.json();
    assert_eq!(mine_ids(&v, "dead_letters", "mine"), ["m1"]);
    let v = get_as(&gw, VIEWER_M1, "/api/dead-letters?mine=m2")
        .await
        .json();
    assert_eq!(mine_ids(&v, "dead_letters", "mine"), Vec::<String>::new());
}

#[tokio::test]
async fn a_viewer_cannot_ack_and_an_operator_can_ack_its_mines_alert() {
    let gw = with_tokens().await;
    let r = gw
        .as_token(
            VIEWER_M1,
            "POST",
            "/api/alerts/a1/ack",
            Some(r#"{"by":"me"}"#),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.error().contains("operator"), "{}", r.body);
    assert!(gw.control.acks.lock().expect("acks").is_empty());

    let r = gw
        .as_token(
            OPERATOR_M1,
            "POST",
            "/api/alerts/a1/ack",
            Some(r#"{"by":"shift lead"}"#),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["ack"]["by"], "shift lead");
    assert_eq!(gw.control.acks.lock().expect("acks").len(), 1);
}

#[tokio::test]
async fn an_admin_of_every_mine_can_reload_an_admin_can_order_a_status_for_its_mines_and_others_cannot()
 {
    let gw = with_tokens().await;
    for token in [VIEWER_M1, OPERATOR_M1] {
        let r = gw.as_token(token, "POST", "/api/admin/reload", None).await;
        assert_eq!(r.status, 403, "{}", r.body);
        let r = gw
            .as_token(
                token,
                "PUT",
                "/api/mines/m1/status",
                Some(r#"{"status":"suspended"}"#),
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.body);
    }
    let r = gw
        .as_token(ADMIN_M1, "POST", "/api/admin/reload", None)
        .await;
    assert_eq!(r.status, 403, "a reload changes every mine: {}", r.body);
    assert!(
        r.error().contains("every mine") && r.error().contains("admin-m1 covers only m1"),
        "{}",
        r.body
    );
    let r = gw
        .as_token(ADMIN_ALL, "POST", "/api/admin/reload", None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["mines"], 2);

    let r = gw
        .as_token(
            ADMIN_M1,
            "PUT",
            "/api/mines/m2/status",
            Some(r#"{"status":"suspended"}"#),
        )
        .await;
    assert_eq!(r.status, 404, "another mine's status: {}", r.body);
    let r = gw
        .as_token(
            ADMIN_M1,
            "PUT",
            "/api/mines/m1/status",
            Some(r#"{"status":"suspended"}"#),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["by"],
        "admin-m1",
        "the token's name when no by is given"
    );
    assert_eq!(gw.control.statuses.lock().expect("statuses").len(), 1);
}

#[tokio::test]
async fn a_viewer_of_one_mine_does_not_receive_another_mines_events_on_the_websocket() {
    let gw = with_tokens().await;
    let mut by_header = gw.ws_as(VIEWER_M1, "").await;
    let url = format!("ws://{}/ws?token={VIEWER_M1}", gw.addr);
    let (mut by_query, _) = within(
        "the websocket handshake",
        tokio_tungstenite::connect_async(url),
    )
    .await
    .expect("a token in the query is accepted on /ws");

    for ws in [&mut by_header, &mut by_query] {
        let snap = next_json(ws).await;
        assert_eq!(snap["type"], "snapshot");
        assert_eq!(ids(&snap["alerts"]), ["a1"]);
    }
    gw.emit(
        EventType::Raised,
        alert("b2", "m2", Kind::OverLimit, Severity::Critical, 3),
    )
    .await;
    gw.emit(
        EventType::Raised,
        alert("a2", "m1", Kind::OverLimit, Severity::Major, 4),
    )
    .await;
    for ws in [&mut by_header, &mut by_query] {
        let next = next_json(ws).await;
        assert_eq!(next["alert"]["id"], "a2", "b2 of m2 was skipped: {next}");
        assert_eq!(next["seq"], 4);
    }

    let mut replay = gw.ws_as(VIEWER_M1, "after=0").await;
    assert_eq!(next_json(&mut replay).await["alert"]["id"], "a1");
    assert_eq!(next_json(&mut replay).await["alert"]["id"], "a2");

    let r = get_as(&gw, VIEWER_M1, "/ws?mine=m2").await;
    assert_eq!(r.status, 404, "refused before the upgrade: {}", r.body);
    let r = gw.get(&format!("/ws?mine=m2&token={VIEWER_M1}")).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = gw.get(&format!("/api/alerts?token={VIEWER_M1}")).await;
    assert_eq!(r.status, 401, "the query token is for /ws only: {}", r.body);
}

#[tokio::test]
async fn metrics_take_a_token_of_every_mine_when_metrics_auth_is_on() {
    let tokens = || {
        vec![
            TokenConfig::with_secret(
                "viewer-m1",
                Role::Viewer,
                Some(vec!["m1".to_owned()]),
                VIEWER_M1,
            ),
            TokenConfig::with_secret("admin-all", Role::Admin, None, ADMIN_ALL),
        ]
    };
    // Off (the default): open, as Prometheus on a private network scrapes it.
    let open = Gateway::start_with(
        16,
        HttpConfig {
            tokens: tokens(),
            ..HttpConfig::default()
        },
    )
    .await;
    assert_eq!(open.get("/metrics").await.status, 200);
    // On: no token 401, a token of some mines 403, a token of every mine 200.
    let config = HttpConfig {
        tokens: tokens(),
        metrics_auth: true,
        ..HttpConfig::default()
    };
    assert_eq!(config.validate(), Ok(()));
    let gw = Gateway::start_with(16, config).await;
    let r = gw.get("/metrics").await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|c| c.starts_with("Bearer"))
    );
    assert_eq!(get_as(&gw, "wrong", "/metrics").await.status, 401);
    let r = get_as(&gw, VIEWER_M1, "/metrics").await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = get_as(&gw, ADMIN_ALL, "/metrics").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("minewatch_"), "{}", r.body);
    // Without tokens it cannot be on.
    let lone = HttpConfig {
        metrics_auth: true,
        ..HttpConfig::default()
    };
    assert!(lone.validate().is_err_and(|e| e.contains("metrics_auth")));
}
