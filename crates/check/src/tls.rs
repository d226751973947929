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
    /// `password`: decrypts the private key when it is an encrypted PKCS#8 PEM
    /// (`ENCRYPTED PRIVATE KEY`, as `openssl genpkey -aes256` or `openssl pkcs8 -topk8` write).
    /// An unencrypted key is used as is, as OpenSSL does.
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

/// The PEM label of an encrypted PKCS#8 key.
const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// The private key of `path`: an unencrypted PEM key (PKCS#1, SEC1 or PKCS#8), else an
/// encrypted PKCS#8 key decrypted with `password`. The legacy OpenSSL encryption of PKCS#1
/// keys (`Proc-Type: 4,ENCRYPTED`) is refused with a hint to convert the key.
fn read_key(path: &Path, password: Option<&str>) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let pem = std::fs::read(path).map_err(|e| file_error(path, e))?;
    let text = String::from_utf8_lossy(&pem);
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(file_error(
            path,
            "legacy OpenSSL key encryption is not supported: convert the key with \
             `openssl pkcs8 -topk8 -v2 aes-256-cbc`",
        ));
    }
    if let Some(key) = rustls_pemfile::private_key(&mut BufReader::new(pem.as_slice()))
        .map_err(|e| file_error(path, e))?
    {
        return Ok(key);
    }
    let begin = format!("-----BEGIN {ENCRYPTED_LABEL}-----");
    let end = format!("-----END {ENCRYPTED_LABEL}-----");
    let Some(start) = text.find(&begin) else {
        return Err(file_error(path, "no PEM private key found"));
    };
    let block = match text[start..].find(&end) {
        Some(e) => &text[start..start + e + end.len()],
        None => return Err(file_error(path, "unterminated encrypted PEM private key")),
    };
    let Some(password) = password else {
        return Err(file_error(
            path,
            "the private key is encrypted and the SSL block has no password",
        ));
    };
    decrypt_pkcs8(block, password).map_err(|e| file_error(path, e))
}

/// Decrypts one `ENCRYPTED PRIVATE KEY` PEM block into a PKCS#8 key.
fn decrypt_pkcs8(block: &str, password: &str) -> Result<PrivateKeyDer<'static>, String> {
    let (label, der) = pkcs8::der::pem::decode_vec(block.as_bytes())
        .map_err(|e| format!("invalid encrypted private key: {e}"))?;
    if label != ENCRYPTED_LABEL {
        return Err(format!("unexpected PEM label {label:?}"));
    }
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
        .map_err(|e| format!("invalid encrypted private key: {e}"))?;
    let doc = info
        .decrypt(password.as_bytes())
        .map_err(|e| format!("cannot decrypt the private key (wrong password?): {e}"))?;
    Ok(PrivateKeyDer::Pkcs8(doc.as_bytes().to_vec().into()))
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
    match (&files.certificate, &files.key) {
        (Some(cert), key) => {
            let chain = read_certs(cert)?;
            // keepalived reads the key from the certificate file when no key file is given.
            let key = read_key(key.as_deref().unwrap_or(cert), files.password.as_deref())?;
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

/// A TLS server configuration with a fresh self-signed certificate for `name`, for the
/// crate's tests of SSL_GET and genhash.
#[cfg(test)]
pub(crate) fn test_server_config(name: &str) -> Arc<rustls::ServerConfig> {
    let ck = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("cert");
    let key = PrivateKeyDer::try_from(ck.key_pair.serialize_der()).expect("key");
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key)
    .expect("server config");
    Arc::new(cfg)
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

    /// A self-signed certificate and its key as PKCS#8 DER, written to `dir`.
    fn cert_and_key(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["client.test".into()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let cert_path = dir.join("client.crt");
        std::fs::write(&cert_path, cert.pem()).expect("write cert");
        (cert_path, key.serialize_der())
    }

    fn encrypted_pem(der: &[u8], password: &str) -> String {
        use pkcs8::der::pem::LineEnding;
        let params =
            pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, b"saltsalt", &[7u8; 16])
                .expect("params");
        let info = pkcs8::PrivateKeyInfo::try_from(der).expect("pkcs8");
        let doc = info.encrypt_with_params(params, password).expect("encrypt");
        doc.to_pem(ENCRYPTED_LABEL, LineEnding::LF)
            .expect("pem")
            .to_string()
    }

    #[test]
    fn an_encrypted_key_is_decrypted_with_the_password() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, der) = cert_and_key(dir.path());
        let key = dir.path().join("client.key");
        std::fs::write(&key, encrypted_pem(&der, "s3cret")).expect("write key");
        let mut files = TlsFiles {
            certificate: Some(cert),
            key: Some(key.clone()),
            password: Some("s3cret".into()),
            ..TlsFiles::default()
        };
        let config = client_config(&files).expect("decrypted");
        assert!(config.client_auth_cert_resolver.has_certs());
        let decrypted = read_key(&key, Some("s3cret")).expect("key");
        assert_eq!(decrypted.secret_der(), der.as_slice());

        files.password = Some("wrong".into());
        let e = client_config(&files)
            .expect_err("wrong password")
            .to_string();
        assert!(
            e.contains("cannot decrypt") && e.contains("client.key"),
            "{e}"
        );
        files.password = None;
        let e = client_config(&files).expect_err("no password").to_string();
        assert!(e.contains("has no password"), "{e}");
    }

    #[test]
    fn a_plain_key_ignores_the_password_and_legacy_encryption_is_explained() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, der) = cert_and_key(dir.path());
        let key = dir.path().join("plain.key");
        let pem =
            pkcs8::der::pem::encode_string("PRIVATE KEY", pkcs8::der::pem::LineEnding::LF, &der)
                .expect("pem");
        std::fs::write(&key, pem).expect("write");
        let files = TlsFiles {
            certificate: Some(cert),
            key: Some(key),
            password: Some("unused".into()),
            ..TlsFiles::default()
        };
        assert!(client_config(&files).is_ok());
        let legacy = dir.path().join("legacy.key");
        std::fs::write(
            &legacy,
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        )
        .expect("write");
        let e = read_key(&legacy, Some("x")).expect_err("legacy");
        assert!(e.to_string().contains("openssl pkcs8 -topk8"), "{e}");
    }

    /// Interoperability: a key encrypted by the openssl command line (when installed).
    #[test]
    fn an_openssl_encrypted_key_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("ossl.key");
        let made = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-aes-256-cbc", "-pass", "pass:topsecret", "-out"])
            .arg(&key)
            .status();
        if !matches!(made, Ok(s) if s.success()) {
            eprintln!("SKIPPED: openssl is not available");
            return;
        }
        let k = read_key(&key, Some("topsecret")).expect("openssl key");
        assert!(matches!(k, PrivateKeyDer::Pkcs8(_)));
        assert!(read_key(&key, Some("nope")).is_err());
    }
}
