//! `minewatch demo`: everything on one machine — an embedded broker, a store file in a data
//! directory, the example registry, the simulator with anomalies, and the server.
//!
//! Anomalies asked for with `--inject` are planned on the demo's own simulator before anything
//! starts (the simulator's planners check the kind and subject against the demo's first mine), so
//! a bad one is refused at once and the startup output says what will be injected, on which
//! subject, and when.

use crate::config::Config;
use crate::server::Server;
use minewatch_core::MineDef;
use minewatch_core::registry::Registry;
use minewatch_sim::{Anomaly, Injection, Kind, SimConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The broker port MQTT clients expect, and the demo's default.
const MQTT_PORT: u16 = 1883;
/// When the simulator starts injected anomalies: the first this long after it starts publishing,
/// the next ones this far apart. The figures of `minewatch_sim::publish`, which keeps them private
/// (`INJECT_DELAY_MS`, `INJECT_SPACING_MS` in its publish.rs); the demo plans with them only to
/// say when to expect each alert.
const INJECT_DELAY_MS: i64 = 20_000;
const INJECT_SPACING_MS: i64 = 30_000;

/// Demo options.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where the store file and the registry copy live.
    pub data_dir: PathBuf,
    /// The dashboard address; a free port is used when it is taken.
    pub http: String,
    /// Preferred broker port (1883; a free one when taken).
    pub broker_port: u16,
    /// An external broker `host:port` instead of the embedded one.
    pub broker: Option<String>,
    /// Let the simulator inject anomalies now and then.
    pub anomalies: bool,
    /// Minutes between automatic anomalies, 1 to 10,080 (a week; outside, the nearest bound).
    pub anomaly_every_min: u64,
    /// Anomalies to inject on the first mine, in place of the opening one (`--inject`); they are
    /// injected even without `anomalies`.
    pub inject: Vec<Anomaly>,
}

/// Copies the example registry into `data_dir/registry` unless one is there already.
pub fn prepare_registry(data_dir: &Path) -> std::io::Result<PathBuf> {
    let dir = data_dir.join("registry");
    std::fs::create_dir_all(&dir)?;
    let has_any = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .any(|e| e.path().extension().is_some_and(|x| x == "toml"));
    if !has_any {
        for (name, text) in crate::EXAMPLE_REGISTRY {
            std::fs::write(dir.join(name), text)?;
        }
    }
    Ok(dir)
}

fn free_http(addr: &str) -> String {
    match std::net::TcpListener::bind(addr) {
        Ok(_) => addr.to_string(),
        Err(_) => std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_or(addr.to_string(), |a| a.to_string()),
    }
}

/// The simulation the demo runs.
fn sim_config(opts: &DemoOptions) -> SimConfig {
    SimConfig {
        anomalies: opts.anomalies,
        anomaly_every_ms: (opts.anomaly_every_min.clamp(1, 10_080) * 60_000) as i64,
        ..SimConfig::default()
    }
}

/// What the demo injects: `--inject`'s anomalies, or else, with anomalies on, the automatic
/// schedule's first (methane rising past power-off with its feed still on: two alerts from one
/// event) at once, so there is something to see.
fn wanted_injections(opts: &DemoOptions) -> Vec<Anomaly> {
    if !opts.inject.is_empty() {
        return opts.inject.clone();
    }
    match Anomaly::automatic_kinds().first() {
        Some(first) if opts.anomalies => Anomaly::parse(first).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// Plans `inject` on the first of `mines` as the simulator will (the same planners, seed and
/// schedule, from now): checks each kind and subject, and gives each its subject, start and end
/// (`at`, `until`: ms after the simulator starts) and what else it raises. `Err` names the anomaly
/// and why it does not fit.
pub fn plan_injections(
    mines: &[Arc<MineDef>],
    sim: &SimConfig,
    inject: &[Anomaly],
) -> Result<Vec<Injection>, String> {
    plan_injections_from(mines, sim, inject, minewatch_core::time::now_millis())
}

/// [`plan_injections`] for a simulator starting at `t0` (ms since the epoch).
fn plan_injections_from(
    mines: &[Arc<MineDef>],
    sim: &SimConfig,
    inject: &[Anomaly],
    t0: i64,
) -> Result<Vec<Injection>, String> {
    let mine = match mines.first() {
        Some(m) => m.id.to_string(),
        None => return Err("the demo's registry has no mines".into()),
    };
    let mut dry = minewatch_sim::Sim::new(mines.to_vec(), sim.clone());
    for (k, anomaly) in inject.iter().enumerate() {
        let at = t0 + INJECT_DELAY_MS + k as i64 * INJECT_SPACING_MS;
        dry.inject(&mine, anomaly.clone(), at)
            .map_err(|e| format!("--inject {anomaly}: {e} (the demo injects on mine {mine})"))?;
    }
    Ok(dry
        .injections()
        .iter()
        .map(|i| Injection {
            at: i.at - t0,
            until: i.until - t0,
            ..i.clone()
        })
        .collect())
}

/// `ms` as "20 s", "5 min", "1 h 30 min", "2 min 30 s".
fn human(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    let parts: Vec<String> = [(h, "h"), (m, "min"), (s, "s")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}"))
        .collect();
    if parts.is_empty() {
        "0 s".into()
    } else {
        parts.join(" ")
    }
}

/// The startup lines for one planned injection (times relative to the start).
pub fn describe_injection(inj: &Injection) -> Vec<String> {
    let mut lines = vec![format!(
        "  inject:     {} on {} (mine {}), {} after start",
        inj.kind,
        inj.subject,
        inj.mine,
        human(inj.at)
    )];
    let expect = if inj.until > inj.at {
        format!(
            "              its condition lasts {}; expect the alert between {} and {} after start",
            human(inj.until - inj.at),
            human(inj.at),
            human(inj.until)
        )
    } else {
        format!(
            "              one message; expect the alert about {} after start",
            human(inj.at)
        )
    };
    lines.push(expect);
    // What the kind's planner says one must know (a precondition, days of learning first).
    if let Some(note) = Kind::parse(inj.kind).and_then(|k| Anomaly::new(k).note()) {
        lines.push(format!("              ({note})"));
    }
    if !inj.also.is_empty() {
        let also: Vec<String> = inj
            .also
            .iter()
            .map(|(k, s)| format!("{k} on {s}"))
            .collect();
        lines.push(format!("              it also raises {}", also.join(", ")));
    }
    lines
}

/// Why the embedded broker is not on the port asked for, when it is not.
pub fn broker_port_note(preferred: u16, port: u16) -> Option<String> {
    (preferred != 0 && port != preferred).then(|| {
        let who = if preferred == MQTT_PORT {
            " (a system mosquitto?)"
        } else {
            ""
        };
        format!("port {preferred} is taken{who}; the demo's broker listens on {port}")
    })
}

/// Runs the demo until Ctrl-C.
pub async fn run(opts: DemoOptions) -> Result<(), String> {
    std::fs::create_dir_all(&opts.data_dir)
        .map_err(|e| format!("{}: {e}", opts.data_dir.display()))?;
    let registry_dir = prepare_registry(&opts.data_dir).map_err(|e| format!("registry: {e}"))?;
    let registry = Registry::load_strict(&registry_dir).map_err(|e| e.to_string())?;
    let mut mines: Vec<_> = registry.mines.values().cloned().collect();
    mines.sort_by(|a, b| a.id.cmp(&b.id));
    let sim_cfg = sim_config(&opts);
    // Planned before anything starts, so an anomaly that does not fit is refused at once.
    let wanted = wanted_injections(&opts);
    let planned = plan_injections(&mines, &sim_cfg, &wanted).map_err(|e| {
        let notes: Vec<&str> = wanted.iter().filter_map(Anomaly::note).collect();
        if notes.is_empty() {
            e
        } else {
            format!(
                "{e}; {} (the registry files are under {})",
                notes.join("; "),
                registry_dir.display()
            )
        }
    })?;
    let mut port_note = None;
    let (host, port) = match &opts.broker {
        Some(b) => {
            let (h, p) = b
                .rsplit_once(':')
                .ok_or_else(|| format!("--broker {b:?} must be host:port"))?;
            (
                h.to_string(),
                p.parse::<u16>()
                    .map_err(|_| format!("--broker {b:?}: bad port"))?,
            )
        }
        None => {
            let (host, port) = embedded_broker(opts.broker_port)?;
            port_note = broker_port_note(opts.broker_port, port);
            (host, port)
        }
    };
    let mut cfg = Config::default();
    cfg.mqtt.host = host.clone();
    cfg.mqtt.port = port;
    cfg.mqtt.client_id = "minewatch-demo".into();
    cfg.store.url = format!("sqlite://{}", opts.data_dir.join("minewatch.db").display());
    cfg.registry.dir = registry_dir.clone();
    cfg.http.listen = free_http(&opts.http);
    let server = Server::start(cfg).await.map_err(|e| e.to_string())?;
    let sim = minewatch_sim::PublishOptions {
        host: host.clone(),
        port,
        client_id: "minewatch-demo-sim".into(),
        sim: sim_cfg,
        // The subjects as planned, so what the output names is what is injected.
        inject: planned
            .iter()
            .filter_map(|i| Kind::parse(i.kind).map(|k| (None, Anomaly::on(k, i.subject.clone()))))
            .collect(),
        suspend: Vec::new(),
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sim_task = tokio::spawn({
        let mut rx = stop_rx.clone();
        async move {
            let res = minewatch_sim::publish(mines, sim, async move {
                let _ = rx.changed().await;
            })
            .await;
            if let Err(e) = res {
                tracing::error!(error = %e, "simulator stopped");
            }
        }
    });
    println!();
    println!("  minewatch demo is running");
    println!("  dashboard:  http://{}/", server.http_addr);
    println!(
        "  API:        http://{}/api/alerts?state=all",
        server.http_addr
    );
    println!("  metrics:    http://{}/metrics", server.http_addr);
    println!("  broker:     mqtt://{host}:{port} (topics mines/<mine>/<system>)");
    if let Some(note) = port_note {
        println!("              {note}");
    }
    println!("  data:       {}", opts.data_dir.display());
    println!("  The simulated mines publish every 10 s.");
    for inj in &planned {
        for line in describe_injection(inj) {
            println!("{line}");
        }
    }
    if opts.anomalies {
        let every = opts.anomaly_every_min.clamp(1, 10_080) as i64 * 60_000;
        // The simulator's schedule: a minute in (or one period, if shorter), or one period after
        // start when anomalies were injected.
        let first = if planned.is_empty() {
            every.min(60_000)
        } else {
            every
        };
        println!(
            "  An automatic anomaly starts every {}, the first {} after start.",
            human(every),
            human(first)
        );
    } else if planned.is_empty() {
        println!("  No anomalies.");
    }
    println!("  For another anomaly, restart with --inject KIND[:SUBJECT]: a second simulator on");
    println!("  this broker would publish the same mines and fight this one.");
    println!("  Ctrl-C stops.");
    println!();
    let _ = tokio::signal::ctrl_c().await;
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), sim_task).await;
    server.shutdown().await;
    Ok(())
}

#[cfg(feature = "embedded-broker")]
fn embedded_broker(preferred: u16) -> Result<(String, u16), String> {
    let port = crate::broker::pick_port(preferred);
    let addr = crate::broker::start(port)?;
    Ok((addr.ip().to_string(), addr.port()))
}

#[cfg(not(feature = "embedded-broker"))]
fn embedded_broker(_: u16) -> Result<(String, u16), String> {
    Err(
        "this build has no embedded broker (feature `embedded-broker`); pass --broker host:port"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-23T10:00:00+08:00: mid-morning shift, crews down.
    const T0: i64 = 1_795_363_200_000 + 10 * 3_600_000;

    fn example_mines() -> Vec<Arc<MineDef>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = prepare_registry(dir.path()).expect("registry");
        let registry = Registry::load_strict(&reg).expect("example registry");
        let mut mines: Vec<_> = registry.mines.values().cloned().collect();
        mines.sort_by(|a, b| a.id.cmp(&b.id));
        mines
    }

    #[test]
    fn an_injection_is_planned_on_the_first_mine_with_its_subject_and_times() {
        let mines = example_mines();
        let inject = [
            Anomaly::parse("over_limit:P0101").expect("parses"),
            Anomaly::parse("unregistered_device").expect("parses"),
        ];
        let planned = plan_injections_from(&mines, &SimConfig::default(), &inject, T0)
            .expect("fits the example mine");
        assert_eq!(planned.len(), 2);
        assert_eq!(
            (planned[0].kind, planned[0].subject.as_str()),
            ("over_limit", "P0101")
        );
        assert_eq!(planned[0].mine, mines[0].id.to_string());
        assert_eq!(planned[0].at, INJECT_DELAY_MS);
        assert_eq!(planned[1].at, INJECT_DELAY_MS + INJECT_SPACING_MS);
        assert_eq!(planned[1].subject, "X9001");
        let text = describe_injection(&planned[0]).join("\n");
        assert!(
            text.contains("over_limit on P0101") && text.contains("20 s after start"),
            "{text}"
        );
    }

    #[test]
    fn a_subject_the_demo_mine_does_not_have_is_refused_naming_it() {
        let inject = [Anomaly::parse("over_limit:P9999").expect("parses")];
        let err = plan_injections_from(&example_mines(), &SimConfig::default(), &inject, T0)
            .expect_err("P9999 is not on the mine");
        assert!(
            err.contains("--inject over_limit:P9999") && err.contains("P9999"),
            "{err}"
        );
    }

    #[test]
    fn every_planned_subject_is_accepted_again_when_named() {
        // The demo hands the simulator the subjects it planned, so that what it prints is what is
        // injected: each kind's picked subject must be one its planner accepts by name.
        let mines = example_mines();
        let mut refused = Vec::new();
        for &kind in Kind::ALL.iter() {
            let Ok(picked) =
                plan_injections_from(&mines, &SimConfig::default(), &[Anomaly::new(kind)], T0)
            else {
                refused.push(kind);
                continue;
            };
            let named = Anomaly::on(kind, picked[0].subject.clone());
            let again = plan_injections_from(&mines, &SimConfig::default(), &[named], T0)
                .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            assert_eq!(again[0].subject, picked[0].subject, "{kind:?}");
            assert_eq!(again[0].until, picked[0].until, "{kind:?}");
        }
        // Only this one needs a suspended mine, which the demo does not simulate.
        assert_eq!(refused, [Kind::ProductionWhileSuspended]);
    }

    #[test]
    fn the_broker_port_note_says_why_it_is_not_1883() {
        let note = broker_port_note(1883, 40123).expect("a note");
        assert!(
            note.contains("1883 is taken") && note.contains("mosquitto") && note.contains("40123"),
            "{note}"
        );
        assert_eq!(broker_port_note(1883, 1883), None);
        assert_eq!(broker_port_note(0, 40123), None);
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(human(20_000), "20 s");
        assert_eq!(human(330_000), "5 min 30 s");
        assert_eq!(human(5_400_000), "1 h 30 min");
        assert_eq!(human(0), "0 s");
    }
}
