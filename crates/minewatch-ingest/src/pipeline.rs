//! Starting the pipeline (restoring its state from the store) and operator commands: acks,
//! status orders, registry reloads, flush and shutdown.

use crate::acks::{Acker, NoAcks};
use crate::config::{EngineConfig, MqttConfig, Ownership};
use crate::mqtt;
use crate::router::{Closed, Router, shard_of};
use crate::shard::{self, ShardCtx, ShardInit, ShardMsg};
pub use crate::writer::AckError;
use crate::writer::{Writer, WriterMsg, WriterParts};
use minewatch_core::alarm_policy::AlarmConfig;
use minewatch_core::alert::{Alert, Change, ChangeOp, WireEvent};
use minewatch_core::live::LiveView;
use minewatch_core::metrics::Metrics;
use minewatch_core::registry::{MineDef, MineStatus, Registry};
use minewatch_core::time::{Millis, millis, now_millis, to_datetime};
use minewatch_rules::RulesConfig;
use minewatch_store::{StatusOrder, Store, StoreError};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// How long startup waits for the shards to build their state and restore the stored alerts
/// (about half a second for a million points on two cores).
const STATE_WAIT: Duration = Duration::from_secs(120);

/// Keeps only the owned mines of a registry, so an instance watches (rules, the wall-clock checks,
/// live picture) exactly the mines it reads; says which registry mines are left to other instances and
/// which owned mines the registry lacks.
fn restrict(registry: &mut Registry, owned: &Ownership, at_start: bool) {
    let (foreign, missing) = owned.gaps(registry.mines.keys().map(|m| &**m));
    if at_start && !foreign.is_empty() {
        tracing::info!(
            count = foreign.len(),
            mines = ?foreign.iter().take(20).collect::<Vec<_>>(),
            "the registry defines mines this instance does not own (mqtt.mines): they are not watched here; another instance must own them"
        );
    }
    if !missing.is_empty() {
        tracing::warn!(
            mines = ?missing,
            "mqtt.mines lists mines the registry does not define: their data will raise alerts about unregistered devices"
        );
    }
    registry.mines.retain(|id, _| owned.owns(id));
    registry.files.retain(|_, id| owned.owns(id));
}

/// Why the pipeline could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `[mqtt]` names what cannot be read or used (the password's variable or file, the TLS
    /// files, `server_name`); the message names the key.
    #[error("{0}")]
    Mqtt(String),
}

/// What a registry reload did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReloadOutcome {
    pub mines: usize,
    pub changed: Vec<String>,
    pub errors: Vec<String>,
}

/// The running pipeline.
pub struct Pipeline {
    router: Router,
    live: Arc<LiveView>,
    store: Store,
    metrics: Arc<Metrics>,
    registry: Mutex<Registry>,
    registry_dir: PathBuf,
    shards: usize,
    command_timeout: Duration,
    /// The writer, the shards, then the tick and MQTT reader.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Whether telemetry comes from a broker (then its session must be up to be ready).
    mqtt: bool,
    /// Flipped to true to stop the tick and to stop the MQTT reader taking messages.
    stop: watch::Sender<bool>,
    /// Flipped to true once the writer has stored and acked everything: the MQTT reader, which
    /// kept polling so those acks reached the broker, then disconnects.
    drained: watch::Sender<bool>,
}

/// Everything the pipeline is built from.
pub struct PipelineParts {
    pub engine: EngineConfig,
    pub rules: RulesConfig,
    /// Where telemetry comes from; `None` feeds the pipeline only through [`Pipeline::submit`].
    pub mqtt: Option<MqttConfig>,
    /// Prefix used to parse topics when `mqtt` is `None`.
    pub prefix: String,
    pub registry_dir: PathBuf,
    pub store: Store,
    pub dead_letter_keep: u64,
    pub live: Arc<LiveView>,
    pub metrics: Arc<Metrics>,
    pub events: broadcast::Sender<WireEvent>,
    /// `[alarms]`.
    pub alarms: AlarmConfig,
}

impl Pipeline {
    /// Loads the registry, restores alerts and seq from the store, and starts the shards, the
    /// writer, the tick and (when configured) the MQTT reader. An `[mqtt]` not yet resolved (a
    /// config made in code) is resolved first: what it names outside itself is read now, and a
    /// problem fails the start.
    pub async fn start(mut parts: PipelineParts) -> Result<Arc<Pipeline>, StartError> {
        let started = std::time::Instant::now();
        if let Some(cfg) = parts.mqtt.as_mut()
            && !cfg.is_resolved()
        {
            cfg.resolve().map_err(StartError::Mqtt)?;
        }
        let dedup_window = parts.engine.dedup_window;
        // Parsing the registry (all cores) and reading the store overlap.
        let dir = parts.registry_dir.clone();
        let loading = tokio::task::spawn_blocking(move || Registry::load_dir(&dir));
        let store = parts.store.clone();
        let stored = async {
            let statuses = store.mine_statuses().await?;
            let active = store.active_alerts().await?;
            let latched = store.cleared_unacked().await?;
            let snapshots = store.states(shard::SNAPSHOT_PREFIX).await?;
            let applied = store.applied_messages(dedup_window as u64).await?;
            let seq = store.last_seq().await?;
            tracing::info!(
                secs = started.elapsed().as_secs_f64(),
                active = active.len(),
                snapshots = snapshots.len(),
                applied = applied.len(),
                "store read"
            );
            Ok::<_, StoreError>((statuses, active, latched, snapshots, applied, seq))
        };
        let (loaded, stored) = tokio::join!(loading, stored);
        let (statuses, active, latched, snapshots, applied, seq) = stored?;
        let (mut registry, report) = match loaded {
            Ok(r) => r,
            // load_all already turns a parser panic into per-file errors; this is a bug.
            Err(e) => panic!("registry loading failed: {e}"),
        };
        for e in &report.errors {
            tracing::error!(error = %e, "registry file refused; fix it and reload");
        }
        let owned = parts
            .mqtt
            .as_ref()
            .and_then(MqttConfig::owned)
            .map(Arc::new);
        if let Some(o) = &owned {
            restrict(&mut registry, o, true);
        }
        let metrics = parts.metrics.clone();
        metrics.startup_phase("registry", started.elapsed().as_secs_f64());
        metrics.registry_errors.set(report.errors.len() as i64);
        metrics.registry_mines.set(registry.mines.len() as i64);
        metrics.registry_points.set(registry.point_count() as i64);
        let statuses: HashMap<String, MineStatus> =
            statuses.into_iter().map(|o| (o.mine, o.status)).collect();
        tracing::info!(
            secs = started.elapsed().as_secs_f64(),
            mines = registry.mines.len(),
            points = registry.point_count(),
            active = active.len(),
            seq,
            "restoring state"
        );

        let n = parts.engine.shard_count();
        let params = parts.rules;
        let queue_room = n * parts.engine.shard_queue + parts.engine.writer_queue;
        let (writer_tx, writer_rx) = mpsc::channel(parts.engine.writer_queue.max(1));
        let mut per_shard: Vec<Vec<Arc<MineDef>>> = vec![Vec::new(); n];
        for def in registry.mines.values() {
            per_shard[shard_of(&def.id, n)].push(def.clone());
        }
        let statuses = Arc::new(statuses);
        let mut restore: Vec<Vec<Alert>> = vec![Vec::new(); n];
        for a in &active {
            restore[shard_of(&a.mine, n)].push(a.clone());
        }
        let mut restore_snaps: Vec<Vec<(String, String)>> = vec![Vec::new(); n];
        for (key, value) in snapshots {
            let Some(mine) = key.strip_prefix(shard::SNAPSHOT_PREFIX) else {
                continue;
            };
            // What a mine learned while this instance owned it stays in the store, unused.
            if owned.as_ref().is_some_and(|o| !o.owns(mine)) {
                continue;
            }
            restore_snaps[shard_of(mine, n)].push((mine.to_string(), value));
        }
        // Oldest first, each to the shard that will see the message again (bad topics: shard 0).
        let mut restore_applied: Vec<Vec<u128>> = vec![Vec::new(); n];
        for (mine, digest) in applied.into_iter().rev() {
            let i = if mine.is_empty() {
                0
            } else {
                shard_of(&mine, n)
            };
            restore_applied[i].push(digest);
        }
        let unknown_watched = Arc::new(std::sync::atomic::AtomicUsize::new(0));

        let generation = Arc::new(AtomicU64::new(0));
        let (acker, mqtt): (Box<dyn Acker>, _) = match &parts.mqtt {
            Some(cfg) => {
                let (client, eventloop) =
                    mqtt::connect(cfg, queue_room).map_err(StartError::Mqtt)?;
                let acker = mqtt::acker(client.clone(), generation.clone(), metrics.clone());
                (Box::new(acker), Some((cfg.clone(), client, eventloop)))
            }
            None => (Box::new(NoAcks), None),
        };
        let writer = Writer::new(WriterParts {
            store: store.clone(),
            live: parts.live.clone(),
            metrics: metrics.clone(),
            events: parts.events.clone(),
            acker,
            active,
            latched,
            alarms: parts.alarms.clone(),
            seq,
            batch: parts.engine.writer_batch,
            dead_letter_keep: parts.dead_letter_keep,
            dedup_window,
        });
        let mut tasks = vec![tokio::spawn(writer.run(writer_rx))];
        let mut shard_txs = Vec::with_capacity(n);
        let mut built = Vec::with_capacity(n);
        let feed_index = minewatch_rules::kinds::feed_index::FeedIndex::shared();
        for (i, defs) in per_shard.into_iter().enumerate() {
            let (built_tx, built_rx) = oneshot::channel();
            built.push(built_rx);
            let init = ShardInit {
                params,
                defs,
                statuses: statuses.clone(),
                feed_index: feed_index.clone(),
                built: built_tx,
            };
            let (tx, rx) = mpsc::channel(parts.engine.shard_queue.max(2));
            // Restore before anything else reaches the shard (the queue is empty, so this fits).
            let _ = tx.try_send(ShardMsg::Restore {
                alerts: std::mem::take(&mut restore[i]),
                snapshots: std::mem::take(&mut restore_snaps[i]),
                applied: std::mem::take(&mut restore_applied[i]),
            });
            let ctx = ShardCtx {
                index: i,
                max_skew: millis(parts.engine.max_clock_skew),
                max_elements: parts.engine.max_elements.max(1),
                dedup_window,
                unknown_mines: parts.engine.unknown_mines,
                max_unknown_mines: parts.engine.max_unknown_mines,
                unknown_watched: unknown_watched.clone(),
            };
            tasks.push(tokio::spawn(shard::run(
                ctx,
                init,
                rx,
                writer_tx.clone(),
                parts.live.clone(),
                metrics.clone(),
            )));
            shard_txs.push(tx);
        }
        let prefix = parts
            .mqtt
            .as_ref()
            .map_or(parts.prefix.clone(), |m| m.prefix.clone());
        let router = Router {
            prefix: Arc::from(prefix.as_str()),
            owned: owned.clone(),
            shards: shard_txs,
            writer: writer_tx,
            metrics: metrics.clone(),
            max_bytes: parts
                .mqtt
                .as_ref()
                .map_or(usize::MAX, |m| m.max_packet_bytes),
        };
        let (stop, _) = watch::channel(false);
        let (drained, _) = watch::channel(false);
        tasks.push(tokio::spawn(tick(
            router.shards.clone(),
            parts.engine.tick,
            parts.engine.snapshot_every,
            stop.subscribe(),
        )));
        if let Some((cfg, client, eventloop)) = mqtt {
            tasks.push(tokio::spawn(mqtt::run(mqtt::ReaderParts {
                cfg,
                client,
                eventloop,
                generation,
                router: router.clone(),
                metrics: metrics.clone(),
                shutdown: stop.subscribe(),
                drained: drained.subscribe(),
            })));
        }
        let pipeline = Arc::new(Pipeline {
            router,
            live: parts.live,
            store,
            metrics: metrics.clone(),
            registry: Mutex::new(registry),
            registry_dir: parts.registry_dir,
            shards: n,
            command_timeout: parts.engine.command_timeout,
            tasks: Mutex::new(tasks),
            mqtt: parts.mqtt.is_some(),
            stop,
            drained,
        });
        // Started means every shard has built its state and its mines are in the live view (the
        // shards build in parallel). The stored alerts are already there (the writer has them);
        // each shard restores what its rules had learned before it takes its first message.
        let all_built = async {
            for b in built {
                b.await.map_err(|_| Closed)?;
            }
            Ok::<(), Closed>(())
        };
        match tokio::time::timeout(STATE_WAIT, all_built).await {
            Ok(Ok(())) => {}
            Ok(Err(Closed)) => tracing::error!("a shard stopped while building its state"),
            Err(_) => tracing::warn!(
                secs = STATE_WAIT.as_secs(),
                "the shards are still building their state; serving anyway"
            ),
        }
        let secs = started.elapsed().as_secs_f64();
        metrics.startup_phase("state", secs);
        tracing::info!(secs, "engine state and live view built");
        Ok(pipeline)
    }

    /// Why the pipeline cannot do its work now, if it cannot: one of its tasks has stopped (a
    /// panic), or the broker session is down. `None` when it can.
    pub fn not_ready(&self) -> Option<String> {
        let stopped = match self.tasks.lock() {
            Ok(tasks) => tasks.iter().position(JoinHandle::is_finished),
            Err(_) => Some(0),
        };
        if let Some(i) = stopped {
            // Tasks are [writer, shard 0..n, tick, mqtt].
            return Some(match i {
                0 => "the alert writer has stopped".to_string(),
                i if i <= self.shards => format!("shard {} has stopped", i - 1),
                i if i == self.shards + 1 => "the tick has stopped".to_string(),
                _ => "the MQTT reader has stopped".to_string(),
            });
        }
        (self.mqtt && self.metrics.mqtt_connected.get() != 1)
            .then(|| "the broker session is down".to_string())
    }

    /// Feeds one message as if it came from the broker (no ack).
    pub async fn submit(&self, topic: &str, payload: bytes::Bytes) -> Result<(), Closed> {
        let inbound = self.router.inbound(topic, payload, None);
        self.router.route(inbound).await
    }

    /// Waits until everything submitted so far is stored and published.
    pub async fn flush(&self) -> Result<(), Closed> {
        let mut waits = Vec::new();
        for s in &self.router.shards {
            let (tx, rx) = oneshot::channel();
            s.send(ShardMsg::Flush(tx)).await.map_err(|_| Closed)?;
            waits.push(rx);
        }
        for w in waits {
            w.await.map_err(|_| Closed)?;
        }
        Ok(())
    }

    fn shard(&self, mine: &str) -> &mpsc::Sender<ShardMsg> {
        &self.router.shards[shard_of(mine, self.shards)]
    }

    async fn with_timeout<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, AckError>>,
    ) -> Result<T, AckError> {
        tokio::time::timeout(self.command_timeout, f)
            .await
            .unwrap_or_else(|_| {
                Err(AckError::Unavailable(
                    "the pipeline did not answer in time".into(),
                ))
            })
    }

    /// An operator acknowledges alert `id`.
    pub async fn ack(&self, id: &str, by: &str, note: &str) -> Result<Alert, AckError> {
        let alert = match self
            .live
            .alerts
            .iter()
            .find(|a| a.id == id)
            .map(|a| (**a.value()).clone())
        {
            Some(a) => a,
            None => match self.store.alert(id).await {
                Ok(Some((a, _))) => a,
                Ok(None) => return Err(AckError::NotFound(id.to_string())),
                Err(e) => return Err(AckError::Unavailable(e.to_string())),
            },
        };
        if alert.ack.is_some() {
            return Err(AckError::Conflict(format!(
                "alert {id} is already acknowledged"
            )));
        }
        let (reply, rx) = oneshot::channel();
        let msg = ShardMsg::Ack {
            alert: Box::new(alert.clone()),
            by: by.to_string(),
            note: note.to_string(),
            reply,
        };
        self.ask(self.shard(&alert.mine), msg, rx).await
    }

    /// An operator shelves alert `id` (active, or cleared and waiting for an ack) until `until`
    /// (wall clock, ms), or takes it back from the shelf (`shelve` = `None`).
    pub async fn shelve(
        &self,
        id: &str,
        by: &str,
        shelve: Option<(String, Millis)>,
    ) -> Result<Alert, AckError> {
        let found = self
            .live
            .alerts
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.value().clone())
            .or_else(|| self.live.cleared.get(id).map(|a| a.value().clone()));
        let Some(alert) = found else {
            return Err(AckError::NotFound(format!(
                "no active or cleared-unacknowledged alert {id}"
            )));
        };
        let (id, by) = (id.to_string(), by.to_string());
        let op = match shelve {
            Some((reason, until)) => ChangeOp::Shelve {
                id,
                by,
                reason,
                until,
            },
            None => ChangeOp::Unshelve { id, by },
        };
        let (reply, rx) = oneshot::channel();
        let msg = WriterMsg {
            changes: vec![Change::command(op, &alert, now_millis())],
            reply: Some(reply),
            ..WriterMsg::default()
        };
        self.ask(&self.router.writer, msg, rx).await
    }

    /// Sends an operator's command to `to` and waits for its answer, within `command_timeout`.
    async fn ask<M>(
        &self,
        to: &mpsc::Sender<M>,
        msg: M,
        answer: oneshot::Receiver<Result<Alert, AckError>>,
    ) -> Result<Alert, AckError> {
        let gone = || AckError::Unavailable("shutting down".into());
        self.with_timeout(async {
            to.send(msg).await.map_err(|_| gone())?;
            answer.await.map_err(|_| gone())?
        })
        .await
    }

    /// A regulator's status order for `mine`, stored, outranking the registry file.
    pub async fn set_status(
        &self,
        mine: &str,
        status: MineStatus,
        by: &str,
        note: &str,
    ) -> Result<(), AckError> {
        if !self.live.mines.contains_key(mine) {
            return Err(AckError::NotFound(mine.to_string()));
        }
        let order = StatusOrder {
            mine: mine.to_string(),
            status,
            by: by.to_string(),
            at: to_datetime(now_millis()),
            note: note.to_string(),
        };
        self.store
            .set_mine_status(&order)
            .await
            .map_err(|e| AckError::Unavailable(e.to_string()))?;
        // Answered once the live view shows the order: a GET after the 200 sees it.
        let (applied, done) = oneshot::channel();
        let msg = ShardMsg::Status {
            mine: Arc::from(mine),
            status: Some(status),
            applied,
        };
        let gone = || AckError::Unavailable("shutting down".into());
        self.with_timeout(async {
            self.shard(mine).send(msg).await.map_err(|_| gone())?;
            done.await.map_err(|_| gone())
        })
        .await
    }

    /// Puts new rule parameters in force in every shard (from each shard's next message on);
    /// answers once all have taken them, or names the shards that did not in time.
    pub async fn set_params(&self, params: &minewatch_rules::Params) -> Result<(), String> {
        let mut late = Vec::new();
        for i in 0..self.shards {
            let (applied, done) = oneshot::channel();
            let msg = ShardMsg::Params {
                params: Box::new(*params),
                applied,
            };
            let sent = async {
                self.router.shards[i].send(msg).await.map_err(|_| ())?;
                done.await.map_err(|_| ())
            };
            if !matches!(
                tokio::time::timeout(self.command_timeout, sent).await,
                Ok(Ok(()))
            ) {
                late.push(i.to_string());
            }
        }
        if late.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "rules: shard {} did not take the new parameters within {:?}",
                late.join(", "),
                self.command_timeout
            ))
        }
    }

    /// Re-reads the registry directory: good files replace their mines, a bad file keeps its
    /// mine's old definition and is reported.
    pub async fn reload(&self) -> ReloadOutcome {
        let dir = self.registry_dir.clone();
        let mut current = match self.registry.lock() {
            Ok(r) => r.clone(),
            Err(p) => p.into_inner().clone(),
        };
        let owned = self.router.owned.clone();
        let (reg, report) = match tokio::task::spawn_blocking(move || {
            let mut report = current.reload(&dir);
            if let Some(o) = owned {
                restrict(&mut current, &o, false);
                report.changed.retain(|id| o.owns(id));
            }
            (current, report)
        })
        .await
        {
            Ok(x) => x,
            Err(e) => {
                return ReloadOutcome {
                    errors: vec![format!("reload failed: {e}")],
                    ..ReloadOutcome::default()
                };
            }
        };
        for e in &report.errors {
            tracing::error!(error = %e, "registry file refused on reload; its previous definition stays");
        }
        // Answered once every changed mine's shard shows its new definition.
        let mut applied = Vec::with_capacity(report.changed.len());
        let mut late = Vec::new();
        for id in &report.changed {
            let (done, answer) = oneshot::channel();
            let msg = ShardMsg::Define {
                id: id.clone(),
                def: reg.mines.get(id).cloned(),
                applied: done,
            };
            match tokio::time::timeout(self.command_timeout, self.shard(id).send(msg)).await {
                Ok(Ok(())) => applied.push((id, answer)),
                _ => late.push(id),
            }
        }
        for (id, answer) in applied {
            if !matches!(
                tokio::time::timeout(self.command_timeout, answer).await,
                Ok(Ok(()))
            ) {
                late.push(id);
            }
        }
        for id in &late {
            tracing::error!(mine = %id, "the shard did not apply the new definition in time");
        }
        self.metrics.registry_errors.set(report.errors.len() as i64);
        self.metrics.registry_mines.set(reg.mines.len() as i64);
        self.metrics.registry_points.set(reg.point_count() as i64);
        let outcome = ReloadOutcome {
            mines: reg.mines.len(),
            changed: report.changed.iter().map(|s| s.to_string()).collect(),
            errors: (report.errors.iter().map(|e| e.to_string()))
                .chain(
                    late.iter()
                        .map(|id| format!("{id}: not applied within {:?}", self.command_timeout)),
                )
                .collect(),
        };
        if let Ok(mut r) = self.registry.lock() {
            *r = reg;
        }
        tracing::info!(mines = outcome.mines, changed = ?outcome.changed, errors = outcome.errors.len(), "registry reloaded");
        outcome
    }

    /// Stops MQTT and the tick, lets the shards and then the writer finish what they hold (so it
    /// is stored), and waits for them.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let mut tasks: Vec<JoinHandle<()>> = match self.tasks.lock() {
            Ok(mut t) => t.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        let limit = Duration::from_secs(10);
        // Tasks are [writer, shard 0..n, tick, mqtt]. The tick stops now; the MQTT reader stops
        // taking messages but keeps its connection until the writer has acked what it took.
        let mqtt = if tasks.len() > 2 + self.shards {
            tasks.pop()
        } else {
            None
        };
        for t in tasks.drain((1 + self.shards).min(tasks.len())..) {
            let _ = tokio::time::timeout(limit, t).await;
        }
        for s in &self.router.shards {
            // What the rules learned is stored before the shard stops.
            let _ = tokio::time::timeout(limit, s.send(ShardMsg::Snapshot)).await;
            let _ = tokio::time::timeout(limit, s.send(ShardMsg::Stop)).await;
        }
        for t in tasks.drain(1.min(tasks.len())..) {
            if tokio::time::timeout(limit, t).await.is_err() {
                tracing::warn!("a shard did not stop within 10 s");
            }
        }
        let stop = WriterMsg {
            stop: true,
            ..WriterMsg::default()
        };
        let _ = tokio::time::timeout(limit, self.router.writer.send(stop)).await;
        for t in tasks {
            if tokio::time::timeout(limit, t).await.is_err() {
                tracing::warn!("the alert writer did not stop within 10 s");
            }
        }
        let _ = self.drained.send(true);
        if let Some(t) = mqtt
            && tokio::time::timeout(limit, t).await.is_err()
        {
            tracing::warn!("the MQTT reader did not stop within 10 s");
        }
    }
}

/// Sends a wall-clock tick to every shard (a full queue skips a tick: the next one will do), and
/// every `snapshot_every` asks the shards to store what the rules learned.
async fn tick(
    shards: Vec<mpsc::Sender<ShardMsg>>,
    every: Duration,
    snapshot_every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval(every.max(Duration::from_millis(10)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut snapshots = tokio::time::interval(snapshot_every.max(Duration::from_secs(1)));
    snapshots.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    snapshots.tick().await;
    loop {
        tokio::select! {
            _ = interval.tick() => {
                let wall = now_millis();
                for s in &shards {
                    let _ = s.try_send(ShardMsg::Tick(wall));
                }
            }
            _ = snapshots.tick() => {
                for s in &shards {
                    let _ = s.try_send(ShardMsg::Snapshot);
                }
            }
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minewatch_fixtures::mine::empty_mine;
    use std::path::Path;

    fn def(id: &str) -> Arc<MineDef> {
        let path = format!("{id}.toml");
        Arc::new(
            MineDef::parse(Path::new(&path), &empty_mine(id)).unwrap_or_else(|e| panic!("{e}")),
        )
    }

    #[test]
    fn an_instance_watches_only_the_registry_mines_it_owns() {
        let mut reg = Registry::default();
        for id in ["M1", "M2", "M3"] {
            reg.mines.insert(Arc::from(id), def(id));
            reg.files
                .insert(PathBuf::from(format!("{id}.toml")), Arc::from(id));
        }
        let cfg = MqttConfig {
            mines: vec!["M1".into(), "M3".into(), "M9".into()],
            ..MqttConfig::default()
        };
        restrict(&mut reg, &cfg.owned().expect("a list"), true);
        let mut kept: Vec<&str> = reg.mines.keys().map(|m| &**m).collect();
        kept.sort_unstable();
        assert_eq!(kept, vec!["M1", "M3"]);
        assert_eq!(reg.files.len(), 2);
    }
}
