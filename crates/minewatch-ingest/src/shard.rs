//! A shard worker: owns the rule state of its mines (plain data, no locks), decodes each message,
//! runs the rules, refreshes its mines' live pictures, and hands the results to the writer.
//!
//! Whatever a message holds, it costs its shard bounded work and is acked once: a message applied
//! already is recognised by its digest and only acked; an oversized one, one from a mine this
//! instance will not watch, or one that makes the rules fail (a bug) is dead-lettered and acked;
//! at most `engine.max_elements` elements of one message are decoded.

use crate::acks::AckToken;
use crate::config::UnknownMines;
use crate::dedup;
use crate::writer::{AckError, WriterMsg};
use bytes::Bytes;
use minewatch_core::alert::Alert;
use minewatch_core::live::{LiveView, MineLive};
use minewatch_core::metrics::Metrics;
use minewatch_core::payload::{self, DecodeCtx, Reason, Rejected, RejectedElements, System};
use minewatch_core::registry::{MineDef, MineStatus};
use minewatch_core::time::{Millis, now_millis, to_datetime};
use minewatch_rules::Engine;
use minewatch_rules::kinds::feed_index::FeedIndex;
use minewatch_store::{Applied, DeadLetter, Example};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Key prefix of the engine snapshots in the store's state table (`engine/{mine}`).
pub const SNAPSHOT_PREFIX: &str = "engine/";

/// A message as it arrived.
#[derive(Debug)]
pub struct Inbound {
    pub topic: Arc<str>,
    /// The payload; only its first bytes when the message was oversized (see `oversize`).
    pub payload: Bytes,
    /// Present for QoS 1 messages: ack once stored.
    pub token: Option<AckToken>,
    pub arrived: Instant,
    /// Wall clock at arrival (for the wall-clock rules and the skew check).
    pub wall: Millis,
    /// [`dedup::digest`] of the topic and the whole payload.
    pub digest: u128,
    /// The payload's size when it was over `mqtt.max_packet_bytes`: the router kept only its
    /// first bytes, so an oversized message does not wait in a queue whole.
    pub oversize: Option<usize>,
}

impl Inbound {
    /// A message as received: its digest is taken here, and an oversized payload is cut to its
    /// first bytes.
    pub fn new(
        topic: Arc<str>,
        payload: Bytes,
        token: Option<AckToken>,
        max_bytes: usize,
    ) -> Inbound {
        let digest = dedup::digest(&topic, &payload);
        let (payload, oversize) = if payload.len() > max_bytes {
            let len = payload.len();
            // A copy: a slice would keep the whole payload alive while it waits in a queue.
            let head = &payload[..(payload::EXCERPT_LEN + 4).min(len)];
            (Bytes::copy_from_slice(head), Some(len))
        } else {
            (payload, None)
        };
        Inbound {
            topic,
            payload,
            token,
            arrived: Instant::now(),
            wall: now_millis(),
            digest,
            oversize,
        }
    }
}

/// Where a message goes: a mine's system, or nowhere (its topic names none).
#[derive(Debug, Clone)]
pub enum Route {
    /// `{prefix}/{mine}/{system}`.
    Mine { mine: Arc<str>, system: System },
    /// A topic that is not `{prefix}/{mine}/{system}`: dead-lettered (once) by shard 0.
    BadTopic,
}

/// Work for a shard.
#[derive(Debug)]
pub enum ShardMsg {
    /// A message, for a mine of this shard or (on shard 0) with a topic naming none.
    Publish { route: Route, inbound: Inbound },
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
        /// Told once the definition is in the live view.
        applied: oneshot::Sender<()>,
    },
    /// New rule parameters (a reload), for every mine of the shard from the next message on.
    Params {
        params: Box<minewatch_rules::Params>,
        applied: oneshot::Sender<()>,
    },
    /// A regulator's status order (None: back to the registry file's status).
    Status {
        mine: Arc<str>,
        status: Option<MineStatus>,
        /// Told once the order is in the live view, so the API's answer follows it.
        applied: oneshot::Sender<()>,
    },
    /// Active alerts, engine snapshots (by mine) and applied-message digests from the store at
    /// start.
    Restore {
        alerts: Vec<Alert>,
        /// (mine, snapshot JSON as stored): parsed here, in parallel across the shards, rather
        /// than one after another before the server is ready.
        snapshots: Vec<(String, String)>,
        /// Digests of the messages applied most recently, oldest first.
        applied: Vec<u128>,
    },
    /// Hand what the rules learned to the writer, to be stored.
    Snapshot,
    /// Answer once everything before this has been handed to the writer and stored.
    Flush(oneshot::Sender<()>),
    /// Stop after everything queued before this.
    Stop,
}

/// A rejected message as a dead letter.
pub fn dead_letter(
    topic: &str,
    mine: Option<&str>,
    system: Option<System>,
    r: Rejected,
    wall: Millis,
) -> DeadLetter {
    let example = Example {
        detail: r.detail.clone(),
        excerpt: r.excerpt.clone(),
    };
    DeadLetter {
        id: 0,
        received_at: to_datetime(wall),
        topic: topic.to_string(),
        mine: mine.map(str::to_string),
        system: system.map(|s| s.as_str().to_string()),
        reason: r.reason.as_str().to_string(),
        detail: r.detail,
        excerpt: r.excerpt,
        count: 1,
        examples: vec![example],
    }
}

/// The elements of one message rejected for one reason, as one dead letter with their count.
fn summary(
    topic: &str,
    mine: &str,
    system: System,
    r: RejectedElements,
    wall: Millis,
) -> DeadLetter {
    let mut examples = r.examples.into_iter();
    let first = examples.next().unwrap_or_else(|| Rejected {
        reason: r.reason,
        detail: String::new(),
        excerpt: String::new(),
    });
    let mut d = dead_letter(topic, Some(mine), Some(system), first, wall);
    d.count = r.count;
    d.examples.extend(examples.map(|e| Example {
        detail: e.detail,
        excerpt: e.excerpt,
    }));
    d
}

/// Shard settings.
#[derive(Debug, Clone)]
pub struct ShardCtx {
    pub index: usize,
    pub max_skew: Millis,
    /// `engine.max_elements`.
    pub max_elements: usize,
    /// `engine.dedup_window`: applied-message digests remembered.
    pub dedup_window: usize,
    /// `engine.unknown_mines`.
    pub unknown_mines: UnknownMines,
    /// `engine.max_unknown_mines`, over every shard.
    pub max_unknown_mines: usize,
    /// Mines outside the registry watched now, over every shard (checked against the cap).
    pub unknown_watched: Arc<AtomicUsize>,
}

/// What a shard builds its state from when it starts.
pub struct ShardInit {
    pub params: minewatch_rules::Params,
    /// The registry definitions of the mines this shard owns.
    pub defs: Vec<Arc<MineDef>>,
    /// Stored regulators' orders, which outrank the registry files' statuses.
    pub statuses: Arc<HashMap<String, MineStatus>>,
    /// The one index of window fingerprints every shard's mines hand in to (once per mine per
    /// window, off the per-reading path), so a feed copied from a mine of another shard is seen.
    pub feed_index: Arc<FeedIndex>,
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
        let mut engine = Engine::with_feed_index(self.params, self.defs, self.feed_index);
        for (id, m) in engine.mines.iter_mut() {
            if let Some(s) = self.statuses.get(&**id) {
                m.status_order = Some(*s);
                m.status = *s;
            }
        }
        (engine, self.built)
    }
}

/// A shard's own state besides the engine: what it has applied, and how many mines outside
/// the registry it watches.
struct Shard {
    ctx: ShardCtx,
    engine: Engine,
    applied: dedup::Applied,
    /// Mines outside the registry this shard watches (its share of `ctx.unknown_watched`).
    unknown: usize,
    live: Arc<LiveView>,
    metrics: Arc<Metrics>,
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
    let (engine, built) = init.build(&live);
    tracing::info!(
        shard = ctx.index,
        mines,
        secs = t0.elapsed().as_secs_f64(),
        "shard state built"
    );
    let _ = built.send(());
    let depth = metrics.queue(&format!("shard-{}", ctx.index));
    let mut shard = Shard {
        applied: dedup::Applied::new(ctx.dedup_window),
        ctx,
        engine,
        unknown: 0,
        live,
        metrics,
    };
    let mut changes = Vec::new();
    while let Some(msg) = rx.recv().await {
        depth.set(rx.len() as i64);
        let mut out = WriterMsg::default();
        match msg {
            ShardMsg::Publish { route, inbound } => {
                shard.publish(route, inbound, &mut out, &mut changes);
            }
            ShardMsg::Tick(wall) => shard.engine.tick(wall, &mut changes),
            ShardMsg::Ack {
                alert,
                by,
                note,
                reply,
            } => {
                let at = shard
                    .engine
                    .mines
                    .get(alert.mine.as_str())
                    .and_then(|m| m.clock)
                    .unwrap_or_else(now_millis);
                shard
                    .engine
                    .mine(&alert.mine)
                    .on_ack(&alert, &by, &note, at, &mut changes);
                out.reply = Some(reply);
            }
            ShardMsg::Params { params, applied } => {
                shard.engine.params = *params;
                let _ = applied.send(());
            }
            ShardMsg::Define { id, def, applied } => {
                let (engine, live) = (&mut shard.engine, &shard.live);
                engine.set_definition(&id, def, &mut changes);
                if let Some(m) = engine.mines.get(&id) {
                    live.mines
                        .insert(id.clone(), MineLive::new(m.def.clone(), m.status));
                }
                for s in System::ALL {
                    export(engine, &id, s, live);
                }
                shard.recount_unknown();
                let _ = applied.send(());
            }
            ShardMsg::Status {
                mine,
                status,
                applied,
            } => {
                shard.engine.set_status(&mine, status, &mut changes);
                let effective = shard.engine.mine(&mine).status;
                if let Some(mut l) = shard.live.mines.get_mut(&mine) {
                    l.status = effective;
                }
                let _ = applied.send(());
            }
            ShardMsg::Restore {
                alerts,
                snapshots,
                applied,
            } => {
                let engine = &mut shard.engine;
                for (mine, snap) in snapshots {
                    if let Err(e) = engine.mine(&mine).restore_snapshot(&snap) {
                        tracing::warn!(mine, error = %e, "ignoring an unreadable engine snapshot");
                    }
                }
                let mut by_mine: HashMap<String, Vec<Alert>> = Default::default();
                for a in alerts {
                    by_mine.entry(a.mine.clone()).or_default().push(a);
                }
                for (mine, alerts) in by_mine {
                    engine.mine(&mine).restore(&alerts, &mut changes);
                }
                for d in applied {
                    shard.applied.insert(d);
                }
                // Unknown mines restored with their alerts count against the cap, even beyond it.
                shard.recount_unknown();
            }
            ShardMsg::Snapshot => {
                out.states = shard
                    .engine
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
        if out.is_empty() {
            continue;
        }
        if writer.send(out).await.is_err() {
            tracing::error!(
                shard = shard.ctx.index,
                "the alert writer is gone; shard stops"
            );
            break;
        }
    }
}

impl Shard {
    /// One message: acked without effect if applied already; otherwise dead-lettered whole,
    /// or decoded and judged by the rules. Either way `out` carries its ack token, and the
    /// digest of a message applied now, so it is stored with the message's effects.
    fn publish(
        &mut self,
        route: Route,
        inbound: Inbound,
        out: &mut WriterMsg,
        changes: &mut Vec<minewatch_core::alert::Change>,
    ) {
        out.token = inbound.token;
        out.arrived = Some(inbound.arrived);
        let (mine, system) = match route {
            Route::Mine { mine, system } => (Some(mine), Some(system)),
            Route::BadTopic => (None, None),
        };
        if let Some(s) = system {
            self.metrics.messages[s.index()].inc();
        }
        if self.applied.contains(inbound.digest) {
            if let Some(s) = system {
                self.metrics.duplicates[s.index()].inc();
            }
            tracing::debug!(topic = %inbound.topic, "message applied already: acked, not applied again");
            return;
        }
        self.applied.insert(inbound.digest);
        out.applied = Some(Applied {
            mine: mine.clone(),
            digest: inbound.digest,
        });
        let (Some(mine), Some(system)) = (mine, system) else {
            self.metrics.rejected_topic.inc();
            let r = Rejected::message(
                Reason::BadTopic,
                "topic is not {prefix}/{mine}/{system}".into(),
                &inbound.payload,
            );
            out.dead_letters
                .push(dead_letter(&inbound.topic, None, None, r, inbound.wall));
            return;
        };
        let rejected = if let Some(size) = inbound.oversize {
            if self.engine.mines.contains_key(&*mine) {
                self.engine.on_rejected(
                    &mine,
                    system,
                    Reason::TooLarge,
                    &inbound.payload,
                    inbound.wall,
                    changes,
                );
            }
            Some(Rejected::message(
                Reason::TooLarge,
                format!("the message has {size} bytes, over mqtt.max_packet_bytes"),
                &inbound.payload,
            ))
        } else if let Err(detail) = self.admit(&mine) {
            Some(Rejected::message(
                Reason::UnknownMine,
                detail,
                &inbound.payload,
            ))
        } else {
            let t0 = Instant::now();
            let first_change = changes.len();
            // A bug in decoding or in a rule must cost one message, not the shard: every other
            // mine of the shard goes on, and the message is kept as a dead letter.
            let judged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.judge(&mine, system, &inbound, out, changes)
            }));
            self.metrics
                .rule_eval_seconds
                .observe(t0.elapsed().as_secs_f64());
            match judged {
                Ok(rejected) => rejected,
                Err(panic) => {
                    changes.truncate(first_change);
                    out.dead_letters.clear();
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    tracing::error!(topic = %inbound.topic, panic = %what, "handling a message failed (a bug); it is kept as a dead letter and the other mines go on");
                    Some(Rejected::message(
                        Reason::Internal,
                        format!("handling the message failed: {what}"),
                        &inbound.payload,
                    ))
                }
            }
        };
        if let Some(r) = rejected {
            self.metrics.reject(system, r.reason, 1);
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

    /// Decodes and judges one message of a watched mine; the rejection of the whole message, if
    /// it is rejected whole. Rejected elements become one dead letter per reason in `out`.
    fn judge(
        &mut self,
        mine: &Arc<str>,
        system: System,
        inbound: &Inbound,
        out: &mut WriterMsg,
        changes: &mut Vec<minewatch_core::alert::Change>,
    ) -> Option<Rejected> {
        let dctx = DecodeCtx {
            now: now_millis(),
            max_skew: self.ctx.max_skew,
            max_elements: self.ctx.max_elements,
        };
        // Tests inject a failure inside the guarded part here (never compiled outside tests).
        #[cfg(test)]
        if inbound.payload.starts_with(tests::PANIC) {
            panic!("injected failure");
        }
        let batch = match payload::decode(system, &inbound.payload, dctx) {
            Ok(batch) => batch,
            Err(r) => {
                // Counted against the mine, and what can still be read of it is judged.
                self.engine.on_rejected(
                    mine,
                    system,
                    r.reason,
                    &inbound.payload,
                    inbound.wall,
                    changes,
                );
                export(&self.engine, mine, system, &self.live);
                return Some(r);
            }
        };
        self.metrics.elements[system.index()].inc_by(batch.items.len() as u64);
        self.engine
            .on_batch(mine, system, &batch, inbound.wall, changes);
        export(&self.engine, mine, system, &self.live);
        for r in batch.rejected {
            self.metrics.reject(system, r.reason, r.count);
            out.dead_letters
                .push(summary(&inbound.topic, mine, system, r, inbound.wall));
        }
        None
    }

    /// Whether data from `mine` is taken: always for a mine already watched; for one the
    /// registry lacks, per `engine.unknown_mines` and while fewer than `max_unknown_mines` are
    /// watched. `Err` says why not.
    fn admit(&mut self, mine: &str) -> Result<(), String> {
        if self.engine.mines.contains_key(mine) {
            return Ok(());
        }
        if self.ctx.unknown_mines == UnknownMines::Refuse {
            return Err(format!(
                "mine {mine} is not in the registry, and engine.unknown_mines = \"refuse\""
            ));
        }
        let cap = self.ctx.max_unknown_mines;
        let taken =
            self.ctx
                .unknown_watched
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < cap).then_some(n + 1)
                });
        match taken {
            Ok(n) => {
                self.unknown += 1;
                self.metrics.unknown_mines.set((n + 1) as i64);
                tracing::warn!(
                    mine,
                    watched = n + 1,
                    "data from a mine the registry does not define: watching it (its devices raise alerts as unregistered)"
                );
                Ok(())
            }
            Err(_) => Err(format!(
                "mine {mine} is not in the registry, and {cap} such mines are watched already (engine.max_unknown_mines)"
            )),
        }
    }

    /// Counts this shard's mines outside the registry again (after a reload or a restore) and
    /// moves the shared count by the difference.
    fn recount_unknown(&mut self) {
        let now = self
            .engine
            .mines
            .values()
            .filter(|m| !m.def.registered)
            .count();
        let shared = &self.ctx.unknown_watched;
        let total = if now >= self.unknown {
            shared.fetch_add(now - self.unknown, Ordering::AcqRel) + (now - self.unknown)
        } else {
            shared.fetch_sub(self.unknown - now, Ordering::AcqRel) - (self.unknown - now)
        };
        self.unknown = now;
        self.metrics.unknown_mines.set(total as i64);
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

#[cfg(test)]
mod tests {
    use super::*;
    use minewatch_fixtures::mine::one_point_mine;
    use std::path::Path;

    /// A payload starting with this makes `judge` panic (see there).
    pub(super) const PANIC: &[u8] = b"PANIC";

    fn publish(topic: &str, payload: &str, pkid: u16) -> ShardMsg {
        let token = Some(AckToken {
            generation: 1,
            n: u64::from(pkid),
            pkid,
        });
        let inbound = Inbound::new(
            Arc::from(topic),
            Bytes::from(payload.to_owned()),
            token,
            1 << 20,
        );
        ShardMsg::Publish {
            route: Route::Mine {
                mine: Arc::from("M1"),
                system: System::Safety,
            },
            inbound,
        }
    }

    #[tokio::test]
    async fn a_message_that_makes_the_rules_fail_costs_that_message_only() {
        let def = MineDef::parse(Path::new("m1.toml"), &one_point_mine("M1")).expect("test mine");
        let (built, _) = oneshot::channel();
        let init = ShardInit {
            params: minewatch_rules::Params::default(),
            defs: vec![Arc::new(def)],
            statuses: Arc::new(HashMap::new()),
            feed_index: FeedIndex::shared(),
            built,
        };
        let ctx = ShardCtx {
            index: 0,
            max_skew: 300_000,
            max_elements: 100,
            dedup_window: 100,
            unknown_mines: UnknownMines::Watch,
            max_unknown_mines: 10,
            unknown_watched: Arc::new(AtomicUsize::new(0)),
        };
        let (tx, rx) = mpsc::channel(8);
        let (wtx, mut wrx) = mpsc::channel(8);
        let metrics = Arc::new(Metrics::new());
        let task = tokio::spawn(run(
            ctx,
            init,
            rx,
            wtx,
            Arc::new(LiveView::default()),
            metrics.clone(),
        ));
        let ts = minewatch_core::time::format_rfc3339(now_millis() - 60_000);
        let over = format!(r#"{{"ts":"{ts}","readings":[{{"point":"P1","value":1.2}}]}}"#);
        tx.send(publish("mines/M1/safety", "PANIC {}", 1))
            .await
            .expect("shard runs");
        tx.send(publish("mines/M1/safety", &over, 2))
            .await
            .expect("shard runs");
        async fn recv(rx: &mut mpsc::Receiver<WriterMsg>) -> WriterMsg {
            tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
                .await
                .expect("the shard answers")
                .expect("the shard runs")
        }
        let failed = recv(&mut wrx).await;
        assert_eq!(failed.token.map(|t| t.pkid), Some(1), "acked");
        assert!(failed.applied.is_some(), "remembered, so not tried again");
        assert!(failed.changes.is_empty());
        assert_eq!(failed.dead_letters.len(), 1);
        assert_eq!(failed.dead_letters[0].reason, "internal_error");
        assert!(
            failed.dead_letters[0].detail.contains("injected failure"),
            "{:?}",
            failed.dead_letters[0]
        );
        // The shard goes on: the next message raises its alert.
        let next = recv(&mut wrx).await;
        assert_eq!(next.token.map(|t| t.pkid), Some(2));
        assert_eq!(next.changes.len(), 1, "{:?}", next.changes);
        assert_eq!(&*next.changes[0].subject, "P1");
        drop(tx);
        task.await.expect("the shard stops cleanly");
    }
}
