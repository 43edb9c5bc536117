//! The fault suite's machinery: processes a test can crash, a broker it can restart, a link it
//! can tamper with, and a scripted stream whose outcome is known exactly.
//!
//! - [`child`]: the server under test as a child process ([`ChildServer`]), built from this
//!   package's `minewatch-under-test` binary ([`server_program!`](crate::server_program)): written
//!   config, start, kill -9, restart on the same store and MQTT session, SIGTERM, kill on drop.
//! - [`mosquitto`]: a private mosquitto with persistence on a free port ([`Mosquitto`]), stopped
//!   and restarted on the same persistence file; skipped with a notice when not installed.
//! - [`proxy`]: a TCP proxy between the server and the broker that can drop the server's PUBACKs
//!   ([`PubackDropProxy`]), with the MQTT packet framing it needs ([`proxy::Framer`]).
//! - [`publish`]: a publisher that returns only once the broker has acknowledged each message
//!   ([`AckedPublisher`]).
//! - [`stream`]: the scripted stream ([`Script`]): safety messages one event-second apart with
//!   known `over_limit` windows, one bad element and a per-message marker; the waits on the
//!   server's progress; and the exact outcome every fault case must end with.
//!
//! A case starts a [`Mosquitto`] (and maybe a [`PubackDropProxy`] in front of it), a
//! [`ChildServer`] on it, publishes the [`Script`] in chunks with an [`AckedPublisher`] while it
//! injects its faults, waits with [`stream::wait_all_applied`] and checks with
//! [`stream::assert_exact`]. Every process and task is stopped when its owner is dropped, and a
//! process owner dropped by a failing test prints the tail of that process's log.

pub mod child;
pub mod mosquitto;
pub mod proxy;
pub mod publish;
pub mod stream;

pub use child::{ChildServer, ChildSpec};
pub use mosquitto::Mosquitto;
pub use proxy::PubackDropProxy;
pub use publish::AckedPublisher;
pub use stream::Script;

use std::path::Path;

/// The last `lines` lines of the text file at `path` (lossy UTF-8), or a note saying it cannot
/// be read.
pub fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// Sends SIGTERM to `child` (std's `Child::kill` sends SIGKILL only).
pub fn terminate(child: &std::process::Child) -> std::io::Result<()> {
    rustix::process::kill_process(
        rustix::process::Pid::from_child(child),
        rustix::process::Signal::TERM,
    )
    .map_err(std::io::Error::from)
}

/// Polls `child` until it exits, for at most `limit`; `None` if it is still running then.
pub async fn wait_exit(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// The value of the first sample of metric `name` whose labels include `labels`, in OpenMetrics
/// or Prometheus text.
pub use minewatch_fixtures::metrics::value as metric;
