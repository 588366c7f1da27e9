//! Personal access tokens: `jbb_` + 30 random base62 characters + 6 base62 characters of the
//! CRC32 of the random part. The checksum lets a typo be refused without a database read and
//! lets secret scanners recognise leaks. Only the SHA-256 of the whole token is stored.

use std::fmt;

use chrono::{DateTime, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};

use super::account::AccountType;
use super::ids::{TokenId, UserId};
use super::scopes::ScopeSet;

pub const TOKEN_PREFIX: &str = "jbb_";
const RANDOM_LEN: usize = 30;
const CHECKSUM_LEN: usize = 6;
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A token's plaintext. Shown once at minting; `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainToken(String);

impl fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlainToken(jbb_…{})", self.last4())
    }
}

/// The SHA-256 of a token: what is stored and looked up.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TokenHash(pub [u8; 32]);

impl PlainToken {
    /// A fresh random token.
    pub fn generate() -> Self {
        let mut rng = rand::thread_rng();
        let random: String = (0..RANDOM_LEN)
            .map(|_| BASE62[rng.gen_range(0..62)] as char)
            .collect();
        let checksum = base62_fixed(crc32fast::hash(random.as_bytes()));
        PlainToken(format!("{TOKEN_PREFIX}{random}{checksum}"))
    }

    /// Accepts a string only when it has the token shape and its checksum matches.
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix(TOKEN_PREFIX)?;
        if rest.len() != RANDOM_LEN + CHECKSUM_LEN
            || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return None;
        }
        let (random, checksum) = rest.split_at(RANDOM_LEN);
        (base62_fixed(crc32fast::hash(random.as_bytes())) == checksum)
            .then(|| PlainToken(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

/// CRC32 as exactly 6 base62 digits (62^6 > 2^32), most significant first.
fn base62_fixed(mut n: u32) -> String {
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).expect("base62 is ascii")
}

/// A stored token, as its owner sees it in a list (never the secret).
#[derive(Clone, Debug)]
pub struct TokenRecord {
    pub id: TokenId,
    pub user_id: UserId,
    pub name: String,
    pub scopes: ScopeSet,
    pub last4: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TokenRecord {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// What authenticating a token yields: the token and what the edge needs of its owner.
#[derive(Clone, Debug)]
pub struct TokenPrincipal {
    pub token_id: TokenId,
    pub user_id: UserId,
    pub account_type: AccountType,
    pub scopes: ScopeSet,
    pub expires_at: Option<DateTime<Utc>>,
    /// The owner's IP allowlist (empty = any address).
    pub allowlist: Vec<ipnet::IpNet>,
    /// The owner's rate-limit overrides.
    pub rate_limits: super::ratelimit::Overrides,
}

/// A token's use, for its `last_used_at` and `last_used_ip`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenUse {
    pub token_id: TokenId,
    pub at: DateTime<Utc>,
    pub ip: String,
}

pub const TOKEN_NAME_MAX: usize = 100;
pub const DEFAULT_EXPIRY_DAYS: i64 = 90;
pub const MAX_EXPIRY_DAYS: i64 = 366 * 5;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_tokens_have_the_documented_shape() {
        let t = PlainToken::generate();
        assert_eq!(t.expose().len(), TOKEN_LEN);
        assert!(t.expose().starts_with("jbb_"));
        assert_eq!(PlainToken::parse(t.expose()), Some(t.clone()));
        assert!(!format!("{t:?}").contains(&t.expose()[4..20]));
    }

    #[test]
    fn a_typo_fails_the_checksum() {
        let t = PlainToken::generate();
        let s = t.expose();
        let c = s.as_bytes()[10];
        let swapped = if c == b'a' { 'b' } else { 'a' };
        let typo = format!("{}{}{}", &s[..10], swapped, &s[11..]);
        assert_eq!(PlainToken::parse(&typo), None);
        assert_eq!(PlainToken::parse(&s[..s.len() - 1]), None);
        assert_eq!(PlainToken::parse(&format!("{s}x")), None);
        assert_eq!(PlainToken::parse(&s.replace("jbb_", "jbx_")), None);
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(s in ".{0,80}") {
            let _ = PlainToken::parse(&s);
        }

        #[test]
        fn checksum_is_six_base62_digits(n in any::<u32>()) {
            let c = base62_fixed(n);
            prop_assert_eq!(c.len(), 6);
            prop_assert!(c.bytes().all(|b| b.is_ascii_alphanumeric()));
        }
    }
}
