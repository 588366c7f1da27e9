//! The OpenAPI 3.1 document, generated from the handlers' annotations and completed from the
//! route table: each operation's security scope, rate-limit class (`x-rate-limit-class`),
//! deprecation, `Idempotency-Key` parameter, and the error responses the shared pipeline can
//! give.

use actix_web::App;
use serde_json::{Map, Value, json};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

use crate::api::routes;
use crate::error::Code;
use crate::routes::{Access, RouteSpec};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Jobby API",
        version = "1.0.0",
        description = "The stable v1 REST API of Jobby, the on-demand job fair. Bearer personal access tokens (`jbb_…`), a uniform error envelope `{error, code, details?}`, rate-limit headers on every authenticated response, and `Idempotency-Key` on every mutating route. Accepting a match and joining the interview room are for humans in a browser only: no token can do them."
    ),
    components(schemas(crate::api::ErrorBody)),
    tags(
        (name = "meta", description = "This document"),
        (name = "tokens", description = "Personal access tokens"),
        (name = "profile", description = "The caller's profile"),
        (name = "settings", description = "Settings, notification preferences and the IP allowlist")
    )
)]
struct ApiDoc;

/// The generated document before the route table's annotations.
fn generated() -> utoipa::openapi::OpenApi {
    let (_app, api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::configure)
        .split_for_parts();
    api
}

/// The served and committed document, as pretty JSON with a trailing newline.
pub fn document() -> String {
    let mut doc = serde_json::to_value(generated()).expect("OpenAPI serializes");
    annotate(&mut doc);
    let mut s = serde_json::to_string_pretty(&doc).expect("OpenAPI serializes");
    s.push('\n');
    s
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }
    })
}

fn rate_limit_headers() -> Value {
    let h = |d: &str| json!({ "description": d, "schema": { "type": "integer" } });
    json!({
        "X-RateLimit-Limit": h("Requests allowed per minute in this bucket"),
        "X-RateLimit-Remaining": h("Requests left in this bucket"),
        "X-RateLimit-Reset": h("Unix time (seconds) when the bucket is full again"),
        "RateLimit-Policy": { "description": "IETF draft policy, e.g. `\"read\";q=60;w=60`", "schema": { "type": "string" } },
        "RateLimit": { "description": "IETF draft state, e.g. `\"read\";r=47;t=13`", "schema": { "type": "string" } }
    })
}

fn annotate(doc: &mut Value) {
    doc["openapi"] = json!("3.1.0");
    doc["components"]["securitySchemes"] = json!({
        "bearerAuth": { "type": "http", "scheme": "bearer", "description": "A personal access token, `jbb_` + 36 characters, minted at /account/api-tokens." },
        "sessionCookie": { "type": "apiKey", "in": "cookie", "name": "jobby_session", "description": "A human's browser session from /account/login. State changes also need the session's CSRF token in `X-CSRF-Token`." }
    });
    document_codes(doc);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for spec in routes() {
        let Some(op) = paths
            .get_mut(spec.path)
            .and_then(|p| p.get_mut(spec.method.to_lowercase()))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        annotate_operation(op, spec);
    }
}

/// The envelope's `code` is one of [`Code::ALL`], each listed with its status and meaning.
fn document_codes(doc: &mut Value) {
    let table: String = Code::ALL
        .iter()
        .map(|c| format!("\n- `{}` ({}): {}", c.as_str(), c.status(), c.when()))
        .collect();
    doc["components"]["schemas"]["ErrorBody"]["properties"]["code"] = json!({
        "type": "string",
        "description": format!("A stable machine-readable code: never renamed or removed in v1; new codes may be added.{table}"),
        "enum": Code::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
    });
}

fn annotate_operation(op: &mut Map<String, Value>, spec: &RouteSpec) {
    let (security, scope_text) = match spec.access {
        Access::Public => (
            json!([{}, { "bearerAuth": [] }]),
            "Public: a token is optional.".to_owned(),
        ),
        Access::AnyToken => (json!([{ "bearerAuth": [] }]), "Any valid token.".to_owned()),
        Access::Session => (
            json!([{ "sessionCookie": [] }]),
            "Human browser session only (cookie `jobby_session` plus `X-CSRF-Token`); any `Authorization` header is refused with `HUMAN_SESSION_REQUIRED`.".to_owned(),
        ),
        Access::Token(s) => (
            json!([{ "bearerAuth": [s.as_str()] }]),
            format!("Scope: `{s}`."),
        ),
    };
    op.insert("security".into(), security);
    op.insert("x-rate-limit-class".into(), json!(spec.class.as_str()));
    if let Access::Token(s) = spec.access {
        op.insert("x-required-scope".into(), json!(s.as_str()));
    }
    let mut note = format!("{scope_text} Rate-limit class: `{}`.", spec.class);
    if let Some(account) = spec.account {
        note.push_str(&format!(" {account} accounts only."));
    }
    if let Some(dep) = spec.deprecation {
        op.insert("deprecated".into(), json!(true));
        note.push_str(&format!(" Deprecated; sunset {}.", dep.sunset));
    }
    let description = match op.get("description").and_then(Value::as_str) {
        Some(d) if !d.is_empty() => format!("{d}\n\n{note}"),
        _ => note,
    };
    op.insert("description".into(), json!(description));

    if spec.is_mutating() {
        let params = op.entry("parameters").or_insert_with(|| json!([]));
        if let Some(list) = params.as_array_mut() {
            list.push(json!({
                "name": "Idempotency-Key",
                "in": "header",
                "required": false,
                "description": "A UUID v4 (bare, or quoted). A retry with the same key and request replays the first response byte for byte (`Idempotent-Replayed: true`) for 24 hours. An empty value is no key.",
                "schema": { "type": "string", "pattern": "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|\"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}\")?$" }
            }));
        }
    }

    let responses = op.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else {
        return;
    };
    let mut add = |status: &str, description: &str| {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(description));
    };
    if spec.access == Access::Public {
        add(
            "401",
            "UNAUTHENTICATED: a token was sent but is malformed, unknown, expired or revoked (this route needs none)",
        );
    } else if spec.access == Access::Session {
        add("401", "UNAUTHENTICATED: no logged-in browser session");
        add("403", "HUMAN_SESSION_REQUIRED or CSRF_FAILED");
    } else if spec.access != Access::Public {
        add(
            "401",
            "UNAUTHENTICATED: missing, malformed, unknown, expired or revoked token",
        );
        add(
            "403",
            "INSUFFICIENT_SCOPE, IP_NOT_ALLOWED or WRONG_ACCOUNT_TYPE",
        );
    }
    if spec.is_mutating() {
        add("400", "VALIDATION: invalid body, fields or Idempotency-Key");
        add(
            "409",
            "IDEMPOTENCY_KEY_IN_USE: a request with this key is still running (Retry-After: 1)",
        );
        add("413", "PAYLOAD_TOO_LARGE: body over 64 KiB");
        add(
            "415",
            "UNSUPPORTED_MEDIA_TYPE: body is not application/json",
        );
        add(
            "422",
            "IDEMPOTENCY_KEY_REUSED: the key was used for a different request",
        );
    }
    add("429", "RATE_LIMITED: see Retry-After");
    add("500", "INTERNAL: carries only the request id");
    add(
        "503",
        "DEPENDENCY_UNAVAILABLE: the database or an outside service is unreachable; SERVER_BUSY: the server is at capacity and shed the request unrun. Both are safe to retry (Retry-After)",
    );
    for (status, resp) in responses.iter_mut() {
        if status != "default"
            && let Some(r) = resp.as_object_mut()
        {
            if r.get("description")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                r.insert("description".into(), json!("Success"));
            }
            r.insert("headers".into(), rate_limit_headers());
        }
    }
}

/// Differences between the route table and the document: every table entry must be in the
/// document and every `/api/v1` operation in the document must be in the table.
pub fn check(document: &str) -> Vec<String> {
    let doc: Value = match serde_json::from_str(document) {
        Ok(v) => v,
        Err(e) => return vec![format!("not JSON: {e}")],
    };
    let mut problems = vec![];
    let empty = Map::new();
    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for spec in routes() {
        if paths
            .get(spec.path)
            .and_then(|p| p.get(spec.method.to_lowercase()))
            .is_none()
        {
            problems.push(format!(
                "{} {} is served but has no paths entry",
                spec.method, spec.path
            ));
        }
    }
    for (path, item) in paths {
        for method in item
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let known = routes()
                .iter()
                .any(|r| r.path == path && r.method.eq_ignore_ascii_case(&method));
            if !known {
                problems.push(format!(
                    "{} {path} is in the document but not in the route table",
                    method.to_uppercase()
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_and_route_table_agree() {
        let doc = document();
        assert_eq!(check(&doc), Vec::<String>::new());
        let v: Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(v["openapi"], "3.1.0");
        let op = &v["paths"]["/api/v1/profile"]["patch"];
        assert_eq!(op["security"][0]["bearerAuth"][0], "profile:write");
        assert_eq!(op["x-rate-limit-class"], "write");
        assert!(op["responses"]["429"].is_object());
        assert!(
            op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "Idempotency-Key")
        );
        assert_eq!(
            v["paths"]["/api/v1/tokens/current"]["get"]["deprecated"],
            true
        );
        // A public route refuses a bad token with 401, and says so.
        let live = &v["paths"]["/api/v1/live-events"]["get"]["responses"];
        assert!(live["401"].is_object(), "{live}");
        for (path, item) in v["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                assert!(
                    op["responses"]["503"].is_object(),
                    "{method} {path} documents no 503"
                );
            }
        }
    }

    /// Array limits in the request schemas are literals in the attributes; they are the
    /// domain's.
    #[test]
    fn request_array_limits_are_the_domains() {
        use jobby_domain::model::{event, profile};
        let v: Value = serde_json::from_str(&document()).unwrap();
        let max_items = |schema: &str, field: &str| {
            v["components"]["schemas"][schema]["properties"][field]["maxItems"]
                .as_u64()
                .unwrap_or_else(|| panic!("{schema}.{field} has maxItems")) as usize
        };
        assert_eq!(max_items("PatchProfile", "skills"), profile::SKILLS_MAX);
        assert_eq!(max_items("PatchProfile", "links"), profile::LINKS_MAX);
        for schema in ["CreateEvent", "PatchEvent"] {
            assert_eq!(max_items(schema, "job_ids"), event::JOBS_MAX);
            // Besides the owner, who always holds a seat.
            assert_eq!(
                max_items(schema, "interviewer_ids"),
                event::INTERVIEWERS_MAX - 1
            );
        }
        assert_eq!(
            max_items("Allowlist", "cidrs"),
            jobby_domain::model::network::ALLOWLIST_MAX
        );
    }

    #[test]
    fn the_document_is_deterministic() {
        assert_eq!(document(), document());
    }
}
