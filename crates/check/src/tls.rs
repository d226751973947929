//! TLS client set-up for SSL_GET (rustls): no certificate verification unless a CA is given,
//! optional client certificate, optional SNI.

use std::fs::File;
use std::io::BufReader;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::error::ConfigError;

/// The TLS files of keepalived's `SSL { ca certificate key password }` block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA bundle (PEM): when set, the server's chain must lead to one of these (the name in
    /// the certificate is not checked, as the checker connects by address).
    pub ca: Option<std::path::PathBuf>,
    /// Client certificate chain (PEM).
    pub certificate: Option<std::path::PathBuf>,
    /// Client private key (PEM).
    pub key: Option<std::path::PathBuf>,
    /// Password of the key; encrypted keys are not supported, so a password is refused.
    pub password: Option<String>,
}

/// A ready TLS client configuration and the name to present with SNI.
#[derive(Debug, Clone)]
pub struct TlsClient {
    /// The rustls configuration.
    pub config: Arc<ClientConfig>,
    /// The SNI name (`enable_sni` with the virtual host), or `None` for no SNI.
    pub sni: Option<String>,
}

impl TlsClient {
    /// Build a client from the given files, with SNI set to `sni`.
    pub fn new(files: &TlsFiles, sni: Option<String>) -> Result<Self, ConfigError> {
        Ok(TlsClient {
            config: Arc::new(client_config(files)?),
            sni,
        })
    }

    /// The server name for the handshake: the SNI name when set (sent to the server),
    /// else the target address (rustls sends no SNI for an address).
    pub(crate) fn server_name(&self, ip: IpAddr) -> ServerName<'static> {
        if let Some(name) = &self.sni {
            if let Ok(n) = ServerName::try_from(name.clone()) {
                return n;
            }
        }
        ServerName::IpAddress(ip.into())
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::TlsFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let f = File::open(path).map_err(|e| file_error(path, e))?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(file_error(path, "no PEM certificate found"));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let f = File::open(path).map_err(|e| file_error(path, e))?;
    rustls_pemfile::private_key(&mut BufReader::new(f))
        .map_err(|e| file_error(path, e))?
        .ok_or_else(|| file_error(path, "no unencrypted PEM private key found"))
}

/// Build the rustls client configuration for SSL_GET.
pub fn client_config(files: &TlsFiles) -> Result<ClientConfig, ConfigError> {
    let provider = provider();
    let inner = match &files.ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca)? {
                roots.add(cert).map_err(|e| file_error(ca, e))?;
            }
            let v = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| ConfigError::Tls(e.to_string()))?;
            Some(v)
        }
        None => None,
    };
    let verifier = Arc::new(CheckerVerifier {
        inner,
        provider: provider.clone(),
    });
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    if files.password.is_some() {
        return Err(ConfigError::Tls(
            "encrypted private keys (SSL password) are not supported".into(),
        ));
    }
    match (&files.certificate, &files.key) {
        (Some(cert), key) => {
            let chain = read_certs(cert)?;
            // keepalived reads the key from the certificate file when no key file is given.
            let key = read_key(key.as_deref().unwrap_or(cert))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ConfigError::Tls(e.to_string()))
        }
        (None, Some(key)) => Err(file_error(key, "a key without a certificate")),
        (None, None) => Ok(builder.with_no_client_auth()),
    }
}

/// Accepts any server certificate, or with a CA any chain leading to it whatever its names;
/// handshake signatures are always checked.
#[derive(Debug)]
struct CheckerVerifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for CheckerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else {
            return Ok(ServerCertVerified::assertion());
        };
        match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Ok(v) => Ok(v),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_are_reported() {
        let files = TlsFiles {
            ca: Some("/nonexistent/ca.pem".into()),
            ..TlsFiles::default()
        };
        let err = client_config(&files).expect_err("missing CA");
        assert!(err.to_string().contains("/nonexistent/ca.pem"));
    }

    #[test]
    fn default_config_builds() {
        let c = TlsClient::new(&TlsFiles::default(), Some("example.org".into())).expect("config");
        assert!(matches!(
            c.server_name("127.0.0.1".parse().expect("ip")),
            ServerName::DnsName(_)
        ));
        let c = TlsClient::new(&TlsFiles::default(), None).expect("config");
        assert!(matches!(
            c.server_name("127.0.0.1".parse().expect("ip")),
            ServerName::IpAddress(_)
        ));
    }
}
