//! One sink's worker: reads the event log from its durable cursor, filters, checks silences,
//! delivers with retries, and advances the cursor with the delivery's record in one transaction.
//! Woken by the broadcast of stored events; a 1 s tick drives renotify and Alertmanager resends
//! and covers any missed wake-up.

use crate::flood::FloodGroups;
use crate::message::{Notification, Reason, am_alert, am_labels};
use crate::renotify::Renotifier;
use crate::sign::{SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};
use chrono::{DateTime, TimeDelta, Utc};
use minewatch_core::backoff::Backoff;
use minewatch_core::{Alert, AlertState, EventType, Kind, Severity, WireEvent};
use minewatch_store::{Delivery, DeliveryState, Silence, SilenceQuery, Store, is_silenced};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Events read from the log at a time.
const BATCH: u32 = 256;
/// The idle wake-up: renotify and resend timers, and a safety net for a missed broadcast.
const TICK: Duration = Duration::from_secs(1);
/// Delivered records kept per prune (failed ones are always kept).
const KEEP_DELIVERED: u64 = 10_000;
/// Prune delivered records after this many deliveries.
const PRUNE_EVERY: u32 = 1_000;
/// The most of an error message kept in a delivery record.
const MAX_ERROR: usize = 500;

/// Which alerts a sink wants.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    pub min_severity: Severity,
    /// Empty = all.
    pub kinds: Vec<Kind>,
    /// Empty = all.
    pub mines: Vec<String>,
}

impl Filter {
    fn passes(&self, a: &Alert) -> bool {
        a.severity >= self.min_severity
            && (self.kinds.is_empty() || self.kinds.contains(&a.kind))
            && (self.mines.is_empty() || self.mines.contains(&a.mine))
    }
}

/// Retry bounds.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub retry_min: Duration,
    pub retry_max: Duration,
    pub give_up_after: Duration,
}

/// The sink's metrics, pre-labelled.
#[derive(Debug, Clone)]
pub(crate) struct SinkMetrics {
    pub delivered: Counter,
    pub failed: Counter,
    pub retries: Counter,
    pub pending: Gauge,
    pub oldest_age: Gauge,
}

/// A failed attempt.
#[derive(Debug)]
pub(crate) struct AttemptError {
    /// Retrying cannot help (a 4xx other than 408 and 429): give up at once.
    permanent: bool,
    message: String,
}

/// Where notifications go.
pub(crate) enum Transport {
    /// JSON POSTed with an HMAC signature.
    Webhook {
        url: String,
        secret: Vec<u8>,
        client: reqwest::Client,
    },
    /// Alertmanager's `POST /api/v2/alerts`.
    Alertmanager(Box<AmState>),
}

/// What the Alertmanager sink keeps: the alerts it has told Alertmanager are firing.
pub(crate) struct AmState {
    pub url: String,
    pub client: reqwest::Client,
    pub public_url: String,
    pub resend_every: Duration,
    pub next_resend: DateTime<Utc>,
    /// By alert id: the alert and the labels it was last sent with.
    pub firing: HashMap<String, (Alert, Map<String, Value>)>,
}

/// POSTs `body` as JSON; a 2xx is success.
async fn post(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    headers: &[(&str, String)],
) -> Result<(), AttemptError> {
    let mut req = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    match req.send().await {
        Ok(resp) if resp.status().is_success() => Ok(()),
        Ok(resp) => {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            Err(AttemptError {
                permanent: status.is_client_error()
                    && status != reqwest::StatusCode::REQUEST_TIMEOUT
                    && status != reqwest::StatusCode::TOO_MANY_REQUESTS,
                message: clip(format!("HTTP {status}: {}", text.trim())),
            })
        }
        Err(e) => Err(AttemptError {
            permanent: false,
            message: clip(format!("{e}: {}", source_chain(&e))),
        }),
    }
}

/// The causes of an error, which reqwest keeps out of its Display.
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push(s.to_string());
        cur = s.source();
    }
    out.join(": ")
}

fn clip(s: String) -> String {
    match s.char_indices().nth(MAX_ERROR) {
        Some((cut, _)) => s[..cut].to_owned(),
        None => s,
    }
}

/// One sink's loop and state.
pub(crate) struct Worker {
    pub name: String,
    pub store: Store,
    pub filter: Filter,
    pub policy: Policy,
    pub transport: Transport,
    /// Webhooks only.
    pub renotify: Option<Renotifier>,
    pub metrics: SinkMetrics,
    pub backoff: Backoff,
    /// The last seq this sink is done with (durable in the store).
    pub cursor: u64,
    /// The highest seq known to be stored, for the pending gauge.
    pub latest: u64,
    /// Silences that may matter, reloaded before each batch and each due renotification.
    pub silences: Vec<Silence>,
    /// Deliveries since the last prune.
    pub since_prune: u32,
    /// Webhooks only: a flooding mine's events held and sent grouped.
    pub floods: Option<FloodGroups>,
}

/// The worker was told to stop in the middle of something.
struct Stopped;

impl Worker {
    /// Loads what the worker needs to resume: its cursor (a new sink starts at the end of the
    /// log), and the active alerts renotify and Alertmanager resends follow.
    pub async fn init(&mut self) -> Result<(), minewatch_store::StoreError> {
        let last = self.store.last_seq().await?;
        self.latest = last;
        self.cursor = match self.store.sink_cursor(&self.name).await? {
            Some(c) => c,
            None => {
                self.store.advance_sink(&self.name, last, None).await?;
                last
            }
        };
        let active = self.store.active_alerts().await?;
        let now = Utc::now();
        for a in active.into_iter().filter(|a| self.filter.passes(a)) {
            if let Some(r) = &mut self.renotify
                && a.severity == Severity::Critical
                && a.ack.is_none()
            {
                let seq = match self.store.alert(&a.id).await? {
                    Some((_, events)) => events.last().map_or(0, |e| e.seq),
                    None => 0,
                };
                r.observe(seq, &a, now);
            }
            if let Transport::Alertmanager(am) = &mut self.transport {
                let labels = am_labels(&a);
                am.firing.insert(a.id.clone(), (a, labels));
            }
        }
        self.set_pending(None);
        Ok(())
    }

    /// Runs until `stop` turns true (or its sender is dropped).
    pub async fn run(
        mut self,
        mut events: broadcast::Receiver<WireEvent>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            if *stop.borrow() {
                break;
            }
            let batch = match self.store.events_after(self.cursor, BATCH).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(sink = %self.name, error = %e, "notify: reading the event log failed");
                    if pause(&mut stop, TICK).await.is_err() {
                        break;
                    }
                    continue;
                }
            };
            if batch.is_empty() {
                self.set_pending(None);
                if self.tick(&mut stop).await.is_err() {
                    break;
                }
                tokio::select! {
                    r = events.recv() => match r {
                        Ok(ev) => self.latest = self.latest.max(ev.seq),
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => {
                            if pause(&mut stop, TICK).await.is_err() {
                                break;
                            }
                        }
                    },
                    () = tokio::time::sleep(TICK) => {}
                    r = stop.changed() => if r.is_err() { break },
                }
                continue;
            }
            if let Some(last) = batch.last() {
                self.latest = self.latest.max(last.seq);
            }
            let oldest = batch.iter().map(|e| e.at).min().unwrap_or_else(Utc::now);
            self.load_silences(oldest).await;
            let mut dirty = false;
            for e in batch {
                self.set_pending(Some(e.at));
                match self.handle(e, &mut stop).await {
                    Ok(true) => dirty = false,
                    Ok(false) => dirty = true,
                    Err(Stopped) => return,
                }
                if self.tick(&mut stop).await.is_err() {
                    return;
                }
            }
            if dirty && self.save(None, &mut stop).await.is_err() {
                return;
            }
        }
    }

    /// Handles one event; answers whether the cursor was stored past it.
    async fn handle(
        &mut self,
        e: minewatch_core::Event,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<bool, Stopped> {
        let seq = e.seq;
        if !self.filter.passes(&e.alert) {
            // Not wanted: forget it (a severity drop under the minimum ends renotify too).
            if let Some(r) = &mut self.renotify {
                r.observe(
                    seq,
                    &Alert {
                        state: AlertState::Resolved,
                        ..e.alert.clone()
                    },
                    Utc::now(),
                );
            }
            self.cursor = seq;
            return Ok(false);
        }
        let silenced = is_silenced(&self.silences, &e.alert, e.at);
        if let Some(r) = &mut self.renotify {
            r.observe(seq, &e.alert, Utc::now());
        }
        // Silenced and shelved alerts are recorded and shown but not sent; their `resolved`
        // still is, so a receiver can close what it was told before. A shelving itself is not
        // news for on-call; the alert's return from the shelf is.
        let shelved = e.alert.alarm.shelved.is_some() || e.kind == EventType::Shelved;
        if (silenced || shelved) && e.kind != EventType::Resolved {
            if let Transport::Alertmanager(am) = &mut self.transport {
                am.firing.remove(&e.alert.id);
            }
            self.cursor = seq;
            return Ok(false);
        }
        if let Some(f) = &mut self.floods
            && f.take(&e)
        {
            self.cursor = seq;
            return Ok(false);
        }
        let n = Notification {
            reason: Reason::Event(e.kind),
            seq,
            at: e.at,
            alert: e.alert,
            silenced,
            flood: None,
        };
        let record = self.deliver(&n, stop).await?;
        self.cursor = seq;
        self.save(Some(&record), stop).await?;
        Ok(true)
    }

    /// Delivers `n`, retrying with backoff until it succeeds, is refused for good, or is older
    /// than `give_up_after`; the record of what became of it.
    async fn deliver(
        &mut self,
        n: &Notification,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Delivery, Stopped> {
        let first = Utc::now();
        let mut attempts = 0u32;
        let give_up = TimeDelta::from_std(self.policy.give_up_after).unwrap_or(TimeDelta::MAX);
        loop {
            attempts += 1;
            let result = self.attempt(n).await;
            let now = Utc::now();
            let mut record = Delivery {
                id: 0,
                sink: self.name.clone(),
                seq: n.seq,
                kind: n.type_str().to_owned(),
                mine: n.alert.mine.clone(),
                alert_id: n.alert.id.clone(),
                state: DeliveryState::Delivered,
                attempts,
                first_attempt_at: first,
                last_attempt_at: now,
                error: None,
            };
            match result {
                Ok(()) => {
                    self.metrics.delivered.inc();
                    tracing::debug!(sink = %self.name, seq = n.seq, kind = n.type_str(), attempts, "notification delivered");
                    return Ok(record);
                }
                Err(err) if err.permanent || now - n.at >= give_up => {
                    self.metrics.failed.inc();
                    tracing::warn!(sink = %self.name, seq = n.seq, kind = n.type_str(), attempts, error = %err.message, "notification failed; given up");
                    record.state = DeliveryState::Failed;
                    record.error = Some(err.message);
                    return Ok(record);
                }
                Err(err) => {
                    self.metrics.retries.inc();
                    let wait = self.backoff.delay(attempts - 1);
                    tracing::info!(sink = %self.name, seq = n.seq, attempts, error = %err.message, retry_in = ?wait, "notification failed; will retry");
                    pause(stop, wait).await?;
                    self.metrics
                        .oldest_age
                        .set((Utc::now() - n.at).num_seconds().max(0));
                }
            }
        }
    }

    /// One HTTP attempt.
    async fn attempt(&mut self, n: &Notification) -> Result<(), AttemptError> {
        match &mut self.transport {
            Transport::Webhook {
                url,
                secret,
                client,
            } => {
                let body = n.webhook_body();
                let ts = Utc::now().timestamp();
                let sig = signature(secret, ts, &body);
                post(
                    client,
                    url,
                    body,
                    &[
                        (TIMESTAMP_HEADER, ts.to_string()),
                        (SIGNATURE_HEADER, sig),
                        ("x-minewatch-event", n.type_str().to_owned()),
                        ("x-minewatch-delivery", n.id()),
                    ],
                )
                .await
            }
            Transport::Alertmanager(am) => {
                let a = &n.alert;
                let labels = am_labels(a);
                let mut alerts = Vec::new();
                // A changed labelset (a severity change) is a different Alertmanager alert: end
                // the old one.
                if let Some((_, old)) = am.firing.get(&a.id)
                    && *old != labels
                {
                    alerts.push(am_alert(a, old.clone(), Some(Utc::now()), &am.public_url));
                }
                let resolved = a.state == AlertState::Resolved;
                let ends = resolved.then(|| a.resolved_at.unwrap_or(n.at));
                alerts.push(am_alert(a, labels.clone(), ends, &am.public_url));
                let body = serde_json::to_vec(&alerts).unwrap_or_default();
                post(&am.client, &am.url, body, &[]).await?;
                if resolved {
                    am.firing.remove(&a.id);
                } else {
                    am.firing.insert(a.id.clone(), (a.clone(), labels));
                }
                Ok(())
            }
        }
    }

    /// Sends the flood groups that are due, each as one notification.
    async fn flush_floods(&mut self, stop: &mut watch::Receiver<bool>) -> Result<(), Stopped> {
        let due = match &mut self.floods {
            Some(f) => f.due(Utc::now()),
            None => return Ok(()),
        };
        for g in due {
            tracing::info!(sink = %self.name, mine = %g.mine, events = g.count(), "notify: flood group sent");
            let n = Notification {
                reason: Reason::Flood,
                seq: g.last_seq,
                at: g.last_at,
                flood: Some(g.summary()),
                alert: g.last,
                silenced: false,
            };
            let record = self.deliver(&n, stop).await?;
            self.save(Some(&record), stop).await?;
        }
        Ok(())
    }

    /// The cursor to store: before the first event a flood group still holds, so that a restart
    /// reads it again.
    fn durable_cursor(&self) -> u64 {
        match self.floods.as_ref().and_then(FloodGroups::held_from) {
            Some(first) => self.cursor.min(first.saturating_sub(1)),
            None => self.cursor,
        }
    }

    /// Stores the cursor (with the delivery record, when given), retrying a failing store.
    async fn save(
        &mut self,
        record: Option<&Delivery>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), Stopped> {
        let mut retry = 0;
        loop {
            match self
                .store
                .advance_sink(&self.name, self.durable_cursor(), record)
                .await
            {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(sink = %self.name, error = %e, "notify: storing the cursor failed; retrying");
                    let wait = self.backoff.delay(retry);
                    retry += 1;
                    pause(stop, wait).await?;
                }
            }
        }
        if record.is_some() {
            self.since_prune += 1;
            if self.since_prune >= PRUNE_EVERY {
                self.since_prune = 0;
                if let Err(e) = self.store.prune_deliveries(KEEP_DELIVERED).await {
                    tracing::warn!(error = %e, "notify: pruning delivery records failed");
                }
            }
        }
        Ok(())
    }

    /// Renotifications and Alertmanager resends that are due.
    async fn tick(&mut self, stop: &mut watch::Receiver<bool>) -> Result<(), Stopped> {
        self.flush_floods(stop).await?;
        let now = Utc::now();
        let due = self
            .renotify
            .as_mut()
            .map(|r| r.due(now))
            .unwrap_or_default();
        let resend = match &self.transport {
            Transport::Alertmanager(am) => am.next_resend <= now,
            Transport::Webhook { .. } => false,
        };
        if due.is_empty() && !resend {
            return Ok(());
        }
        self.load_silences(now).await;
        for d in due {
            if is_silenced(&self.silences, &d.alert, now) {
                continue;
            }
            let n = Notification {
                reason: Reason::Renotify(d.count),
                seq: d.seq,
                at: now,
                alert: d.alert,
                silenced: false,
                flood: None,
            };
            // One attempt: the next renotification is the retry.
            let record = match self.attempt(&n).await {
                Ok(()) => {
                    self.metrics.delivered.inc();
                    DeliveryState::Delivered
                }
                Err(e) => {
                    self.metrics.failed.inc();
                    tracing::warn!(sink = %self.name, seq = n.seq, error = %e.message, "renotification failed");
                    DeliveryState::Failed
                }
            };
            let rec = Delivery {
                id: 0,
                sink: self.name.clone(),
                seq: n.seq,
                kind: n.type_str().to_owned(),
                mine: n.alert.mine.clone(),
                alert_id: n.alert.id.clone(),
                state: record,
                attempts: 1,
                first_attempt_at: now,
                last_attempt_at: Utc::now(),
                error: None,
            };
            self.save(Some(&rec), stop).await?;
        }
        if resend {
            self.resend(now).await;
        }
        Ok(())
    }

    /// Sends every firing alert to Alertmanager again, so it keeps them firing.
    async fn resend(&mut self, now: DateTime<Utc>) {
        let silences = &self.silences;
        let Transport::Alertmanager(am) = &mut self.transport else {
            return;
        };
        am.next_resend = now + TimeDelta::from_std(am.resend_every).unwrap_or(TimeDelta::MAX);
        am.firing.retain(|_, (a, _)| !is_silenced(silences, a, now));
        if am.firing.is_empty() {
            return;
        }
        let alerts: Vec<Value> = am
            .firing
            .values()
            .map(|(a, labels)| am_alert(a, labels.clone(), None, &am.public_url))
            .collect();
        let body = serde_json::to_vec(&alerts).unwrap_or_default();
        if let Err(e) = post(&am.client, &am.url, body, &[]).await {
            self.metrics.retries.inc();
            tracing::warn!(sink = %self.name, error = %e.message, "alertmanager resend failed; next one will retry");
        }
    }

    /// Reloads the silences that end after `since`.
    async fn load_silences(&mut self, since: DateTime<Utc>) {
        let q = SilenceQuery {
            ending_after: Some(since),
            mines: None,
            limit: minewatch_store::MAX_LIMIT,
        };
        match self.store.silences(&q).await {
            Ok(s) => self.silences = s,
            // Keeping the last list is better than sending everything or nothing.
            Err(e) => {
                tracing::warn!(sink = %self.name, error = %e, "notify: reading silences failed")
            }
        }
    }

    /// Pending events, and the age of the one being worked on (`None` when caught up).
    fn set_pending(&self, working_on: Option<DateTime<Utc>>) {
        let pending = self.latest.saturating_sub(self.cursor);
        self.metrics
            .pending
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
        let age = working_on.map_or(0, |at| (Utc::now() - at).num_seconds().max(0));
        self.metrics.oldest_age.set(age);
    }
}

/// Waits `d`, or less if told to stop.
async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) -> Result<(), Stopped> {
    if *stop.borrow() {
        return Err(Stopped);
    }
    tokio::select! {
        () = tokio::time::sleep(d) => Ok(()),
        _ = stop.changed() => Err(Stopped),
    }
}
