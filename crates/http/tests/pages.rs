//! The account pages, driven as a browser would: forms, cookies and CSRF tokens.

mod common;

use actix_web::cookie::Cookie;
use actix_web::test::{self, TestRequest};
use common::*;

fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("a csrf_token field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

fn new_token_in(html: &str) -> Option<String> {
    let marker = "id=\"new-token\">";
    let start = html.find(marker)? + marker.len();
    Some(html[start..].split('<').next()?.to_owned())
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn post(uri: &str, body: String) -> TestRequest {
    TestRequest::post()
        .uri(uri)
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(body)
}

macro_rules! call {
    ($app:expr, $req:expr) => {{
        let resp = test::call_service(&$app, $req.to_request()).await;
        let status = resp.status().as_u16();
        let cookies: Vec<Cookie<'static>> =
            resp.response().cookies().map(|c| c.into_owned()).collect();
        let location = resp
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
        (status, cookies, location, body)
    }};
}

fn cookie<'a>(cookies: &'a [Cookie<'static>], name: &str) -> &'a Cookie<'static> {
    cookies
        .iter()
        .find(|c| c.name() == name)
        .unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"))
}

#[actix_web::test]
async fn signup_mint_use_revoke_logout() {
    let st = state();
    let app = test::init_service(jobby_http::build_app(st.clone())).await;

    let (status, cookies, _, html) = call!(app, TestRequest::get().uri("/account/signup"));
    assert_eq!(status, 200);
    let pre = cookie(&cookies, "jobby_csrf").clone();
    assert_eq!(pre.http_only(), Some(true));
    let csrf = csrf_in(&html);
    assert_eq!(csrf, pre.value());

    let fields = |csrf: &str| {
        form(&[
            ("email", "New@Example.com"),
            ("password", "a long password"),
            ("name", "Nia"),
            ("account_type", "seeker"),
            ("csrf_token", csrf),
        ])
    };
    // No pre-session cookie, or a token that does not match it: refused, nothing created.
    let (status, _, _, _) = call!(app, post("/account/signup", fields(&csrf)));
    assert_eq!(status, 403);
    let (status, _, _, _) = call!(
        app,
        post("/account/signup", fields("forged")).cookie(pre.clone())
    );
    assert_eq!(status, 403);
    // A valid token sent from another site: refused, by what the browser says of it.
    for (name, value) in [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("origin", "https://evil.example"),
        ("origin", "null"),
    ] {
        let (status, _, _, _) = call!(
            app,
            post("/account/signup", fields(&csrf))
                .cookie(pre.clone())
                .insert_header((name, value))
        );
        assert_eq!(status, 403, "{name}: {value}");
    }
    // Bad input re-renders the form with the errors.
    let bad = form(&[
        ("email", "nope"),
        ("password", "short"),
        ("name", ""),
        ("account_type", "admin"),
        ("csrf_token", &csrf),
    ]);
    let (status, _, _, html) = call!(app, post("/account/signup", bad).cookie(pre.clone()));
    assert_eq!(status, 400);
    for word in ["email", "password", "name", "account type"] {
        assert!(
            html.contains(&format!("<li>{word}:")),
            "{word} error missing"
        );
    }

    // The browser says it is Jobby's own page: accepted.
    let (status, cookies, location, _) = call!(
        app,
        post("/account/signup", fields(&csrf))
            .cookie(pre.clone())
            .insert_header(("origin", "http://jobby.test"))
            .insert_header(("sec-fetch-site", "same-origin"))
    );
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some("/account/api-tokens"));
    let session = cookie(&cookies, "jobby_session").clone();
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(session.same_site(), Some(actix_web::cookie::SameSite::Lax));
    assert_ne!(session.secure(), Some(true), "http public URL: not Secure");

    // The same email again (any case) is taken.
    let (status, _, _, html) = call!(
        app,
        post(
            "/account/signup",
            form(&[
                ("email", "new@example.COM"),
                ("password", "a long password"),
                ("name", "Nia"),
                ("account_type", "seeker"),
                ("csrf_token", &csrf)
            ])
        )
        .cookie(pre.clone())
    );
    assert_eq!(status, 400);
    assert!(html.contains("already registered"));

    let (status, _, _, html) = call!(
        app,
        TestRequest::get()
            .uri("/account/api-tokens")
            .cookie(session.clone())
    );
    assert_eq!(status, 200);
    assert!(
        !html.contains("value=\"events:read\""),
        "seekers are not offered recruiter scopes"
    );
    let scsrf = csrf_in(&html);

    let mint = |csrf: &str, scopes: &[&str]| {
        let mut pairs = vec![
            ("name", "agent"),
            ("expires_in_days", "30"),
            ("csrf_token", csrf),
        ];
        pairs.extend(scopes.iter().map(|s| ("scopes", *s)));
        post("/account/api-tokens", form(&pairs))
    };
    let (status, _, _, _) = call!(
        app,
        mint("wrong", &["profile:read"]).cookie(session.clone())
    );
    assert_eq!(status, 403, "CSRF");
    let (status, _, _, _) = call!(
        app,
        mint(&scsrf, &["profile:read"])
            .cookie(session.clone())
            .insert_header(("origin", "https://evil.example"))
    );
    assert_eq!(status, 403, "the right token from another site");
    let (status, _, _, html) = call!(
        app,
        mint(&scsrf, &["profile:read", "events:read"]).cookie(session.clone())
    );
    assert_eq!(status, 400, "recruiter scope on a seeker");
    assert!(new_token_in(&html).is_none());
    let resp = test::call_service(
        &app,
        mint(&scsrf, &["profile:read", "queue:read"])
            .cookie(session.clone())
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 201);
    assert_eq!(
        resp.headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store"),
        "the page that shows a new token once is never cached"
    );
    let html = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    let token = new_token_in(&html).expect("the token is shown once");
    assert!(token.starts_with("jbb_") && token.len() == 40);

    let (status, _, body) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/tokens/self")
            .insert_header(bearer(&token)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["scopes"],
        serde_json::json!(["profile:read", "queue:read"])
    );
    assert!(body["expires_at"].is_string());

    let (_, _, _, html) = call!(
        app,
        TestRequest::get()
            .uri("/account/api-tokens")
            .cookie(session.clone())
    );
    assert!(!html.contains(&token), "never shown again");
    assert!(html.contains(&token[token.len() - 4..]));
    let id_marker = "data-token-id=\"";
    let start = html.find(id_marker).unwrap() + id_marker.len();
    let token_id = html[start..].split('"').next().unwrap().to_owned();

    let (status, _, _, _) = call!(
        app,
        post(
            &format!("/account/api-tokens/{token_id}/revoke"),
            form(&[("csrf_token", "nope")])
        )
        .cookie(session.clone())
    );
    assert_eq!(status, 403);
    let (status, _, location, _) = call!(
        app,
        post(
            &format!("/account/api-tokens/{token_id}/revoke"),
            form(&[("csrf_token", &scsrf)])
        )
        .cookie(session.clone())
    );
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/account/api-tokens"))
    );
    let (status, _, _) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/tokens/self")
            .insert_header(bearer(&token)),
    )
    .await;
    assert_eq!(status, 401);

    let (status, _, _, _) = call!(
        app,
        post("/account/logout", form(&[("csrf_token", "nope")])).cookie(session.clone())
    );
    assert_eq!(status, 403);
    let (status, cookies, location, _) = call!(
        app,
        post("/account/logout", form(&[("csrf_token", &scsrf)])).cookie(session.clone())
    );
    assert_eq!((status, location.as_deref()), (303, Some("/account/login")));
    assert_eq!(cookie(&cookies, "jobby_session").value(), "");
    let (status, _, location, _) = call!(
        app,
        TestRequest::get()
            .uri("/account/api-tokens")
            .cookie(session.clone())
    );
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/account/login")),
        "the old session is gone"
    );
}

#[actix_web::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let st = state();
    user(
        &st,
        "known@example.com",
        jobby_domain::model::account::AccountType::Recruiter,
    )
    .await;
    let app = test::init_service(jobby_http::build_app(st.clone())).await;
    let (_, cookies, _, html) = call!(app, TestRequest::get().uri("/account/login"));
    let pre = cookie(&cookies, "jobby_csrf").clone();
    let csrf = csrf_in(&html);
    let attempt = |email: &str, password: &str| {
        post(
            "/account/login",
            form(&[
                ("email", email),
                ("password", password),
                ("csrf_token", &csrf),
            ]),
        )
        .cookie(pre.clone())
    };
    let (s1, c1, _, wrong) = call!(app, attempt("known@example.com", "not the password"));
    let (s2, c2, _, unknown) = call!(app, attempt("nobody@example.com", "not the password"));
    assert_eq!((s1, s2), (401, 401));
    assert!(c1.is_empty() && c2.is_empty(), "no session either way");
    assert_eq!(
        wrong.replace("known@example.com", "E"),
        unknown.replace("nobody@example.com", "E")
    );
    let (status, _, _, _) = call!(
        app,
        post(
            "/account/login",
            form(&[
                ("email", "known@example.com"),
                ("password", "correct horse battery")
            ])
        )
        .cookie(pre.clone())
    );
    assert_eq!(status, 403, "login needs its CSRF token");
    let (status, cookies, location, _) =
        call!(app, attempt("KNOWN@example.com", "correct horse battery"));
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/account/api-tokens"))
    );
    assert!(!cookie(&cookies, "jobby_session").value().is_empty());
}

#[actix_web::test]
async fn cookies_are_secure_behind_https() {
    let st = state_with(jobby_http::HttpConfig::new("https://jobby.example"));
    let app = test::init_service(jobby_http::build_app(st.clone())).await;
    let (_, cookies, _, _) = call!(app, TestRequest::get().uri("/account/login"));
    assert_eq!(cookie(&cookies, "jobby_csrf").secure(), Some(true));
}

/// The login and signup forms' CSRF token is one the server issued: a cookie and field the
/// client makes up, however well they match, are refused, and so is a token another
/// deployment signed. Every process of one deployment (one key) accepts the others' tokens.
#[actix_web::test]
async fn pre_session_tokens_are_the_servers_own() {
    let key = jobby_domain::model::server_key::ServerKey::from_config(
        "one deployment's key, shared by every process",
    )
    .unwrap();
    let process = |key: &jobby_domain::model::server_key::ServerKey| {
        state_with(jobby_http::HttpConfig {
            secret_key: key.clone(),
            ..jobby_http::HttpConfig::new("http://jobby.test")
        })
    };
    let a = process(&key);
    // A second process of the deployment: its own state and key material, the same store.
    let b = jobby_http::AppState::new(
        a.db.clone(),
        a.limiter.clone(),
        a.video.clone(),
        a.clock.clone(),
        jobby_http::HttpConfig {
            secret_key: key.clone(),
            ..jobby_http::HttpConfig::new("http://jobby.test")
        },
        jobby_http::TokenCache::default(),
    );
    let app_a = test::init_service(jobby_http::build_app(a.clone())).await;
    let app_b = test::init_service(jobby_http::build_app(b.clone())).await;
    user(
        &a,
        "pre@example.com",
        jobby_domain::model::account::AccountType::Seeker,
    )
    .await;
    let login = |csrf: &str| {
        form(&[
            ("email", "pre@example.com"),
            ("password", "correct horse battery"),
            ("csrf_token", csrf),
        ])
    };

    // Made up by the client: a well-formed random value in both places.
    let made_up = jobby_domain::model::session::random_secret();
    let (status, _, _, _) = call!(
        app_a,
        post("/account/login", login(&made_up)).cookie(Cookie::new("jobby_csrf", made_up.clone()))
    );
    assert_eq!(status, 403);
    // A form page given such a cookie replaces it with an issued one.
    let (_, cookies, _, issued_html) = call!(
        app_a,
        TestRequest::get()
            .uri("/account/login")
            .cookie(Cookie::new("jobby_csrf", made_up.clone()))
    );
    let issued = cookie(&cookies, "jobby_csrf").clone();
    assert_ne!(issued.value(), made_up);
    assert_eq!(csrf_in(&issued_html), issued.value());

    // Signed by another deployment's key.
    let other = process(&jobby_domain::model::server_key::ServerKey::random());
    let app_other = test::init_service(jobby_http::build_app(other)).await;
    let (_, cookies, _, html) = call!(app_other, TestRequest::get().uri("/account/login"));
    let foreign = cookie(&cookies, "jobby_csrf").clone();
    let (status, _, _, _) = call!(
        app_a,
        post("/account/login", login(&csrf_in(&html))).cookie(foreign)
    );
    assert_eq!(status, 403);

    // Issued by process A, posted to process B of the same deployment: accepted.
    let (status, cookies, location, _) = call!(
        app_b,
        post("/account/login", login(&csrf_in(&issued_html))).cookie(issued)
    );
    assert_eq!(status, 303, "{location:?}");
    cookie(&cookies, "jobby_session");
}
