//! `GET /api/openapi.json`: the document lists every route docs/api.md names and no other, every
//! operation in it is served, and real answers of every route, with data behind them, validate
//! against the schema it gives for their status and content type.

use crate::common::*;
use chrono::Utc;
use minewatch_core::live::Flood;
use minewatch_core::{EventType, Kind, Severity};
use minewatch_store::{DeadLetter, Delivery, DeliveryState, WriteBatch};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The document, as served.
async fn document(gw: &Gateway) -> Value {
    let reply = gw.get("/api/openapi.json").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    reply.json()
}

/// Every `(method, path)` the document describes.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item");
            ["get", "put", "post", "delete", "patch"]
                .into_iter()
                .filter(|m| item.contains_key(*m))
                .map(|m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}

/// Every `` `METHOD /path` `` docs/api.md names (a query string cut off).
fn documented_routes() -> BTreeSet<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md");
    let text = std::fs::read_to_string(path).expect("docs/api.md");
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|span| {
            let (method, rest) = span.split_once(' ')?;
            let known = ["GET", "PUT", "POST", "DELETE"].contains(&method);
            (known && rest.starts_with('/')).then(|| {
                let path = rest.split('?').next().unwrap_or(rest);
                (method.to_owned(), path.to_owned())
            })
        })
        .collect()
}

/// The schema of the answer with `status` and media type `media` to `method path_template`;
/// panics when the document does not describe that answer.
fn schema_for(doc: &Value, method: &str, template: &str, status: u16, media: &str) -> Value {
    let op = &doc["paths"][template][method.to_lowercase()];
    assert!(op.is_object(), "{method} {template} is not in the document");
    let answer = &op["responses"][status.to_string()];
    assert!(
        answer.is_object(),
        "{method} {template} answered {status}, which the document does not describe"
    );
    let content = &answer["content"];
    assert!(
        content.get(media).is_some(),
        "{method} {template} {status} answered {media}, the document says {content}"
    );
    // No schema: any body of that type (the document itself, the page's assets).
    match &content[media]["schema"] {
        Value::Null => json!({}),
        schema => schema.clone(),
    }
}

/// Whether `instance` fits `schema`, a schema of `doc` (its `$ref`s point into its components).
fn violations(doc: &Value, schema: &Value, instance: &Value) -> Vec<String> {
    let mut root = schema.clone();
    if let Some(o) = root.as_object_mut() {
        o.insert("components".into(), doc["components"].clone());
    }
    let validator = jsonschema::validator_for(&root)
        .unwrap_or_else(|e| panic!("not a valid JSON schema ({e}): {root}"));
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

/// A request, and the route it is an answer of.
struct Probe {
    method: &'static str,
    template: &'static str,
    path: String,
    body: Option<String>,
    headers: Vec<(&'static str, &'static str)>,
}

fn probe(method: &'static str, template: &'static str, path: impl Into<String>) -> Probe {
    Probe {
        method,
        template,
        path: path.into(),
        body: None,
        headers: Vec::new(),
    }
}

impl Probe {
    fn body(mut self, body: Value) -> Self {
        self.body = Some(body.to_string());
        self
    }

    fn header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// A gateway with something behind every route: alerts (active, resolved), an event log, a mine,
/// a flood, a dead letter, a failed delivery.
async fn gateway_with_data() -> Gateway {
    let gw = Gateway::start().await;
    gw.add_mine("m1");
    let a1 = alert("a1", "m1", Kind::OverLimit, Severity::Critical, 100);
    gw.emit(EventType::Raised, a1.clone()).await;
    let mut a2 = alert("a2", "m1", Kind::PointSilent, Severity::Major, 200);
    gw.emit(EventType::Raised, a2.clone()).await;
    a2.evidence = json!({"last_seen": "2026-11-23T08:00:00Z"});
    let event = gw.emit(EventType::Resolved, resolved(&a2)).await;
    gw.state.live.floods.insert(
        "m1".into(),
        Flood {
            since: t(100),
            count: 12,
            peak: 14,
        },
    );
    let store = &gw.state.store;
    let letter = DeadLetter {
        id: 0,
        received_at: t(300),
        topic: "mine/m1/safety/realtime".into(),
        mine: Some("m1".into()),
        system: Some("safety".into()),
        reason: "bad_json".into(),
        detail: "expected value at line 1 column 1".into(),
        excerpt: "{oops".into(),
        count: 1,
        examples: Vec::new(),
    };
    let batch = WriteBatch {
        dead_letters: vec![letter],
        ..WriteBatch::default()
    };
    store.commit(&batch).await.expect("a dead letter stored");
    let delivery = Delivery {
        id: 0,
        sink: "oncall".into(),
        seq: event.seq,
        kind: "resolved".into(),
        mine: "m1".into(),
        alert_id: "a2".into(),
        state: DeliveryState::Failed,
        attempts: 3,
        first_attempt_at: Utc::now(),
        last_attempt_at: Utc::now(),
        error: Some("HTTP 500".into()),
    };
    store
        .advance_sink("oncall", event.seq, Some(&delivery))
        .await
        .expect("a delivery recorded");
    gw
}

/// Every route once at least, answers of each status the data gives (lists, details, actions,
/// errors), in an order where actions leave what later reads list (the audit trail last).
fn probes() -> Vec<Probe> {
    vec![
        probe("GET", "/api/alerts", "/api/alerts"),
        probe("GET", "/api/alerts", "/api/alerts?state=all&severity=major"),
        probe("GET", "/api/alerts", "/api/alerts?state=all").header("accept", "text/csv"),
        probe("GET", "/api/alerts", "/api/alerts?limit=0"),
        probe("GET", "/api/alerts/{id}", "/api/alerts/a1"),
        probe("GET", "/api/alerts/{id}", "/api/alerts/a2"),
        probe("GET", "/api/alerts/{id}", "/api/alerts/nope"),
        probe("POST", "/api/alerts/{id}/ack", "/api/alerts/a1/ack")
            .body(json!({"by": "Wang", "note": "crew sent"})),
        probe("POST", "/api/alerts/{id}/ack", "/api/alerts/a1/ack").body(json!({"by": "Wang"})),
        probe("POST", "/api/alerts/{id}/ack", "/api/alerts/a1/ack").body(json!({"urgent": 1})),
        probe("POST", "/api/alerts/{id}/shelve", "/api/alerts/a1/shelve")
            .body(json!({"by": "Wang", "reason": "sensor swap", "for": "30m"})),
        probe(
            "POST",
            "/api/alerts/{id}/unshelve",
            "/api/alerts/a1/unshelve",
        )
        .body(json!({"by": "Wang"})),
        probe("GET", "/api/floods", "/api/floods"),
        probe("GET", "/api/events", "/api/events?after=0"),
        probe("GET", "/api/mines", "/api/mines"),
        probe("GET", "/api/mines/{id}", "/api/mines/m1"),
        probe("GET", "/api/mines/{id}", "/api/mines/m9"),
        probe("PUT", "/api/mines/{id}/status", "/api/mines/m1/status")
            .body(json!({"status": "suspended", "by": "regulator", "note": "order 7"})),
        probe("GET", "/api/dead-letters", "/api/dead-letters"),
        probe("GET", "/api/kpis", "/api/kpis"),
        probe("POST", "/api/admin/reload", "/api/admin/reload"),
        probe("POST", "/api/silences", "/api/silences").body(
            json!({"mine": "m1", "kind": "over_limit", "duration": "2h", "reason": "calibration"}),
        ),
        probe("GET", "/api/silences", "/api/silences"),
        probe("DELETE", "/api/silences/{id}", "/api/silences/1?by=Wang"),
        probe("GET", "/api/deliveries", "/api/deliveries"),
        probe("GET", "/api/kinds", "/api/kinds"),
        probe("GET", "/api/audit", "/api/audit"),
        probe("GET", "/metrics", "/metrics"),
        probe("GET", "/healthz", "/healthz"),
        probe("GET", "/readyz", "/readyz"),
        probe("GET", "/", "/"),
        probe("GET", "/assets/{name}", "/assets/app.css"),
        probe("GET", "/assets/{name}", "/assets/app.js"),
        probe("GET", "/assets/{name}", "/assets/nope.js"),
        probe("GET", "/ws", "/ws?mine=m1"),
        probe("GET", "/api/openapi.json", "/api/openapi.json"),
    ]
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_names_every_route_of_the_api_docs_and_no_other() {
    let gw = Gateway::start().await;
    let doc = document(&gw).await;
    let version = doc["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3.1."), "{version}");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let described = operations(&doc);
    let documented = documented_routes();
    let undocumented: Vec<_> = described.difference(&documented).collect();
    let missing: Vec<_> = documented.difference(&described).collect();
    assert!(
        undocumented.is_empty() && missing.is_empty(),
        "in the OpenAPI document but not in docs/api.md: {undocumented:?}; \
         in docs/api.md but not in the document: {missing:?}"
    );
    // Every route the server has: the probes reach each of them (next test), and the document
    // holds as many operations as they do.
    let probed: BTreeSet<_> = probes()
        .iter()
        .map(|p| (p.method.to_owned(), p.template.to_owned()))
        .collect();
    assert_eq!(probed, described, "the probes cover every operation");
}

#[tokio::test]
async fn every_answer_of_every_route_validates_against_the_document() {
    let gw = gateway_with_data().await;
    let doc = document(&gw).await;
    let mut statuses = BTreeSet::new();
    for p in probes() {
        let reply = gw
            .request_with(p.method, &p.path, p.body.as_deref(), &p.headers)
            .await;
        let what = format!("{} {} -> {}", p.method, p.path, reply.status);
        // The router's own 404 and 405 mean the document names a route the server lacks.
        assert_ne!(reply.status, 405, "{what}: {}", reply.body);
        if reply.status == 404 {
            assert!(!reply.error().starts_with("no route for"), "{what}");
        }
        statuses.insert(reply.status);
        let media = reply
            .header("content-type")
            .map(|c| c.split(';').next().unwrap_or(c).trim().to_owned());
        let Some(media) = media else {
            let answer = &doc["paths"][p.template][p.method.to_lowercase()]["responses"]
                [reply.status.to_string()];
            assert!(answer.is_object(), "{what}: status not in the document");
            assert!(
                reply.body.is_empty(),
                "{what}: a body without a content type"
            );
            continue;
        };
        let schema = schema_for(&doc, p.method, p.template, reply.status, &media);
        let instance = if media == "application/json" {
            reply.json()
        } else {
            Value::String(reply.body.clone())
        };
        let wrong = violations(&doc, &schema, &instance);
        assert!(wrong.is_empty(), "{what}: {wrong:#?}\n{}", reply.body);
    }
    // The data and the actions gave answers of every class the document describes.
    for status in [200, 201, 400, 404, 409, 503] {
        assert!(statuses.contains(&status), "no probe answered {status}");
    }
}

#[tokio::test]
async fn an_answer_that_breaks_the_schema_is_caught() {
    let gw = gateway_with_data().await;
    let doc = document(&gw).await;
    let reply = gw.get("/api/alerts?state=all").await;
    let mut alerts = reply.json();
    let schema = schema_for(&doc, "GET", "/api/alerts", 200, "application/json");
    assert_eq!(violations(&doc, &schema, &alerts), Vec::<String>::new());
    alerts["alerts"][0]["severity"] = json!("catastrophic");
    assert!(!violations(&doc, &schema, &alerts).is_empty());
    alerts["alerts"][0]["severity"] = json!("critical");
    alerts["alerts"][0]["silenced"] = json!("no");
    assert!(!violations(&doc, &schema, &alerts).is_empty());
    let mut alerts = reply.json();
    if let Some(o) = alerts["alerts"][0].as_object_mut() {
        o.remove("started_at");
    }
    assert!(!violations(&doc, &schema, &alerts).is_empty());
}
