//! `GET /api/kinds`: the catalogue the binary hands the gateway, in contract order, behind the
//! same bearer tokens as the other read-only routes.

use crate::common::*;
use minewatch_core::Kind;
use minewatch_gateway::config::TokenConfig;
use minewatch_gateway::{HttpConfig, Role};

#[tokio::test]
async fn every_kind_is_listed_in_contract_order_with_its_subject_severity_and_params() {
    let gw = Gateway::start().await;
    let r = gw.get("/api/kinds").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    let kinds = v["kinds"].as_array().expect("an array kinds");
    assert_eq!(kinds.len(), Kind::ALL.len());
    let names: Vec<&str> = kinds
        .iter()
        .map(|k| k["name"].as_str().expect("a name"))
        .collect();
    let expected: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(names, expected, "contract order");
    for k in kinds {
        for field in ["label", "subject", "severity", "description"] {
            assert!(k[field].is_string(), "{field} of {k}");
        }
        assert!(k["resolves_on_ack"].is_boolean(), "{k}");
        assert!(k["params"].is_array(), "{k}");
    }
    let labels: std::collections::HashSet<&str> =
        kinds.iter().filter_map(|k| k["label"].as_str()).collect();
    assert_eq!(labels.len(), kinds.len(), "every kind has its own label");
    assert_eq!(kinds[1]["label"], "power not cut", "{}", kinds[1]);
    assert_eq!(kinds[0]["subject"], "point");
    assert_eq!(kinds[1]["subject"], "area");
    assert_eq!(kinds[0]["severity"], "major");
    let param = &kinds[0]["params"][0];
    assert_eq!(param["key"], "feed_grace");
    assert_eq!(param["default"], "10s");
    assert_eq!(param["unit"], "duration");
    assert!(param["description"].is_string());
    for (k, info) in kinds.iter().zip(catalogue()) {
        assert_eq!(k["resolves_on_ack"], info.resolves_on_ack, "{}", info.name);
    }

    assert_eq!(
        gw.request("POST", "/api/kinds", Some("{}")).await.status,
        405
    );
}

#[tokio::test]
async fn kinds_need_a_known_token_once_tokens_are_configured_and_any_role_of_any_mine_reads_them() {
    let config = HttpConfig {
        tokens: vec![
            TokenConfig::with_secret("viewer-m1", Role::Viewer, Some(vec!["m1".into()]), "v1"),
            TokenConfig::with_secret("admin-all", Role::Admin, None, "a1"),
        ],
        ..HttpConfig::default()
    };
    let gw = Gateway::start_with(1024, config).await;

    let r = gw.get("/api/kinds").await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = gw.as_token("not-a-token", "GET", "/api/kinds", None).await;
    assert_eq!(r.status, 401, "{}", r.body);

    let full = Gateway::start().await.get("/api/kinds").await.body;
    for token in ["v1", "a1"] {
        let r = gw.as_token(token, "GET", "/api/kinds", None).await;
        assert_eq!(r.status, 200, "{token}: {}", r.body);
        assert_eq!(r.body, full, "{token} sees the whole catalogue");
    }
}

#[tokio::test]
async fn the_dashboard_takes_its_kinds_from_the_api_and_names_none_itself() {
    let gw = Gateway::start().await;
    let js = gw.get("/assets/app.js").await;
    assert_eq!(js.status, 200);
    assert!(js.body.contains("/api/kinds"), "the page asks the server");
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    for script in ["app.js", "words.js", "alarms.js", "kpis.js"] {
        let js = gw.get(&format!("/assets/{script}")).await;
        assert_eq!(js.status, 200, "{script}");
        for kind in Kind::ALL {
            let name = kind.as_str();
            let named = js.body.match_indices(name).any(|(at, _)| {
                let before = js.body[..at].chars().next_back();
                let after = js.body[at + name.len()..].chars().next();
                !before.is_some_and(is_word) && !after.is_some_and(is_word)
            });
            assert!(!named, "{script} names the kind {name}");
        }
    }
}
