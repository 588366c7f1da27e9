//! The v1 forward contract, checked: `openapi.json` against `api/v1-baseline.json`.
//!
//! v1 promises never to remove an endpoint (path + method), never to remove a response
//! field, never to rename or remove an error code, and never to tighten request
//! validation. [`check`] compares the current document with the committed baseline and
//! lists every break; additions pass (new paths and methods, new optional parameters and
//! request fields, new response fields, new enum values in responses, wider ranges).
//!
//! What counts as a break:
//! - a path is gone (`/x/{id}` and `/x/{x_id}` are one path), or a method of it;
//! - a 2xx status of an operation is gone, or a JSON media type of one;
//! - a response field is gone, or was required and no longer is: 2xx JSON bodies, through
//!   `$ref`, `properties`, `items`, `additionalProperties` and `allOf`/`oneOf`/`anyOf`;
//! - an error code is gone: a value of the `code` enum in an error response's schema, or
//!   a code an error response's description names (`RATE_LIMITED: see Retry-After`);
//! - a request accepts less than it did: a new required parameter, body or body property;
//!   an optional one now required; a type no longer allowed; an enum value gone or an enum
//!   added; a new or changed `pattern`; a lower `maxLength`/`maximum`/`maxItems`/… or a
//!   higher `minLength`/`minimum`/`minItems`/…; `additionalProperties` now false, or a
//!   property dropped where unknown ones are refused; a `oneOf`/`anyOf` alternative that
//!   nothing in the new schema accepts; a request media type gone.
//!
//! Locations are JSON pointers (`/` inside a name is `~1`): removals point into the
//! baseline, where the thing was; narrowings into the current document, where the new
//! constraint is. A schema shared by several operations is reported once.

use std::collections::{BTreeSet, HashSet};
use std::fmt;

use serde_json::Value;

mod schema;
#[cfg(test)]
mod tests;

use schema::*;

/// One break of the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer into the baseline (what is gone) or the current document (what is new).
    pub at: String,
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.what)
    }
}

/// Every way `current` breaks what `baseline` promised, by location.
pub fn check(baseline: &Value, current: &Value) -> Vec<Violation> {
    let mut c = Compat::new(baseline, current);
    c.paths();
    c.error_codes();
    c.found
        .sort_by(|a, b| (&a.at, &a.what).cmp(&(&b.at, &b.what)));
    c.found
}

struct Compat<'a> {
    old: &'a Value,
    new: &'a Value,
    /// What is being compared, e.g. `POST /api/v1/events request body`, for the messages.
    ctx: String,
    /// Schema pairs compared already: a shared schema is compared once, and a recursive
    /// one (a `$ref` to itself) is not followed forever.
    seen: HashSet<(Dir, String, String)>,
    /// Breaks found already, by place and kind.
    reported: HashSet<(String, String)>,
    found: Vec<Violation>,
}

impl<'a> Compat<'a> {
    fn new(old: &'a Value, new: &'a Value) -> Self {
        let (ctx, found) = (String::new(), vec![]);
        let (seen, reported) = (HashSet::new(), HashSet::new());
        Compat {
            old,
            new,
            ctx,
            seen,
            reported,
            found,
        }
    }

    /// Records a break, once: a schema reached along two ways (as `Item` and as
    /// `Item.parent`) breaks once, named after the first way.
    fn report(&mut self, at: &str, what: impl fmt::Display) {
        if !self.reported.insert((at.to_owned(), what.to_string())) {
            return;
        }
        let what = match self.ctx.as_str() {
            "" => what.to_string(),
            ctx => format!("{what} ({ctx})"),
        };
        self.found.push(Violation {
            at: at.into(),
            what,
        });
    }

    fn paths(&mut self) {
        let new_paths = paths_by_shape(self.new);
        for (shape, (path, old_item)) in paths_by_shape(self.old) {
            self.ctx.clear();
            let old_item = old_item.resolve(self.old);
            let methods = METHODS.into_iter().filter(|m| old_item.get(m).is_some());
            let Some((new_path, new_item)) = new_paths.get(&shape) else {
                let methods = methods.collect::<Vec<_>>().join(", ").to_uppercase();
                self.report(
                    &old_item.at,
                    format_args!("path {path} removed ({methods})"),
                );
                continue;
            };
            let new_item = new_item.clone().resolve(self.new);
            for method in methods {
                let old_op = old_item.get(method).expect("listed");
                let label = format!("{} {path}", method.to_uppercase());
                let Some(new_op) = new_item.get(method) else {
                    self.ctx.clear();
                    self.report(&old_op.at, format_args!("{label} removed"));
                    continue;
                };
                let old_params = parameters(self.old, path, &old_item, &old_op);
                let new_params = parameters(self.new, new_path, &new_item, &new_op);
                self.parameters(&label, &old_params, &new_params);
                self.request_body(&label, &old_op, &new_op);
                self.responses(&label, &old_op, &new_op);
            }
        }
        self.ctx.clear();
    }

    fn parameters(&mut self, label: &str, old: &Params<'a>, new: &Params<'a>) {
        for (key, new_p) in new {
            let name = new_p.str("name").unwrap_or_default();
            self.ctx = format!("{label} {} parameter `{name}`", key.0);
            let required = new_p.flag("required");
            match old.get(key) {
                None if required => self.report(&new_p.at, "new required parameter"),
                None => {}
                Some(old_p) => {
                    if required && !old_p.flag("required") {
                        let at = format!("{}/required", new_p.at);
                        self.report(&at, "optional parameter now required");
                    }
                    if let Some((o, n)) = both(old_p, new_p, "schema") {
                        self.schema(Dir::Request, o, n);
                    }
                }
            }
        }
    }

    fn request_body(&mut self, label: &str, old_op: &Node<'a>, new_op: &Node<'a>) {
        self.ctx = format!("{label} request body");
        let Some(new) = new_op.get("requestBody").map(|b| b.resolve(self.new)) else {
            return;
        };
        let Some(old) = old_op.get("requestBody").map(|b| b.resolve(self.old)) else {
            if new.flag("required") {
                self.report(&new.at, "new required request body");
            }
            return;
        };
        if new.flag("required") && !old.flag("required") {
            self.report(&format!("{}/required", new.at), "request body now required");
        }
        self.content(Dir::Request, &old, &new);
    }

    fn responses(&mut self, label: &str, old_op: &Node<'a>, new_op: &Node<'a>) {
        let new_responses = new_op.get("responses");
        for (status, old) in entries(old_op.get("responses")) {
            if !status.starts_with('2') {
                continue;
            }
            let Some(new) = new_responses.as_ref().and_then(|r| r.get(status)) else {
                self.ctx = label.to_owned();
                self.report(&old.at, format_args!("success status {status} removed"));
                continue;
            };
            self.ctx = format!("{label} {status} response");
            let (old, new) = (old.resolve(self.old), new.resolve(self.new));
            self.content(Dir::Response, &old, &new);
        }
    }

    /// The media types of a request body or a response: each must stay, with its schema
    /// compared (in responses only JSON ones).
    fn content(&mut self, dir: Dir, old: &Node<'a>, new: &Node<'a>) {
        for (media, old_media) in entries(old.get("content")) {
            if dir == Dir::Response && !media.contains("json") {
                continue;
            }
            match new.get("content").and_then(|c| c.get(media)) {
                None => self.report(&old_media.at, format_args!("media type {media} removed")),
                Some(new_media) => {
                    if let Some((o, n)) = both(&old_media, &new_media, "schema") {
                        self.schema(dir, o, n);
                    }
                }
            }
        }
    }

    fn schema(&mut self, dir: Dir, old: Node<'a>, new: Node<'a>) {
        let (old, new) = (old.resolve(self.old), new.resolve(self.new));
        if !self.seen.insert((dir, old.at.clone(), new.at.clone())) {
            return;
        }
        match dir {
            Dir::Request => self.request_schema(old, new),
            Dir::Response => self.response_schema(old, new),
        }
    }

    /// A response must still carry every field it carried, and every required one.
    fn response_schema(&mut self, old: Node<'a>, new: Node<'a>) {
        let old_parts = parts(self.old, &old, COMBINED);
        let new_parts = parts(self.new, &new, COMBINED);
        let (old_props, old_required) = object(&old_parts);
        let (new_props, new_required) = object(&new_parts);
        for (name, old_prop) in old_props {
            let Some(new_prop) = new_props.get(name) else {
                self.report(
                    &old_prop.at,
                    format_args!("response field `{name}` removed"),
                );
                continue;
            };
            if old_required.contains(name) && !new_required.contains(name) {
                let what = format!("response field `{name}` no longer required");
                self.report(&old_prop.at, what);
            }
            self.schema(Dir::Response, old_prop, new_prop.clone());
        }
        self.subschemas(
            Dir::Response,
            &old_parts,
            &new_parts,
            &["items", "additionalProperties"],
        );
    }

    /// Compares what `keys` hold (`items`, …) where both sides have a schema there.
    fn subschemas(&mut self, dir: Dir, old: &[Node<'a>], new: &[Node<'a>], keys: &[&str]) {
        for key in keys {
            if let (Some(o), Some(n)) = (first(old, key), first(new, key))
                && o.v.is_object()
                && n.v.is_object()
            {
                self.schema(dir, o, n);
            }
        }
    }

    /// A request schema must accept everything it accepted.
    fn request_schema(&mut self, old: Node<'a>, new: Node<'a>) {
        if old.v == &Value::Bool(false) {
            return;
        }
        if new.v == &Value::Bool(false) {
            self.report(&new.at, "accepts nothing any more");
            return;
        }
        let (old_alts, new_alts) = (alternatives(&old), alternatives(&new));
        if old_alts.is_some() || new_alts.is_some() {
            let new_alts = new_alts.unwrap_or_else(|| vec![new.clone()]);
            for alt in old_alts.unwrap_or_else(|| vec![old.clone()]) {
                match self.counterpart(&alt, &new_alts) {
                    Some(n) => self.schema(Dir::Request, alt, n),
                    None => self.report(&alt.at, "no alternative accepts this one any more"),
                }
            }
            return;
        }
        let old_parts = parts(self.old, &old, ALL_OF);
        let new_parts = parts(self.new, &new, ALL_OF);
        self.request_values(&old_parts, &new_parts, &new.at);
        self.request_object(&old_parts, &new_parts, &new.at);
        let keys = ["items", "additionalProperties", "propertyNames"];
        self.subschemas(Dir::Request, &old_parts, &new_parts, &keys);
    }

    /// Type, enum, pattern and numeric limits.
    fn request_values(&mut self, old: &[Node<'a>], new: &[Node<'a>], at: &str) {
        let old_types = types(old);
        if let Some(new_types) = types(new)
            && !covers(Some(&new_types), old_types.as_ref())
        {
            let was = old_types.map_or("any".into(), |t| list(&t));
            let at = first(new, "type").map_or(at.to_owned(), |n| n.at);
            self.report(
                &at,
                format_args!("type narrowed from {was} to {}", list(&new_types)),
            );
        }
        if let Some((at, new_values)) = enum_values(new) {
            match enum_values(old) {
                None => self.report(&at, "values now limited to an enum"),
                Some((_, old_values)) => {
                    for v in old_values.into_iter().filter(|v| !new_values.contains(v)) {
                        self.report(&at, format_args!("enum value {v} no longer accepted"));
                    }
                }
            }
        }
        if let Some(now) = first(new, "pattern")
            && first(old, "pattern").is_none_or(|was| was.v != now.v)
        {
            let was = first(old, "pattern").map_or("none".into(), |was| was.v.to_string());
            self.report(
                &now.at,
                format_args!("pattern changed from {was} to {}", now.v),
            );
        }
        for &(key, absent, lower_is_tighter) in BOUNDS {
            let number = |parts: &[Node<'a>]| first(parts, key).filter(|n| n.v.is_number());
            let (Some(now), was) = (number(new), number(old)) else {
                continue;
            };
            let value = |n: &Node<'_>| n.v.as_f64().unwrap_or(absent);
            let (n, o) = (value(&now), was.as_ref().map_or(absent, value));
            if (lower_is_tighter && n < o) || (!lower_is_tighter && n > o) {
                let how = if lower_is_tighter {
                    "lowered"
                } else {
                    "raised"
                };
                let was = was.map_or("none".into(), |was| was.v.to_string());
                self.report(&now.at, format_args!("{key} {how} from {was} to {}", now.v));
            }
        }
    }

    /// Required properties, `additionalProperties`, and the properties themselves.
    fn request_object(&mut self, old: &[Node<'a>], new: &[Node<'a>], at: &str) {
        let (old_props, old_required) = object(old);
        let (new_props, new_required) = object(new);
        let required_at = first(new, "required").map_or(at.to_owned(), |n| n.at);
        for name in new_required.difference(&old_required) {
            let what = if old_props.contains_key(name) {
                format!("optional property `{name}` now required")
            } else {
                format!("new required property `{name}`")
            };
            self.report(&required_at, what);
        }
        let closed = |n: &Option<Node<'_>>| n.as_ref().is_some_and(|n| n.v == &Value::Bool(false));
        let new_additional = first(new, "additionalProperties");
        if closed(&new_additional) {
            if !closed(&first(old, "additionalProperties")) {
                let at = new_additional.map_or(at.to_owned(), |n| n.at);
                self.report(&at, "additionalProperties now false");
            }
            for (name, prop) in &old_props {
                if !new_props.contains_key(name) {
                    self.report(
                        &prop.at,
                        format_args!("property `{name}` no longer accepted"),
                    );
                }
            }
        }
        for (name, old_prop) in old_props {
            if let Some(new_prop) = new_props.get(name) {
                self.schema(Dir::Request, old_prop, new_prop.clone());
            }
        }
    }

    /// The alternative of `candidates` that best takes over `old`'s: among those whose
    /// type allows `old`'s, the one with the fewest breaks (the first of equals).
    fn counterpart(&self, old: &Node<'a>, candidates: &[Node<'a>]) -> Option<Node<'a>> {
        let old_types = types(&parts(self.old, old, ALL_OF));
        let allows = |n: &&Node<'a>| {
            covers(
                types(&parts(self.new, n, ALL_OF)).as_ref(),
                old_types.as_ref(),
            )
        };
        let breaks = |n: &&Node<'a>| {
            let mut trial = Compat::new(self.old, self.new);
            trial.seen.clone_from(&self.seen);
            trial.schema(Dir::Request, old.clone(), (*n).clone());
            trial.found.len()
        };
        candidates.iter().filter(allows).min_by_key(breaks).cloned()
    }

    fn error_codes(&mut self) {
        let (old, new) = (error_codes(self.old), error_codes(self.new));
        let mut reported = BTreeSet::new();
        for (at, codes) in &old.enums {
            let Some(now) = new.enums.get(at) else {
                continue;
            };
            for code in codes.difference(now) {
                self.report(at, format_args!("error code {code} removed"));
                reported.insert(code.clone());
            }
        }
        for (code, at) in &old.all {
            if !new.all.contains_key(code) && !reported.contains(code) {
                let what = format!("error code {code} removed: the document no longer names it");
                self.report(at, what);
            }
        }
    }
}
