//! JSON over HTTP to a server on loopback, through reqwest: what the end-to-end tests, the fault
//! suite and the outside programs' tests (Prometheus, Chromium's DevTools) ask of a server.

use serde_json::Value;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

/// How long one request may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// One client for every test: without a connection pool, since each test has its own runtime and
/// a pooled connection must not outlive the runtime that opened it.
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(WAIT)
            .build()
            .expect("an HTTP client")
    })
}

/// `method` `http://{addr}{path}` with `body` as JSON: the status and the body, as JSON when it
/// is JSON, else as a JSON string. Fails the test when the server does not answer in time.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    try_request(addr, method, path, body)
        .await
        .unwrap_or_else(|e| panic!("{method} http://{addr}{path}: {e}"))
}

/// Like [`request`], with the error when nothing answers (a server still starting).
pub async fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), reqwest::Error> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let mut req = client().request(method, format!("http://{addr}{path}"));
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let res = req.send().await?;
    let status = res.status().as_u16();
    let text = res.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, body))
}

/// GET `path`: status and body (see [`request`]).
pub async fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    request(addr, "GET", path, None).await
}

/// GET `path`, which must answer 200 with text (such as `/metrics`).
pub async fn get_text(addr: SocketAddr, path: &str) -> String {
    match get(addr, path).await {
        (200, Value::String(text)) => text,
        (status, body) => panic!("GET http://{addr}{path}: {status} {body}"),
    }
}
