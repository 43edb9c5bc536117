//! `minewatch load drain`: how fast a backlog queued in the broker is worked through.
//!
//! 1. Start the server once, so the broker holds its persistent session and subscription, wait
//!    until a probe message comes through, stop it.
//! 2. Publish `--messages` safety batches (simulated telemetry at a 10 s cadence ending two minutes
//!    ago, automatic anomalies every minute so alerts are raised and stored) with QoS 1 and wait
//!    for every PUBACK: the broker now holds the backlog for the stopped session.
//! 3. Start the server again and poll its safety-message counter every millisecond: the clock runs
//!    from the first message handled to the last; CPU time (this process, and the broker's with
//!    `--broker-pid`) over the same interval. Then wait for the alert writer to settle and count
//!    the events it stored.
//!
//! A broker that keeps fewer messages for an offline session than were queued drops the rest;
//! the report then says how many arrived and why.

use crate::mqtt::Publisher;
use crate::setup::{Setup, prepare};
use crate::stats::{per_sec, show};
use crate::{DrainArgs, Launcher, Running};
use minewatch_core::EventType;
use minewatch_core::payload::System;
use minewatch_core::procfs::{cores, cpu_seconds};
use minewatch_core::time::{Millis, format_rfc3339, now_millis};
use minewatch_sim::{Sim, SimConfig};
use std::time::{Duration, Instant};

/// Event-time cadence of the queued telemetry.
const INTERVAL_MS: Millis = 10_000;
/// How long any wait for the server (connect, subscription, store) may take.
const SERVER_WAIT: Duration = Duration::from_secs(30);

/// What a drain measured.
#[derive(Debug, Clone)]
pub struct DrainReport {
    pub mines: usize,
    pub points: usize,
    pub shards: usize,
    pub cores: usize,
    /// Safety batches published, and PUBACKed by the broker.
    pub published: u64,
    pub acked: u64,
    /// Readings in the published batches.
    pub readings_published: u64,
    /// Seconds the publishing took (not part of the measurement).
    pub publish_secs: f64,
    /// Safety messages the server handled, and the readings it accepted from them.
    pub handled: u64,
    pub readings: u64,
    /// From the first message handled to the last.
    pub secs: f64,
    /// CPU seconds (user + system) of this process and of the broker over `secs`.
    pub cpu_secs: Option<f64>,
    pub broker_cpu_secs: Option<f64>,
    /// Alert events stored during the drain, and alerts raised.
    pub events_stored: u64,
    pub alerts_raised: u64,
    /// Connection errors of the tool's MQTT publisher (it reconnects; QoS 1 may then repeat).
    pub publisher_errors: u64,
}

impl DrainReport {
    /// Every published message was handled.
    pub fn complete(&self) -> bool {
        self.handled >= self.published
    }

    pub fn readings_per_sec(&self) -> Option<f64> {
        per_sec(self.readings as f64, self.secs)
    }

    pub fn messages_per_sec(&self) -> Option<f64> {
        per_sec(self.handled as f64, self.secs)
    }

    /// A human-readable summary.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "drain: {} mines x {} points, {} shards, {} cores\n\
             queued {} safety batches ({} readings) in {:.2} s, {} PUBACKs\n\
             handled {} messages, {} readings in {:.3} s (first message handled to last)\n\
             => {} readings/s, {} messages/s\n\
             CPU: minewatch {} s ({} cores busy); broker {} s\n\
             alerts: {} raised, {} events stored",
            self.mines,
            self.points,
            self.shards,
            self.cores,
            self.published,
            self.readings_published,
            self.publish_secs,
            self.acked,
            self.handled,
            self.readings,
            self.secs,
            show(self.readings_per_sec(), 0),
            show(self.messages_per_sec(), 0),
            show(self.cpu_secs, 2),
            show(self.cpu_secs.and_then(|c| per_sec(c, self.secs)), 2),
            show(self.broker_cpu_secs, 2),
            self.alerts_raised,
            self.events_stored,
        );
        if self.acked < self.published {
            s.push_str(&format!(
                "\nWARNING: the broker acknowledged only {} of {} published messages",
                self.acked, self.published
            ));
        }
        if !self.complete() {
            s.push_str(&format!(
                "\nINCOMPLETE: the server received {} of {} queued messages: the broker dropped {}. \
                 Mosquitto keeps at most max_queued_messages for an offline session (1000 in \
                 Debian's default config); run a broker with deploy/mosquitto.conf \
                 (max_queued_messages 100000; its `listener` line sets the port, `-p` does not \
                 override it; BENCHMARKS.md \"Load tool\" shows a copy for another port), and \
                 queue no more than it keeps.",
                self.handled,
                self.published,
                self.published - self.handled
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
            "mode": "drain",
            "mines": self.mines,
            "points": self.points,
            "shards": self.shards,
            "cores": self.cores,
            "published": self.published,
            "acked": self.acked,
            "readings_published": self.readings_published,
            "publish_secs": self.publish_secs,
            "handled": self.handled,
            "readings": self.readings,
            "complete": self.complete(),
            "secs": self.secs,
            "readings_per_sec": self.readings_per_sec(),
            "messages_per_sec": self.messages_per_sec(),
            "cpu_secs": self.cpu_secs,
            "broker_cpu_secs": self.broker_cpu_secs,
            "alerts_raised": self.alerts_raised,
            "publisher_errors": self.publisher_errors,
            "events_stored": self.events_stored,
        })
        .to_string()
    }
}

/// Runs a drain.
pub async fn run(args: &DrainArgs, launcher: &dyn Launcher) -> Result<DrainReport, String> {
    if args.messages == 0 {
        return Err("--messages must be at least 1".into());
    }
    if [args.idle_timeout, args.timeout]
        .iter()
        .any(|t| !t.is_finite() || *t <= 0.0)
    {
        return Err("--idle-timeout and --timeout must be positive".into());
    }
    let setup = prepare(&args.common)?;
    let mines = setup.mines.len();
    let ticks = args.messages.div_ceil(mines as u64) as i64;
    let start = backlog_start(now_millis(), ticks);
    let publisher = setup.publisher().await?;
    let res = drain(args, &setup, &publisher, launcher, start, ticks).await;
    setup.finish(publisher).await;
    drop(setup);
    res
}

async fn drain(
    args: &DrainArgs,
    setup: &Setup,
    publisher: &Publisher,
    launcher: &dyn Launcher,
    start: Millis,
    ticks: i64,
) -> Result<DrainReport, String> {
    let timeout = Duration::from_secs_f64(args.timeout);
    // 1. The session and its subscription.
    let server = launcher.start(&setup.config).await?;
    let seq0 = match wait_subscribed(server.as_ref(), setup, publisher, start - 1_000).await {
        Ok(()) => server.last_seq().await,
        Err(e) => Err(e),
    };
    server.shutdown().await;
    let seq0 = seq0?;

    // 2. The backlog (after the probes' PUBACKs, so only the backlog's are counted).
    publisher.wait_all_acked(SERVER_WAIT).await;
    let acked0 = publisher.acked();
    let t_pub = Instant::now();
    let mut sim = Sim::new(
        setup.mines.clone(),
        SimConfig {
            prefix: setup.prefix.clone(),
            interval_ms: INTERVAL_MS,
            seed: args.common.seed,
            anomalies: true,
            anomaly_every_ms: 60_000,
            ..SimConfig::default()
        },
    );
    let (mut published, mut readings_published) = (0u64, 0u64);
    'ticks: for k in 0..ticks {
        for m in sim.tick(start + k * INTERVAL_MS) {
            if !m.topic.ends_with("/safety") {
                continue;
            }
            if published == args.messages {
                break 'ticks;
            }
            readings_published += count_readings(&m.payload);
            publisher.publish(m.topic, m.payload).await?;
            published += 1;
        }
    }
    let acked = publisher.wait_all_acked(timeout).await - acked0;
    let publish_secs = t_pub.elapsed().as_secs_f64();

    // 3. The drain.
    let server = launcher.start(&setup.config).await?;
    let measured = measure(args, server.as_ref(), published, timeout).await;
    let seq1 = settle(server.as_ref()).await;
    let alerts_raised = server.metrics().alert_events_of(EventType::Raised);
    server.shutdown().await;
    let (handled, readings, secs, cpu_secs, broker_cpu_secs) = measured;
    Ok(DrainReport {
        mines: setup.mines.len(),
        points: args.common.points,
        shards: args.common.shards,
        cores: cores(),
        published,
        acked,
        readings_published,
        publish_secs,
        handled,
        readings,
        secs,
        cpu_secs,
        broker_cpu_secs,
        events_stored: seq1?.saturating_sub(seq0),
        alerts_raised,
        publisher_errors: publisher.errors(),
    })
}

type Measured = (u64, u64, f64, Option<f64>, Option<f64>);

/// Polls the safety-message counter every millisecond until `expected` were handled, progress
/// stops for `--idle-timeout`, or `timeout` passes.
async fn measure(
    args: &DrainArgs,
    server: &dyn Running,
    expected: u64,
    timeout: Duration,
) -> Measured {
    let m = server.metrics();
    let idx = System::Safety.index();
    let idle = Duration::from_secs_f64(args.idle_timeout);
    let begun = Instant::now();
    let mut first: Option<(Instant, Option<f64>, Option<f64>)> = None;
    let (mut last_n, mut last_change) = (0u64, begun);
    loop {
        let n = m.messages[idx].get();
        let now = Instant::now();
        if n != last_n {
            last_n = n;
            last_change = now;
        }
        if first.is_none() && n > 0 {
            first = Some((
                now,
                cpu_seconds(None),
                args.common.broker_pid.and_then(|p| cpu_seconds(Some(p))),
            ));
        }
        let stalled = match first {
            Some(_) => now - last_change > idle,
            // Connecting and subscribing come first: allow them more time.
            None => now - begun > idle.max(SERVER_WAIT),
        };
        if n >= expected || stalled || now - begun > timeout {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let cpu_end = cpu_seconds(None);
    let broker_end = args.common.broker_pid.and_then(|p| cpu_seconds(Some(p)));
    let readings = m.elements[idx].get();
    match first {
        Some((t0, cpu0, b0)) => {
            let secs = (last_change - t0).as_secs_f64();
            let diff = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| (b - a).max(0.0));
            (
                last_n,
                readings,
                secs,
                diff(cpu0, cpu_end),
                diff(b0, broker_end),
            )
        }
        None => (0, readings, 0.0, None, None),
    }
}

/// Waits until the store's last seq holds still for half a second (the writer has committed
/// what the shards sent it); returns it.
async fn settle(server: &dyn Running) -> Result<u64, String> {
    let deadline = Instant::now() + SERVER_WAIT;
    let mut last = server.last_seq().await?;
    let mut since = Instant::now();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let s = server.last_seq().await?;
        if s != last {
            (last, since) = (s, Instant::now());
        } else if since.elapsed() >= Duration::from_millis(500) {
            break;
        }
    }
    Ok(last)
}

/// Where the backlog's event time starts: at 05:00 +08:00 (the end of the night shift's cutting
/// and a shift change come soon after, as in the decode bench), on the latest day that lets the
/// backlog end at least two minutes before `now`, so it is never ahead of the wall clock and the
/// same sizes give the same telemetry and anomalies whatever the time of day of the run.
fn backlog_start(now: Millis, ticks: i64) -> Millis {
    const DAY: Millis = 86_400_000;
    const ANCHOR: Millis = 21 * 3_600_000; // 05:00 +08:00 is 21:00 UTC
    let latest = now - 120_000 - ticks * INTERVAL_MS;
    latest - (latest - ANCHOR).rem_euclid(DAY)
}

/// Readings in a simulated safety batch (the simulator writes `"point":` once per reading).
fn count_readings(payload: &[u8]) -> u64 {
    let pat = b"\"point\":";
    payload.windows(pat.len()).filter(|w| *w == pat).count() as u64
}

/// Waits until the server is connected to the broker and its subscription delivers: a
/// `personnel` probe with no tags (event time `ts`) to the first mine, repeated every 200 ms,
/// until the server has handled one. Safety counters stay untouched.
pub(crate) async fn wait_subscribed(
    server: &dyn Running,
    setup: &Setup,
    publisher: &Publisher,
    ts: Millis,
) -> Result<(), String> {
    let m = server.metrics();
    let idx = System::Personnel.index();
    probe_until_handled(setup, publisher, ts, || {
        let state = (m.messages[idx].get(), m.mqtt_connected.get() == 1);
        async move { Ok(state) }
    })
    .await
}

/// [`wait_subscribed`] for a server of which only `read` is known: it gives the personnel
/// messages the server has handled and whether it is connected to the broker.
pub(crate) async fn probe_until_handled<F, Fut>(
    setup: &Setup,
    publisher: &Publisher,
    ts: Millis,
    mut read: F,
) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(u64, bool), String>>,
{
    let deadline = Instant::now() + SERVER_WAIT;
    let (base, _) = read().await?;
    let payload = format!("{{\"ts\":\"{}\",\"tags\":[]}}", format_rfc3339(ts)).into_bytes();
    let topic = setup.topic(0, "personnel");
    loop {
        let (handled, connected) = read().await?;
        if handled > base {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the server did not receive a message through the broker {}:{} within {} s \
                 (connected: {connected})",
                setup.host,
                setup.port,
                SERVER_WAIT.as_secs(),
            ));
        }
        if connected {
            publisher.publish(topic.clone(), payload.clone()).await?;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_starts_at_five_local_and_ends_before_now() {
        let now = minewatch_core::time::parse_rfc3339("2026-11-23T14:30:00+08:00").unwrap_or(0);
        let start = backlog_start(now, 360);
        assert_eq!(format_rfc3339(start), "2026-11-22T21:00:00.000Z");
        assert!(start + 360 * INTERVAL_MS <= now - 120_000);
        let early = minewatch_core::time::parse_rfc3339("2026-11-23T05:10:00+08:00").unwrap_or(0);
        assert!(backlog_start(early, 360) < early - 86_400_000 + 3_600_000);
    }

    #[test]
    fn readings_are_counted_once_each() {
        let p = br#"{"ts":"x","readings":[{"point":"P1","value":1},{"point":"P2","value":2}]}"#;
        assert_eq!(count_readings(p), 2);
    }
}
