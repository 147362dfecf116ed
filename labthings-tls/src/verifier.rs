//! How a client checks a server's certificate: against certificate
//! authorities as rustls does (webpki), or, for a certificate the user
//! named in a CA file, by being that very certificate and holding the
//! server's name.

use std::sync::Arc;

use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::client::{WebPkiServerVerifier, verify_server_name};
use tokio_rustls::rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use tokio_rustls::rustls::server::ParsedCertificate;
use tokio_rustls::rustls::{CertificateError, DigitallySignedStruct, Error, SignatureScheme};

use crate::Trust;

/// The verifier of [`Trust`].
#[derive(Debug)]
pub(crate) struct Verifier {
    /// rustls's own, when there is any authority to check against.
    authorities: Option<Arc<WebPkiServerVerifier>>,
    /// Certificates trusted as they are.
    pinned: Vec<CertificateDer<'static>>,
    /// The signature algorithms of the handshake.
    provider: Arc<CryptoProvider>,
}

impl Verifier {
    pub(crate) fn new(trust: Trust, provider: Arc<CryptoProvider>) -> Result<Self, String> {
        let authorities = if trust.roots.is_empty() {
            None
        } else {
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(trust.roots), provider.clone())
                    .build()
                    .map_err(|e| e.to_string())?,
            )
        };
        Ok(Self {
            authorities,
            pinned: trust.pinned,
            provider,
        })
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let by_authority = match &self.authorities {
            Some(authorities) => {
                authorities.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Err(Error::InvalidCertificate(CertificateError::UnknownIssuer)),
        };
        match by_authority {
            Ok(verified) => Ok(verified),
            // The very certificate the user named: trusted for its names.
            Err(_) if self.pinned.iter().any(|p| p.as_ref() == end_entity.as_ref()) => {
                verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
                Ok(ServerCertVerified::assertion())
            }
            Err(error) => Err(error),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_rustls::rustls::crypto::ring;

    /// A self-signed certificate for `localhost`, marked as an authority or
    /// not (`openssl req -x509` marks it; rcgen's simple one does not).
    fn self_signed(authority: bool) -> CertificateDer<'static> {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("parameters");
        if authority {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        let key = rcgen::KeyPair::generate().expect("a key");
        params.self_signed(&key).expect("a certificate").der().clone()
    }

    fn verifier(pinned: Vec<CertificateDer<'static>>) -> Verifier {
        let mut roots = tokio_rustls::rustls::RootCertStore::empty();
        roots.add_parsable_certificates(pinned.iter().cloned());
        let trust = Trust { roots, pinned };
        Verifier::new(trust, Arc::new(ring::default_provider())).expect("a verifier")
    }

    fn check(verifier: &Verifier, cert: &CertificateDer<'_>, name: &'static str) -> Result<ServerCertVerified, Error> {
        let name = ServerName::try_from(name).expect("a name");
        verifier.verify_server_cert(cert, &[], &name, &[], UnixTime::now())
    }

    /// Both kinds of self-signed certificate, which rustls alone refuses
    /// (UnknownIssuer, CaUsedAsEndEntity), are trusted when named, for
    /// their own names only; another certificate is not.
    #[test]
    fn a_named_self_signed_certificate_is_trusted_for_its_names() {
        for authority in [false, true] {
            let cert = self_signed(authority);
            let named = verifier(vec![cert.clone()]);
            assert!(check(&named, &cert, "localhost").is_ok(), "authority: {authority}");
            assert!(
                matches!(
                    check(&named, &cert, "127.0.0.1"),
                    Err(Error::InvalidCertificate(
                        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
                    ))
                ),
                "authority: {authority}"
            );
            let other = self_signed(authority);
            assert!(check(&named, &other, "localhost").is_err(), "authority: {authority}");
            assert!(check(&verifier(Vec::new()), &cert, "localhost").is_err());
        }
    }
}
