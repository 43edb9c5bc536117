//! `GET /ws?mine=&severity=&after=SEQ`: the live alert stream (contract §5), one task per client.
//!
//! A session subscribes to the broadcast of [`WireEvent`]s *first*, then brings the client up to a
//! seq `last`, then forwards every broadcast event with a seq above `last`, so nothing published
//! in between is lost and nothing is sent twice:
//! - without `after`: a snapshot `{"type":"snapshot","seq":S,"alerts":[…]}` of the matching active
//!   alerts, where `S` is read before the alerts are collected (an alert newer than `S` is then at
//!   worst sent again as an event, never missed);
//! - with `after=A`: nothing when `A` is the latest seq; the missed events from the store, one per
//!   frame, when it still has all of them and they are at most `ws_resume_max`; a snapshot otherwise.
//!
//! The pipeline never waits for a client: the broadcast is fire-and-forget and a client that falls
//! more than its capacity behind (`Lagged`) gets a fresh snapshot and goes on from its seq. A send
//! that does not complete within `ws_send_timeout_ms` drops the client.
//!
//! Filters: `mine` is an exact mine id, `severity` a minimum. An alert the client was shown is
//! followed to its end: the event that resolves it, or lowers it below `severity`, is sent too, so
//! the client can take it off its table rather than keep a stale row. During a replay the gateway
//! cannot know which alerts the client had, so every change below `severity` is sent then (raises
//! excepted). A client treats an event below its `severity` as "remove this alert if shown".
//!
//! The per-client rules (duplicates, filter, following) live in [`Cursor`], which does no I/O;
//! [`Session`] wraps it with the socket, the store and the broadcast.

use crate::access::StreamAccess;
use crate::conn::ConnSlot;
use crate::error::ApiError;
use crate::extract::Params;
use crate::{AppState, Lifecycle};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use futures_util::SinkExt;
use minewatch_core::{Alert, AlertState, EventType, Severity, WireEvent};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::{Instant, MissedTickBehavior, interval, timeout};

/// Clients send nothing the gateway acts on; this bounds what one may make it buffer.
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// How often an idle client is pinged, so a vanished one is noticed even when no events flow.
const PING_EVERY: Duration = Duration::from_secs(30);
/// A client that has sent nothing (not even a pong) for this long is dropped.
const SILENT_LIMIT: Duration = Duration::from_secs(90);
/// Queued events written to a client's socket before one flush.
const SEND_BATCH: usize = 256;
/// Events read from the store per query when replaying.
const REPLAY_PAGE: u64 = 1000;

/// The route.
pub(crate) fn routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(handler))
}

/// `GET /ws`: authenticates (the token may come as `?token=`, since browsers cannot set headers on
/// a WebSocket), validates the parameters (400 naming a bad one; 404 for a mine the caller may not
/// see), then upgrades.
#[utoipa::path(get, path = "/ws", tag = "alerts",
    params(
        ("mine" = Option<String>, Query, description = "Only this mine"),
        ("severity" = Option<Severity>, Query, description = "At least this severity"),
        ("after" = Option<u64>, Query, description = "Resume after this seq: the events since, or a snapshot when they are no longer stored"),
        ("token" = Option<String>, Query, description = "The bearer token, for clients that cannot set headers"),
    ),
    responses(
        (status = 101, description = "WebSocket: a `{\"type\":\"snapshot\",\"seq\":S,\"alerts\":[…]}`, then each event `{\"type\",\"seq\",\"at\",\"alert\"}`"),
        (status = 400, description = "A bad parameter, or not a WebSocket upgrade", body = crate::openapi::ErrorBody),
        (status = 404, description = "A mine the caller may not see", body = crate::openapi::ErrorBody),
    ))]
pub(crate) async fn handler(
    State(state): State<AppState>,
    StreamAccess(access): StreamAccess,
    axum::Extension(life): axum::Extension<Lifecycle>,
    slot: Option<axum::Extension<ConnSlot>>,
    params: Params,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    params.only(&["mine", "severity", "after", "token"])?;
    let filter = Filter {
        mine: params.mine("mine")?,
        min_severity: params.parse(
            "severity",
            "critical, major, warning or info",
            Severity::parse,
        )?,
        access,
    };
    if let Some(mine) = filter.mine.as_deref().filter(|m| !filter.access.sees(m)) {
        tracing::debug!(
            token = filter.access.who(),
            mine,
            "websocket refused: mine not allowed"
        );
        return Err(ApiError::not_found(format!(
            "no mine {}",
            serde_json::json!(mine)
        )));
    }
    let after = params.parse("after", "a seq number", |s| s.parse::<u64>().ok())?;
    let upgrade = upgrade.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    Ok(upgrade
        .max_message_size(MAX_CLIENT_MESSAGE)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "websocket upgrade failed"))
        .on_upgrade(move |socket| async move {
            // The session keeps the socket, so it keeps the connection's slot too.
            let _slot = slot;
            run(socket, state, filter, after, life).await;
        }))
}

/// What a client asked to see.
struct Filter {
    mine: Option<String>,
    min_severity: Option<Severity>,
    /// The caller's mines, on top of `mine`.
    access: crate::Access,
}

impl Filter {
    fn sees_mine(&self, mine: &str) -> bool {
        self.mine.as_deref().is_none_or(|m| m == mine) && self.access.sees(mine)
    }

    fn passes(&self, mine: &str, severity: Severity) -> bool {
        self.sees_mine(mine) && self.min_severity.is_none_or(|min| severity >= min)
    }
}

/// The filter an encoded snapshot passed: mine, minimum severity, the caller's mines.
type FilterKey = (Option<String>, Option<Severity>, Option<Vec<String>>);

/// The last snapshot encoded (with the seq it stands for and the filter it passed), shared by
/// every client that may take it. In an alarm storm every client falls behind, each at its own
/// seq, and asks for a snapshot of the same tens of thousands of alerts: a client may take any
/// snapshot at or after the seq the pipeline had when it (re)subscribed (every later event is in
/// its receiver), so one encoding serves every client that fell behind before it began. Building
/// is one at a time: a client that waits for a build in progress then takes what it built.
#[derive(Default)]
pub struct SnapshotCache(tokio::sync::Mutex<Option<(u64, FilterKey, SharedSnapshot)>>);

/// An encoded snapshot and the active alerts in it. The text is reference-counted bytes, so a
/// client's message shares it rather than copying tens of megabytes.
type SharedSnapshot = (u64, Utf8Bytes, Arc<Vec<Arc<Alert>>>);

impl SnapshotCache {
    /// The cached snapshot for `filter` if it stands for a seq at or after `floor`, or the one
    /// `build` makes now (then cached). Waits at most `wait` for another client's build.
    async fn get_or_build(
        &self,
        filter: FilterKey,
        floor: u64,
        wait: Duration,
        build: impl FnOnce() -> Result<SharedSnapshot, End>,
    ) -> Result<SharedSnapshot, End> {
        let mut slot = timeout(wait, self.0.lock())
            .await
            .map_err(|_| End::SendFailed("waited too long for a snapshot".into()))?;
        if let Some((_, _, shared)) = slot
            .as_ref()
            .filter(|(seq, key, _)| *seq >= floor && *key == filter)
        {
            return Ok(shared.clone());
        }
        let shared = build()?;
        *slot = Some((shared.0, filter, shared.clone()));
        Ok(shared)
    }
}

impl std::fmt::Debug for SnapshotCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SnapshotCache")
    }
}

/// Counts a connected client in `ws_clients` for as long as it lives, whichever way its session
/// ends (an error, a panic, a shutdown).
struct ClientGauge(Arc<minewatch_core::metrics::Metrics>);

impl ClientGauge {
    fn new(metrics: Arc<minewatch_core::metrics::Metrics>) -> Self {
        metrics.ws_clients.inc();
        ClientGauge(metrics)
    }
}

impl Drop for ClientGauge {
    fn drop(&mut self) {
        self.0.ws_clients.dec();
    }
}

/// Why a session ended.
#[derive(Debug)]
enum End {
    /// The client closed or its connection went away.
    ClientGone,
    /// A send failed, or did not complete within the send timeout.
    SendFailed(String),
    /// Nothing heard from the client, not even a pong, for [`SILENT_LIMIT`].
    Silent,
    /// The server is shutting down, or the pipeline stopped publishing.
    ServerGoingAway,
    /// A message could not be encoded (a bug, logged).
    Encode(serde_json::Error),
}

/// The snapshot message.
#[derive(Serialize)]
struct Snapshot<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    alerts: &'a [Arc<Alert>],
    /// Cleared alerts still waiting for an acknowledgement (ISA-18.2), added beside `alerts`
    /// (which keeps meaning the active ones).
    cleared: &'a [Arc<Alert>],
}

/// The part of an event's JSON that following an alert needs.
#[derive(Deserialize)]
struct EventHead {
    #[serde(rename = "type")]
    kind: EventType,
    alert: AlertHead,
}

#[derive(Deserialize)]
struct AlertHead {
    id: String,
    state: AlertState,
}

/// How a resume with `after` went.
enum Resume {
    /// The client is up to date.
    Done,
    /// It must be sent a snapshot instead, for this reason.
    Snapshot(&'static str),
}

/// Where a client stands in the event stream and what it wants from it. No I/O: the rules that
/// keep a client's table exact (nothing twice, nothing missed, no stale row) are tested alone.
struct Cursor {
    filter: Filter,
    /// The seq the client has been brought up to: events at or below it are duplicates.
    last: u64,
    /// Alerts the client has that the severity filter alone would stop following (kept only when
    /// a `severity` is given); bounded by the active alerts that pass the filter.
    shown: HashSet<String>,
    /// While replaying after a reconnect the gateway cannot know which alerts the client had, so
    /// it sends every change below the filter too, except raises: those alerts are new to it.
    replaying: bool,
}

impl Cursor {
    fn new(filter: Filter) -> Self {
        Cursor {
            filter,
            last: 0,
            shown: HashSet::new(),
            replaying: false,
        }
    }

    /// The client was sent a snapshot of `alerts` at `seq`.
    fn snapshot(&mut self, seq: u64, alerts: &[Arc<Alert>]) {
        self.last = seq;
        self.follow(alerts);
        self.replaying = false;
    }

    /// The client is resuming after `after`; `alerts` are the active ones that pass its filter
    /// now, a superset of those it had and still should.
    fn resume(&mut self, after: u64, alerts: &[Arc<Alert>]) {
        self.last = after;
        self.follow(alerts);
        self.replaying = true;
    }

    /// The replay is over; live events follow.
    fn replayed(&mut self) {
        self.replaying = false;
    }

    fn follow(&mut self, alerts: &[Arc<Alert>]) {
        self.shown.clear();
        if self.filter.min_severity.is_some() {
            self.shown.extend(alerts.iter().map(|a| a.id.clone()));
        }
    }

    /// Whether to send an event: it must be new (its seq then becomes `last`) and pass the
    /// filter, or be the end of an alert the client has (resolved, or now below `severity`).
    fn accept(&mut self, event: &WireEvent) -> bool {
        if event.seq <= self.last {
            return false;
        }
        self.last = event.seq;
        if !self.filter.sees_mine(&event.mine) {
            return false;
        }
        let Some(min) = self.filter.min_severity else {
            return true;
        };
        let passes = event.severity >= min;
        let Ok(head) = serde_json::from_str::<EventHead>(&event.json) else {
            return passes;
        };
        if passes && head.alert.state == AlertState::Active {
            self.shown.insert(head.alert.id);
            true
        } else {
            let had = self.shown.remove(&head.alert.id);
            passes || had || (self.replaying && head.kind != EventType::Raised)
        }
    }
}

/// One client's session: the I/O around its [`Cursor`].
struct Session {
    state: AppState,
    send_timeout: Duration,
    cursor: Cursor,
}

/// Runs one client's session to its end.
async fn run(
    mut socket: WebSocket,
    state: AppState,
    filter: Filter,
    after: Option<u64>,
    mut life: Lifecycle,
) {
    let _gauge = ClientGauge::new(state.metrics.clone());
    // Subscribed before anything is read, so every event after the starting point is in `events`.
    let mut events = state.events.subscribe();
    let send_timeout = Duration::from_millis(state.config.ws_send_timeout_ms);
    tracing::debug!(token = filter.access.who(), mine = ?filter.mine, severity = ?filter.min_severity, ?after, "websocket client connected");
    let mut session = Session {
        state,
        send_timeout,
        cursor: Cursor::new(filter),
    };
    let end = match session.start(&mut socket, after).await {
        Ok(()) => session.pump(&mut socket, &mut events, &mut life).await,
        Err(end) => end,
    };
    match &end {
        End::ClientGone | End::ServerGoingAway => {
            tracing::debug!(?end, "websocket client disconnected")
        }
        End::SendFailed(why) => tracing::info!(reason = %why, "websocket client dropped"),
        End::Silent => tracing::info!("websocket client dropped: silent"),
        End::Encode(e) => tracing::error!(error = %e, "websocket message could not be encoded"),
    }
    let frame = match end {
        End::ServerGoingAway => Some(CloseFrame {
            code: close_code::AWAY,
            reason: Utf8Bytes::from_static("server going away"),
        }),
        End::Encode(_) => Some(CloseFrame {
            code: close_code::ERROR,
            reason: Utf8Bytes::from_static("internal error"),
        }),
        // A client that closed gets its close echoed by the close below; one that failed or
        // stayed silent is not worth waiting for.
        End::ClientGone => None,
        End::SendFailed(_) | End::Silent => return,
    };
    if let Some(frame) = frame {
        let _ = timeout(send_timeout, socket.send(Message::Close(Some(frame)))).await;
    }
    let _ = timeout(send_timeout, socket.close()).await;
}

impl Session {
    /// Brings the client up to a seq: by a snapshot, or by replaying what it missed.
    async fn start(&mut self, socket: &mut WebSocket, after: Option<u64>) -> Result<(), End> {
        let Some(after) = after else {
            return self.snapshot(socket).await;
        };
        match self.replay(socket, after).await? {
            Resume::Done => Ok(()),
            Resume::Snapshot(why) => {
                tracing::debug!(
                    after,
                    reason = why,
                    "websocket resume falls back to a snapshot"
                );
                self.state.metrics.ws_resyncs.inc();
                self.snapshot(socket).await
            }
        }
    }

    /// Sends a snapshot of the matching active alerts and goes on from its seq. The caller has
    /// (re)subscribed to the broadcast: any snapshot at or after the seq now will do.
    async fn snapshot(&mut self, socket: &mut WebSocket) -> Result<(), End> {
        let floor = self.state.live.seq();
        let filter = &self.cursor.filter;
        let key = (
            filter.mine.clone(),
            filter.min_severity,
            filter.access.mines().map(<[String]>::to_vec),
        );
        let (seq, text, alerts) = self
            .state
            .snapshots
            .get_or_build(key, floor, self.send_timeout, || {
                // Read before the alerts: an event after `seq` may already show in them and is
                // then sent again, but none can be missing.
                let seq = self.state.live.seq();
                let alerts = self.matching_alerts();
                let cleared = self
                    .state
                    .live
                    .cleared_alerts(|a| filter.passes(&a.mine, a.severity));
                let text = Utf8Bytes::from(
                    serde_json::to_string(&Snapshot {
                        kind: "snapshot",
                        seq,
                        alerts: &alerts,
                        cleared: &cleared,
                    })
                    .map_err(End::Encode)?,
                );
                Ok((seq, text, Arc::new(alerts)))
            })
            .await?;
        self.cursor.snapshot(seq, &alerts);
        self.send(socket, Message::Text(text)).await
    }

    /// The active alerts that pass the client's filter.
    fn matching_alerts(&self) -> Vec<Arc<Alert>> {
        let filter = &self.cursor.filter;
        self.state
            .live
            .active_alerts(|a| filter.passes(&a.mine, a.severity))
    }

    /// Replays the events after `after` from the store, when it has them all and they are few
    /// enough; a snapshot is asked for otherwise.
    async fn replay(&mut self, socket: &mut WebSocket, after: u64) -> Result<Resume, End> {
        let head = self.state.live.seq();
        if after > head {
            // Seqs are gap-free and only grow: this client saw another history (a reset store).
            return Ok(Resume::Snapshot("after is ahead of the pipeline"));
        }
        if head - after > u64::from(self.state.config.ws_resume_max) {
            return Ok(Resume::Snapshot("too many missed events"));
        }
        if after < head {
            match self.state.store.first_seq().await {
                Ok(Some(first)) if first <= after + 1 => {}
                Ok(_) => return Ok(Resume::Snapshot("missed events no longer stored")),
                Err(e) => {
                    tracing::error!(error = %e, "store query failed: first seq");
                    return Ok(Resume::Snapshot("store error"));
                }
            }
        }
        let alerts = self.matching_alerts();
        self.cursor.resume(after, &alerts);
        while self.cursor.last < head {
            let from = self.cursor.last;
            let page = (head - from).min(REPLAY_PAGE) as u32;
            let events = match self.state.store.events_after(from, page).await {
                Ok(events) => events,
                Err(e) => {
                    // Whatever was replayed so far is harmless: the snapshot replaces it.
                    tracing::error!(error = %e, "store query failed: events after");
                    return Ok(Resume::Snapshot("store error"));
                }
            };
            if events.is_empty() {
                return Ok(Resume::Snapshot("missed events not in the store"));
            }
            for event in &events {
                if event.seq != self.cursor.last + 1 {
                    return Ok(Resume::Snapshot("gap in the stored events"));
                }
                self.forward(socket, &WireEvent::new(event)).await?;
            }
        }
        self.cursor.replayed();
        Ok(Resume::Done)
    }

    /// Forwards live events until the client, the server or the pipeline ends the session.
    async fn pump(
        &mut self,
        socket: &mut WebSocket,
        events: &mut Receiver<WireEvent>,
        life: &mut Lifecycle,
    ) -> End {
        let mut ping = interval(PING_EVERY);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ping.reset();
        let mut heard = Instant::now();
        loop {
            let step = tokio::select! {
                event = events.recv() => match event {
                    Ok(event) => self.forward_queued(socket, events, event).await,
                    Err(RecvError::Lagged(missed)) => self.resync(socket, events, missed).await,
                    Err(RecvError::Closed) => Err(End::ServerGoingAway),
                },
                message = socket.recv() => match message {
                    // Pings are answered by the websocket layer itself; text and pongs only show
                    // that the client is alive.
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => Err(End::ClientGone),
                    Some(Ok(_)) => {
                        heard = Instant::now();
                        Ok(())
                    }
                },
                _ = ping.tick() => {
                    if heard.elapsed() >= SILENT_LIMIT {
                        Err(End::Silent)
                    } else {
                        self.send(socket, Message::Ping(Default::default())).await
                    }
                },
                () = life.closing() => Err(End::ServerGoingAway),
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// The client fell `missed` events behind the broadcast: a fresh snapshot, then on from the
    /// newest event.
    async fn resync(
        &mut self,
        socket: &mut WebSocket,
        events: &mut Receiver<WireEvent>,
        missed: u64,
    ) -> Result<(), End> {
        tracing::info!(
            missed,
            "websocket client fell behind; sending a fresh snapshot"
        );
        self.state.metrics.ws_resyncs.inc();
        // Start again from the newest: everything older is in the snapshot.
        *events = events.resubscribe();
        self.snapshot(socket).await
    }

    /// Sends `first` and the events already queued behind it (at most [`SEND_BATCH`]), each its
    /// own frame, then flushes once: one write to the socket for a burst, not one per event.
    async fn forward_queued(
        &mut self,
        socket: &mut WebSocket,
        events: &mut Receiver<WireEvent>,
        first: WireEvent,
    ) -> Result<(), End> {
        let send_timeout = self.send_timeout;
        let cursor = &mut self.cursor;
        let batch = async {
            let failed = |e: axum::Error| End::SendFailed(e.to_string());
            let mut next = Some(first);
            let mut fed = 0;
            while let Some(event) = next.take() {
                if cursor.accept(&event) {
                    socket
                        .feed(Message::text(&*event.json))
                        .await
                        .map_err(failed)?;
                    fed += 1;
                }
                if fed == SEND_BATCH {
                    break;
                }
                next = match events.try_recv() {
                    Ok(event) => Some(event),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Lagged(missed)) => {
                        socket.flush().await.map_err(failed)?;
                        return Ok(Some(missed));
                    }
                    Err(TryRecvError::Closed) => return Err(End::ServerGoingAway),
                };
            }
            socket.flush().await.map_err(failed)?;
            Ok(None)
        };
        match timeout(send_timeout, batch).await {
            Ok(Ok(None)) => Ok(()),
            Ok(Ok(Some(missed))) => self.resync(socket, events, missed).await,
            Ok(Err(end)) => Err(end),
            Err(_) => Err(End::SendFailed(format!(
                "send took over {} ms",
                send_timeout.as_millis()
            ))),
        }
    }

    /// Sends an event if the client's cursor accepts it.
    async fn forward(&mut self, socket: &mut WebSocket, event: &WireEvent) -> Result<(), End> {
        if self.cursor.accept(event) {
            self.send(socket, Message::text(&*event.json)).await?;
        }
        Ok(())
    }

    /// Sends one message, or gives up on the client after the send timeout.
    async fn send(&self, socket: &mut WebSocket, message: Message) -> Result<(), End> {
        match timeout(self.send_timeout, socket.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(End::SendFailed(e.to_string())),
            Err(_) => Err(End::SendFailed(format!(
                "send took over {} ms",
                self.send_timeout.as_millis()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use minewatch_core::alert::alert_key;
    use minewatch_core::{Event, Kind};

    #[tokio::test]
    async fn a_snapshot_is_shared_at_or_after_the_floor_and_only_for_the_same_filter() {
        let cache = SnapshotCache::default();
        let filter = |mine: Option<&str>| (mine.map(str::to_string), None, None);
        let wait = Duration::from_secs(1);
        let built =
            |seq: u64| move || Ok((seq, Utf8Bytes::from(seq.to_string()), Arc::new(Vec::new())));
        let got = |r: Result<SharedSnapshot, End>| r.map(|s| s.0).ok();
        assert_eq!(
            got(cache.get_or_build(filter(None), 7, wait, built(7)).await),
            Some(7)
        );
        // A client whose floor is at or before 7 takes it; one past 7 gets a new one.
        assert_eq!(
            got(cache.get_or_build(filter(None), 5, wait, built(9)).await),
            Some(7)
        );
        assert_eq!(
            got(cache.get_or_build(filter(None), 7, wait, built(9)).await),
            Some(7)
        );
        assert_eq!(
            got(cache.get_or_build(filter(None), 8, wait, built(9)).await),
            Some(9)
        );
        // Another filter never takes it.
        assert_eq!(
            got(cache
                .get_or_build(filter(Some("m1")), 1, wait, built(9))
                .await),
            Some(9)
        );
        assert_eq!(
            got(cache.get_or_build(filter(None), 8, wait, built(10)).await),
            Some(10)
        );
    }

    fn wire(seq: u64, kind: EventType, id: &str, mine: &str, severity: Severity) -> WireEvent {
        let at = Utc
            .timestamp_opt(1_795_000_000, 0)
            .single()
            .unwrap_or_default();
        let state = if kind == EventType::Resolved {
            AlertState::Resolved
        } else {
            AlertState::Active
        };
        let alert = Alert {
            id: id.into(),
            key: alert_key(mine, Kind::OverLimit, id),
            mine: mine.into(),
            kind: Kind::OverLimit,
            severity,
            state,
            subject: id.into(),
            area: None,
            message: String::new(),
            value: None,
            limit: None,
            started_at: at,
            updated_at: at,
            resolved_at: None,
            ack: None,
            evidence: serde_json::Value::Null,
            alarm: Default::default(),
        };
        WireEvent::new(&Event {
            kind,
            seq,
            at,
            alert,
        })
    }

    fn cursor(mine: Option<&str>, min_severity: Option<Severity>) -> Cursor {
        Cursor::new(Filter {
            mine: mine.map(str::to_owned),
            min_severity,
            access: crate::Access::unrestricted(),
        })
    }

    fn active(id: &str, severity: Severity) -> Arc<Alert> {
        let e = wire(1, EventType::Raised, id, "m1", severity);
        Arc::new(
            serde_json::from_str::<Event>(&e.json)
                .map(|e| e.alert)
                .expect("an event"),
        )
    }

    use EventType::{Raised, Resolved, Updated};
    use Severity::{Critical, Major, Warning};

    #[test]
    fn events_at_or_below_the_last_seq_are_duplicates_and_skipped() {
        let mut c = cursor(None, None);
        c.snapshot(5, &[]);
        assert!(!c.accept(&wire(4, Raised, "a", "m1", Major)));
        assert!(!c.accept(&wire(5, Raised, "a", "m1", Major)));
        assert!(c.accept(&wire(6, Raised, "a", "m1", Major)));
        assert!(!c.accept(&wire(6, Raised, "a", "m1", Major)));
        assert!(c.accept(&wire(7, Updated, "a", "m1", Major)));
    }

    #[test]
    fn the_mine_filter_is_exact_and_filtered_events_still_advance_the_seq() {
        let mut c = cursor(Some("m1"), None);
        assert!(!c.accept(&wire(1, Raised, "a", "m2", Major)));
        assert!(!c.accept(&wire(2, Raised, "b", "m10", Major)));
        assert_eq!(c.last, 2);
        assert!(c.accept(&wire(3, Raised, "c", "m1", Warning)));
    }

    #[test]
    fn a_severity_filter_is_a_minimum_and_follows_a_shown_alert_to_its_end() {
        let mut c = cursor(None, Some(Major));
        assert!(c.accept(&wire(1, Raised, "a1", "m1", Critical)));
        assert!(!c.accept(&wire(2, Raised, "a2", "m1", Warning)));
        assert!(
            c.accept(&wire(3, Updated, "a1", "m1", Warning)),
            "a1 dropped below: its last event"
        );
        assert!(!c.accept(&wire(4, Updated, "a1", "m1", Warning)));
        assert!(!c.accept(&wire(5, Resolved, "a1", "m1", Warning)));
        assert!(c.accept(&wire(6, Raised, "a3", "m1", Major)));
        assert!(c.accept(&wire(7, Resolved, "a3", "m1", Major)));
        assert!(c.shown.is_empty(), "nothing followed once resolved");
    }

    #[test]
    fn an_alert_of_the_snapshot_is_followed_when_it_drops_below_the_filter() {
        let mut c = cursor(None, Some(Critical));
        c.snapshot(10, &[active("a1", Critical)]);
        assert!(c.accept(&wire(11, Updated, "a1", "m1", Major)));
        assert!(!c.accept(&wire(12, Resolved, "a1", "m1", Major)));
    }

    #[test]
    fn a_replay_sends_changes_below_the_filter_but_not_new_alerts_until_it_is_over() {
        let mut c = cursor(None, Some(Critical));
        c.resume(0, &[]);
        assert!(
            c.accept(&wire(1, Updated, "a1", "m1", Major)),
            "the client may have had a1 as critical"
        );
        assert!(
            !c.accept(&wire(2, Raised, "a2", "m1", Major)),
            "a2 is new to the client"
        );
        c.replayed();
        assert!(!c.accept(&wire(3, Resolved, "a2", "m1", Major)));
    }
}
