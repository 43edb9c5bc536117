//! The notifier against real receivers on 127.0.0.1: an axum webhook receiver that verifies the
//! HMAC and can be told to fail, and the Debian `prometheus-alertmanager` when installed.

mod alertmanager;
mod common;
mod webhook;
