//! MQTT acknowledgements: a message is acked only after its effects are stored, and PUBACKs go out
//! in the order the messages arrived (MQTT 3.1.1 §4.6), even though shards finish out of order.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What is needed to ack one QoS 1 message: its connection generation, its arrival number within
/// that connection, and its packet id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckToken {
    pub generation: u64,
    pub n: u64,
    pub pkid: u16,
}

/// Sends PUBACKs.
pub trait Acker: Send + 'static {
    /// Acks one message; tokens of an older connection generation must be dropped. An ack that
    /// cannot be handed on now is kept, in order, for [`Acker::flush`].
    fn ack(&mut self, token: AckToken);
    /// Hands on acks kept by earlier calls, as far as there is room.
    fn flush(&mut self) {}
    /// Acks kept, waiting for room.
    fn pending(&self) -> usize {
        0
    }
}

/// Releases tokens in arrival order within a generation; a newer generation voids older tokens
/// (their packet ids mean nothing on the new connection: the broker redelivers those messages).
#[derive(Debug, Default)]
pub struct AckSequencer {
    generation: u64,
    next: u64,
    held: BTreeMap<u64, AckToken>,
}

impl AckSequencer {
    /// Marks `t` complete and returns the tokens now releasable, in order.
    pub fn complete(&mut self, t: AckToken, ready: &mut Vec<AckToken>) {
        if t.generation < self.generation {
            return;
        }
        if t.generation > self.generation {
            self.generation = t.generation;
            self.next = 0;
            self.held.clear();
        }
        self.held.insert(t.n, t);
        while let Some(t) = self.held.remove(&self.next) {
            ready.push(t);
            self.next += 1;
        }
    }

    /// Tokens waiting for an earlier one.
    pub fn held(&self) -> usize {
        self.held.len()
    }
}

/// Most acks kept waiting for room in the client's request queue. A broker sends no more than its
/// in-flight window unacked, so this is only reached by a broker that ignores its window; beyond
/// it an ack is dropped (counted and logged) and the broker delivers that message again.
pub const MAX_PENDING_ACKS: usize = 1 << 20;

/// Acks through a rumqttc client, dropping tokens of a connection that is gone.
///
/// The client's request queue is bounded, and while a backlog pours in the event loop reads far
/// more than it writes, so the queue can be full. An ack that does not fit is kept here, in
/// arrival order, and handed on by the next [`Acker::ack`] or [`Acker::flush`], so the broker does
/// not deliver a handled message again. Only an ack arriving while [`MAX_PENDING_ACKS`] already
/// wait is dropped (counted in `mqtt_ack_failures`): the broker then delivers that message again,
/// and its shard recognises it by its digest (among the last `engine.dedup_window` applied).
pub struct MqttAcker {
    pub client: rumqttc::AsyncClient,
    /// The current connection generation, bumped by the MQTT task on every (dis)connect.
    pub generation: Arc<AtomicU64>,
    /// Counts acks dropped because [`MAX_PENDING_ACKS`] were already waiting.
    pub metrics: Arc<minewatch_core::metrics::Metrics>,
    /// Acks waiting for room, oldest first.
    pub waiting: VecDeque<AckToken>,
}

impl MqttAcker {
    /// An acker with nothing waiting.
    pub fn new(
        client: rumqttc::AsyncClient,
        generation: Arc<AtomicU64>,
        metrics: Arc<minewatch_core::metrics::Metrics>,
    ) -> Self {
        MqttAcker {
            client,
            generation,
            metrics,
            waiting: VecDeque::new(),
        }
    }
}

impl Acker for MqttAcker {
    fn ack(&mut self, t: AckToken) {
        if self.waiting.len() >= MAX_PENDING_ACKS {
            self.metrics.mqtt_ack_failures.inc();
            tracing::warn!(
                pkid = t.pkid,
                "too many PUBACKs waiting for the MQTT client; the broker will redeliver"
            );
            return;
        }
        self.waiting.push_back(t);
        self.flush();
    }

    fn flush(&mut self) {
        let generation = self.generation.load(Ordering::Acquire);
        while let Some(t) = self.waiting.front().copied() {
            // Packet ids of a connection that is gone mean nothing: the broker redelivers.
            if t.generation == generation {
                let mut p = rumqttc::Publish::new("", rumqttc::QoS::AtLeastOnce, Vec::new());
                p.pkid = t.pkid;
                if self.client.try_ack(&p).is_err() {
                    // Full (or the connection task is gone): keep it, in order, for later.
                    return;
                }
            }
            self.waiting.pop_front();
        }
    }

    fn pending(&self) -> usize {
        self.waiting.len()
    }
}

/// Acks nothing (pipelines fed without MQTT: tests, benchmarks).
#[derive(Debug, Default)]
pub struct NoAcks;

impl Acker for NoAcks {
    fn ack(&mut self, _: AckToken) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_that_do_not_fit_wait_in_order_and_none_is_lost() {
        // rumqttc's request queue with room for two.
        let (tx, rx) = flume::bounded(2);
        let generation = Arc::new(AtomicU64::new(1));
        let metrics = Arc::new(minewatch_core::metrics::Metrics::new());
        let mut acker = MqttAcker::new(
            rumqttc::AsyncClient::from_senders(tx),
            generation.clone(),
            metrics.clone(),
        );
        for n in 0..5 {
            acker.ack(t(1, n));
        }
        assert_eq!(acker.pending(), 3, "two fit, three wait");
        let mut sent = Vec::new();
        let take = |sent: &mut Vec<u16>| {
            while let Ok(rumqttc::Request::PubAck(a)) = rx.try_recv() {
                sent.push(a.pkid);
            }
        };
        take(&mut sent);
        acker.flush();
        take(&mut sent);
        acker.flush();
        take(&mut sent);
        assert_eq!(acker.pending(), 0);
        assert_eq!(sent, vec![1, 2, 3, 4, 5], "every ack, in arrival order");
        // A waiting ack of a connection that is gone is dropped, not sent on the new one.
        for n in 5..8 {
            acker.ack(t(1, n));
        }
        generation.store(2, Ordering::Release);
        take(&mut sent);
        acker.flush();
        take(&mut sent);
        assert_eq!(acker.pending(), 0);
        assert_eq!(
            sent.len(),
            7,
            "the two that fitted went, the waiting one was dropped: {sent:?}"
        );
        assert_eq!(metrics.mqtt_ack_failures.get(), 0);
    }

    fn t(generation: u64, n: u64) -> AckToken {
        AckToken {
            generation,
            n,
            pkid: n as u16 + 1,
        }
    }

    #[test]
    fn acks_are_released_in_arrival_order() {
        let mut s = AckSequencer::default();
        let mut ready = Vec::new();
        s.complete(t(0, 1), &mut ready);
        s.complete(t(0, 2), &mut ready);
        assert!(ready.is_empty(), "waits for message 0");
        s.complete(t(0, 0), &mut ready);
        assert_eq!(ready.iter().map(|t| t.n).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(s.held(), 0);
    }

    #[test]
    fn a_new_connection_voids_tokens_of_the_old_one() {
        let mut s = AckSequencer::default();
        let mut ready = Vec::new();
        s.complete(t(0, 1), &mut ready);
        s.complete(t(1, 0), &mut ready);
        s.complete(t(0, 0), &mut ready);
        assert_eq!(ready, vec![t(1, 0)]);
    }
}
