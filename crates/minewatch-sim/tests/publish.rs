//! `publish` against a minimal MQTT 3.1.1 broker written here (CONNECT/CONNACK, PUBLISH/PUBACK,
//! PINGREQ/PINGRESP, DISCONNECT): the real client, the real protocol, on a loopback socket.

mod common;

use common::{decode_clean, example_mines};
use minewatch_sim::{Anomaly, Kind, PublishOptions, SimConfig, publish};
use std::io;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// A message the fake broker received: topic, QoS, payload.
type Received = (String, u8, Vec<u8>);

/// Splits one packet off the front of `buf`: (first byte, body, bytes used).
fn packet(buf: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let (mut len, mut mult, mut i) = (0usize, 1usize, 1usize);
    loop {
        let b = *buf.get(i)?;
        len += usize::from(b & 127) * mult;
        mult *= 128;
        i += 1;
        if b & 128 == 0 {
            break;
        }
    }
    let body = buf.get(i..i + len)?;
    Some((buf[0], body.to_vec(), i + len))
}

async fn write_all(s: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        s.writable().await?;
        match s.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn serve(s: TcpStream, tx: mpsc::UnboundedSender<Received>) -> io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        while let Some((head, body, used)) = packet(&buf) {
            buf.drain(..used);
            match head >> 4 {
                1 => write_all(&s, &[0x20, 2, 0, 0]).await?,
                3 => {
                    let qos = (head >> 1) & 3;
                    let n = usize::from(u16::from_be_bytes([body[0], body[1]]));
                    let topic = String::from_utf8_lossy(&body[2..2 + n]).into_owned();
                    let mut at = 2 + n;
                    if qos > 0 {
                        write_all(&s, &[0x40, 2, body[at], body[at + 1]]).await?;
                        at += 2;
                    }
                    let _ = tx.send((topic, qos, body[at..].to_vec()));
                }
                12 => write_all(&s, &[0xD0, 0]).await?,
                14 => return Ok(()),
                _ => {}
            }
        }
        s.readable().await?;
        match s.try_read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// Accepts connections on `listener` forever, forwarding what is published.
fn broker(listener: TcpListener) -> mpsc::UnboundedReceiver<Received> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve(s, tx.clone()));
        }
    });
    rx
}

fn options(port: u16) -> PublishOptions {
    PublishOptions {
        host: "127.0.0.1".into(),
        port,
        client_id: "sim-test".into(),
        sim: SimConfig {
            interval_ms: 200,
            ..SimConfig::default()
        },
        inject: vec![(None, Anomaly::new(Kind::UnregisteredDevice))],
        suspend: Vec::new(),
    }
}

/// Receives `n` messages within 15 s.
async fn receive(rx: &mut mpsc::UnboundedReceiver<Received>, n: usize) -> Vec<Received> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while got.len() < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(m)) => got.push(m),
            _ => panic!("only {} of {n} messages arrived", got.len()),
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_sends_decodable_batches_with_qos_1_and_stops_on_shutdown() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut rx = broker(listener);
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(publish(example_mines(), options(port), async move {
        let _ = stopped.await;
    }));
    // Three ticks of two mines, four batches each.
    let got = receive(&mut rx, 24).await;
    let now = minewatch_core::time::now_millis();
    for (topic, qos, payload) in &got {
        assert_eq!(*qos, 1, "{topic}");
        let m = minewatch_sim::Message {
            topic: topic.clone(),
            payload: payload.clone(),
        };
        let (mine, _, batch) = decode_clean(&m);
        assert!(mine == "140100001" || mine == "140100002", "{mine}");
        assert!(
            (now - batch.ts).abs() < 60_000,
            "event time is the wall clock"
        );
    }
    let _ = stop.send(());
    let result = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("stops promptly");
    assert_eq!(result.expect("no panic"), Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_keeps_retrying_until_the_broker_comes_up() {
    // Find a free port, then leave it closed for a while.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr").port()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(publish(example_mines(), options(port), async move {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("rebind the port");
    let mut rx = broker(listener);
    let got = receive(&mut rx, 8).await;
    assert!(
        got.iter()
            .all(|(t, q, _)| t.starts_with("mines/") && *q == 1)
    );
    let _ = stop.send(());
    let result = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("stops promptly");
    assert_eq!(result.expect("no panic"), Ok(()));
}

#[tokio::test]
async fn publish_refuses_setups_it_cannot_run() {
    let never = std::future::pending::<()>;
    let err = |r: Result<(), String>| r.expect_err("refused");
    assert!(err(publish(Vec::new(), options(1), never()).await).contains("no mines"));
    let mut bad = options(1);
    bad.inject = vec![(None, Anomaly::on(Kind::OverLimit, "NOPE"))];
    assert!(err(publish(example_mines(), bad, never()).await).contains("NOPE"));
    let mut bad = options(1);
    bad.inject = vec![(Some("999".into()), Anomaly::new(Kind::OverLimit))];
    assert!(err(publish(example_mines(), bad, never()).await).contains("999"));
    let mut bad = options(1);
    bad.sim.interval_ms = 0;
    assert!(err(publish(example_mines(), bad, never()).await).contains("interval"));
    let mut bad = options(1);
    bad.sim.utc_offset_secs = 30;
    assert!(err(publish(example_mines(), bad, never()).await).contains("offset"));
    let mut bad = options(1);
    bad.client_id = String::new();
    assert!(err(publish(example_mines(), bad, never()).await).contains("client id"));
}
