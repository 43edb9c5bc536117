//! On-call notifications: every stored alert event goes to each configured sink (webhooks with
//! HMAC signatures, Prometheus Alertmanager), at least once, surviving restarts.
//!
//! The event log (the store's `events` table, gap-free by seq) is the outbox. Each sink keeps a
//! durable cursor, the last seq it is done with, advanced only together with the record of what
//! became of that event (delivered, or failed after retries), in one transaction. A sink wakes on
//! the alert writer's broadcast of stored events, reads the log after its cursor, and resumes
//! there after a restart: nothing is lost; an event whose delivery was in flight at a crash is
//! sent again, so receivers deduplicate by `id` (the seq).
//!
//! Modules:
//! - [`config`]: the `[notify]` section ([`NotifyConfig`]).
//! - `worker`: one sink's loop: filters, silences, retries with jittered exponential backoff,
//!   give-up after `give_up_after`, renotify and Alertmanager resends on a 1 s tick.
//! - [`flood`]: a flooding mine's events held and sent as one grouped notification (webhooks;
//!   Alertmanager groups by itself).
//! - [`message`]: the webhook body and Alertmanager's alert objects.
//! - [`sign`]: the HMAC-SHA256 signature of webhook bodies, and its verification.
//! - [`renotify`]: which unacknowledged critical alerts are due to be notified again (no I/O, no
//!   clock: the caller passes the time).
#![forbid(unsafe_code)]

pub mod config;
pub mod flood;
pub mod message;
pub mod renotify;
pub mod sign;
mod worker;

pub use config::{ALERTMANAGER_SINK, AlertmanagerConfig, NotifyConfig, WebhookConfig};

use chrono::Utc;
use minewatch_core::WireEvent;
use minewatch_core::backoff::Backoff;
use minewatch_core::metrics::Metrics;
use minewatch_store::{Store, StoreError};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use worker::{AmState, Filter, Policy, SinkMetrics, Transport, Worker};

/// Why the notifier could not start.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A value of `[notify]` cannot work; the message names the key.
    #[error("{0}")]
    Config(String),
    /// The HTTP client could not be built (TLS setup).
    #[error("notify: cannot build the HTTP client: {0}")]
    Client(String),
    /// A sink's cursor or the active alerts could not be read.
    #[error("notify: {0}")]
    Store(#[from] StoreError),
}

/// Labels of the notify metrics.
type Labels = Vec<(&'static str, String)>;

/// The running sinks.
#[derive(Debug)]
pub struct Notifier {
    /// Turned true to stop every worker.
    stop: watch::Sender<bool>,
    /// One per sink.
    workers: Vec<(String, JoinHandle<()>)>,
}

impl Notifier {
    /// Starts one worker per configured sink, each resuming from its cursor (a sink seen for the
    /// first time starts at the end of the log). `events` is the alert writer's broadcast of
    /// stored events; the metrics are registered in `metrics`.
    pub async fn start(
        cfg: &NotifyConfig,
        store: Store,
        events: &broadcast::Sender<WireEvent>,
        metrics: &Metrics,
    ) -> Result<Notifier, NotifyError> {
        cfg.validate().map_err(NotifyError::Config)?;
        let deliveries = Family::<Labels, Counter>::default();
        let retries = Family::<Labels, Counter>::default();
        let pending = Family::<Labels, Gauge>::default();
        let oldest = Family::<Labels, Gauge>::default();
        if !cfg.webhooks.is_empty() || cfg.alertmanager.is_some() {
            metrics.register(
                "notify_deliveries",
                "Notifications by sink and result (delivered, failed = given up)",
                deliveries.clone(),
            );
            metrics.register(
                "notify_retries",
                "Notification attempts that failed and were retried, by sink",
                retries.clone(),
            );
            metrics.register(
                "notify_pending",
                "Stored events a sink has not yet dealt with",
                pending.clone(),
            );
            metrics.register(
                "notify_oldest_pending_age_seconds",
                "Age of the event a sink is working on; 0 when caught up",
                oldest.clone(),
            );
        }
        let sink_metrics = |name: &str| {
            let l = |extra: Option<&str>| {
                let mut v: Labels = vec![("sink", name.to_owned())];
                if let Some(r) = extra {
                    v.push(("result", r.to_owned()));
                }
                v
            };
            // One statement each: a family's guard lives to the end of its statement, and a
            // second `get_or_create` on the same family inside it would deadlock.
            let delivered = deliveries.get_or_create(&l(Some("delivered"))).clone();
            let failed = deliveries.get_or_create(&l(Some("failed"))).clone();
            let retries = retries.get_or_create(&l(None)).clone();
            let pending = pending.get_or_create(&l(None)).clone();
            let oldest_age = oldest.get_or_create(&l(None)).clone();
            SinkMetrics {
                delivered,
                failed,
                retries,
                pending,
                oldest_age,
            }
        };
        let policy = Policy {
            retry_min: cfg.retry_min,
            retry_max: cfg.retry_max,
            give_up_after: cfg.give_up_after,
        };
        let ca_file = cfg.ca_file.clone();
        let client = |timeout: Duration| {
            http_client(timeout, ca_file.as_deref()).map_err(NotifyError::Client)
        };
        let new_worker = |name: &str, filter: Filter, transport: Transport, renotify| Worker {
            name: name.to_owned(),
            store: store.clone(),
            filter,
            policy: policy.clone(),
            transport,
            renotify,
            metrics: sink_metrics(name),
            backoff: Backoff::new(policy.retry_min, policy.retry_max),
            cursor: 0,
            latest: 0,
            silences: Vec::new(),
            since_prune: 0,
            floods: None,
        };
        let mut workers = Vec::new();
        for w in &cfg.webhooks {
            let secret = w.secret().map_err(NotifyError::Config)?;
            let mut worker = new_worker(
                &w.name,
                Filter {
                    min_severity: w.min_severity,
                    kinds: w.kinds.clone(),
                    mines: w.mines.clone(),
                },
                Transport::Webhook {
                    url: w.url.clone(),
                    secret: secret.into_bytes(),
                    client: client(w.timeout)?,
                },
                Some(renotify::Renotifier::new(cfg.renotify_after)),
            );
            worker.floods = Some(flood::FloodGroups::new(
                cfg.alarms.clone(),
                cfg.flood_group_every,
            ));
            workers.push(worker);
        }
        if let Some(am) = &cfg.alertmanager {
            workers.push(new_worker(
                ALERTMANAGER_SINK,
                Filter {
                    min_severity: am.min_severity,
                    kinds: am.kinds.clone(),
                    mines: am.mines.clone(),
                },
                Transport::Alertmanager(Box::new(AmState {
                    url: format!("{}/api/v2/alerts", am.url.trim_end_matches('/')),
                    client: client(am.timeout)?,
                    public_url: cfg.public_url.clone(),
                    resend_every: am.resend_every,
                    next_resend: Utc::now(),
                    firing: HashMap::new(),
                })),
                None,
            ));
        }
        let (stop, stop_rx) = watch::channel(false);
        let mut handles = Vec::new();
        for mut w in workers {
            // Subscribed before the first read of the log, so no event falls between the two.
            let rx = events.subscribe();
            w.init().await?;
            tracing::info!(sink = %w.name, cursor = w.cursor, "notification sink started");
            let name = w.name.clone();
            handles.push((name, tokio::spawn(w.run(rx, stop_rx.clone()))));
        }
        Ok(Notifier {
            stop,
            workers: handles,
        })
    }

    /// The names of the running sinks.
    pub fn sinks(&self) -> Vec<&str> {
        self.workers.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Stops every sink: a delivery waiting to retry stops at once (its event is sent again
    /// after a restart); one in flight gets until `timeout`, then is aborted.
    pub async fn shutdown(self, timeout: Duration) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + timeout;
        for (name, mut handle) in self.workers {
            if tokio::time::timeout_at(deadline, &mut handle)
                .await
                .is_err()
            {
                tracing::warn!(sink = %name, "notification sink did not stop in time; aborted");
                handle.abort();
            }
        }
        tracing::info!("notification sinks stopped");
    }
}

/// The HTTP client of a sink: the system's CA store and Mozilla's, plus the certificates of
/// `ca_file` (PEM, one or more); the error names `notify.ca_file`.
pub fn http_client(
    timeout: Duration,
    ca_file: Option<&std::path::Path>,
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("minewatch/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_file {
        let pem =
            std::fs::read(path).map_err(|e| format!("notify.ca_file {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("notify.ca_file {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "notify.ca_file {}: no PEM certificate in it",
                path.display()
            ));
        }
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
    }
    builder.build().map_err(|e| e.to_string())
}
