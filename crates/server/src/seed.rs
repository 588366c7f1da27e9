//! Demo data for the embedded default: a recruiter and a seeker with tokens, printed at start
//! so the API can be tried at once.

use std::sync::Arc;

use jobby_domain::model::account::Email;
use jobby_domain::model::scopes::grantable;
use jobby_domain::ports::{Clock, Db};
use jobby_domain::usecases::{accounts, tokens};

pub const DEMO_PASSWORD: &str = "jobby-demo-password";

pub async fn demo(db: &Db, clock: &Arc<dyn Clock>, public_url: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    println!("Demo accounts (password `{DEMO_PASSWORD}`; log in at {public_url}/account/login):");
    for (email, name, kind) in [("recruiter@demo.jobby.dev", "Riley Recruiter", "recruiter"), ("seeker@demo.jobby.dev", "Sam Seeker", "seeker")] {
        let parsed = Email::parse(email).map_err(|m| format!("demo email {m}"))?;
        let existing = db.read(move |r| Box::pin(async move { r.user_by_email(&parsed).await.map_err(jobby_domain::Error::from) })).await?;
        let user = match existing {
            Some(u) => u,
            None => {
                let input = accounts::Signup { email: email.into(), password: DEMO_PASSWORD.into(), name: name.into(), account_type: kind.into() };
                accounts::signup(db, input, clock.now()).await?
            }
        };
        let scopes: Vec<String> = grantable(user.account_type).map(|s| s.as_str().to_owned()).collect();
        let req = tokens::MintRequest { name: "demo".into(), scopes, expires_in_days: Some(30) };
        let now = clock.now();
        let owner = user.clone();
        let (plain, _) = db.transaction(move |r| Box::pin(async move { tokens::mint(r, &owner, req, now).await })).await?;
        println!("  {kind:<9} {email:<26} token {}", plain.expose());
    }
    Ok(())
}
