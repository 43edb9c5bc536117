//! The router: hands each message to the shard of its mine (a stable hash of the mine id), after
//! dropping (and acking, through the writer) what this instance does not own. The MQTT reader
//! routes through it; so does [`Pipeline::submit`](crate::Pipeline::submit).

use crate::acks::AckToken;
use crate::config::Ownership;
use crate::shard::{Inbound, Route, ShardMsg};
use crate::writer::WriterMsg;
use minewatch_core::metrics::Metrics;
use minewatch_core::payload::parse_topic;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The shard that owns `mine`: a stable hash, so a mine always lands on the same shard.
pub fn shard_of(mine: &str, shards: usize) -> usize {
    // FNV-1a: stable across runs and processes (std's hasher is randomly keyed).
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    mine.hash(&mut h);
    (h.finish() % shards.max(1) as u64) as usize
}

struct Fnv(u64);
impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// Hands messages to the shard of their mine.
#[derive(Clone)]
pub struct Router {
    /// `{prefix}/{mine}/{system}`: the prefix topics are parsed with.
    pub(crate) prefix: Arc<str>,
    /// The mines this instance owns (`[mqtt] mines`); `None` owns every mine. Anything else is
    /// acked and dropped here, before decoding: the broker may still deliver filters of an older
    /// `mines` list held in the persistent session.
    pub(crate) owned: Option<Arc<Ownership>>,
    /// Each shard's queue, by [`shard_of`].
    pub(crate) shards: Vec<mpsc::Sender<ShardMsg>>,
    /// The alert writer's queue: the acks of messages dropped here still go out in order.
    pub(crate) writer: mpsc::Sender<WriterMsg>,
    pub(crate) metrics: Arc<Metrics>,
    /// `mqtt.max_packet_bytes`: a larger payload is kept only as an excerpt.
    pub(crate) max_bytes: usize,
}

/// The pipeline has stopped.
#[derive(Debug)]
pub struct Closed;

impl Router {
    /// A message as received, ready to route: its digest taken, an oversized payload cut to its
    /// first bytes (so it does not wait in a queue whole).
    pub fn inbound(&self, topic: &str, payload: bytes::Bytes, token: Option<AckToken>) -> Inbound {
        Inbound::new(Arc::from(topic), payload, token, self.max_bytes)
    }

    /// Routes one message, waiting while its shard's queue is full.
    pub async fn route(&self, inbound: Inbound) -> Result<(), Closed> {
        let Some((mine, system)) = parse_topic(&self.prefix, &inbound.topic) else {
            // Dead-lettered by one shard, so a copy delivered again is recognised there.
            let msg = ShardMsg::Publish {
                route: Route::BadTopic,
                inbound,
            };
            return self.shards[0].send(msg).await.map_err(|_| Closed);
        };
        if let Some(owned) = &self.owned
            && !owned.owns(mine)
        {
            self.metrics.not_owned[system.index()].inc();
            tracing::debug!(topic = %inbound.topic, "message for a mine this instance does not own: acked and dropped");
            // The ack still goes through the writer, which releases PUBACKs in arrival order.
            if inbound.token.is_none() {
                return Ok(());
            }
            let msg = WriterMsg {
                token: inbound.token,
                ..WriterMsg::default()
            };
            return self.writer.send(msg).await.map_err(|_| Closed);
        }
        let mine: Arc<str> = Arc::from(mine);
        let i = shard_of(&mine, self.shards.len());
        let route = Route::Mine { mine, system };
        self.shards[i]
            .send(ShardMsg::Publish { route, inbound })
            .await
            .map_err(|_| Closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MqttConfig;
    use minewatch_core::payload::System;

    /// A router owning `owned`, with its shard and writer queues.
    #[allow(clippy::type_complexity)]
    fn router(
        owned: &[&str],
    ) -> (
        Router,
        Vec<mpsc::Receiver<ShardMsg>>,
        mpsc::Receiver<WriterMsg>,
    ) {
        let cfg = MqttConfig {
            mines: owned.iter().map(|m| m.to_string()).collect(),
            ..MqttConfig::default()
        };
        let (writer, writer_rx) = mpsc::channel(8);
        let (shards, shard_rxs): (Vec<_>, Vec<_>) = (0..2).map(|_| mpsc::channel(8)).unzip();
        let r = Router {
            prefix: Arc::from("mines"),
            owned: cfg.owned().map(Arc::new),
            shards,
            writer,
            metrics: Arc::new(Metrics::new()),
            max_bytes: 1 << 20,
        };
        (r, shard_rxs, writer_rx)
    }

    fn inbound(topic: &str, pkid: Option<u16>) -> Inbound {
        let payload = bytes::Bytes::from_static(br#"{"ts":"2026-01-01T00:00:00Z","readings":[]}"#);
        let token = pkid.map(|pkid| AckToken {
            generation: 1,
            n: u64::from(pkid),
            pkid,
        });
        Inbound::new(Arc::from(topic), payload, token, 1 << 20)
    }

    fn queued(shards: &mut [mpsc::Receiver<ShardMsg>]) -> Vec<Arc<str>> {
        let mut mines = Vec::new();
        for rx in shards {
            while let Ok(ShardMsg::Publish { route, .. }) = rx.try_recv() {
                if let Route::Mine { mine, .. } = route {
                    mines.push(mine);
                }
            }
        }
        mines
    }

    #[tokio::test]
    async fn a_message_for_a_mine_not_owned_is_acked_and_dropped_before_the_rules() {
        let (r, mut shards, mut writer) = router(&["M1", "M2"]);
        r.route(inbound("mines/M3/safety", Some(7)))
            .await
            .expect("routed");
        r.route(inbound("mines/M3/power", None))
            .await
            .expect("routed");
        r.route(inbound("mines/M1/safety", Some(8)))
            .await
            .expect("routed");
        assert_eq!(
            queued(&mut shards),
            vec![Arc::from("M1")],
            "only M1 reaches a shard"
        );
        let ack = writer
            .try_recv()
            .expect("the dropped message's ack goes to the writer");
        assert_eq!(ack.token.map(|t| t.pkid), Some(7));
        assert!(
            ack.changes.is_empty() && ack.dead_letters.is_empty(),
            "{ack:?}"
        );
        assert!(writer.try_recv().is_err(), "QoS 0 has nothing to ack");
        assert_eq!(r.metrics.not_owned[System::Safety.index()].get(), 1);
        assert_eq!(r.metrics.not_owned[System::Power.index()].get(), 1);
        assert_eq!(r.metrics.messages[System::Safety.index()].get(), 0);
    }

    #[tokio::test]
    async fn an_instance_without_a_mines_list_routes_every_mine() {
        let (r, mut shards, mut writer) = router(&[]);
        r.route(inbound("mines/M3/safety", Some(1)))
            .await
            .expect("routed");
        r.route(inbound("mines/M9/video", Some(2)))
            .await
            .expect("routed");
        assert_eq!(queued(&mut shards).len(), 2);
        assert!(writer.try_recv().is_err());
        let dropped: u64 = r.metrics.not_owned.iter().map(|c| c.get()).sum();
        assert_eq!(dropped, 0);
    }

    #[test]
    fn a_mine_always_lands_on_the_same_shard() {
        assert_eq!(shard_of("140100001", 4), shard_of("140100001", 4));
        let spread: std::collections::HashSet<_> = (0..100)
            .map(|i| shard_of(&format!("1401{i:05}"), 4))
            .collect();
        assert_eq!(spread.len(), 4);
    }
}
