//! `minewatch load latency` and `minewatch load fanout`: alert latency under a steady live load.
//!
//! Simulated safety batches (clean telemetry, event time = now) go out at `--rate` readings/s,
//! paced by a 10 ms tokio interval against the elapsed time, each mine in turn. About once a
//! second the first mine's coal-face methane point `P0101` reads over its alarm (1.1xx %, the
//! last digits numbering the spike) in a batch of its own, and 300 ms later back at 0.30 % so the
//! alert resolves and the next spike raises a new one. A WebSocket client on `/ws?mine=…` times
//! each `raised` event from just before its spike was handed to the MQTT client.
//!
//! `fanout` adds `--clients` reading clients, client i filtered to mine i mod `--mines`, and
//! `--stalled` clients without a filter that connect and never read; the gateway must resync or
//! drop those rather than let them slow anyone else.

use crate::drain::wait_subscribed;
use crate::mqtt::Publisher;
use crate::setup::{Setup, prepare, safety_batch, spread};
use crate::stats::{per_sec, percentile, show};
use crate::{LatencyArgs, Launcher, Running};
use futures_util::StreamExt;
use minewatch_core::EventType;
use minewatch_core::payload::System;
use minewatch_core::procfs::{cores, cpu_seconds};
use minewatch_core::time::{format_rfc3339, now_millis};
use minewatch_sim::{Message, Sim, SimConfig};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The point driven over its limit (coal-face methane of the first longwall, alarm 1.0 %).
const SPIKE_POINT: &str = "P0101";
/// Spikes are numbered modulo this in their value: 1.100 + n / 1000 stays under power-off 1.5 %.
const SPIKE_CODES: usize = 90;
/// Pacing step.
const STEP: Duration = Duration::from_millis(10);
/// How long after a spike the point reads normal again.
const RESOLVE_AFTER: Duration = Duration::from_millis(300);
/// A WebSocket connect may take this long.
const WS_CONNECT: Duration = Duration::from_secs(10);
/// After the load stops, alerts still on their way are waited for this long.
const GRACE: Duration = Duration::from_secs(3);

/// What a latency or fan-out run measured.
#[derive(Debug, Clone)]
pub struct LiveReport {
    /// `latency` or `fanout`.
    pub mode: &'static str,
    pub mines: usize,
    pub points: usize,
    pub shards: usize,
    pub cores: usize,
    /// Target and achieved readings per second.
    pub rate: u64,
    pub achieved: f64,
    pub secs: f64,
    /// Safety batches published; batches skipped because publishing fell more than 1 s behind.
    pub batches: u64,
    pub behind: u64,
    /// Safety messages the server handled.
    pub handled: u64,
    /// Spikes published, and latencies (ms) of the alerts they raised, as received.
    pub spikes: u64,
    pub samples: Vec<f64>,
    /// `raised` events for the point that matched no recorded spike.
    pub unmatched: u64,
    pub cpu_secs: Option<f64>,
    pub broker_cpu_secs: Option<f64>,
    /// Fan-out: reading clients, events they received, stalled clients, WebSocket clients still
    /// connected at the end (as the server counts them), resyncs the gateway sent.
    pub clients: usize,
    pub client_events: u64,
    pub client_errors: u64,
    pub stalled: usize,
    /// Active alerts raised before the clients connected (in every client's first snapshot).
    pub backlog: usize,
    pub ws_clients_end: i64,
    pub ws_resyncs: u64,
    pub alerts_raised: u64,
    /// Connection errors of the tool's MQTT publisher (it reconnects; QoS 1 may then repeat).
    pub publisher_errors: u64,
    /// Hostile messages published (one before each spike, `--hostile-elements` bad elements each).
    pub hostile: u64,
    pub hostile_elements: usize,
}

impl LiveReport {
    fn sorted(&self) -> Vec<f64> {
        let mut v = self.samples.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    /// Latency percentile `p` in ms.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        percentile(&self.sorted(), p)
    }

    /// A human-readable summary.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}: {} mines x {} points, {} shards, {} cores, {:.1} s\n\
             published {} safety batches: {:.0} readings/s (target {}){}\n\
             server handled {} safety messages\n\
             alert latency, publish -> WebSocket, {} of {} spikes ({} unmatched raises): \
             p50 {} ms, p90 {} ms, p99 {} ms, max {} ms\n\
             CPU: this process (server + load) {} s ({} cores busy); broker {} s",
            self.mode,
            self.mines,
            self.points,
            self.shards,
            self.cores,
            self.secs,
            self.batches,
            self.achieved,
            self.rate,
            if self.behind > 0 {
                format!(", FELL BEHIND: {} batches skipped", self.behind)
            } else {
                String::new()
            },
            self.handled,
            self.samples.len(),
            self.spikes,
            self.unmatched,
            show(self.percentile(50.0), 1),
            show(self.percentile(90.0), 1),
            show(self.percentile(99.0), 1),
            show(self.percentile(100.0), 1),
            show(self.cpu_secs, 2),
            show(self.cpu_secs.and_then(|c| per_sec(c, self.secs)), 2),
            show(self.broker_cpu_secs, 2),
        );
        if self.mode == "fanout" {
            s.push_str(&format!(
                "\nfan-out: {} reading clients received {} events ({} errors); {} stalled \
                 clients, {} alerts active before they connected; {} WebSocket clients \
                 connected at the end of {} opened; {} resyncs",
                self.clients,
                self.client_events,
                self.client_errors,
                self.stalled,
                self.backlog,
                self.ws_clients_end,
                self.clients + self.stalled + 1,
                self.ws_resyncs,
            ));
        }
        if self.hostile > 0 {
            s.push_str(&format!(
                "\nhostile: {} messages of {} bad elements, each published to another mine right \
                 before a spike",
                self.hostile, self.hostile_elements
            ));
        }
        if self.publisher_errors > 0 {
            s.push_str(&format!(
                "\nWARNING: the publisher lost its broker connection {} times",
                self.publisher_errors
            ));
        }
        s
    }

    /// One JSON line for scripts.
    pub fn json(&self) -> String {
        serde_json::json!({
            "mode": self.mode,
            "mines": self.mines,
            "points": self.points,
            "shards": self.shards,
            "cores": self.cores,
            "rate": self.rate,
            "achieved": self.achieved,
            "secs": self.secs,
            "batches": self.batches,
            "behind": self.behind,
            "handled": self.handled,
            "spikes": self.spikes,
            "samples": self.samples.len(),
            "unmatched": self.unmatched,
            "p50_ms": self.percentile(50.0),
            "p90_ms": self.percentile(90.0),
            "p99_ms": self.percentile(99.0),
            "max_ms": self.percentile(100.0),
            "cpu_secs": self.cpu_secs,
            "broker_cpu_secs": self.broker_cpu_secs,
            "clients": self.clients,
            "client_events": self.client_events,
            "client_errors": self.client_errors,
            "stalled": self.stalled,
            "backlog": self.backlog,
            "ws_clients_end": self.ws_clients_end,
            "ws_resyncs": self.ws_resyncs,
            "alerts_raised": self.alerts_raised,
            "publisher_errors": self.publisher_errors,
            "hostile": self.hostile,
            "hostile_elements": self.hostile_elements,
        })
        .to_string()
    }
}

/// Publish instants of the spikes in flight, by code.
type Book = Arc<Mutex<Vec<Option<Instant>>>>;

/// The fan-out part of a run: reading clients, clients that never read, and the active alerts
/// raised before any client connects.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fanout {
    pub clients: usize,
    pub stalled: usize,
    pub backlog: usize,
}

/// A stalled client's socket receive buffer: small, so the gateway's sends to it block soon.
const STALLED_RCVBUF: u32 = 4096;

/// Runs `latency`, or `fanout` with `Some(plan)`.
pub async fn run(
    args: &LatencyArgs,
    fanout: Option<Fanout>,
    launcher: &dyn Launcher,
) -> Result<LiveReport, String> {
    if args.rate == 0 || !args.duration.is_finite() || args.duration <= 0.0 {
        return Err("--rate and --duration must be positive".into());
    }
    let setup = prepare(&args.common)?;
    let publisher = setup.publisher().await?;
    let server = launcher.start(&setup.config).await?;
    let res = match wait_subscribed(server.as_ref(), &setup, &publisher, now_millis()).await {
        Ok(()) => measure(args, fanout, &setup, &publisher, server.as_ref()).await,
        Err(e) => Err(e),
    };
    server.shutdown().await;
    setup.finish(publisher).await;
    res
}

async fn measure(
    args: &LatencyArgs,
    fanout: Option<Fanout>,
    setup: &Setup,
    publisher: &Publisher,
    server: &dyn Running,
) -> Result<LiveReport, String> {
    let addr = server.http_addr();
    let mine0 = setup.mines[0].id.to_string();
    let book: Book = Arc::new(Mutex::new(vec![None; SPIKE_CODES]));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let unmatched = Arc::new(AtomicU64::new(0));
    let plan = fanout.unwrap_or_default();
    if plan.backlog > 0 {
        raise_backlog(setup, publisher, server, plan.backlog).await?;
    }
    let mut tasks = Vec::new();
    let ws = connect_ws(addr, &format!("mine={mine0}")).await?;
    tasks.push(tokio::spawn(time_alerts(
        ws,
        book.clone(),
        samples.clone(),
        unmatched.clone(),
    )));
    let (clients, stalled) = (plan.clients, plan.stalled);
    let events = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    for i in 0..clients {
        let mine = &setup.mines[i % setup.mines.len()].id;
        let ws = connect_ws(addr, &format!("mine={mine}")).await?;
        tasks.push(tokio::spawn(count_events(
            ws,
            events.clone(),
            errors.clone(),
        )));
    }
    // Held open and never polled, with a small receive buffer: the gateway's sends to them (the
    // snapshot of every active alert first) block until it gives up on them.
    let mut held = Vec::with_capacity(stalled);
    for _ in 0..stalled {
        held.push(connect_stalled(addr).await?);
    }

    let points = args.common.points;
    let batches_per_sec = args.rate as f64 / points as f64;
    // Each mine reports once per round, so the rate is met with every mine at the same cadence.
    let round_ms = (setup.mines.len() as f64 * 1000.0 / batches_per_sec).max(1.0);
    let mut sim = Sim::new(
        setup.mines.clone(),
        SimConfig {
            prefix: setup.prefix.clone(),
            interval_ms: round_ms as i64,
            seed: args.common.seed,
            anomalies: args.anomalies,
            anomaly_every_ms: 60_000,
            ..SimConfig::default()
        },
    );
    let spike_topic = setup.topic(0, "safety");
    let hostile_topic = setup.topic(1 % setup.mines.len(), "safety");
    // `{}` elements after the batch's ts: each one a bad element (no point, no value).
    let hostile_body = (args.hostile_elements > 0).then(|| {
        let mut b = String::with_capacity(args.hostile_elements * 3 + 16);
        b.push_str("\",\"readings\":[");
        for i in 0..args.hostile_elements {
            b.push_str(if i == 0 { "{}" } else { ",{}" });
        }
        b.push_str("]}");
        b
    });
    let mut hostile = 0u64;
    let m = server.metrics();
    let handled0 = m.messages[System::Safety.index()].get();
    let cpu0 = cpu_seconds(None);
    let broker0 = args.common.broker_pid.and_then(|p| cpu_seconds(Some(p)));
    let duration = Duration::from_secs_f64(args.duration);
    let t0 = Instant::now();
    let mut queue: VecDeque<Message> = VecDeque::new();
    let (mut batches, mut behind, mut spikes) = (0u64, 0u64, 0u64);
    let mut next_spike = t0 + Duration::from_secs(1);
    let mut resolve_at: Option<Instant> = None;
    let mut ticker = tokio::time::interval(STEP);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while t0.elapsed() < duration {
        ticker.tick().await;
        let now = Instant::now();
        let due = ((now - t0).as_secs_f64() * batches_per_sec) as u64;
        if due > batches + batches_per_sec.ceil() as u64 {
            let skip = due - batches - batches_per_sec.ceil() as u64;
            behind += skip;
            batches += skip;
        }
        while batches < due {
            if queue.is_empty() {
                queue.extend(
                    sim.tick(now_millis())
                        .into_iter()
                        .filter(|m| m.topic.ends_with("/safety")),
                );
            }
            let Some(msg) = queue.pop_front() else { break };
            publisher.publish(msg.topic, msg.payload).await?;
            batches += 1;
        }
        let now = Instant::now();
        if let Some(at) = resolve_at
            && now >= at
        {
            publisher
                .publish(spike_topic.clone(), reading(SPIKE_POINT, 0.30))
                .await?;
            resolve_at = None;
        }
        if resolve_at.is_none() && now >= next_spike {
            if let Some(body) = &hostile_body {
                let payload = format!("{{\"ts\":\"{}{body}", format_rfc3339(now_millis()));
                publisher
                    .publish(hostile_topic.clone(), payload.into_bytes())
                    .await?;
                hostile += 1;
            }
            let code = spikes as usize % SPIKE_CODES;
            let value = 1.1 + code as f64 / 1000.0;
            let payload = reading(SPIKE_POINT, value);
            if let Ok(mut b) = book.lock() {
                b[code] = Some(Instant::now());
            }
            publisher.publish(spike_topic.clone(), payload).await?;
            spikes += 1;
            resolve_at = Some(now + RESOLVE_AFTER);
            next_spike += Duration::from_secs(1);
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu1 = cpu_seconds(None);
    let broker1 = args.common.broker_pid.and_then(|p| cpu_seconds(Some(p)));
    // Alerts still on their way.
    let grace = Instant::now() + GRACE;
    while Instant::now() < grace {
        let got = samples.lock().map_or(0, |s| s.len()) as u64 + unmatched.load(Ordering::Relaxed);
        if got >= spikes {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ws_clients_end = m.ws_clients.get();
    for t in &tasks {
        t.abort();
    }
    drop(held);
    let diff = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| (b - a).max(0.0));
    let samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    Ok(LiveReport {
        mode: if fanout.is_some() {
            "fanout"
        } else {
            "latency"
        },
        mines: setup.mines.len(),
        points,
        shards: args.common.shards,
        cores: cores(),
        rate: args.rate,
        achieved: ((batches - behind) * points as u64) as f64 / secs,
        secs,
        batches: batches - behind,
        behind,
        handled: m.messages[System::Safety.index()].get() - handled0,
        spikes,
        samples,
        unmatched: unmatched.load(Ordering::Relaxed),
        cpu_secs: diff(cpu0, cpu1),
        broker_cpu_secs: diff(broker0, broker1),
        clients,
        client_events: events.load(Ordering::Relaxed),
        client_errors: errors.load(Ordering::Relaxed),
        stalled,
        backlog: plan.backlog,
        ws_clients_end,
        ws_resyncs: m.ws_resyncs.get(),
        alerts_raised: m.alert_events_of(EventType::Raised),
        publisher_errors: publisher.errors(),
        hostile,
        hostile_elements: args.hostile_elements,
    })
}

/// A one-reading safety batch at the wall clock.
fn reading(point: &str, value: f64) -> Vec<u8> {
    format!(
        "{{\"ts\":\"{}\",\"readings\":[{{\"point\":\"{point}\",\"value\":{value:.3}}}]}}",
        format_rfc3339(now_millis())
    )
    .into_bytes()
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An unfiltered client whose socket has a [`STALLED_RCVBUF`] receive buffer.
async fn connect_stalled(addr: SocketAddr) -> Result<Ws, String> {
    let url = format!("ws://{addr}/ws");
    let io = async {
        let sock = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .map_err(|e| e.to_string())?;
        sock.set_recv_buffer_size(STALLED_RCVBUF)
            .map_err(|e| e.to_string())?;
        let stream = sock.connect(addr).await.map_err(|e| e.to_string())?;
        tokio_tungstenite::client_async(
            url.as_str(),
            tokio_tungstenite::MaybeTlsStream::Plain(stream),
        )
        .await
        .map(|(ws, _)| ws)
        .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(WS_CONNECT, io).await {
        Ok(r) => r.map_err(|e| format!("WebSocket {url}: {e}")),
        Err(_) => Err(format!(
            "WebSocket {url}: no handshake within {} s",
            WS_CONNECT.as_secs()
        )),
    }
}

/// Raises `n` alerts about unregistered devices (they stay until acknowledged), spread over
/// the mines: readings of points `U00000`, `U00001`, … that the registry does not define.
async fn raise_backlog(
    setup: &Setup,
    publisher: &Publisher,
    server: &dyn Running,
    n: usize,
) -> Result<(), String> {
    let m = server.metrics();
    let before = m.alert_events_of(EventType::Raised);
    let ts = format_rfc3339(now_millis());
    for (mine, here) in spread(n, setup.mines.len()) {
        let payload = safety_batch(&ts, (0..here).map(|j| (format!("U{j:05}"), 0.0)));
        publisher
            .publish(setup.topic(mine, "safety"), payload)
            .await?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while m.alert_events_of(EventType::Raised) < before + n as u64 {
        if Instant::now() > deadline {
            return Err(format!(
                "the server raised {} of the {n} backlog alerts within 60 s",
                m.alert_events_of(EventType::Raised) - before
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn connect_ws(addr: SocketAddr, query: &str) -> Result<Ws, String> {
    let url = format!("ws://{addr}/ws?{query}");
    match tokio::time::timeout(WS_CONNECT, tokio_tungstenite::connect_async(url.as_str())).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(format!(
            "WebSocket {url}: {e} (for many clients, raise the open-file limit: ulimit -n)"
        )),
        Err(_) => Err(format!(
            "WebSocket {url}: no handshake within {} s",
            WS_CONNECT.as_secs()
        )),
    }
}

/// The spike point's alarm limit: an alert raised about the spike point with this limit is the
/// one its reading over the limit raises.
const SPIKE_ALARM: f64 = 1.0;

/// The measuring client: times every `raised` event of the spike point at its alarm limit.
async fn time_alerts(
    mut ws: Ws,
    book: Book,
    samples: Arc<Mutex<Vec<f64>>>,
    unmatched: Arc<AtomicU64>,
) {
    while let Some(Ok(msg)) = ws.next().await {
        let arrived = Instant::now();
        let WsMessage::Text(text) = msg else { continue };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(text.as_str()) else {
            continue;
        };
        let a = &v["alert"];
        if v["type"] != "raised"
            || a["subject"] != SPIKE_POINT
            || a["limit"].as_f64() != Some(SPIKE_ALARM)
        {
            continue;
        }
        let sent = a["value"].as_f64().and_then(|x| {
            let code = ((x - 1.1) * 1000.0).round();
            if !(0.0..SPIKE_CODES as f64).contains(&code) {
                return None;
            }
            book.lock().ok()?.get_mut(code as usize)?.take()
        });
        match sent {
            Some(t) => {
                if let Ok(mut s) = samples.lock() {
                    s.push((arrived - t).as_secs_f64() * 1000.0);
                }
            }
            None => {
                unmatched.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// A fan-out client: reads and counts every event.
async fn count_events(mut ws: Ws, events: Arc<AtomicU64>, errors: Arc<AtomicU64>) {
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(WsMessage::Text(_)) => {
                events.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(_) => {
                errors.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
    }
}
