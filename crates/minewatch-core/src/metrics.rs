//! Every Prometheus metric of minewatch, in one registry (prometheus-client). Components take
//! pre-labelled handles at start so the hot path only touches atomics.

use crate::alert::{EventType, Kind, Severity};
use crate::payload::{Reason, System};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Mutex;

type Labels = Vec<(&'static str, String)>;

/// All metrics, pre-labelled where the label set is small and fixed.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Messages received, by system.
    pub messages: [Counter; 5],
    /// Elements (readings, tags, cameras, meters, issues) accepted, by system.
    pub elements: [Counter; 5],
    /// Messages or elements rejected, by system and reason.
    pub rejected: Family<Labels, Counter>,
    /// Messages whose topic was not understood (no system to label them with).
    pub rejected_topic: Counter,
    /// Depth of each bounded queue (`shard-N`, `writer`).
    pub queue_depth: Family<Labels, Gauge>,
    /// Time to evaluate the rules over one message.
    pub rule_eval_seconds: Histogram,
    /// Active alerts by kind and severity.
    pub alerts_active: Family<Labels, Gauge>,
    /// Alert events by kind and type (raised, updated, resolved, acked).
    pub alert_events: Family<Labels, Counter>,
    /// From a message's arrival to its alert event being published.
    pub alert_latency_seconds: Histogram,
    /// Connected WebSocket clients.
    pub ws_clients: Gauge,
    /// Fresh snapshots sent to WebSocket clients that fell behind.
    pub ws_resyncs: Counter,
    /// Store commit time.
    pub store_commit_seconds: Histogram,
    /// Store commits that failed (and were retried).
    pub store_errors: Counter,
    /// 1 while connected to the broker.
    pub mqtt_connected: Gauge,
    /// Connection attempts that failed or connections lost.
    pub mqtt_reconnects: Counter,
    /// PUBACKs that could not be queued to the MQTT client.
    pub mqtt_ack_failures: Counter,
    /// Registry files that failed to load at the last (re)load.
    pub registry_errors: Gauge,
    /// Mines and points in the registry.
    pub registry_mines: Gauge,
    pub registry_points: Gauge,
    /// Dead letters written.
    pub dead_letters: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("minewatch");
        let messages_f = Family::<Labels, Counter>::default();
        let elements_f = Family::<Labels, Counter>::default();
        let per_system = |f: &Family<Labels, Counter>| -> [Counter; 5] {
            System::ALL.map(|s| f.get_or_create(&labels(&[("system", s.as_str())])).clone())
        };
        let messages = per_system(&messages_f);
        let elements = per_system(&elements_f);
        let rejected = Family::<Labels, Counter>::default();
        for s in System::ALL {
            for reason in Reason::ALL {
                let _ = rejected.get_or_create(&labels(&[
                    ("system", s.as_str()),
                    ("reason", reason.as_str()),
                ]));
            }
        }
        let alerts_active = Family::<Labels, Gauge>::default();
        let alert_events = Family::<Labels, Counter>::default();
        for &k in Kind::ALL {
            for sev in Severity::ALL {
                let _ = alerts_active
                    .get_or_create(&labels(&[("kind", k.as_str()), ("severity", sev.as_str())]));
            }
            for t in EventType::ALL {
                let _ = alert_events
                    .get_or_create(&labels(&[("kind", k.as_str()), ("type", t.as_str())]));
            }
        }
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            messages,
            elements,
            rejected,
            rejected_topic: Counter::default(),
            queue_depth: Family::default(),
            rule_eval_seconds: Histogram::new(exponential_buckets(1e-6, 4.0, 10)),
            alerts_active,
            alert_events,
            alert_latency_seconds: Histogram::new(exponential_buckets(1e-4, 2.5, 14)),
            ws_clients: Gauge::default(),
            ws_resyncs: Counter::default(),
            store_commit_seconds: Histogram::new(exponential_buckets(1e-4, 2.5, 14)),
            store_errors: Counter::default(),
            mqtt_connected: Gauge::default(),
            mqtt_reconnects: Counter::default(),
            mqtt_ack_failures: Counter::default(),
            registry_errors: Gauge::default(),
            registry_mines: Gauge::default(),
            registry_points: Gauge::default(),
            dead_letters: Counter::default(),
        };
        r.register("messages", "MQTT messages received, by system", messages_f);
        r.register(
            "elements",
            "Batch elements accepted (readings, tags, cameras, meters, issues), by system",
            elements_f,
        );
        r.register(
            "rejected",
            "Messages or batch elements rejected, by system and reason",
            m.rejected.clone(),
        );
        r.register(
            "rejected_topic",
            "Messages rejected because the topic is not {prefix}/{mine}/{system}",
            m.rejected_topic.clone(),
        );
        r.register(
            "queue_depth",
            "Items waiting in each bounded queue",
            m.queue_depth.clone(),
        );
        r.register(
            "rule_eval_seconds",
            "Time to evaluate the rules over one message",
            m.rule_eval_seconds.clone(),
        );
        r.register(
            "alerts_active",
            "Active alerts by kind and severity",
            m.alerts_active.clone(),
        );
        r.register(
            "alert_events",
            "Alert events by kind and type",
            m.alert_events.clone(),
        );
        r.register(
            "alert_latency_seconds",
            "From a message's arrival to its alert event being stored and published",
            m.alert_latency_seconds.clone(),
        );
        r.register(
            "ws_clients",
            "Connected WebSocket clients",
            m.ws_clients.clone(),
        );
        r.register(
            "ws_resyncs",
            "Fresh snapshots sent to WebSocket clients that fell behind",
            m.ws_resyncs.clone(),
        );
        r.register(
            "store_commit_seconds",
            "Time to commit one batch of events to the store",
            m.store_commit_seconds.clone(),
        );
        r.register(
            "store_errors",
            "Store commits that failed and were retried",
            m.store_errors.clone(),
        );
        r.register(
            "mqtt_connected",
            "1 while connected to the MQTT broker",
            m.mqtt_connected.clone(),
        );
        r.register(
            "mqtt_reconnects",
            "MQTT connections lost or failed",
            m.mqtt_reconnects.clone(),
        );
        r.register(
            "mqtt_ack_failures",
            "PUBACKs that could not be queued (the broker redelivers)",
            m.mqtt_ack_failures.clone(),
        );
        r.register(
            "registry_errors",
            "Registry files that failed at the last (re)load",
            m.registry_errors.clone(),
        );
        r.register(
            "registry_mines",
            "Mines in the registry",
            m.registry_mines.clone(),
        );
        r.register(
            "registry_points",
            "Safety points in the registry",
            m.registry_points.clone(),
        );
        r.register(
            "dead_letters",
            "Rejected messages or elements written to the dead-letter record",
            m.dead_letters.clone(),
        );
        if let Ok(mut reg) = m.registry.lock() {
            *reg = r;
        }
        m
    }

    /// Counts a rejection.
    pub fn reject(&self, system: System, reason: Reason) {
        self.rejected
            .get_or_create(&labels(&[
                ("system", system.as_str()),
                ("reason", reason.as_str()),
            ]))
            .inc();
    }

    /// The gauge of one queue.
    pub fn queue(&self, name: &str) -> Gauge {
        self.queue_depth
            .get_or_create(&labels(&[("queue", name)]))
            .clone()
    }

    /// The active-alert gauge of a kind and severity.
    pub fn active(&self, kind: Kind, severity: Severity) -> Gauge {
        self.alerts_active
            .get_or_create(&labels(&[
                ("kind", kind.as_str()),
                ("severity", severity.as_str()),
            ]))
            .clone()
    }

    /// Counts an alert event.
    pub fn alert_event(&self, kind: Kind, t: EventType) {
        self.alert_events
            .get_or_create(&labels(&[("kind", kind.as_str()), ("type", t.as_str())]))
            .inc();
    }

    /// Registers an extra metric (for components added later).
    pub fn register(
        &self,
        name: &str,
        help: &str,
        metric: impl prometheus_client::registry::Metric,
    ) {
        if let Ok(mut r) = self.registry.lock() {
            r.register(name, help, metric);
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Ok(r) = self.registry.lock() {
            let _ = encode(&mut out, &r);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_carries_the_named_families() {
        let m = Metrics::new();
        m.messages[System::Safety.index()].inc();
        m.reject(System::Safety, Reason::BadId);
        let text = m.encode();
        assert!(
            text.contains("minewatch_messages_total{system=\"safety\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("minewatch_rejected_total{system=\"safety\",reason=\"bad_id\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("minewatch_alerts_active{kind=\"over_limit\",severity=\"critical\"} 0"),
            "{text}"
        );
    }
}
