//! What a configured token is: its [`Role`] and the SHA-256 [`TokenDigest`] of its secret (the
//! config keeps only the digest). Both the `[http]` config ([`crate::config`]) and the request's
//! authentication ([`crate::access`]) stand on this.

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// What a caller may do, in increasing power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads alerts, events, mines and the live stream.
    Viewer,
    /// May also acknowledge alerts.
    Operator,
    /// May also change a mine's status and reload the registry.
    Admin,
}

impl Role {
    /// As written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// The SHA-256 of a token's secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenDigest([u8; 32]);

impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A digest is not the secret, but nothing needs it in a log either.
        f.write_str("TokenDigest(..)")
    }
}

impl TokenDigest {
    /// The digest of a secret.
    pub fn of(secret: &str) -> Self {
        TokenDigest(Sha256::digest(secret.as_bytes()).into())
    }

    /// From 64 hex digits, either case.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.trim().as_bytes();
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            let digit = |c: u8| (c as char).to_digit(16);
            *byte = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
        }
        Some(TokenDigest(out))
    }

    /// As 64 lowercase hex digits, the form `sha256 =` takes.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Equality whose time does not depend on where the digests differ.
    pub(crate) fn matches(&self, other: &TokenDigest) -> bool {
        let diff = self
            .0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

/// The SHA-256 of a token as 64 lowercase hex digits: the value of `sha256 =` in the config
/// (what `minewatch hash-token` prints).
pub fn hash_token(secret: &str) -> String {
    TokenDigest::of(secret).to_hex()
}
