//! Ingestion tokens: random secrets handed out once and stored only as
//! SHA-256 hashes. They carry 256 bits of entropy, so a fast hash is enough:
//! there is nothing to brute-force.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use chrono::{DateTime, Utc};

/// A stored token: its name and hash, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub name: String,
    /// Hex SHA-256 of the token; the token itself is never stored.
    pub hash: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub grants: Grants,
}

/// What a token may do beyond posting builds and their tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grants {
    /// May change builds that other tokens, or none, posted (imports,
    /// corrections), and freeze merges.
    pub admin: bool,
    /// May set or lift a manual merge freeze: a CI token may not, so a
    /// leaked lab token cannot lift a release freeze.
    pub freeze: bool,
}

impl Grants {
    pub const ADMIN: Grants = Grants {
        admin: true,
        freeze: true,
    };

    pub fn may_freeze(self) -> bool {
        self.admin || self.freeze
    }
}

const PREFIX: &str = "cid_";

pub fn generate() -> String {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    format!("{PREFIX}{}", hex::encode(secret))
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The name of the token that `presented` is, comparing against every
/// stored hash in constant time so timing reveals nothing.
pub fn verify<'a>(presented: &str, tokens: &'a [TokenRecord]) -> Option<&'a TokenRecord> {
    let presented = hash(presented);
    let mut found = None;
    for token in tokens {
        if bool::from(token.hash.as_bytes().ct_eq(presented.as_bytes())) {
            found = Some(token);
        }
    }
    found
}

/// Token names appear in logs and the CLI; keep them simple.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A credential from the environment (GitHub's token, a webhook's
/// secret): never printed, not even in a debug dump of the settings.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn parse(value: &str) -> Result<Secret, String> {
        match value.trim() {
            "" => Err("is empty".into()),
            value => Ok(Secret(value.to_string())),
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn tokens_verify_only_against_their_hash() {
        let token = generate();
        assert!(token.starts_with(PREFIX));
        assert_eq!(token.len(), PREFIX.len() + 64);
        assert_ne!(generate(), token);
        let records = vec![
            TokenRecord {
                name: "other".into(),
                hash: hash(&generate()),
                created_at: Utc::now(),
                last_used_at: None,
                grants: Grants::default(),
            },
            TokenRecord {
                name: "ci".into(),
                hash: hash(&token),
                created_at: Utc::now(),
                last_used_at: None,
                grants: Grants::default(),
            },
        ];
        assert_eq!(verify(&token, &records), Some(&records[1]));
        assert_eq!(verify("cid_wrong", &records), None);
        assert_eq!(
            verify(&records[1].hash, &records),
            None,
            "the hash is not a token"
        );
    }

    #[test]
    fn names() {
        assert!(valid_name("github-actions"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name(&"a".repeat(65)));
    }
}
