//! Extractors and parsers shared by handlers: the authenticated principal, JSON bodies with
//! field-level errors, and list pagination.

use std::collections::HashMap;
use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use jobby_domain::model::fields::FieldErrors;
use jobby_domain::model::page::PageRequest;
use jobby_domain::model::token::TokenPrincipal;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The token principal the gate authenticated. Present on every route whose access is a
/// token; a handler that asks for it on a public route gets a 500, which tests catch.
pub struct Authed(pub Arc<TokenPrincipal>);

impl FromRequest for Authed {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Arc<TokenPrincipal>>()
                .cloned()
                .map(Authed)
                .ok_or_else(|| {
                    tracing::error!(
                        path = req.path(),
                        "handler needs a principal the gate did not provide"
                    );
                    ApiError::internal()
                }),
        )
    }
}

/// Parses a JSON body. Every bad field is named in `details.fields`; unknown fields are
/// refused so typos surface.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // Every body is an object; serde would also read a struct from an array of its fields.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::field("body", "a JSON object is required"));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let msg = inner.to_string();
            let message = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
            let field = if let Some(rest) = message.strip_prefix("unknown field `") {
                // The path already ends with the unknown field's name.
                if path == "." {
                    rest.split('`').next().unwrap_or("").to_owned()
                } else {
                    path
                }
            } else if inner.is_syntax() || inner.is_eof() || path == "." {
                "body".to_owned()
            } else {
                path
            };
            let message = if inner.is_syntax() || inner.is_eof() {
                format!("is not valid JSON: {message}")
            } else {
                message
            };
            Err(ApiError::validation(FieldErrors::single(field, message)))
        }
    }
}

/// Deserializes a present field as `Some(value)`, so `null` becomes `Some(None)` ("clear")
/// while an absent field stays `None` ("leave as is").
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(d).map(Some)
}

/// `limit` and `cursor` from the query string.
pub fn page<I: std::str::FromStr>(
    query: &web::Query<HashMap<String, String>>,
) -> Result<PageRequest<I>, ApiError> {
    PageRequest::parse(
        query.get("limit").map(String::as_str),
        query.get("cursor").map(String::as_str),
    )
    .map_err(|(field, e)| ApiError::field(field, &e.to_string()))
}

/// A malformed query string answers in the envelope.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|err, _| ApiError::field("query", &err.to_string()).into())
}

/// A path id that does not parse is simply not found.
pub fn path_id<I: std::str::FromStr>(raw: &str) -> Result<I, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// The page envelope `{data, has_more, next_cursor}`.
#[derive(serde::Serialize)]
pub struct ListBody<T> {
    pub data: Vec<T>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

impl<T> From<jobby_domain::model::page::Page<T>> for ListBody<T> {
    fn from(p: jobby_domain::model::page::Page<T>) -> Self {
        ListBody {
            data: p.data,
            has_more: p.has_more,
            next_cursor: p.next_cursor,
        }
    }
}

/// The raw request body (up to the payload limit). A newtype so the OpenAPI generator does
/// not mistake it for a documented body; handlers document theirs with `request_body`.
pub struct RawBody(pub web::Bytes);

impl FromRequest for RawBody {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let fut = web::Bytes::from_request(req, payload);
        Box::pin(async move { fut.await.map(RawBody) })
    }
}
