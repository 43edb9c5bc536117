//! Publishing simulated telemetry to an MQTT broker at wall-clock cadence (`minewatch sim` and the
//! demo). The rumqttc event loop runs in its own task, reconnecting with a jittered exponential
//! backoff; the tick loop hands it messages without waiting, so a slow or absent broker costs
//! dropped messages (counted and logged), never a late or stale tick.

use crate::anomaly::Anomaly;
use crate::rng::hash;
use crate::sim::{Sim, SimConfig};
use minewatch_core::MineDef;
use minewatch_core::backoff::Backoff;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing::{debug, info, warn};

/// Largest MQTT packet accepted or sent: a safety batch of a large mine is well under this.
const MAX_PACKET: usize = 1 << 20;
/// First injected anomaly starts this long after publishing begins, so its point has reported.
const INJECT_DELAY_MS: i64 = 20_000;
/// Further injected anomalies start this far apart.
const INJECT_SPACING_MS: i64 = 30_000;
/// Reconnect backoff floor and ceiling.
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long a shutdown waits for the disconnect to go out.
const DISCONNECT_GRACE: Duration = Duration::from_secs(2);

/// Publish options for `minewatch sim` and the demo.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// Broker host name or address.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// MQTT client id.
    pub client_id: String,
    /// The simulation (prefix, cadence, seed, automatic anomalies, offset).
    pub sim: SimConfig,
    /// Anomalies to inject shortly after start, 30 s apart: (mine, `None` = the first mine; anomaly).
    pub inject: Vec<(Option<String>, Anomaly)>,
    /// Mines held suspended from the start ([`Sim::set_suspended`]): their crews come up and
    /// production stops, as under a regulator's order. Applied before the injections, so an
    /// anomaly that needs a suspended mine can be injected on one of them.
    pub suspend: Vec<String>,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            host: "127.0.0.1".into(),
            port: 1883,
            client_id: "minewatch-sim".into(),
            sim: SimConfig::default(),
            inject: Vec::new(),
            suspend: Vec::new(),
        }
    }
}

/// Publishes `sim` ticks at wall-clock cadence (event time = wall clock) with QoS 1 until
/// `shutdown` resolves. Connects with rumqttc (max packet 1 MiB in and out, keep-alive 30 s) and
/// keeps reconnecting with backoff on errors. Returns `Err` only on setup problems: no mines, an
/// empty host or client id, a cadence or offset out of range, an injection that does not fit.
pub async fn publish(
    mines: Vec<Arc<MineDef>>,
    opts: PublishOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), String> {
    if mines.is_empty() {
        return Err("no mines to simulate: the registry is empty".into());
    }
    if opts.host.trim().is_empty() {
        return Err("the broker host is empty".into());
    }
    if opts.client_id.trim().is_empty() || opts.client_id.len() > 256 {
        return Err(format!(
            "MQTT client id {:?} must be 1-256 characters",
            opts.client_id
        ));
    }
    if !(100..=3_600_000).contains(&opts.sim.interval_ms) {
        return Err(format!(
            "interval {} ms must be within 100 ms and 1 h",
            opts.sim.interval_ms
        ));
    }
    if opts.sim.utc_offset_secs.abs() >= 86_400 || opts.sim.utc_offset_secs % 60 != 0 {
        return Err(format!(
            "UTC offset {} s must be whole minutes within ±24 h",
            opts.sim.utc_offset_secs
        ));
    }
    let first_mine = mines[0].id.to_string();
    let seed = opts.sim.seed;
    let interval = opts.sim.interval_ms;
    // Every tick sends four batches per mine (explosives only at shift starts).
    let per_tick = mines.len() * 4;
    let mut sim = Sim::new(mines, opts.sim.clone());
    let t0 = minewatch_core::time::now_millis();
    for mine in &opts.suspend {
        sim.set_suspended(mine, true, t0)
            .map_err(|e| format!("cannot suspend mine {mine}: {e}"))?;
    }
    for (k, (mine, anomaly)) in opts.inject.iter().enumerate() {
        let mine = mine.as_deref().unwrap_or(&first_mine);
        let at = t0 + INJECT_DELAY_MS + k as i64 * INJECT_SPACING_MS;
        sim.inject(mine, anomaly.clone(), at)
            .map_err(|e| format!("cannot inject {anomaly}: {e}"))?;
    }

    let mut mqtt = MqttOptions::new(opts.client_id.clone(), opts.host.clone(), opts.port);
    mqtt.set_keep_alive(Duration::from_secs(30));
    mqtt.set_max_packet_size(MAX_PACKET, MAX_PACKET);
    // Room for a few ticks of every mine: beyond that, messages are dropped, not queued stale.
    let capacity = (per_tick * 4).max(64);
    let (client, eventloop) = AsyncClient::new(mqtt, capacity);
    let stopping = Arc::new(AtomicBool::new(false));
    let driver = tokio::spawn(drive(eventloop, stopping.clone(), hash(seed, &[0xB0FF])));
    info!(host = %opts.host, port = opts.port, client_id = %opts.client_id, interval_ms = interval, "publishing simulated telemetry");

    let mut ticker = tokio::time::interval(Duration::from_millis(interval as u64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut announced = 0;
    let (mut sent, mut dropped) = (0u64, 0u64);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = ticker.tick() => {}
        }
        let t = minewatch_core::time::now_millis();
        let messages = sim.tick(t);
        for (mine, kind, subject, at) in &sim.injected()[announced..] {
            info!(mine = %mine, anomaly = kind, subject = %subject, starts_in_ms = at - t, "anomaly scheduled");
        }
        announced = sim.injected().len();
        let mut lost = 0u64;
        for m in messages {
            match client.try_publish(m.topic, QoS::AtLeastOnce, false, m.payload) {
                Ok(()) => sent += 1,
                Err(_) => lost += 1,
            }
        }
        if lost > 0 {
            dropped += lost;
            warn!(
                lost,
                dropped_total = dropped,
                "MQTT queue full (broker slow or unreachable): messages dropped"
            );
        }
        debug!(t, sent_total = sent, "tick published");
    }

    info!(
        sent_total = sent,
        dropped_total = dropped,
        "simulator stopping"
    );
    stopping.store(true, Ordering::Relaxed);
    let _ = client.try_disconnect();
    let abort = driver.abort_handle();
    if tokio::time::timeout(DISCONNECT_GRACE, driver)
        .await
        .is_err()
    {
        abort.abort();
    }
    Ok(())
}

/// Polls the event loop until the disconnect is sent or, once stopping, the connection fails;
/// errors while running are logged and retried after a jittered exponential backoff.
async fn drive(mut eventloop: EventLoop, stopping: Arc<AtomicBool>, seed: u64) {
    let mut backoff = Backoff::seeded(BACKOFF_MIN, BACKOFF_MAX, seed);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                info!(code = ?ack.code, "connected to the MQTT broker");
                backoff.reset();
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                debug!("disconnected from the MQTT broker");
                break;
            }
            Ok(_) => {}
            Err(e) => {
                if stopping.load(Ordering::Relaxed) {
                    break;
                }
                // Jittered: spreads the reconnects of many simulators.
                let wait = backoff.next_delay();
                warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "MQTT connection failed; retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }
}
