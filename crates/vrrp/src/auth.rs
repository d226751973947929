//! VRRPv2 authentication (RFC 3768 section 5.3.6 / RFC 2338 section 5.3.6).

use crate::wire::vrrp::{AuthType, AUTH_DATA_LEN};

/// The authentication an instance uses and expects.
#[derive(Clone, PartialEq, Eq)]
pub enum Authentication {
    /// No authentication (the only choice for VRRPv3).
    None,
    /// Simple password: up to 8 bytes, zero padded, carried in clear in the advert.
    Pass([u8; AUTH_DATA_LEN]),
    /// IPsec AH with HMAC-MD5-96 keyed with the password.
    Ah(Vec<u8>),
}

impl Authentication {
    /// A PASS authentication from `auth_pass`; like keepalived, only the first 8 bytes count.
    pub fn pass(password: &[u8]) -> Authentication {
        let mut data = [0; AUTH_DATA_LEN];
        let n = password.len().min(AUTH_DATA_LEN);
        data[..n].copy_from_slice(&password[..n]);
        Authentication::Pass(data)
    }

    /// An AH authentication keyed with `auth_pass` (first 8 bytes, as keepalived stores it).
    pub fn ah(password: &[u8]) -> Authentication {
        let n = password.len().min(AUTH_DATA_LEN);
        Authentication::Ah(password[..n].to_vec())
    }

    /// The type announced in the VRRP header.
    pub fn auth_type(&self) -> AuthType {
        match self {
            Authentication::None => AuthType::None,
            Authentication::Pass(_) => AuthType::Pass,
            Authentication::Ah(_) => AuthType::Ah,
        }
    }
}

impl std::fmt::Debug for Authentication {
    // Keys stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Authentication::None => f.write_str("None"),
            Authentication::Pass(_) => f.write_str("Pass(..)"),
            Authentication::Ah(_) => f.write_str("Ah(..)"),
        }
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_truncated_and_padded() {
        assert_eq!(
            Authentication::pass(b"abc"),
            Authentication::Pass(*b"abc\0\0\0\0\0")
        );
        assert_eq!(
            Authentication::pass(b"0123456789"),
            Authentication::Pass(*b"01234567")
        );
        assert_eq!(
            Authentication::ah(b"0123456789"),
            Authentication::Ah(b"01234567".to_vec())
        );
        assert_eq!(format!("{:?}", Authentication::pass(b"secret")), "Pass(..)");
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"secret12", b"secret12"));
        assert!(!constant_time_eq(b"secret12", b"secret13"));
        assert!(!constant_time_eq(b"secret1", b"secret12"));
    }
}
