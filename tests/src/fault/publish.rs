//! A publisher that returns from each publish only once the broker has acknowledged it (PUBACK):
//! the message is then the broker's, kept for the server's persistent session even while the
//! server is down or being killed. One connection for a whole stream (unlike
//! [`publish_acked`](crate::publish_acked), which connects per message), reconnecting by itself
//! after the broker restarts, and sending a message again when the broker has not acknowledged
//! it within [`RESEND_AFTER`] (a clean-session client's message in flight when the broker went
//! away is lost with that session: an at-least-once publisher sends it again, and the server's
//! digest makes the copy harmless). Only a PUBACK of one of the message's own sends counts.

use crate::{WAIT, unique};
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Events seen and not yet claimed; one message is in flight at a time, so a few suffice.
const ACK_QUEUE: usize = 64;

/// How long a message may wait for its PUBACK before it is sent again.
pub const RESEND_AFTER: Duration = Duration::from_secs(3);

/// What the event loop reports: a PUBLISH written with this packet id, or a PUBACK for one.
#[derive(Debug, Clone, Copy)]
enum Seen {
    Sent(u16),
    Acked(u16),
}

/// A QoS 1 publisher that waits for each PUBACK. Its event loop task stops when it is dropped.
pub struct AckedPublisher {
    client: AsyncClient,
    /// Publishes written and PUBACKs received, in order.
    seen: mpsc::Receiver<Seen>,
    task: JoinHandle<()>,
    /// Messages acknowledged so far.
    published: u64,
}

impl AckedPublisher {
    /// Connects to `host:port` (clean session, a client id of its own) and waits for CONNACK.
    pub async fn connect(host: &str, port: u16) -> AckedPublisher {
        let mut o = MqttOptions::new(unique("fault-pub"), host, port);
        // Up to MQTT's own limit: the fault suite sends oversized messages on purpose.
        o.set_max_packet_size(1 << 28, 1 << 28);
        o.set_keep_alive(Duration::from_secs(10));
        let (client, mut eventloop) = AsyncClient::new(o, 64);
        let (seen_tx, seen) = mpsc::channel(ACK_QUEUE);
        let (conn_tx, conn_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut conn_tx = Some(conn_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if let Some(t) = conn_tx.take() {
                            let _ = t.send(());
                        }
                    }
                    // Full only if nobody waits: then the test has already failed.
                    Ok(Event::Incoming(Packet::PubAck(a))) => {
                        let _ = seen_tx.try_send(Seen::Acked(a.pkid));
                    }
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                        let _ = seen_tx.try_send(Seen::Sent(pkid));
                    }
                    Ok(_) => {}
                    // The next poll reconnects (after a broker restart, say).
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(WAIT, conn_rx)
            .await
            .unwrap_or_else(|_| panic!("the publisher connects to {host}:{port} in time"))
            .expect("the publisher's event loop");
        AckedPublisher {
            client,
            seen,
            task,
            published: 0,
        }
    }

    /// Publishes `payload` to `topic` with QoS 1 and waits (at most [`WAIT`]) for the broker's
    /// PUBACK of one of its sends, sending it again every [`RESEND_AFTER`] without one.
    pub async fn publish(&mut self, topic: &str, payload: Vec<u8>) {
        // What was seen of earlier messages is theirs.
        while self.seen.try_recv().is_ok() {}
        let deadline = Instant::now() + WAIT;
        // The packet ids of this message's sends: one message is in flight at a time, so every
        // PUBLISH written from now on is one of them.
        let mut mine: Vec<u16> = Vec::new();
        loop {
            self.client
                .publish(topic, QoS::AtLeastOnce, false, payload.clone())
                .await
                .expect("publish queued");
            let resend = (Instant::now() + RESEND_AFTER).min(deadline);
            loop {
                match tokio::time::timeout_at(resend, self.seen.recv()).await {
                    Ok(Some(Seen::Sent(pkid))) => mine.push(pkid),
                    Ok(Some(Seen::Acked(pkid))) if mine.contains(&pkid) => {
                        self.published += 1;
                        return;
                    }
                    Ok(Some(Seen::Acked(_))) => {}
                    Ok(None) => panic!("the publisher's event loop ended"),
                    Err(_) => break,
                }
            }
            assert!(
                Instant::now() < deadline,
                "the broker acknowledges message {} on {topic} within {WAIT:?}",
                self.published + 1
            );
        }
    }

    /// Messages the broker has acknowledged so far.
    pub fn published(&self) -> u64 {
        self.published
    }
}

impl Drop for AckedPublisher {
    fn drop(&mut self) {
        self.task.abort();
    }
}
