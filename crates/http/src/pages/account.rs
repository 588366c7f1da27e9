use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use jobby_domain::Error;
use jobby_domain::model::account::User;
use jobby_domain::model::ids::TokenId;
use jobby_domain::model::ratelimit::{Quota, RateClass};
use jobby_domain::model::scopes::grantable;
use jobby_domain::model::session::{self, COOKIE_NAME, PRE_SESSION_COOKIE, SessionRecord};
use jobby_domain::model::token::DEFAULT_EXPIRY_DAYS;
use jobby_domain::ports::BucketKey;
use jobby_domain::usecases::{accounts, tokens};

use super::html::{errors, esc, page};
use crate::AppState;
use crate::mw::caller_ip;
use jobby_domain::model::network::bucket_subject;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/account/signup", web::get().to(signup_form))
        .route("/account/signup", web::post().to(signup))
        .route("/account/login", web::get().to(login_form))
        .route("/account/login", web::post().to(login))
        .route("/account/logout", web::post().to(logout))
        .route("/account/api-tokens", web::get().to(tokens_page))
        .route("/account/api-tokens", web::post().to(mint_token))
        .route(
            "/account/api-tokens/{id}/revoke",
            web::post().to(revoke_token),
        );
}

pub(super) type Form = Vec<(String, String)>;

fn field<'f>(form: &'f Form, name: &str) -> &'f str {
    form.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

fn parse_form(req: &HttpRequest, body: &[u8]) -> Option<Form> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    {
        return None;
    }
    Some(form_urlencoded::parse(body).into_owned().collect())
}

fn bad_form() -> HttpResponse {
    page(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Unsupported form",
        "<h1>Unsupported form</h1><p>Forms must be sent as application/x-www-form-urlencoded.</p>",
    )
}

fn cookie<'c>(
    state: &AppState,
    name: &'c str,
    value: String,
    max_age: CookieDuration,
) -> Cookie<'c> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.secure_cookies())
        .max_age(max_age)
        .finish()
}

pub(super) fn see_other(location: &str) -> actix_web::HttpResponseBuilder {
    let mut r = HttpResponse::SeeOther();
    r.insert_header((header::LOCATION, location.to_owned()));
    r
}

/// The pre-session CSRF token: the cookie's, or a fresh one (to be set on the response).
fn pre_session_csrf(req: &HttpRequest) -> (String, bool) {
    match req.cookie(PRE_SESSION_COOKIE) {
        Some(c)
            if c.value().len() == 43 && c.value().bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            (c.value().to_owned(), false)
        }
        _ => (session::random_secret(), true),
    }
}

/// Whether a state-changing browser request comes from another site: the browser says so
/// (`Sec-Fetch-Site` other than `same-origin` or `none`), or its `Origin` is not Jobby's
/// public origin. Requests that carry neither header (older browsers, scripts) are left to
/// the CSRF token alone.
pub(crate) fn cross_site(state: &AppState, req: &HttpRequest) -> bool {
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        return origin.to_str().ok() != Some(public_origin(&state.config.public_url));
    }
    false
}

/// `scheme://host[:port]` of the public URL.
fn public_origin(public_url: &str) -> &str {
    let after_scheme = public_url.find("://").map_or(0, |i| i + 3);
    match public_url[after_scheme..].find('/') {
        Some(i) => &public_url[..after_scheme + i],
        None => public_url,
    }
}

fn pre_session_ok(state: &AppState, req: &HttpRequest, form: &Form) -> bool {
    !cross_site(state, req)
        && req.cookie(PRE_SESSION_COOKIE).is_some_and(|c| {
            !c.value().is_empty() && session::secrets_match(c.value(), field(form, "csrf_token"))
        })
}

fn with_pre_session(
    state: &AppState,
    mut resp: HttpResponse,
    csrf: String,
    fresh: bool,
) -> HttpResponse {
    if fresh {
        let _ = resp.add_cookie(&cookie(
            state,
            PRE_SESSION_COOKIE,
            csrf,
            CookieDuration::hours(12),
        ));
    }
    resp
}

fn csrf_refused() -> HttpResponse {
    page(
        StatusCode::FORBIDDEN,
        "Form expired",
        "<h1>This form has expired</h1><p>The form's security token did not match (CSRF_FAILED). Go back, reload the page and try again.</p>",
    )
}

pub(super) fn server_error() -> HttpResponse {
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Error",
        "<h1>Something went wrong</h1><p>Please try again.</p>",
    )
}

/// Counts a login or signup attempt against the client address (anonymous class).
async fn attempt_allowed(
    state: &AppState,
    req: &HttpRequest,
    route: &str,
) -> Result<(), HttpResponse> {
    let key = BucketKey {
        class: RateClass::Anonymous.as_str(),
        // The same per-address subject as the API's anonymous class (IPv6 per /64).
        subject: bucket_subject(caller_ip(req)),
        route: route.into(),
    };
    match state
        .limiter
        .check(
            &key,
            Quota::per_minute(RateClass::Anonymous.default_limit()),
        )
        .await
    {
        Ok(d) if !d.allowed => Err(page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            &format!(
                "<h1>Too many attempts</h1><p>Please wait {} seconds and try again.</p>",
                d.retry_after_secs()
            ),
        )
        .customize()
        .insert_header((header::RETRY_AFTER, d.retry_after_secs().to_string()))
        .respond_to(req)
        .map_into_boxed_body()),
        // Fail open for humans logging in, as for the read/write classes.
        _ => Ok(()),
    }
}

use actix_web::Responder;

async fn home(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let logged_in = current(&state, &req).await.ok().flatten().is_some();
    let next = if logged_in {
        "<a href=\"/account/api-tokens\">Your API tokens</a>"
    } else {
        "<a href=\"/account/login\">Log in</a> or <a href=\"/account/signup\">sign up</a>"
    };
    page(
        StatusCode::OK,
        "Jobby",
        &format!(
            "<h1>Jobby — the on-demand job fair</h1><p>Recruiters run live events; job seekers queue, get matched with a free interviewer and meet in a live video room.</p><p>{next}. The REST API is described at <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</p>"
        ),
    )
}

fn signup_body(csrf: &str, form: Option<&Form>, errs: &[String]) -> String {
    let v = |name: &str| form.map_or(String::new(), |f| esc(field(f, name)));
    let selected = |t: &str| {
        if form.is_some_and(|f| field(f, "account_type") == t) {
            " selected"
        } else {
            ""
        }
    };
    format!(
        "<h1>Create your account</h1>{}<form method=\"post\" action=\"/account/signup\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{}\">\
<label for=\"email\">Email</label><input type=\"email\" id=\"email\" name=\"email\" value=\"{}\" required autocomplete=\"email\">\
<label for=\"password\">Password (at least 10 characters)</label><input type=\"password\" id=\"password\" name=\"password\" required minlength=\"10\" autocomplete=\"new-password\">\
<label for=\"name\">Your name</label><input type=\"text\" id=\"name\" name=\"name\" value=\"{}\" required>\
<label for=\"account_type\">I am</label><select id=\"account_type\" name=\"account_type\"><option value=\"seeker\"{}>a job seeker</option><option value=\"recruiter\"{}>a recruiter</option></select>\
<div><button type=\"submit\">Sign up</button></div></form><p>Have an account? <a href=\"/account/login\">Log in</a>.</p>",
        errors(errs),
        esc(csrf),
        v("email"),
        v("name"),
        selected("seeker"),
        selected("recruiter"),
    )
}

async fn signup_form(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let (csrf, fresh) = pre_session_csrf(&req);
    with_pre_session(
        &state,
        page(StatusCode::OK, "Sign up", &signup_body(&csrf, None, &[])),
        csrf,
        fresh,
    )
}

async fn signup(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(form) = parse_form(&req, &body) else {
        return bad_form();
    };
    if !pre_session_ok(&state, &req, &form) {
        return csrf_refused();
    }
    if let Err(resp) = attempt_allowed(&state, &req, "POST /account/signup").await {
        return resp;
    }
    let input = accounts::Signup {
        email: field(&form, "email").into(),
        password: field(&form, "password").into(),
        name: field(&form, "name").into(),
        account_type: field(&form, "account_type").into(),
    };
    let now = state.clock.now();
    let created = match accounts::validate_signup(input) {
        Ok(valid) => match web::block(move || valid.hash(now)).await {
            Ok(hashed) => accounts::create_account(&state.db, hashed).await,
            Err(e) => {
                tracing::error!(error = %e, "password hashing failed");
                return server_error();
            }
        },
        Err(e) => Err(e),
    };
    let user = match created {
        Ok(u) => u,
        Err(Error::Validation(f)) => {
            let errs: Vec<String> =
                f.0.iter()
                    .map(|(k, v)| format!("{}: {v}", k.replace('_', " ")))
                    .collect();
            let csrf = field(&form, "csrf_token").to_owned();
            return page(
                StatusCode::BAD_REQUEST,
                "Sign up",
                &signup_body(&csrf, Some(&form), &errs),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "signup failed");
            return server_error();
        }
    };
    start_session(&state, &user).await
}

async fn start_session(state: &AppState, user: &User) -> HttpResponse {
    match accounts::start_session(&state.db, user.id, state.clock.now()).await {
        Ok((secret, _)) => see_other("/account/api-tokens")
            .cookie(cookie(state, COOKIE_NAME, secret, CookieDuration::days(14)))
            .finish(),
        Err(e) => {
            tracing::error!(error = %e, "starting a session failed");
            server_error()
        }
    }
}

fn login_body(csrf: &str, email: &str, errs: &[String]) -> String {
    format!(
        "<h1>Log in</h1>{}<form method=\"post\" action=\"/account/login\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{}\">\
<label for=\"email\">Email</label><input type=\"email\" id=\"email\" name=\"email\" value=\"{}\" required autocomplete=\"email\">\
<label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" required autocomplete=\"current-password\">\
<div><button type=\"submit\">Log in</button></div></form><p>New here? <a href=\"/account/signup\">Create an account</a>.</p>",
        errors(errs),
        esc(csrf),
        esc(email)
    )
}

async fn login_form(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let (csrf, fresh) = pre_session_csrf(&req);
    with_pre_session(
        &state,
        page(StatusCode::OK, "Log in", &login_body(&csrf, "", &[])),
        csrf,
        fresh,
    )
}

async fn login(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(form) = parse_form(&req, &body) else {
        return bad_form();
    };
    if !pre_session_ok(&state, &req, &form) {
        return csrf_refused();
    }
    if let Err(resp) = attempt_allowed(&state, &req, "POST /account/login").await {
        return resp;
    }
    let (email, password) = (
        field(&form, "email").to_owned(),
        field(&form, "password").to_owned(),
    );
    let found = match accounts::find_login(&state.db, &email).await {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "login lookup failed");
            return server_error();
        }
    };
    // argon2 is CPU-bound by design: verify on a blocking thread, not an async worker.
    let checked = match web::block(move || accounts::check_login(found, &password)).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "password check failed");
            return server_error();
        }
    };
    match checked {
        Ok(user) => start_session(&state, &user).await,
        Err(Error::InvalidCredentials) => {
            let csrf = field(&form, "csrf_token").to_owned();
            page(
                StatusCode::UNAUTHORIZED,
                "Log in",
                &login_body(&csrf, &email, &["The email or password is wrong.".into()]),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "login failed");
            server_error()
        }
    }
}

/// The live session behind the request's cookie.
pub async fn current(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<(SessionRecord, User)>, Error> {
    let Some(c) = req.cookie(COOKIE_NAME) else {
        return Ok(None);
    };
    accounts::resolve_session(&state.db, c.value(), state.clock.now()).await
}

/// A session-authed form post: the session and a matching CSRF token, or the answer to send.
pub(super) async fn session_post(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(SessionRecord, User, Form), HttpResponse> {
    let Some(form) = parse_form(req, body) else {
        return Err(bad_form());
    };
    let (session, user) = match current(state, req).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(see_other("/account/login").finish()),
        Err(e) => {
            tracing::error!(error = %e, "session lookup failed");
            return Err(server_error());
        }
    };
    let sent = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| field(&form, "csrf_token"));
    if cross_site(state, req) || !session::secrets_match(&session.csrf_token, sent) {
        return Err(csrf_refused());
    }
    Ok((session, user, form))
}

async fn logout(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let (_, _, _) = match session_post(&state, &req, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    if let Some(c) = req.cookie(COOKIE_NAME)
        && let Err(e) = accounts::end_session(&state.db, c.value()).await
    {
        tracing::error!(error = %e, "ending a session failed");
        return server_error();
    }
    let mut gone = cookie(&state, COOKIE_NAME, String::new(), CookieDuration::ZERO);
    gone.make_removal();
    see_other("/account/login").cookie(gone).finish()
}

fn fmt_time(t: Option<chrono::DateTime<chrono::Utc>>, none: &str) -> String {
    t.map_or(none.to_owned(), |t| {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    })
}

async fn render_tokens(
    state: &AppState,
    session: &SessionRecord,
    user: &User,
    status: StatusCode,
    notice: &str,
    errs: &[String],
    form: Option<&Form>,
) -> HttpResponse {
    let list = match super::super::api::tokens::all_tokens(state, user.id).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "listing tokens failed");
            return server_error();
        }
    };
    let csrf = esc(&session.csrf_token);
    let rows: String = list
        .iter()
        .map(|t| {
            let scopes: Vec<&str> = t.scopes.iter().map(|s| s.as_str()).collect();
            let status = if t.revoked_at.is_some() { "revoked".to_owned() } else if t.expires_at.is_some_and(|e| e <= chrono::Utc::now()) { "expired".to_owned() } else { "active".to_owned() };
            let action = if t.revoked_at.is_none() {
                format!("<form method=\"post\" action=\"/account/api-tokens/{}/revoke\"><input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\"><button type=\"submit\">Revoke</button></form>", t.id)
            } else {
                String::new()
            };
            format!(
                "<tr data-token-id=\"{}\"><td>{}</td><td>{}</td><td><code>…{}</code></td><td>{}</td><td>{}</td><td>{}{}</td><td>{status}</td><td>{action}</td></tr>",
                t.id,
                esc(&t.name),
                esc(&scopes.join(" ")),
                esc(&t.last4),
                fmt_time(Some(t.created_at), ""),
                fmt_time(t.expires_at, "never"),
                fmt_time(t.last_used_at, "never"),
                t.last_used_ip.as_ref().map_or(String::new(), |ip| format!(" from {}", esc(ip))),
            )
        })
        .collect();
    let checked = |s: &str| {
        if form.is_some_and(|f| f.iter().any(|(k, v)| k == "scopes" && v == s)) {
            " checked"
        } else {
            ""
        }
    };
    let scopes: String = grantable(user.account_type)
        .map(|s| {
            format!(
                "<label><input type=\"checkbox\" name=\"scopes\" value=\"{0}\"{1}> {0}</label>",
                s.as_str(),
                checked(s.as_str())
            )
        })
        .collect();
    let name = form.map_or(String::new(), |f| esc(field(f, "name")));
    let days = form.map_or(DEFAULT_EXPIRY_DAYS.to_string(), |f| {
        esc(field(f, "expires_in_days"))
    });
    let body = format!(
        "<h1>Personal access tokens</h1><div class=\"who\"><span>Signed in as {} ({}).</span><form method=\"post\" action=\"/account/logout\"><input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\"><button type=\"submit\">Log out</button></form></div>\
{notice}{}\
<h2>New token</h2><form method=\"post\" action=\"/account/api-tokens\"><input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
<label for=\"name\">Name</label><input type=\"text\" id=\"name\" name=\"name\" value=\"{name}\" required maxlength=\"100\">\
<fieldset class=\"scopes\"><legend>Scopes</legend>{scopes}</fieldset>\
<label for=\"expires_in_days\">Expires in days (empty = never)</label><input type=\"number\" id=\"expires_in_days\" name=\"expires_in_days\" value=\"{days}\" min=\"1\">\
<div><button type=\"submit\">Create token</button></div></form>\
<h2>Your tokens</h2><table><thead><tr><th>Name</th><th>Scopes</th><th>Token</th><th>Created</th><th>Expires</th><th>Last used</th><th>Status</th><th></th></tr></thead><tbody>{rows}</tbody></table>",
        esc(user.email.as_str()),
        user.account_type,
        errors(errs),
    );
    page(status, "API tokens", &body)
}

async fn tokens_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match current(&state, &req).await {
        Ok(Some((session, user))) => {
            render_tokens(&state, &session, &user, StatusCode::OK, "", &[], None).await
        }
        Ok(None) => see_other("/account/login").finish(),
        Err(e) => {
            tracing::error!(error = %e, "session lookup failed");
            server_error()
        }
    }
}

async fn mint_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (session, user, form) = match session_post(&state, &req, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let days = field(&form, "expires_in_days").trim();
    let expires_in_days = if days.is_empty() {
        None
    } else {
        match days.parse::<i64>() {
            Ok(d) => Some(d),
            Err(_) => {
                return render_tokens(
                    &state,
                    &session,
                    &user,
                    StatusCode::BAD_REQUEST,
                    "",
                    &[
                        "expires in days: must be a whole number of days, or empty for never"
                            .into(),
                    ],
                    Some(&form),
                )
                .await;
            }
        }
    };
    let request = tokens::MintRequest {
        name: field(&form, "name").to_owned(),
        scopes: form
            .iter()
            .filter(|(k, _)| k == "scopes")
            .map(|(_, v)| v.clone())
            .collect(),
        expires_in_days,
    };
    let owner = user.clone();
    let now = state.clock.now();
    let minted = state
        .db
        .transaction(move |r| Box::pin(async move { tokens::mint(r, &owner, request, now).await }))
        .await;
    match minted {
        Ok((plain, record)) => {
            let notice = format!(
                "<div class=\"notice\"><p>Your new token <strong>{}</strong>. Copy it now: it will not be shown again.</p><p><code id=\"new-token\">{}</code></p></div>",
                esc(&record.name),
                esc(plain.expose())
            );
            render_tokens(
                &state,
                &session,
                &user,
                StatusCode::CREATED,
                &notice,
                &[],
                None,
            )
            .await
        }
        Err(Error::Validation(f)) => {
            let errs: Vec<String> =
                f.0.iter()
                    .map(|(k, v)| format!("{}: {v}", k.replace('_', " ")))
                    .collect();
            render_tokens(
                &state,
                &session,
                &user,
                StatusCode::BAD_REQUEST,
                "",
                &errs,
                Some(&form),
            )
            .await
        }
        Err(e) => {
            tracing::error!(error = %e, "minting failed");
            server_error()
        }
    }
}

async fn revoke_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (_, user, _) = match session_post(&state, &req, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let Ok(id) = id.parse::<TokenId>() else {
        return page(StatusCode::NOT_FOUND, "Not found", "<h1>No such token</h1>");
    };
    let (uid, now) = (user.id, state.clock.now());
    match state
        .db
        .transaction(move |r| Box::pin(async move { tokens::revoke(r, uid, id, now).await }))
        .await
    {
        Ok(_) => {
            state.auth.invalidate_all();
            see_other("/account/api-tokens").finish()
        }
        Err(Error::NotFound) => page(StatusCode::NOT_FOUND, "Not found", "<h1>No such token</h1>"),
        Err(e) => {
            tracing::error!(error = %e, "revoking failed");
            server_error()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_public_origin_drops_the_path() {
        assert_eq!(
            super::public_origin("https://jobby.example/base/"),
            "https://jobby.example"
        );
        assert_eq!(
            super::public_origin("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080"
        );
    }
}
