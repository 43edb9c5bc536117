//! The alert writer: the one place where alerts change. It turns the shards' [`Change`]s into
//! alerts and events with a global, gap-free `seq`, stores each batch in one transaction, and only
//! then updates the live view, broadcasts to WebSocket clients, answers operators and acks MQTT.
//! A store failure is retried (with backoff) until it succeeds: nothing is dropped, nothing is
//! published before it is stored, and the seq never skips.

use crate::acks::{AckSequencer, AckToken, Acker};
use crate::alert_id::AlertIds;
use minewatch_core::alert::{
    Ack, Alert, AlertState, Change, ChangeOp, Event, EventType, Kind, Severity, WireEvent,
};
use minewatch_core::backoff::Backoff;
use minewatch_core::live::LiveView;
use minewatch_core::metrics::Metrics;
use minewatch_core::time::{now_millis, to_datetime};
use minewatch_store::{Applied, DeadLetter, Store, WriteBatch};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot};

/// How often acks waiting for room in the MQTT client's queue are retried.
const ACK_RETRY: Duration = Duration::from_millis(5);
/// Longest the writer waits at shutdown for its waiting acks to be handed on.
const ACK_FLUSH_LIMIT: Duration = Duration::from_secs(10);

/// Why an operator's ack was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// No alert has this id.
    #[error("no alert {0}")]
    NotFound(String),
    /// The alert was acknowledged already.
    #[error("alert {0} is already acknowledged")]
    Conflict(String),
    /// The pipeline did not answer in time or is shutting down.
    #[error("{0}")]
    Unavailable(String),
}

/// One shard output (or operator command) for the writer.
#[derive(Debug, Default)]
pub struct WriterMsg {
    pub changes: Vec<Change>,
    pub dead_letters: Vec<DeadLetter>,
    /// The MQTT message to ack once this is stored.
    pub token: Option<AckToken>,
    /// When the message arrived, for the latency metric.
    pub arrived: Option<Instant>,
    /// An operator waiting for the result of an ack.
    pub reply: Option<oneshot::Sender<Result<Alert, AckError>>>,
    /// Someone waiting until everything sent before this is stored and published.
    pub flushed: Option<oneshot::Sender<()>>,
    /// Stop after this message (shutdown, once every shard has stopped).
    pub stop: bool,
    /// Engine snapshots to store: (key, JSON).
    pub states: Vec<(String, String)>,
    /// The message these are the effects of, applied now: its digest is stored with them.
    pub applied: Option<Applied>,
}

impl WriterMsg {
    /// Whether there is nothing to store, answer or ack.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
            && self.dead_letters.is_empty()
            && self.states.is_empty()
            && self.applied.is_none()
            && self.token.is_none()
            && self.reply.is_none()
            && self.flushed.is_none()
            && !self.stop
    }
}

/// The writer's state.
pub struct Writer {
    store: Store,
    live: Arc<LiveView>,
    metrics: Arc<Metrics>,
    events: broadcast::Sender<WireEvent>,
    acker: Box<dyn Acker>,
    /// Active alerts by key (the writer's own authoritative copy).
    active: HashMap<String, Alert>,
    /// Active alert keys by id, for operator acks.
    by_id: HashMap<String, String>,
    /// The ids of the alerts raised here, increasing.
    ids: AlertIds,
    seq: u64,
    sequencer: AckSequencer,
    batch: usize,
    dead_letter_keep: u64,
    /// Applied-message digests kept in the store (`engine.dedup_window`).
    dedup_window: u64,
    last_prune: Instant,
    /// Names this run in commit tokens: the start time in ms and the process id.
    run_id: String,
    /// Commits attempted so far (the second half of a commit token).
    commits: u64,
}

/// What a [`Writer`] starts from.
pub struct WriterParts {
    pub store: Store,
    pub live: Arc<LiveView>,
    pub metrics: Arc<Metrics>,
    /// Where stored events are published (WebSocket clients, notification sinks).
    pub events: broadcast::Sender<WireEvent>,
    pub acker: Box<dyn Acker>,
    /// The active alerts in the store.
    pub active: Vec<Alert>,
    /// The last seq in the store.
    pub seq: u64,
    /// Most shard outputs per transaction.
    pub batch: usize,
    /// `store.dead_letter_keep`.
    pub dead_letter_keep: u64,
    /// `engine.dedup_window`.
    pub dedup_window: usize,
}

/// What to do after a commit, per event.
struct Post {
    event: Event,
    gauge: Option<(Kind, Severity, i64)>,
    gauge_old: Option<(Kind, Severity)>,
    arrived: Option<Instant>,
}

impl Writer {
    /// A writer that continues from the store's state.
    pub fn new(parts: WriterParts) -> Self {
        let mut w = Writer {
            store: parts.store,
            live: parts.live,
            metrics: parts.metrics,
            events: parts.events,
            acker: parts.acker,
            active: HashMap::new(),
            by_id: HashMap::new(),
            ids: AlertIds::new(),
            seq: parts.seq,
            sequencer: AckSequencer::default(),
            batch: parts.batch.max(1),
            dead_letter_keep: parts.dead_letter_keep,
            dedup_window: parts.dedup_window as u64,
            last_prune: Instant::now(),
            run_id: format!("{}.{}", now_millis(), std::process::id()),
            commits: 0,
        };
        for a in parts.active {
            w.metrics.active(a.kind, a.severity).inc();
            w.live.alerts.insert(a.key.clone(), Arc::new(a.clone()));
            w.by_id.insert(a.id.clone(), a.key.clone());
            w.active.insert(a.key.clone(), a);
        }
        w.live.set_seq(parts.seq);
        w
    }

    /// Runs until every sender is gone, then returns after storing what it has.
    pub async fn run(mut self, mut rx: mpsc::Receiver<WriterMsg>) {
        let depth = self.metrics.queue("writer");
        let acks = self.metrics.queue("acks");
        let mut msgs = Vec::with_capacity(self.batch);
        loop {
            msgs.clear();
            // Acks waiting for room in the MQTT client's queue are retried every few ms.
            let n = if self.acker.pending() > 0 {
                match tokio::time::timeout(ACK_RETRY, rx.recv_many(&mut msgs, self.batch)).await {
                    Ok(n) => n,
                    Err(_) => {
                        self.acker.flush();
                        acks.set(self.acker.pending() as i64);
                        continue;
                    }
                }
            } else {
                rx.recv_many(&mut msgs, self.batch).await
            };
            if n == 0 {
                break;
            }
            depth.set(rx.len() as i64);
            let stop = msgs.iter().any(|m| m.stop);
            self.process(&mut msgs).await;
            acks.set(self.acker.pending() as i64);
            if stop {
                self.flush_acks().await;
                break;
            }
            if self.last_prune.elapsed() > Duration::from_secs(60) {
                self.last_prune = Instant::now();
                if let Err(e) = self.store.prune_dead_letters(self.dead_letter_keep).await {
                    tracing::warn!(error = %e, "pruning dead letters failed");
                }
                if let Err(e) = self.store.prune_applied(self.dedup_window).await {
                    tracing::warn!(error = %e, "pruning applied-message digests failed");
                }
            }
        }
        tracing::info!(seq = self.seq, "alert writer stopped");
    }

    /// At shutdown: hands on every waiting ack (the MQTT task keeps polling until the writer has
    /// stopped), giving up after [`ACK_FLUSH_LIMIT`]; the broker redelivers what is left.
    async fn flush_acks(&mut self) {
        let deadline = Instant::now() + ACK_FLUSH_LIMIT;
        self.acker.flush();
        while self.acker.pending() > 0 {
            if Instant::now() >= deadline {
                tracing::warn!(
                    pending = self.acker.pending(),
                    "PUBACKs not handed to the MQTT client at shutdown; the broker will redeliver"
                );
                return;
            }
            tokio::time::sleep(ACK_RETRY).await;
            self.acker.flush();
        }
    }

    async fn process(&mut self, msgs: &mut [WriterMsg]) {
        let wall = now_millis();
        let mut posts: Vec<Post> = Vec::new();
        let mut dead = Vec::new();
        let mut states = Vec::new();
        let mut applied = Vec::new();
        let mut replies = Vec::new();
        for m in msgs.iter_mut() {
            let first = posts.len();
            for c in m.changes.drain(..) {
                match self.apply(c, wall).await {
                    Ok(Some(mut p)) => {
                        p.arrived = m.arrived;
                        posts.push(p);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        if let Some(r) = m.reply.take() {
                            replies.push((r, Err(e)));
                        }
                    }
                }
            }
            if let Some(r) = m.reply.take() {
                // The operator's answer is the alert as its last event left it.
                match posts[first..].iter().rev().find(|p| {
                    p.event.kind == EventType::Acked || p.event.kind == EventType::Resolved
                }) {
                    Some(p) => replies.push((r, Ok(p.event.alert.clone()))),
                    None => replies.push((
                        r,
                        Err(AckError::Unavailable("the ack produced no event".into())),
                    )),
                }
            }
            dead.append(&mut m.dead_letters);
            states.append(&mut m.states);
            applied.extend(m.applied.take());
        }
        let mut batch = WriteBatch {
            events: posts.iter().map(|p| p.event.clone()).collect(),
            dead_letters: dead,
            states,
            applied,
            token: String::new(),
        };
        if !batch.is_empty() {
            self.commit(&mut batch).await;
            self.metrics
                .dead_letters
                .inc_by(batch.dead_letters.len() as u64);
        }
        for p in posts {
            self.publish(p);
        }
        for (r, res) in replies {
            let _ = r.send(res);
        }
        let mut ready = Vec::new();
        for m in msgs.iter_mut() {
            if let Some(t) = m.token.take() {
                self.sequencer.complete(t, &mut ready);
            }
            if let Some(f) = m.flushed.take() {
                let _ = f.send(());
            }
        }
        for t in ready {
            self.acker.ack(t);
        }
    }

    /// Stores `batch`, retrying with backoff until it succeeds. Nothing after it (live view,
    /// broadcast, operators' answers, MQTT acks) happens before: the broker keeps every message
    /// whose effects are not stored, and `/readyz` answers 503 while commits fail.
    ///
    /// A failed commit may have landed anyway (the connection died during COMMIT): before
    /// storing it again the writer asks the store whether the batch's token is there.
    async fn commit(&mut self, batch: &mut WriteBatch) {
        self.commits += 1;
        batch.token = format!("{}-{}", self.run_id, self.commits);
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
        let mut failed = 0u64;
        loop {
            let t0 = Instant::now();
            let result = match self.store.commit(batch).await {
                Ok(()) => Ok(()),
                Err(e) => match self.store.committed(&batch.token).await {
                    Ok(true) => Ok(()),
                    _ => Err(e),
                },
            };
            match result {
                Ok(()) => {
                    self.metrics
                        .store_commit_seconds
                        .observe(t0.elapsed().as_secs_f64());
                    if failed > 0 {
                        self.metrics.store_failing.set(0);
                        tracing::warn!(
                            attempts = failed + 1,
                            "the store accepts commits again; what was held is stored, published and acked"
                        );
                    }
                    return;
                }
                Err(e) => {
                    failed += 1;
                    self.metrics.store_errors.inc();
                    self.metrics.store_failing.set(1);
                    let wait = backoff.next_delay();
                    tracing::error!(error = %e, events = batch.events.len(), attempt = failed, retry_in_ms = wait.as_millis() as u64,
                        "storing failed; nothing is published or acked until it succeeds (the broker keeps the messages)");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn next_event(&mut self, kind: EventType, alert: Alert, wall: i64) -> Event {
        self.seq += 1;
        Event {
            kind,
            seq: self.seq,
            at: to_datetime(wall),
            alert,
        }
    }

    /// Turns one change into an event (or nothing, when it changes nothing).
    async fn apply(&mut self, c: Change, wall: i64) -> Result<Option<Post>, AckError> {
        let key = c.key();
        let at = to_datetime(c.at);
        let op = match (&c.op, self.active.contains_key(&key)) {
            // The engine and the store disagree (e.g. state restored differently): keep one alert.
            (ChangeOp::Raise, true) => ChangeOp::Update,
            (ChangeOp::Update, false) => ChangeOp::Raise,
            (op, _) => op.clone(),
        };
        match op {
            ChangeOp::Raise => {
                let alert = Alert {
                    id: self.ids.next(wall),
                    key: key.clone(),
                    mine: c.mine.to_string(),
                    kind: c.kind,
                    severity: c.severity,
                    state: AlertState::Active,
                    subject: c.subject.to_string(),
                    area: c.area.as_deref().map(str::to_string),
                    message: c.message,
                    value: c.value,
                    limit: c.limit,
                    started_at: at,
                    updated_at: at,
                    resolved_at: None,
                    ack: None,
                    evidence: c.evidence,
                };
                self.by_id.insert(alert.id.clone(), key.clone());
                self.active.insert(key, alert.clone());
                let gauge = Some((alert.kind, alert.severity, 1));
                let event = self.next_event(EventType::Raised, alert, wall);
                Ok(Some(Post {
                    event,
                    gauge,
                    gauge_old: None,
                    arrived: None,
                }))
            }
            ChangeOp::Update => {
                let Some(a) = self.active.get_mut(&key) else {
                    return Ok(None);
                };
                let old = a.severity;
                a.severity = c.severity;
                a.message = c.message;
                a.value = c.value;
                a.limit = c.limit;
                a.evidence = c.evidence;
                a.updated_at = at;
                let alert = a.clone();
                let (gauge, gauge_old) = if old != alert.severity {
                    (
                        Some((alert.kind, alert.severity, 1)),
                        Some((alert.kind, old)),
                    )
                } else {
                    (None, None)
                };
                let event = self.next_event(EventType::Updated, alert, wall);
                Ok(Some(Post {
                    event,
                    gauge,
                    gauge_old,
                    arrived: None,
                }))
            }
            ChangeOp::Resolve => {
                let Some(mut a) = self.active.remove(&key) else {
                    return Ok(None);
                };
                self.by_id.remove(&a.id);
                a.state = AlertState::Resolved;
                a.resolved_at = Some(at);
                a.updated_at = at;
                if let Value::Object(ev) = &mut a.evidence {
                    ev.insert("resolution".into(), serde_json::json!({"message": c.message, "value": c.value, "detail": c.evidence}));
                }
                let gauge = Some((a.kind, a.severity, -1));
                let event = self.next_event(EventType::Resolved, a, wall);
                Ok(Some(Post {
                    event,
                    gauge,
                    gauge_old: None,
                    arrived: None,
                }))
            }
            ChangeOp::Ack { id, by, note } => {
                let ack = Ack {
                    by,
                    at: to_datetime(wall),
                    note,
                };
                let alert = match self.by_id.get(&id).and_then(|k| self.active.get_mut(k)) {
                    Some(a) => {
                        if a.ack.is_some() {
                            return Err(AckError::Conflict(id));
                        }
                        a.ack = Some(ack);
                        a.clone()
                    }
                    None => {
                        let stored = self
                            .store
                            .alert(&id)
                            .await
                            .map_err(|e| AckError::Unavailable(e.to_string()))?;
                        let Some((mut a, _)) = stored else {
                            return Err(AckError::NotFound(id));
                        };
                        if a.ack.is_some() {
                            return Err(AckError::Conflict(id));
                        }
                        a.ack = Some(ack);
                        a
                    }
                };
                let event = self.next_event(EventType::Acked, alert, wall);
                Ok(Some(Post {
                    event,
                    gauge: None,
                    gauge_old: None,
                    arrived: None,
                }))
            }
        }
    }

    /// After the commit: live view, metrics, broadcast.
    fn publish(&mut self, p: Post) {
        let e = &p.event;
        match (e.kind, e.alert.state) {
            (EventType::Resolved, _) => {
                self.live.alerts.remove(&e.alert.key);
            }
            (_, AlertState::Active) => {
                self.live
                    .alerts
                    .insert(e.alert.key.clone(), Arc::new(e.alert.clone()));
            }
            _ => {}
        }
        if let Some((k, s)) = p.gauge_old {
            self.metrics.active(k, s).dec();
        }
        if let Some((k, s, d)) = p.gauge {
            self.metrics.active(k, s).inc_by(d);
        }
        self.metrics.alert_event(e.alert.kind, e.kind);
        self.live.set_seq(e.seq);
        let _ = self.events.send(WireEvent::new(e));
        if let Some(t) = p.arrived {
            self.metrics
                .alert_latency_seconds
                .observe(t.elapsed().as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
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
}
