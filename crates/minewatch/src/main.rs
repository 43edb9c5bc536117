//! `minewatch`: run, check and hash-token; demo, sim and load with the `tools` feature.

use clap::{Parser, Subcommand};
use minewatch::config::Config;
#[cfg(feature = "tools")]
use minewatch::demo::{self, DemoOptions};
use minewatch_core::registry::Registry;
use std::path::PathBuf;
use std::process::ExitCode;

/// Real-time monitor for coal-mine safety telemetry.
#[derive(Parser, Debug)]
#[command(name = "minewatch", version, about)]
struct Cli {
    /// Log lines as text (for people; colour only on a terminal without NO_COLOR) or JSON (one
    /// object per line, for journald, Loki, Elasticsearch…).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How log lines are written (to stdout).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve: ingest MQTT, run the rules, store alerts, serve the API, WebSocket and dashboard.
    Run {
        /// The main config file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Everything on one machine: embedded broker, simulated mines with anomalies, dashboard.
    #[cfg(feature = "tools")]
    Demo {
        /// Where the store file and the registry copy live.
        #[arg(long, default_value = "minewatch-demo")]
        data_dir: PathBuf,
        /// Dashboard address (a free port is used when it is taken).
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: String,
        /// Preferred port of the embedded broker (a free one is used when it is taken).
        #[arg(long, default_value_t = 1883)]
        broker_port: u16,
        /// Use this broker (host:port) instead of the embedded one.
        #[arg(long)]
        broker: Option<String>,
        /// No automatic anomalies (neither the opening one nor the periodic ones); `--inject` still
        /// injects.
        #[arg(long)]
        no_anomalies: bool,
        /// Minutes between automatic anomalies (1 to 10080, a week).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=10_080))]
        anomaly_every: u64,
        /// Inject an anomaly on the first mine instead of the opening one: KIND or KIND:SUBJECT
        /// (KIND an alert kind of `GET /api/kinds`, SUBJECT e.g. the point P0101); repeatable.
        /// The first starts 20 s after start, the next ones 30 s apart.
        #[arg(long, value_name = "KIND[:SUBJECT]", value_parser = minewatch_sim::Anomaly::parse,
              long_help = inject_help())]
        inject: Vec<minewatch_sim::Anomaly>,
    },
    /// Publish realistic telemetry for the registry's mines to a broker.
    #[cfg(feature = "tools")]
    Sim(SimArgs),
    /// Validate a config file and its registry; exits non-zero on the first problem.
    Check {
        /// The main config file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Print the SHA-256 (hex) of a bearer token read from stdin, for `sha256 =` in
    /// `[[http.tokens]]`. Surrounding whitespace is ignored, as it is for `env =` tokens.
    HashToken,
    /// Load tool: drain, latency, fan-out and restart/memory measurements against a broker (BENCHMARKS.md).
    #[cfg(feature = "tools")]
    Load {
        #[command(subcommand)]
        mode: minewatch_load::LoadCommand,
    },
}

fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,rumqttd=off"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match format {
        LogFormat::Text => fmt
            .with_ansi(colour(
                std::io::stdout().is_terminal(),
                std::env::var_os("NO_COLOR"),
            ))
            .init(),
        LogFormat::Json => fmt.json().flatten_event(true).init(),
    }
}

/// Colour codes only for a person at a terminal, and not when `NO_COLOR` is set to anything but
/// the empty string (no-color.org): journald and files get plain text.
fn colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    if let Command::Check { config } = &cli.command {
        return check(config);
    }
    if let Command::HashToken = &cli.command {
        return hash_token();
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let res = rt.block_on(async move {
        match cli.command {
            Command::Run { config } => run(config).await,
            #[cfg(feature = "tools")]
            Command::Demo {
                data_dir,
                http,
                broker_port,
                broker,
                no_anomalies,
                anomaly_every,
                inject,
            } => {
                demo::run(DemoOptions {
                    data_dir,
                    http,
                    broker_port,
                    broker,
                    anomalies: !no_anomalies,
                    anomaly_every_min: anomaly_every,
                    inject,
                })
                .await
            }
            #[cfg(feature = "tools")]
            Command::Sim(args) => sim(args).await,
            #[cfg(feature = "tools")]
            Command::Load { mode } => {
                minewatch_load::run(mode, &minewatch::load::ServerLauncher).await
            }
            Command::Check { .. } | Command::HashToken => Ok(()),
        }
    });
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `minewatch hash-token`: stdin's token, hashed as the config's `sha256 =` wants it.
fn hash_token() -> ExitCode {
    let mut token = String::new();
    if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut token) {
        eprintln!("error: cannot read the token from stdin: {e}");
        return ExitCode::FAILURE;
    }
    let token = token.trim();
    if token.is_empty() {
        eprintln!("error: no token on stdin");
        return ExitCode::FAILURE;
    }
    println!("{}", minewatch_gateway::access::hash_token(token));
    ExitCode::SUCCESS
}

fn check(path: &std::path::Path) -> ExitCode {
    let res = Config::load(path)
        .and_then(|cfg| Registry::load_strict(&cfg.registry.dir).map(|r| (cfg, r)));
    match res {
        Ok((cfg, reg)) => {
            println!(
                "ok: {} — {} mines, {} points, registry {}",
                path.display(),
                reg.mines.len(),
                reg.point_count(),
                cfg.registry.dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(path: PathBuf) -> Result<(), String> {
    let cfg = Config::load(&path).map_err(|e| e.to_string())?;
    let server = minewatch::Server::start(cfg)
        .await
        .map_err(|e| e.to_string())?;
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `minewatch sim`'s arguments.
#[cfg(feature = "tools")]
#[derive(clap::Args, Debug)]
struct SimArgs {
    /// Broker host:port.
    #[arg(long, default_value = "127.0.0.1:1883")]
    broker: String,
    /// The registry directory of the mines to simulate.
    #[arg(long, default_value = "config/registry")]
    registry: PathBuf,
    /// Topic prefix.
    #[arg(long, default_value = "mines")]
    prefix: String,
    /// Cadence in seconds.
    #[arg(long, default_value_t = 10.0)]
    interval: f64,
    /// Random seed (same seed, same telemetry).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Schedule anomalies: one every 10 minutes, the kinds in turn.
    #[arg(long)]
    anomalies: bool,
    /// Inject an anomaly: KIND or KIND:SUBJECT (KIND an alert kind of `GET /api/kinds`, SUBJECT
    /// e.g. the point P0101); repeatable.
    #[arg(long, value_name = "KIND[:SUBJECT]", value_parser = minewatch_sim::Anomaly::parse,
          long_help = inject_help())]
    inject: Vec<minewatch_sim::Anomaly>,
    /// The mine injections apply to (default: the first mine).
    #[arg(long)]
    mine: Option<String>,
    /// MQTT client id.
    #[arg(long, default_value = "minewatch-sim")]
    client_id: String,
    /// Hold a mine suspended from the start (its crews come up, production stops); repeatable.
    /// For an injected anomaly of production while suspended on it, order the suspension in
    /// minewatch too (`PUT /api/mines/MINE/status`).
    #[arg(long, value_name = "MINE")]
    suspend: Vec<String>,
}

/// `--inject`'s long help, with every kind it takes (from the catalogue, so it cannot drift).
#[cfg(feature = "tools")]
fn inject_help() -> String {
    let kinds: Vec<&str> = minewatch_sim::Kind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    format!(
        "Inject an anomaly: KIND or KIND:SUBJECT (SUBJECT e.g. the point P0101); repeatable.\n\
         KIND is one of: {}.",
        kinds.join(", ")
    )
}

#[cfg(feature = "tools")]
async fn sim(args: SimArgs) -> Result<(), String> {
    let SimArgs {
        broker,
        registry,
        prefix,
        interval,
        seed,
        anomalies,
        inject,
        mine,
        client_id,
        suspend,
    } = args;
    let (host, port) = broker
        .rsplit_once(':')
        .ok_or_else(|| format!("--broker {broker:?} must be host:port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("--broker {broker:?}: bad port"))?;
    let reg = Registry::load_strict(&registry).map_err(|e| e.to_string())?;
    let mut mines: Vec<_> = reg.mines.values().cloned().collect();
    mines.sort_by(|a, b| a.id.cmp(&b.id));
    let inject = inject.into_iter().map(|a| (mine.clone(), a)).collect();
    let opts = minewatch_sim::PublishOptions {
        host: host.to_string(),
        port,
        client_id,
        sim: minewatch_sim::SimConfig {
            prefix,
            interval_ms: (interval * 1000.0) as i64,
            seed,
            anomalies,
            ..minewatch_sim::SimConfig::default()
        },
        inject,
        suspend,
    };
    println!(
        "publishing {} mines to {host}:{port} every {interval} s; Ctrl-C stops",
        mines.len()
    );
    minewatch_sim::publish(mines, opts, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

#[cfg(test)]
#[cfg(feature = "tools")]
mod tests {
    use super::*;
    use minewatch_sim::{Anomaly, Kind};

    fn demo_injections(args: &[&str]) -> Result<Vec<Anomaly>, String> {
        let argv = ["minewatch", "demo"].iter().chain(args);
        match Cli::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .command
        {
            Command::Demo { inject, .. } => Ok(inject),
            other => Err(format!("parsed as {other:?}")),
        }
    }

    #[test]
    fn demo_parses_repeated_injections_with_and_without_a_subject() {
        let inject = demo_injections(&["--inject", "over_limit:P0101", "--inject", "distress"]);
        assert_eq!(
            inject,
            Ok(vec![
                Anomaly::on(Kind::OverLimit, "P0101"),
                Anomaly::new(Kind::Distress)
            ])
        );
    }

    #[test]
    fn demo_refuses_an_unknown_kind_naming_the_known_ones() {
        let err = demo_injections(&["--inject", "methane_high:P0101"]).expect_err("refused");
        assert!(
            err.contains("unknown anomaly \"methane_high\"")
                && err.contains("over_limit")
                && err.contains("power_off_failure"),
            "{err}"
        );
    }

    #[test]
    fn sim_reads_injections_as_the_demo_does() {
        let cli = Cli::try_parse_from(["minewatch", "sim", "--inject", "over_limit:P0101"])
            .expect("parses");
        let Command::Sim(args) = cli.command else {
            panic!("not sim: {:?}", cli.command)
        };
        assert_eq!(args.inject, [Anomaly::on(Kind::OverLimit, "P0101")]);
        let err = Cli::try_parse_from(["minewatch", "sim", "--inject", "nope"])
            .expect_err("refused")
            .to_string();
        assert!(err.contains("unknown anomaly \"nope\""), "{err}");
    }
}

#[cfg(test)]
mod logging_tests {
    use super::colour;
    use std::ffi::OsString;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(
            colour(true, Some(OsString::new())),
            "NO_COLOR empty does not count"
        );
        assert!(!colour(true, Some(OsString::from("1"))));
        assert!(
            !colour(false, None),
            "not a terminal: journald, a file, a pipe"
        );
    }
}
