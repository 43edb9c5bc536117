//! Fault suite: 1,000 slowloris connections against the real server.
//!
//! Each connection sends half a request line and stalls. With `http.header_read_timeout` short
//! (2 s) and the default `http.max_connections` (1,024), the test requires exact outcomes:
//! - the server holds all 1,000 (`minewatch_http_connections` = baseline + 1,000) and still answers
//!   a normal `GET /api/alerts` with 200 while it holds them, well before the header timeout;
//! - the server closes every one of the 1,000, each no sooner than the header timeout after it
//!   connected and within the timeout plus a margin, and counts exactly 1,000 header timeouts;
//! - the open-connection count returns to its baseline, and the API still answers.
//!
//! 1,000 client sockets and the server's 1,000 live in this one process, so the test raises its
//! soft open-files limit (rustix's setrlimit, up to the hard limit) to what that needs, and says so
//! plainly when the hard limit is too low.

use minewatch_tests::{Harness, MINE, wait_until};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const SLOWLORIS: usize = 1000;
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// Beyond the header timeout, how late a close may come on a loaded two-core machine.
const MARGIN: Duration = Duration::from_secs(3);
/// File descriptors the process needs besides the 2 x 1,000 sockets (store, broker, runtime).
const FD_RESERVE: u64 = 512;

/// Raises the soft open-files limit to `needed` when it is lower (the hard limit allowing).
fn ensure_open_files(needed: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_none_or(|soft| soft >= needed) {
        return;
    }
    if limit.maximum.is_some_and(|hard| hard < needed) {
        panic!(
            "this test needs {needed} open files (1,000 client and 1,000 server sockets); the hard limit is {:?}",
            limit.maximum
        );
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(needed),
            maximum: limit.maximum,
        },
    )
    .unwrap_or_else(|e| panic!("cannot raise the open-files limit to {needed}: {e}"));
}

/// Half a request line, then nothing.
async fn slowloris(addr: std::net::SocketAddr) -> (TcpStream, Instant) {
    let connected = Instant::now();
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /api/alerts HT")
        .await
        .expect("write half a request line");
    (s, connected)
}

/// How long after `since` the server closed `s` (end of stream or reset), or `None` if it did not
/// within the header timeout plus the margin. Whatever the server says before closing is ignored.
async fn closed_after(mut s: TcpStream, since: Instant) -> Option<Duration> {
    let read_to_close = async {
        let mut buf = [0u8; 512];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let limit = (since + HEADER_TIMEOUT + MARGIN).saturating_duration_since(Instant::now());
    tokio::time::timeout(limit, read_to_close).await.ok()?;
    Some(since.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_slowloris_connections_neither_block_the_api_nor_outlive_the_header_timeout() {
    ensure_open_files(2 * SLOWLORIS as u64 + FD_RESERVE);
    let h = Harness::start(&[("m1.toml", MINE)], |cfg| {
        cfg.http.header_read_timeout = HEADER_TIMEOUT;
    })
    .await;
    assert!(
        h.cfg.http.max_connections > SLOWLORIS,
        "the default connection cap leaves room for the test's normal requests"
    );
    let metrics = h.server().metrics.clone();
    let held = i64::try_from(SLOWLORIS).unwrap_or(i64::MAX);
    let open = || metrics.http_connections.get();
    // The harness's own requests (Connection: close) are over once their slots are given back.
    wait_until("no HTTP connection open before the test", || async {
        (open() == 0).then_some(())
    })
    .await;
    let timeouts_before = metrics.http_header_timeouts.get();

    let mut stalled = Vec::with_capacity(SLOWLORIS);
    for _ in 0..SLOWLORIS {
        stalled.push(slowloris(h.http()).await);
    }
    wait_until(
        "the server to hold all 1,000 slowloris connections",
        || async { (open() == held).then_some(()) },
    )
    .await;

    let asked = Instant::now();
    let (status, body) = h.get("/api/alerts").await;
    let took = asked.elapsed();
    assert_eq!(status, 200, "{body}");
    assert!(
        open() >= held,
        "the slowloris connections were let go before the normal request was answered"
    );
    assert!(
        took < HEADER_TIMEOUT / 2,
        "GET /api/alerts took {took:?} with 1,000 slowloris connections open"
    );

    let closes: Vec<_> = stalled
        .into_iter()
        .map(|(s, since)| tokio::spawn(closed_after(s, since)))
        .collect();
    let mut after = Vec::with_capacity(SLOWLORIS);
    for c in closes {
        after.push(c.await.expect("reader task"));
    }
    let not_closed = after.iter().filter(|a| a.is_none()).count();
    assert_eq!(
        not_closed, 0,
        "connections still open {:?} after the header timeout",
        MARGIN
    );
    let after: Vec<Duration> = after.into_iter().flatten().collect();
    let (earliest, latest) = (
        after.iter().min().copied().unwrap_or_default(),
        after.iter().max().copied().unwrap_or_default(),
    );
    assert!(
        earliest >= HEADER_TIMEOUT,
        "a slowloris connection was closed {earliest:?} after it connected, before the header timeout"
    );
    assert!(latest <= HEADER_TIMEOUT + MARGIN, "{latest:?}");
    wait_until("the open-connection count back to its baseline", || async {
        (open() == 0).then_some(())
    })
    .await;
    assert_eq!(
        metrics.http_header_timeouts.get() - timeouts_before,
        SLOWLORIS as u64,
        "every slowloris connection, and nothing else, closed by the header timeout"
    );
    let (status, _) = h.get("/healthz").await;
    assert_eq!(status, 200);
}
