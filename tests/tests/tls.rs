//! MQTT over TLS against a real mosquitto TLS listener, with certificates this test makes: a CA,
//! the broker's certificate for 127.0.0.1, and a client certificate for mutual TLS. minewatch
//! reads telemetry through it; without its client certificate, or trusting another CA, it never
//! connects (and never falls back to plaintext). A broker whose certificate names only its DNS
//! name is reached at 127.0.0.1 with `server_name`, and only with the name it carries.
//!
//! mosquitto is `MINEWATCH_TEST_MOSQUITTO` when set (the test fails if it is missing), else
//! `/usr/sbin/mosquitto` (skipped with a notice if that is missing).

use minewatch::config::Config;
use minewatch_tests::fault::mosquitto::{Mosquitto, program};
use minewatch_tests::{MINE, unique, wait_until};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use rumqttc::{AsyncClient, MqttOptions, QoS, TlsConfiguration, Transport};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A CA, and certificates it signs.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA cert");
        Ca { cert, key }
    }

    /// A leaf certificate for `name` (and 127.0.0.1), PEM, with its key, PEM.
    fn sign(&self, name: &str) -> (String, String) {
        self.sign_for(
            name,
            &[SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into())],
        )
    }

    /// A leaf certificate for the DNS name `name` and `more`, PEM, with its key, PEM.
    fn sign_for(&self, name: &str, more: &[SanType]) -> (String, String) {
        let mut params = CertificateParams::new(vec![name.to_owned()]).expect("params");
        params.subject_alt_names.extend_from_slice(more);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("signed");
        (cert.pem(), key.serialize_pem())
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write a PEM file");
    p
}

/// The TLS side of a test config: the CA file, the client certificate and key, `server_name`.
type Tls<'a> = (&'a Path, Option<(&'a Path, &'a Path)>, Option<&'a str>);

/// A config for a server on the TLS broker at `port` with these TLS files, resolved as
/// `Config::load` resolves it (the TLS files read).
fn config(dir: &Path, port: u16, prefix: &str, tls: Tls<'_>) -> Config {
    let mut cfg = made_in_code(dir, port, prefix, tls);
    cfg.mqtt.resolve().expect("the TLS files load");
    cfg
}

/// Like [`config`], not resolved: the server's start reads the TLS files.
fn made_in_code(dir: &Path, port: u16, prefix: &str, tls: Tls<'_>) -> Config {
    let reg = dir.join(unique("registry"));
    std::fs::create_dir_all(&reg).expect("registry dir");
    std::fs::write(reg.join("m1.toml"), MINE).expect("mine");
    let mut cfg = Config::default();
    cfg.mqtt.host = "127.0.0.1".into();
    cfg.mqtt.port = port;
    cfg.mqtt.prefix = prefix.into();
    cfg.mqtt.client_id = unique("mw-tls");
    cfg.mqtt.backoff_min = Duration::from_millis(50);
    cfg.mqtt.backoff_max = Duration::from_millis(300);
    cfg.mqtt.tls = true;
    cfg.mqtt.ca_file = Some(tls.0.to_path_buf());
    if let Some((cert, key)) = tls.1 {
        cfg.mqtt.client_cert_file = Some(cert.to_path_buf());
        cfg.mqtt.client_key_file = Some(key.to_path_buf());
    }
    cfg.mqtt.server_name = tls.2.map(str::to_owned);
    cfg.store.url = format!("sqlite://{}", dir.join(unique("store")).display());
    cfg.registry.dir = reg;
    cfg.http.listen = "127.0.0.1:0".into();
    cfg.engine.shards = 1;
    cfg
}

/// Starts a server on `cfg` (its broker at `port`), waits until it is connected, publishes a
/// reading over TLS (trusting what the server trusts) until it raises its alert, and stops it.
async fn reading_raises_its_alert(cfg: Config, port: u16, prefix: &str) {
    let mut mqtt = cfg.mqtt.clone();
    if !mqtt.is_resolved() {
        mqtt.resolve().expect("the TLS files load");
    }
    let tls = mqtt.tls_config.expect("built");
    let server = minewatch::Server::start(cfg).await.expect("server");
    let m = server.metrics.clone();
    wait_until("connected over TLS", || {
        let up = m.mqtt_connected.get() == 1;
        async move { up.then_some(()) }
    })
    .await;
    let mut o = MqttOptions::new(unique("pub-tls"), "127.0.0.1", port);
    o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
    let (publisher, mut events) = AsyncClient::new(o, 16);
    tokio::spawn(async move { while events.poll().await.is_ok() {} });
    let ts = minewatch_core::time::format_rfc3339(chrono::Utc::now().timestamp_millis() - 60_000);
    let body =
        serde_json::json!({"ts": ts, "readings": [{"point": "P1", "value": 1.2, "status": 0}]});
    let store = server.store.clone();
    wait_until("the alert of a reading sent over TLS", || {
        let publisher = publisher.clone();
        let body = body.to_string();
        let topic = format!("{prefix}/M1/safety");
        let store = store.clone();
        async move {
            let _ = publisher
                .publish(topic, QoS::AtLeastOnce, false, body)
                .await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let alerts = store.active_alerts().await.ok()?;
            alerts.into_iter().find(|a| a.subject == "P1")
        }
    })
    .await;
    server.shutdown().await;
}

/// Starts a server on `cfg` and checks that three connection attempts fail and none succeeds
/// (`why` says what is wrong with it); stops it.
async fn never_connects(why: &str, cfg: Config) {
    let server = minewatch::Server::start(cfg).await.expect("server");
    let m = server.metrics.clone();
    wait_until(&format!("connection attempts {why} fail"), || {
        let failed = m.mqtt_reconnects.get() >= 3;
        async move { failed.then_some(()) }
    })
    .await;
    assert_eq!(m.mqtt_connected.get(), 0, "{why}: connected");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_arrives_over_mutual_tls_and_a_client_without_its_certificate_never_connects() {
    let what =
        "telemetry_arrives_over_mutual_tls_and_a_client_without_its_certificate_never_connects";
    let Some(program) = program(what) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("minewatch test CA");
    let (server_cert, server_key) = ca.sign("localhost");
    let (client_cert, client_key) = ca.sign("minewatch");
    let ca_pem = write(dir.path(), "ca.pem", &ca.cert.pem());
    let other_ca = write(
        dir.path(),
        "other-ca.pem",
        &Ca::new("another CA").cert.pem(),
    );
    let server_pem = write(dir.path(), "server.pem", &server_cert);
    let server_key = write(dir.path(), "server.key", &server_key);
    let client_pem = write(dir.path(), "client.pem", &client_cert);
    let client_key = write(dir.path(), "client.key", &client_key);
    let broker = Mosquitto::start_with(
        &program,
        &format!(
            "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\ntls_version tlsv1.2\n",
            ca_pem.display(),
            server_pem.display(),
            server_key.display()
        ),
    )
    .await;
    let prefix = unique("tls");

    // Mutual TLS: connected, and a reading published over TLS raises its alert.
    let cfg = config(
        dir.path(),
        broker.port(),
        &prefix,
        (&ca_pem, Some((&client_pem, &client_key)), None),
    );
    reading_raises_its_alert(cfg, broker.port(), &prefix).await;

    // No client certificate, or a CA that did not sign the broker's: refused, never plaintext.
    for (why, cfg) in [
        (
            "without a client certificate",
            config(dir.path(), broker.port(), &prefix, (&ca_pem, None, None)),
        ),
        (
            "trusting another CA",
            config(
                dir.path(),
                broker.port(),
                &prefix,
                (&other_ca, Some((&client_pem, &client_key)), None),
            ),
        ),
    ] {
        never_connects(why, cfg).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_dialled_by_ip_whose_certificate_names_only_its_dns_name_is_trusted_with_that_server_name()
 {
    let what = "a_broker_dialled_by_ip_whose_certificate_names_only_its_dns_name_is_trusted_with_that_server_name";
    let Some(program) = program(what) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("minewatch test CA");
    // The broker's certificate names broker.mine.example and nothing else: not 127.0.0.1, which
    // is what minewatch dials.
    let (server_cert, server_key) = ca.sign_for("broker.mine.example", &[]);
    let ca_pem = write(dir.path(), "ca.pem", &ca.cert.pem());
    let server_pem = write(dir.path(), "server.pem", &server_cert);
    let server_key = write(dir.path(), "server.key", &server_key);
    let broker = Mosquitto::start_with(
        &program,
        &format!(
            "certfile {}\nkeyfile {}\ntls_version tlsv1.2\n",
            server_pem.display(),
            server_key.display()
        ),
    )
    .await;
    let prefix = unique("tls-name");
    let with = |server_name| {
        config(
            dir.path(),
            broker.port(),
            &prefix,
            (&ca_pem, None, server_name),
        )
    };

    never_connects(
        "checking the certificate against the host 127.0.0.1",
        with(None),
    )
    .await;
    never_connects(
        "with a server_name the certificate does not carry",
        with(Some("other.mine.example")),
    )
    .await;
    // Made in code, not resolved: the start reads the TLS files and the name.
    let cfg = made_in_code(
        dir.path(),
        broker.port(),
        &prefix,
        (&ca_pem, None, Some("broker.mine.example")),
    );
    reading_raises_its_alert(cfg, broker.port(), &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_made_in_code_with_a_tls_file_or_server_name_that_cannot_work_fails_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-ca.pem");
    let ca_pem = write(
        dir.path(),
        "ca.pem",
        &Ca::new("minewatch test CA").cert.pem(),
    );
    // Nothing listens on the port: the start must fail before any connection is tried.
    for ((ca, server_name), key, named) in [
        ((&missing, None), "mqtt.ca_file", "no-ca.pem"),
        (
            (&ca_pem, Some("broker mine")),
            "mqtt.server_name",
            "broker mine",
        ),
    ] {
        let cfg = made_in_code(dir.path(), 9, "tls-start", (ca, None, server_name));
        match minewatch::Server::start(cfg).await {
            Ok(server) => {
                server.shutdown().await;
                panic!("started with {key} {named:?}");
            }
            Err(e) => {
                let e = e.to_string();
                assert!(e.starts_with(key) && e.contains(named), "{e}");
            }
        }
    }
}
