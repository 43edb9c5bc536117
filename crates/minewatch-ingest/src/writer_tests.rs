//! The alert writer's tests: stores before it acks or publishes, retries, commit tokens.

use super::*;
use minewatch_core::alert::ChangeOp;
use minewatch_fixtures::store::{TempStore, file_store};
use minewatch_store::Fault;
use std::sync::Mutex;

/// Records every ack handed to the MQTT client.
struct Recorder(Arc<Mutex<Vec<AckToken>>>);

impl Acker for Recorder {
    fn ack(&mut self, t: AckToken) {
        if let Ok(mut v) = self.0.lock() {
            v.push(t);
        }
    }
}

fn raise(subject: &str) -> Change {
    Change {
        op: ChangeOp::Raise,
        mine: Arc::from("M1"),
        kind: Kind::OverLimit,
        subject: Arc::from(subject),
        area: None,
        severity: Severity::Major,
        message: format!("{subject} over its limit"),
        value: Some(1.2),
        limit: Some(1.0),
        at: 1_700_000_000_000,
        evidence: Value::Null,
    }
}

/// Polls `f` every few ms until it holds, for at most 10 s.
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn while_the_store_refuses_commits_nothing_is_acked_or_published_and_then_everything_is_once()
{
    let w = Watch::new();
    let (file, tx, task) = writer(&w).await;
    let store = &file.store;
    let (acks, metrics, live) = (&w.acks, &w.metrics, &w.live);
    let mut published = w.events.subscribe();
    store.inject(Fault::BeforeCommit);
    let token = AckToken {
        generation: 1,
        n: 0,
        pkid: 7,
    };
    let msg = WriterMsg {
        changes: vec![raise("P1")],
        token: Some(token),
        applied: Some(Applied {
            mine: Some(Arc::from("M1")),
            digest: 42,
        }),
        ..WriterMsg::default()
    };
    tx.send(msg).await.expect("writer runs");
    until("the second failed commit", || {
        metrics.store_errors.get() >= 2
    })
    .await;
    assert_eq!(metrics.store_failing.get(), 1);
    assert!(acks.lock().expect("acks").is_empty(), "acked before stored");
    assert!(published.try_recv().is_err(), "published before stored");
    assert!(live.alerts.is_empty(), "shown before stored");
    assert!(store.active_alerts().await.expect("read").is_empty());

    // Space returns.
    store.inject(Fault::None);
    until("the ack", || !acks.lock().expect("acks").is_empty()).await;
    assert_eq!(*acks.lock().expect("acks"), vec![token], "acked once");
    assert_eq!(metrics.store_failing.get(), 0);
    let stored = store.active_alerts().await.expect("read");
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(store.events_after(0, 0).await.expect("events").len(), 1);
    assert_eq!(
        store.applied_messages(10).await.expect("applied"),
        vec![("M1".to_string(), 42)]
    );
    let e = published.try_recv().expect("published after the commit");
    assert_eq!(e.seq, 1);
    assert!(published.try_recv().is_err(), "published once");

    drop(tx);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("writer stops")
        .expect("writer task");
}

/// What a test watches a writer through.
struct Watch {
    acks: Arc<Mutex<Vec<AckToken>>>,
    metrics: Arc<Metrics>,
    live: Arc<LiveView>,
    events: broadcast::Sender<WireEvent>,
}

impl Watch {
    fn new() -> Self {
        Watch {
            acks: Arc::new(Mutex::new(Vec::new())),
            metrics: Arc::new(Metrics::new()),
            live: Arc::new(LiveView::default()),
            events: broadcast::channel(16).0,
        }
    }
}

/// A writer on a fresh file store, seen through `w`: the store, its queue, its task.
async fn writer(
    w: &Watch,
) -> (
    TempStore,
    mpsc::Sender<WriterMsg>,
    tokio::task::JoinHandle<()>,
) {
    let file = file_store().await;
    let writer = Writer::new(WriterParts {
        store: file.store.clone(),
        live: w.live.clone(),
        metrics: w.metrics.clone(),
        events: w.events.clone(),
        acker: Box::new(Recorder(w.acks.clone())),
        active: Vec::new(),
        latched: Vec::new(),
        alarms: AlarmConfig::default(),
        seq: 0,
        batch: 16,
        dead_letter_keep: 100,
        dedup_window: 100,
    });
    let (tx, rx) = mpsc::channel(16);
    (file, tx, tokio::spawn(writer.run(rx)))
}

#[tokio::test]
async fn a_commit_that_landed_although_it_was_reported_failed_is_not_stored_again() {
    let w = Watch::new();
    let (file, tx, task) = writer(&w).await;
    let store = &file.store;
    let (acks, metrics) = (&w.acks, &w.metrics);
    // Stored, then reported failed: storing it again would repeat its seq and fail for ever.
    store.inject(Fault::AfterCommit);
    for (n, subject) in ["P1", "P2"].into_iter().enumerate() {
        let msg = WriterMsg {
            changes: vec![raise(subject)],
            token: Some(AckToken {
                generation: 1,
                n: n as u64,
                pkid: n as u16 + 1,
            }),
            applied: Some(Applied {
                mine: Some(Arc::from("M1")),
                digest: n as u128,
            }),
            ..WriterMsg::default()
        };
        tx.send(msg).await.expect("writer runs");
        until("the ack", || acks.lock().expect("acks").len() == n + 1).await;
    }
    store.inject(Fault::None);
    assert_eq!(metrics.store_failing.get(), 0);
    let events = store.events_after(0, 0).await.expect("events");
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2],
        "each batch stored once"
    );
    assert_eq!(store.applied_messages(10).await.expect("applied").len(), 2);
    drop(tx);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("writer stops")
        .expect("writer task");
}
