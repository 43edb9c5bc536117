//! minewatch-load: the load tool behind `minewatch load drain|latency|fanout|restart` (issue 5).
//!
//! Each mode writes a scale registry ([`minewatch_sim::scale`]) and a config file into a temp
//! directory, starts the real server in-process through a [`Launcher`] (the `minewatch` crate
//! implements it with its `Server`; this crate cannot depend on it, since the binary depends on
//! this crate), drives it through the broker named by `--broker`, measures, and prints a
//! human-readable summary followed by one JSON line.
//!
//! - [`drain`]: a backlog of safety batches queued in the broker for the server's persistent
//!   session, worked through from the first message handled to the last.
//! - [`live`]: `latency` (a steady publish rate, one reading over its limit each second, its alert
//!   timed to a WebSocket client) and `fanout` (the same with many filtered WebSocket clients and
//!   some that never read).
//! - [`restart`]: the server as a child process: time to ready after a restart with active
//!   alerts, and its resident memory per point and per tag.
//! - `setup`: the temp directory, registry and config; `mqtt`: the publishing client that counts
//!   PUBACKs; `stats`: percentiles and number formatting.
#![forbid(unsafe_code)]

pub mod drain;
pub mod live;
mod mqtt;
pub mod restart;
mod setup;
mod stats;
pub mod storm;

use minewatch_core::metrics::Metrics;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

pub use drain::DrainReport;
pub use live::LiveReport;
pub use restart::RestartReport;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Starts the server under test from a config file.
pub trait Launcher: Send + Sync {
    /// Loads `config` and starts the server; returns once its HTTP listener is bound.
    fn start<'a>(&'a self, config: &'a Path) -> BoxFuture<'a, Result<Box<dyn Running>, String>>;
}

/// A server started by a [`Launcher`].
pub trait Running: Send + Sync {
    /// Where its HTTP API and WebSocket listen.
    fn http_addr(&self) -> SocketAddr;
    /// Its live counters (messages handled, readings accepted, WebSocket clients…).
    fn metrics(&self) -> Arc<Metrics>;
    /// The last alert event seq in its store (events are stored before they are sent).
    fn last_seq(&self) -> BoxFuture<'_, Result<u64, String>>;
    /// Stops it in order (MQTT, then the pipeline drains into the store, then HTTP).
    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// `minewatch load …`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum LoadCommand {
    /// Backlog drain: queue --messages safety batches in the broker for the server's persistent
    /// session while it is stopped, start it, time the backlog from first message to last. The
    /// broker must queue that many messages for an offline session: mosquitto's default
    /// max_queued_messages is 1000, so run one with deploy/mosquitto.conf (100000); see
    /// BENCHMARKS.md "Load tool" for a copy on another port.
    Drain(DrainArgs),
    /// Alert latency under a steady live load: publish-to-WebSocket time of one over-limit reading
    /// a second, at --rate readings/s.
    Latency(LatencyArgs),
    /// Latency with --clients WebSocket clients (one mine filter each) and --stalled clients that
    /// never read.
    Fanout(FanoutArgs),
    /// Restart and memory: the server as a child process (`minewatch run`), timed from spawn to
    /// /readyz with the registry and --alerts active alerts, and its resident memory without the
    /// registry, with it, and after every point and tag has reported.
    Restart(RestartArgs),
    /// An alarm storm, as when a substation trips: every point of every mine reports a sensor
    /// fault at once; the time until every alert is stored and on every one of --clients
    /// dashboard clients.
    Storm(storm::StormArgs),
}

/// Options every mode shares.
#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    /// Broker host:port (use a broker that queues enough for an offline session; see `drain`).
    #[arg(long, default_value = "127.0.0.1:1883")]
    pub broker: String,
    /// The broker's process id, to report its CPU time (read from /proc/PID/stat).
    #[arg(long)]
    pub broker_pid: Option<u32>,
    /// Mines in the generated registry.
    #[arg(long, default_value_t = 100)]
    pub mines: usize,
    /// Points per mine (a multiple of 20); a safety batch carries one reading per point.
    #[arg(long, default_value_t = 300)]
    pub points: usize,
    /// Alert store URL (default: a SQLite file in the temp directory), e.g. postgres://…
    #[arg(long)]
    pub store: Option<String>,
    /// Topic prefix (default: a fresh `mwload-…`, so a shared broker's other traffic is untouched).
    #[arg(long)]
    pub prefix: Option<String>,
    /// `[engine] shards` of the server (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub shards: usize,
    /// Simulator seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Keep the temp directory (registry, config, store) and print its path.
    #[arg(long)]
    pub keep: bool,
    /// `[http] ws_send_timeout_ms` of the server: how long a WebSocket send may block before
    /// the gateway gives up on that client (the server's default when not given).
    #[arg(long)]
    pub ws_send_timeout_ms: Option<u64>,
}

/// `minewatch load drain`.
#[derive(clap::Args, Debug, Clone)]
pub struct DrainArgs {
    #[command(flatten)]
    pub common: Common,
    /// Safety batches to queue (each carries --points readings).
    #[arg(long, default_value_t = 10_000)]
    pub messages: u64,
    /// Seconds without progress after which the drain is taken as finished (messages missing).
    #[arg(long, default_value_t = 5.0)]
    pub idle_timeout: f64,
    /// Upper bound, in seconds, on each phase (queueing, draining).
    #[arg(long, default_value_t = 600.0)]
    pub timeout: f64,
}

/// `minewatch load latency`.
#[derive(clap::Args, Debug, Clone)]
pub struct LatencyArgs {
    #[command(flatten)]
    pub common: Common,
    /// Readings per second published (in batches of --points readings, spread across mines).
    #[arg(long, default_value_t = 100_000)]
    pub rate: u64,
    /// Seconds of steady load.
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// Also let the simulator raise its automatic anomalies (one a minute) across the mines.
    #[arg(long)]
    pub anomalies: bool,
    /// Right before each spike, publish a hostile message of this many bad elements (`{}`) to
    /// another mine (the second): with `--shards 1` it shares the spike mine's shard, so the
    /// spike's alert latency shows what one such message costs the other mines. 0: none.
    #[arg(long, default_value_t = 0)]
    pub hostile_elements: usize,
}

/// `minewatch load fanout`.
#[derive(clap::Args, Debug, Clone)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub latency: LatencyArgs,
    /// Reading WebSocket clients, client i filtered to mine i mod --mines.
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// Clients that connect (without a mine filter, with a 4 KiB receive buffer) and never read.
    #[arg(long, default_value_t = 1)]
    pub stalled: usize,
    /// Active alerts raised before any client connects (about devices the registry lacks, which
    /// stay until acknowledged): every client starts with a snapshot of them, so a stalled client's socket
    /// is full at once and the gateway must give up on it.
    #[arg(long, default_value_t = 0)]
    pub backlog: usize,
}

/// `minewatch load restart`.
#[derive(clap::Args, Debug, Clone)]
pub struct RestartArgs {
    #[command(flatten)]
    pub common: Common,
    /// Active alerts in the store at the restart (over-limit CO readings, spread over the mines).
    #[arg(long, default_value_t = 10_000)]
    pub alerts: usize,
    /// Restarts to time (each from the same store); the report gives each and the worst.
    #[arg(long, default_value_t = 3)]
    pub restarts: usize,
}

/// Runs one mode and prints its summary and JSON line.
pub async fn run(cmd: LoadCommand, launcher: &dyn Launcher) -> Result<(), String> {
    match cmd {
        LoadCommand::Drain(a) => {
            let r = drain::run(&a, launcher).await?;
            println!("{}", r.summary());
            println!("{}", r.json());
        }
        LoadCommand::Latency(a) => {
            let r = live::run(&a, None, launcher).await?;
            println!("{}", r.summary());
            println!("{}", r.json());
        }
        LoadCommand::Fanout(a) => {
            let plan = live::Fanout {
                clients: a.clients,
                stalled: a.stalled,
                backlog: a.backlog,
            };
            let r = live::run(&a.latency, Some(plan), launcher).await?;
            println!("{}", r.summary());
            println!("{}", r.json());
        }
        LoadCommand::Storm(a) => {
            let r = storm::run(&a, launcher).await?;
            println!("{}", r.summary());
            println!("{}", r.json());
        }
        LoadCommand::Restart(a) => {
            let r = restart::run(&a).await?;
            println!("{}", r.summary());
            println!("{}", r.json());
        }
    }
    Ok(())
}
