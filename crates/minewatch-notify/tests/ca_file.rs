//! A sink behind a private CA: trusted with `[notify] ca_file`, refused without it.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTPS server on a free loopback port answering every request `200 ok`, with a certificate
/// for 127.0.0.1 signed by a CA of its own; returns its port and the CA's PEM.
async fn https_server() -> (u16, String) {
    let mut ca = CertificateParams::default();
    ca.distinguished_name.push(DnType::CommonName, "private CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().expect("key");
    let ca_cert = ca.self_signed(&ca_key).expect("CA");
    let mut leaf = CertificateParams::new(Vec::<String>::new()).expect("params");
    leaf.subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    let key = KeyPair::generate().expect("key");
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key).expect("leaf");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = [0_u8; 4096];
                let _ = tls.read(&mut buf).await;
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, ca_cert.pem())
}

#[tokio::test]
async fn a_sink_behind_a_private_ca_is_trusted_with_ca_file_and_refused_without() {
    let (port, ca_pem) = https_server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).expect("write");
    let url = format!("https://127.0.0.1:{port}/hook");
    let timeout = Duration::from_secs(10);

    let trusting = minewatch_notify::http_client(timeout, Some(&ca)).expect("client");
    let r = trusting.get(&url).send().await.expect("trusted");
    assert_eq!(r.status(), 200);

    let plain = minewatch_notify::http_client(timeout, None).expect("client");
    let err = plain.get(&url).send().await.expect_err("not trusted");
    assert!(err.is_connect() || err.is_request(), "{err:?}");

    // A file without a certificate is refused by name.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "nothing").expect("write");
    let e = minewatch_notify::http_client(timeout, Some(&junk)).expect_err("junk");
    assert!(
        e.starts_with("notify.ca_file") && e.contains("junk.pem"),
        "{e}"
    );
}
