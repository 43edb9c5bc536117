//! `minewatch load`: the [`Server`] as the load tool's [`Launcher`] (minewatch-load cannot depend
//! on this crate, which depends on it).

use crate::config::Config;
use crate::server::Server;
use minewatch_core::metrics::Metrics;
use minewatch_load::{BoxFuture, Launcher, Running};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// Starts the real server from a config file.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerLauncher;

impl Launcher for ServerLauncher {
    fn start<'a>(&'a self, config: &'a Path) -> BoxFuture<'a, Result<Box<dyn Running>, String>> {
        Box::pin(async move {
            let cfg = Config::load(config).map_err(|e| e.to_string())?;
            let server = Server::start(cfg).await.map_err(|e| e.to_string())?;
            Ok(Box::new(server) as Box<dyn Running>)
        })
    }
}

impl Running for Server {
    fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    fn last_seq(&self) -> BoxFuture<'_, Result<u64, String>> {
        Box::pin(async move { self.store.last_seq().await.map_err(|e| e.to_string()) })
    }

    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(Server::shutdown(*self))
    }
}
