//! Prefixed, time-ordered, URL-safe identifiers: `usr_` + 32 lowercase hex digits of a UUID v7.
//! Lowercase hex keeps the byte order, so ids sort by creation time as strings too.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new id, ordered after every id made before it in this process.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, self.0.simple())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_prefixed(s, $prefix).map(Self)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(|_| {
                    serde::de::Error::custom(concat!("expected an id starting with ", $prefix))
                })
            }
        }
    };
}

/// A string that is not an id of the expected kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed id")]
pub struct InvalidId;

fn parse_prefixed(s: &str, prefix: &str) -> Result<Uuid, InvalidId> {
    let hex = s.strip_prefix(prefix).ok_or(InvalidId)?;
    if hex.len() != 32 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(InvalidId);
    }
    Uuid::try_parse(hex).map_err(|_| InvalidId)
}

prefixed_id!(
    /// An account (seeker or recruiter).
    UserId, "usr_");
prefixed_id!(
    /// A personal access token.
    TokenId, "tok_");
prefixed_id!(
    /// A browser session.
    SessionId, "ses_");
prefixed_id!(
    /// A recruiter event.
    EventId, "evt_");
prefixed_id!(
    /// A match between a seeker and an interviewer.
    MatchId, "mtc_");
prefixed_id!(
    /// A recruiter job.
    JobId, "job_");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_sorts_by_creation() {
        let a = UserId::new();
        let b = UserId::new();
        assert!(a.to_string() < b.to_string());
        assert_eq!(a.to_string().parse::<UserId>().unwrap(), a);
        assert!(a.to_string().starts_with("usr_"));
        assert_eq!(a.to_string().len(), 4 + 32);
    }

    #[test]
    fn rejects_wrong_prefix_case_and_length() {
        let a = UserId::new().to_string();
        assert!(a.replace("usr_", "tok_").parse::<UserId>().is_err());
        assert!(a.to_uppercase().parse::<UserId>().is_err());
        assert!(a[..a.len() - 1].parse::<UserId>().is_err());
        assert!("usr_".parse::<UserId>().is_err());
        assert!(
            "usr_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
                .parse::<UserId>()
                .is_err()
        );
        assert!("".parse::<UserId>().is_err());
    }
}
