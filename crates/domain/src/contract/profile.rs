//! Profiles, settings and allowlists.

use super::{create_user, mint, now};
use crate::model::account::AccountType;
use crate::model::profile::{Profile, Settings};
use crate::model::scopes::Scope;
use crate::ports::{Database, Db};
use ipnet::IpNet;
use std::sync::Arc;

pub async fn profile_settings_allowlist_round_trip(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let u = create_user(&db, "p@example.com", AccountType::Recruiter).await;
    let uid = u.id;
    let profile = Profile {
        name: "Grace".into(),
        headline: Some("Admiral".into()),
        skills: vec!["COBOL".into(), "compilers".into()],
        location: Some("Arlington".into()),
        links: vec!["https://example.com/grace".into()],
        resume_text: Some("Line one\nLine two".into()),
        company: Some("Navy".into()),
    };
    let p2 = profile.clone();
    db.transaction(move |r| Box::pin(async move { r.save_profile(uid, &p2).await }))
        .await
        .unwrap();
    assert_eq!(
        db.read(move |r| Box::pin(async move { r.profile(uid).await }))
            .await
            .unwrap(),
        profile
    );

    assert_eq!(
        db.read(move |r| Box::pin(async move { r.settings(uid).await }))
            .await
            .unwrap(),
        Settings::default()
    );
    let mut settings = Settings {
        timezone: "Europe/Berlin".into(),
        ..Default::default()
    };
    settings
        .notifications
        .get_mut("match.created")
        .unwrap()
        .email = false;
    let s2 = settings.clone();
    db.transaction(move |r| Box::pin(async move { r.save_settings(uid, &s2).await }))
        .await
        .unwrap();
    assert_eq!(
        db.read(move |r| Box::pin(async move { r.settings(uid).await }))
            .await
            .unwrap(),
        settings
    );

    let nets: Vec<IpNet> = vec![
        "192.0.2.0/24".parse().unwrap(),
        "2001:db8::/32".parse().unwrap(),
    ];
    let n2 = nets.clone();
    db.transaction(move |r| Box::pin(async move { r.save_allowlist(uid, &n2).await }))
        .await
        .unwrap();
    assert_eq!(
        db.read(move |r| Box::pin(async move { r.allowlist(uid).await }))
            .await
            .unwrap(),
        nets
    );
    let (plain, _) = mint(&db, &u, &[Scope::ProfileRead], None).await;
    let p = db
        .inner()
        .find_token(&plain.hash(), now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        p.allowlist, nets,
        "the principal carries the owner's allowlist"
    );
}
