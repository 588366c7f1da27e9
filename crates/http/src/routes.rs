//! The route table: for every `/api/v1` operation, its scope, rate-limit class, required
//! account type and deprecation. The auth middleware enforces it, the OpenAPI document is
//! annotated from it, and a check keeps it and the document in step. Each entry is the
//! `ROUTE` beside its handler in `api/<resource>/<operation>.rs`; [`crate::api::routes`]
//! collects them.

use actix_web::http::Method;
use jobby_domain::model::account::AccountType;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone; a token is optional (anonymous limit by IP without one).
    Public,
    /// A token with this scope.
    Token(Scope),
    /// Any valid token, whatever its scopes.
    AnyToken,
    /// A human in a browser session, with its CSRF token; any `Authorization` header is
    /// refused (`HUMAN_SESSION_REQUIRED`). Limited per client address.
    Session,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deprecation {
    /// When it was deprecated (unix seconds), for `Deprecation: @…`.
    pub since: i64,
    /// When it goes away, as an HTTP-date, for `Sunset`.
    pub sunset: &'static str,
    /// Where to read about the replacement.
    pub link: &'static str,
}

#[derive(Clone, Copy, Debug)]
pub struct RouteSpec {
    pub method: &'static str,
    /// The path pattern under the server root, e.g. `/api/v1/api-tokens/{id}`.
    pub path: &'static str,
    pub access: Access,
    pub class: RateClass,
    pub account: Option<AccountType>,
    pub deprecation: Option<Deprecation>,
}

impl RouteSpec {
    pub fn is_mutating(&self) -> bool {
        matches!(self.method, "POST" | "PUT" | "PATCH" | "DELETE")
    }

    pub fn bucket_route(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// An entry with no account restriction and no deprecation.
pub const fn route(
    method: &'static str,
    path: &'static str,
    access: Access,
    class: RateClass,
) -> RouteSpec {
    RouteSpec {
        method,
        path,
        access,
        class,
        account: None,
        deprecation: None,
    }
}

/// `spec`, for one account type only.
pub const fn for_account(spec: RouteSpec, account: AccountType) -> RouteSpec {
    RouteSpec {
        account: Some(account),
        ..spec
    }
}

pub fn find(method: &Method, pattern: &str) -> Option<&'static RouteSpec> {
    crate::api::routes()
        .iter()
        .find(|r| r.path == pattern && r.method == method.as_str())
}

/// The methods served on a path, for `405` and `Allow`.
pub fn methods_for_path(path: &str) -> Vec<&'static str> {
    let mut m: Vec<&'static str> = crate::api::routes()
        .iter()
        .filter(|r| pattern_matches(r.path, path))
        .map(|r| r.method)
        .collect();
    m.sort_unstable();
    m.dedup();
    m
}

/// Whether a concrete path matches a pattern with `{param}` segments.
pub fn pattern_matches(pattern: &str, path: &str) -> bool {
    let mut p = pattern.split('/');
    let mut s = path.split('/');
    loop {
        match (p.next(), s.next()) {
            (None, None) => return true,
            (Some(ps), Some(ss)) if ps.starts_with('{') && ps.ends_with('}') && !ss.is_empty() => {}
            (Some(ps), Some(ss)) if ps == ss => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(pattern_matches(
            "/api/v1/api-tokens/{id}",
            "/api/v1/api-tokens/tok_1"
        ));
        assert!(!pattern_matches(
            "/api/v1/api-tokens/{id}",
            "/api/v1/api-tokens/"
        ));
        assert!(!pattern_matches(
            "/api/v1/api-tokens/{id}",
            "/api/v1/api-tokens/a/b"
        ));
        assert_eq!(methods_for_path("/api/v1/profile"), vec!["GET", "PATCH"]);
    }

    #[test]
    fn routes_are_unique_and_classed_by_method() {
        let routes = crate::api::routes();
        for (i, a) in routes.iter().enumerate() {
            for b in &routes[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "duplicate {} {}",
                    a.method,
                    a.path
                );
            }
            match (a.access, a.method) {
                (Access::Public | Access::Session, _) => {
                    assert_eq!(a.class, RateClass::Anonymous)
                }
                (_, "GET") if a.class == RateClass::Cost => {}
                (_, "GET") => assert_eq!(a.class, RateClass::Read, "{}", a.path),
                _ => assert!(
                    matches!(a.class, RateClass::Write | RateClass::Cost),
                    "{}",
                    a.path
                ),
            }
        }
    }
}
