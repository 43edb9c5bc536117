//! The server under test, as a process of its own, for the fault suite (`minewatch_tests::fault`):
//! a test can kill it with SIGKILL, which it cannot do to a server running inside its own process.
//!
//! `minewatch-under-test CONFIG` loads the config file as `minewatch run --config CONFIG` does,
//! starts the server, prints `listening on ADDR` (the bound HTTP address) on stdout once it is
//! ready, and serves until SIGTERM or SIGINT, then shuts down in order and exits 0. Logs go to
//! stderr (`RUST_LOG`, default `info,sqlx=warn`). Cargo builds it for the tests of this package
//! and hands them its path as `env!("CARGO_BIN_EXE_minewatch-under-test")`.

use minewatch::config::Config;
use minewatch::server::Server;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let mut args = std::env::args_os().skip(1);
    let (Some(path), None) = (args.next(), args.next()) else {
        eprintln!("usage: minewatch-under-test CONFIG");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(PathBuf::from(path))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(path: PathBuf) -> Result<(), String> {
    use tokio::signal::unix::{SignalKind, signal};
    // Listening before the server starts, so a SIGTERM during start-up is not lost.
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT: {e}"))?;
    let cfg = Config::load(&path).map_err(|e| e.to_string())?;
    let server = Server::start(cfg).await.map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {}", server.http_addr)
        .and_then(|()| out.flush())
        .map_err(|e| format!("stdout: {e}"))?;
    drop(out);
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}
