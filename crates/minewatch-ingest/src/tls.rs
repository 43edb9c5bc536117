//! TLS to the broker (`[mqtt] tls = true`): rustls on the ring provider, trusting `ca_file` (PEM)
//! or, without one, the system's CA store; with `client_cert_file` and `client_key_file`, the
//! client certificate of mutual TLS; with `server_name`, the name the broker's certificate must
//! carry instead of the `host` dialled. Built when the config is read, so a missing or malformed
//! file fails `minewatch check` and the start, never the first connection.

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::path::Path;
use std::sync::Arc;

/// What the TLS connection is built from.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles<'a> {
    /// The CA certificates (PEM) the broker's certificate must chain to; `None`: the system's.
    pub ca_file: Option<&'a Path>,
    /// The client certificate chain (PEM) and its private key (PEM), for mutual TLS.
    pub client_cert_file: Option<&'a Path>,
    pub client_key_file: Option<&'a Path>,
    /// The name the broker's certificate must carry; `None`: the host the client dials.
    pub server_name: Option<ServerName<'static>>,
}

/// `[mqtt] server_name` as a TLS server name: a DNS name or an IP address. The error names the
/// key.
pub fn server_name(name: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(name.to_owned())
        .map_err(|_| format!("mqtt.server_name {name:?} is neither a DNS name nor an IP address"))
}

/// A rustls client config from `files`; the error names the key and the file.
pub fn client_config(files: &TlsFiles<'_>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    match files.ca_file {
        Some(ca) => {
            let certs = certificates("mqtt.ca_file", ca)?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "mqtt.ca_file {}: no usable CA certificate",
                    ca.display()
                ));
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            if roots.is_empty() {
                return Err(
                    "mqtt.tls: the system has no CA certificates (install ca-certificates, or set mqtt.ca_file)"
                        .into(),
                );
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("mqtt.tls: {e}"))?;
    let builder = match &files.server_name {
        None => builder.with_root_certificates(roots),
        Some(name) => builder
            .dangerous()
            .with_custom_certificate_verifier(NamedServer::new(roots, provider, name.clone())?),
    };
    let config = match (files.client_cert_file, files.client_key_file) {
        (Some(cert), Some(key)) => {
            let chain = certificates("mqtt.client_cert_file", cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("mqtt.client_key_file {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("mqtt.client_cert_file {}: {e}", cert.display()))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(
                "mqtt.client_cert_file and mqtt.client_key_file go together: set both or neither"
                    .into(),
            );
        }
    };
    Ok(Arc::new(config))
}

/// Verifies the broker's certificate as webpki does, but for `[mqtt] server_name` rather than the
/// host the client dialled (rumqttc gives the verifier the host it connects to): for a broker
/// reached by IP address or through a tunnel whose certificate carries its DNS name. Only the
/// name changes; the chain, validity and every handshake signature are checked by `inner`.
#[derive(Debug)]
struct NamedServer {
    /// webpki's verifier on the same root store.
    inner: Arc<WebPkiServerVerifier>,
    /// The name the certificate must carry.
    name: ServerName<'static>,
}

impl NamedServer {
    /// A verifier trusting `roots` for certificates that carry `name`.
    fn new(
        roots: RootCertStore,
        provider: Arc<CryptoProvider>,
        name: ServerName<'static>,
    ) -> Result<Arc<NamedServer>, String> {
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| format!("mqtt.tls: {e}"))?;
        Ok(Arc::new(NamedServer { inner, name }))
    }
}

impl ServerCertVerifier for NamedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _dialled: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }

    fn root_hint_subjects(&self) -> Option<&[DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

/// Every certificate of a PEM file; at least one.
fn certificates(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{key} {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{key} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{key} {}: no PEM certificate in it",
            path.display()
        ));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_are_refused_naming_the_key_and_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.pem");
        let err = client_config(&TlsFiles {
            ca_file: Some(&missing),
            ..TlsFiles::default()
        })
        .expect_err("missing");
        assert!(
            err.starts_with("mqtt.ca_file") && err.contains("nope.pem"),
            "{err}"
        );
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").expect("write");
        let err = client_config(&TlsFiles {
            ca_file: Some(&junk),
            ..TlsFiles::default()
        })
        .expect_err("junk");
        assert!(err.contains("junk.pem"), "{err}");
        // A cert without its key.
        let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let pem = dir.path().join("ca.pem");
        std::fs::write(&pem, ca.cert.pem()).expect("write");
        let err = client_config(&TlsFiles {
            ca_file: Some(&pem),
            client_cert_file: Some(&pem),
            client_key_file: None,
            server_name: None,
        })
        .expect_err("half");
        assert!(err.contains("set both or neither"), "{err}");
        assert!(
            client_config(&TlsFiles {
                ca_file: Some(&pem),
                ..TlsFiles::default()
            })
            .is_ok()
        );
    }

    /// A CA, and a certificate it signed for `broker.mine.example` only (no IP address in it).
    fn ca_and_broker() -> (RootCertStore, CertificateDer<'static>) {
        let mut params = rcgen::CertificateParams::default();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let ca = params.self_signed(&ca_key).expect("CA cert");
        let params =
            rcgen::CertificateParams::new(vec!["broker.mine.example".to_owned()]).expect("params");
        let key = rcgen::KeyPair::generate().expect("key");
        let leaf = params.signed_by(&key, &ca, &ca_key).expect("signed");
        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone()).expect("a CA root");
        (roots, leaf.der().clone())
    }

    #[test]
    fn with_a_server_name_the_certificate_must_carry_it_whatever_host_was_dialled() {
        let (roots, leaf) = ca_and_broker();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let dialled = ServerName::try_from("127.0.0.1").expect("an IP address");
        let verify = |v: &dyn ServerCertVerifier| {
            v.verify_server_cert(&leaf, &[], &dialled, &[], UnixTime::now())
                .map(|_| ())
        };
        let plain =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots.clone()), provider.clone())
                .build()
                .expect("verifier");
        assert!(
            verify(&*plain).is_err(),
            "the certificate does not name 127.0.0.1"
        );
        let named = |name: &str| {
            NamedServer::new(
                roots.clone(),
                provider.clone(),
                server_name(name).expect("a name"),
            )
            .expect("verifier")
        };
        assert_eq!(verify(&*named("broker.mine.example")), Ok(()));
        let e = verify(&*named("other.mine.example")).expect_err("another name");
        assert!(
            matches!(
                e,
                rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)
                    | rustls::Error::InvalidCertificate(
                        rustls::CertificateError::NotValidForNameContext { .. }
                    )
            ),
            "{e:?}"
        );
    }

    #[test]
    fn a_server_name_is_a_dns_name_or_an_ip_address() {
        assert!(server_name("broker.mine.example").is_ok());
        assert!(server_name("10.0.0.7").is_ok());
        for bad in ["", "broker mine", "broker..example"] {
            let e = server_name(bad).expect_err(bad);
            assert!(e.starts_with("mqtt.server_name"), "{e}");
        }
    }
}
