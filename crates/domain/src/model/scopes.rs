//! Token scopes. A `:write` scope does not imply `:read`; recruiter-only scopes cannot be
//! granted to seeker accounts. There is deliberately no scope that accepts a match.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use super::account::AccountType;

macro_rules! scopes {
    ($($variant:ident => $name:literal, recruiter_only = $rec:literal;)*) => {
        /// One permission a personal access token may carry.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Scope { $($variant,)* }

        impl Scope {
            pub const ALL: &'static [Scope] = &[$(Scope::$variant,)*];

            pub const fn as_str(self) -> &'static str {
                match self { $(Scope::$variant => $name,)* }
            }

            /// Only recruiter accounts may hold this scope.
            pub const fn recruiter_only(self) -> bool {
                match self { $(Scope::$variant => $rec,)* }
            }
        }

        impl FromStr for Scope {
            type Err = UnknownScope;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s { $($name => Ok(Scope::$variant),)* _ => Err(UnknownScope(s.to_owned())) }
            }
        }
    };
}

scopes! {
    ProfileRead => "profile:read", recruiter_only = false;
    ProfileWrite => "profile:write", recruiter_only = false;
    QueueRead => "queue:read", recruiter_only = false;
    QueueWrite => "queue:write", recruiter_only = false;
    MatchesRead => "matches:read", recruiter_only = false;
    MatchesWrite => "matches:write", recruiter_only = false;
    BillingRead => "billing:read", recruiter_only = false;
    BillingWrite => "billing:write", recruiter_only = false;
    WebhooksRead => "webhooks:read", recruiter_only = false;
    WebhooksWrite => "webhooks:write", recruiter_only = false;
    SettingsRead => "settings:read", recruiter_only = false;
    SettingsWrite => "settings:write", recruiter_only = false;
    EventsRead => "events:read", recruiter_only = true;
    EventsWrite => "events:write", recruiter_only = true;
    JobsRead => "jobs:read", recruiter_only = true;
    JobsWrite => "jobs:write", recruiter_only = true;
    CandidatesRead => "candidates:read", recruiter_only = true;
    CandidatesWrite => "candidates:write", recruiter_only = true;
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope `{0}`")]
pub struct UnknownScope(pub String);

/// The scopes of one token: a set, kept in a stable order.
pub type ScopeSet = BTreeSet<Scope>;

/// Why a set of scopes cannot be granted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeGrantError {
    #[error("a token needs at least one scope")]
    Empty,
    #[error("scope `{0}` is for recruiter accounts only")]
    RecruiterOnly(Scope),
}

/// The rule for minting: at least one scope, and no recruiter scope on a seeker account.
pub fn check_grant(account: AccountType, scopes: &ScopeSet) -> Result<(), ScopeGrantError> {
    if scopes.is_empty() {
        return Err(ScopeGrantError::Empty);
    }
    if account == AccountType::Seeker
        && let Some(s) = scopes.iter().find(|s| s.recruiter_only())
    {
        return Err(ScopeGrantError::RecruiterOnly(*s));
    }
    Ok(())
}

/// The scopes an account type may be granted, in display order.
pub fn grantable(account: AccountType) -> impl Iterator<Item = Scope> {
    Scope::ALL
        .iter()
        .copied()
        .filter(move |s| account == AccountType::Recruiter || !s.recruiter_only())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>().unwrap(), *s);
        }
        assert!("matches:accept".parse::<Scope>().is_err());
    }

    #[test]
    fn seekers_cannot_hold_recruiter_scopes() {
        let set: ScopeSet = [Scope::ProfileRead, Scope::EventsWrite].into();
        assert_eq!(
            check_grant(AccountType::Seeker, &set),
            Err(ScopeGrantError::RecruiterOnly(Scope::EventsWrite))
        );
        assert_eq!(check_grant(AccountType::Recruiter, &set), Ok(()));
        assert_eq!(
            check_grant(AccountType::Recruiter, &ScopeSet::new()),
            Err(ScopeGrantError::Empty)
        );
        assert!(grantable(AccountType::Seeker).all(|s| !s.recruiter_only()));
        assert_eq!(grantable(AccountType::Recruiter).count(), Scope::ALL.len());
    }
}
