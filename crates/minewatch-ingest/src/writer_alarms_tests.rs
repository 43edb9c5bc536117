//! The writer's alarm management (ISA-18.2 states, re-activation, chattering, shelving, floods),
//! driven on event time through the writer's queue, read back from the store, the live view and
//! the broadcast.

use super::*;
use minewatch_fixtures::store::{TempStore, file_store};

/// Event time 0 of these tests.
const T0: Millis = 1_795_420_800_000;
const MIN: Millis = 60_000;

struct Rig {
    file: TempStore,
    tx: mpsc::Sender<WriterMsg>,
    live: Arc<LiveView>,
    metrics: Arc<Metrics>,
    events: broadcast::Receiver<WireEvent>,
    _task: tokio::task::JoinHandle<()>,
}

impl Rig {
    async fn new() -> Rig {
        Self::with(Vec::new(), None).await
    }

    /// A writer continuing from `latched` cleared alerts, on `file` (a fresh store if `None`).
    async fn with(latched: Vec<Alert>, file: Option<TempStore>) -> Rig {
        let file = match file {
            Some(f) => f,
            None => file_store().await,
        };
        let live = Arc::new(LiveView::default());
        let metrics = Arc::new(Metrics::new());
        let (events_tx, events) = broadcast::channel(1024);
        let writer = Writer::new(WriterParts {
            store: file.store.clone(),
            live: live.clone(),
            metrics: metrics.clone(),
            events: events_tx,
            acker: Box::new(crate::acks::NoAcks),
            active: file.store.active_alerts().await.expect("active"),
            latched,
            alarms: AlarmConfig::default(),
            seq: file.store.last_seq().await.expect("seq"),
            batch: 16,
            dead_letter_keep: 100,
            dedup_window: 100,
        });
        let (tx, rx) = mpsc::channel(16);
        Rig {
            file,
            tx,
            live,
            metrics,
            events,
            _task: tokio::spawn(writer.run(rx)),
        }
    }

    /// Sends `changes` and waits until they are stored and published; the events they made.
    async fn send(&mut self, changes: Vec<Change>) -> Vec<Event> {
        let (flushed, done) = oneshot::channel();
        let msg = WriterMsg {
            changes,
            flushed: Some(flushed),
            ..WriterMsg::default()
        };
        self.tx.send(msg).await.expect("writer runs");
        tokio::time::timeout(Duration::from_secs(10), done)
            .await
            .expect("stored within 10 s")
            .expect("writer answers");
        let mut out = Vec::new();
        while let Ok(w) = self.events.try_recv() {
            out.push(serde_json::from_str(&w.json).expect("event JSON"));
        }
        out
    }

    /// Sends one operator command and waits for its answer.
    async fn command(&mut self, op: ChangeOp, subject: &str) -> Result<Alert, AckError> {
        let (reply, rx) = oneshot::channel();
        let msg = WriterMsg {
            changes: vec![Change {
                op,
                ..change(ChangeOp::Update, subject, Severity::Critical, T0)
            }],
            reply: Some(reply),
            ..WriterMsg::default()
        };
        self.tx.send(msg).await.expect("writer runs");
        let answer = tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .expect("answered within 10 s")
            .expect("writer answers");
        // The answer follows the broadcast: what it published is not the next send's.
        while self.events.try_recv().is_ok() {}
        answer
    }
}

fn change(op: ChangeOp, subject: &str, severity: Severity, at: Millis) -> Change {
    Change {
        op,
        mine: Arc::from("M1"),
        kind: Kind::OverLimit,
        subject: Arc::from(subject),
        area: None,
        severity,
        message: format!("{subject} over its limit"),
        value: Some(1.6),
        limit: Some(1.5),
        at,
        evidence: serde_json::json!({}),
    }
}

fn raise(subject: &str, severity: Severity, at: Millis) -> Change {
    change(ChangeOp::Raise, subject, severity, at)
}

fn resolve(subject: &str, severity: Severity, at: Millis) -> Change {
    change(ChangeOp::Resolve, subject, severity, at)
}

fn ack(id: &str) -> ChangeOp {
    ChangeOp::Ack {
        id: id.into(),
        by: "operator 7".into(),
        note: String::new(),
    }
}

#[tokio::test]
async fn a_critical_that_clears_unacknowledged_stays_listed_until_acked() {
    let mut r = Rig::new().await;
    let e = r.send(vec![raise("P1", Severity::Critical, T0)]).await;
    let id = e[0].alert.id.clone();
    assert_eq!(e[0].alert.alarm.alarm_state, AlarmState::ActiveUnacked);
    let e = r
        .send(vec![resolve("P1", Severity::Critical, T0 + MIN)])
        .await;
    assert_eq!(e[0].kind, EventType::Resolved);
    assert_eq!(e[0].alert.alarm.alarm_state, AlarmState::ClearedUnacked);
    assert!(r.live.alerts.is_empty(), "no longer active");
    assert!(r.live.cleared.contains_key(&id), "still listed, cleared");
    assert_eq!(r.metrics.alerts_cleared_unacked.get(), 1);
    let open = r
        .file
        .store
        .alerts(&minewatch_store::AlertQuery {
            alarm: vec![AlarmState::ClearedUnacked],
            ..Default::default()
        })
        .await
        .expect("query");
    assert_eq!(
        open.len(),
        1,
        "the store lists it as cleared-unacknowledged"
    );

    let acked = r.command(ack(&id), "P1").await.expect("acked");
    assert_eq!(acked.alarm.alarm_state, AlarmState::Closed);
    assert!(r.live.cleared.is_empty(), "an ack closes it");
    assert_eq!(r.metrics.alerts_cleared_unacked.get(), 0);
    assert!(matches!(
        r.command(ack(&id), "P1").await,
        Err(AckError::Conflict(_))
    ));
}

#[tokio::test]
async fn a_warning_that_clears_is_closed_at_once_and_an_acked_critical_too() {
    let mut r = Rig::new().await;
    r.send(vec![raise("P1", Severity::Warning, T0)]).await;
    let e = r
        .send(vec![resolve("P1", Severity::Warning, T0 + MIN)])
        .await;
    assert_eq!(e[0].alert.alarm.alarm_state, AlarmState::Closed);
    assert!(r.live.cleared.is_empty());

    let e = r.send(vec![raise("P2", Severity::Critical, T0)]).await;
    let acked = r.command(ack(&e[0].alert.id), "P2").await.expect("acked");
    assert_eq!(acked.alarm.alarm_state, AlarmState::ActiveAcked);
    let e = r
        .send(vec![resolve("P2", Severity::Critical, T0 + MIN)])
        .await;
    assert_eq!(e[0].alert.alarm.alarm_state, AlarmState::Closed);
    assert!(r.live.cleared.is_empty());
}

#[tokio::test]
async fn a_raise_within_the_rearm_window_reactivates_the_same_alert_and_after_it_does_not() {
    let mut r = Rig::new().await;
    let window = AlarmConfig::default().rearm_window;
    let e = r.send(vec![raise("P1", Severity::Major, T0)]).await;
    let id = e[0].alert.id.clone();
    r.command(ack(&id), "P1").await.expect("acked");
    r.send(vec![resolve("P1", Severity::Major, T0 + MIN)]).await;
    // Exactly at the window's end: the same alert, active and unacknowledged again.
    let e = r
        .send(vec![raise("P1", Severity::Critical, T0 + MIN + window)])
        .await;
    let a = &e[0].alert;
    assert_eq!((e[0].kind, a.id.as_str()), (EventType::Raised, id.as_str()));
    assert_eq!(a.alarm.count, 2);
    assert_eq!(a.alarm.alarm_state, AlarmState::ActiveUnacked);
    assert!(a.ack.is_none(), "a new activation waits for a new ack");
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.alarm.activations.len(), 1);
    assert_eq!(
        a.alarm.activations[0].acked_by.as_deref(),
        Some("operator 7")
    );
    assert!(!a.alarm.chattering, "two activations are not chattering");
    assert_eq!(r.live.alerts.len(), 1);
    // One millisecond past the window: a new alert.
    let end = T0 + 2 * MIN + window;
    r.send(vec![resolve("P1", Severity::Major, end)]).await;
    let e = r
        .send(vec![raise("P1", Severity::Major, end + window + 1)])
        .await;
    assert_ne!(e[0].alert.id, id, "a new alert past the window");
    assert_eq!(e[0].alert.alarm.count, 1);
    // The store holds one row per alert: two, the first with its two activations.
    let (first, events) = r.file.store.alert(&id).await.expect("read").expect("there");
    assert_eq!(first.alarm.count, 2);
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == EventType::Raised)
            .count(),
        2
    );
}

#[tokio::test]
async fn a_point_hovering_at_its_limit_is_one_chattering_alert_with_a_count() {
    let mut r = Rig::new().await;
    let mut ids = std::collections::HashSet::new();
    let mut last = None;
    // 38 raises in four minutes, as the issue saw.
    for i in 0..38 {
        let at = T0 + i * 6_000;
        let e = r
            .send(vec![
                raise("P1", Severity::Critical, at),
                resolve("P1", Severity::Critical, at + 3_000),
            ])
            .await;
        ids.insert(e[0].alert.id.clone());
        last = Some(e[0].alert.clone());
    }
    assert_eq!(ids.len(), 1, "one alert");
    let last = last.expect("raised");
    assert_eq!(last.alarm.count, 38);
    assert!(last.alarm.chattering);
    assert_eq!(last.alarm.activations.len(), ACTIVATIONS_KEPT);
    assert_eq!(r.live.cleared.len(), 1, "one row waits for an ack");
}

#[tokio::test]
async fn shelving_is_bounded_reasoned_and_undone() {
    let mut r = Rig::new().await;
    let e = r.send(vec![raise("P1", Severity::Major, T0)]).await;
    let id = e[0].alert.id.clone();
    let now = now_millis();
    let max = AlarmConfig::default().shelve_max;
    let shelve = |until| ChangeOp::Shelve {
        id: id.clone(),
        by: "operator 7".into(),
        reason: "sensor being replaced".into(),
        until,
    };
    assert!(matches!(
        r.command(shelve(now + max + 60_000), "P1").await,
        Err(AckError::Invalid(_))
    ));
    let a = r
        .command(shelve(now + 30 * MIN), "P1")
        .await
        .expect("shelved");
    let shelf = a.alarm.shelved.expect("shelved");
    assert_eq!(shelf.reason, "sensor being replaced");
    assert!(
        r.live.alerts.iter().all(|a| a.alarm.shelved.is_some()),
        "the live view shows it shelved"
    );
    let a = r
        .command(
            ChangeOp::Unshelve {
                id: id.clone(),
                by: "operator 7".into(),
            },
            "P1",
        )
        .await
        .expect("unshelved");
    assert!(a.alarm.shelved.is_none());
    assert!(matches!(
        r.command(
            ChangeOp::Unshelve {
                id: id.clone(),
                by: "x".into()
            },
            "P1"
        )
        .await,
        Err(AckError::Conflict(_))
    ));
    // The subject a command names is the pipeline's business: the id decides.
    assert!(r.command(shelve(now + MIN), "nobody").await.is_ok());
    let unknown = ChangeOp::Shelve {
        id: "nope".into(),
        by: "x".into(),
        reason: "y".into(),
        until: now + MIN,
    };
    assert!(matches!(
        r.command(unknown, "P1").await,
        Err(AckError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_shelf_whose_time_runs_out_returns_the_alert_by_itself() {
    let mut r = Rig::new().await;
    let e = r.send(vec![raise("P1", Severity::Major, T0)]).await;
    let id = e[0].alert.id.clone();
    let until = now_millis() + 1;
    r.command(
        ChangeOp::Shelve {
            id: id.clone(),
            by: "operator 7".into(),
            reason: "test".into(),
            until,
        },
        "P1",
    )
    .await
    .expect("shelved");
    // The writer looks at shelves every second: poll for the unshelved event, with a deadline.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(w) = r.events.try_recv() {
            let ev: Event = serde_json::from_str(&w.json).expect("event");
            if ev.kind == EventType::Unshelved {
                assert_eq!(ev.alert.id, id);
                assert!(ev.alert.alarm.shelved.is_none());
                break;
            }
            continue;
        }
        assert!(Instant::now() < deadline, "the shelf never ran out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn more_than_flood_count_new_alerts_of_a_mine_is_a_flood() {
    let mut r = Rig::new().await;
    let n = AlarmConfig::default().flood_count as i64;
    let ten: Vec<Change> = (0..n)
        .map(|i| raise(&format!("P{i}"), Severity::Major, T0 + i))
        .collect();
    r.send(ten).await;
    assert!(
        r.live.floods.is_empty(),
        "{n} is the reference, not a flood"
    );
    r.send(vec![raise("P99", Severity::Major, T0 + 99)]).await;
    let f = r.live.floods.get("M1").map(|f| f.clone()).expect("a flood");
    assert_eq!((f.count, f.peak), (n as usize + 1, n as usize + 1));
    assert_eq!(r.metrics.mines_in_flood.get(), 1);
}

#[tokio::test]
async fn cleared_alerts_waiting_for_an_ack_are_listed_again_after_a_restart() {
    let mut r = Rig::new().await;
    let e = r.send(vec![raise("P1", Severity::Critical, T0)]).await;
    let id = e[0].alert.id.clone();
    r.send(vec![resolve("P1", Severity::Critical, T0 + MIN)])
        .await;
    let Rig { file, tx, .. } = r;
    drop(tx);
    let latched = file.store.cleared_unacked().await.expect("read");
    assert_eq!(latched.len(), 1);
    let mut r = Rig::with(latched, Some(file)).await;
    assert!(r.live.cleared.contains_key(&id));
    let acked = r
        .command(ack(&id), "P1")
        .await
        .expect("acked after restart");
    assert_eq!(acked.alarm.alarm_state, AlarmState::Closed);
    assert!(
        r.file
            .store
            .cleared_unacked()
            .await
            .expect("read")
            .is_empty()
    );
}
