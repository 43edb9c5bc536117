//! Test fixtures for minewatch's tests, and for nothing else (every user takes it as a
//! dev-dependency): what several test suites would otherwise each write again.
//!
//! - [`mine`]: the small test mine and its variants, as registry TOML.
//! - `store` (feature `store`): a fresh file store in a temporary directory.
//! - `http` (feature `http`): JSON requests to a server on loopback, over reqwest.
//! - `metrics` (feature `metrics`): samples read from the Prometheus/OpenMetrics text that
//!   `/metrics` serves, through prometheus-parse.
#![forbid(unsafe_code)]

#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod mine;
#[cfg(feature = "store")]
pub mod store;
