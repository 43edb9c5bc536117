//! The gateway's router: HTTP requests sent to it in process (`tower::ServiceExt::oneshot`), and
//! the same router served for real on 127.0.0.1:0 for the WebSocket and connection tests.

mod audit;
mod auth;
mod common;
mod conns;
mod http;
mod kinds;
mod kpis;
mod openapi;
mod silences;
mod ws;
