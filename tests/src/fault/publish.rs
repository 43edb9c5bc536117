//! A publisher that returns from each publish only once the broker has acknowledged it (PUBACK):
//! the message is then the broker's, kept for the server's persistent session even while the
//! server is down or being killed. One connection for a whole stream (unlike
//! [`publish_acked`](crate::publish_acked), which connects per message), reconnecting by itself
//! after the broker restarts.

use crate::{WAIT, unique};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// PUBACKs seen and not yet claimed; one message is in flight at a time, so a few suffice.
const ACK_QUEUE: usize = 16;

/// A QoS 1 publisher that waits for each PUBACK. Its event loop task stops when it is dropped.
pub struct AckedPublisher {
    client: AsyncClient,
    /// One `()` per PUBACK received.
    acks: mpsc::Receiver<()>,
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
        let (ack_tx, acks) = mpsc::channel(ACK_QUEUE);
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
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        // Full only if nobody waits: then the test has already failed.
                        let _ = ack_tx.try_send(());
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
            acks,
            task,
            published: 0,
        }
    }

    /// Publishes `payload` to `topic` with QoS 1 and waits (at most [`WAIT`]) for the broker's
    /// PUBACK, reconnecting first if the broker went away since the last one.
    pub async fn publish(&mut self, topic: &str, payload: Vec<u8>) {
        // A PUBACK left over from a message that timed out would be taken for this one's.
        while self.acks.try_recv().is_ok() {}
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .expect("publish queued");
        tokio::time::timeout(WAIT, self.acks.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the broker acknowledges message {} on {topic} within {WAIT:?}",
                    self.published + 1
                )
            })
            .expect("the publisher's event loop");
        self.published += 1;
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
