//! Sign up, log in, log out, and the home page.

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use jobby_domain::Error;
use jobby_domain::model::session::COOKIE_NAME;
use jobby_domain::usecases::accounts;

use super::html::{errors, esc, page};
use super::session::{
    Form, attempt_allowed, bad_form, cookie, csrf_refused, current, field, parse_form,
    pre_session_csrf, pre_session_ok, see_other, server_error, session_post, start_session,
    with_pre_session,
};
use super::tokens::{mint_token, revoke_token, tokens_page};
use crate::AppState;

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
    let (csrf, fresh) = pre_session_csrf(&state, &req);
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
    let (csrf, fresh) = pre_session_csrf(&state, &req);
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
