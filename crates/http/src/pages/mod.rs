//! The HTML pages for humans: sign up, log in, log out, personal access tokens, the match
//! page where each human accepts, and the local interview room.
//! Every state-changing form carries a CSRF token: tied to the session once logged in, and to
//! a pre-session cookie on the login and signup forms.

mod account;
mod html;
mod matches;
pub(crate) mod session;
mod tokens;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    account::configure(cfg);
    matches::configure(cfg);
}
