//! Schemas of request fields that say exactly what the domain's checks accept, so a client
//! (or a generator) that follows the document is not refused: text that is not blank, within
//! its length and free of control characters; prefixed ids; http(s) links. A field names one
//! with `#[schema(value_type = Option<crate::schema::Text<200>>, inline)]`, keeping its own
//! description; the limits are the domain's (a test holds each use to its constant).

use jobby_domain::model::profile;
use serde_json::{Value, json};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa::{PartialSchema, ToSchema};

/// Control characters the text checks refuse (tab, newline and carriage return are text).
const CONTROL: &str = r"\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F";

fn schema(v: Value) -> RefOr<Schema> {
    serde_json::from_value(v).expect("a valid schema")
}

#[cfg(test)]
fn schema_value(s: RefOr<Schema>) -> Value {
    serde_json::to_value(s).expect("serializes")
}

/// What `check_text` accepts: 1..=max characters, not blank, no control characters.
fn text_value(max: usize) -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": max,
        "pattern": format!(r"^[^{CONTROL}]*[^\s{CONTROL}][^{CONTROL}]*$"),
    })
}

/// An id with its prefix, e.g. `evt_` and 32 lowercase hex digits.
fn id_value(prefix: &str) -> Value {
    json!({ "type": "string", "pattern": format!("^{prefix}[0-9a-f]{{32}}$") })
}

/// A text field of at most `MAX` characters, as `check_text` accepts it.
pub struct Text<const MAX: usize>;

impl<const MAX: usize> PartialSchema for Text<MAX> {
    fn schema() -> RefOr<Schema> {
        schema(text_value(MAX))
    }
}

impl<const MAX: usize> ToSchema for Text<MAX> {}

macro_rules! id_schemas {
    ($($(#[$doc:meta])* $name:ident = $prefix:literal;)+) => {$(
        $(#[$doc])*
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                schema(id_value($prefix))
            }
        }

        impl ToSchema for $name {}
    )+};
}

id_schemas! {
    /// An event id, `evt_…`.
    EventIdText = "evt_";
    /// A job id, `job_…`.
    JobIdText = "job_";
    /// An account id, `usr_…`.
    UserIdText = "usr_";
}

/// An http(s) URL of at most 500 characters, without spaces or control characters.
pub struct Link;

impl PartialSchema for Link {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "string",
            "maxLength": profile::LINK_MAX,
            "pattern": format!(r"^https?://[^\s{CONTROL}]+$"),
        }))
    }
}

impl ToSchema for Link {}

/// A notification event type, as the settings name them.
pub struct NotificationEvent;

impl PartialSchema for NotificationEvent {
    fn schema() -> RefOr<Schema> {
        schema(json!({ "type": "string", "enum": profile::NOTIFICATION_EVENTS }))
    }
}

impl ToSchema for NotificationEvent {}

#[cfg(test)]
mod tests {
    use jobby_domain::model::fields::{FieldErrors, check_text};
    use serde_json::Value;

    fn pattern(v: &Value) -> regex::Regex {
        regex::Regex::new(v["pattern"].as_str().expect("a pattern")).expect("a valid regex")
    }

    /// The text pattern and the domain's check agree on every sample.
    #[test]
    fn the_text_pattern_agrees_with_the_domain_check() {
        let re = pattern(&super::text_value(10));
        for s in [
            "Ada",
            " Ada ",
            "",
            "   ",
            "\t\n",
            "line\nbreak",
            "bell\u{7}",
            "tab\tok",
            "\u{85}x",
            "é",
            "\u{a0}",
            "\u{7f}",
            "x\u{9f}",
            "\r\n ok",
        ] {
            let mut e = FieldErrors::new();
            check_text(&mut e, "f", s, 10);
            assert_eq!(re.is_match(s), e.is_empty(), "{s:?}");
        }
    }

    #[test]
    fn ids_and_links_match_what_the_domain_parses() {
        let id = pattern(&super::id_value("evt_"));
        assert!(id.is_match("evt_0193b1c2d3e4f5a6b7c8d9e0f1a2b3c4"));
        for bad in [
            "",
            "evt_",
            "evt_0193B1C2D3E4F5A6B7C8D9E0F1A2B3C4",
            "usr_0193b1c2d3e4f5a6b7c8d9e0f1a2b3c4",
        ] {
            assert!(!id.is_match(bad), "{bad}");
        }
        let link = pattern(&super::schema_value(
            <super::Link as utoipa::PartialSchema>::schema(),
        ));
        assert!(link.is_match("https://example.com/a?b=c"));
        for bad in ["ftp://x", "https://", "https://a b", "javascript:alert(1)"] {
            assert!(!link.is_match(bad), "{bad}");
        }
    }
}
