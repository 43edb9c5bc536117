//! `minewatch load storm`: an alarm storm, as when a substation trips: every point of every mine
//! reports a sensor fault at once (`--mines` x `--points` alerts, 30,000 by default), with
//! `--clients` dashboard clients on `/ws` (no filter). Measured from publishing the round that
//! matures the faults: the time until every alert is stored (the server's `raised` events, counted
//! after each commit), and the time until each client has received every one; clients the
//! gateway drops as too slow are counted.
//!
//! The faults are published twice, `fault_after` (60 s) apart in event time: the first round
//! starts each point's fault, the second (timed) raises them all.

use crate::drain::wait_subscribed;
use crate::setup::{Setup, prepare};
use crate::{Common, Launcher};
use futures_util::StreamExt;
use minewatch_core::EventType;
use minewatch_core::payload::System;
use minewatch_core::time::{format_rfc3339, now_millis};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// The status bit of a sensor fault (contract §1).
const FAULT: u32 = 128;
/// Longer than `[rules] fault_after` (60 s) in event time.
const MATURE_MS: i64 = 61_000;
/// How long the storm may take before the run gives up.
const LIMIT: Duration = Duration::from_secs(300);
/// How long a client may take to connect.
const WS_CONNECT: Duration = Duration::from_secs(10);

/// `minewatch load storm`.
#[derive(clap::Args, Debug, Clone)]
pub struct StormArgs {
    #[command(flatten)]
    pub common: Common,
    /// Dashboard clients on `/ws` without a filter, each reading every event.
    #[arg(long, default_value_t = 100)]
    pub clients: usize,
}

/// What a storm run measured.
#[derive(Debug, Clone, Default)]
pub struct StormReport {
    pub mines: usize,
    pub points: usize,
    pub clients: usize,
    /// Alerts the storm should raise, and those raised.
    pub expected: u64,
    pub raised: u64,
    /// Seconds from publishing the round to every alert stored.
    pub stored_secs: Option<f64>,
    /// Per client, seconds to its last expected alert (clients that got them all).
    pub client_secs: Vec<f64>,
    /// Clients that ended (dropped by the gateway) before receiving every alert.
    pub dropped: usize,
    /// Mines in a flood when every alert was stored.
    pub floods: i64,
    /// Snapshots the gateway sent clients that fell behind, during the storm.
    pub resyncs: u64,
}

impl StormReport {
    pub fn summary(&self) -> String {
        let mut c = self.client_secs.clone();
        c.sort_by(f64::total_cmp);
        let at = |q: f64| {
            (!c.is_empty())
                .then(|| c[((c.len() - 1) as f64 * q).round() as usize])
                .map_or("-".into(), |v| format!("{v:.2} s"))
        };
        format!(
            "storm: {} mines x {} points = {} sensor faults at once, {} clients\n\
             raised {} of {}; stored in {}; clients complete: {} of {} (p50 {}, max {}), dropped {}; \
             resyncs {}; mines in flood: {}",
            self.mines,
            self.points,
            self.expected,
            self.clients,
            self.raised,
            self.expected,
            self.stored_secs.map_or("-".into(), |s| format!("{s:.2} s")),
            self.client_secs.len(),
            self.clients,
            at(0.5),
            at(1.0),
            self.dropped,
            self.resyncs,
            self.floods,
        )
    }

    pub fn json(&self) -> String {
        serde_json::json!({
            "mode": "storm", "mines": self.mines, "points": self.points, "clients": self.clients,
            "expected": self.expected, "raised": self.raised, "stored_secs": self.stored_secs,
            "client_secs": self.client_secs, "dropped": self.dropped, "floods": self.floods,
            "resyncs": self.resyncs,
        })
        .to_string()
    }
}

/// One faulted safety batch for every point of mine `n`. Each value is well inside the point's
/// limits, so the storm raises sensor faults and nothing else (a faulted O2 point reading 0 would
/// also be below its low limit).
fn faults(setup: &Setup, n: usize, ts: i64) -> Vec<u8> {
    let readings: Vec<String> = setup.mines[n]
        .points
        .iter()
        .map(|p| {
            format!(
                "{{\"point\":{},\"value\":{},\"status\":{FAULT}}}",
                serde_json::Value::from(&*p.id),
                quiet(&p.limits)
            )
        })
        .collect();
    format!(
        "{{\"ts\":\"{}\",\"readings\":[{}]}}",
        format_rfc3339(ts),
        readings.join(",")
    )
    .into_bytes()
}

/// A value between a point's low and high alarm limits.
fn quiet(l: &minewatch_core::registry::Limits) -> f64 {
    match (l.alarm_low, l.alarm) {
        (Some(lo), Some(hi)) => (lo + hi) / 2.0,
        (Some(lo), None) => lo + 1.0,
        (None, Some(hi)) => hi / 4.0,
        (None, None) => 0.0,
    }
}

/// Counts the alert whose object starts at `alert` (`"id":"…"`), by a 64-bit hash of its id (no
/// allocation per alert; a collision among 30,000 ids has odds of about 1 in 10^10).
fn see(alert: &[u8], seen: &mut HashSet<u64>) {
    let Some(rest) = alert.strip_prefix(b"\"id\":\"") else {
        return;
    };
    if let Some(end) = memchr::memchr(b'"', rest) {
        let mut h = std::hash::DefaultHasher::new();
        std::hash::Hasher::write(&mut h, &rest[..end]);
        seen.insert(std::hash::Hasher::finish(&h));
    }
}

/// A client reading every event: the time it had seen `expected` alerts active (raised events,
/// and the alerts of a snapshot, which the gateway sends a client that fell behind instead of
/// the events it missed), or `None` if the connection ended first.
async fn client(
    addr: SocketAddr,
    expected: u64,
    t0: Arc<std::sync::OnceLock<Instant>>,
    snapshots: Arc<std::sync::atomic::AtomicUsize>,
) -> Option<f64> {
    let url = format!("ws://{addr}/ws");
    // A snapshot of 30,000 alerts is tens of MB in one frame: a browser takes it, so this client
    // must too (tungstenite's default frame limit is 16 MiB).
    let config = WebSocketConfig::default()
        .max_message_size(Some(1 << 30))
        .max_frame_size(Some(1 << 30));
    let (mut ws, _) = tokio::time::timeout(
        WS_CONNECT,
        tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), false),
    )
    .await
    .ok()?
    .ok()?;
    let mut seen: HashSet<u64> = HashSet::with_capacity(expected as usize);
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(LIMIT, ws.next()).await {
        let WsMessage::Text(text) = msg else { continue };
        let text = text.as_str();
        let bytes = text.as_bytes();
        if bytes.starts_with(b"{\"type\":\"raised\"") {
            // The alert's id is the first "id" after "alert": no full parse per event.
            if let Some(i) = memchr::memmem::find(bytes, b"\"alert\":{\"id\":\"") {
                see(&bytes[i + 9..], &mut seen);
            }
        } else if bytes.starts_with(b"{\"type\":\"snapshot\"") {
            // Every alert object starts with its id; a scan, not a parse of tens of MB (the
            // clients share the machine's cores with the server they measure).
            let active =
                memchr::memmem::find(bytes, b"\"cleared\":[").map_or(bytes, |end| &bytes[..end]);
            for i in memchr::memmem::find_iter(active, b"{\"id\":\"") {
                see(&active[i + 1..], &mut seen);
            }
            if t0.get().is_none() {
                snapshots.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        if seen.len() as u64 >= expected {
            return t0.get().map(|t| t.elapsed().as_secs_f64());
        }
    }
    None
}

/// Runs the storm.
pub async fn run(args: &StormArgs, launcher: &dyn Launcher) -> Result<StormReport, String> {
    let setup = prepare(&args.common)?;
    let publisher = setup.publisher().await?;
    let server = launcher.start(&setup.config).await?;
    let res = async {
        let ts = now_millis() - 2 * MATURE_MS;
        wait_subscribed(server.as_ref(), &setup, &publisher, ts).await?;
        let m = server.metrics();
        let addr = server.http_addr();
        let expected = (setup.mines.len() * args.common.points) as u64;
        // The first round starts every fault; wait until it is handled.
        let handled0 = m.messages[System::Safety.index()].get();
        for n in 0..setup.mines.len() {
            publisher
                .publish(setup.topic(n, "safety"), faults(&setup, n, ts))
                .await?;
        }
        let deadline = Instant::now() + LIMIT;
        while m.messages[System::Safety.index()].get() < handled0 + setup.mines.len() as u64 {
            if Instant::now() > deadline {
                return Err("the first round was not handled in time".to_string());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let t0 = Arc::new(std::sync::OnceLock::new());
        let snapshots = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..args.clients {
            tasks.push(tokio::spawn(client(
                addr,
                expected,
                t0.clone(),
                snapshots.clone(),
            )));
        }
        // Every client has read its snapshot before the storm.
        while snapshots.load(std::sync::atomic::Ordering::Relaxed) < args.clients {
            if Instant::now() > deadline {
                return Err("the clients did not get their snapshots in time".to_string());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let raised0 = m.alert_events_of(EventType::Raised);
        let resyncs0 = m.ws_resyncs.get();
        let start = Instant::now();
        let _ = t0.set(start);
        for n in 0..setup.mines.len() {
            publisher
                .publish(setup.topic(n, "safety"), faults(&setup, n, ts + MATURE_MS))
                .await?;
        }
        let mut stored_secs = None;
        while start.elapsed() < LIMIT {
            if m.alert_events_of(EventType::Raised) - raised0 >= expected {
                stored_secs = Some(start.elapsed().as_secs_f64());
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let floods = m.mines_in_flood.get();
        let mut client_secs = Vec::new();
        let mut dropped = 0;
        for t in tasks {
            match t.await {
                Ok(Some(s)) => client_secs.push(s),
                _ => dropped += 1,
            }
        }
        Ok(StormReport {
            mines: setup.mines.len(),
            points: args.common.points,
            clients: args.clients,
            expected,
            raised: m.alert_events_of(EventType::Raised) - raised0,
            stored_secs,
            client_secs,
            dropped,
            floods,
            resyncs: m.ws_resyncs.get() - resyncs0,
        })
    }
    .await;
    server.shutdown().await;
    setup.finish(publisher).await;
    res
}
