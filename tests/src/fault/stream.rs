//! The scripted stream of the fault cases and the exact outcome it must leave behind, whatever
//! faults were injected while it was delivered.
//!
//! [`Script`] is [`LEN`] safety messages for the test mine [`MINE`](crate::MINE) (`M1`), one
//! event-second apart from an hour ago (event time is the payloads' `ts`). Every message reads
//! all five defined points (so no `point_silent`), and:
//! - P1 (coal face: alarm 1.0%, restore below 1.0%, power-off 1.5%) reads 1.20-1.22% inside the
//!   [`WINDOWS`] and 0.40-0.44% outside them: each window raises exactly one `over_limit` alert at
//!   its first message and resolves it at the first message after it, with no `updated` event
//!   between (the value never moves by a tenth of the limit, never reaches power-off), and each
//!   window is far shorter than `neighbour_mismatch`'s 5 minutes;
//! - P2 reads a value unique to the message ([`Script::p2`]), so the live picture shows which
//!   message was applied last;
//! - a point the registry does not define, named after the message ([`Script::marker`],
//!   `U0000`…), raises one `unregistered_device` alert per message (they stay until acked): the
//!   store then shows, message by message, that every one was applied;
//! - message [`BAD`] carries one extra element with a non-numeric value: exactly one dead letter.
//!
//! So once everything is delivered, [`assert_exact`] expects, from the store and the live view
//! (not from `/metrics`, which a restart resets): exactly the windows' `over_limit` alerts, each
//! with the events raised then resolved at the windows' edges; exactly [`LEN`] marker alerts, one
//! per message; exactly one dead letter; and the last message's values in the live picture.

use super::{AckedPublisher, ChildServer};
use crate::{WAIT, unique, wait_until};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

/// Messages in the stream.
pub const LEN: usize = 600;
/// The messages during which P1 is over its alarm limit: one `over_limit` alert each.
pub const WINDOWS: [Range<usize>; 5] = [40..70, 150..165, 260..300, 420..450, 540..560];
/// The message with one bad element.
pub const BAD: usize = 222;
/// The mine of the stream, defined by [`MINE`](crate::MINE).
pub const MINE_ID: &str = "M1";

/// The scripted stream (see the module doc) under one topic prefix, with its event-time origin.
#[derive(Debug, Clone)]
pub struct Script {
    pub prefix: String,
    /// Event time of message 0 (ms since the epoch): an hour ago, like the harness's `t0`, so
    /// every `ts` is in the wall clock's past.
    pub t0: i64,
}

impl Script {
    /// The stream under topic prefix `prefix`, starting an hour ago.
    pub fn new(prefix: &str) -> Script {
        Script {
            prefix: prefix.to_owned(),
            t0: chrono::Utc::now().timestamp_millis() - 3_600_000,
        }
    }

    /// The topic every message goes to.
    pub fn topic(&self) -> String {
        format!("{}/{MINE_ID}/safety", self.prefix)
    }

    /// Event time of message `i` (ms).
    pub fn millis(&self, i: usize) -> i64 {
        self.t0 + i as i64 * 1000
    }

    /// Event time of message `i`, RFC 3339.
    pub fn ts(&self, i: usize) -> String {
        minewatch_core::time::format_rfc3339(self.millis(i))
    }

    /// The message whose event time is `ms`, if one is.
    pub fn index_of(&self, ms: i64) -> Option<usize> {
        let d = ms - self.t0;
        (d >= 0 && d % 1000 == 0).then_some((d / 1000) as usize)
    }

    /// Whether P1 is over its alarm limit in message `i`.
    pub fn over(i: usize) -> bool {
        WINDOWS.iter().any(|w| w.contains(&i))
    }

    /// P1's value in message `i`.
    pub fn p1(i: usize) -> f64 {
        if Script::over(i) {
            1.20 + (i % 3) as f64 * 0.01
        } else {
            0.40 + (i % 5) as f64 * 0.01
        }
    }

    /// P2's value in message `i`: unique to the message, always below P2's alarm (1.0%).
    pub fn p2(i: usize) -> f64 {
        0.30 + i as f64 * 0.0005
    }

    /// The unregistered point message `i` reports: its marker.
    pub fn marker(i: usize) -> String {
        format!("U{i:04}")
    }

    /// The marker's message.
    pub fn marker_index(subject: &str) -> Option<usize> {
        subject.strip_prefix('U')?.parse().ok()
    }

    /// The value of message [`BAD`]'s bad element.
    pub fn bad_value() -> String {
        format!("bad-{BAD}")
    }

    /// Message `i`'s payload.
    pub fn payload(&self, i: usize) -> Vec<u8> {
        let mut readings = vec![
            json!({"point": "P0", "value": 0.05}),
            json!({"point": "P1", "value": Script::p1(i)}),
            json!({"point": "P2", "value": Script::p2(i)}),
            json!({"point": "F1", "value": 1}),
            json!({"point": "F2", "value": 1}),
            json!({"point": Script::marker(i), "value": 0.0}),
        ];
        if i == BAD {
            readings.push(json!({"point": "P0", "value": Script::bad_value()}));
        }
        json!({"ts": self.ts(i), "readings": readings})
            .to_string()
            .into_bytes()
    }

    /// Publishes messages `range`, each acknowledged by the broker before the next, `pace` apart.
    pub async fn publish(
        &self,
        publisher: &mut AckedPublisher,
        range: Range<usize>,
        pace: Duration,
    ) {
        let topic = self.topic();
        for i in range {
            publisher.publish(&topic, self.payload(i)).await;
            if !pace.is_zero() {
                tokio::time::sleep(pace).await;
            }
        }
    }
}

/// Publishes to an unregistered probe mine under `prefix` until the server shows it: its
/// subscription is then in place (it is queued right after CONNACK, and a message published
/// before it would be lost, not queued). Needed once per new MQTT session; the probe mine's
/// alerts are the probe's own and no stream assertion looks at them.
pub async fn wait_subscribed(server: &ChildServer, publisher: &mut AckedPublisher, prefix: &str) {
    let probe = unique("probe").replace('-', "_");
    let topic = format!("{prefix}/{probe}/safety");
    let ts =
        minewatch_core::time::format_rfc3339(chrono::Utc::now().timestamp_millis() - 3_600_000);
    let payload = json!({"ts": ts, "readings": []}).to_string().into_bytes();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        publisher.publish(&topic, payload.clone()).await;
        // Pacing the probes; the check below is what decides.
        tokio::time::sleep(Duration::from_millis(100)).await;
        if server.get(&format!("/api/mines/{probe}")).await.0 == 200 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: the child server's subscription (probe {probe})"
        );
    }
}

/// An RFC 3339 field of a JSON object as ms since the epoch.
fn millis_of(v: &Value, field: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(v[field].as_str()?)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// GET that must answer 200.
async fn get_ok(server: &ChildServer, path: &str) -> Value {
    let (status, body) = server.get(path).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// The stream mine's alerts of `kind`, every state, newest first.
pub async fn alerts(server: &ChildServer, kind: &str) -> Vec<Value> {
    let v = get_ok(
        server,
        &format!("/api/alerts?state=all&mine={MINE_ID}&kind={kind}&limit=1000"),
    )
    .await;
    v["alerts"].as_array().cloned().unwrap_or_default()
}

/// The stream mine's dead letters, newest first.
pub async fn dead_letters(server: &ChildServer) -> Vec<Value> {
    let v = get_ok(
        server,
        &format!("/api/dead-letters?mine={MINE_ID}&limit=1000"),
    )
    .await;
    v["dead_letters"].as_array().cloned().unwrap_or_default()
}

/// The event types of alert `id`, in order.
pub async fn event_types(server: &ChildServer, id: &str) -> Vec<String> {
    let v = get_ok(server, &format!("/api/alerts/{id}")).await;
    v["events"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["type"].as_str().unwrap_or("?").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The newest message whose marker alert is stored: how far the server has got, as the store
/// sees it (markers are raised in message order; the alerts list is newest first).
pub async fn progress(server: &ChildServer, script: &Script) -> Option<usize> {
    let v = get_ok(
        server,
        &format!("/api/alerts?state=all&mine={MINE_ID}&kind=unregistered_device&limit=1"),
    )
    .await;
    let newest = v["alerts"].as_array()?.first()?.clone();
    let i = Script::marker_index(newest["subject"].as_str()?)?;
    // The marker's alert starts at its message's event time; anything else is not a marker.
    (millis_of(&newest, "started_at") == Some(script.millis(i))).then_some(i)
}

/// Waits until the store shows message `i` (and so every earlier one) applied.
pub async fn wait_progress(server: &ChildServer, script: &Script, i: usize) {
    wait_until(&format!("message {i} applied"), || async {
        progress(server, script).await.filter(|&p| p >= i)
    })
    .await;
}

/// Waits until window `k`'s `over_limit` alert is stored raised (at its first message).
pub async fn wait_raised(server: &ChildServer, script: &Script, k: usize) -> Value {
    let at = script.millis(WINDOWS[k].start);
    wait_until(&format!("window {k}'s over_limit alert raised"), || async {
        alerts(server, "over_limit")
            .await
            .into_iter()
            .find(|a| millis_of(a, "started_at") == Some(at))
    })
    .await
}

/// Waits until window `k`'s `over_limit` alert is stored resolved (at the message after it).
pub async fn wait_resolved(server: &ChildServer, script: &Script, k: usize) -> Value {
    let at = script.millis(WINDOWS[k].end);
    wait_until(
        &format!("window {k}'s over_limit alert resolved"),
        || async {
            alerts(server, "over_limit")
                .await
                .into_iter()
                .find(|a| millis_of(a, "resolved_at") == Some(at))
        },
    )
    .await
}

/// Waits until the last message is applied: its marker stored and the mine's clock at its `ts`.
/// The session delivers in order and a mine's messages are applied in order, so everything
/// before it has been applied (or lost) by then.
pub async fn wait_all_applied(server: &ChildServer, script: &Script) {
    let last = LEN - 1;
    wait_progress(server, script, last).await;
    wait_until("the live picture at the last message", || async {
        let mine = get_ok(server, &format!("/api/mines/{MINE_ID}")).await;
        (millis_of(&mine, "clock") == Some(script.millis(last))).then_some(())
    })
    .await;
}

/// `[first message, message after the last]` of an alert, as message numbers (`?` when its
/// times are not message times).
fn span(script: &Script, a: &Value) -> String {
    let at = |f: &str| {
        millis_of(a, f)
            .and_then(|ms| script.index_of(ms))
            .map_or_else(|| "?".to_owned(), |i| i.to_string())
    };
    format!("[{}, {})", at("started_at"), at("resolved_at"))
}

/// Checks the exact outcome of the whole stream (see the module doc) and panics listing every
/// difference found.
pub async fn assert_exact(server: &ChildServer, script: &Script) {
    let mut problems: Vec<String> = Vec::new();

    // Exactly one over_limit alert per window, raised and resolved at its edges, nothing else.
    let mut over = alerts(server, "over_limit").await;
    over.sort_by_key(|a| millis_of(a, "started_at"));
    let mut described = Vec::new();
    let mut events_of = BTreeMap::new();
    for a in &over {
        let id = a["id"].as_str().unwrap_or_default().to_owned();
        let types = event_types(server, &id).await;
        described.push(format!(
            "{} {} {} events {:?}",
            span(script, a),
            a["subject"],
            a["state"],
            types
        ));
        events_of.insert(id, types);
    }
    if over.len() != WINDOWS.len() {
        problems.push(format!(
            "{} over_limit alerts, expected {} (one per window {:?}); alerts as [raised at message, resolved at message): {described:#?}",
            over.len(),
            WINDOWS.len(),
            WINDOWS
        ));
    }
    for (k, w) in WINDOWS.iter().enumerate() {
        let started = script.millis(w.start);
        let matching: Vec<&Value> = over
            .iter()
            .filter(|a| millis_of(a, "started_at") == Some(started))
            .collect();
        let [a] = matching.as_slice() else {
            problems.push(format!(
                "window {k} {w:?}: {} over_limit alerts raised at message {}, expected 1",
                matching.len(),
                w.start
            ));
            continue;
        };
        let id = a["id"].as_str().unwrap_or_default();
        let ok = a["subject"] == "P1"
            && a["state"] == "resolved"
            && millis_of(a, "resolved_at") == Some(script.millis(w.end))
            && events_of
                .get(id)
                .is_some_and(|t| t == &["raised", "resolved"]);
        if !ok {
            problems.push(format!(
                "window {k} {w:?}: alert {id} is {} {} {} with events {:?}; expected P1 resolved at message {} with events [raised, resolved]",
                a["subject"],
                a["state"],
                span(script, a),
                events_of.get(id),
                w.end
            ));
        }
    }

    // Exactly one dead letter: the bad element.
    let dead = dead_letters(server).await;
    let bad = Script::bad_value();
    let good = dead.len() == 1
        && dead[0]["reason"] == "bad_element"
        && dead[0]["excerpt"]
            .as_str()
            .is_some_and(|e| e.contains(&bad));
    if !good {
        problems.push(format!(
            "{} dead letters, expected exactly one (bad_element, {bad:?}): {dead:#?}",
            dead.len()
        ));
    }

    // Every message applied: one marker alert per message, each once.
    let markers = alerts(server, "unregistered_device").await;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for a in &markers {
        *seen
            .entry(a["subject"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    let missing: Vec<String> = (0..LEN)
        .map(Script::marker)
        .filter(|m| !seen.contains_key(m))
        .collect();
    let twice: Vec<(&String, &usize)> = seen.iter().filter(|(_, n)| **n > 1).collect();
    let foreign: Vec<&String> = seen
        .keys()
        .filter(|s| Script::marker_index(s).is_none_or(|i| i >= LEN))
        .collect();
    if markers.len() != LEN || !missing.is_empty() || !twice.is_empty() || !foreign.is_empty() {
        problems.push(format!(
            "{} marker alerts, expected {LEN} (one per message); missing (messages not applied): {} {:?}; more than once: {twice:?}; not markers: {foreign:?}",
            markers.len(),
            missing.len(),
            &missing[..missing.len().min(20)]
        ));
    }

    // The live picture shows the last message.
    let last = LEN - 1;
    let mine = get_ok(server, &format!("/api/mines/{MINE_ID}")).await;
    let value = |p: &str| {
        mine["points"]
            .as_array()
            .and_then(|ps| ps.iter().find(|x| x["id"] == p))
            .and_then(|x| x["value"].as_f64())
    };
    let close = |p: &str, want: f64| value(p).is_some_and(|v| (v - want).abs() < 1e-9);
    if millis_of(&mine, "clock") != Some(script.millis(last))
        || !close("P1", Script::p1(last))
        || !close("P2", Script::p2(last))
    {
        problems.push(format!(
            "the live picture is not the last message's (clock {}, P1 {}, P2 {}): clock {}, P1 {:?}, P2 {:?}",
            script.ts(last),
            Script::p1(last),
            Script::p2(last),
            mine["clock"],
            value("P1"),
            value("P2")
        ));
    }

    assert!(
        problems.is_empty(),
        "the stream's outcome is not exact ({} problems):\n- {}",
        problems.len(),
        problems.join("\n- ")
    );
}
