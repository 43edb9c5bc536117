//! A private mosquitto for one test: its own port, config, persistence file and log in a temp
//! dir, so a test can stop and restart the broker (or crash it) without disturbing any other.
//!
//! The program is `MINEWATCH_TEST_MOSQUITTO` when set (the test fails if it is missing), else
//! `/usr/sbin/mosquitto` (the test is skipped with a notice if that is missing), as the suite
//! does for its other outside programs. mosquitto writes its persistence file when it stops on
//! SIGTERM and every `autosave_interval` seconds; a SIGKILL loses what came after the last save.

use crate::WAIT;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// The broker's in-flight window per client: the shared CI broker's, and more than a fault case
/// publishes, so a session whose PUBACKs are lost still gets every message.
pub const MAX_INFLIGHT: u32 = 1000;

/// Lines of the broker's log printed when a test fails with it alive.
const TAIL_LINES: usize = 30;

/// The mosquitto to run: `MINEWATCH_TEST_MOSQUITTO`, else `/usr/sbin/mosquitto`, else `None`
/// after a notice that `what` is skipped (see [`outside_program`](crate::outside_program)).
pub fn program(what: &str) -> Option<PathBuf> {
    crate::outside_program("MINEWATCH_TEST_MOSQUITTO", "/usr/sbin/mosquitto", what)
}

/// A private mosquitto with persistence (see the module doc). Killed when dropped.
pub struct Mosquitto {
    program: PathBuf,
    /// Config, persistence file and log; removed when dropped.
    dir: tempfile::TempDir,
    config: PathBuf,
    /// mosquitto's stderr (its log), appended across starts.
    log: PathBuf,
    port: u16,
    child: Option<Child>,
    starts: u32,
    /// Options of the listener (e.g. its TLS files), written right after its `listener` line.
    listener_options: String,
}

impl Mosquitto {
    /// Starts a private mosquitto ([`program`]) on a free loopback port and waits until it
    /// accepts connections; `None` (after a notice) when it is not installed. `what` names the
    /// test for the notice.
    pub async fn start(what: &str) -> Option<Mosquitto> {
        let program = program(what)?;
        Some(Mosquitto::start_program(&program).await)
    }

    /// Like [`Mosquitto::start`], with the program given.
    pub async fn start_program(program: &Path) -> Mosquitto {
        Mosquitto::start_with(program, "").await
    }

    /// Like [`Mosquitto::start_program`], with `listener_options` (lines such as `cafile …`,
    /// `certfile …`, `keyfile …`, `require_certificate true`) for its listener.
    pub async fn start_with(program: &Path, listener_options: &str) -> Mosquitto {
        let dir = tempfile::tempdir().expect("temp dir for mosquitto");
        let config = dir.path().join("mosquitto.conf");
        let log = dir.path().join("mosquitto.log");
        let mut m = Mosquitto {
            program: program.to_path_buf(),
            dir,
            config,
            log,
            port: 0,
            child: None,
            starts: 0,
            listener_options: listener_options.to_owned(),
        };
        // A free port can be taken between finding it and mosquitto binding it: try a few.
        for attempt in 1..=3 {
            m.port = free_port();
            m.write_config();
            match m.spawn().await {
                Ok(()) => return m,
                Err(e) if attempt < 3 => eprintln!("mosquitto on port {}: {e}; retrying", m.port),
                Err(e) => panic!("mosquitto did not start: {e}\n{}", m.log_tail(TAIL_LINES)),
            }
        }
        unreachable!("the loop returns or panics")
    }

    fn write_config(&self) {
        let mut conf = format!(
            "# Written by minewatch-tests' fault suite.\n\
             listener {port} 127.0.0.1\n\
             {options}\
             allow_anonymous true\n\
             persistence true\n\
             persistence_location {dir}/\n\
             persistence_file mosquitto.db\n\
             autosave_interval 1800\n\
             max_inflight_messages {MAX_INFLIGHT}\n\
             max_queued_messages 100000\n\
             log_dest stderr\n\
             log_type error\n\
             log_type warning\n\
             log_type notice\n\
             log_type information\n\
             log_timestamp_format %H:%M:%S\n",
            port = self.port,
            options = self.listener_options,
            dir = self.dir.path().display(),
        );
        // Started as root, mosquitto drops to the `mosquitto` user, which cannot write the
        // persistence file into root's temp dir; `user root` keeps it root (and does nothing
        // for anyone else).
        if rustix::process::geteuid().is_root() {
            conf.push_str("user root\n");
        }
        std::fs::write(&self.config, conf).expect("write mosquitto.conf");
    }

    /// Spawns mosquitto on the config and waits until its port accepts connections.
    async fn spawn(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "mosquitto is already running");
        self.starts += 1;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the mosquitto log");
        writeln!(
            log,
            "===== start {} (port {}) =====",
            self.starts, self.port
        )
        .expect("write the mosquitto log");
        let child = Command::new(&self.program)
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("log handle")))
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.program.display()))?;
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if tokio::net::TcpStream::connect(self.addr()).await.is_ok() {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(format!("mosquitto exited while starting ({status})"));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("port {} not accepting within {WAIT:?}", self.port));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The listener's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The listener's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Stops mosquitto with SIGTERM (it saves its persistence file) and waits for it to exit;
    /// panics unless it exits cleanly in time.
    pub async fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("a running mosquitto to stop");
        super::terminate(&child).expect("SIGTERM mosquitto");
        let Some(status) = super::wait_exit(&mut child, WAIT).await else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "mosquitto did not stop within {WAIT:?} of SIGTERM\n{}",
                self.log_tail(TAIL_LINES)
            );
        };
        assert!(
            status.success(),
            "mosquitto stopped with {status}\n{}",
            self.log_tail(TAIL_LINES)
        );
        status
    }

    /// Kills mosquitto with SIGKILL (a crash: what came after its last save is lost).
    pub async fn kill(&mut self) {
        let mut child = self.child.take().expect("a running mosquitto to kill");
        child.kill().expect("SIGKILL mosquitto");
        super::wait_exit(&mut child, WAIT)
            .await
            .expect("the killed mosquitto exits");
    }

    /// Starts mosquitto again on the same port, config and persistence file, and waits until
    /// it accepts connections.
    pub async fn restart(&mut self) {
        if let Err(e) = self.spawn().await {
            panic!(
                "mosquitto did not restart: {e}\n{}",
                self.log_tail(TAIL_LINES)
            );
        }
    }

    /// The temp dir with the config, persistence file and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last `lines` lines of mosquitto's log, with a header naming the file.
    pub fn log_tail(&self, lines: usize) -> String {
        format!(
            "--- last {lines} lines of {} ---\n{}\n--- end of mosquitto log ---",
            self.log.display(),
            super::tail(&self.log, lines)
        )
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("private mosquitto:\n{}", self.log_tail(TAIL_LINES));
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
