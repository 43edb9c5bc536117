//! End-to-end: the real server, a real broker, contract payloads in, alerts out over HTTP and
//! WebSocket. Event time is driven by the payloads' `ts`; waits poll for a condition with a timeout.

use minewatch_tests::webhook::Receiver;
use minewatch_tests::{Harness, MINE, Ws, wait_until};
use serde_json::{Value, json};
use std::time::Duration;

fn by(kind: &'static str, subject: &'static str) -> impl Fn(&Value) -> bool {
    move |a| a["kind"] == kind && a["subject"] == subject
}

fn normal(h: &Harness, secs: i64) -> impl std::future::Future<Output = ()> + '_ {
    h.safety(
        "M1",
        secs,
        &[
            ("P0", 0.05, 0),
            ("P1", 0.4, 0),
            ("P2", 0.45, 0),
            ("F1", 1.0, 0),
            ("F2", 1.0, 0),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_limit_is_raised_escalated_and_resolved_through_mqtt_and_the_api() {
    let h = Harness::start(&[("m1.toml", MINE)], |_| {}).await;
    normal(&h, 0).await;
    h.safety("M1", 10, &[("P1", 1.1, 0)]).await;
    let a = h
        .wait_alert(
            "over_limit raised",
            "mine=M1&kind=over_limit",
            by("over_limit", "P1"),
        )
        .await;
    assert_eq!(a["severity"], "major");
    assert_eq!(a["state"], "active");
    assert_eq!(a["key"], "M1/over_limit/P1");
    assert_eq!(a["area"], "A1");
    h.safety("M1", 20, &[("P1", 1.62, 0)]).await;
    let a2 = h
        .wait_alert("escalated", "mine=M1&kind=over_limit", |a| {
            a["severity"] == "critical"
        })
        .await;
    assert_eq!(a2["id"], a["id"], "updated in place, not raised again");
    assert!(
        a2["message"]
            .as_str()
            .unwrap_or_default()
            .contains("power-off 1.5%"),
        "{a2}"
    );
    h.safety("M1", 30, &[("P1", 0.5, 0), ("F1", 0.0, 0), ("F2", 0.0, 0)])
        .await;
    let r = h
        .wait_alert(
            "resolved",
            "state=resolved&mine=M1&kind=over_limit",
            by("over_limit", "P1"),
        )
        .await;
    assert_eq!(r["id"], a["id"]);
    let (_, detail) = h
        .get(&format!(
            "/api/alerts/{}",
            a["id"].as_str().unwrap_or_default()
        ))
        .await;
    let types: Vec<_> = detail["events"]
        .as_array()
        .map(|e| e.iter().map(|e| e["type"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(
        types,
        vec![json!("raised"), json!("updated"), json!("resolved")],
        "{detail}"
    );
    assert!(h.alerts("state=active&mine=M1").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_off_failure_is_raised_when_a_feed_stays_energized_and_resolves_when_power_is_cut() {
    let h = Harness::start(&[("m1.toml", MINE)], |_| {}).await;
    normal(&h, 0).await;
    h.safety("M1", 10, &[("P1", 1.7, 0), ("F1", 1.0, 0), ("F2", 0.0, 0)])
        .await;
    // Only the mine clock passing the 10 s grace makes it fire: another point reports at 25 s.
    h.safety("M1", 25, &[("P0", 0.05, 0)]).await;
    let a = h
        .wait_alert(
            "power_off_failure",
            "mine=M1&kind=power_off_failure",
            by("power_off_failure", "P1"),
        )
        .await;
    assert_eq!(a["severity"], "critical");
    assert_eq!(a["evidence"]["feeds"][0]["point"], "F1");
    assert_eq!(a["evidence"]["feeds"][0]["value"], 1.0);
    h.safety("M1", 30, &[("F1", 0.0, 0)]).await;
    h.wait_alert(
        "resolved",
        "state=resolved&mine=M1&kind=power_off_failure",
        by("power_off_failure", "P1"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensor_fault_and_point_silent_fire_on_event_time_and_resolve() {
    let h = Harness::start(&[("m1.toml", MINE)], |_| {}).await;
    normal(&h, 0).await;
    for s in (10..=70).step_by(10) {
        h.safety(
            "M1",
            s,
            &[
                ("P0", 0.05, 0),
                ("P1", 0.0, 128),
                ("F1", 1.0, 0),
                ("F2", 1.0, 0),
            ],
        )
        .await;
    }
    let f = h
        .wait_alert(
            "sensor_fault",
            "mine=M1&kind=sensor_fault",
            by("sensor_fault", "P1"),
        )
        .await;
    assert_eq!(f["severity"], "warning");
    // P2 has been silent since 0 s; at 130 s of mine clock it is past 120 s.
    h.safety(
        "M1",
        130,
        &[
            ("P0", 0.05, 0),
            ("P1", 0.4, 0),
            ("F1", 1.0, 0),
            ("F2", 1.0, 0),
        ],
    )
    .await;
    h.wait_alert(
        "sensor_fault resolved",
        "state=resolved&mine=M1&kind=sensor_fault",
        by("sensor_fault", "P1"),
    )
    .await;
    let s = h
        .wait_alert(
            "point_silent",
            "mine=M1&kind=point_silent",
            by("point_silent", "P2"),
        )
        .await;
    assert_eq!(s["severity"], "major");
    assert_eq!(
        h.alerts("mine=M1&kind=point_silent").await.len(),
        1,
        "only P2 is silent"
    );
    h.safety("M1", 140, &[("P2", 0.45, 0)]).await;
    h.wait_alert(
        "point_silent resolved",
        "state=resolved&mine=M1&kind=point_silent",
        by("point_silent", "P2"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_silent_follows_the_wall_clock_and_resolves_when_data_arrives() {
    let h = Harness::start(&[("m1.toml", MINE)], |c| {
        c.rules.system_silent.system_silent_after = 2_000
    })
    .await;
    // Safety keeps reporting; personnel and video never do.
    let a = wait_until("system_silent raised", || async {
        normal(&h, 0).await;
        h.alerts("mine=M1&kind=system_silent")
            .await
            .into_iter()
            .next()
    })
    .await;
    let silent = a["evidence"]["silent"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        silent.contains(&json!("personnel")) && silent.contains(&json!("video")),
        "{a}"
    );
    assert!(!silent.contains(&json!("safety")), "{a}");
    let ts = h.ts(5);
    h.publish("M1", "personnel", &json!({"ts": ts, "tags": []}))
        .await;
    h.publish(
        "M1",
        "video",
        &json!({"ts": ts, "cameras": [{"camera": "C1", "state": "ok"}]}),
    )
    .await;
    normal(&h, 5).await;
    h.wait_alert(
        "system_silent resolved",
        "state=resolved&mine=M1&kind=system_silent",
        |a| a["subject"] == "M1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_device_is_raised_kept_visible_and_resolved_by_an_ack() {
    let h = Harness::start(&[("m1.toml", MINE)], |_| {}).await;
    h.safety("M1", 0, &[("X9", 0.3, 0), ("P1", 0.4, 0)]).await;
    let a = h
        .wait_alert(
            "unregistered_device",
            "mine=M1&kind=unregistered_device",
            by("unregistered_device", "X9"),
        )
        .await;
    let (_, mine) = h.get("/api/mines/M1").await;
    assert!(
        mine["unregistered"]
            .as_array()
            .is_some_and(|u| u.iter().any(|d| d["id"] == "X9")),
        "{mine}"
    );
    let id = a["id"].as_str().unwrap_or_default().to_string();
    let (status, acked) = h
        .post(
            &format!("/api/alerts/{id}/ack"),
            &json!({"by": "op1", "note": "spare sensor"}),
        )
        .await;
    assert_eq!(status, 200, "{acked}");
    let r = h
        .wait_alert(
            "resolved by ack",
            "state=resolved&mine=M1&kind=unregistered_device",
            by("unregistered_device", "X9"),
        )
        .await;
    assert_eq!(r["ack"]["by"], "op1");
    let (status, _) = h
        .post(&format!("/api/alerts/{id}/ack"), &json!({"by": "op2"}))
        .await;
    assert_eq!(status, 409, "acked twice");
    // The real server records the ack in its audit trail, once (not the refused second one): no
    // tokens, so `anonymous`, from the loopback peer the accept loop saw. (The harness's own
    // probe acks are recorded too, under their own targets.)
    let (status, audit) = h.get("/api/audit?action=ack").await;
    assert_eq!(status, 200, "{audit}");
    let entries: Vec<Value> = audit["audit"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["target"] == id.as_str())
        .cloned()
        .collect();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["token"], "anonymous", "{audit}");
    assert_eq!(entries[0]["source"], "127.0.0.1", "{audit}");
    assert_eq!(entries[0]["by"], "op1", "{audit}");
    assert_eq!(entries[0]["detail"]["note"], "spare sensor", "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_element_is_rejected_alone_and_kept_as_a_dead_letter() {
    let h = Harness::start(&[("m1.toml", MINE)], |_| {}).await;
    let payload = json!({"ts": h.ts(0), "readings": [
        {"point": "P0", "value": 0.05},
        {"point": "P1", "value": "very high"},
        {"point": "P2", "value": 1.2}
    ]});
    h.publish("M1", "safety", &payload).await;
    h.wait_alert(
        "the good element still raises",
        "mine=M1&kind=over_limit",
        by("over_limit", "P2"),
    )
    .await;
    let (_, dl) = h.get("/api/dead-letters?mine=M1").await;
    let dl = dl["dead_letters"].as_array().cloned().unwrap_or_default();
    assert_eq!(dl.len(), 1, "{dl:?}");
    assert_eq!(dl[0]["reason"], "bad_element");
    assert!(
        dl[0]["excerpt"]
            .as_str()
            .unwrap_or_default()
            .contains("very high"),
        "{dl:?}"
    );
    h.publish_raw(&format!("{}/M1/safety", h.prefix), b"{not json".to_vec())
        .await;
    let bad = wait_until("a whole-message rejection", || async {
        let (_, dl) = h.get("/api/dead-letters?mine=M1").await;
        dl["dead_letters"]
            .as_array()
            .and_then(|d| d.iter().find(|x| x["reason"] == "bad_json").cloned())
    })
    .await;
    assert_eq!(bad["system"], "safety");
    let (_, metrics) = h.get("/metrics").await;
    let text = metrics.as_str().unwrap_or_default();
    assert_eq!(
        minewatch_fixtures::metrics::value(
            text,
            "minewatch_rejected_total",
            &[("system", "safety"), ("reason", "bad_element")]
        ),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_neither_raises_an_active_alert_twice_nor_forgets_it() {
    let mut h = Harness::start(&[("m1.toml", MINE)], |_| {}).await;
    normal(&h, 0).await;
    h.safety("M1", 10, &[("P1", 1.2, 0)]).await;
    let a = h
        .wait_alert("raised", "mine=M1&kind=over_limit", by("over_limit", "P1"))
        .await;
    let (_, before) = h.get("/api/events?after=0&limit=1000").await;
    let last_seq = before["last_seq"].as_u64().unwrap_or(0);
    // A clean stop drains the pipeline promptly (well inside its 10 s per-stage limits).
    tokio::time::timeout(Duration::from_secs(8), h.stop())
        .await
        .expect("the server stops promptly");
    h.restart().await;
    // Still over the limit after the restart: the same alert, no second raise.
    h.safety("M1", 20, &[("P1", 1.25, 0)]).await;
    h.safety("M1", 30, &[("P1", 1.3, 0)]).await;
    h.safety("M1", 40, &[("P1", 0.4, 0)]).await;
    let r = h
        .wait_alert(
            "resolved after restart",
            "state=resolved&mine=M1&kind=over_limit",
            by("over_limit", "P1"),
        )
        .await;
    assert_eq!(
        r["id"], a["id"],
        "the alert restored from the store is the one resolved"
    );
    let all = h.alerts("state=all&mine=M1&kind=over_limit").await;
    assert_eq!(all.len(), 1, "no duplicate: {all:?}");
    let (_, events) = h
        .get(&format!("/api/events?after={last_seq}&limit=1000"))
        .await;
    let evs = events["events"].as_array().cloned().unwrap_or_default();
    let seqs: Vec<u64> = evs.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(
        seqs.first(),
        Some(&(last_seq + 1)),
        "the seq continues without a gap"
    );
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert!(
        !evs.iter()
            .any(|e| e["type"] == "raised" && e["alert"]["kind"] == "over_limit"),
        "{evs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_published_while_minewatch_is_down_are_delivered_after_it_restarts() {
    let mut h = Harness::start(&[("m1.toml", MINE)], |_| {}).await;
    normal(&h, 0).await;
    wait_until("the first batch is processed", || async {
        h.get("/api/mines/M1").await.1["clock"].as_str().map(|_| ())
    })
    .await;
    h.stop().await;
    // Acknowledged by the broker while the server is down: the persistent session holds it.
    h.safety_acked("M1", 10, &[("P1", 1.3, 0)]).await;
    h.restart().await;
    h.wait_alert(
        "the alert from the queued message",
        "mine=M1&kind=over_limit",
        by("over_limit", "P1"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_sends_a_snapshot_then_events_and_resumes_after_a_seq() {
    let h = Harness::start(&[("m1.toml", MINE)], |_| {}).await;
    normal(&h, 0).await;
    h.safety("M1", 10, &[("P1", 1.1, 0)]).await;
    h.wait_alert("raised", "mine=M1&kind=over_limit", by("over_limit", "P1"))
        .await;
    let mut ws = Ws::connect(h.http(), "mine=M1").await;
    let snap = ws.next().await;
    assert_eq!(snap["type"], "snapshot");
    assert!(
        snap["alerts"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["subject"] == "P1")),
        "{snap}"
    );
    let s = snap["seq"].as_u64().unwrap_or(0);
    h.safety("M1", 20, &[("P1", 1.6, 0)]).await;
    let ev = ws.next().await;
    assert_eq!(ev["type"], "updated");
    assert_eq!(ev["seq"].as_u64(), Some(s + 1));
    assert_eq!(ev["alert"]["severity"], "critical");
    drop(ws);
    // While disconnected: a resolve and a new alert.
    h.safety("M1", 30, &[("P1", 0.4, 0), ("P2", 1.3, 0)]).await;
    h.wait_alert(
        "P2 raised",
        "mine=M1&kind=over_limit",
        by("over_limit", "P2"),
    )
    .await;
    let mut ws = Ws::connect(h.http(), &format!("mine=M1&after={}", s + 1)).await;
    let missed = ws.until(|v| v["alert"]["subject"] == "P2").await;
    let kinds: Vec<(Value, Value)> = missed
        .iter()
        .map(|v| (v["type"].clone(), v["alert"]["subject"].clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (json!("resolved"), json!("P1")),
            (json!("raised"), json!("P2"))
        ],
        "{missed:?}"
    );
    assert_eq!(missed[0]["seq"].as_u64(), Some(s + 2), "{missed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_registry_file_is_refused_with_its_line_and_the_old_definition_kept() {
    let h = Harness::start(&[("m1.toml", MINE)], |_| {}).await;
    let bad = MINE.replace("quota = 10", "quota = 10\ncolour = \"red\"");
    std::fs::write(h.registry_dir().join("m1.toml"), bad).expect("write");
    let (status, report) = h.post("/api/admin/reload", &json!({})).await;
    assert_eq!(status, 200, "{report}");
    let errors = report["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 1, "{report}");
    let e = errors[0].as_str().unwrap_or_default();
    assert!(e.contains("m1.toml:12:") && e.contains("colour"), "{e}");
    // The old definition still judges data.
    h.safety("M1", 0, &[("P1", 1.2, 0)]).await;
    h.wait_alert(
        "still monitored",
        "mine=M1&kind=over_limit",
        by("over_limit", "P1"),
    )
    .await;
    // A good file takes effect: P1's alarm raised to 2.0 for this point.
    let good = MINE.replace(
        "location = \"coal_face\"\nfeeds",
        "location = \"coal_face\"\nalarm = 2.0\npower_off = 2.5\nfeeds",
    );
    std::fs::write(h.registry_dir().join("m1.toml"), good).expect("write");
    let (_, report) = h.post("/api/admin/reload", &json!({})).await;
    assert_eq!(report["errors"], json!([]), "{report}");
    assert_eq!(report["changed"], json!(["M1"]), "{report}");
    let (_, mine) = h.get("/api/mines/M1").await;
    let p1 = mine["points"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["id"] == "P1").cloned())
        .unwrap_or_default();
    assert_eq!(p1["limits"]["alarm"], 2.0, "{p1}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspension_order_is_stored_outranks_the_registry_and_survives_a_restart() {
    let mut h = Harness::start(&[("m1.toml", MINE)], |_| {}).await;
    let (status, body) = http_put(
        &h,
        "/api/mines/M1/status",
        &json!({"status": "suspended", "by": "regulator-7", "note": "order 12"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, mine) = h.get("/api/mines/M1").await;
    assert_eq!(mine["status"], "suspended");
    assert_eq!(mine["registry_status"], "producing");
    h.restart().await;
    let (_, mine) = h.get("/api/mines/M1").await;
    assert_eq!(mine["status"], "suspended", "the order outlives a restart");
    // Twelve people underground where the registry allows no crew under suspension.
    let tags: Vec<Value> = (0..12)
        .map(|i| json!({"tag": format!("T{i}"), "area": "A2", "leader": i == 0}))
        .collect();
    h.publish("M1", "personnel", &json!({"ts": h.ts(0), "tags": tags}))
        .await;
    let a = h
        .wait_alert(
            "production_while_suspended",
            "mine=M1&kind=production_while_suspended",
            |a| a["subject"] == "M1",
        )
        .await;
    assert_eq!(a["severity"], "critical");
    assert_eq!(a["evidence"]["signs"][0]["sign"], "people");
    // Lifting the order resolves it at once.
    let (status, _) = http_put(&h, "/api/mines/M1/status", &json!({"status": "producing"})).await;
    assert_eq!(status, 200);
    h.publish("M1", "personnel", &json!({"ts": h.ts(10), "tags": []}))
        .await;
    h.wait_alert(
        "resolved when lifted",
        "state=resolved&mine=M1&kind=production_while_suspended",
        |a| a["subject"] == "M1",
    )
    .await;
}

/// The harness's config as a file, with `extra` appended (sections of its own).
fn config_file(h: &Harness, extra: &str) -> String {
    let c = &h.cfg;
    format!(
        "[mqtt]\nhost = \"{}\"\nport = {}\nprefix = \"{}\"\nclient_id = \"{}\"\n\
         backoff_min = \"50ms\"\nbackoff_max = \"500ms\"\n\n[store]\nurl = \"{}\"\n\n\
         [registry]\ndir = \"{}\"\n\n[http]\nlisten = \"{}\"\n{extra}",
        c.mqtt.host,
        c.mqtt.port,
        c.mqtt.prefix,
        c.mqtt.client_id,
        c.store.url,
        c.registry.dir.display(),
        c.http.listen,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_puts_new_rule_parameters_and_tokens_in_force_and_keeps_the_old_config_whole_on_error()
 {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let path = file.path().to_path_buf();
    let h = Harness::start(&[("m1.toml", MINE)], |c| c.source = Some(path.clone())).await;
    // A config that fails to load: nothing of it applies, the registry still reloads.
    std::fs::write(&path, config_file(&h, "\n[rules]\nfault_aftr = \"5s\"\n")).expect("write");
    let (status, report) = h.post("/api/admin/reload", &json!({})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["reloaded"], json!(["registry"]), "{report}");
    let errors = report["errors"].to_string();
    assert!(
        errors.contains("config not reloaded") && errors.contains("fault_aftr"),
        "{report}"
    );
    // A good one: sensor_fault now needs 5 s of fault status instead of 60 s.
    std::fs::write(&path, config_file(&h, "\n[rules]\nfault_after = \"5s\"\n")).expect("write");
    let (_, report) = h.post("/api/admin/reload", &json!({})).await;
    assert_eq!(
        report["reloaded"],
        json!(["tokens", "rules", "notify", "registry"]),
        "{report}"
    );
    assert_eq!(report["errors"], json!([]), "{report}");
    normal(&h, 0).await;
    for s in [10, 16] {
        h.safety("M1", s, &[("P1", 0.0, 128)]).await;
    }
    h.wait_alert(
        "sensor_fault after 6 s",
        "mine=M1&kind=sensor_fault",
        by("sensor_fault", "P1"),
    )
    .await;
    // Tokens: the API now asks for one.
    let tokens = "\n[[http.tokens]]\nname = \"ops\"\nrole = \"admin\"\nmines = [\"*\"]\n\
                  sha256 = \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"\n";
    std::fs::write(&path, config_file(&h, tokens)).expect("write");
    let (_, report) = h.post("/api/admin/reload", &json!({})).await;
    assert_eq!(report["errors"], json!([]), "{report}");
    let (status, _) = h.get("/api/alerts").await;
    assert_eq!(status, 401, "the new tokens are in force");
}

/// A `[[notify.webhooks]]` section: the sink `oncall` to `url`, for M1's alerts.
fn webhook(url: &str) -> String {
    format!(
        "\n[[notify.webhooks]]\nname = \"oncall\"\nurl = \"{url}\"\nsecret = \"s3cret\"\nmines = [\"M1\"]\n"
    )
}

/// The seqs of the `raised` notifications of M1's over_limit alert on `point` that `r` received.
fn raised(r: &Receiver, point: &str) -> Vec<u64> {
    r.bodies()
        .iter()
        .filter(|b| {
            b["type"] == "raised"
                && b["alert"]["kind"] == "over_limit"
                && b["alert"]["subject"] == point
        })
        .filter_map(|b| b["seq"].as_u64())
        .collect()
}

/// Waits until `r` has received the `raised` notification of over_limit on `point`; its seq.
async fn wait_raised(r: &Receiver, what: &str, point: &str) -> u64 {
    wait_until(what, || async { raised(r, point).first().copied() }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_moves_notifications_to_the_new_webhook_and_a_webhook_that_cannot_work_keeps_the_old()
 {
    let (a, b) = (Receiver::start().await, Receiver::start().await);
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let path = file.path().to_path_buf();
    let mut h = Harness::start(&[("m1.toml", MINE)], |c| {
        c.source = Some(path.clone());
        c.notify =
            minewatch::Config::parse(std::path::Path::new("notify.toml"), &webhook(&a.url()))
                .unwrap_or_else(|e| panic!("{e}"))
                .notify;
    })
    .await;
    normal(&h, 0).await;
    h.safety("M1", 10, &[("P1", 1.1, 0)]).await;
    wait_raised(&a, "A told of P1", "P1").await;

    // A webhook URL that cannot work: the config is not reloaded, A stays the sink.
    std::fs::write(&path, config_file(&h, &webhook("ftp://pager.example/hook"))).expect("write");
    let (status, report) = h.post("/api/admin/reload", &json!({})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["reloaded"], json!(["registry"]), "{report}");
    assert!(
        report["errors"]
            .to_string()
            .contains("notify.webhooks[0].url"),
        "{report}"
    );
    h.safety("M1", 20, &[("P0", 0.6, 0)]).await;
    let told_a = wait_raised(&a, "A still told, of P0", "P0").await;
    // Reload once A's cursor is stored past it, so the new sink's start is not a redelivery.
    let store = h.server().store.clone();
    wait_until("the sink's cursor stored past P0's event", || async {
        let cursor = store.sink_cursor("oncall").await.ok().flatten()?;
        (cursor >= told_a).then_some(())
    })
    .await;

    // The webhook moved to B: the notify part is reloaded, and the next alert goes to B only.
    std::fs::write(&path, config_file(&h, &webhook(&b.url()))).expect("write");
    let (status, report) = h.post("/api/admin/reload", &json!({})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["errors"], json!([]), "{report}");
    assert!(
        report["reloaded"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("notify"))),
        "{report}"
    );
    h.safety("M1", 30, &[("P2", 1.1, 0)]).await;
    let told_b = wait_raised(&b, "B told of P2", "P2").await;
    assert!(told_b > told_a);
    // Once the server has stopped (its sinks with it), A has still heard nothing of P2, and B
    // went on from the stored cursor: nothing A was told came to B again.
    h.stop().await;
    assert_eq!(
        raised(&a, "P2"),
        Vec::<u64>::new(),
        "A told after the reload"
    );
    let seqs = |r: &Receiver| -> Vec<u64> {
        r.bodies()
            .iter()
            .filter_map(|v| v["seq"].as_u64())
            .collect()
    };
    let (to_a, to_b) = (seqs(&a), seqs(&b));
    assert!(
        to_b.iter().all(|s| *s > told_a && !to_a.contains(s)),
        "A: {to_a:?}, B: {to_b:?}"
    );
}

/// Sends `method path body` while a thread holds M1's live entry (so M1's shard cannot apply
/// anything), lets go after the answer or a second, and returns the answer with the M1 that a
/// GET right after the answer shows.
async fn answer_then_mine(
    h: &Harness,
    method: &'static str,
    path: &'static str,
    body: Value,
) -> ((u16, Value), Value) {
    let live = h.server().live.clone();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (held, is_held) = tokio::sync::oneshot::channel();
    let holder = std::thread::spawn(move || {
        let guard = live.mines.get("M1");
        let _ = held.send(guard.is_some());
        let _ = released.recv();
        drop(guard);
    });
    assert_eq!(is_held.await, Ok(true));
    let http = h.http();
    let mut call = tokio::spawn(async move {
        let answer = minewatch_tests::http(http, method, path, Some(&body)).await;
        let mine = minewatch_tests::http(http, "GET", "/api/mines/M1", None).await;
        (answer, mine.1)
    });
    // Without the fix, the answer comes while the shard is held, and the GET shows the old M1.
    let early = tokio::time::timeout(Duration::from_secs(1), &mut call).await;
    let _ = release.send(());
    let _ = holder.join();
    match early {
        Ok(done) => done.expect("call task"),
        Err(_) => call.await.expect("call task"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_order_or_a_reload_answered_is_already_in_the_live_view() {
    let h = Harness::start(&[("m1.toml", MINE)], |_| {}).await;
    let order = json!({"status": "suspended", "by": "regulator-7"});
    let ((status, body), mine) = answer_then_mine(&h, "PUT", "/api/mines/M1/status", order).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        mine["status"], "suspended",
        "answered before the shard applied the order"
    );

    let good = MINE.replace(
        "location = \"coal_face\"\nfeeds",
        "location = \"coal_face\"\nalarm = 2.0\npower_off = 2.5\nfeeds",
    );
    std::fs::write(h.registry_dir().join("m1.toml"), good).expect("write");
    let ((status, report), mine) =
        answer_then_mine(&h, "POST", "/api/admin/reload", json!({})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["changed"], json!(["M1"]), "{report}");
    let p1 = mine["points"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["id"] == "P1").cloned())
        .unwrap_or_default();
    assert_eq!(
        p1["limits"]["alarm"], 2.0,
        "answered before the shard applied the reload: {p1}"
    );
}

async fn http_put(h: &Harness, path: &str, body: &Value) -> (u16, Value) {
    minewatch_tests::http(h.http(), "PUT", path, Some(body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_rules_learned_is_stored_at_shutdown_and_taken_back_at_start() {
    let mut h = Harness::start(&[("m1.toml", MINE)], |_| {}).await;
    for s in 0..5 {
        h.publish(
            "M1",
            "power",
            &json!({"ts": h.ts(s * 10), "meters": [{"meter": "MF1", "kw": 300.0 + s as f64}]}),
        )
        .await;
    }
    wait_until("the power data is processed", || async {
        let (_, m) = h.get("/api/mines/M1").await;
        (m["meters"][0]["kw"] == 304.0).then_some(())
    })
    .await;
    h.restart().await;
    let snap = h
        .server()
        .store
        .get_state("engine/M1")
        .await
        .expect("store")
        .expect("a snapshot of M1");
    let v: Value = serde_json::from_str(&snap).expect("JSON");
    let hours = v["meters"]["MF1"]["hours"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let samples: u64 = hours.iter().filter_map(|h| h[0].as_u64()).sum();
    assert_eq!(samples, 5, "the baseline learned from five readings: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_in_the_middle_of_a_backlog_acks_what_it_took_so_nothing_is_handled_twice() {
    use minewatch_core::payload::System;
    const BATCHES: u64 = 300;
    let mut h = Harness::start(&[("m1.toml", MINE)], |_| {}).await;
    let safety = System::Safety.index();
    let first = h.server().metrics.clone();
    for i in 0..BATCHES {
        normal(&h, i as i64 * 10).await;
    }
    // Stop while the backlog is being worked through: what was taken must be stored and acked
    // before the connection closes, and only the rest comes again.
    wait_until("the first batches handled", || async {
        (first.elements[safety].get() >= 5).then_some(())
    })
    .await;
    h.restart().await;
    let taken_first = first.elements[safety].get();
    let second = h.server().metrics.clone();
    // The broker sends the session's backlog first, then this marker.
    let marker = BATCHES as i64 * 10 + 600;
    normal(&h, marker).await;
    let clock = h.ts(marker);
    wait_until("the marker handled after the backlog", || async {
        (h.get("/api/mines/M1").await.1["clock"] == clock.as_str()).then_some(())
    })
    .await;
    let taken_second = second.elements[safety].get();
    // Readings, not messages: the harness's subscription probes are empty batches.
    assert_eq!(
        taken_first + taken_second,
        (BATCHES + 1) * 5,
        "first run took {taken_first} readings, second {taken_second}: every batch exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_lists_the_rules_catalogue_at_api_kinds() {
    let h = Harness::start(&[("m1.toml", MINE)], |_| {}).await;
    let (status, kinds) = h.get("/api/kinds").await;
    assert_eq!(status, 200, "{kinds}");
    // The rules' catalogue, each entry with its operator label beside it.
    let catalogue: Vec<serde_json::Value> = minewatch_rules::kinds::catalogue()
        .into_iter()
        .map(|k| {
            let mut v = json!(k);
            v["label"] = json!(k.name.label());
            v
        })
        .collect();
    let expected = json!({ "kinds": catalogue });
    assert_eq!(kinds, expected);
    let names: Vec<&str> = kinds["kinds"]
        .as_array()
        .expect("an array kinds")
        .iter()
        .map(|k| k["name"].as_str().expect("a name"))
        .collect();
    let contract: Vec<&str> = minewatch_core::Kind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(names, contract);
}
