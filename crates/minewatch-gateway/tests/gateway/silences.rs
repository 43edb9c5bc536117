//! Silences and delivery records over real HTTP: creating, listing, ending, validation, scope,
//! and the `silenced` flag on alerts.

use crate::common::*;
use chrono::Utc;
use minewatch_core::{EventType, Kind, Severity};
use minewatch_gateway::config::TokenConfig;
use minewatch_gateway::{HttpConfig, Role};
use minewatch_store::{Delivery, DeliveryState};

const VIEWER_M1: &str = "viewer-m1-secret";
const OPERATOR_M1: &str = "operator-m1-secret";

async fn with_tokens() -> Gateway {
    let m1 = || Some(vec!["m1".to_owned()]);
    let config = HttpConfig {
        tokens: vec![
            TokenConfig::with_secret("viewer-m1", Role::Viewer, m1(), VIEWER_M1),
            TokenConfig::with_secret("operator-m1", Role::Operator, m1(), OPERATOR_M1),
        ],
        ..HttpConfig::default()
    };
    let gw = Gateway::start_with(1024, config).await;
    gw.add_mine("m1");
    gw.add_mine("m2");
    gw
}

#[tokio::test]
async fn a_silence_marks_matching_alerts_silenced_everywhere_until_it_is_ended() {
    let gw = Gateway::start().await;
    gw.add_mine("m1");
    let hit = alert("a1", "m1", Kind::OverLimit, Severity::Critical, 1);
    gw.emit(EventType::Raised, hit.clone()).await;
    gw.emit(
        EventType::Raised,
        alert("a2", "m1", Kind::Distress, Severity::Critical, 2),
    )
    .await;

    let body = format!(
        r#"{{"mine":"m1","kind":"over_limit","subject":"{}","duration":"2h","reason":"recalibration WO-17","by":"shift-lead"}}"#,
        hit.subject
    );
    let r = gw.post("/api/silences", &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let s = r.json();
    let id = s["id"].as_i64().expect("an id");
    assert_eq!(s["mine"], "m1");
    assert_eq!(s["kind"], "over_limit");
    assert_eq!(s["by"], "shift-lead");
    assert_eq!(s["ended_by"], serde_json::Value::Null);
    for field in ["starts_at", "ends_at", "created_at"] {
        let v = s[field].as_str().expect("a time");
        assert!(
            chrono::DateTime::parse_from_rfc3339(v).is_ok(),
            "{field}: {v}"
        );
    }

    let alerts = gw.get("/api/alerts").await.json();
    let flag = |id: &str, list: &serde_json::Value| {
        list.as_array()
            .expect("alerts")
            .iter()
            .find(|a| a["id"] == id)
            .map(|a| a["silenced"].clone())
    };
    assert_eq!(flag("a1", &alerts["alerts"]), Some(true.into()));
    assert_eq!(flag("a2", &alerts["alerts"]), Some(false.into()));
    assert_eq!(
        gw.get("/api/alerts/a1").await.json()["alert"]["silenced"],
        true
    );
    let mine = gw.get("/api/mines/m1").await.json();
    assert_eq!(flag("a1", &mine["active_alerts"]), Some(true.into()));
    assert_eq!(flag("a2", &mine["active_alerts"]), Some(false.into()));

    let listed = gw.get("/api/silences").await.json();
    assert_eq!(listed["silences"].as_array().map(Vec::len), Some(1));

    let r = gw
        .request("DELETE", &format!("/api/silences/{id}?by=night-lead"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["ended_by"], "night-lead");
    assert_eq!(
        gw.get("/api/alerts/a1").await.json()["alert"]["silenced"],
        false
    );
    let active = gw.get("/api/silences").await.json();
    assert_eq!(active["silences"].as_array().map(Vec::len), Some(0));
    let all = gw.get("/api/silences?state=all").await.json();
    assert_eq!(all["silences"][0]["ended_by"], "night-lead");
    assert_eq!(
        gw.request("DELETE", "/api/silences/999", None).await.status,
        404
    );
}

#[tokio::test]
async fn bad_silences_are_refused_naming_the_field() {
    let gw = Gateway::start().await;
    gw.add_mine("m1");
    for (body, field) in [
        (r#"{"mine":"m 1","duration":"1h","reason":"x"}"#, "mine"),
        (
            r#"{"mine":"m1","kind":"over_limt","duration":"1h","reason":"x"}"#,
            "kind",
        ),
        (
            r#"{"mine":"m1","subject":"a/b","duration":"1h","reason":"x"}"#,
            "subject",
        ),
        (
            r#"{"mine":"m1","duration":"soon","reason":"x"}"#,
            "duration",
        ),
        (r#"{"mine":"m1","reason":"x"}"#, "duration"),
        (
            r#"{"mine":"m1","duration":"1h","ends_at":"2030-01-01T00:00:00Z","reason":"x"}"#,
            "ends_at",
        ),
        (
            r#"{"mine":"m1","ends_at":"tomorrow","reason":"x"}"#,
            "ends_at",
        ),
        (
            r#"{"mine":"m1","starts_at":"2030-01-02T00:00:00Z","ends_at":"2030-01-01T00:00:00Z","reason":"x"}"#,
            "ends_at",
        ),
        (r#"{"mine":"m1","duration":"1h","reason":"  "}"#, "reason"),
        (
            r#"{"mine":"m1","duration":"1h","reason":"x","colour":"red"}"#,
            "colour",
        ),
    ] {
        let r = gw.post("/api/silences", body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(
            r.names(field) || r.error().starts_with("ends_at, duration: "),
            "{body}: {}",
            r.error()
        );
    }
    let later = (Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339();
    let r = gw
        .post(
            "/api/silences",
            &format!(r#"{{"mine":"m1","ends_at":"{later}","reason":"x"}}"#),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["by"], "anonymous", "by defaults to the caller");
}

#[tokio::test]
async fn a_silence_for_a_mine_that_does_not_exist_is_404_and_an_absurd_duration_is_400() {
    let gw = Gateway::start().await;
    gw.add_mine("m1");
    let r = gw
        .post(
            "/api/silences",
            r#"{"mine":"m9","duration":"1h","reason":"typo in the mine id"}"#,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.error().contains("m9"), "{}", r.body);
    for duration in ["99999999999999999999d", "18446744073709551615s", "367d"] {
        let body = format!(r#"{{"mine":"m1","duration":"{duration}","reason":"x"}}"#);
        let r = gw.post("/api/silences", &body).await;
        assert_eq!(r.status, 400, "{duration}: {}", r.body);
        assert!(r.names("duration"), "{duration}: {}", r.body);
    }
    let listed = gw.get("/api/silences?state=all").await.json();
    assert_eq!(listed["silences"], serde_json::json!([]));
}

#[tokio::test]
async fn silences_and_deliveries_are_scoped_to_the_tokens_mines_and_need_an_operator() {
    let gw = with_tokens().await;
    let body =
        |mine: &str| format!(r#"{{"mine":"{mine}","duration":"1h","reason":"x","by":"op"}}"#);
    let r = gw
        .as_token(VIEWER_M1, "POST", "/api/silences", Some(&body("m1")))
        .await;
    assert_eq!(r.status, 403);
    let r = gw
        .as_token(OPERATOR_M1, "POST", "/api/silences", Some(&body("m2")))
        .await;
    assert_eq!(r.status, 404, "a mine outside the token's scope");
    let r = gw
        .as_token(OPERATOR_M1, "POST", "/api/silences", Some(&body("m1")))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // One on m2, set directly in the store: invisible to the m1 token.
    let other = gw
        .state
        .store
        .add_silence(&minewatch_store::Silence {
            id: 0,
            mine: "m2".into(),
            kind: None,
            subject: None,
            starts_at: Utc::now(),
            ends_at: Utc::now() + chrono::TimeDelta::hours(1),
            reason: "x".into(),
            by: "y".into(),
            created_at: Utc::now(),
            ended_by: None,
        })
        .await
        .expect("silence");
    let list = gw
        .as_token(VIEWER_M1, "GET", "/api/silences", None)
        .await
        .json();
    let mines: Vec<_> = list["silences"]
        .as_array()
        .expect("list")
        .iter()
        .map(|s| s["mine"].clone())
        .collect();
    assert_eq!(mines, ["m1"]);
    let path = format!("/api/silences/{}", other.id);
    assert_eq!(
        gw.as_token(OPERATOR_M1, "DELETE", &path, None).await.status,
        404
    );
    assert_eq!(
        gw.as_token(VIEWER_M1, "DELETE", &path, None).await.status,
        403
    );

    for (mine, state) in [
        ("m1", DeliveryState::Failed),
        ("m2", DeliveryState::Failed),
        ("m1", DeliveryState::Delivered),
    ] {
        let d = Delivery {
            id: 0,
            sink: "oncall".into(),
            seq: 1,
            kind: "raised".into(),
            mine: mine.into(),
            alert_id: "a1".into(),
            state,
            attempts: 2,
            first_attempt_at: Utc::now(),
            last_attempt_at: Utc::now(),
            error: Some("HTTP 503".into()),
        };
        gw.state
            .store
            .advance_sink("oncall", 1, Some(&d))
            .await
            .expect("record");
    }
    let failed = gw
        .as_token(VIEWER_M1, "GET", "/api/deliveries", None)
        .await
        .json();
    assert_eq!(failed["deliveries"].as_array().map(Vec::len), Some(1));
    assert_eq!(failed["deliveries"][0]["state"], "failed");
    assert_eq!(failed["deliveries"][0]["sink"], "oncall");
    let all = gw
        .as_token(VIEWER_M1, "GET", "/api/deliveries?state=all", None)
        .await
        .json();
    assert_eq!(all["deliveries"].as_array().map(Vec::len), Some(2));
    let r = gw
        .as_token(VIEWER_M1, "GET", "/api/deliveries?state=lost", None)
        .await;
    assert_eq!(r.status, 400);
    assert!(r.error().contains("state"));
}
