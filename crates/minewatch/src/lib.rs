//! The `minewatch` binary's library: it wires the crates together and nothing more.
//!
//! - [`config`]: the main config file (`[mqtt]`, `[engine]`, `[rules]`, `[store]`, `[http]`,
//!   `[registry]`), strict, with relative paths resolved against the file's directory.
//! - [`server`]: `minewatch run` — store, pipeline, gateway, SIGHUP reload; also what the
//!   end-to-end tests start.
//! - [`demo`]: `minewatch demo` — embedded broker, example registry, simulator, server (feature
//!   `tools`).
//! - [`broker`]: the embedded rumqttd broker (feature `embedded-broker`).
//! - [`load`]: `minewatch load` — the server as the load tool's launcher (minewatch-load; feature
//!   `tools`).
#![forbid(unsafe_code)]

#[cfg(feature = "embedded-broker")]
pub mod broker;
pub mod config;
#[cfg(feature = "tools")]
pub mod demo;
#[cfg(feature = "tools")]
pub mod load;
pub mod server;

pub use config::Config;
pub use server::Server;

/// The example registry shipped with the binary (used by the demo when no registry is given).
#[cfg(feature = "tools")]
pub const EXAMPLE_REGISTRY: &[(&str, &str)] = &[
    (
        "140100001.toml",
        include_str!("../../../config/registry/140100001.toml"),
    ),
    (
        "140100002.toml",
        include_str!("../../../config/registry/140100002.toml"),
    ),
];
