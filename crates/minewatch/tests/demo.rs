//! `minewatch demo --inject`: the demo's own simulator injects the anomaly, the startup output says
//! on which subject, and the demo's server raises that alert on that subject.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Startup: store, broker and server on a loaded CI machine.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// The injection starts 20 s after start; `unregistered_device` is raised on its first reading.
const ALERT_DEADLINE: Duration = Duration::from_secs(120);

/// The demo process, killed when the test ends however it ends.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path` on `addr`: the status line's code and the body as JSON, or why not.
fn get(addr: &str, path: &str) -> Result<(u16, serde_json::Value), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    // HTTP/1.0: the body ends with the connection, never chunked.
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no header end")?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line: {head}"))?;
    let json = serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))?;
    Ok((code, json))
}

#[test]
fn an_injected_kind_raises_its_alert_on_the_subject_the_demo_announces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_minewatch"))
        .args([
            "demo",
            "--http",
            "127.0.0.1:0",
            "--broker-port",
            "0",
            "--no-anomalies",
            "--inject",
            "unregistered_device",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("stdout");
    let _demo = Demo(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    // The startup block, up to its last line.
    let mut startup = Vec::new();
    let deadline = Instant::now() + START_DEADLINE;
    while !startup.iter().any(|l: &String| l.contains("Ctrl-C stops")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => startup.push(line),
            Err(e) => panic!("no startup block within {START_DEADLINE:?} ({e}):\n{startup:#?}"),
        }
    }
    let text = startup.join("\n");
    let addr = startup
        .iter()
        .find_map(|l| l.trim().strip_prefix("dashboard:"))
        .and_then(|l| l.trim().strip_prefix("http://"))
        .map(|l| l.trim_end_matches('/').to_string())
        .unwrap_or_else(|| panic!("no dashboard address:\n{text}"));
    assert!(
        text.contains(
            "inject:     unregistered_device on X9001 (mine 140100001), 20 s after start"
        ),
        "{text}"
    );
    assert!(text.contains("expect the alert between 20 s and"), "{text}");

    let deadline = Instant::now() + ALERT_DEADLINE;
    let mut last: String;
    loop {
        match get(&addr, "/api/alerts?state=all") {
            Ok((200, body)) => {
                let alerts = body["alerts"].as_array().cloned().unwrap_or_default();
                if alerts
                    .iter()
                    .any(|a| a["kind"] == "unregistered_device" && a["subject"] == "X9001")
                {
                    break;
                }
                last = body.to_string();
            }
            Ok((code, body)) => last = format!("{code}: {body}"),
            Err(e) => last = e,
        }
        assert!(
            Instant::now() < deadline,
            "no unregistered_device alert on X9001 within {ALERT_DEADLINE:?}; last: {last}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
