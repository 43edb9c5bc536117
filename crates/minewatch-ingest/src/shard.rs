//! A shard worker: owns the rule state of its mines (plain data, no locks), decodes each message,
//! runs the rules, refreshes its mines' live pictures, and hands the results to the writer.

use crate::acks::AckToken;
use crate::writer::{AckError, WriterMsg};
use bytes::Bytes;
use minewatch_core::alert::Alert;
use minewatch_core::live::{LiveView, MineLive};
use minewatch_core::metrics::Metrics;
use minewatch_core::payload::{self, DecodeCtx, Rejected, System};
use minewatch_core::registry::{MineDef, MineStatus};
use minewatch_core::time::{Millis, now_millis, to_datetime};
use minewatch_rules::Engine;
use minewatch_store::DeadLetter;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Key prefix of the engine snapshots in the store's state table (`engine/{mine}`).
pub const SNAPSHOT_PREFIX: &str = "engine/";

/// A message as it arrived.
#[derive(Debug)]
pub struct Inbound {
    pub topic: Arc<str>,
    pub payload: Bytes,
    /// Present for QoS 1 messages: ack once stored.
    pub token: Option<AckToken>,
    pub arrived: Instant,
    /// Wall clock at arrival (for `system_silent` and the skew check).
    pub wall: Millis,
}

/// Work for a shard.
#[derive(Debug)]
pub enum ShardMsg {
    /// A message of `system` from `mine`.
    Publish {
        mine: Arc<str>,
        system: System,
        inbound: Inbound,
    },
    /// Wall-clock tick.
    Tick(Millis),
    /// An operator acknowledged `alert`.
    Ack {
        alert: Box<Alert>,
        by: String,
        note: String,
        reply: oneshot::Sender<Result<Alert, AckError>>,
    },
    /// A mine's definition changed (None: it left the registry).
    Define {
        id: Arc<str>,
        def: Option<Arc<MineDef>>,
    },
    /// A regulator's status order (None: back to the registry file's status).
    Status {
        mine: Arc<str>,
        status: Option<MineStatus>,
    },
    /// Active alerts and engine snapshots (by mine) from the store at start.
    Restore {
        alerts: Vec<Alert>,
        /// (mine, snapshot JSON as stored): parsed here, in parallel across the shards, rather
        /// than one after another before the server is ready.
        snapshots: Vec<(String, String)>,
    },
    /// Hand what the rules learned to the writer, to be stored.
    Snapshot,
    /// Answer once everything before this has been handed to the writer and stored.
    Flush(oneshot::Sender<()>),
    /// Stop after everything queued before this.
    Stop,
}

/// A rejected message or element as a dead letter.
pub fn dead_letter(
    topic: &str,
    mine: Option<&str>,
    system: Option<System>,
    r: Rejected,
    wall: Millis,
) -> DeadLetter {
    DeadLetter {
        id: 0,
        received_at: to_datetime(wall),
        topic: topic.to_string(),
        mine: mine.map(str::to_string),
        system: system.map(|s| s.as_str().to_string()),
        reason: r.reason.as_str().to_string(),
        detail: r.detail,
        excerpt: r.excerpt,
    }
}

/// Shard settings.
#[derive(Debug, Clone, Copy)]
pub struct ShardCtx {
    pub index: usize,
    pub max_skew: Millis,
}

/// What a shard builds its state from when it starts.
pub struct ShardInit {
    pub params: minewatch_rules::config::Params,
    /// The registry definitions of the mines this shard owns.
    pub defs: Vec<Arc<MineDef>>,
    /// Stored regulators' orders, which outrank the registry files' statuses.
    pub statuses: Arc<HashMap<String, MineStatus>>,
    /// Told once the state is built and the mines are in the live view.
    pub built: oneshot::Sender<()>,
}

impl ShardInit {
    /// The shard's engine, and its mines' entries in the live view. Done by the shard itself, so
    /// the shards build a million points' state in parallel.
    fn build(self, live: &LiveView) -> (Engine, oneshot::Sender<()>) {
        for def in &self.defs {
            let status = self.statuses.get(&*def.id).copied().unwrap_or(def.status);
            live.mines
                .insert(def.id.clone(), MineLive::new(def.clone(), status));
        }
        let mut engine = Engine::new(self.params, self.defs);
        for (id, m) in engine.mines.iter_mut() {
            if let Some(s) = self.statuses.get(&**id) {
                m.status_order = Some(*s);
                m.status = *s;
            }
        }
        (engine, self.built)
    }
}

/// Runs a shard until its queue closes.
pub async fn run(
    ctx: ShardCtx,
    init: ShardInit,
    mut rx: mpsc::Receiver<ShardMsg>,
    writer: mpsc::Sender<WriterMsg>,
    live: Arc<LiveView>,
    metrics: Arc<Metrics>,
) {
    let t0 = Instant::now();
    let mines = init.defs.len();
    let (mut engine, built) = init.build(&live);
    tracing::info!(
        shard = ctx.index,
        mines,
        secs = t0.elapsed().as_secs_f64(),
        "shard state built"
    );
    let _ = built.send(());
    let depth = metrics.queue(&format!("shard-{}", ctx.index));
    let mut changes = Vec::new();
    while let Some(msg) = rx.recv().await {
        depth.set(rx.len() as i64);
        let mut out = WriterMsg::default();
        match msg {
            ShardMsg::Publish {
                mine,
                system,
                inbound,
            } => {
                let t0 = Instant::now();
                metrics.messages[system.index()].inc();
                let dctx = DecodeCtx {
                    now: now_millis(),
                    max_skew: ctx.max_skew,
                };
                match payload::decode(system, &inbound.payload, dctx) {
                    Ok(batch) => {
                        metrics.elements[system.index()].inc_by(batch.items.len() as u64);
                        for r in &batch.rejected {
                            metrics.reject(system, r.reason);
                        }
                        engine.on_batch(&mine, system, &batch, inbound.wall, &mut changes);
                        export(&engine, &mine, system, &live);
                        out.dead_letters = batch
                            .rejected
                            .into_iter()
                            .map(|r| {
                                dead_letter(
                                    &inbound.topic,
                                    Some(&mine),
                                    Some(system),
                                    r,
                                    inbound.wall,
                                )
                            })
                            .collect();
                    }
                    Err(r) => {
                        metrics.reject(system, r.reason);
                        tracing::debug!(topic = %inbound.topic, reason = r.reason.as_str(), detail = %r.detail, "message rejected");
                        out.dead_letters.push(dead_letter(
                            &inbound.topic,
                            Some(&mine),
                            Some(system),
                            r,
                            inbound.wall,
                        ));
                    }
                }
                metrics
                    .rule_eval_seconds
                    .observe(t0.elapsed().as_secs_f64());
                out.token = inbound.token;
                out.arrived = Some(inbound.arrived);
            }
            ShardMsg::Tick(wall) => engine.tick(wall, &mut changes),
            ShardMsg::Ack {
                alert,
                by,
                note,
                reply,
            } => {
                let at = engine
                    .mines
                    .get(alert.mine.as_str())
                    .and_then(|m| m.clock)
                    .unwrap_or_else(now_millis);
                engine
                    .mine(&alert.mine)
                    .on_ack(&alert, &by, &note, at, &mut changes);
                out.reply = Some(reply);
            }
            ShardMsg::Define { id, def } => {
                engine.set_definition(&id, def, &mut changes);
                if let Some(m) = engine.mines.get(&id) {
                    live.mines
                        .insert(id.clone(), MineLive::new(m.def.clone(), m.status));
                }
                for s in System::ALL {
                    export(&engine, &id, s, &live);
                }
            }
            ShardMsg::Status { mine, status } => {
                engine.set_status(&mine, status, &mut changes);
                let effective = engine.mine(&mine).status;
                if let Some(mut l) = live.mines.get_mut(&mine) {
                    l.status = effective;
                }
            }
            ShardMsg::Restore { alerts, snapshots } => {
                for (mine, snap) in snapshots {
                    if let Err(e) = engine.mine(&mine).restore_snapshot(&snap) {
                        tracing::warn!(mine, error = %e, "ignoring an unreadable engine snapshot");
                    }
                }
                let mut by_mine: std::collections::HashMap<String, Vec<Alert>> = Default::default();
                for a in alerts {
                    by_mine.entry(a.mine.clone()).or_default().push(a);
                }
                for (mine, alerts) in by_mine {
                    engine.mine(&mine).restore(&alerts, &mut changes);
                }
            }
            ShardMsg::Snapshot => {
                out.states = engine
                    .mines
                    .iter()
                    .filter(|(_, m)| m.def.registered)
                    .map(|(id, m)| (format!("{SNAPSHOT_PREFIX}{id}"), m.snapshot().to_string()))
                    .collect();
            }
            ShardMsg::Flush(done) => out.flushed = Some(done),
            ShardMsg::Stop => break,
        }
        out.changes = std::mem::take(&mut changes);
        if out.changes.is_empty()
            && out.dead_letters.is_empty()
            && out.states.is_empty()
            && out.token.is_none()
            && out.reply.is_none()
            && out.flushed.is_none()
        {
            continue;
        }
        if writer.send(out).await.is_err() {
            tracing::error!(shard = ctx.index, "the alert writer is gone; shard stops");
            break;
        }
    }
}

/// Copies a mine's state for `system` into the live view (one map write per message).
fn export(engine: &Engine, mine: &str, system: System, live: &LiveView) {
    let Some(state) = engine.mines.get(mine) else {
        return;
    };
    match live.mines.get_mut(mine) {
        Some(mut l) => state.export(system, &mut l),
        None => {
            let mut l = MineLive::new(state.def.clone(), state.status);
            state.export(system, &mut l);
            live.mines.insert(state.def.id.clone(), l);
        }
    }
}
