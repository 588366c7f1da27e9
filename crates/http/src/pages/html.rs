//! Minimal, dependency-free HTML rendering.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1d2433}\
h1{font-size:1.5rem}label{display:block;margin:.6rem 0 .2rem}input[type=text],input[type=email],input[type=password],input[type=number],select{padding:.4rem;width:20rem;max-width:100%}\
button{padding:.45rem .9rem;margin-top:.8rem;cursor:pointer}.error{color:#a11;background:#fdecec;padding:.5rem .8rem;border-radius:4px}\
.notice{background:#eef7ee;padding:.6rem .8rem;border-radius:4px}code{background:#f3f3f3;padding:.15rem .3rem}\
table{border-collapse:collapse;width:100%;margin-top:1rem}td,th{border-bottom:1px solid #ddd;padding:.35rem;text-align:left;font-size:.9rem}\
fieldset{border:1px solid #ddd;margin-top:.8rem}td code{white-space:nowrap}.who{display:flex;gap:1rem;align-items:baseline}.who button{margin-top:0}.scopes label{display:inline-block;width:12rem;margin:.2rem 0}nav{margin-bottom:1rem}";

/// A full page. `body` is trusted HTML built with `esc` for every interpolated value.
pub fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{} · Jobby</title><style>{STYLE}</style></head><body><nav><strong>Jobby</strong></nav>{body}</body></html>",
        esc(title)
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .insert_header(("x-frame-options", "DENY"))
        .insert_header(("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"))
        .body(html)
}

pub fn errors(messages: &[String]) -> String {
    if messages.is_empty() {
        return String::new();
    }
    let items: String = messages
        .iter()
        .map(|m| format!("<li>{}</li>", esc(m)))
        .collect();
    format!("<div class=\"error\" role=\"alert\"><ul>{items}</ul></div>")
}
