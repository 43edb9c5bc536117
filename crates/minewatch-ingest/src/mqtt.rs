//! The MQTT connection. One task owns the rumqttc event loop: it connects with a persistent session
//! (fixed client id, clean_session = false) and manual acks, subscribes with QoS 1, re-subscribes
//! whenever the broker says the session is not present, reconnects with jittered exponential
//! backoff, and hands each publish to its mine's shard through a bounded queue (waiting when the
//! queue is full, so the broker holds the backlog, not our memory).

use crate::acks::{AckToken, MqttAcker};
use crate::config::MqttConfig;
use crate::router::Router;
use minewatch_core::backoff::Backoff;
use minewatch_core::metrics::Metrics;
use minewatch_core::payload::System;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS, SubscribeFilter};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The topic filters this instance subscribes to.
pub fn filters(cfg: &MqttConfig) -> Vec<String> {
    let mines: Vec<&str> = if cfg.mines.is_empty() {
        vec!["+"]
    } else {
        cfg.mines.iter().map(String::as_str).collect()
    };
    mines
        .iter()
        .flat_map(|m| {
            System::ALL
                .iter()
                .map(move |s| format!("{}/{m}/{}", cfg.prefix, s.as_str()))
        })
        .collect()
}

/// The filters to drop from the session after subscribing: the catch-all `{prefix}/+/{system}`
/// when this instance owns a list of mines (the broker keeps a persistent session's filters, so
/// an instance that once owned every mine would otherwise still receive them all). Unsubscribing
/// a filter the session does not hold is harmless.
pub fn stale_filters(cfg: &MqttConfig) -> Vec<String> {
    if cfg.mines.is_empty() {
        return Vec::new();
    }
    System::ALL
        .iter()
        .map(|s| format!("{}/+/{}", cfg.prefix, s.as_str()))
        .collect()
}

/// The largest remaining length an MQTT 3.1.1 packet can declare (§2.2.3): 256 MiB.
pub const MQTT_MAX_REMAINING_LENGTH: usize = 268_435_455;

/// Builds the client and its event loop from a resolved config ([`MqttConfig::resolve`]: the
/// pipeline resolves one that is not). `queue_room` is how many messages the pipeline can hold:
/// the request channel must take that many PUBACKs without blocking. The error, naming the key,
/// is for a config with `tls` and no TLS config built, which would otherwise connect in plaintext.
pub fn connect(cfg: &MqttConfig, queue_room: usize) -> Result<(AsyncClient, EventLoop), String> {
    let mut o = MqttOptions::new(cfg.client_id.clone(), cfg.host.clone(), cfg.port);
    o.set_clean_session(false);
    o.set_manual_acks(true);
    o.set_keep_alive(cfg.keep_alive.max(Duration::from_secs(5)));
    // Every packet the protocol allows is read off the connection: a client that refuses one
    // must disconnect, and the broker then sends the same message again on every reconnect,
    // stopping every mine. One over `max_packet_bytes` is acked and dead-lettered instead.
    o.set_max_packet_size(MQTT_MAX_REMAINING_LENGTH, cfg.max_packet_bytes);
    if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
        o.set_credentials(u.clone(), p.clone());
    }
    if cfg.tls {
        let tls = cfg.tls_config.clone().ok_or_else(|| {
            "mqtt.tls: no TLS config was built from the certificate files (MqttConfig::resolve)"
                .to_owned()
        })?;
        o.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(tls),
        ));
    }
    Ok(AsyncClient::new(o, queue_room + 1024))
}

/// The acker for this client.
pub fn acker(client: AsyncClient, generation: Arc<AtomicU64>, metrics: Arc<Metrics>) -> MqttAcker {
    MqttAcker::new(client, generation, metrics)
}

/// Where a reader is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Taking messages.
    Running,
    /// Shutting down: taking nothing more, polling so the acks of what the pipeline still stores
    /// reach the broker.
    Draining,
    /// Everything taken is acked (or queued to be, ahead of it): DISCONNECT queued, polling until
    /// it is sent.
    Disconnecting,
}

/// Longest a stopping reader waits for the pipeline to store and ack what it took, and then for
/// the DISCONNECT to go out.
const STOP_LIMIT: Duration = Duration::from_secs(30);
/// Longest a reader waits, once its DISCONNECT is sent, for the broker to close the connection.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What the MQTT reader runs with.
pub struct ReaderParts {
    pub cfg: MqttConfig,
    /// The client of `eventloop`: subscriptions and the DISCONNECT are queued through it.
    pub client: AsyncClient,
    /// Owned by the reader: only it polls, so only it does the connection's I/O.
    pub eventloop: EventLoop,
    /// Counts connections: an ack token taken on an earlier connection is not sent on this one
    /// (the broker forgets packet ids with the connection). Shared with the acker.
    pub generation: Arc<AtomicU64>,
    /// Where each message goes.
    pub router: Router,
    pub metrics: Arc<Metrics>,
    /// Turns true when the reader must stop taking messages.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Turns true once everything taken is stored and its ack queued: the reader then disconnects.
    pub drained: tokio::sync::watch::Receiver<bool>,
}

/// Runs the connection until shutdown. When `shutdown` turns true the reader stops taking
/// messages (one it has not handed on is left unacked, so the broker sends it again next session)
/// but keeps polling, so the acks of what the pipeline is still storing reach the broker; when
/// `drained` turns true (everything taken is stored and its ack queued) it queues a DISCONNECT
/// behind those acks and returns once it is sent. The session stays: the broker keeps queueing
/// for us while we are away.
///
/// A shutdown never cancels `poll()` half way: rumqttc may be in the middle of writing a packet,
/// and a cancelled write would leave half a packet on the wire and lose the acks after it.
pub async fn run(parts: ReaderParts) {
    let ReaderParts {
        cfg,
        client,
        mut eventloop,
        generation,
        router,
        metrics,
        mut shutdown,
        mut drained,
    } = parts;
    let filters = filters(&cfg);
    let stale = stale_filters(&cfg);
    let mut backoff = Backoff::new(cfg.backoff_min, cfg.backoff_max);
    let mut subscribed_once = false;
    let mut n: u64 = 0;
    let mut phase = if *shutdown.borrow() {
        Phase::Draining
    } else {
        Phase::Running
    };
    let mut deadline = None;
    loop {
        if phase != Phase::Running {
            // Not connected: acks of a lost connection are worthless, and polling would reconnect.
            if eventloop.network.is_none() {
                break;
            }
            let until = *deadline.get_or_insert_with(|| tokio::time::Instant::now() + STOP_LIMIT);
            if tokio::time::Instant::now() >= until {
                if phase == Phase::Draining {
                    tracing::warn!(
                        "stopping: the pipeline did not drain within 30 s; the broker will redeliver what was not acked"
                    );
                }
                break;
            }
        }
        if phase == Phase::Draining && *drained.borrow() {
            phase = Phase::Disconnecting;
            if client.try_disconnect().is_err() {
                tracing::debug!("could not queue the DISCONNECT");
                break;
            }
        }
        let event = {
            let poll = eventloop.poll();
            tokio::pin!(poll);
            loop {
                tokio::select! {
                    e = &mut poll => break Some(e),
                    changed = shutdown.changed(), if phase == Phase::Running => {
                        if changed.is_err() || *shutdown.borrow() {
                            phase = Phase::Draining;
                        }
                    }
                    changed = drained.changed(), if phase == Phase::Draining => {
                        // Queued behind every ack: the poll in flight goes on and sends them all.
                        if changed.is_err() || *drained.borrow() {
                            phase = Phase::Disconnecting;
                            if client.try_disconnect().is_err() {
                                tracing::debug!("could not queue the DISCONNECT");
                                break None;
                            }
                        }
                    }
                    () = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => break None,
                }
            }
        };
        let Some(event) = event else {
            break;
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                let g = generation.fetch_add(1, Ordering::AcqRel) + 1;
                n = 0;
                metrics.mqtt_connected.set(1);
                backoff.reset();
                tracing::info!(host = %cfg.host, port = cfg.port, session_present = ack.session_present, generation = g, "connected to broker");
                if !ack.session_present || !subscribed_once {
                    let subs = filters
                        .iter()
                        .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
                    if let Err(e) = client.try_subscribe_many(subs) {
                        tracing::error!(error = %e, "could not queue the subscription");
                    } else {
                        subscribed_once = true;
                        tracing::info!(filters = ?filters, "subscribed");
                    }
                    // After the subscription, so no owned mine goes unheard in between.
                    for f in &stale {
                        if let Err(e) = client.try_unsubscribe(f.clone()) {
                            tracing::warn!(filter = %f, error = %e, "could not queue the unsubscription");
                        }
                    }
                    if !stale.is_empty() {
                        tracing::info!(filters = ?stale, "unsubscribed the catch-all filters: this instance owns only mqtt.mines");
                    }
                }
            }
            // Stopping: not taken, not acked; the broker sends it again next session.
            Ok(Event::Incoming(Packet::Publish(_))) if phase != Phase::Running => {}
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let token = (p.qos != QoS::AtMostOnce).then(|| {
                    let t = AckToken {
                        generation: generation.load(Ordering::Acquire),
                        n,
                        pkid: p.pkid,
                    };
                    n += 1;
                    t
                });
                let inbound = router.inbound(&p.topic, p.payload, token);
                // Waiting for room in a full queue ends at shutdown: the message is then neither
                // taken nor acked.
                let routed = tokio::select! {
                    r = router.route(inbound) => r,
                    _ = shutdown.changed() => {
                        phase = Phase::Draining;
                        continue;
                    }
                };
                if routed.is_err() {
                    break;
                }
            }
            Ok(Event::Incoming(Packet::SubAck(s))) => {
                if s.return_codes
                    .iter()
                    .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                {
                    tracing::error!(codes = ?s.return_codes, "the broker refused a subscription");
                }
            }
            // Sent. Closing our end now could reset the connection while the broker is still
            // sending (it has more of the backlog for us), and a reset makes the broker drop what
            // it has not read yet: our last acks. So wait, briefly, for the broker to close.
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) if phase == Phase::Disconnecting => {
                deadline = Some(tokio::time::Instant::now() + CLOSE_WAIT);
            }
            Ok(_) => {}
            Err(e) => {
                generation.fetch_add(1, Ordering::AcqRel);
                metrics.mqtt_connected.set(0);
                if phase != Phase::Running {
                    // After our DISCONNECT, the broker closing the connection is the normal end.
                    tracing::debug!(error = %e, "connection closed while stopping");
                    break;
                }
                metrics.mqtt_reconnects.inc();
                let wait = backoff.next_delay();
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "broker connection lost");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => break,
                }
            }
        }
    }
    metrics.mqtt_connected.set(0);
    tracing::info!("MQTT reader stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_the_default_config_a_returning_broker_is_tried_again_within_a_second() {
        let cfg = MqttConfig::default();
        let mut b = Backoff::new(cfg.backoff_min, cfg.backoff_max);
        // However long the broker was away (here, a hundred failed attempts)...
        let waits: Vec<_> = (0..100).map(|_| b.next_delay()).collect();
        assert!(
            waits.iter().all(|d| *d <= Duration::from_secs(1)),
            "{waits:?}"
        );
        // ...and after a good connection the floor applies again.
        b.reset();
        assert!(b.next_delay() <= cfg.backoff_min, "reset to the floor");
    }

    #[test]
    fn filters_cover_every_system_for_all_or_listed_mines() {
        let cfg = MqttConfig::default();
        let f = filters(&cfg);
        assert_eq!(f.len(), 5);
        assert!(f.contains(&"mines/+/safety".to_string()));
        let cfg = MqttConfig {
            mines: vec!["A".into(), "B".into()],
            ..MqttConfig::default()
        };
        assert!(filters(&cfg).contains(&"mines/B/explosives".to_string()));
        assert_eq!(filters(&cfg).len(), 10);
    }

    #[test]
    fn an_instance_owning_a_list_drops_the_catch_all_filters_and_one_owning_all_drops_none() {
        assert!(stale_filters(&MqttConfig::default()).is_empty());
        let cfg = MqttConfig {
            mines: vec!["A".into()],
            prefix: "p".into(),
            ..MqttConfig::default()
        };
        let stale = stale_filters(&cfg);
        assert_eq!(stale.len(), 5);
        assert!(stale.contains(&"p/+/safety".to_string()), "{stale:?}");
        assert!(
            stale.iter().all(|f| !filters(&cfg).contains(f)),
            "{stale:?}"
        );
    }
}
