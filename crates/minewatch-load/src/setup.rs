//! The temp directory of a run: the scale registry, the config file the server loads, and the
//! names (prefix, client ids) that keep a run apart from other traffic on a shared broker.

use crate::Common;
use crate::mqtt::{Publisher, forget_session};
use minewatch_core::MineDef;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything a mode needs before it starts the server.
pub struct Setup {
    /// Holds the registry, config and (by default) the SQLite store; removed on drop unless kept.
    pub _dir: Option<tempfile::TempDir>,
    /// The temp directory's path (also when kept).
    pub root: PathBuf,
    pub config: PathBuf,
    pub mines: Vec<Arc<MineDef>>,
    pub prefix: String,
    /// The server's MQTT client id (its persistent session).
    pub client_id: String,
    pub host: String,
    pub port: u16,
}

/// `host:port`.
pub fn parse_broker(s: &str) -> Result<(String, u16), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("--broker {s:?} must be host:port"))?;
    let port = port
        .parse()
        .map_err(|_| format!("--broker {s:?}: bad port {port:?}"))?;
    if host.is_empty() {
        return Err(format!("--broker {s:?}: empty host"));
    }
    Ok((host.to_string(), port))
}

/// A name no other run uses: process id and the clock's nanoseconds.
fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{tag}-{}-{nanos}", std::process::id())
}

/// A TOML basic string (JSON string escapes are valid TOML ones).
fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// Writes the registry and config for `c` into a fresh temp directory; the server's HTTP
/// listener takes any free port.
pub fn prepare(c: &Common) -> Result<Setup, String> {
    prepare_at(c, "127.0.0.1:0")
}

/// [`prepare`] with the server's HTTP listener at `listen` (for a server in another process,
/// whose port the tool must know).
pub fn prepare_at(c: &Common, listen: &str) -> Result<Setup, String> {
    let (host, port) = parse_broker(&c.broker)?;
    let files = minewatch_sim::scale::registry(c.mines, c.points)?;
    let dir = tempfile::Builder::new()
        .prefix("minewatch-load-")
        .tempdir()
        .map_err(|e| format!("cannot create a temp directory: {e}"))?;
    let path = dir.path().to_path_buf();
    let reg = path.join("registry");
    std::fs::create_dir_all(&reg).map_err(|e| format!("{}: {e}", reg.display()))?;
    let mut mines = Vec::with_capacity(files.len());
    for (name, text) in &files {
        let file = reg.join(name);
        std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
        let def = MineDef::parse(&file, text).map_err(|e| e.to_string())?;
        mines.push(Arc::new(def));
    }
    let prefix = match &c.prefix {
        Some(p) => p.clone(),
        None => unique("mwload"),
    };
    let client_id = unique("mwload-server");
    let store_url = match &c.store {
        Some(u) => u.clone(),
        None => format!("sqlite://{}", path.join("store.db").display()),
    };
    // The silent-system check is the one wall-clock rule; the tool publishes only safety batches, so the
    // personnel and video systems would otherwise fall silent two minutes into a long run.
    let config = format!(
        "# Written by `minewatch load`.\n\
         [mqtt]\nhost = {}\nport = {port}\nclient_id = {}\nprefix = {}\n\n\
         [engine]\nshards = {}\n\n\
         [rules]\nsystem_silent_after = 86400\n\n\
         [store]\nurl = {}\n\n\
         [http]\nlisten = {}\n{}\n\
         [registry]\ndir = \"registry\"\n",
        quoted(&host),
        quoted(&client_id),
        quoted(&prefix),
        c.shards,
        quoted(&store_url),
        quoted(listen),
        c.ws_send_timeout_ms
            .map(|ms| format!("ws_send_timeout_ms = {ms}\n"))
            .unwrap_or_default(),
    );
    let config_path = path.join("minewatch.toml");
    std::fs::write(&config_path, config).map_err(|e| format!("{}: {e}", config_path.display()))?;
    let dir = if c.keep {
        let kept = dir.keep();
        eprintln!("load: keeping {}", kept.display());
        None
    } else {
        Some(dir)
    };
    Ok(Setup {
        _dir: dir,
        root: path,
        config: config_path,
        mines,
        prefix,
        client_id,
        host,
        port,
    })
}

impl Setup {
    /// The run's publisher (QoS 1, counting PUBACKs).
    pub async fn publisher(&self) -> Result<Publisher, String> {
        Publisher::connect(
            &self.host,
            self.port,
            &format!("{}-pub", self.client_id),
            4096,
        )
        .await
    }

    /// Ends a run: closes the publisher and removes the server's persistent session (and
    /// anything still queued for it) from the broker.
    pub async fn finish(&self, publisher: Publisher) {
        publisher.close().await;
        if let Err(e) = forget_session(&self.host, self.port, &self.client_id).await {
            eprintln!("load: could not remove the server's session from the broker: {e}");
        }
    }

    /// The safety topic of mine `n`.
    pub fn topic(&self, n: usize, system: &str) -> String {
        format!("{}/{}/{system}", self.prefix, self.mines[n].id)
    }
}

/// `n` things spread over `mines` mines as evenly as can be: (mine index, how many), for the
/// mines that get any.
pub fn spread(n: usize, mines: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..mines.min(n)).map(move |m| (m, n / mines + usize::from(m < n % mines)))
}

/// A safety batch (contract §1) at `ts` (RFC 3339) of `(point, value)` readings.
pub fn safety_batch(ts: &str, readings: impl IntoIterator<Item = (String, f64)>) -> Vec<u8> {
    let readings: Vec<String> = readings
        .into_iter()
        .map(|(p, v)| format!("{{\"point\":{},\"value\":{v}}}", quoted(&p)))
        .collect();
    format!("{{\"ts\":\"{ts}\",\"readings\":[{}]}}", readings.join(",")).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn things_are_spread_evenly_over_the_mines() {
        let v: Vec<_> = spread(7, 3).collect();
        assert_eq!(v, vec![(0, 3), (1, 2), (2, 2)]);
        assert_eq!(spread(2, 5).collect::<Vec<_>>(), vec![(0, 1), (1, 1)]);
        assert_eq!(spread(0, 5).count(), 0);
    }

    #[test]
    fn a_safety_batch_is_the_contracts_json() {
        let b = safety_batch("2026-11-30T08:00:00+08:00", [("P1".to_string(), 1.5)]);
        let v: serde_json::Value = serde_json::from_slice(&b).expect("JSON");
        assert_eq!(v["readings"][0]["point"], "P1");
        assert_eq!(v["readings"][0]["value"], 1.5);
        assert_eq!(v["ts"], "2026-11-30T08:00:00+08:00");
    }
}
