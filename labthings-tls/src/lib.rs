//! The TLS of labthings in one place, for the HTTPS server, the MQTT
//! binding (`mqtts://`), the HTTP client and directory registration: rustls
//! on the ring provider (TLS 1.2 and 1.3), PEM files read with errors that
//! name the file and what is wrong.
//!
//! A client trusts the system's certificate authorities plus the ones in
//! a CA file the user names (a lab's own CA, or a server's self-signed
//! certificate):
//!
//! ```
//! let config = labthings_tls::client_config(None, None);
//! // On a machine without any system authorities this says so.
//! assert!(config.is_ok() || config.is_err_and(|e| e.contains("no certificate authorities")));
//! ```

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};

pub use tokio_rustls;

mod verifier;

/// The certificates of a PEM file; errors name the file and what is wrong.
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
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
pub fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| format!("cannot read a private key from {}: {e}", path.display()))
}

/// A server configuration presenting the certificate chain in `cert` with
/// the key in `key`, offering HTTP/1.1 by ALPN.
pub fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, String> {
    let mut server = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certificates(cert)?, private_key(key)?)
        .map_err(|e| identity_error(cert, key, &e))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(server)
}

/// What a client trusts: certificate authorities (the system's and a CA
/// file's), and the certificates of that file themselves.
///
/// A self-signed certificate (`openssl req -x509`, or a lab's own tool)
/// is either marked as a CA, which rustls refuses as a server's own
/// certificate, or not, which rustls refuses as an authority: neither
/// works as a root. So each certificate of the file the user names is also
/// trusted as it is, byte for byte, for the names it holds (checked as for
/// any certificate), as `curl --cacert` trusts it. Its validity period is
/// then not checked: replacing it is the lab's to do.
#[derive(Debug, Clone)]
pub struct Trust {
    roots: RootCertStore,
    pinned: Vec<CertificateDer<'static>>,
}

impl Trust {
    /// The system's certificate authorities plus the certificates of
    /// `ca_file`, as authorities and as certificates trusted as they are.
    pub fn new(ca_file: Option<&Path>) -> Result<Self, String> {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(system_authorities().iter().cloned());
        let pinned = match ca_file {
            Some(file) => certificates(file)?,
            None => Vec::new(),
        };
        // A certificate that is not a usable authority is still trusted as
        // it is.
        roots.add_parsable_certificates(pinned.iter().cloned());
        Ok(Self { roots, pinned })
    }

    /// Whether nothing at all is trusted.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty() && self.pinned.is_empty()
    }
}

/// The system's certificate authorities, read from its files once per
/// process (every `Connection::new()` of a client asks for them).
fn system_authorities() -> &'static [CertificateDer<'static>] {
    static AUTHORITIES: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    AUTHORITIES.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// A client configuration trusting the system's certificate authorities
/// plus those in `ca_file` ([`Trust`]), presenting `identity` (certificate
/// chain and key files) when given. With nothing trusted at all (no
/// authority on the system, no file), it says so.
pub fn client_config(ca_file: Option<&Path>, identity: Option<(&Path, &Path)>) -> Result<ClientConfig, String> {
    let trust = Trust::new(ca_file)?;
    if trust.is_empty() {
        return Err("no certificate authorities found on this system; name a CA file".to_owned());
    }
    client_config_trusting(trust, identity)
}

/// A client configuration trusting `trust` (which may be empty: then
/// every server's certificate is refused as not trusted), presenting
/// `identity` when given.
pub fn client_config_trusting(trust: Trust, identity: Option<(&Path, &Path)>) -> Result<ClientConfig, String> {
    let provider = Arc::new(ring::default_provider());
    let verifier = Arc::new(verifier::Verifier::new(trust, provider.clone())?);
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(certificates(cert)?, private_key(key)?)
            .map_err(|e| identity_error(cert, key, &e)),
        None => Ok(builder.with_no_client_auth()),
    }
}

fn identity_error(cert: &Path, key: &Path, error: &dyn std::fmt::Display) -> String {
    format!(
        "the certificate {} and key {} do not make a TLS identity: {error}",
        cert.display(),
        key.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder of its own under the system's temporary folder.
    fn folder() -> std::path::PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let folder = std::env::temp_dir().join(format!("labthings-tls-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&folder).expect("a temporary folder");
        folder
    }

    #[test]
    fn files_are_named_in_every_error_and_a_good_pair_serves() {
        let folder = folder();
        let missing = folder.join("missing.pem");
        let error = certificates(&missing).expect_err("no file");
        assert!(error.contains("missing.pem"), "{error}");

        let empty = folder.join("empty.pem");
        std::fs::write(&empty, "").expect("written");
        let error = certificates(&empty).expect_err("no certificate");
        assert!(error.contains("holds no certificate"), "{error}");

        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
        let (cert, key) = (folder.join("lab.crt"), folder.join("lab.key"));
        std::fs::write(&cert, made.cert.pem()).expect("written");
        std::fs::write(&key, made.signing_key.serialize_pem()).expect("written");
        let server = server_config(&cert, &key).expect("a server configuration");
        assert_eq!(server.alpn_protocols, [b"http/1.1".to_vec()]);
        // The certificate as its own key: not an identity, both named.
        let error = server_config(&cert, &cert).expect_err("not a key");
        assert!(error.contains("lab.crt"), "{error}");
        // A self-signed certificate is a CA file a client can trust.
        assert!(client_config(Some(&cert), None).is_ok());
        assert!(!Trust::new(Some(&cert)).expect("read").is_empty());
        let _ = std::fs::remove_dir_all(&folder);
    }
}
