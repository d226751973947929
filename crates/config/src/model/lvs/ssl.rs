//! `SSL { password, ca, certificate, key }`: the TLS context of `SSL_GET` checkers.

use crate::dump::Dumper;
use crate::tree::Node;

use super::super::Ctx;

/// The `SSL` block. When nothing is set, the checkers use a context with no client
/// certificate and no server verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SslConfig {
    /// `password`: the passphrase of the private key.
    pub password: Option<String>,
    /// `ca`: the CA file; when set, servers are verified against it.
    pub ca: Option<String>,
    /// `certificate`: the client certificate file.
    pub certificate: Option<String>,
    /// `key`: the client private key file.
    pub key: Option<String>,
}

/// Reads an `SSL` block.
pub fn parse(ctx: &mut Ctx<'_>, node: &Node) -> SslConfig {
    let mut s = SslConfig::default();
    for c in node.children() {
        match c.keyword() {
            "password" => s.password = ctx.string(c),
            "ca" => s.ca = ctx.string(c),
            "certificate" => s.certificate = ctx.string(c),
            "key" => s.key = ctx.string(c),
            _ => ctx.unknown(c),
        }
    }
    s
}

impl SslConfig {
    /// Writes the canonical `SSL` block.
    pub fn dump(&self, d: &mut Dumper) {
        d.block(&["SSL"], |d| {
            d.opt("password", &self.password);
            d.opt("ca", &self.ca);
            d.opt("certificate", &self.certificate);
            d.opt("key", &self.key);
        });
    }
}
