//! The gateway served for real on 127.0.0.1:0 and spoken to over real HTTP and WebSocket.

mod auth;
mod common;
mod conns;
mod http;
mod silences;
mod ws;
