use crate::common::*;
use chrono::{TimeDelta, Utc};
use minewatch_core::metrics::Metrics;
use minewatch_core::{EventType, Kind, Severity};
use minewatch_fixtures::metrics as metric;
use minewatch_notify::Notifier;
use minewatch_store::{DeliveryQuery, DeliveryState, Silence};
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::Duration;

const STOP: Duration = Duration::from_secs(5);

#[tokio::test]
async fn signed_events_arrive_in_seq_order_after_failed_attempts_are_retried() {
    let log = Log::new().await;
    let rx = Receiver::start(Mode::FailFirst(3)).await;
    let metrics = Metrics::new();
    let n = Notifier::start(&config(&rx.url()), log.store.clone(), &log.events, &metrics)
        .await
        .expect("start");
    let a = alert("a1", "M1", Kind::OverLimit, Severity::Critical);
    log.emit(EventType::Raised, &a).await;
    log.emit(EventType::Resolved, &resolved(&a)).await;
    eventually("both events delivered", || async { rx.seqs().len() == 2 }).await;
    assert_eq!(rx.seqs(), [1, 2]);
    assert!(
        rx.requests() >= 5,
        "three refused attempts, then two accepted"
    );
    assert_eq!(rx.state.bad_signatures.load(Ordering::SeqCst), 0);
    let got = rx.accepted();
    assert_eq!(got[0]["type"], "raised");
    assert_eq!(got[0]["id"], "1");
    assert_eq!(got[0]["silenced"], false);
    assert_eq!(got[0]["alert"]["id"], "a1");
    assert_eq!(got[1]["type"], "resolved");

    // The receiver has the second event as soon as it is sent; the sink counts it once the
    // answer is back.
    let delivered = || {
        metric::value(
            &metrics.encode(),
            "minewatch_notify_deliveries_total",
            &[("sink", "oncall"), ("result", "delivered")],
        )
    };
    eventually("two deliveries counted", || async {
        delivered() == Some(2.0)
    })
    .await;
    let text = metrics.encode();
    assert_eq!(
        metric::value(
            &text,
            "minewatch_notify_retries_total",
            &[("sink", "oncall")]
        ),
        Some(3.0),
        "{text}"
    );
    eventually("the cursor stored", || async {
        log.store.sink_cursor("oncall").await.expect("cursor") == Some(2)
    })
    .await;
    let records = log
        .store
        .deliveries(&DeliveryQuery::default())
        .await
        .expect("deliveries");
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].attempts, 4, "{records:?}");
    assert!(records.iter().all(|d| d.state == DeliveryState::Delivered));
    n.shutdown(STOP).await;
}

#[tokio::test]
async fn a_restart_loses_nothing_and_delivers_each_seq_once() {
    let log = Log::new().await;
    let rx = Receiver::start(Mode::Always(503)).await;
    let metrics = Metrics::new();
    let cfg = config(&rx.url());
    let n = Notifier::start(&cfg, log.store.clone(), &log.events, &metrics)
        .await
        .expect("start");
    for i in 0..5 {
        let a = alert(&format!("a{i}"), "M1", Kind::Distress, Severity::Critical);
        log.emit(EventType::Raised, &a).await;
    }
    eventually("attempts on the first event", || async {
        rx.requests() >= 2
    })
    .await;
    n.shutdown(STOP).await;
    assert_eq!(
        log.store.sink_cursor("oncall").await.expect("cursor"),
        Some(0),
        "nothing was delivered, so the cursor has not moved"
    );
    // Events stored while the notifier is down are not lost either.
    for i in 5..8 {
        let a = alert(&format!("a{i}"), "M2", Kind::OverLimit, Severity::Major);
        log.emit(EventType::Raised, &a).await;
    }
    rx.set_mode(Mode::Always(200));
    let n = Notifier::start(&cfg, log.store.clone(), &log.events, &metrics)
        .await
        .expect("restart");
    eventually("all eight delivered", || async { rx.seqs().len() >= 8 }).await;
    log.emit(
        EventType::Resolved,
        &resolved(&alert("a0", "M1", Kind::Distress, Severity::Critical)),
    )
    .await;
    eventually("the live event delivered", || async {
        rx.seqs().len() >= 9
    })
    .await;
    n.shutdown(STOP).await;
    assert_eq!(rx.seqs(), (1..=9).collect::<Vec<u64>>());
    assert_eq!(
        log.store.sink_cursor("oncall").await.expect("cursor"),
        Some(9)
    );
}

#[tokio::test]
async fn refused_and_stale_deliveries_are_recorded_as_failed_and_the_sink_moves_on() {
    let log = Log::new().await;
    let rx = Receiver::start(Mode::Always(400)).await;
    let metrics = Metrics::new();
    let mut cfg = config(&rx.url());
    cfg.give_up_after = Duration::from_millis(300);
    let n = Notifier::start(&cfg, log.store.clone(), &log.events, &metrics)
        .await
        .expect("start");
    let a = alert("a1", "M1", Kind::OverLimit, Severity::Critical);
    log.emit(EventType::Raised, &a).await;
    eventually("the refused delivery recorded", || async {
        log.store.sink_cursor("oncall").await.expect("cursor") == Some(1)
    })
    .await;
    assert_eq!(rx.requests(), 1, "a 400 is not retried");
    // A 503 is retried, until the event is older than give_up_after.
    rx.set_mode(Mode::Always(503));
    log.emit(EventType::Resolved, &resolved(&a)).await;
    eventually("the stale delivery given up", || async {
        log.store.sink_cursor("oncall").await.expect("cursor") == Some(2)
    })
    .await;
    assert!(rx.requests() >= 3, "retried before giving up");
    let failed = log
        .store
        .deliveries(&DeliveryQuery {
            state: Some(DeliveryState::Failed),
            ..DeliveryQuery::default()
        })
        .await
        .expect("deliveries");
    assert_eq!(failed.len(), 2);
    assert_eq!((failed[1].seq, failed[1].attempts), (1, 1));
    assert!(
        failed[1].error.as_deref().unwrap_or("").contains("400"),
        "{failed:?}"
    );
    assert!(failed[0].attempts >= 2);
    assert!(failed[0].error.as_deref().unwrap_or("").contains("503"));
    let text = metrics.encode();
    assert_eq!(
        metric::value(
            &text,
            "minewatch_notify_deliveries_total",
            &[("sink", "oncall"), ("result", "failed")]
        ),
        Some(2.0),
        "{text}"
    );
    n.shutdown(STOP).await;
}

#[tokio::test]
async fn silenced_and_filtered_alerts_are_not_sent_but_a_silenced_resolve_is() {
    let log = Log::new().await;
    let rx = Receiver::start(Mode::Always(200)).await;
    let metrics = Metrics::new();
    let mut cfg = config(&rx.url());
    cfg.webhooks[0].min_severity = Severity::Major;
    cfg.webhooks[0].mines = vec!["M1".into(), "M2".into()];
    let now = Utc::now();
    log.store
        .add_silence(&Silence {
            id: 0,
            mine: "M1".into(),
            kind: Some(Kind::OverLimit),
            subject: None,
            starts_at: now - TimeDelta::minutes(1),
            ends_at: now + TimeDelta::hours(2),
            reason: "recalibration".into(),
            by: "lead".into(),
            created_at: now,
            ended_by: None,
        })
        .await
        .expect("silence");
    let n = Notifier::start(&cfg, log.store.clone(), &log.events, &metrics)
        .await
        .expect("start");
    let silenced = alert("s1", "M1", Kind::OverLimit, Severity::Critical);
    log.emit(EventType::Raised, &silenced).await; // 1: silenced
    log.emit(
        EventType::Raised,
        &alert("w1", "M2", Kind::Overtime, Severity::Warning),
    )
    .await; // 2: below major
    log.emit(
        EventType::Raised,
        &alert("o1", "M3", Kind::Distress, Severity::Critical),
    )
    .await; // 3: other mine
    log.emit(
        EventType::Raised,
        &alert("d1", "M1", Kind::Distress, Severity::Critical),
    )
    .await; // 4: sent (another kind)
    log.emit(EventType::Resolved, &resolved(&silenced)).await; // 5: sent, marked silenced
    eventually("the cursor past every event", || async {
        log.store.sink_cursor("oncall").await.expect("cursor") == Some(5)
    })
    .await;
    assert_eq!(rx.seqs(), [4, 5]);
    let got = rx.accepted();
    assert_eq!(got[0]["silenced"], false);
    assert_eq!(got[1]["silenced"], true);
    assert_eq!(got[1]["type"], "resolved");
    n.shutdown(STOP).await;
}

#[tokio::test]
async fn an_unacknowledged_critical_alert_is_renotified() {
    let log = Log::new().await;
    let rx = Receiver::start(Mode::Always(200)).await;
    let metrics = Metrics::new();
    let mut cfg = config(&rx.url());
    cfg.renotify_after = Duration::from_millis(500);
    let n = Notifier::start(&cfg, log.store.clone(), &log.events, &metrics)
        .await
        .expect("start");
    let a = alert("a1", "M1", Kind::Distress, Severity::Critical);
    log.emit(EventType::Raised, &a).await;
    eventually("a renotification", || async {
        rx.accepted().iter().any(|v| v["type"] == "renotify")
    })
    .await;
    let renotify = rx
        .accepted()
        .into_iter()
        .find(|v| v["type"] == "renotify")
        .expect("renotify");
    assert_eq!(renotify["id"], "1.renotify.1");
    assert_eq!(renotify["alert"]["id"], "a1");
    n.shutdown(STOP).await;
}

#[tokio::test]
async fn during_a_flood_a_mines_events_arrive_grouped_not_one_by_one() {
    let log = Log::new().await;
    let rx = Receiver::start(Mode::Always(200)).await;
    let metrics = Metrics::new();
    let mut cfg = config(&rx.url());
    cfg.flood_group_every = Duration::from_millis(300);
    let n = Notifier::start(&cfg, log.store.clone(), &log.events, &metrics)
        .await
        .expect("start");
    // A substation trips: 40 faults of one mine at once, one alert of another mine beside them.
    for i in 0..40 {
        let a = alert(&format!("f{i}"), "M1", Kind::SensorFault, Severity::Warning);
        log.emit(EventType::Raised, &a).await;
    }
    let other = alert("o1", "M2", Kind::OverLimit, Severity::Critical);
    let other_seq = log.emit(EventType::Raised, &other).await;
    eventually("the flood group delivered", || async {
        rx.accepted().iter().any(|v| v["type"] == "flood")
    })
    .await;
    eventually("the other mine's alert delivered", || async {
        rx.seqs().contains(&other_seq)
    })
    .await;
    let got = rx.accepted();
    let single: Vec<&Value> = got
        .iter()
        .filter(|v| v["type"] == "raised" && v["alert"]["mine"] == "M1")
        .collect();
    assert_eq!(
        single.len(),
        10,
        "ten arrive alone (EEMUA's reference), then the flood"
    );
    let floods: Vec<&Value> = got.iter().filter(|v| v["type"] == "flood").collect();
    assert_eq!(floods.len(), 1, "{floods:?}");
    let f = &floods[0]["flood"];
    assert_eq!(f["mine"], "M1");
    assert_eq!(f["events"], 30);
    assert_eq!(f["by_kind"]["sensor_fault/warning"], 30);
    assert_eq!(f["first_seq"], 11);
    assert_eq!(f["last_seq"], 40);
    assert_eq!(floods[0]["id"], "40.flood");
    assert!(
        got.iter()
            .any(|v| v["type"] == "raised" && v["alert"]["mine"] == "M2"),
        "another mine's alert is not held by M1's flood"
    );
    eventually("the cursor past everything", || async {
        log.store.sink_cursor("oncall").await.expect("cursor") == Some(other_seq)
    })
    .await;
    n.shutdown(STOP).await;
}
