//! The fault suite, input side: hostile or broken input costs bounded work, is acked and kept
//! once, and costs the other mines nothing. Each case asserts exact outcomes (alerts, dead
//! letters, counts), not only that the server survived.
//!
//! - an oversized message (5 MB, more than the client once accepted, on a broker without a limit);
//! - a million-element message beside a normal mine;
//! - every JSON escape in every string field of every system, as other programs write them;
//! - 60,000 unknown mines, and unknown mines refused outright.

use minewatch_fixtures::metrics;
use minewatch_tests::fault::{AckedPublisher, ChildServer, ChildSpec, Mosquitto, metric};
use minewatch_tests::{Harness, MINE, mine_as, server_program, unique, wait_until};
use serde_json::{Value, json};
use std::fmt::Write;
use std::time::Duration;

/// Dead letters of `mine`, newest first.
async fn dead_letters(h: &Harness, mine: &str) -> Vec<Value> {
    let (status, v) = h.get(&format!("/api/dead-letters?mine={mine}")).await;
    assert_eq!(status, 200, "{v}");
    v["dead_letters"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_is_acked_and_dead_lettered_once_and_every_mine_goes_on() {
    let Some(broker) = Mosquitto::start("an oversized message").await else {
        return;
    };
    let prefix = unique("mwtest");
    let spec = ChildSpec::new(
        server_program!(),
        "127.0.0.1",
        broker.port(),
        &prefix,
        &unique("mw"),
    )
    .mine("m1.toml", MINE)
    .mine("m2.toml", &mine_as("M2"));
    let mut server = ChildServer::start(spec).await;
    let mut publisher = AckedPublisher::connect("127.0.0.1", broker.port()).await;
    let t0 = chrono::Utc::now().timestamp_millis() - 3_600_000;
    let ts = |s: i64| minewatch_core::time::format_rfc3339(t0 + s * 1000);

    // 5 MB of valid safety readings: more than the 4 MiB the MQTT client used to accept, which
    // made it disconnect, and the broker then sent the message again on every reconnect.
    let mut big = format!(r#"{{"ts":"{}","readings":["#, ts(0));
    while big.len() < 5_000_000 {
        big.push_str(r#"{"point":"P0","value":0.05},"#);
    }
    big.push_str(r#"{"point":"P0","value":0.05}]}"#);
    let size = big.len();
    publisher
        .publish(&format!("{prefix}/M1/safety"), big.into_bytes())
        .await;
    // Both mines go on: each raises its over_limit.
    for m in ["M1", "M2"] {
        let payload = json!({"ts": ts(10), "readings": [{"point": "P1", "value": 1.2}]});
        publisher
            .publish(
                &format!("{prefix}/{m}/safety"),
                payload.to_string().into_bytes(),
            )
            .await;
    }
    for m in ["M1", "M2"] {
        wait_until(&format!("{m}'s over_limit"), || async {
            let v = server
                .get(&format!("/api/alerts?mine={m}&kind=over_limit"))
                .await
                .1;
            (v["alerts"].as_array().map_or(0, Vec::len) == 1).then_some(())
        })
        .await;
    }
    let letters = server.get("/api/dead-letters?mine=M1").await.1["dead_letters"].clone();
    let letters = letters.as_array().cloned().unwrap_or_default();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let d = &letters[0];
    assert_eq!(d["reason"], "too_large", "{d}");
    assert_eq!(d["count"], 1, "{d}");
    assert!(
        d["detail"]
            .as_str()
            .is_some_and(|t| t.contains(&size.to_string())),
        "{d}"
    );
    assert!(
        d["excerpt"]
            .as_str()
            .is_some_and(|e| e.starts_with(r#"{"ts":"#) && e.len() < 400),
        "only the start is kept: {d}"
    );
    let text = server.metrics().await;
    assert_eq!(
        metric(&text, "minewatch_mqtt_reconnects_total", &[]),
        Some(0.0),
        "the oversized message did not cost the connection"
    );

    // Acked: after a restart the broker has nothing to send again.
    server.stop().await;
    server.launch().await;
    let payload = json!({"ts": ts(20), "readings": [{"point": "P1", "value": 0.4}]});
    publisher
        .publish(
            &format!("{prefix}/M1/safety"),
            payload.to_string().into_bytes(),
        )
        .await;
    wait_until("M1's over_limit resolved after the restart", || async {
        let v = server
            .get("/api/alerts?mine=M1&kind=over_limit&state=resolved")
            .await
            .1;
        (v["alerts"].as_array().map_or(0, Vec::len) == 1).then_some(())
    })
    .await;
    let text = server.metrics().await;
    let again = metrics::sum(&text, "minewatch_duplicates_total", &[]);
    assert_eq!(again, 0.0, "nothing was delivered again:\n{text}");
    let letters = server.get("/api/dead-letters?mine=M1").await.1["dead_letters"].clone();
    assert_eq!(letters.as_array().map_or(0, Vec::len), 1, "{letters}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_element_message_costs_one_summary_per_reason_and_the_other_mine_its_alert() {
    let h = Harness::start(&[("m1.toml", MINE), ("m2.toml", &mine_as("M2"))], |_| {}).await;
    let mut big = format!(r#"{{"ts":"{}","readings":["#, h.ts(0));
    for i in 0..1_000_000 {
        big.push_str(if i == 0 { "{}" } else { ",{}" });
    }
    big.push_str("]}");
    h.publish_raw(&format!("{}/M2/safety", h.prefix), big.into_bytes())
        .await;
    h.safety("M1", 10, &[("P1", 1.2, 0)]).await;
    h.wait_alert("M1's over_limit", "mine=M1&kind=over_limit", |a| {
        a["subject"] == "P1"
    })
    .await;
    let letters = wait_until("M2's dead letters", || async {
        let d = dead_letters(&h, "M2").await;
        (d.len() >= 2).then_some(d)
    })
    .await;
    let summary: Vec<(String, u64, usize)> = letters
        .iter()
        .rev()
        .map(|d| {
            (
                d["reason"].as_str().unwrap_or_default().to_string(),
                d["count"].as_u64().unwrap_or(0),
                d["examples"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("bad_element".to_string(), 10_000, 3),
            ("too_many_elements".to_string(), 990_000, 1),
        ],
        "{letters:?}"
    );
    let text = h.server().metrics.encode();
    assert_eq!(
        metric(
            &text,
            "minewatch_rejected_total",
            &[("system", "safety"), ("reason", "bad_element")]
        ),
        Some(10_000.0),
        "{text}"
    );
}

/// `s` as a JSON string with every character escaped (`\uXXXX`, UTF-16).
fn escaped(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        let mut units = [0u16; 2];
        for u in c.encode_utf16(&mut units) {
            let _ = write!(out, "\\u{u:04x}");
        }
    }
    out.push('"');
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_string_of_every_system_may_be_escaped_and_means_what_it_spells() {
    let h = Harness::start(&[("m1.toml", MINE)], |_| {}).await;
    let e = escaped;
    let ts = e(&h.ts(10));
    let payloads = [
        (
            "safety",
            format!(
                r#"{{{}:{ts},{}:[{{{}:{},{}:1.2}}]}}"#,
                e("ts"),
                e("readings"),
                e("point"),
                e("P1"),
                e("value")
            ),
        ),
        // What Python's json.dumps writes for a distress call with a Chinese name.
        (
            "personnel",
            format!(
                r#"{{"ts":{ts},"tags":[{{"tag":{},"person":"\u738b\u4e94","area":{},"underground":true,"distress":true,"down_at":{}}}]}}"#,
                e("T8801"),
                e("A1"),
                e(&h.ts(0))
            ),
        ),
        (
            "video",
            format!(
                r#"{{"ts":{ts},"cameras":[{{"camera":{},"state":{},"events":[{},"a\/b"]}}]}}"#,
                e("C1"),
                e("occluded"),
                e("no_helmet")
            ),
        ),
        (
            "power",
            format!(
                r#"{{"ts":{ts},"meters":[{{"meter":{},"kw":{}}}]}}"#,
                e("MF1"),
                "312.5"
            ),
        ),
        (
            "explosives",
            format!(
                r#"{{"ts":{ts},"issues":[{{"area":{},"kg":24.0,"detonators":60}}]}}"#,
                e("X9")
            ),
        ),
    ];
    for (system, p) in &payloads {
        h.publish_raw(&format!("{}/M1/{system}", h.prefix), p.clone().into_bytes())
            .await;
    }
    let kinds = [
        ("over_limit", "P1"),
        ("distress", "T8801"),
        ("camera_tamper", "C1"),
        ("ai_event", "C1"),
        ("explosives_undeclared", "X9"),
    ];
    for (kind, subject) in kinds {
        h.wait_alert(kind, &format!("mine=M1&kind={kind}"), |a| {
            a["subject"] == subject
        })
        .await;
    }
    let distress = h.alerts("mine=M1&kind=distress").await;
    assert_eq!(distress[0]["evidence"]["person"], "王五", "{}", distress[0]);
    let ai = h.alerts("mine=M1&kind=ai_event").await;
    let labels = ai[0]["evidence"].to_string();
    assert!(
        labels.contains("no_helmet") && labels.contains("a/b"),
        "{labels}"
    );
    let (_, mine) = h.get("/api/mines/M1").await;
    let text = mine.to_string();
    assert!(
        text.contains("312.5"),
        "the meter's reading is kept: {text}"
    );
    assert!(
        dead_letters(&h, "M1").await.is_empty(),
        "nothing was rejected"
    );
}

/// Waits (up to `limit`) until `/metrics` shows the sample `name{labels}` at `want`.
async fn wait_metric(h: &Harness, name: &str, labels: &[(&str, &str)], want: f64, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let text = h.server().metrics.encode();
        if metric(&text, name, labels) == Some(want) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {name}{labels:?} {want} in:\n{}",
            text.lines()
                .filter(|l| l.contains("rejected_total") || l.contains("messages_total"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_thousand_unknown_mines_are_capped_in_state_alerts_and_metrics() {
    const CAP: usize = 50;
    const SENT: usize = 60_000;
    let h = Harness::start(&[("m1.toml", MINE)], |c| {
        c.engine.max_unknown_mines = CAP;
    })
    .await;
    // The harness's own probe mine is the first unknown mine watched. At most a few hundred
    // are sent ahead of what the server has taken: a broker drops what it cannot queue for a
    // session (mosquitto's max_queued_messages defaults to 1,000).
    let safety = minewatch_core::payload::System::Safety.index();
    let handled = h.server().metrics.messages[safety].clone();
    let before = handled.get();
    let started = std::time::Instant::now();
    for i in 0..SENT {
        if i % 100 == 0 {
            let ahead = before + i as u64;
            wait_until("the server keeps up", || {
                let handled = handled.clone();
                async move { (handled.get() + 200 >= ahead).then_some(()) }
            })
            .await;
        }
        let payload = format!(r#"{{"ts":"{}","readings":[]}}"#, h.ts(0));
        h.publish_raw(
            &format!("{}/U{i:05}/safety", h.prefix),
            payload.into_bytes(),
        )
        .await;
    }
    println!(
        "{SENT} messages of unknown mines handled in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let refused = SENT - (CAP - 1);
    wait_metric(
        &h,
        "minewatch_rejected_total",
        &[("system", "safety"), ("reason", "unknown_mine")],
        refused as f64,
        Duration::from_secs(300),
    )
    .await;
    h.server().pipeline.flush().await.expect("flushed");
    let text = h.server().metrics.encode();
    assert_eq!(
        metric(&text, "minewatch_unknown_mines", &[]),
        Some(CAP as f64),
        "{text}"
    );
    assert!(
        !text.contains("mine=\"U"),
        "no series for unknown mines in /metrics"
    );
    assert_eq!(
        h.server().live.mines.len(),
        1 + CAP,
        "state for the cap only"
    );
    let watched: Vec<Value> = h
        .alerts("kind=unregistered_device&limit=1000")
        .await
        .into_iter()
        .filter(|a| a["mine"].as_str().is_some_and(|m| m.starts_with('U')))
        .collect();
    assert_eq!(watched.len(), CAP - 1, "one alert per watched unknown mine");
    let letters = dead_letters(&h, "U59999").await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["reason"], "unknown_mine");
    assert!(
        letters[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("max_unknown_mines")),
        "{}",
        letters[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_mines_can_be_refused_outright() {
    let h = Harness::start(&[("m1.toml", MINE)], |c| {
        c.engine.unknown_mines = minewatch_ingest::config::UnknownMines::Refuse;
    })
    .await;
    for i in 0..100 {
        h.safety(&format!("R{i}"), 0, &[("P1", 1.2, 0)]).await;
    }
    h.safety("M1", 10, &[("P1", 1.2, 0)]).await;
    h.wait_alert("M1 still watched", "mine=M1&kind=over_limit", |_| true)
        .await;
    wait_metric(
        &h,
        "minewatch_rejected_total",
        &[("system", "safety"), ("reason", "unknown_mine")],
        // The harness's probe was refused too.
        101.0,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(h.server().live.mines.len(), 1, "no state for refused mines");
    let unknown = h
        .alerts("kind=unregistered_device")
        .await
        .into_iter()
        .filter(|a| a["mine"] != "M1")
        .count();
    assert_eq!(unknown, 0);
    let letters = dead_letters(&h, "R7").await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(
        letters[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("refuse")),
        "{}",
        letters[0]
    );
}
