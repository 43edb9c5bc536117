//! Connections over real TCP: the header-read timeout closes half-sent requests (slowloris) and
//! idle keep-alive connections, a stalled body gets a 408, the connection cap makes new clients wait instead of failing,
//! WebSocket sessions hold their slot, and a shutdown does not wait on stalled clients.

use crate::common::*;
use minewatch_gateway::HttpConfig;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Half a request line: what a slowloris client sends before it stalls.
const HALF_REQUEST: &[u8] = b"GET /api/al";

fn config(header_read_timeout: Duration, max_connections: usize) -> HttpConfig {
    HttpConfig {
        header_read_timeout,
        max_connections,
        ..HttpConfig::default()
    }
}

/// A connection that sent half a request line and nothing more.
async fn half_sent(gw: &Gateway) -> TcpStream {
    let mut s = within("a connection", TcpStream::connect(gw.addr))
        .await
        .expect("connect");
    s.write_all(HALF_REQUEST)
        .await
        .expect("write half a request");
    s
}

/// `n` connections that each sent half a request line, once the server holds them all.
async fn stalled(gw: &Gateway, n: usize) -> Vec<TcpStream> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(half_sent(gw).await);
    }
    eventually(
        &format!("the server to hold {n} stalled connections"),
        || async { open_connections(gw) == i64::try_from(n).unwrap_or(i64::MAX) },
    )
    .await;
    v
}

/// Reads until the server closes the connection, failing after `limit`; answers what was read.
async fn closed_by_server(mut s: TcpStream, limit: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read)
        .await
        .unwrap_or_else(|_| panic!("the server did not close the connection within {limit:?}"));
    got
}

fn open_connections(gw: &Gateway) -> i64 {
    gw.state.metrics.http_connections.get()
}

#[tokio::test]
async fn half_sent_requests_are_closed_at_the_header_timeout_while_others_are_answered_at_once() {
    let timeout = Duration::from_millis(800);
    let gw = Gateway::start_with(64, config(timeout, 256)).await;
    let opened = Instant::now();
    let stalled = stalled(&gw, 100).await;

    let asked = Instant::now();
    let r = gw.get_served("/api/alerts").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        asked.elapsed() < timeout / 2,
        "a normal request waited {:?} behind stalled ones",
        asked.elapsed()
    );

    let margin = Duration::from_secs(3);
    let closes = stalled
        .into_iter()
        .map(|s| tokio::spawn(closed_by_server(s, timeout + margin)));
    for close in closes {
        close.await.expect("reader task");
    }
    assert!(
        opened.elapsed() >= timeout,
        "closed after {:?}, before the header timeout {timeout:?}",
        opened.elapsed()
    );
    eventually("every slot to be given back", || async {
        open_connections(&gw) == 0
    })
    .await;
    assert_eq!(gw.state.metrics.http_header_timeouts.get(), 100);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_the_header_timeout() {
    let timeout = Duration::from_millis(500);
    let gw = Gateway::start_with(64, config(timeout, 16)).await;
    let mut s = TcpStream::connect(gw.addr).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut head = Vec::new();
    within("the answer on a keep-alive connection", async {
        let mut buf = [0u8; 256];
        while !head.ends_with(b"ok") {
            let n = s.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed before answering");
            head.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert!(head.starts_with(b"HTTP/1.1 200"));
    let answered = Instant::now();
    let rest = closed_by_server(s, timeout + Duration::from_secs(3)).await;
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert!(
        answered.elapsed() >= timeout * 9 / 10,
        "an idle connection closed after {:?}, before the header timeout",
        answered.elapsed()
    );
}

#[tokio::test]
async fn a_body_that_stalls_is_answered_408_and_its_connection_closed_at_the_header_timeout() {
    let timeout = Duration::from_millis(500);
    let gw = Gateway::start_with(64, config(timeout, 16)).await;
    gw.add_mine("m1");
    let mut s = TcpStream::connect(gw.addr).await.expect("connect");
    s.write_all(
        b"POST /api/silences HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"mine\":",
    )
    .await
    .expect("write a header and a tenth of a body");
    let sent = Instant::now();
    let answer = closed_by_server(s, timeout + Duration::from_secs(3)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body: not received within"), "{answer}");
    assert!(sent.elapsed() >= timeout * 9 / 10, "{:?}", sent.elapsed());
    let listed = gw.get("/api/silences?state=all").await.json();
    assert_eq!(listed["silences"], serde_json::json!([]));
}

#[tokio::test]
async fn at_the_connection_cap_a_new_client_waits_for_a_slot_instead_of_being_refused() {
    let timeout = Duration::from_millis(800);
    let gw = Gateway::start_with(64, config(timeout, 4)).await;
    let opened = Instant::now();
    let stalled = stalled(&gw, 4).await;
    let r = gw.get_served("/healthz").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        opened.elapsed() >= timeout * 9 / 10,
        "answered after {:?}: a fifth connection was served while four slots were held",
        opened.elapsed()
    );
    assert!(gw.state.metrics.http_connections_capped.get() >= 1);
    assert!(open_connections(&gw) <= 4);
    drop(stalled);
}

#[tokio::test]
async fn a_websocket_session_holds_its_connection_slot_until_it_ends() {
    let gw = Gateway::start_with(64, config(Duration::from_secs(5), 8)).await;
    let mut ws = gw.ws("").await;
    let snapshot = next_json(&mut ws).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(
        open_connections(&gw),
        1,
        "the upgraded connection keeps its slot"
    );
    drop(ws);
    eventually("the session's slot to be given back", || async {
        open_connections(&gw) == 0
    })
    .await;
}

#[tokio::test]
async fn a_shutdown_does_not_wait_for_a_stalled_client_beyond_its_drain_time() {
    let config = HttpConfig {
        header_read_timeout: Duration::from_secs(60),
        ws_send_timeout_ms: 200,
        ..HttpConfig::default()
    };
    let mut gw = Gateway::start_with(64, config).await;
    let mut stalled = stalled(&gw, 1).await;
    let stopping = Instant::now();
    gw.stop().await;
    // The drain time is the WebSocket send timeout plus a second.
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "{:?}",
        stopping.elapsed()
    );
    for s in stalled.drain(..) {
        closed_by_server(s, Duration::from_secs(1)).await;
    }
    assert_eq!(open_connections(&gw), 0);
}
