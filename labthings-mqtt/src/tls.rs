//! TLS for `mqtts://` brokers: rustls on the ring provider (the one the
//! HTTPS server uses), trusting a CA file or the system's authorities.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// The certificates of a PEM file; errors name the file and what is wrong.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read the certificate {}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the certificate {} is not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", path.display()));
    }
    Ok(certs)
}

/// The private key of a PEM file.
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| format!("cannot read a private key from {}: {e}", path.display()))
}

/// A TLS client configuration (TLS 1.2 and 1.3) trusting the certificate
/// authorities in `ca_file`, or the system's when there is none, and
/// presenting `identity` (certificate chain and key files) if given.
pub(crate) fn client_config(ca_file: Option<&Path>, identity: Option<(&Path, &Path)>) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(file) => {
            for cert in read_certs(file)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("{} is not a usable CA certificate: {e}", file.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(format!(
                    "no certificate authorities found on this system ({} errors); name one with a CA file",
                    found.errors.len()
                ));
            }
        }
    }
    let builder = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(read_certs(cert)?, read_key(key)?)
            .map_err(|e| {
                format!(
                    "the certificate {} and key {} do not make a TLS identity: {e}",
                    cert.display(),
                    key.display()
                )
            }),
        None => Ok(builder.with_no_client_auth()),
    }
}
