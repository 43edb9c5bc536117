//! MQTT acknowledgements: a message is acked only after its effects are stored, and PUBACKs go out
//! in the order the messages arrived (MQTT 3.1.1 §4.6), even though shards finish out of order.

use std::collections::BTreeMap;
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
    /// Acks one message; tokens of an older connection generation must be dropped.
    fn ack(&mut self, token: AckToken);
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

/// Acks through a rumqttc client, dropping tokens of a connection that is gone.
pub struct MqttAcker {
    pub client: rumqttc::AsyncClient,
    /// The current connection generation, bumped by the MQTT task on every (dis)connect.
    pub generation: Arc<AtomicU64>,
    /// Counts acks that could not be queued (those messages will be redelivered).
    pub metrics: Arc<minewatch_core::metrics::Metrics>,
}

impl Acker for MqttAcker {
    fn ack(&mut self, t: AckToken) {
        if t.generation != self.generation.load(Ordering::Acquire) {
            return;
        }
        let mut p = rumqttc::Publish::new("", rumqttc::QoS::AtLeastOnce, Vec::new());
        p.pkid = t.pkid;
        if let Err(e) = self.client.try_ack(&p) {
            self.metrics.mqtt_ack_failures.inc();
            tracing::warn!(error = %e, pkid = t.pkid, "could not queue a PUBACK; the broker will redeliver");
        }
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
