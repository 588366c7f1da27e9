//! Browser sessions and their forms: parsing, cookies, the CSRF checks (the session's
//! token, the pre-session cookie, the request's own site) and the login throttle.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, Responder};
use jobby_domain::Error;
use jobby_domain::model::account::User;
use jobby_domain::model::ratelimit::{Quota, RateClass};
use jobby_domain::model::session::{self, COOKIE_NAME, PRE_SESSION_COOKIE, SessionRecord};
use jobby_domain::ports::BucketKey;
use jobby_domain::usecases::accounts;

use super::html::page;
use crate::AppState;
use crate::mw::caller_ip;
use jobby_domain::model::network::bucket_subject;

pub(super) type Form = Vec<(String, String)>;

pub(super) fn field<'f>(form: &'f Form, name: &str) -> &'f str {
    form.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

pub(super) fn parse_form(req: &HttpRequest, body: &[u8]) -> Option<Form> {
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

pub(super) fn bad_form() -> HttpResponse {
    page(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Unsupported form",
        "<h1>Unsupported form</h1><p>Forms must be sent as application/x-www-form-urlencoded.</p>",
    )
}

pub(super) fn cookie<'c>(
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

/// The pre-session CSRF token: the cookie's, when this deployment issued it and it is good
/// for another hour at least, or a freshly issued one (to be set on the response).
pub(super) fn pre_session_csrf(state: &AppState, req: &HttpRequest) -> (String, bool) {
    let now = state.clock.now();
    match req.cookie(PRE_SESSION_COOKIE) {
        Some(c) if state.pre_session.lasts_an_hour(c.value(), now) => (c.value().to_owned(), false),
        _ => (state.pre_session.issue(now), true),
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
pub(super) fn public_origin(public_url: &str) -> &str {
    let after_scheme = public_url.find("://").map_or(0, |i| i + 3);
    match public_url[after_scheme..].find('/') {
        Some(i) => &public_url[..after_scheme + i],
        None => public_url,
    }
}

/// A login or signup post carries the pre-session token twice, in its cookie and its form,
/// and the server issued it: a pair the client made up, however well it matches, is refused.
pub(super) fn pre_session_ok(state: &AppState, req: &HttpRequest, form: &Form) -> bool {
    !cross_site(state, req)
        && req.cookie(PRE_SESSION_COOKIE).is_some_and(|c| {
            state.pre_session.verify(c.value(), state.clock.now())
                && session::secrets_match(c.value(), field(form, "csrf_token"))
        })
}

pub(super) fn with_pre_session(
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
            CookieDuration::seconds(session::pre_session_lifetime().num_seconds()),
        ));
    }
    resp
}

pub(super) fn csrf_refused() -> HttpResponse {
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
pub(super) async fn attempt_allowed(
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

pub(super) async fn start_session(state: &AppState, user: &User) -> HttpResponse {
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
