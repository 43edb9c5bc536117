//! `minewatch demo`: everything on one machine — an embedded broker, a store file in a data
//! directory, the example registry, the simulator with anomalies, and the server.

use crate::config::Config;
use crate::server::Server;
use minewatch_core::registry::Registry;
use std::path::{Path, PathBuf};

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

/// Runs the demo until Ctrl-C.
pub async fn run(opts: DemoOptions) -> Result<(), String> {
    std::fs::create_dir_all(&opts.data_dir)
        .map_err(|e| format!("{}: {e}", opts.data_dir.display()))?;
    let registry_dir = prepare_registry(&opts.data_dir).map_err(|e| format!("registry: {e}"))?;
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
        None => embedded_broker(opts.broker_port)?,
    };
    let mut cfg = Config::default();
    cfg.mqtt.host = host.clone();
    cfg.mqtt.port = port;
    cfg.mqtt.client_id = "minewatch-demo".into();
    cfg.store.url = format!("sqlite://{}", opts.data_dir.join("minewatch.db").display());
    cfg.registry.dir = registry_dir.clone();
    cfg.http.listen = free_http(&opts.http);
    let server = Server::start(cfg).await.map_err(|e| e.to_string())?;
    let registry = Registry::load_strict(&registry_dir).map_err(|e| e.to_string())?;
    let mut mines: Vec<_> = registry.mines.values().cloned().collect();
    mines.sort_by(|a, b| a.id.cmp(&b.id));
    let sim = minewatch_sim::PublishOptions {
        host: host.clone(),
        port,
        client_id: "minewatch-demo-sim".into(),
        sim: minewatch_sim::SimConfig {
            anomalies: opts.anomalies,
            anomaly_every_ms: (opts.anomaly_every_min.clamp(1, 10_080) * 60_000) as i64,
            ..minewatch_sim::SimConfig::default()
        },
        // The schedule's first anomaly (methane rising past power-off with its feed still on: two
        // alerts from one event) comes at once, so there is something to see.
        inject: match minewatch_sim::Anomaly::automatic_kinds().first() {
            Some(first) if opts.anomalies => minewatch_sim::Anomaly::parse(first)
                .map(|a| vec![(None, a)])
                .unwrap_or_default(),
            _ => Vec::new(),
        },
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
    println!("  data:       {}", opts.data_dir.display());
    if opts.anomalies {
        println!(
            "  The simulated mines publish every 10 s. Methane at the first coal face starts rising about"
        );
        println!(
            "  20 s in: a methane alert shows within about 2 minutes, a failed power cut soon after."
        );
    } else {
        println!("  The simulated mines publish every 10 s, with no anomalies.");
    }
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
