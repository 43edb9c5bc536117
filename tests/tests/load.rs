//! `minewatch load` end to end at tiny sizes, in debug: each mode against the test broker
//! (`MINEWATCH_TEST_MQTT`, else the embedded rumqttd), checking that its report is consistent.
//! No timing is asserted: these runs prove the tool works, BENCHMARKS.md holds the figures.

use minewatch::load::ServerLauncher;
use minewatch_load::{Common, DrainArgs, FanoutArgs, LatencyArgs};

fn common(mines: usize, points: usize) -> Common {
    let (host, port) = minewatch_tests::broker();
    Common {
        broker: format!("{host}:{port}"),
        broker_pid: None,
        mines,
        points,
        store: None,
        prefix: None,
        shards: 2,
        seed: 7,
        keep: false,
        ws_send_timeout_ms: None,
    }
}

fn latency_args(duration: f64) -> LatencyArgs {
    LatencyArgs {
        common: common(3, 20),
        rate: 600,
        duration,
        anomalies: false,
        hostile_elements: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_handles_every_queued_message_and_stores_the_alerts_it_raises() {
    let args = DrainArgs {
        common: common(2, 40),
        messages: 60,
        idle_timeout: 10.0,
        timeout: 60.0,
    };
    let r = minewatch_load::drain::run(&args, &ServerLauncher)
        .await
        .unwrap_or_else(|e| panic!("drain: {e}"));
    println!("{}\n{}", r.summary(), r.json());
    assert_eq!(r.published, 60);
    assert_eq!(r.acked, 60, "every message PUBACKed");
    assert_eq!(r.handled, r.published, "every queued message handled");
    assert!(r.complete());
    assert_eq!(
        r.readings, r.readings_published,
        "every published reading accepted"
    );
    // 30 ticks of 10 s from 05:00 local with an anomaly a minute: alerts are raised, and stored before sent.
    assert!(r.alerts_raised > 0, "the anomalies raise alerts");
    assert!(r.events_stored >= r.alerts_raised);
    let json: serde_json::Value = serde_json::from_str(&r.json()).expect("one JSON line");
    assert_eq!(json["mode"], "drain");
    assert_eq!(json["handled"], 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_times_the_alert_of_each_spike_on_the_websocket() {
    let r = minewatch_load::live::run(&latency_args(3.5), None, &ServerLauncher)
        .await
        .unwrap_or_else(|e| panic!("latency: {e}"));
    println!("{}\n{}", r.summary(), r.json());
    assert!(r.spikes >= 2, "one spike a second");
    assert!(
        !r.samples.is_empty(),
        "spike alerts arrive on the WebSocket"
    );
    assert!(r.samples.len() as u64 <= r.spikes);
    assert_eq!(r.unmatched, 0, "every raise matches a spike");
    assert!(r.batches > 0 && r.handled > 0);
    assert!(r.percentile(50.0) <= r.percentile(99.0));
    let json: serde_json::Value = serde_json::from_str(&r.json()).expect("one JSON line");
    assert_eq!(json["mode"], "latency");
    assert_eq!(json["samples"], r.samples.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_serves_filtered_clients_and_drops_the_stalled_ones() {
    let mut latency = latency_args(3.5);
    // Twelve mines, so the readers (on mines 0-5) start with a snapshot of a sixth of the
    // backlog each, which they read well within the send timeout even on a busy machine; the
    // stalled (unfiltered) clients get all of it, and are given up on after one second.
    latency.common = common(12, 20);
    latency.common.ws_send_timeout_ms = Some(1000);
    let args = FanoutArgs {
        latency,
        clients: 6,
        stalled: 2,
        backlog: 10_000,
    };
    let plan = minewatch_load::live::Fanout {
        clients: args.clients,
        stalled: args.stalled,
        backlog: args.backlog,
    };
    let r = minewatch_load::live::run(&args.latency, Some(plan), &ServerLauncher)
        .await
        .unwrap_or_else(|e| panic!("fanout: {e}"));
    println!("{}\n{}", r.summary(), r.json());
    assert_eq!(r.mode, "fanout");
    assert_eq!((r.clients, r.stalled), (6, 2));
    assert!(
        !r.samples.is_empty(),
        "the measuring client gets its alerts"
    );
    // Every reading client gets at least its snapshot; the one on the first mine sees the spikes.
    assert!(r.client_events >= 6, "{}", r.client_events);
    assert_eq!(r.client_errors, 0);
    // The stalled clients' snapshot of 10,000 alerts (megabytes) fills their 4 KiB receive
    // buffers and the server's send buffers: the gateway drops them, and every reading client
    // (and the measuring one) is still there.
    assert_eq!(r.backlog, 10_000);
    assert_eq!(r.ws_clients_end, 7, "{}", r.summary());
}
