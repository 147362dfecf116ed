//! TLS with rustls on the ring provider (cargo feature `tls`): the HTTPS
//! server's acceptor built from a [`TlsConfig`](crate::TlsConfig), and the handshake of each
//! connection. Without the feature a server configured for HTTPS refuses
//! to build, naming the feature, and nothing of rustls is compiled.

use std::time::Duration;

use tokio::net::TcpStream;

#[cfg(feature = "tls")]
pub(crate) use with_rustls::{Acceptor, Stream, acceptor};
#[cfg(not(feature = "tls"))]
pub(crate) use without::{Acceptor, Stream, acceptor};

/// The TLS session of `stream`, if its handshake completes within `limit`.
pub(crate) async fn handshake_within(tls: &Acceptor, stream: TcpStream, limit: Duration) -> Option<Stream> {
    match tokio::time::timeout(limit, tls.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(e)) => {
            tracing::debug!("TLS handshake failed: {e}");
            None
        }
        Err(_) => None,
    }
}

#[cfg(not(feature = "tls"))]
mod without {
    use tokio::net::TcpStream;

    use crate::config::TlsConfig;

    /// No acceptor can exist without the `tls` feature.
    #[derive(Clone, Debug)]
    pub(crate) enum Acceptor {}

    /// Never made: a plain stream stands in for the type.
    pub(crate) type Stream = TcpStream;

    impl Acceptor {
        pub(crate) async fn accept(&self, _: TcpStream) -> std::io::Result<Stream> {
            match *self {}
        }
    }

    /// Refuse: HTTPS needs the `tls` feature.
    pub(crate) fn acceptor(_: &TlsConfig) -> Result<Acceptor, String> {
        Err(crate::features::missing("tls", "serve HTTPS"))
    }
}

#[cfg(feature = "tls")]
mod with_rustls {
    use std::path::Path;
    use std::sync::Arc;

    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::net::TcpStream;
    use tokio_rustls::rustls::ServerConfig as RustlsConfig;
    use tokio_rustls::rustls::crypto::ring;

    use crate::config::TlsConfig;

    /// What turns an accepted connection into a TLS session.
    pub(crate) type Acceptor = tokio_rustls::TlsAcceptor;

    /// A TLS session over a TCP connection.
    pub(crate) type Stream = tokio_rustls::server::TlsStream<TcpStream>;

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
        PrivateKeyDer::from_pem_file(path)
            .map_err(|e| format!("cannot read a private key from {}: {e}", path.display()))
    }

    /// Read the certificate chain and key and prepare the TLS acceptor (TLS 1.2
    /// and 1.3, HTTP/1.1 by ALPN). Errors name the file and what is wrong.
    pub(crate) fn acceptor(config: &TlsConfig) -> Result<Acceptor, String> {
        let certs = read_certs(&config.cert)?;
        let key = read_key(&config.key)?;
        let mut server = RustlsConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| {
                format!(
                    "the certificate {} and key {} do not make a TLS identity: {e}",
                    config.cert.display(),
                    config.key.display()
                )
            })?;
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Acceptor::from(Arc::new(server)))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::TlsConfig;

    /// Run both ways in CI: with the feature (the workspace) and without it
    /// (`labthings-http` with no default features).
    #[test]
    fn https_needs_the_feature_and_readable_files() {
        let config = TlsConfig {
            cert: "no-such-dir/lab.crt".into(),
            key: "no-such-dir/lab.key".into(),
        };
        let error = match super::acceptor(&config) {
            Ok(_) => panic!("an acceptor from files that do not exist"),
            Err(error) => error,
        };
        if cfg!(feature = "tls") {
            assert!(error.contains("no-such-dir/lab.crt"), "{error}");
        } else {
            assert!(error.contains("without the `tls` feature"), "{error}");
        }
    }
}
