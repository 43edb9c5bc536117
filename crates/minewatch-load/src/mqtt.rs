//! The tool's own MQTT clients: a QoS 1 publisher that counts PUBACKs, and the clean connect that
//! removes the server's persistent session from the broker at the end of a run.

use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long a connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest packet: a batch of a very large mine is still far below this.
const MAX_PACKET: usize = 1 << 22;

/// A connected publisher.
pub struct Publisher {
    client: AsyncClient,
    /// PUBACKs received: messages the broker has taken responsibility for.
    acked: Arc<AtomicU64>,
    /// Messages handed to the client.
    sent: AtomicU64,
    /// Connection errors seen by the event loop (it reconnects on the next poll).
    errors: Arc<AtomicU64>,
    driver: JoinHandle<()>,
}

impl Publisher {
    /// Connects (clean session) and waits for the broker's ConnAck.
    pub async fn connect(
        host: &str,
        port: u16,
        client_id: &str,
        capacity: usize,
    ) -> Result<Publisher, String> {
        let mut o = MqttOptions::new(client_id, host, port);
        o.set_keep_alive(Duration::from_secs(30));
        o.set_max_packet_size(MAX_PACKET, MAX_PACKET);
        o.set_inflight(1000);
        o.set_clean_session(true);
        let (client, mut eventloop) = AsyncClient::new(o, capacity);
        let acked = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
        let (a, e) = (acked.clone(), errors.clone());
        let driver = tokio::spawn(async move {
            let mut tx = Some(tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if let Some(t) = tx.take() {
                            let _ = t.send(Ok(()));
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        a.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
                    Ok(_) => {}
                    Err(err) => {
                        if let Some(t) = tx.take() {
                            let _ = t.send(Err(err.to_string()));
                            break;
                        }
                        e.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        let res = tokio::time::timeout(CONNECT_TIMEOUT, rx).await;
        match res {
            Ok(Ok(Ok(()))) => Ok(Publisher {
                client,
                acked,
                sent: AtomicU64::new(0),
                errors,
                driver,
            }),
            Ok(Ok(Err(e))) => Err(format!("cannot connect to the broker {host}:{port}: {e}")),
            _ => {
                driver.abort();
                Err(format!(
                    "no answer from the broker {host}:{port} within {} s",
                    CONNECT_TIMEOUT.as_secs()
                ))
            }
        }
    }

    /// Queues one QoS 1 message; waits while the client's request queue is full.
    pub async fn publish(&self, topic: String, payload: Vec<u8>) -> Result<(), String> {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .map_err(|e| format!("publish: {e}"))?;
        self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// PUBACKs so far.
    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::Relaxed)
    }

    /// Connection errors so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Waits until every message published so far is PUBACKed or `timeout` passed; returns the
    /// PUBACK count.
    pub async fn wait_all_acked(&self, timeout: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.acked() < self.sent.load(Ordering::Relaxed)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.acked()
    }

    /// Disconnects and waits (briefly) for the event loop to end.
    pub async fn close(self) {
        let _ = self.client.try_disconnect();
        let abort = self.driver.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), self.driver)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

/// Connects once with `client_id` and a clean session, so the broker forgets the persistent
/// session (and anything still queued for it) that the server under test left behind.
pub async fn forget_session(host: &str, port: u16, client_id: &str) -> Result<(), String> {
    let p = Publisher::connect(host, port, client_id, 16).await?;
    p.close().await;
    Ok(())
}
