//! The accept loop behind [`serve`](crate::serve): every connection gets a slot of
//! `http.max_connections` and hyper's HTTP/1 with a timer, so a client that does not send a whole
//! request header within `http.header_read_timeout` is closed, whether it stalls after half a
//! request line (slowloris) or sits idle on a keep-alive connection; a JSON body then has the same
//! time again ([`BodyTimeout`], applied by the body extractor).
//!
//! `axum::serve` offers neither knob (it sets no timer, so hyper's default header timeout never
//! fires), hence this loop. What it keeps from it: WebSocket upgrades, and a graceful shutdown
//! that lets requests in flight finish.
//!
//! **When every slot is taken** the loop stops accepting until one frees, as nginx does when its
//! `worker_connections` run out and Go's `LimitListener` does: new connections wait in the
//! kernel's listen backlog (itself bounded; beyond it the kernel drops SYNs and clients retry).
//! Accepting and closing at once would turn every client away while the slots are held, costs an
//! accept and a close per attempt, and gains nothing: the header timeout already bounds how long
//! a stalled client holds its slot, so a waiting client is served within that time instead of
//! being refused. Each time the cap is hit it is counted (`minewatch_http_connections_capped_total`)
//! and logged at most once a minute.

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use minewatch_core::metrics::Metrics;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How long the loop waits before accepting again after an error that is not one connection's
/// (out of file descriptors, say): retrying at once would spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);
/// A deadline far enough to mean "none": a year.
const FAR_FUTURE: Duration = Duration::from_secs(365 * 86_400);
/// At most one warning per this long that every connection slot is taken.
const CAPPED_WARNING_EVERY: Duration = Duration::from_secs(60);

/// One open connection's hold on a slot of `http.max_connections`, counted in
/// `minewatch_http_connections`. Requests carry a clone (as an extension), so a WebSocket session,
/// which keeps the socket after hyper hands it over, keeps the slot until it ends.
#[derive(Clone)]
pub(crate) struct ConnSlot {
    _slot: Arc<Slot>,
}

struct Slot {
    /// Given back to the semaphore when the last clone drops.
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl Slot {
    fn new(permit: OwnedSemaphorePermit, metrics: Arc<Metrics>) -> Self {
        metrics.http_connections.inc();
        Slot {
            _permit: permit,
            metrics,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.metrics.http_connections.dec();
    }
}

/// How long a request's body may take to arrive once its header has: the header's own timeout
/// again, so a client that stalls in the body (rather than the header) holds its slot no longer.
/// Carried as a request extension to the extractors that read a body.
#[derive(Clone, Copy)]
pub(crate) struct BodyTimeout(pub Duration);

/// What the accept loop needs besides the router.
pub(crate) struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    /// How long, after `shutdown`, connections still open are waited for before they are closed.
    pub drain: Duration,
}

/// Accepts on `listener` until `shutdown` resolves, serving each connection with `app`; then
/// stops accepting, lets requests in flight finish (idle connections close at once, one mid-header
/// at its header timeout) and closes what is still open `limits.drain` after the shutdown began.
/// Answers that deadline, which WebSocket sessions are held to as well.
pub(crate) async fn run(
    listener: TcpListener,
    app: Router,
    metrics: Arc<Metrics>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> Instant {
    let mut builder = http1::Builder::new();
    // Without a timer hyper ignores its header timeout altogether.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // Turns true at shutdown: every connection then shuts down gracefully.
    let (stopping, stop) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    let mut warned: Option<Instant> = None;
    loop {
        while connections.try_join_next().is_some() {}
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                metrics.http_connections_capped.inc();
                if warned.is_none_or(|at| at.elapsed() >= CAPPED_WARNING_EVERY) {
                    warned = Some(Instant::now());
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "every HTTP connection slot is taken; new connections wait in the listen backlog until one closes"
                    );
                }
                tokio::select! {
                    permit = slots.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "cannot accept HTTP connections; retrying in a second");
                    tokio::select! {
                        () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        let slot = ConnSlot {
            _slot: Arc::new(Slot::new(permit, metrics.clone())),
        };
        connections.spawn(connection(
            stream,
            peer,
            app.clone(),
            slot,
            BodyTimeout(limits.header_read_timeout),
            builder.clone(),
            stop.clone(),
            metrics.clone(),
        ));
    }
    // Connections waiting in the backlog are refused from here on.
    drop(listener);
    let _ = stopping.send(true);
    let now = Instant::now();
    // A drain too long to add is as good as none: wait for the connections without one.
    let deadline = now.checked_add(limits.drain).unwrap_or(now + FAR_FUTURE);
    let drained = tokio::time::timeout_at(deadline, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "HTTP connections still open after the shutdown's drain time; closing them"
        );
        connections.shutdown().await;
    }
    deadline
}

/// Serves one connection until it closes, or shuts it down gracefully once `stop` turns true.
/// Every request carries the connection's slot, the body timeout and the peer's address (axum's
/// [`ConnectInfo`], for the audit trail's `source`) as extensions.
#[allow(clippy::too_many_arguments)]
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    slot: ConnSlot,
    body_timeout: BodyTimeout,
    builder: Arc<http1::Builder>,
    mut stop: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
) {
    let service = TowerToHyperService::new(app);
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(slot.clone());
        req.extensions_mut().insert(body_timeout);
        req.extensions_mut().insert(ConnectInfo(peer));
        hyper::service::Service::call(&service, req)
    });
    let mut conn = pin!(
        builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades()
    );
    let stopping = async move {
        // A dropped sender means the server is gone: stop too.
        let _ = stop.wait_for(|stop| *stop).await;
    };
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stopping => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    match result {
        Ok(()) => {}
        Err(e) if e.is_timeout() => {
            metrics.http_header_timeouts.inc();
            tracing::debug!("HTTP connection closed: no complete request header in time");
        }
        Err(e) => tracing::debug!(error = %e, "HTTP connection ended with an error"),
    }
}

/// Errors of one connection that was already gone when accepted; anything else is the server's.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
