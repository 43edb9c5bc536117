//! The demo's embedded MQTT broker: rumqttd on loopback, on its own threads.

use std::net::{SocketAddr, TcpListener};

/// Picks 127.0.0.1:`preferred`, or a free port when that one is taken (or `preferred` is 0).
pub fn pick_port(preferred: u16) -> u16 {
    if preferred != 0 && TcpListener::bind(("127.0.0.1", preferred)).is_ok() {
        return preferred;
    }
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map_or(preferred, |a| a.port())
}

/// Starts rumqttd on 127.0.0.1:`port` in a background thread and waits (up to 5 s) until it
/// accepts connections.
pub fn start(port: u16) -> Result<SocketAddr, String> {
    let toml = format!(
        r#"
id = 0
[router]
max_connections = 1010
max_outgoing_packet_count = 1000
max_segment_size = 104857600
max_segment_count = 10

[v4.1]
name = "v4-1"
listen = "127.0.0.1:{port}"
next_connection_delay_ms = 1
[v4.1.connections]
connection_timeout_ms = 60000
max_payload_size = 4194304
max_inflight_count = 500
dynamic_filters = true
"#
    );
    let config: rumqttd::Config =
        toml::from_str(&toml).map_err(|e| format!("embedded broker config: {e}"))?;
    std::thread::Builder::new()
        .name("rumqttd".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded broker stopped");
            }
        })
        .map_err(|e| format!("cannot start the embedded broker thread: {e}"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(200))
            .is_ok()
        {
            return Ok(addr);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(format!(
        "the embedded broker did not start listening on {addr} within 5 s"
    ))
}
