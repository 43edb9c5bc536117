//! The fault suite (issue 10, "Nothing lost, whatever arrives"): the real server as a process of
//! its own on a private mosquitto, a scripted stream with a known outcome, faults injected while
//! it is delivered (kill -9 of the server, PUBACKs lost on the way, a broker restart), and the
//! exact outcome checked from the store at the end: every alert raised once and resolved once,
//! one dead letter, every message applied. The machinery is `minewatch_tests::fault`.
//!
//! mosquitto is `MINEWATCH_TEST_MOSQUITTO` when set (a case fails if it is missing), else
//! `/usr/sbin/mosquitto` (each case is skipped with a notice if that is missing).

use minewatch_tests::fault::stream::{self, LEN, Script, WINDOWS};
use minewatch_tests::fault::{
    AckedPublisher, ChildServer, ChildSpec, Mosquitto, PubackDropProxy, metric,
};
use minewatch_tests::{MINE, server_program, unique, wait_until};
use std::time::{Duration, Instant};

/// Pace of the messages published while the server is up and taking them as they come.
const LIVE_PACE: Duration = Duration::from_millis(2);
/// No pace: a burst, published as fast as the broker acknowledges.
const BURST: Duration = Duration::ZERO;
/// The stream's messages published while the server is down after the first kill: the backlog
/// the second kill interrupts.
const BACKLOG_END: usize = 240;

/// The server's spec on the broker at `port` under `prefix`.
fn spec(port: u16, prefix: &str) -> ChildSpec {
    ChildSpec::new(
        server_program!(),
        "127.0.0.1",
        port,
        prefix,
        &unique("mw-fault"),
    )
    .mine("m1.toml", MINE)
    // Each over-limit cycle of the stream is its own alert: these tests count alerts, and a raise
    // within `rearm_window` of a resolve would re-activate the last one instead.
    .set("alarms", "rearm_window", "\"1ms\"")
}

/// Case A: the stream with the server killed with SIGKILL three times and restarted on the same
/// store and MQTT session each time: right after an alert is stored, in the middle of the backlog
/// queued while it was down, and right after an alert is resolved. With `drop_pubacks`, a proxy
/// between the server and the broker drops every PUBACK the server sends, so the broker delivers
/// everything the server ever handled again after each restart.
async fn killed_three_times(what: &str, drop_pubacks: bool) {
    let Some(broker) = Mosquitto::start(what).await else {
        return;
    };
    let proxy = if drop_pubacks {
        Some(PubackDropProxy::start(broker.addr(), true).await)
    } else {
        None
    };
    let prefix = unique("fault");
    let port = proxy.as_ref().map_or(broker.port(), PubackDropProxy::port);
    let clock = Instant::now();
    let mut server = ChildServer::start(spec(port, &prefix)).await;
    let mut publisher = AckedPublisher::connect("127.0.0.1", broker.port()).await;
    stream::wait_subscribed(&server, &mut publisher, &prefix).await;
    let script = Script::new(&prefix);
    eprintln!(
        "{what}: server up and subscribed after {:?}",
        clock.elapsed()
    );

    // Kill 1, right after window 0's alert is stored: its message's PUBACK may not be out yet.
    let w0 = WINDOWS[0].clone();
    script
        .publish(&mut publisher, 0..w0.start + 1, LIVE_PACE)
        .await;
    stream::wait_raised(&server, &script, 0).await;
    server.kill().await;
    eprintln!(
        "{what}: kill 1 after window 0 was raised, at {:?}",
        clock.elapsed()
    );
    // Queued by the broker for the session while the server is down: the next start's backlog.
    script
        .publish(&mut publisher, w0.start + 1..BACKLOG_END, BURST)
        .await;
    server.restart().await;

    // Kill 2, as soon as the store shows part of that backlog applied.
    let applied = wait_until("some of the backlog applied", || async {
        stream::progress(&server, &script)
            .await
            .filter(|&p| p > w0.start)
    })
    .await;
    server.kill().await;
    eprintln!(
        "{what}: kill 2 with messages up to {applied} of the backlog up to {} seen applied, at {:?}",
        BACKLOG_END - 1,
        clock.elapsed()
    );
    server.restart().await;

    // Kill 3, right after window 2's alert is stored resolved, the stream published live.
    let w2 = WINDOWS[2].clone();
    script
        .publish(&mut publisher, BACKLOG_END..w2.end + 1, LIVE_PACE)
        .await;
    stream::wait_resolved(&server, &script, 2).await;
    server.kill().await;
    eprintln!(
        "{what}: kill 3 after window 2 was resolved, at {:?}",
        clock.elapsed()
    );
    script.publish(&mut publisher, w2.end + 1..LEN, BURST).await;
    server.restart().await;

    stream::wait_all_applied(&server, &script).await;
    let received = metric(
        &server.metrics().await,
        "minewatch_messages_total",
        &[("system", "safety")],
    );
    eprintln!(
        "{what}: all {LEN} messages applied after {} starts, at {:?}; the last start received {received:?} messages, {} of them new",
        server.starts(),
        clock.elapsed(),
        LEN - (w2.end + 1)
    );
    if let Some(p) = &proxy {
        assert!(
            p.dropped() > 0 && p.forwarded() == 0,
            "the proxy dropped {} PUBACKs and forwarded {}: it must drop them all",
            p.dropped(),
            p.forwarded()
        );
        eprintln!("{what}: the proxy dropped {} PUBACKs", p.dropped());
    }
    stream::assert_exact(&server, &script).await;
    let status = server.stop().await;
    assert!(status.success(), "the server stopped with {status}");
    eprintln!("{what}: done in {:?}", clock.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_three_times_mid_stream_raises_every_alert_once_and_loses_nothing() {
    killed_three_times("the kill -9 fault case", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_three_times_while_its_pubacks_are_lost_handles_every_redelivery_once() {
    killed_three_times("the kill -9 fault case with PUBACKs dropped", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restarted_mid_stream_with_persistence_leaves_every_alert_raised_once() {
    let what = "the broker restart fault case";
    let Some(mut broker) = Mosquitto::start(what).await else {
        return;
    };
    let prefix = unique("fault");
    let clock = Instant::now();
    let mut server = ChildServer::start(spec(broker.port(), &prefix)).await;
    let mut publisher = AckedPublisher::connect("127.0.0.1", broker.port()).await;
    stream::wait_subscribed(&server, &mut publisher, &prefix).await;
    let script = Script::new(&prefix);

    // The stream published live from a task of its own; the broker stops (SIGTERM: it saves its
    // sessions) as soon as the dead letter is stored, with the publisher in the middle of the
    // stream and the server taking it as it comes: the bad message's PUBACK may not have reached
    // the broker. The message the publisher has in flight then is sent again once the broker is
    // back (rumqttc keeps it until its PUBACK).
    let live = {
        let script = script.clone();
        tokio::spawn(async move {
            script.publish(&mut publisher, 0..LEN, LIVE_PACE).await;
            publisher
        })
    };
    wait_until("the dead letter stored", || async {
        (!stream::dead_letters(&server).await.is_empty()).then_some(())
    })
    .await;
    broker.stop().await;
    let applied = stream::progress(&server, &script).await;
    eprintln!(
        "{what}: broker stopped with messages up to {applied:?} seen applied, at {:?}",
        clock.elapsed()
    );
    wait_until("the server sees the broker gone", || async {
        (metric(&server.metrics().await, "minewatch_mqtt_connected", &[]) == Some(0.0))
            .then_some(())
    })
    .await;
    broker.restart().await;
    // The server reconnects by itself, to the same session.
    wait_until("the server reconnects by itself", || async {
        let m = server.metrics().await;
        (metric(&m, "minewatch_mqtt_connected", &[]) == Some(1.0)
            && metric(&m, "minewatch_mqtt_reconnects_total", &[]).is_some_and(|n| n >= 1.0))
        .then_some(())
    })
    .await;
    eprintln!(
        "{what}: broker back and the server reconnected at {:?}",
        clock.elapsed()
    );
    // Every message acknowledged by the broker (a publish that times out fails the test).
    drop(live.await.expect("the publishing task"));

    stream::wait_all_applied(&server, &script).await;
    stream::assert_exact(&server, &script).await;
    let status = server.stop().await;
    assert!(status.success(), "the server stopped with {status}");
    eprintln!("{what}: done in {:?}", clock.elapsed());
}

/// `/readyz` tells the truth: 200 while the broker session is up, 503 naming the broker while it
/// is down, and 200 again by itself once the broker is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_broker_session_down_and_back_up() {
    let what = "readiness_follows_the_broker_session_down_and_back_up";
    let Some(mut broker) = Mosquitto::start(what).await else {
        return;
    };
    let server = ChildServer::start(spec(broker.port(), &unique("ready"))).await;
    let ready = || async {
        let (status, body) = server.get("/readyz").await;
        (status, body.as_str().unwrap_or_default().to_owned())
    };
    wait_until("ready with the broker up", || async {
        (ready().await.0 == 200).then_some(())
    })
    .await;
    broker.stop().await;
    let (status, why) = wait_until("not ready with the broker down", || async {
        let r = ready().await;
        (r.0 != 200).then_some(r)
    })
    .await;
    assert_eq!(status, 503);
    assert!(why.contains("broker"), "{why}");
    broker.restart().await;
    wait_until("ready again by itself", || async {
        (ready().await.0 == 200).then_some(())
    })
    .await;
}
