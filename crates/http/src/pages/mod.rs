//! The HTML account pages for humans: sign up, log in, log out, and personal access tokens.
//! Every state-changing form carries a CSRF token: tied to the session once logged in, and to
//! a pre-session cookie on the login and signup forms.

mod account;
mod html;

pub use account::configure;
