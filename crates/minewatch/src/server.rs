//! `minewatch run`: the store, the pipeline and the gateway, started together and stopped in order
//! (MQTT first, then shards and writer drain into the store, then HTTP).

use crate::config::Config;
use minewatch_core::alert::Alert;
use minewatch_core::live::LiveView;
use minewatch_core::metrics::{Metrics, MinesCollector};
use minewatch_core::registry::MineStatus;
use minewatch_gateway::{AppState, BoxFuture, Control, ControlError, ReloadReport};
use minewatch_ingest::pipeline::PipelineParts;
use minewatch_ingest::{AckError, Pipeline};
use minewatch_notify::Notifier;
use minewatch_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

/// Events the WebSocket broadcast holds for slow clients before they are resynced.
const BROADCAST_CAPACITY: usize = 8192;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened or read.
    #[error("store: {0}")]
    Store(#[from] minewatch_store::StoreError),
    /// The HTTP address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    /// The configuration asks for something unsafe or impossible.
    #[error("{0}")]
    Config(String),
    /// The notification sinks could not start.
    #[error("{0}")]
    Notify(#[from] minewatch_notify::NotifyError),
}

impl From<minewatch_ingest::pipeline::StartError> for StartError {
    fn from(e: minewatch_ingest::pipeline::StartError) -> Self {
        match e {
            minewatch_ingest::pipeline::StartError::Store(e) => StartError::Store(e),
            minewatch_ingest::pipeline::StartError::Mqtt(m) => StartError::Config(m),
        }
    }
}

/// The pipeline, as the gateway's [`Control`]; a reload also re-reads the config file.
struct PipelineControl(Arc<Pipeline>, Reloader);

/// What a reload swaps beyond the registry: the tokens, the rule parameters and the notification
/// sinks, from the config file read again and checked whole first.
struct Reloader {
    source: Option<std::path::PathBuf>,
    /// The `[http] listen` the server bound (a reload cannot move it).
    listen: String,
    auth: Arc<minewatch_gateway::Auth>,
    /// The sinks running, and the `[notify]` they run with (restarted if a new one fails).
    notifier: Arc<tokio::sync::Mutex<(Option<Notifier>, minewatch_notify::NotifyConfig)>>,
    store: Store,
    events: broadcast::Sender<minewatch_core::WireEvent>,
    metrics: Arc<Metrics>,
}

/// How long a reload waits for the old notification sinks to stop.
const NOTIFIER_STOP: std::time::Duration = std::time::Duration::from_secs(5);

impl Reloader {
    /// Reads the config file again; if it loads and checks whole, puts its tokens, rule
    /// parameters and notification sinks in force and says which in `reloaded`; if not, keeps
    /// the running config whole and says why in `errors`. Keys only a restart applies (listen,
    /// store, mqtt, engine) are kept and noted.
    async fn reload(
        &self,
        pipeline: &Pipeline,
        reloaded: &mut Vec<String>,
        errors: &mut Vec<String>,
    ) {
        let Some(path) = &self.source else {
            return;
        };
        let path = path.clone();
        let new = match tokio::task::spawn_blocking(move || Config::load(&path)).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                errors.push(format!(
                    "config not reloaded, the running one is kept whole: {e}"
                ));
                return;
            }
            Err(e) => {
                errors.push(format!("config not reloaded: {e}"));
                return;
            }
        };
        if new.http.listen != self.listen {
            errors.push(format!(
                "http.listen {}: takes a restart; still {}",
                new.http.listen, self.listen
            ));
        }
        let new_http = Arc::new(new.http.clone());
        let http = Arc::new(minewatch_gateway::HttpConfig {
            listen: self.listen.clone(),
            ..(*new_http).clone()
        });
        self.auth.replace(http);
        reloaded.push("tokens".into());
        match pipeline.set_params(&new.rules).await {
            Ok(()) => reloaded.push("rules".into()),
            Err(e) => errors.push(e),
        }
        let mut notify = new.notify.clone();
        notify.alarms = new.alarms.to_config().unwrap_or_default();
        // The sinks keep their durable cursors: the old ones stop, the new ones go on from there.
        let mut slot = self.notifier.lock().await;
        if let Some(old) = slot.0.take() {
            old.shutdown(NOTIFIER_STOP).await;
        }
        let start = |cfg: minewatch_notify::NotifyConfig| async move {
            let n = Notifier::start(&cfg, self.store.clone(), &self.events, &self.metrics).await;
            (n, cfg)
        };
        match start(notify).await {
            (Ok(n), cfg) => {
                *slot = (Some(n), cfg);
                reloaded.push("notify".into());
            }
            (Err(e), _) => {
                errors.push(format!("notify: {e}; the previous sinks run again"));
                let previous = slot.1.clone();
                if let (Ok(n), _) = start(previous).await {
                    slot.0 = Some(n);
                }
            }
        }
    }
}

fn control_error(e: AckError) -> ControlError {
    match e {
        AckError::NotFound(m) => ControlError::NotFound(m),
        AckError::Conflict(m) => ControlError::Conflict(m),
        AckError::Invalid(m) => ControlError::Invalid(m),
        AckError::Unavailable(m) => ControlError::Unavailable(m),
    }
}

impl Control for PipelineControl {
    fn ack(
        &self,
        id: String,
        by: String,
        note: String,
    ) -> BoxFuture<'_, Result<Alert, ControlError>> {
        Box::pin(async move { self.0.ack(&id, &by, &note).await.map_err(control_error) })
    }

    fn shelve(
        &self,
        id: String,
        by: String,
        shelve: Option<(String, i64)>,
    ) -> BoxFuture<'_, Result<Alert, ControlError>> {
        Box::pin(async move { self.0.shelve(&id, &by, shelve).await.map_err(control_error) })
    }

    fn reload(&self) -> BoxFuture<'_, Result<ReloadReport, ControlError>> {
        Box::pin(async move {
            let (mut reloaded, mut errors) = (Vec::new(), Vec::new());
            self.1.reload(&self.0, &mut reloaded, &mut errors).await;
            let o = self.0.reload().await;
            errors.extend(o.errors);
            reloaded.push("registry".into());
            Ok(ReloadReport {
                mines: o.mines,
                changed: o.changed,
                errors,
                reloaded,
            })
        })
    }

    fn not_ready(&self) -> Option<String> {
        self.0.not_ready()
    }

    fn set_status(
        &self,
        mine: String,
        status: MineStatus,
        by: String,
        note: String,
    ) -> BoxFuture<'_, Result<(), ControlError>> {
        Box::pin(async move {
            self.0
                .set_status(&mine, status, &by, &note)
                .await
                .map_err(control_error)
        })
    }
}

/// A running server.
pub struct Server {
    /// The address the HTTP API and WebSocket gateway listen on.
    pub http_addr: SocketAddr,
    pub pipeline: Arc<Pipeline>,
    pub live: Arc<LiveView>,
    pub metrics: Arc<Metrics>,
    pub store: Store,
    http_stop: oneshot::Sender<()>,
    http: JoinHandle<std::io::Result<()>>,
    hup: JoinHandle<()>,
    /// `[store] retention`: prunes closed alerts off the alert writer's path.
    retention: Option<JoinHandle<()>>,
    /// The notification sinks, fed from the stored events; stopped after the pipeline drains.
    notifier: Arc<tokio::sync::Mutex<(Option<Notifier>, minewatch_notify::NotifyConfig)>>,
}

/// File descriptors minewatch needs besides its HTTP connections: the store, the broker, the
/// registry files read in parallel, the runtime's own.
const FD_RESERVE: u64 = 256;

/// Warns when the process may run out of file descriptors before `http.max_connections` is
/// reached: at that point the API would stop answering rather than make clients wait for a slot.
fn warn_if_too_few_files(max_connections: usize) {
    let needed = u64::try_from(max_connections)
        .unwrap_or(u64::MAX)
        .saturating_add(FD_RESERVE);
    if let Some(limit) = minewatch_core::procfs::open_files_limit()
        && limit < needed
    {
        tracing::warn!(
            open_files_limit = limit,
            max_connections,
            "the open-files limit leaves too little room for http.max_connections; raise it (LimitNOFILE, ulimit -n) to at least {needed} or lower http.max_connections"
        );
    }
}

impl Server {
    /// Starts everything; returns once the HTTP listener is bound and `/readyz` says ready.
    pub async fn start(cfg: Config) -> Result<Server, StartError> {
        let addr: SocketAddr = cfg.http.listen.parse().map_err(|_| {
            StartError::Config(format!(
                "http.listen {:?} is not an address",
                cfg.http.listen
            ))
        })?;
        cfg.validate(std::path::Path::new("config"))
            .map_err(|e| StartError::Config(e.message))?;
        warn_if_too_few_files(cfg.http.max_connections);
        let store = Store::open(&cfg.store.url).await?;
        let live = Arc::new(LiveView::default());
        let metrics = Arc::new(Metrics::new());
        // Per-mine gauges, read from the live view at scrape time; "reporting" uses the rules'
        // `silent_after` window so the overview and the silent-point alerts agree.
        let window = cfg.rules.duration("silent_after").unwrap_or(120_000);
        metrics.register_collector(Box::new(MinesCollector::new(
            live.clone(),
            std::time::Duration::from_millis(u64::try_from(window).unwrap_or(u64::MAX)),
        )));
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        // Checked when the config was loaded.
        let alarms = cfg.alarms.to_config().unwrap_or_default();
        let pipeline = Pipeline::start(PipelineParts {
            engine: cfg.engine.clone(),
            rules: cfg.rules,
            prefix: cfg.mqtt.prefix.clone(),
            mqtt: Some(cfg.mqtt.clone()),
            registry_dir: cfg.registry.dir.clone(),
            store: store.clone(),
            dead_letter_keep: cfg.store.dead_letter_keep,
            live: live.clone(),
            metrics: metrics.clone(),
            events: events.clone(),
            alarms: alarms.clone(),
        })
        .await?;
        let mut notify = cfg.notify.clone();
        notify.alarms = alarms.clone();
        let notifier = Notifier::start(&notify, store.clone(), &events, &metrics).await?;
        let notifier = Arc::new(tokio::sync::Mutex::new((Some(notifier), notify)));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Listen {
                addr: addr.to_string(),
                source,
            })?;
        let http_addr = listener.local_addr().map_err(|source| StartError::Listen {
            addr: addr.to_string(),
            source,
        })?;
        let ready = Arc::new(AtomicBool::new(false));
        let auth = minewatch_gateway::Auth::new(Arc::new(cfg.http.clone()));
        let control = Arc::new(PipelineControl(
            pipeline.clone(),
            Reloader {
                source: cfg.source.clone(),
                listen: cfg.http.listen.clone(),
                auth: auth.clone(),
                notifier: notifier.clone(),
                store: store.clone(),
                events: events.clone(),
                metrics: metrics.clone(),
            },
        ));
        let state = AppState {
            live: live.clone(),
            store: store.clone(),
            metrics: metrics.clone(),
            events,
            control: control.clone(),
            ready: ready.clone(),
            auth,
            config: Arc::new(cfg.http.clone()),
            kinds: minewatch_gateway::KindCatalogue::new(&minewatch_rules::kinds::catalogue()),
            snapshots: Default::default(),
        };
        let (http_stop, stop_rx) = oneshot::channel::<()>();
        let http = tokio::spawn(minewatch_gateway::serve(listener, state, async move {
            let _ = stop_rx.await;
        }));
        let hup = tokio::spawn(reload_on_sighup(control));
        let retention = cfg
            .store
            .retention
            .map(|keep| tokio::spawn(retention(store.clone(), keep)));
        ready.store(true, Ordering::Release);
        tracing::info!(%http_addr, broker = %format!("{}:{}", cfg.mqtt.host, cfg.mqtt.port), "minewatch is running");
        Ok(Server {
            http_addr,
            pipeline,
            live,
            metrics,
            store,
            http_stop,
            http,
            hup,
            retention,
            notifier,
        })
    }

    /// Stops in order: MQTT, then the pipeline drains into the store, then the notification
    /// sinks (at most 5 s; what they had not sent goes out after the next start), then HTTP.
    pub async fn shutdown(self) {
        self.hup.abort();
        if let Some(r) = &self.retention {
            r.abort();
        }
        self.pipeline.shutdown().await;
        if let Some(n) = self.notifier.lock().await.0.take() {
            n.shutdown(std::time::Duration::from_secs(5)).await;
        }
        let _ = self.http_stop.send(());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.http).await;
        self.store.close().await;
        tracing::info!("minewatch stopped");
    }
}

/// Closed alerts pruned per transaction: short enough that the alert writer, which shares
/// SQLite's one write lock, waits milliseconds at most.
const RETENTION_BATCH: u32 = 500;
/// How often retention runs.
const RETENTION_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

/// `[store] retention`: every [`RETENTION_EVERY`], prunes closed alerts that resolved more than
/// `keep` ago, with their events and delivery records, batch by batch (a pause between batches
/// lets the writer in), off the alert writer's path. A failure is logged and tried next round.
async fn retention(store: Store, keep: std::time::Duration) {
    let keep = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
    let mut every = tokio::time::interval(RETENTION_EVERY);
    loop {
        every.tick().await;
        let Some(cutoff) = chrono::Utc::now().checked_sub_signed(keep) else {
            continue;
        };
        let (mut alerts, mut events, mut resume) = (0, 0, None);
        loop {
            match store
                .prune_closed(&cutoff, RETENTION_BATCH, &mut resume)
                .await
            {
                Ok((a, e)) => {
                    alerts += a;
                    events += e;
                    if a < u64::from(RETENTION_BATCH) {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "retention: pruning failed; next round tries again");
                    break;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        if alerts > 0 {
            tracing::info!(alerts, events, %cutoff, "retention: closed alerts pruned");
        }
    }
}

/// SIGHUP reloads what `POST /api/admin/reload` does: the config file's tokens, rule parameters
/// and notification sinks (when it loads whole), and the registry.
#[cfg(unix)]
async fn reload_on_sighup(control: Arc<PipelineControl>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; reload with POST /api/admin/reload");
        return;
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the config and the registry");
        match control.reload().await {
            Ok(r) => tracing::info!(reloaded = ?r.reloaded, errors = ?r.errors, "reloaded"),
            Err(e) => tracing::error!(error = %e, "reload failed"),
        }
    }
}

#[cfg(not(unix))]
async fn reload_on_sighup(_: Arc<PipelineControl>) {}
