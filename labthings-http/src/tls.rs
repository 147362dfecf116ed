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
    pub(crate) fn acceptor(_: &TlsConfig) -> Result<Acceptor, crate::BuildError> {
        Err(crate::BuildError::MissingFeature {
            feature: "tls",
            cannot: "serve HTTPS",
        })
    }
}

#[cfg(feature = "tls")]
mod with_rustls {
    use std::sync::Arc;

    use labthings_tls::tokio_rustls;
    use tokio::net::TcpStream;

    use crate::config::TlsConfig;

    /// What turns an accepted connection into a TLS session.
    pub(crate) type Acceptor = tokio_rustls::TlsAcceptor;

    /// A TLS session over a TCP connection.
    pub(crate) type Stream = tokio_rustls::server::TlsStream<TcpStream>;

    /// Read the certificate chain and key and prepare the TLS acceptor (TLS 1.2
    /// and 1.3, HTTP/1.1 by ALPN). Errors name the file and what is wrong.
    pub(crate) fn acceptor(config: &TlsConfig) -> Result<Acceptor, crate::BuildError> {
        let server = labthings_tls::server_config(&config.cert, &config.key)
            .map_err(|e| crate::BuildError::invalid("tls", e))?;
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
            Err(error) => error.to_string(),
        };
        if cfg!(feature = "tls") {
            assert!(error.contains("no-such-dir/lab.crt"), "{error}");
        } else {
            assert!(error.contains("without the `tls` feature"), "{error}");
        }
    }
}
