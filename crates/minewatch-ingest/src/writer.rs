//! The alert writer: the one place where alerts change. It turns the shards' [`Change`]s into
//! alerts and events with a global, gap-free `seq`, stores each batch in one transaction, and only
//! then updates the live view, broadcasts to WebSocket clients, answers operators and acks MQTT.
//! A store failure is retried (with backoff) until it succeeds: nothing is dropped, nothing is
//! published before it is stored, and the seq never skips.

use crate::acks::{AckSequencer, AckToken, Acker};
use crate::alert_id::AlertIds;
use minewatch_core::alarm::{ACTIVATIONS_KEPT, Activation, Alarm, AlarmState, Shelf};
use minewatch_core::alarm_policy::{AlarmConfig, FloodWindow};
use minewatch_core::alert::{
    Ack, Alert, AlertState, Change, ChangeOp, Event, EventType, Kind, Severity, WireEvent,
};
use minewatch_core::backoff::Backoff;
use minewatch_core::live::Flood;
use minewatch_core::live::LiveView;
use minewatch_core::metrics::Metrics;
use minewatch_core::time::{Millis, now_millis, to_datetime};
use minewatch_store::{Applied, DeadLetter, Store, WriteBatch};
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot};

/// How often acks waiting for room in the MQTT client's queue are retried.
const ACK_RETRY: Duration = Duration::from_millis(5);
/// Longest the writer waits at shutdown for its waiting acks to be handed on.
const ACK_FLUSH_LIMIT: Duration = Duration::from_secs(10);
/// How often shelves running out, flood windows and re-activation candidates are looked at.
const HOUSEKEEPING: Duration = Duration::from_secs(1);

/// Why an operator's ack was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// No alert has this id.
    #[error("no alert {0}")]
    NotFound(String),
    /// The alert was acknowledged already (or is not shelved, for an unshelve).
    #[error("{0}")]
    Conflict(String),
    /// The request cannot be carried out as asked (a shelving beyond `shelve_max`).
    #[error("{0}")]
    Invalid(String),
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
    /// `[alarms]`.
    alarms: AlarmConfig,
    /// Cleared alerts waiting for an acknowledgement (ISA-18.2 cleared-unacknowledged), by id.
    latched: HashMap<String, Alert>,
    /// Alerts resolved lately, by key, with the wall time: a raise of the same key within
    /// `rearm_window` of the resolve re-activates the alert instead of making a new one.
    recent: HashMap<String, (Alert, Millis)>,
    /// Shelved alerts by the wall time their shelf runs out, soonest first (stale entries are
    /// skipped: the alert's own `shelved` decides).
    shelves: BinaryHeap<Reverse<(Millis, String)>>,
    /// New alerts per mine over the last `flood_window`.
    floods: HashMap<String, FloodWindow>,
    last_housekeeping: Instant,
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
    /// `[alarms]`.
    pub alarms: AlarmConfig,
    /// The cleared alerts in the store still waiting for an acknowledgement.
    pub latched: Vec<Alert>,
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
            alarms: parts.alarms,
            latched: HashMap::new(),
            recent: HashMap::new(),
            shelves: BinaryHeap::new(),
            floods: HashMap::new(),
            last_housekeeping: Instant::now(),
        };
        for a in parts.latched {
            w.live.cleared.insert(a.id.clone(), Arc::new(a.clone()));
            w.latched.insert(a.id.clone(), a);
        }
        w.metrics.alerts_cleared_unacked.set(w.latched.len() as i64);
        for a in parts.active.iter().chain(w.latched.values()) {
            if let Some(shelf) = &a.alarm.shelved {
                w.shelves
                    .push(Reverse((shelf.until.timestamp_millis(), a.id.clone())));
            }
        }
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
            // Acks waiting for room in the MQTT client's queue are retried every few ms; shelves,
            // floods and re-activation windows are looked at every second while any is pending.
            let wait = if self.acker.pending() > 0 {
                Some(ACK_RETRY)
            } else if self.timers_pending() {
                Some(HOUSEKEEPING)
            } else {
                None
            };
            let n = match wait {
                Some(wait) => {
                    match tokio::time::timeout(wait, rx.recv_many(&mut msgs, self.batch)).await {
                        Ok(n) => n,
                        Err(_) => {
                            self.acker.flush();
                            acks.set(self.acker.pending() as i64);
                            self.housekeeping().await;
                            continue;
                        }
                    }
                }
                None => rx.recv_many(&mut msgs, self.batch).await,
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
            self.housekeeping().await;
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
                    matches!(
                        p.event.kind,
                        EventType::Acked
                            | EventType::Resolved
                            | EventType::Shelved
                            | EventType::Unshelved
                    )
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
        let post = |event, gauge, gauge_old| {
            Ok(Some(Post {
                event,
                gauge,
                gauge_old,
                arrived: None,
            }))
        };
        match op {
            ChangeOp::Raise => {
                let alert = match self.rearm(&key, c.at) {
                    Some(prev) => self.reactivate(prev, c),
                    None => Alert {
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
                        alarm: Alarm {
                            raised_value: c.value,
                            ..Alarm::default()
                        },
                    },
                };
                self.by_id.insert(alert.id.clone(), key.clone());
                self.active.insert(key, alert.clone());
                self.flood(&alert.mine, wall);
                let gauge = Some((alert.kind, alert.severity, 1));
                post(self.next_event(EventType::Raised, alert, wall), gauge, None)
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
                post(
                    self.next_event(EventType::Updated, alert, wall),
                    gauge,
                    gauge_old,
                )
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
                a.alarm.alarm_state = self.alarms.state_of(&a);
                if a.alarm.alarm_state == AlarmState::ClearedUnacked {
                    self.latch(a.clone());
                } else {
                    a.alarm.shelved = None;
                }
                self.recent.insert(key, (a.clone(), wall));
                let gauge = Some((a.kind, a.severity, -1));
                post(self.next_event(EventType::Resolved, a, wall), gauge, None)
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
                            return Err(AckError::Conflict(format!(
                                "alert {id} is already acknowledged"
                            )));
                        }
                        a.ack = Some(ack);
                        a.alarm.alarm_state = AlarmState::ActiveAcked;
                        a.clone()
                    }
                    None => {
                        let mut a = match self.latched.remove(&id) {
                            Some(a) => a,
                            None => stored(&self.store, &id).await?,
                        };
                        if a.ack.is_some() {
                            return Err(AckError::Conflict(format!(
                                "alert {id} is already acknowledged"
                            )));
                        }
                        a.ack = Some(ack);
                        a.alarm.alarm_state = self.alarms.state_of(&a);
                        a.alarm.shelved = None;
                        if let Some((r, _)) = self.recent.get_mut(&a.key)
                            && r.id == a.id
                        {
                            *r = a.clone();
                        }
                        self.metrics
                            .alerts_cleared_unacked
                            .set(self.latched.len() as i64);
                        a
                    }
                };
                post(self.next_event(EventType::Acked, alert, wall), None, None)
            }
            ChangeOp::Shelve {
                id,
                by,
                reason,
                until,
            } => {
                let longest = wall.saturating_add(self.alarms.shelve_max);
                if until > longest || until <= wall {
                    return Err(AckError::Invalid(format!(
                        "an alert is shelved for more than nothing and at most {} min",
                        self.alarms.shelve_max / 60_000
                    )));
                }
                let shelf = Shelf {
                    by,
                    reason,
                    at: to_datetime(wall),
                    until: to_datetime(until),
                };
                let Some(a) = self.open_alert(&id) else {
                    return Err(AckError::NotFound(id));
                };
                a.alarm.shelved = Some(shelf);
                let alert = a.clone();
                self.shelves.push(Reverse((until, id)));
                post(self.next_event(EventType::Shelved, alert, wall), None, None)
            }
            ChangeOp::Unshelve { id, by } => {
                let Some(a) = self.open_alert(&id) else {
                    return Err(AckError::NotFound(id));
                };
                let Some(shelf) = a.alarm.shelved.take() else {
                    return Err(AckError::Conflict(format!("alert {id} is not shelved")));
                };
                if let Value::Object(ev) = &mut a.evidence {
                    ev.insert(
                        "unshelved".into(),
                        serde_json::json!({"by": by, "shelved_by": shelf.by, "reason": shelf.reason}),
                    );
                }
                let alert = a.clone();
                post(
                    self.next_event(EventType::Unshelved, alert, wall),
                    None,
                    None,
                )
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
        // Cleared alerts waiting for an ack stay listed; an ack or a re-activation ends that.
        if e.alert.alarm.alarm_state == AlarmState::ClearedUnacked {
            self.live
                .cleared
                .insert(e.alert.id.clone(), Arc::new(e.alert.clone()));
        } else if e.alert.state == AlertState::Resolved || e.kind == EventType::Raised {
            self.live.cleared.remove(&e.alert.id);
        }
        if let Some((k, s)) = p.gauge_old {
            self.metrics.active(k, s).dec();
        }
        if let Some((k, s, d)) = p.gauge {
            self.metrics.active(k, s).inc_by(d);
        }
        self.metrics.alert_event(e.alert.kind, e.kind);
        if e.kind == EventType::Acked {
            // From this activation's start (a re-activation starts it anew) to the ack.
            let secs = (e.at - e.alert.started_at).num_milliseconds() as f64 / 1000.0;
            self.metrics.observe_ack(e.alert.severity, secs);
        }
        self.live.set_seq(e.seq);
        let _ = self.events.send(WireEvent::new(e));
        if let Some(t) = p.arrived {
            self.metrics
                .alert_latency_seconds
                .observe(t.elapsed().as_secs_f64());
        }
    }
}

/// An alert as stored, for an operator's ack of one the writer no longer holds.
async fn stored(store: &Store, id: &str) -> Result<Alert, AckError> {
    match store.alert(id).await {
        Ok(Some((a, _))) => Ok(a),
        Ok(None) => Err(AckError::NotFound(id.to_string())),
        Err(e) => Err(AckError::Unavailable(e.to_string())),
    }
}

#[path = "writer_alarms.rs"]
mod alarms;

#[cfg(test)]
#[path = "writer_alarms_tests.rs"]
mod alarms_tests;

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
