//! Deprecated routes: `Deprecation`, `Sunset` and `Link` on every response they give.

use actix_web::http::header::HeaderMap;

use super::insert;
use crate::routes::Deprecation;

/// The headers of a deprecated route (RFC 9745, RFC 8594), the link pointing at its notice.
pub(super) fn deprecation_headers(h: &mut HeaderMap, dep: &Deprecation, public_url: &str) {
    insert(h, "deprecation", &format!("@{}", dep.since));
    insert(h, "sunset", dep.sunset);
    insert(
        h,
        "link",
        &format!(
            "<{}{}>; rel=\"deprecation\"",
            public_url.trim_end_matches('/'),
            dep.link
        ),
    );
}
