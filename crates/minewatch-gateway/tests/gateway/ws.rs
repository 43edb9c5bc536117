//! The WebSocket gateway over a real WebSocket.

use crate::common::*;
use futures_util::StreamExt;
use minewatch_core::{EventType, Kind, Severity};
use minewatch_gateway::HttpConfig;
use serde_json::Value;
use std::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn seq(msg: &Value) -> u64 {
    msg["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("no seq in {msg}"))
}

/// Reads messages until one with `last` as its seq; answers every seq read, in order.
async fn seqs_through(ws: &mut Ws, last: u64) -> Vec<(String, u64)> {
    let mut seen = Vec::new();
    loop {
        let msg = next_json(ws).await;
        let s = seq(&msg);
        seen.push((msg["type"].as_str().unwrap_or_default().to_owned(), s));
        if s >= last {
            return seen;
        }
    }
}

fn events(seqs: &[u64], kind: &str) -> Vec<(String, u64)> {
    seqs.iter().map(|&s| (kind.to_owned(), s)).collect()
}

#[tokio::test]
async fn a_client_gets_a_snapshot_of_matching_active_alerts_then_live_events_in_order() {
    let gw = Gateway::start().await;
    let a1 = alert("a1", "m1", Kind::OverLimit, Severity::Critical, 1);
    gw.emit(EventType::Raised, a1.clone()).await;
    gw.emit(
        EventType::Raised,
        alert("a2", "m2", Kind::Overtime, Severity::Warning, 2),
    )
    .await;

    let mut ws = gw.ws("mine=m1").await;
    let snap = next_json(&mut ws).await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(seq(&snap), 2);
    assert_eq!(ids(&snap["alerts"]), ["a1"]);

    gw.emit(EventType::Updated, at(&a1, Severity::Major)).await; // 3
    gw.emit(
        EventType::Raised,
        alert("a3", "m2", Kind::Distress, Severity::Critical, 3),
    )
    .await; // 4: other mine
    gw.emit(EventType::Resolved, resolved(&a1)).await; // 5
    gw.emit(
        EventType::Raised,
        alert("a4", "m1", Kind::NoLeader, Severity::Major, 4),
    )
    .await; // 6

    let update = next_json(&mut ws).await;
    assert_eq!(
        (update["type"].as_str(), seq(&update)),
        (Some("updated"), 3)
    );
    assert_eq!(update["alert"]["severity"], "major");
    let resolve = next_json(&mut ws).await;
    assert_eq!(
        (resolve["type"].as_str(), seq(&resolve)),
        (Some("resolved"), 5)
    );
    assert_eq!(resolve["alert"]["state"], "resolved");
    let raise = next_json(&mut ws).await;
    assert_eq!((raise["type"].as_str(), seq(&raise)), (Some("raised"), 6));
    assert_eq!(raise["alert"]["id"], "a4");
}

#[tokio::test]
async fn a_resuming_client_gets_exactly_the_missed_events_then_live_ones_without_duplicates() {
    let gw = Gateway::start().await;
    for i in 1..=5 {
        gw.emit(
            EventType::Raised,
            alert(&format!("a{i}"), "m1", Kind::OverLimit, Severity::Major, i),
        )
        .await;
    }
    let mut ws = gw.ws("after=2").await;
    // Published while the session may be anywhere between subscribing and replaying: each must
    // arrive exactly once, whether from the store or from the broadcast.
    gw.emit(
        EventType::Raised,
        alert("a6", "m1", Kind::OverLimit, Severity::Major, 6),
    )
    .await;
    gw.emit(
        EventType::Raised,
        alert("a7", "m1", Kind::OverLimit, Severity::Major, 7),
    )
    .await;
    assert_eq!(
        seqs_through(&mut ws, 7).await,
        events(&[3, 4, 5, 6, 7], "raised")
    );

    gw.emit(
        EventType::Raised,
        alert("a8", "m1", Kind::OverLimit, Severity::Major, 8),
    )
    .await;
    assert_eq!(seq(&next_json(&mut ws).await), 8, "nothing in between");
}

/// Retention deletes closed alerts with their events: a client resuming across the gap they
/// leave gets a snapshot of what is active, not a replay with events missing, while one resuming
/// after the gap is replayed as usual. `/api/events` pages over what is kept.
#[tokio::test]
async fn a_client_resuming_across_events_retention_pruned_gets_a_snapshot() {
    let gw = Gateway::start().await;
    let old = alert("a1", "m1", Kind::OverLimit, Severity::Major, 1);
    gw.emit(EventType::Raised, old.clone()).await; // seq 1
    let kept = alert("a2", "m1", Kind::OverLimit, Severity::Major, 2);
    gw.emit(EventType::Raised, kept.clone()).await; // seq 2
    gw.emit(EventType::Resolved, resolved(&old)).await; // seq 3
    gw.emit(
        EventType::Raised,
        alert("a3", "m1", Kind::OverLimit, Severity::Major, 4),
    )
    .await; // seq 4
    let mut resume = None;
    let pruned = gw
        .state
        .store
        .prune_closed(&t(1_000), 500, &mut resume)
        .await
        .expect("prune");
    assert_eq!(
        pruned,
        (1, 2),
        "a1 and its two events (seqs 1 and 3) pruned"
    );

    let log = gw.get("/api/events?after=0").await.json();
    let kept_seqs: Vec<u64> = log["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(seq)
        .collect();
    assert_eq!(kept_seqs, [2, 4]);
    assert_eq!(log["last_seq"], 4);

    let resyncs = gw.state.metrics.ws_resyncs.get();
    let mut across = gw.ws("after=0").await;
    let first = next_json(&mut across).await;
    assert_eq!(first["type"], "snapshot", "{first}");
    assert_eq!(seq(&first), 4);
    assert_eq!(ids(&first["alerts"]), ["a3", "a2"]);
    assert_eq!(gw.state.metrics.ws_resyncs.get(), resyncs + 1);

    let mut after_gap = gw.ws("after=3").await;
    assert_eq!(
        seqs_through(&mut after_gap, 4).await,
        events(&[4], "raised")
    );
}

#[tokio::test]
async fn a_replay_is_filtered_like_live_events() {
    let gw = Gateway::start().await;
    gw.emit(
        EventType::Raised,
        alert("a1", "m1", Kind::OverLimit, Severity::Major, 1),
    )
    .await;
    gw.emit(
        EventType::Raised,
        alert("a2", "m2", Kind::OverLimit, Severity::Major, 2),
    )
    .await;
    gw.emit(
        EventType::Raised,
        alert("a3", "m1", Kind::OverLimit, Severity::Major, 3),
    )
    .await;
    let mut ws = gw.ws("mine=m1&after=0").await;
    gw.emit(
        EventType::Raised,
        alert("a4", "m1", Kind::OverLimit, Severity::Major, 4),
    )
    .await;
    assert_eq!(seqs_through(&mut ws, 4).await, events(&[1, 3, 4], "raised"));
}

#[tokio::test]
async fn an_up_to_date_client_gets_nothing_and_one_too_far_behind_gets_a_fresh_snapshot() {
    let config = HttpConfig {
        ws_resume_max: 2,
        ..HttpConfig::default()
    };
    let gw = Gateway::start_with(1024, config).await;
    for i in 1..=5 {
        gw.emit(
            EventType::Raised,
            alert(&format!("a{i}"), "m1", Kind::OverLimit, Severity::Major, i),
        )
        .await;
    }
    let mut current = gw.ws("after=5").await;
    let mut behind = gw.ws("after=1").await;
    let mut foreign = gw.ws("after=99").await;

    let snap = next_json(&mut behind).await;
    assert_eq!(
        (snap["type"].as_str(), seq(&snap)),
        (Some("snapshot"), 5),
        "4 missed > ws_resume_max"
    );
    assert_eq!(ids(&snap["alerts"]).len(), 5);
    let snap = next_json(&mut foreign).await;
    assert_eq!(
        (snap["type"].as_str(), seq(&snap)),
        (Some("snapshot"), 5),
        "a seq from another history"
    );

    gw.emit(
        EventType::Raised,
        alert("a6", "m1", Kind::OverLimit, Severity::Major, 6),
    )
    .await;
    let first = next_json(&mut current).await;
    assert_eq!((first["type"].as_str(), seq(&first)), (Some("raised"), 6));
    assert_eq!(seq(&next_json(&mut behind).await), 6);
    assert_eq!(gw.state.metrics.ws_resyncs.get(), 2);
}

#[tokio::test]
async fn a_lagging_client_gets_a_fresh_snapshot_and_the_publisher_never_waits() {
    let gw = Gateway::start_with(4, HttpConfig::default()).await;
    let mut ws = gw.ws("").await;
    let snap = next_json(&mut ws).await;
    assert_eq!((snap["type"].as_str(), seq(&snap)), (Some("snapshot"), 0));

    // A flood far past the channel's capacity, with no await in between: the session cannot run
    // until it is over, so it must fall behind. Every send returns at once.
    let started = Instant::now();
    for i in 0..500_i64 {
        let id = format!("a{}", i % 20);
        // The last round raises each alert to critical.
        let severity = if i < 480 {
            Severity::Major
        } else {
            Severity::Critical
        };
        assert!(gw.emit_unstored(
            EventType::Updated,
            alert(&id, "m1", Kind::OverLimit, severity, i % 20)
        ));
    }
    assert!(started.elapsed().as_secs() < 2, "the publisher was held up");

    let snap = next_json(&mut ws).await;
    assert_eq!((snap["type"].as_str(), seq(&snap)), (Some("snapshot"), 500));
    let alerts = snap["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 20);
    assert!(
        alerts.iter().all(|a| a["severity"] == "critical"),
        "the final state of each alert"
    );
    assert_eq!(gw.state.metrics.ws_resyncs.get(), 1);

    assert!(gw.emit_unstored(
        EventType::Raised,
        alert("b1", "m1", Kind::Flatline, Severity::Major, 30)
    ));
    let next = next_json(&mut ws).await;
    assert_eq!((next["type"].as_str(), seq(&next)), (Some("raised"), 501));
}

#[tokio::test]
async fn a_burst_within_the_capacity_reaches_the_client_as_every_event_in_order() {
    // 600 events queued at once (written in batches of at most 256 before a flush): each is its
    // own message, in seq order, and nothing is resynced.
    let gw = Gateway::start_with(1024, HttpConfig::default()).await;
    let mut ws = gw.ws("").await;
    let snap = next_json(&mut ws).await;
    assert_eq!((snap["type"].as_str(), seq(&snap)), (Some("snapshot"), 0));
    for i in 0..600_i64 {
        let id = format!("a{i}");
        assert!(gw.emit_unstored(
            EventType::Raised,
            alert(&id, "m1", Kind::OverLimit, Severity::Major, i)
        ));
    }
    for n in 1..=600 {
        let e = next_json(&mut ws).await;
        assert_eq!((e["type"].as_str(), seq(&e)), (Some("raised"), n), "{e}");
        assert_eq!(e["alert"]["id"], format!("a{}", n - 1));
    }
    assert_eq!(gw.state.metrics.ws_resyncs.get(), 0);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_after_the_send_timeout_while_the_publisher_goes_on()
{
    let config = HttpConfig {
        ws_send_timeout_ms: 200,
        ..HttpConfig::default()
    };
    let gw = Gateway::start_with(64, config).await;
    let _stuck = gw.ws("").await; // never read again
    eventually("the client to be counted", || async {
        gw.ws_clients() == 1
    })
    .await;

    // Large events until the socket buffers fill and a send times out.
    let big = "x".repeat(256 * 1024);
    let mut published = 0_u64;
    within("the stuck client to be dropped", async {
        while gw.ws_clients() > 0 {
            let mut a = alert("a1", "m1", Kind::OverLimit, Severity::Major, 1);
            a.message = big.clone();
            gw.emit_unstored(EventType::Updated, a);
            published += 1;
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(
        published > 1,
        "the publisher went on while the client was stuck"
    );
}

#[tokio::test]
async fn a_severity_filter_passes_the_minimum_and_follows_a_shown_alert_to_its_end() {
    let gw = Gateway::start().await;
    let mut ws = gw.ws("severity=major").await;
    assert_eq!(next_json(&mut ws).await["type"], "snapshot");

    let a1 = alert("a1", "m1", Kind::OverLimit, Severity::Critical, 1);
    gw.emit(EventType::Raised, a1.clone()).await; // 1: passes
    gw.emit(
        EventType::Raised,
        alert("a2", "m1", Kind::Overtime, Severity::Warning, 2),
    )
    .await; // 2: below
    gw.emit(EventType::Updated, at(&a1, Severity::Warning))
        .await; // 3: a1 drops below: its last
    gw.emit(EventType::Updated, at(&a1, Severity::Warning))
        .await; // 4: no longer followed
    gw.emit(
        EventType::Raised,
        alert("a3", "m1", Kind::CameraTamper, Severity::Major, 3),
    )
    .await; // 5
    assert_eq!(
        seqs_through(&mut ws, 5).await,
        [
            ("raised".to_owned(), 1),
            ("updated".to_owned(), 3),
            ("raised".to_owned(), 5)
        ]
    );
}

#[tokio::test]
async fn bad_websocket_parameters_are_rejected_before_the_upgrade() {
    let gw = Gateway::start().await;
    for (query, named) in [
        ("severity=loud", "severity"),
        ("after=x", "after"),
        ("mine=a%20b", "mine"),
        ("room=1", "room"),
    ] {
        let r = gw.get(&format!("/ws?{query}")).await;
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert!(r.error().contains(named), "{query}: {}", r.body);
    }
    let url = format!("ws://{}/ws?severity=loud", gw.addr);
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
    let r = gw.get("/ws").await;
    assert_eq!(r.status, 400, "not an upgrade: {}", r.body);
}

#[tokio::test]
async fn shutdown_tells_websocket_clients_the_server_is_going_away() {
    let mut gw = Gateway::start().await;
    let mut ws = gw.ws("").await;
    assert_eq!(next_json(&mut ws).await["type"], "snapshot");
    gw.stop().await;
    let frame = within("the close frame", async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await;
    assert_eq!(frame.map(|f| f.code), Some(CloseCode::Away));
    assert_eq!(gw.ws_clients(), 0, "serve waited for the session");
}

/// Reads until seq `last`, checking that the client's picture never misses or repeats an event:
/// each event is the one after the previous position, each snapshot moves the position forward.
async fn check_stream(mut ws: Ws, after: Option<u64>, last: u64) -> Result<(), String> {
    let mut pos = after;
    loop {
        let msg = next_json(&mut ws).await;
        let s = seq(&msg);
        match (msg["type"].as_str(), pos) {
            (Some("snapshot"), Some(p)) if s < p => return Err(format!("snapshot {s} behind {p}")),
            (Some("snapshot"), _) => {}
            (_, None) => return Err(format!("event {s} before any snapshot")),
            (_, Some(p)) if s != p + 1 => return Err(format!("event {s} after {p}")),
            _ => {}
        }
        pos = Some(s);
        if s >= last {
            return Ok(());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_joining_during_a_stream_of_events_see_every_seq_exactly_once() {
    const LAST: u64 = 1500;
    let gw = std::sync::Arc::new(Gateway::start().await);
    let publisher = {
        let gw = gw.clone();
        tokio::spawn(async move {
            for i in 0..LAST {
                let id = format!("a{}", i % 25);
                let kind = if i < 25 {
                    EventType::Raised
                } else {
                    EventType::Updated
                };
                gw.emit(kind, alert(&id, "m1", Kind::OverLimit, Severity::Major, 1))
                    .await;
                if i % 5 == 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
        })
    };
    let mut readers = Vec::new();
    for n in 0..8_u64 {
        let threshold = 100 * (n + 1);
        eventually("the stream to move on", || async {
            gw.state.live.seq() >= threshold
        })
        .await;
        let (query, after) = if n % 2 == 0 {
            (String::new(), None)
        } else {
            let a = gw.state.live.seq().saturating_sub(3);
            (format!("after={a}"), Some(a))
        };
        let ws = gw.ws(&query).await;
        readers.push(tokio::spawn(check_stream(ws, after, LAST)));
    }
    within("the publisher", publisher)
        .await
        .expect("publisher task");
    for (n, reader) in readers.into_iter().enumerate() {
        let outcome = within("a reader", reader).await.expect("reader task");
        assert_eq!(outcome, Ok(()), "client {n}");
    }
}
