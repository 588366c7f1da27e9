//! Demo data for the embedded default: a recruiter and a seeker with tokens, printed at start
//! as shell exports so the README walkthrough runs at once.

use std::sync::Arc;

use jobby_domain::model::account::{Email, User};
use jobby_domain::model::scopes::grantable;
use jobby_domain::ports::{Clock, Db};
use jobby_domain::usecases::{accounts, tokens};

pub const DEMO_PASSWORD: &str = "jobby-demo-password";

type Fallible<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn account(
    db: &Db,
    clock: &Arc<dyn Clock>,
    email: &str,
    name: &str,
    kind: &str,
) -> Fallible<User> {
    let parsed = Email::parse(email).map_err(|m| format!("demo email {m}"))?;
    let existing = db
        .read(move |r| {
            Box::pin(async move {
                r.user_by_email(&parsed)
                    .await
                    .map_err(jobby_domain::Error::from)
            })
        })
        .await?;
    match existing {
        Some(u) => Ok(u),
        None => {
            let input = accounts::Signup {
                email: email.into(),
                password: DEMO_PASSWORD.into(),
                name: name.into(),
                account_type: kind.into(),
            };
            Ok(accounts::signup(db, input, clock.now()).await?)
        }
    }
}

async fn token(
    db: &Db,
    clock: &Arc<dyn Clock>,
    owner: &User,
    name: &str,
    scopes: Vec<String>,
) -> Fallible<String> {
    let req = tokens::MintRequest {
        name: name.into(),
        scopes,
        expires_in_days: Some(30),
    };
    let now = clock.now();
    let owner = owner.clone();
    let (plain, _) = db
        .transaction(move |r| Box::pin(async move { tokens::mint(r, &owner, req, now).await }))
        .await?;
    Ok(plain.expose().to_owned())
}

pub async fn demo(db: &Db, clock: &Arc<dyn Clock>, public_url: &str) -> Fallible<()> {
    let recruiter = account(
        db,
        clock,
        "recruiter@demo.jobby.dev",
        "Riley Recruiter",
        "recruiter",
    )
    .await?;
    let seeker = account(db, clock, "seeker@demo.jobby.dev", "Sam Seeker", "seeker").await?;
    let all = |u: &User| {
        grantable(u.account_type)
            .map(|s| s.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let recruiter_token = token(db, clock, &recruiter, "demo", all(&recruiter)).await?;
    let seeker_token = token(db, clock, &seeker, "demo", all(&seeker)).await?;
    let narrow_token = token(
        db,
        clock,
        &seeker,
        "demo narrow",
        vec!["profile:read".into()],
    )
    .await?;
    println!(
        "Demo accounts: recruiter@demo.jobby.dev and seeker@demo.jobby.dev, password `{DEMO_PASSWORD}` ({public_url}/account/login)."
    );
    println!(
        "Demo tokens (every scope of the account, 30 days; the narrow one has only profile:read):"
    );
    println!("export JOBBY={public_url}");
    println!("export RECRUITER_TOKEN={recruiter_token}");
    println!("export SEEKER_TOKEN={seeker_token}");
    println!("export NARROW_TOKEN={narrow_token}");
    Ok(())
}
