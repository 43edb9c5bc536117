//! A webhook receiver for the end-to-end tests: plain HTTP/1.1 on a loopback port, answering
//! every request 200 and keeping each request's body as JSON, in arrival order. Built on tokio
//! alone; it does not check signatures (minewatch-notify's own tests do).

use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Largest request head or body taken; a larger one closes the connection.
const MAX_REQUEST: usize = 1 << 20;

/// A running receiver; stops when dropped.
pub struct Receiver {
    addr: SocketAddr,
    /// Bodies received, in arrival order (as a JSON string when not JSON).
    bodies: Arc<Mutex<Vec<Value>>>,
    server: JoinHandle<()>,
}

impl Receiver {
    /// Listens on a free loopback port.
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("its address");
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = bodies.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, kept.clone()));
            }
        });
        Receiver {
            addr,
            bodies,
            server,
        }
    }

    /// The URL to configure as the webhook.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The bodies received so far.
    pub fn bodies(&self) -> Vec<Value> {
        self.bodies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Answers the requests of one connection (kept alive between requests) until the client closes
/// it or sends something this receiver cannot read.
async fn serve(mut stream: TcpStream, bodies: Arc<Mutex<Vec<Value>>>) {
    let mut buf = Vec::new();
    loop {
        let Some(head_end) = fill_until(&mut stream, &mut buf, |b| {
            b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
        })
        .await
        else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let Some(len) = content_length(&head) else {
            return;
        };
        let end = head_end + len;
        if fill_until(&mut stream, &mut buf, |b| (b.len() >= end).then_some(end))
            .await
            .is_none()
        {
            return;
        }
        let body = &buf[head_end..end];
        let value = serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
        bodies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(value);
        buf.drain(..end);
        if stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Reads into `buf` until `done` finds what it looks for; `None` when the connection ends first
/// or the request grows past [`MAX_REQUEST`].
async fn fill_until(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    done: impl Fn(&[u8]) -> Option<usize>,
) -> Option<usize> {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(at) = done(buf) {
            return Some(at);
        }
        if buf.len() > 2 * MAX_REQUEST {
            return None;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The `content-length` of a request head (0 when absent); `None` when it is not a number or
/// above [`MAX_REQUEST`] (a chunked body is not expected: minewatch sends its length).
fn content_length(head: &str) -> Option<usize> {
    let value = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim())
    });
    match value {
        None => Some(0),
        Some(v) => v.parse().ok().filter(|n| *n <= MAX_REQUEST),
    }
}
