//! Signing up, logging in, browser sessions.

use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::model::account::{self, AccountType, Email, User, check_new_password};
use crate::model::fields::{FieldErrors, check_text};
use crate::model::ids::{SessionId, UserId};
use crate::model::outbox::DomainEvent;
use crate::model::profile::{NAME_MAX, Profile};
use crate::model::ratelimit::{MAX_OVERRIDE, RateClass};
use crate::model::session::{self, SessionRecord};
use crate::ports::{Db, StoreError};

#[derive(Clone)]
pub struct Signup {
    pub email: String,
    pub password: String,
    pub name: String,
    pub account_type: String,
}

impl std::fmt::Debug for Signup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signup")
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .field("name", &self.name)
            .field("account_type", &self.account_type)
            .finish()
    }
}

/// A signup that passed validation, waiting for its password to be hashed.
pub struct ValidSignup {
    email: Email,
    account_type: AccountType,
    name: String,
    password: String,
}

/// A signup ready to store: the password is hashed.
pub struct HashedSignup {
    user: User,
    profile: Profile,
}

/// Checks every field of a signup (cheap; no hashing).
pub fn validate_signup(input: Signup) -> Result<ValidSignup, Error> {
    let mut e = FieldErrors::new();
    let email = Email::parse(&input.email)
        .map_err(|m| e.add("email", m))
        .ok();
    if let Err(m) = check_new_password(&input.password) {
        e.add("password", m);
    }
    check_text(&mut e, "name", &input.name, NAME_MAX);
    let account_type = input
        .account_type
        .parse::<AccountType>()
        .map_err(|()| e.add("account_type", "must be seeker or recruiter"))
        .ok();
    e.into_result()?;
    let (Some(email), Some(account_type)) = (email, account_type) else {
        unreachable!("validated above")
    };
    Ok(ValidSignup {
        email,
        account_type,
        name: input.name.trim().to_owned(),
        password: input.password,
    })
}

impl ValidSignup {
    /// Hashes the password: argon2id is deliberately slow (tens of milliseconds), so callers
    /// on an async runtime run this on a blocking thread.
    pub fn hash(self, now: DateTime<Utc>) -> HashedSignup {
        let password_hash = account::hash_password(&self.password);
        let user = User {
            id: UserId::new(),
            email: self.email,
            account_type: self.account_type,
            password_hash,
            created_at: now,
        };
        HashedSignup {
            user,
            profile: Profile {
                name: self.name,
                ..Default::default()
            },
        }
    }
}

/// Stores a hashed signup: the account and its empty profile.
pub async fn create_account(db: &Db, signup: HashedSignup) -> Result<User, Error> {
    let HashedSignup { user, profile } = signup;
    let created = user.clone();
    db.transaction(move |repo| {
        Box::pin(async move {
            match repo.insert_user(&user, &profile).await {
                Ok(()) => Ok(()),
                Err(StoreError::Conflict(_)) => Err(Error::field("email", "is already registered")),
                Err(other) => Err(other.into()),
            }
        })
    })
    .await?;
    Ok(created)
}

/// Validates and creates an account with an empty profile, hashing inline (for the CLI and
/// tests; request handlers hash on a blocking thread).
pub async fn signup(db: &Db, input: Signup, now: DateTime<Utc>) -> Result<User, Error> {
    let valid = validate_signup(input)?;
    create_account(db, valid.hash(now)).await
}

/// The account a login names, if any (the first, cheap half of a login).
pub async fn find_login(db: &Db, email: &str) -> Result<Option<User>, Error> {
    match Email::parse(email) {
        Ok(email) => {
            db.read(move |repo| {
                Box::pin(async move { repo.user_by_email(&email).await.map_err(Error::from) })
            })
            .await
        }
        Err(_) => Ok(None),
    }
}

/// The slow half of a login: verifies the password. An unknown account costs the same hash
/// verification as a wrong password and yields the same error, so the two cannot be told
/// apart.
pub fn check_login(user: Option<User>, password: &str) -> Result<User, Error> {
    let phc = user
        .as_ref()
        .map_or(account::decoy_hash(), |u| u.password_hash.as_str())
        .to_owned();
    let verified = account::verify_password(password, &phc);
    match user {
        Some(u) if verified => Ok(u),
        _ => Err(Error::InvalidCredentials),
    }
}

/// Checks email and password inline (for the CLI and tests).
pub async fn login(db: &Db, email: &str, password: &str) -> Result<User, Error> {
    check_login(find_login(db, email).await?, password)
}

/// A new browser session for a user: returns the cookie secret (shown only to the browser).
pub async fn start_session(
    db: &Db,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<(String, SessionRecord), Error> {
    let secret = session::random_secret();
    let record = SessionRecord {
        id: SessionId::new(),
        user_id: user,
        secret_hash: session::hash_secret(&secret),
        csrf_token: session::random_secret(),
        created_at: now,
        expires_at: now + session::lifetime(),
    };
    let stored = record.clone();
    db.transaction(move |repo| {
        Box::pin(async move { repo.insert_session(&stored).await.map_err(Error::from) })
    })
    .await?;
    Ok((secret, record))
}

/// The session and user behind a cookie secret, if it is live.
pub async fn resolve_session(
    db: &Db,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<Option<(SessionRecord, User)>, Error> {
    if secret.is_empty() || secret.len() > 128 {
        return Ok(None);
    }
    let hash = session::hash_secret(secret);
    db.read(move |repo| {
        Box::pin(async move { repo.session_by_hash(&hash, now).await.map_err(Error::from) })
    })
    .await
}

pub async fn end_session(db: &Db, secret: &str) -> Result<(), Error> {
    let hash = session::hash_secret(secret);
    db.transaction(move |repo| {
        Box::pin(async move { repo.delete_session(&hash).await.map_err(Error::from) })
    })
    .await
}

/// Sets (or with `None` clears) an account's own limit for one rate-limit class: the
/// operator's lever for partner integrations and load tests.
pub async fn set_rate_limit(
    db: &Db,
    email: &str,
    class: &str,
    per_minute: Option<u32>,
    now: DateTime<Utc>,
) -> Result<User, Error> {
    let mut e = FieldErrors::new();
    let email = Email::parse(email).map_err(|m| e.add("email", m)).ok();
    let class = class
        .parse::<RateClass>()
        .map_err(|m| e.add("class", m))
        .ok();
    if per_minute.is_some_and(|n| n == 0 || n > MAX_OVERRIDE) {
        e.add(
            "per_minute",
            format!("must be between 1 and {MAX_OVERRIDE}"),
        );
    }
    e.into_result()?;
    let (Some(email), Some(class)) = (email, class) else {
        unreachable!("validated above")
    };
    db.transaction(move |repo| {
        Box::pin(async move {
            let user = repo.user_by_email(&email).await?.ok_or(Error::NotFound)?;
            repo.set_rate_limit(user.id, class, per_minute).await?;
            // Every server process forgets the account's cached tokens, which carry limits.
            repo.append_outbox(&[DomainEvent::access_changed(user.id, now)])
                .await?;
            Ok(user)
        })
    })
    .await
}
