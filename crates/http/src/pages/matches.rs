//! `/account/matches/{id}`: the match, with Accept and Decline for the human it concerns;
//! `/rooms/{secret}`: the local interview room, opened by a one-time, 30-second link.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use jobby_domain::Error;
use jobby_domain::model::ids::MatchId;
use jobby_domain::model::matches::{Match, MatchStatus, Side};
use jobby_domain::usecases::matches::{self, RoomError};

use super::html::{esc, page};
use super::session::{current, see_other, server_error, session_post};
use crate::AppState;
use crate::api::matches::{accept_as, decline_as};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.route("/account/matches/{id}", web::get().to(match_page))
        .route("/account/matches/{id}/accept", web::post().to(accept))
        .route("/account/matches/{id}/decline", web::post().to(decline))
        .route("/rooms/{secret}", web::get().to(room));
}

fn not_found() -> HttpResponse {
    page(
        StatusCode::NOT_FOUND,
        "Not found",
        "<h1>No such match</h1><p>This match does not exist or is not yours.</p>",
    )
}

fn login_first() -> HttpResponse {
    see_other("/account/login").finish()
}

fn describe(m: &Match, side: Side) -> String {
    let you = if m.accepted_by(side) {
        "You have accepted."
    } else {
        "You have not accepted yet."
    };
    let other_side = match side {
        Side::Seeker => Side::Interviewer,
        Side::Interviewer => Side::Seeker,
    };
    let them = if m.accepted_by(other_side) {
        "The other side has accepted."
    } else {
        "The other side has not accepted yet."
    };
    format!("{you} {them}")
}

async fn match_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    let (session, user) = match current(&state, &req).await {
        Ok(Some(s)) => s,
        Ok(None) => return login_first(),
        Err(e) => {
            tracing::error!(error = %e, "session lookup failed");
            return server_error();
        }
    };
    let Ok(id) = id.parse::<MatchId>() else {
        return not_found();
    };
    let uid = user.id;
    let m = match state
        .db
        .read(move |r| Box::pin(async move { matches::get(r, uid, id).await }))
        .await
    {
        Ok(m) => m,
        Err(Error::NotFound) => return not_found(),
        Err(e) => {
            tracing::error!(error = %e, "loading a match failed");
            return server_error();
        }
    };
    let Some(side) = m.side_of(uid) else {
        return not_found();
    };
    let role = match side {
        Side::Seeker => "the job seeker",
        Side::Interviewer => "the interviewer",
    };
    let csrf = esc(&session.csrf_token);
    let mut body = format!(
        "<h1>Your match</h1><p>Match <code>{}</code>: you are {role}.</p><p id=\"match-status\" data-status=\"{status}\">Status: <strong>{status}</strong></p>",
        m.id,
        status = m.status.as_str(),
    );
    match m.status {
        MatchStatus::Pending => {
            body.push_str(&format!(
                "<p>{}</p><p>Both of you must accept by {} UTC.</p>",
                describe(&m, side),
                m.expires_at.format("%H:%M:%S")
            ));
            if !m.accepted_by(side) {
                body.push_str(&format!(
                    "<form method=\"post\" action=\"/account/matches/{id}/accept\"><input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\"><button id=\"accept\" type=\"submit\">Accept</button></form>",
                    id = m.id
                ));
            }
            body.push_str(&format!(
                "<form method=\"post\" action=\"/account/matches/{id}/decline\"><input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\"><button id=\"decline\" type=\"submit\">Decline</button></form>",
                id = m.id
            ));
        }
        MatchStatus::Accepted => body.push_str(
            "<p>Both of you accepted. Get a room link with <code>GET /api/v1/matches/{id}/interview-room-url</code> and open it here, in this browser, within 30 seconds.</p>",
        ),
        _ => body.push_str("<p>This match is over.</p>"),
    }
    page(StatusCode::OK, "Your match", &body)
}

async fn act(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
    accepting: bool,
) -> HttpResponse {
    let (_, user, _) = match session_post(&state, &req, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let Ok(mid) = id.parse::<MatchId>() else {
        return not_found();
    };
    let done = if accepting {
        accept_as(&state, user.id, mid).await.map(|_| ())
    } else {
        decline_as(&state, user.id, mid).await.map(|_| ())
    }
    .map_err(|e| {
        let e = crate::error::ApiError::from(e);
        (e.status, e.message)
    });
    match done {
        Ok(()) => see_other(&format!("/account/matches/{mid}")).finish(),
        Err((StatusCode::NOT_FOUND, _)) => not_found(),
        Err((status, message)) if status.is_client_error() => page(
            status,
            "Not possible",
            &format!(
                "<h1>That did not work</h1><p>{}</p><p><a href=\"/account/matches/{mid}\">Back to the match</a></p>",
                esc(&message)
            ),
        ),
        Err((_, message)) => {
            tracing::error!(%message, "a match action failed");
            server_error()
        }
    }
}

async fn accept(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    act(state, req, id, body, true).await
}

async fn decline(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    act(state, req, id, body, false).await
}

async fn room(
    state: web::Data<AppState>,
    req: HttpRequest,
    secret: web::Path<String>,
) -> HttpResponse {
    let user = match current(&state, &req).await {
        Ok(Some((_, u))) => u,
        Ok(None) => {
            return page(
                StatusCode::UNAUTHORIZED,
                "Log in first",
                "<h1>Log in first</h1><p>A room link opens only in the browser session of the person it was issued to. <a href=\"/account/login\">Log in</a>, then ask for a new link.</p>",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "session lookup failed");
            return server_error();
        }
    };
    let (uid, now, secret) = (user.id, state.clock.now(), secret.into_inner());
    let opened = state
        .db
        .transaction(move |r| {
            Box::pin(async move { Ok::<_, Error>(matches::open_room(r, &secret, uid, now).await) })
        })
        .await;
    match opened {
        // Admitted: on to the provider's room, or this page is the room.
        Ok(Ok(m)) => match state.video.enter(&m, uid, now).await {
            Ok(Some(url)) => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, url))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish(),
            Ok(None) => page(
                StatusCode::OK,
                "Interview room",
                &format!(
                    "<h1 id=\"room\">Interview room</h1><p>You are in the room of match <code>{}</code>. This link has now been used; ask for a new one to come back.</p>",
                    m.id
                ),
            ),
            Err(e) => {
                tracing::warn!(error = %e, match_id = %m.id, "video rooms failed");
                page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Room unavailable",
                    "<h1>The video service is not answering</h1><p>This link has been used; ask for a new one and try again in a moment.</p>",
                )
            }
        },
        Ok(Err(RoomError::Store(e))) | Err(Error::Store(e)) => {
            tracing::error!(error = %e, "opening a room failed");
            server_error()
        }
        Ok(Err(e)) => page(
            StatusCode::FORBIDDEN,
            "Room closed",
            &format!(
                "<h1>This room link does not open</h1><p>{}.</p>",
                esc(&match e {
                    RoomError::Unknown => "No such room link".to_owned(),
                    other => capitalise(&other.to_string()),
                })
            ),
        ),
        Err(e) => {
            tracing::error!(error = %e, "opening a room failed");
            server_error()
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
