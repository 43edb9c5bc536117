//! TLS to the broker (`[mqtt] tls = true`): rustls on the ring provider, trusting `ca_file` (PEM)
//! or, without one, the system's CA store; with `client_cert_file` and `client_key_file`, the
//! client certificate of mutual TLS. Built when the config is read, so a missing or malformed
//! file fails `minewatch check` and the start, never the first connection.

use rustls::ClientConfig;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
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
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("mqtt.tls: {e}"))?
        .with_root_certificates(roots);
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
}
