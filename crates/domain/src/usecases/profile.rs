//! Profile, settings and the IP allowlist.

use std::net::IpAddr;

use ipnet::IpNet;

use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::model::account::AccountType;
use crate::model::fields::FieldErrors;
use crate::model::ids::UserId;
use crate::model::network::{ALLOWLIST_MAX, allowed, parse_cidr};
use crate::model::outbox::DomainEvent;
use crate::model::profile::{Profile, ProfilePatch, Settings, SettingsPatch};
use crate::ports::Repo;

pub async fn update_profile(
    repo: &mut dyn Repo,
    user: UserId,
    account: AccountType,
    patch: ProfilePatch,
) -> Result<Profile, Error> {
    let mut profile = repo.profile(user).await?;
    patch.apply(account, &mut profile)?;
    repo.save_profile(user, &profile).await?;
    Ok(profile)
}

pub async fn update_settings(
    repo: &mut dyn Repo,
    user: UserId,
    patch: SettingsPatch,
) -> Result<Settings, Error> {
    let mut settings = repo.settings(user).await?;
    patch.apply(&mut settings)?;
    repo.save_settings(user, &settings).await?;
    Ok(settings)
}

/// Validates a new allowlist. Refuses one that would shut out the caller's own address.
pub fn validate_allowlist(raw: &[String], caller: IpAddr) -> Result<Vec<IpNet>, Error> {
    let mut e = FieldErrors::new();
    if raw.len() > ALLOWLIST_MAX {
        e.add("cidrs", format!("at most {ALLOWLIST_MAX} entries"));
    }
    let mut nets = Vec::with_capacity(raw.len());
    for (i, s) in raw.iter().enumerate() {
        match parse_cidr(s) {
            Some(n) if !nets.contains(&n) => nets.push(n),
            Some(_) => {}
            None => e.add(
                format!("cidrs[{i}]"),
                "must be an IPv4 or IPv6 address or CIDR block",
            ),
        }
    }
    e.into_result()?;
    if !allowed(&nets, caller) {
        return Err(Error::field(
            "cidrs",
            format!(
                "would exclude your current address {caller}; include it so you are not locked out"
            ),
        ));
    }
    Ok(nets)
}

/// Replaces the account's IP allowlist; every server process hears of it through the outbox
/// and forgets the account's cached tokens.
pub async fn replace_allowlist(
    repo: &mut dyn Repo,
    user: UserId,
    raw: &[String],
    caller: IpAddr,
    now: DateTime<Utc>,
) -> Result<Vec<IpNet>, Error> {
    let nets = validate_allowlist(raw, caller)?;
    repo.save_allowlist(user, &nets).await?;
    repo.append_outbox(&[DomainEvent::access_changed(user, now)])
        .await?;
    Ok(nets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anti_lockout() {
        let me: IpAddr = "198.51.100.7".parse().unwrap();
        assert!(validate_allowlist(&["198.51.100.0/24".into()], me).is_ok());
        assert!(validate_allowlist(&[], me).unwrap().is_empty());
        let err = validate_allowlist(&["10.0.0.0/8".into()], me).unwrap_err();
        assert!(matches!(err, Error::Validation(f) if f.0["cidrs"].contains("198.51.100.7")));
        assert!(
            matches!(validate_allowlist(&["10.0.0.0/99".into()], me), Err(Error::Validation(f)) if f.0.contains_key("cidrs[0]"))
        );
    }
}
