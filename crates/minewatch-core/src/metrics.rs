//! Every Prometheus metric of minewatch, in one registry (prometheus-client). Components take
//! pre-labelled handles at start so the hot path only touches atomics.
//!
//! The per-mine gauges (`minewatch_mine_*`) are not updated on the hot path at all: a
//! [`MinesCollector`] reads the [`LiveView`] when Prometheus scrapes.
//!
//! Alarm KPIs (EEMUA 191): activation rates come from `minewatch_alert_events_total{type="raised"}`,
//! acknowledgement times from `minewatch_alert_ack_seconds` (observed by whoever records an ack,
//! through [`Metrics::observe_ack`]), stale alerts from `minewatch_mine_alerts_stale`; the rest
//! (floods, bad actors, chattering) needs the event history and is `GET /api/kpis`.

use crate::alert::{EventType, Kind, Severity};
use crate::live::LiveView;
use crate::payload::{Reason, System};
use crate::registry::{MineStatus, PointKind};
use crate::time::Millis;
use chrono::{DateTime, TimeDelta, Utc};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

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
    /// Messages for a mine outside this instance's `mqtt.mines`, acked and dropped unread, by
    /// system (index of `System::ALL`): a persistent session still holds an old filter, or a
    /// broker delivers more than was asked. Not bad input, so no dead letter.
    pub not_owned: [Counter; 5],
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
    /// From an alert's activation to its acknowledgement, by severity (index of
    /// `Severity::ALL`): the operators' response times of EEMUA 191.
    pub alert_ack_seconds: [Histogram; 4],
    /// Connected WebSocket clients.
    pub ws_clients: Gauge,
    /// Fresh snapshots sent to WebSocket clients that fell behind.
    pub ws_resyncs: Counter,
    /// Open HTTP connections, WebSocket ones included: what `http.max_connections` caps.
    pub http_connections: Gauge,
    /// Times the HTTP server had every connection slot taken and stopped accepting until one
    /// closed (new connections wait in the kernel's listen backlog meanwhile).
    pub http_connections_capped: Counter,
    /// HTTP connections closed because a request's header did not arrive within
    /// `http.header_read_timeout` (slow or stalled clients, idle keep-alive connections).
    pub http_header_timeouts: Counter,
    /// Store commit time.
    pub store_commit_seconds: Histogram,
    /// Store commits that failed (and were retried).
    pub store_errors: Counter,
    /// 1 while the store refuses commits (disk full, database gone): nothing is acked or
    /// published meanwhile, and `/readyz` answers 503.
    pub store_failing: Gauge,
    /// Alerts cleared and still waiting for an acknowledgement (ISA-18.2 cleared-unacknowledged).
    pub alerts_cleared_unacked: Gauge,
    /// Mines in an alarm flood now, and floods begun.
    pub mines_in_flood: Gauge,
    pub alarm_floods: Counter,
    /// Messages recognised as already applied (the broker delivered them again after a lost
    /// PUBACK, or a publisher sent them twice): acked, not applied again. By system; bad topics
    /// count under no system and are not here.
    pub duplicates: [Counter; 5],
    /// Mines not in the registry whose data is being watched (`engine.max_unknown_mines` caps it).
    pub unknown_mines: Gauge,
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
    /// Seconds from the pipeline's start to the end of each startup phase (`registry`: files
    /// parsed and the store read; `state`: engine and live view built), and the resident memory
    /// then: what a restart costs, and how it splits.
    pub startup_seconds: Family<Labels, Gauge<f64, AtomicU64>>,
    pub startup_resident_bytes: Family<Labels, Gauge>,
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
        let not_owned_f = Family::<Labels, Counter>::default();
        let not_owned = per_system(&not_owned_f);
        let duplicates_f = Family::<Labels, Counter>::default();
        let duplicates = per_system(&duplicates_f);
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
        let ack_f = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(|| {
            Histogram::new(ACK_BUCKETS)
        });
        let alert_ack_seconds = Severity::ALL.map(|s| {
            ack_f
                .get_or_create(&labels(&[("severity", s.as_str())]))
                .clone()
        });
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            messages,
            elements,
            rejected,
            rejected_topic: Counter::default(),
            not_owned,
            queue_depth: Family::default(),
            rule_eval_seconds: Histogram::new(exponential_buckets(1e-6, 4.0, 10)),
            alerts_active,
            alert_events,
            alert_latency_seconds: Histogram::new(exponential_buckets(1e-4, 2.5, 14)),
            alert_ack_seconds,
            ws_clients: Gauge::default(),
            ws_resyncs: Counter::default(),
            http_connections: Gauge::default(),
            http_connections_capped: Counter::default(),
            http_header_timeouts: Counter::default(),
            store_commit_seconds: Histogram::new(exponential_buckets(1e-4, 2.5, 14)),
            store_errors: Counter::default(),
            store_failing: Gauge::default(),
            alerts_cleared_unacked: Gauge::default(),
            mines_in_flood: Gauge::default(),
            alarm_floods: Counter::default(),
            duplicates,
            unknown_mines: Gauge::default(),
            mqtt_connected: Gauge::default(),
            mqtt_reconnects: Counter::default(),
            mqtt_ack_failures: Counter::default(),
            registry_errors: Gauge::default(),
            registry_mines: Gauge::default(),
            registry_points: Gauge::default(),
            dead_letters: Counter::default(),
            startup_seconds: Family::default(),
            startup_resident_bytes: Family::default(),
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
            "not_owned",
            "Messages for a mine this instance does not own (mqtt.mines), acked and dropped unread, by system",
            not_owned_f,
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
            "alert_ack_seconds",
            "From an alert's activation to its acknowledgement, by severity",
            ack_f,
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
            "http_connections",
            "Open HTTP connections, WebSocket ones included",
            m.http_connections.clone(),
        );
        r.register(
            "http_connections_capped",
            "Times every HTTP connection slot (http.max_connections) was taken and accepting paused",
            m.http_connections_capped.clone(),
        );
        r.register(
            "http_header_timeouts",
            "HTTP connections closed because a request header did not arrive within http.header_read_timeout",
            m.http_header_timeouts.clone(),
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
            "store_failing",
            "1 while the store refuses commits; nothing is acked or published meanwhile",
            m.store_failing.clone(),
        );
        r.register(
            "alerts_cleared_unacked",
            "Alerts cleared and still waiting for an acknowledgement (ISA-18.2 cleared-unacknowledged)",
            m.alerts_cleared_unacked.clone(),
        );
        r.register(
            "mines_in_flood",
            "Mines in an alarm flood now (more than alarms.flood_count new alerts within alarms.flood_window)",
            m.mines_in_flood.clone(),
        );
        r.register("alarm_floods", "Alarm floods begun", m.alarm_floods.clone());
        r.register(
            "duplicates",
            "Messages already applied that arrived again (lost PUBACK, publisher resend), acked without applying them again, by system",
            duplicates_f,
        );
        r.register(
            "unknown_mines",
            "Mines not in the registry whose data is being watched",
            m.unknown_mines.clone(),
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
        r.register(
            "startup_seconds",
            "Seconds from the start to the end of each startup phase",
            m.startup_seconds.clone(),
        );
        r.register(
            "startup_resident_bytes",
            "Resident memory at the end of each startup phase (Linux)",
            m.startup_resident_bytes.clone(),
        );
        if let Ok(mut reg) = m.registry.lock() {
            *reg = r;
        }
        m
    }

    /// Records the end of startup phase `phase`, `secs` after the start, with this process's
    /// resident memory now.
    pub fn startup_phase(&self, phase: &str, secs: f64) {
        let l = labels(&[("phase", phase)]);
        self.startup_seconds.get_or_create(&l).set(secs);
        if let Some(b) = crate::procfs::resident_bytes(None) {
            self.startup_resident_bytes
                .get_or_create(&l)
                .set(i64::try_from(b).unwrap_or(i64::MAX));
        }
    }

    /// Counts `n` rejections of one reason.
    pub fn reject(&self, system: System, reason: Reason, n: u64) {
        self.rejected
            .get_or_create(&labels(&[
                ("system", system.as_str()),
                ("reason", reason.as_str()),
            ]))
            .inc_by(n);
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

    /// Records an acknowledgement `seconds` after the activation it answers (negative counts as
    /// 0, as a clock step can make it).
    pub fn observe_ack(&self, severity: Severity, seconds: f64) {
        let i = Severity::ALL
            .iter()
            .position(|s| *s == severity)
            .unwrap_or(0);
        self.alert_ack_seconds[i].observe(seconds.max(0.0));
    }

    /// Alert events of type `t` counted so far, over every kind.
    pub fn alert_events_of(&self, t: EventType) -> u64 {
        Kind::ALL.iter().map(|k| self.kind_events_of(*k, t)).sum()
    }

    /// Alert events of kind `k` and type `t` counted so far.
    pub fn kind_events_of(&self, k: Kind, t: EventType) -> u64 {
        self.alert_events
            .get_or_create(&labels(&[("kind", k.as_str()), ("type", t.as_str())]))
            .get()
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

    /// Registers a collector that is asked for its metrics at every scrape (for gauges computed
    /// from state that already exists, such as [`MinesCollector`]). Its metric names get the
    /// `minewatch_` prefix like every other.
    pub fn register_collector(&self, collector: Box<dyn Collector>) {
        if let Ok(mut r) = self.registry.lock() {
            r.register_collector(collector);
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

/// Buckets of `minewatch_alert_ack_seconds`: from 5 s to a day, around the times control rooms
/// aim for (a critical within a minute or two) and the ones they must not reach.
const ACK_BUCKETS: [f64; 12] = [
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
    4.0 * 3600.0,
    12.0 * 3600.0,
    86_400.0,
];

/// How long an alert may stay active before it counts as stale (EEMUA 191): shared by
/// `minewatch_mine_alerts_stale` and the store's KPI report, so the two agree.
pub const STALE_AFTER: TimeDelta = TimeDelta::hours(24);

/// How far behind its mine's event clock a point's last reading may be and still count as
/// reporting: by default the rules' `silent_after`, so a point that is not "reporting" here is
/// one the silent-point rule is about to raise an alert about (or has).
pub const DEFAULT_REPORTING_WINDOW_MS: Millis = 120_000;

/// Point status bit for calibration (domain.md): the value is test gas, not the air.
const STATUS_CALIBRATION: u32 = 4;

/// Per-mine gauges for the mines overview, computed from the live view at scrape time (nothing is
/// counted on the hot path). Per registered mine (never for ids the registry lacks, so senders
/// cannot grow the exposition), about a dozen series:
///
/// - `minewatch_mine_people_underground{mine}` and `minewatch_mine_max_underground{mine}`
///   (the approved number);
/// - `minewatch_mine_points{mine}` (registered safety points) and
///   `minewatch_mine_points_reporting{mine}`: points whose last reading is at most the reporting
///   window (default [`DEFAULT_REPORTING_WINDOW_MS`]) behind the mine's event clock;
/// - `minewatch_mine_ch4_max_percent{mine}`: the highest methane value among reporting ch4
///   points not in calibration (absent when there is none, never a made-up 0);
/// - `minewatch_mine_alerts_active{mine,severity}`: one series per severity, zeros included;
/// - `minewatch_mine_suspended{mine}`: 1 while the effective status (a stored regulator's order
///   outranks the registry file) is `suspended`;
/// - `minewatch_mine_alerts_stale{mine}`: active alerts that started more than [`STALE_AFTER`]
///   before the wall clock (not the mine's event clock: a mine whose data stopped keeps its old
///   alerts, and they must still show as stale).
#[derive(Debug)]
pub struct MinesCollector {
    /// The picture shards and the alert writer keep current; read-only here.
    live: Arc<LiveView>,
    /// Reporting window on each mine's event clock, in ms.
    window_ms: Millis,
}

/// One mine's numbers, copied out so no live-view lock is held while encoding.
#[derive(Debug, Default)]
struct MineRow {
    people: u32,
    max_underground: u32,
    points: usize,
    reporting: usize,
    ch4_max: Option<f64>,
    suspended: bool,
    /// Active alerts by `Severity::ALL` index.
    alerts: [u32; 4],
    /// Active alerts older than [`STALE_AFTER`].
    stale: u32,
}

impl MinesCollector {
    /// A collector over `live` with the reporting window `window`.
    pub fn new(live: Arc<LiveView>, window: std::time::Duration) -> Self {
        MinesCollector {
            live,
            window_ms: Millis::try_from(window.as_millis()).unwrap_or(Millis::MAX),
        }
    }

    /// A snapshot of every mine, sorted by id, with alerts stale as of `now`.
    fn rows(&self, now: DateTime<Utc>) -> BTreeMap<Arc<str>, MineRow> {
        let mut rows: BTreeMap<Arc<str>, MineRow> = BTreeMap::new();
        for m in self.live.mines.iter() {
            let l = m.value();
            // Only registered mines get series: whatever ids unknown senders make up must not
            // grow the exposition (their alerts still count in `minewatch_alerts_active`).
            if !l.def.registered {
                continue;
            }
            let mut row = MineRow {
                people: l.underground,
                max_underground: l.def.max_underground,
                points: l.def.points.len(),
                suspended: l.status == MineStatus::Suspended,
                ..MineRow::default()
            };
            if let Some(clock) = l.clock {
                for (def, p) in l.def.points.iter().zip(&l.points) {
                    if p.ts == 0 || clock.saturating_sub(p.ts) > self.window_ms {
                        continue;
                    }
                    row.reporting += 1;
                    if def.kind == PointKind::Ch4
                        && p.status & STATUS_CALIBRATION == 0
                        && p.value.is_finite()
                    {
                        row.ch4_max = Some(row.ch4_max.map_or(p.value, |x| x.max(p.value)));
                    }
                }
            }
            rows.insert(m.key().clone(), row);
        }
        for a in self.live.alerts.iter() {
            let a = a.value();
            let sev = Severity::ALL
                .iter()
                .position(|s| *s == a.severity)
                .unwrap_or(0);
            if let Some(row) = rows.get_mut(a.mine.as_str()) {
                row.alerts[sev] += 1;
                if now - a.started_at > STALE_AFTER {
                    row.stale += 1;
                }
            }
        }
        rows
    }
}

/// Writes one gauge family: a descriptor, then one sample per `(labels, value)`.
fn gauge_family<'a, V, I>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: I,
) -> Result<(), std::fmt::Error>
where
    V: EncodeGaugeValue + 'a,
    I: IntoIterator<Item = (Vec<(&'static str, &'a str)>, V)>,
{
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in samples {
        family.encode_family(&labels)?.encode_gauge(&value)?;
    }
    Ok(())
}

impl Collector for MinesCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let rows = self.rows(Utc::now());
        let live = || rows.iter();
        fn mine(id: &Arc<str>) -> Vec<(&'static str, &str)> {
            vec![("mine", &**id)]
        }
        gauge_family(
            &mut encoder,
            "mine_people_underground",
            "People underground per mine (personnel system)",
            live().map(|(id, r)| (mine(id), i64::from(r.people))),
        )?;
        gauge_family(
            &mut encoder,
            "mine_max_underground",
            "Approved people underground per mine (registry)",
            live().map(|(id, r)| (mine(id), i64::from(r.max_underground))),
        )?;
        gauge_family(
            &mut encoder,
            "mine_points",
            "Safety points registered per mine",
            live().map(|(id, r)| (mine(id), r.points as i64)),
        )?;
        gauge_family(
            &mut encoder,
            "mine_points_reporting",
            "Safety points whose last reading is within the reporting window of the mine's event clock",
            live().map(|(id, r)| (mine(id), r.reporting as i64)),
        )?;
        gauge_family(
            &mut encoder,
            "mine_ch4_max_percent",
            "Highest methane (% CH4) among reporting ch4 points not in calibration, per mine",
            live().filter_map(|(id, r)| r.ch4_max.map(|v| (mine(id), v))),
        )?;
        gauge_family(
            &mut encoder,
            "mine_suspended",
            "1 while the mine's effective status is suspended",
            live().map(|(id, r)| (mine(id), i64::from(r.suspended))),
        )?;
        gauge_family(
            &mut encoder,
            "mine_alerts_stale",
            "Active alerts per mine that started more than 24 h ago",
            live().map(|(id, r)| (mine(id), i64::from(r.stale))),
        )?;
        gauge_family(
            &mut encoder,
            "mine_alerts_active",
            "Active alerts per mine and severity",
            rows.iter().flat_map(|(id, r)| {
                Severity::ALL.iter().zip(r.alerts).map(move |(s, n)| {
                    (
                        vec![("mine", &**id), ("severity", s.as_str())],
                        i64::from(n),
                    )
                })
            }),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
