//! The personal access token page: list, mint (the token shown once) and revoke.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use jobby_domain::Error;
use jobby_domain::model::account::User;
use jobby_domain::model::ids::TokenId;
use jobby_domain::model::scopes::grantable;
use jobby_domain::model::session::SessionRecord;
use jobby_domain::model::token::DEFAULT_EXPIRY_DAYS;
use jobby_domain::usecases::tokens;

use super::html::{errors, esc, page};
use super::session::{Form, current, field, see_other, server_error, session_post};
use crate::AppState;

pub(super) fn fmt_time(t: Option<chrono::DateTime<chrono::Utc>>, none: &str) -> String {
    t.map_or(none.to_owned(), |t| {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    })
}

pub(super) async fn render_tokens(
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

pub(super) async fn tokens_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
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

pub(super) async fn mint_token(
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

pub(super) async fn revoke_token(
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
            state.auth.invalidate_users(&[uid]);
            see_other("/account/api-tokens").finish()
        }
        Err(Error::NotFound) => page(StatusCode::NOT_FOUND, "Not found", "<h1>No such token</h1>"),
        Err(e) => {
            tracing::error!(error = %e, "revoking failed");
            server_error()
        }
    }
}
