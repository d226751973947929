//! Errors raised while building checker parameters.

use std::path::PathBuf;

/// A checker's parameters cannot be turned into a runnable probe.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A hexadecimal string (UDP_CHECK `payload` / `require_reply`) is malformed.
    #[error("invalid hex string {0:?}: {1}")]
    BadHex(String, &'static str),
    /// A digest is not 32 hexadecimal digits.
    #[error("invalid MD5 digest {0:?}: expected 32 hex digits")]
    BadDigest(String),
    /// A `status_code` item is not a code or a `low-high` range.
    #[error("invalid status_code {0:?}")]
    BadStatusCode(String),
    /// A regular expression or one of its options was rejected.
    #[error("invalid regex: {0}")]
    BadRegex(String),
    /// PCRE2 refused a `regex`; displayed as keepalived logs it.
    #[error("Invalid regex: '{pattern}' at offset {offset}: {message}")]
    Regex {
        /// The pattern as written.
        pattern: String,
        /// Where PCRE2 stopped, in bytes.
        offset: usize,
        /// PCRE2's message.
        message: String,
    },
    /// DNS_CHECK `type` is not one of A, NS, CNAME, SOA, MX, TXT, AAAA.
    #[error("unsupported DNS query type {0:?}")]
    BadDnsType(String),
    /// DNS_CHECK `name` is not a valid domain name.
    #[error("invalid DNS name {0:?}: {1}")]
    BadDnsName(String, String),
    /// A TLS file could not be read or parsed.
    #[error("{path}: {reason}")]
    TlsFile {
        /// The file concerned.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The TLS configuration could not be built.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// A MISC_CHECK has no program to run.
    #[error("MISC_CHECK has an empty misc_path")]
    EmptyMiscPath,
    /// A user or group name could not be resolved.
    #[error("unknown {kind} {name:?}")]
    UnknownId {
        /// "user" or "group".
        kind: &'static str,
        /// The name that was looked up.
        name: String,
    },
}
