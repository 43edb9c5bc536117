//! `minewatch load restart`: time to ready after a restart, and the server's resident memory
//! with and without the registry and the live state (issue 5, targets 3 and 4).
//!
//! The server runs as a child process (`minewatch run`, this same executable), so the resident
//! memory measured is the server's alone: the simulator and publisher stay in this process.
//!
//! 1. **Baseline**: the config with an empty registry directory; resident memory at `/readyz`.
//! 2. **First start** with the full registry; `--alerts` CO readings over their limit (spread
//!    over the mines, a few points each) raise that many alerts; once the server holds them all
//!    active it is stopped with SIGTERM (it drains into the store and exits).
//! 3. **Restart**: from spawning the process to `/readyz` answering 200 (polled every 10 ms);
//!    the alerts must all be active again; resident memory at ready (registry, alerts, no live
//!    values).
//! 4. **Live state**: one simulated round of safety batches (every point) -> memory; the
//!    personnel batches (every tag) -> memory; video, power and explosives -> memory; two more
//!    full rounds -> memory. Bytes per point and per tag are the differences over the counts.
//!
//! Resident memory includes what the allocator keeps after freeing (parse transients), so the
//! split is an upper bound for each part.

use crate::RestartArgs;
use crate::drain::probe_until_handled;
use crate::mqtt::{Publisher, forget_session};
use crate::setup::{Setup, prepare_at, safety_batch, spread};
use crate::stats::show;
use minewatch_core::procfs::resident_bytes;
use minewatch_core::time::{format_rfc3339, now_millis};
use minewatch_sim::{Message, Sim, SimConfig};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to become ready, to take a round, or to stop.
const SERVER_WAIT: Duration = Duration::from_secs(120);
/// How often `/readyz` is asked while waiting for it.
const READY_POLL: Duration = Duration::from_millis(10);
/// One HTTP request to the server.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// The CO limit of the scale registry is 24 ppm: this raises the alert of a point above its limit.
const CO_OVER: f64 = 50.0;

/// What a restart run measured. Memory in bytes.
#[derive(Debug, Clone, Default)]
pub struct RestartReport {
    pub mines: usize,
    pub points: usize,
    /// Active alerts asked for, raised before the restart, and active again after it.
    pub alerts: usize,
    pub alerts_before: u64,
    pub alerts_after: u64,
    /// Seconds from spawning the process to `/readyz` = 200: empty registry, first start with
    /// the registry, and the restart with the registry and the alerts.
    pub ready_empty_secs: f64,
    pub ready_first_secs: f64,
    /// Each restart's time to ready (`--restarts` of them, the same store each time).
    pub restarts: Vec<f64>,
    /// The server's own startup phases at the first start (store empty): seconds to the
    /// registry parsed and to the engine state and live view built, and its resident memory
    /// then (`minewatch_startup_*`); and the same seconds at the restart.
    pub first_registry_secs: f64,
    pub first_state_secs: f64,
    pub rss_registry: Option<u64>,
    pub rss_state: Option<u64>,
    pub restart_registry_secs: f64,
    pub restart_state_secs: f64,
    /// Resident memory: empty registry at ready; full registry and alerts at ready; after
    /// every point reported once; after every tag too; after the rest; after two more rounds.
    pub rss_empty: Option<u64>,
    pub rss_ready: Option<u64>,
    pub rss_points: Option<u64>,
    pub rss_tags: Option<u64>,
    pub rss_all: Option<u64>,
    pub rss_rounds: Option<u64>,
    /// Distinct tags the simulator reported.
    pub tags: usize,
}

impl RestartReport {
    /// The slowest restart's time to ready.
    pub fn ready_secs(&self) -> Option<f64> {
        self.restarts.iter().copied().reduce(f64::max)
    }

    fn total_points(&self) -> usize {
        self.mines * self.points
    }

    fn per(a: Option<u64>, b: Option<u64>, n: usize) -> Option<f64> {
        let (a, b) = (a?, b?);
        (n > 0).then(|| (b as f64 - a as f64) / n as f64)
    }

    /// The compiled registry per point: at the end of the first start's registry phase minus
    /// the server with an empty registry.
    pub fn registry_per_point(&self) -> Option<f64> {
        Self::per(self.rss_empty, self.rss_registry, self.total_points())
    }

    /// Engine state and live view per point: what the first start allocated for them (state
    /// phase minus registry phase), plus what one report of every point added after the
    /// restart.
    pub fn engine_per_point(&self) -> Option<f64> {
        let built = Self::per(self.rss_registry, self.rss_state, self.total_points())?;
        Some(built + Self::per(self.rss_ready, self.rss_points, self.total_points())?)
    }

    /// Engine state and live view per tag.
    pub fn engine_per_tag(&self) -> Option<f64> {
        Self::per(self.rss_points, self.rss_tags, self.tags)
    }

    /// Everything live (after the extra rounds) minus at ready, per point.
    pub fn live_per_point(&self) -> Option<f64> {
        Self::per(self.rss_ready, self.rss_rounds, self.total_points())
    }

    /// A human-readable summary.
    pub fn summary(&self) -> String {
        let mb = |v: Option<u64>| show(v.map(|b| b as f64 / 1_048_576.0), 1);
        format!(
            "restart: {} mines x {} points = {} points, {} tags, {} alerts asked\n\
             ready (spawn to /readyz 200): empty registry {:.3} s; first start {:.3} s; \
             restart with {} active alerts: {} s (worst {} s)\n\
             server's phases, first start: registry {:.3} s, state {:.3} s; last restart: \
             registry {:.3} s, state {:.3} s\n\
             first start resident (MiB): registry parsed {}, engine and live view built {}\n\
             alerts active: {} before the restart, {} after\n\
             resident memory (MiB): empty registry {}; registry + alerts at ready {}; \
             + every point once {}; + every tag {}; + video/power/explosives {}; \
             + two more rounds {}\n\
             per point: registry {} B, engine state + live view {} B; per tag: {} B \
             (growth from ready through three rounds of every system, over points: {} B)",
            self.mines,
            self.points,
            self.total_points(),
            self.tags,
            self.alerts,
            self.ready_empty_secs,
            self.ready_first_secs,
            self.alerts_after,
            self.restarts
                .iter()
                .map(|s| format!("{s:.3}"))
                .collect::<Vec<_>>()
                .join(", "),
            show(self.ready_secs(), 3),
            self.first_registry_secs,
            self.first_state_secs,
            self.restart_registry_secs,
            self.restart_state_secs,
            mb(self.rss_registry),
            mb(self.rss_state),
            self.alerts_before,
            self.alerts_after,
            mb(self.rss_empty),
            mb(self.rss_ready),
            mb(self.rss_points),
            mb(self.rss_tags),
            mb(self.rss_all),
            mb(self.rss_rounds),
            show(self.registry_per_point(), 0),
            show(self.engine_per_point(), 0),
            show(self.engine_per_tag(), 0),
            show(self.live_per_point(), 0),
        )
    }

    /// One JSON line for scripts.
    pub fn json(&self) -> String {
        serde_json::json!({
            "mode": "restart",
            "mines": self.mines,
            "points": self.points,
            "tags": self.tags,
            "alerts": self.alerts,
            "alerts_before": self.alerts_before,
            "alerts_after": self.alerts_after,
            "ready_empty_secs": self.ready_empty_secs,
            "ready_first_secs": self.ready_first_secs,
            "ready_secs": self.ready_secs(),
            "restarts_secs": self.restarts,
            "first_registry_secs": self.first_registry_secs,
            "first_state_secs": self.first_state_secs,
            "restart_registry_secs": self.restart_registry_secs,
            "restart_state_secs": self.restart_state_secs,
            "rss_registry": self.rss_registry,
            "rss_state": self.rss_state,
            "rss_empty": self.rss_empty,
            "rss_ready": self.rss_ready,
            "rss_points": self.rss_points,
            "rss_tags": self.rss_tags,
            "rss_all": self.rss_all,
            "rss_rounds": self.rss_rounds,
            "registry_bytes_per_point": self.registry_per_point(),
            "engine_bytes_per_point": self.engine_per_point(),
            "live_bytes_per_point": self.live_per_point(),
            "engine_bytes_per_tag": self.engine_per_tag(),
        })
        .to_string()
    }
}

/// Runs the restart and memory measurement.
pub async fn run(args: &RestartArgs) -> Result<RestartReport, String> {
    let groups = args.common.points / minewatch_sim::scale::GROUP_POINTS;
    // Two CO points per group.
    let room = args.common.mines * groups * 2;
    if args.alerts > room {
        return Err(format!(
            "--alerts {} is more than the {room} CO points of {} mines x {} points",
            args.alerts, args.common.mines, args.common.points
        ));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let port = free_port()?;
    let setup = prepare_at(&args.common, &format!("127.0.0.1:{port}"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let publisher = setup.publisher().await?;
    let mut server = None;
    let res = measure(args, &exe, addr, &setup, &publisher, &mut server).await;
    if let Some(child) = server.take() {
        stop(child).await;
    }
    setup.finish(publisher).await;
    // The baseline server's session too, in case the run ended before it was removed.
    if let Err(e) = forget_session(&setup.host, setup.port, &empty_client_id(&setup)).await {
        eprintln!("load: could not remove the baseline server's session from the broker: {e}");
    }
    res
}

/// The MQTT client id of the baseline server (empty registry).
fn empty_client_id(setup: &Setup) -> String {
    format!("{}-empty", setup.client_id)
}

async fn measure(
    args: &RestartArgs,
    exe: &Path,
    addr: SocketAddr,
    setup: &Setup,
    publisher: &Publisher,
    server: &mut Option<Child>,
) -> Result<RestartReport, String> {
    let mut r = RestartReport {
        mines: setup.mines.len(),
        points: args.common.points,
        alerts: args.alerts,
        ..RestartReport::default()
    };

    // 1. Baseline: no registry.
    let empty = empty_config(setup)?;
    let (child, secs) = start(exe, &empty, &setup.root.join("server-empty.log"), addr).await?;
    r.ready_empty_secs = secs;
    r.rss_empty = resident_bytes(Some(child.id()));
    stop(child).await;
    // Its session would otherwise collect the whole run in the broker.
    forget_session(&setup.host, setup.port, &empty_client_id(setup)).await?;

    // 2. First start; raise the alerts; stop.
    let (child, secs) = start(exe, &setup.config, &setup.root.join("server-1.log"), addr).await?;
    r.ready_first_secs = secs;
    *server = Some(child);
    let text = get(addr, "/metrics").await?;
    (r.first_registry_secs, r.rss_registry) = phase(&text, "registry");
    (r.first_state_secs, r.rss_state) = phase(&text, "state");
    wait_subscribed(addr, setup, publisher).await?;
    let ts = format_rfc3339(now_millis());
    for (n, payload) in over_limit_batches(setup, args.alerts, &ts) {
        publisher.publish(setup.topic(n, "safety"), payload).await?;
    }
    r.alerts_before = wait_for(addr, "alerts", |m| {
        let a = sum(m, "minewatch_alerts_active", &[]);
        (a >= args.alerts as f64).then_some(a as u64)
    })
    .await?;
    if let Some(child) = server.take() {
        stop(child).await;
    }

    // 3. The restarts; the last server stays up for the live state.
    let mut pid = 0;
    for k in 1..=args.restarts.max(1) {
        let log = setup.root.join(format!("server-restart-{k}.log"));
        let (child, secs) = start(exe, &setup.config, &log, addr).await?;
        pid = child.id();
        r.restarts.push(secs);
        r.rss_ready = resident_bytes(Some(pid));
        let text = get(addr, "/metrics").await?;
        let active = sum(&text, "minewatch_alerts_active", &[]) as u64;
        r.alerts_after = if k == 1 {
            active
        } else {
            r.alerts_after.min(active)
        };
        r.restart_registry_secs = phase(&text, "registry").0;
        r.restart_state_secs = phase(&text, "state").0;
        if k < args.restarts {
            stop(child).await;
        } else {
            *server = Some(child);
        }
    }

    // 4. Live state, one system at a time.
    wait_subscribed(addr, setup, publisher).await?;
    let mut sim = Sim::new(
        setup.mines.clone(),
        SimConfig {
            prefix: setup.prefix.clone(),
            interval_ms: 10_000,
            seed: args.common.seed,
            anomalies: false,
            ..SimConfig::default()
        },
    );
    // The alerted points go on reading over their limit: the rounds measure the points' state,
    // with the alerts standing as they were at ready. (Clean readings would clear them all at
    // once, and what ISA-18.2 keeps of cleared alerts until acknowledged would be counted per
    // point.)
    let held = held_points(setup, args.alerts);
    let mut round = sim.tick(now_millis());
    hold_alerts(&mut round, &held);
    let (safety, rest): (Vec<Message>, Vec<Message>) = round
        .into_iter()
        .partition(|m| m.topic.ends_with("/safety"));
    let (personnel, rest): (Vec<Message>, Vec<Message>) = rest
        .into_iter()
        .partition(|m| m.topic.ends_with("/personnel"));
    r.tags = distinct_tags(&personnel);
    publish_and_wait(addr, publisher, safety).await?;
    r.rss_points = resident_bytes(Some(pid));
    publish_and_wait(addr, publisher, personnel).await?;
    r.rss_tags = resident_bytes(Some(pid));
    publish_and_wait(addr, publisher, rest).await?;
    r.rss_all = resident_bytes(Some(pid));
    for _ in 0..2 {
        // Event time must move on (a batch older than the last one is stale).
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let mut round = sim.tick(now_millis());
        hold_alerts(&mut round, &held);
        publish_and_wait(addr, publisher, round).await?;
    }
    r.rss_rounds = resident_bytes(Some(pid));
    Ok(r)
}

/// The `j`-th CO point of a mine (`P0110`, `P0111`, `P0210`, …), where its `j`-th alert goes.
fn alert_point(j: usize) -> String {
    format!("P{:02}{:02}", 1 + j / 2, 10 + j % 2)
}

/// The points [`over_limit_batches`] raises alerts on, by the topic of their mine's safety data.
fn held_points(setup: &Setup, alerts: usize) -> HashMap<String, HashSet<String>> {
    spread(alerts, setup.mines.len())
        .map(|(n, here)| {
            let points = (0..here).map(alert_point).collect();
            (setup.topic(n, "safety"), points)
        })
        .collect()
}

/// Sets the readings of `held` points in the safety batches of `msgs` to `CO_OVER`.
fn hold_alerts(msgs: &mut [Message], held: &HashMap<String, HashSet<String>>) {
    for m in msgs {
        let Some(points) = held.get(&m.topic) else {
            continue;
        };
        let Ok(mut batch) = serde_json::from_slice::<serde_json::Value>(&m.payload) else {
            continue;
        };
        for r in batch["readings"].as_array_mut().into_iter().flatten() {
            if r["point"].as_str().is_some_and(|p| points.contains(p)) {
                r["value"] = serde_json::json!(CO_OVER);
            }
        }
        if let Ok(payload) = serde_json::to_vec(&batch) {
            m.payload = payload;
        }
    }
}

/// One safety batch per mine that has alerts to raise: CO points read `CO_OVER`. The alerts are
/// spread over the mines; a mine's `j`-th goes on its `j`-th CO point (`P0110`, `P0111`,
/// `P0210`, …).
fn over_limit_batches(setup: &Setup, alerts: usize, ts: &str) -> Vec<(usize, Vec<u8>)> {
    spread(alerts, setup.mines.len())
        .map(|(n, here)| {
            let readings = (0..here).map(|j| (alert_point(j), CO_OVER));
            (n, safety_batch(ts, readings))
        })
        .collect()
}

/// Tags named in personnel batches.
fn distinct_tags(msgs: &[Message]) -> usize {
    let mut tags = HashSet::new();
    for m in msgs {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&m.payload) else {
            continue;
        };
        let mine = m.topic.rsplit('/').nth(1).unwrap_or_default();
        for t in v["tags"].as_array().into_iter().flatten() {
            if let Some(id) = t["tag"].as_str() {
                tags.insert(format!("{mine}/{id}"));
            }
        }
    }
    tags.len()
}

/// Publishes `msgs` and waits until the server has handled every one of them (its per-system
/// message counters, which the shards advance, reach the published counts).
async fn publish_and_wait(
    addr: SocketAddr,
    publisher: &Publisher,
    msgs: Vec<Message>,
) -> Result<(), String> {
    let text = get(addr, "/metrics").await?;
    let mut want: Vec<(String, f64)> = Vec::new();
    for m in &msgs {
        let system = m.topic.rsplit('/').next().unwrap_or_default().to_string();
        match want.iter_mut().find(|(s, _)| *s == system) {
            Some((_, n)) => *n += 1.0,
            None => want.push((system, 1.0)),
        }
    }
    for (system, n) in &mut want {
        *n += sum(
            &text,
            "minewatch_messages_total",
            &[("system", system.as_str())],
        );
    }
    for m in msgs {
        publisher.publish(m.topic, m.payload).await?;
    }
    wait_for(addr, "published batches", |text| {
        want.iter()
            .all(|(system, n)| {
                sum(
                    text,
                    "minewatch_messages_total",
                    &[("system", system.as_str())],
                ) >= *n
            })
            .then_some(())
    })
    .await
}

/// [`crate::drain::wait_subscribed`] for the server in its own process, read through `/metrics`.
async fn wait_subscribed(
    addr: SocketAddr,
    setup: &Setup,
    publisher: &Publisher,
) -> Result<(), String> {
    probe_until_handled(setup, publisher, now_millis(), || async move {
        let text = get(addr, "/metrics").await?;
        let handled = sum(
            &text,
            "minewatch_messages_total",
            &[("system", "personnel")],
        );
        Ok((
            handled as u64,
            sum(&text, "minewatch_mqtt_connected", &[]) == 1.0,
        ))
    })
    .await
}

/// Polls `/metrics` every 20 ms until `done` gives a value.
async fn wait_for<T>(
    addr: SocketAddr,
    what: &str,
    mut done: impl FnMut(&str) -> Option<T>,
) -> Result<T, String> {
    let deadline = Instant::now() + SERVER_WAIT;
    loop {
        let text = get(addr, "/metrics").await?;
        if let Some(v) = done(&text) {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the server did not take the {what} within {} s",
                SERVER_WAIT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Seconds and resident bytes at the end of the server's startup phase `name`.
fn phase(text: &str, name: &str) -> (f64, Option<u64>) {
    let label = [("phase", name)];
    let bytes = sum(text, "minewatch_startup_resident_bytes", &label);
    (
        sum(text, "minewatch_startup_seconds", &label),
        (bytes > 0.0).then_some(bytes as u64),
    )
}

/// The sum of a metric's samples whose labels include `labels`, from the Prometheus text.
fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let Ok(scrape) = prometheus_parse::Scrape::parse(lines) else {
        return 0.0;
    };
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .filter_map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => Some(v),
            _ => None,
        })
        .sum()
}

/// A config like the run's, with an empty registry directory (and its own store and session).
fn empty_config(setup: &Setup) -> Result<PathBuf, String> {
    let dir = setup.root.join("empty-registry");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let text = std::fs::read_to_string(&setup.config)
        .map_err(|e| format!("{}: {e}", setup.config.display()))?;
    let text = text
        .replace("dir = \"registry\"", "dir = \"empty-registry\"")
        .replace("store.db", "store-empty.db")
        .replace(&setup.client_id, &empty_client_id(setup));
    let path = setup.root.join("minewatch-empty.toml");
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// A port no one listens on now.
fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("cannot find a free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// Spawns `minewatch run --config CONFIG` (log to `log`) and times it to `/readyz` = 200.
async fn start(
    exe: &Path,
    config: &Path,
    log: &Path,
    addr: SocketAddr,
) -> Result<(Child, f64), String> {
    let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    // tracing's formatter writes to stdout.
    let log_err = log_file
        .try_clone()
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let t0 = Instant::now();
    let mut child = Command::new(exe)
        .arg("run")
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the server exited ({status}) before it was ready; its log: {}",
                log.display()
            ));
        }
        if matches!(get_status(addr, "/readyz").await, Ok(200)) {
            return Ok((child, t0.elapsed().as_secs_f64()));
        }
        if t0.elapsed() > SERVER_WAIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the server was not ready within {} s; its log: {}",
                SERVER_WAIT.as_secs(),
                log.display()
            ));
        }
        tokio::time::sleep(READY_POLL).await;
    }
}

/// SIGTERM (the server drains and exits), then SIGKILL if it is still there after the wait.
async fn stop(mut child: Child) {
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    );
    let deadline = Instant::now() + SERVER_WAIT;
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("load: the server did not stop on SIGTERM; killing it");
    let _ = child.kill();
    let _ = child.wait();
}

/// GET `http://{addr}{path}`: status and body.
async fn request(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let url = format!("http://{addr}{path}");
    let fail = |e: reqwest::Error| format!("GET {url}: {e}");
    let res = http_client()?.get(&url).send().await.map_err(fail)?;
    let status = res.status().as_u16();
    Ok((status, res.text().await.map_err(fail)?))
}

/// The client of every request: no pooled connections (each restart is a new server on the
/// same address), and [`HTTP_TIMEOUT`] for each request.
fn http_client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(HTTP_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    Ok(CLIENT.get_or_init(|| c))
}

async fn get_status(addr: SocketAddr, path: &str) -> Result<u16, String> {
    request(addr, path).await.map(|(s, _)| s)
}

/// The body of a GET that must answer 200.
async fn get(addr: SocketAddr, path: &str) -> Result<String, String> {
    match request(addr, path).await? {
        (200, body) => Ok(body),
        (s, _) => Err(format!("GET http://{addr}{path}: status {s}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_summed_by_name_and_label() {
        let text = "# HELP minewatch_alerts_active x\n\
                    minewatch_alerts_active{kind=\"over_limit\",severity=\"critical\"} 3\n\
                    minewatch_alerts_active{kind=\"point_silent\",severity=\"major\"} 4\n\
                    minewatch_alerts_active_other 100\n\
                    minewatch_messages_total{system=\"safety\"} 7\n\
                    minewatch_messages_total{system=\"personnel\"} 2\n";
        assert_eq!(sum(text, "minewatch_alerts_active", &[]), 7.0);
        assert_eq!(
            sum(text, "minewatch_messages_total", &[("system", "personnel")]),
            2.0
        );
        assert_eq!(sum(text, "minewatch_nothing", &[]), 0.0);
        let startup = "minewatch_startup_seconds{phase=\"registry\"} 1.5\n\
                       minewatch_startup_resident_bytes{phase=\"registry\"} 4096\n";
        assert_eq!(phase(startup, "registry"), (1.5, Some(4096)));
        assert_eq!(phase(startup, "state"), (0.0, None));
    }

    #[test]
    fn per_point_figures_are_differences_over_counts() {
        let r = RestartReport {
            mines: 2,
            points: 500,
            tags: 100,
            rss_empty: Some(10_000),
            rss_registry: Some(210_000),
            rss_state: Some(260_000),
            rss_ready: Some(270_000),
            rss_points: Some(370_000),
            rss_tags: Some(390_000),
            ..RestartReport::default()
        };
        assert_eq!(r.registry_per_point(), Some(200.0));
        assert_eq!(r.engine_per_point(), Some(150.0));
        assert_eq!(r.engine_per_tag(), Some(200.0));
        assert_eq!(r.live_per_point(), None);
    }
}
