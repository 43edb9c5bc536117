//! The temp directory of a run: the scale registry, the config file the server loads, and the
//! names (prefix, client ids) that keep a run apart from other traffic on a shared broker.

use crate::Common;
use minewatch_core::MineDef;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything a mode needs before it starts the server.
pub struct Setup {
    /// Holds the registry, config and (by default) the SQLite store; removed on drop unless kept.
    pub _dir: Option<tempfile::TempDir>,
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

/// Writes the registry and config for `c` into a fresh temp directory.
pub fn prepare(c: &Common) -> Result<Setup, String> {
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
    // system_silent is the one wall-clock rule; the tool publishes only safety batches, so the
    // personnel and video systems would otherwise fall silent two minutes into a long run.
    let config = format!(
        "# Written by `minewatch load`.\n\
         [mqtt]\nhost = {}\nport = {port}\nclient_id = {}\nprefix = {}\n\n\
         [engine]\nshards = {}\n\n\
         [rules]\nsystem_silent_after = 86400\n\n\
         [store]\nurl = {}\n\n\
         [http]\nlisten = \"127.0.0.1:0\"\n\n\
         [registry]\ndir = \"registry\"\n",
        quoted(&host),
        quoted(&client_id),
        quoted(&prefix),
        c.shards,
        quoted(&store_url),
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
        config: config_path,
        mines,
        prefix,
        client_id,
        host,
        port,
    })
}

impl Setup {
    /// The safety topic of mine `n`.
    pub fn topic(&self, n: usize, system: &str) -> String {
        format!("{}/{}/{system}", self.prefix, self.mines[n].id)
    }
}
