//! The server under test as a child process. A test builds a [`ChildSpec`] (the program, the
//! broker, the topic prefix, the MQTT client id, the mines and any config keys), and
//! [`ChildServer::start`] writes `minewatch.toml` and the registry into a temp dir of its own,
//! spawns the program and waits until it serves HTTP and is connected to the broker. The store
//! file, the registry and the client id (so the broker's persistent session) stay the same across
//! [`ChildServer::kill`] and [`ChildServer::restart`]. The child's stderr (its log) is appended to
//! `server.log` in that dir across every start; when the owner is dropped during a panic (a
//! failed assertion), the log's tail is printed and the child killed.

use crate::{WAIT, http, wait_until};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// The path of this package's `minewatch-under-test` binary. Cargo tells only integration tests
/// and benchmarks where a package's binaries are, so this is a macro: it expands in the test.
#[macro_export]
macro_rules! server_program {
    () => {
        ::std::path::Path::new(env!("CARGO_BIN_EXE_minewatch-under-test"))
    };
}

/// How long a child server may take to stop after SIGTERM (its own drain limits are 30 s for
/// MQTT and 5 s for notifications and HTTP; a test's drain is far shorter).
pub const STOP_WAIT: Duration = Duration::from_secs(40);

/// Lines of a child's log printed when a test fails with it alive.
const TAIL_LINES: usize = 60;

/// A TOML basic string (JSON's escapes are TOML's).
pub fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// What a [`ChildServer`] runs: the program, its config (section → key → TOML value) and its
/// mine files.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    program: PathBuf,
    /// Written as `[section]` then `key = value` lines, in order; `store.url` and `registry.dir`
    /// are filled in by [`ChildServer::start`] unless set here.
    sections: BTreeMap<String, BTreeMap<String, String>>,
    /// Registry files: file name and TOML text.
    mines: Vec<(String, String)>,
}

impl ChildSpec {
    /// A server of `program` (use [`server_program!`](crate::server_program)) on the broker at
    /// `host:port`, under topic prefix `prefix`, with the fixed MQTT client id `client_id`; with
    /// the harness's test settings (fast reconnects, two shards, a 100 ms tick, HTTP on a free
    /// loopback port, `system_silent` out of the way).
    pub fn new(program: &Path, host: &str, port: u16, prefix: &str, client_id: &str) -> Self {
        let spec = ChildSpec {
            program: program.to_path_buf(),
            sections: BTreeMap::new(),
            mines: Vec::new(),
        };
        spec.set("mqtt", "host", &toml_string(host))
            .set("mqtt", "port", &port.to_string())
            .set("mqtt", "prefix", &toml_string(prefix))
            .set("mqtt", "client_id", &toml_string(client_id))
            .set("mqtt", "backoff_min", "\"50ms\"")
            .set("mqtt", "backoff_max", "\"500ms\"")
            .set("engine", "shards", "2")
            .set("engine", "tick", "\"100ms\"")
            .set("http", "listen", "\"127.0.0.1:0\"")
            // Wall-clock silence is tested on its own; elsewhere it would only add noise.
            .set("rules", "system_silent_after", "\"1h\"")
    }

    /// Sets `[section] key = value`; `value` is TOML (quote strings with [`toml_string`]).
    pub fn set(mut self, section: &str, key: &str, value: &str) -> Self {
        self.sections
            .entry(section.to_owned())
            .or_default()
            .insert(key.to_owned(), value.to_owned());
        self
    }

    /// Adds a registry file `file` with the mine definition `toml`.
    pub fn mine(mut self, file: &str, toml: &str) -> Self {
        self.mines.push((file.to_owned(), toml.to_owned()));
        self
    }

    /// The `[mqtt] client_id`, unquoted.
    pub fn client_id(&self) -> String {
        self.get("mqtt", "client_id")
    }

    fn get(&self, section: &str, key: &str) -> String {
        self.sections
            .get(section)
            .and_then(|s| s.get(key))
            .and_then(|v| serde_json::from_str::<String>(v).ok())
            .unwrap_or_default()
    }

    /// The config file's text.
    fn toml(&self) -> String {
        let mut out = String::from("# Written by minewatch-tests' fault suite.\n");
        for (section, keys) in &self.sections {
            out.push_str(&format!("\n[{section}]\n"));
            for (k, v) in keys {
                out.push_str(&format!("{k} = {v}\n"));
            }
        }
        out
    }
}

/// The server under test, running as a child process (see the module doc).
pub struct ChildServer {
    spec: ChildSpec,
    /// Holds the config, store, registry and log; removed when the server is dropped.
    dir: tempfile::TempDir,
    config: PathBuf,
    /// The children's stderr, appended across starts.
    log: PathBuf,
    child: Option<Child>,
    /// The HTTP address the current child printed.
    http: Option<SocketAddr>,
    /// Children spawned so far.
    starts: u32,
}

impl ChildServer {
    /// Writes the config and registry into a new temp dir, spawns the server and waits until it
    /// serves HTTP (`/readyz` 200) and is connected to the broker.
    pub async fn start(spec: ChildSpec) -> ChildServer {
        let dir = tempfile::tempdir().expect("temp dir for the child server");
        let registry = dir.path().join("registry");
        std::fs::create_dir_all(&registry).expect("registry dir");
        for (name, text) in &spec.mines {
            std::fs::write(registry.join(name), text).expect("write a mine file");
        }
        let mut spec = spec;
        if spec.get("store", "url").is_empty() {
            let url = format!("sqlite://{}", dir.path().join("store.db").display());
            spec = spec.set("store", "url", &toml_string(&url));
        }
        if spec.get("registry", "dir").is_empty() {
            spec = spec.set("registry", "dir", &toml_string(&registry.to_string_lossy()));
        }
        let config = dir.path().join("minewatch.toml");
        std::fs::write(&config, spec.toml()).expect("write the config");
        let log = dir.path().join("server.log");
        let mut server = ChildServer {
            spec,
            dir,
            config,
            log,
            child: None,
            http: None,
            starts: 0,
        };
        server.launch().await;
        server.wait_connected().await;
        server
    }

    /// Spawns the server on the same files and waits until it has started (`/readyz` past
    /// "starting"); does not wait for the broker (see [`ChildServer::restart`]). Panics if one is
    /// running.
    pub async fn launch(&mut self) {
        assert!(self.child.is_none(), "the child server is already running");
        self.starts += 1;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the server log");
        writeln!(log, "===== start {} =====", self.starts).expect("write the server log");
        let mut child = Command::new(&self.spec.program)
            .arg(&self.config)
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.spec.program.display()));
        // The child prints `listening on ADDR` once; a thread reads it (and whatever follows).
        let stdout = child.stdout.take().expect("the child's stdout");
        let (tx, rx) = std::sync::mpsc::sync_channel::<SocketAddr>(1);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line
                    .strip_prefix("listening on ")
                    .and_then(|a| a.trim().parse().ok())
                {
                    let _ = tx.try_send(addr);
                }
            }
        });
        self.child = Some(child);
        self.http = None;
        let deadline = tokio::time::Instant::now() + WAIT;
        let addr = loop {
            if let Ok(addr) = rx.try_recv() {
                break addr;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                panic!(
                    "the child server exited while starting ({status})\n{}",
                    self.log_tail(TAIL_LINES)
                );
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "timed out waiting for: child server start {} prints its address",
                    self.starts
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        self.http = Some(addr);
        // Started: `/readyz` no longer says "starting" (it may still wait for the broker).
        wait_until(
            "the child server has started (/readyz past starting)",
            || async {
                let (status, body) = self.get("/readyz").await;
                (status == 200 || (status == 503 && body != "not ready: starting")).then_some(())
            },
        )
        .await;
    }

    /// Waits until the server reports `minewatch_mqtt_connected 1`.
    pub async fn wait_connected(&self) {
        wait_until("the child server connects to the broker", || async {
            let m = self.metrics().await;
            (super::metric(&m, "minewatch_mqtt_connected", &[]) == Some(1.0)).then_some(())
        })
        .await;
    }

    /// Kills the server with SIGKILL (no shutdown, no drain: a crash) and reaps it.
    pub async fn kill(&mut self) {
        let mut child = self.child.take().expect("a running child server to kill");
        child.kill().expect("SIGKILL the child server");
        let status = super::wait_exit(&mut child, WAIT)
            .await
            .expect("the killed child server exits");
        assert!(!status.success(), "a SIGKILLed server exits unsuccessfully");
        self.http = None;
    }

    /// Starts the server again on the same config, store and MQTT client id, and waits until it
    /// serves HTTP and is connected to the broker.
    pub async fn restart(&mut self) {
        self.launch().await;
        self.wait_connected().await;
    }

    /// Stops the server with SIGTERM and waits (at most [`STOP_WAIT`]) for it to exit.
    pub async fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("a running child server to stop");
        super::terminate(&child).expect("SIGTERM the child server");
        let status = super::wait_exit(&mut child, STOP_WAIT).await;
        self.http = None;
        match status {
            Some(s) => s,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the child server did not stop within {STOP_WAIT:?} of SIGTERM\n{}",
                    self.log_tail(TAIL_LINES)
                );
            }
        }
    }

    /// Whether a child is running (spawned and not yet exited).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The current child's HTTP address.
    pub fn http(&self) -> SocketAddr {
        self.http.expect("a running child server")
    }

    /// The current child's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// How many times a child has been spawned.
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// The temp dir with the config, store, registry and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// GET `path` on the current child: status and JSON body (a string when not JSON).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        http(self.http(), "GET", path, None).await
    }

    /// POST JSON to `path` on the current child.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        http(self.http(), "POST", path, Some(body)).await
    }

    /// `/metrics` as text.
    pub async fn metrics(&self) -> String {
        let (status, body) = self.get("/metrics").await;
        assert_eq!(status, 200, "/metrics: {body}");
        body.as_str().unwrap_or_default().to_owned()
    }

    /// The last `lines` lines of the children's log, with a header naming the file.
    pub fn log_tail(&self, lines: usize) -> String {
        format!(
            "--- last {lines} lines of {} ---\n{}\n--- end of server log ---",
            self.log.display(),
            super::tail(&self.log, lines)
        )
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "child server (MQTT client id {}):\n{}",
                self.spec.client_id(),
                self.log_tail(TAIL_LINES)
            );
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
