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

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use serde_json::Value;

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

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
const ALL_OF: &[&str] = &["allOf"];
const COMBINED: &[&str] = &["allOf", "oneOf", "anyOf"];

/// Numeric limits: keyword, its value when absent, and whether a lower value is tighter.
const BOUNDS: &[(&str, f64, bool)] = &[
    ("maxLength", f64::INFINITY, true),
    ("maximum", f64::INFINITY, true),
    ("exclusiveMaximum", f64::INFINITY, true),
    ("maxItems", f64::INFINITY, true),
    ("maxProperties", f64::INFINITY, true),
    ("minLength", 0.0, false),
    ("minimum", f64::NEG_INFINITY, false),
    ("exclusiveMinimum", f64::NEG_INFINITY, false),
    ("minItems", 0.0, false),
    ("minProperties", 0.0, false),
];

/// Which way data flows: a request must accept everything it accepted, a response must
/// still carry everything it carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Dir {
    Request,
    Response,
}

/// A value in a document and the JSON pointer to it.
#[derive(Debug, Clone)]
struct Node<'a> {
    at: String,
    v: &'a Value,
}

impl<'a> Node<'a> {
    fn root(v: &'a Value) -> Self {
        Node { at: "#".into(), v }
    }

    fn get(&self, key: &str) -> Option<Node<'a>> {
        let v = self.v.get(key)?;
        let at = format!("{}/{}", self.at, key.replace('~', "~0").replace('/', "~1"));
        Some(Node { at, v })
    }

    fn str(&self, key: &str) -> Option<&'a str> {
        self.v.get(key)?.as_str()
    }

    fn flag(&self, key: &str) -> bool {
        self.v.get(key).and_then(Value::as_bool) == Some(true)
    }

    /// Follows `$ref`s inside `doc`; a reference that leads nowhere is left as it is.
    fn resolve(mut self, doc: &'a Value) -> Node<'a> {
        for _ in 0..32 {
            let target = self.str("$ref").filter(|r| r.starts_with('#'));
            let Some((at, v)) = target.and_then(|r| Some((r, doc.pointer(&r[1..])?))) else {
                break;
            };
            self = Node { at: at.into(), v };
        }
        self
    }
}

/// The members of an object; none if there is no object.
fn entries(node: Option<Node<'_>>) -> Vec<(&str, Node<'_>)> {
    let Some(node) = node else { return vec![] };
    let members = node.v.as_object().into_iter().flatten();
    members
        .map(|(k, _)| (k.as_str(), node.get(k).expect("a member")))
        .collect()
}

/// The elements of an array; none if there is no array.
fn elements(node: Option<Node<'_>>) -> Vec<Node<'_>> {
    let Some(node) = node else { return vec![] };
    let elements = node.v.as_array().into_iter().flatten().enumerate();
    let at = |i| format!("{}/{i}", node.at);
    elements.map(|(i, v)| Node { at: at(i), v }).collect()
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

/// The paths of a document by their shape (`/x/{}`), so renaming a path parameter does
/// not remove the path.
fn paths_by_shape(doc: &Value) -> BTreeMap<String, (&str, Node<'_>)> {
    let shape = |path: &str| {
        let segments = path.split('/').map(|s| if is_param(s) { "{}" } else { s });
        segments.collect::<Vec<_>>().join("/")
    };
    let paths = entries(Node::root(doc).get("paths")).into_iter();
    paths
        .map(|(path, item)| (shape(path), (path, item)))
        .collect()
}

fn is_param(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

/// Parameters by where they go and their name; path parameters by their place in the
/// path, headers case-insensitively.
type Params<'a> = BTreeMap<(String, String), Node<'a>>;

/// An operation's parameters: the path item's, overridden by the operation's.
fn parameters<'a>(doc: &'a Value, path: &str, item: &Node<'a>, op: &Node<'a>) -> Params<'a> {
    let mut out = BTreeMap::new();
    let lists = [item.get("parameters"), op.get("parameters")];
    for p in lists.into_iter().flat_map(elements) {
        let p = p.resolve(doc);
        let (Some(place), Some(name)) = (p.str("in"), p.str("name")) else {
            continue;
        };
        let key = match place {
            "path" => {
                let mut params = path.split('/').filter(|s| is_param(s));
                let place = params.position(|s| s[1..s.len() - 1] == *name);
                place.map_or_else(|| name.to_owned(), |i| format!("{{{i}}}"))
            }
            "header" => name.to_ascii_lowercase(),
            _ => name.to_owned(),
        };
        out.insert((place.to_owned(), key), p);
    }
    out
}

/// What `key` holds on both sides, if both have it.
fn both<'a>(old: &Node<'a>, new: &Node<'a>, key: &str) -> Option<(Node<'a>, Node<'a>)> {
    Some((old.get(key)?, new.get(key)?))
}

/// The schema and, through `$ref`, the members of its `via` keywords, recursively.
fn parts<'a>(doc: &'a Value, schema: &Node<'a>, via: &[&str]) -> Vec<Node<'a>> {
    let (mut out, mut seen, mut todo) = (vec![], HashSet::new(), vec![schema.clone()]);
    while let Some(node) = todo.pop() {
        let node = node.resolve(doc);
        if !seen.insert(node.at.clone()) {
            continue;
        }
        for key in via.iter().rev() {
            todo.extend(elements(node.get(key)).into_iter().rev());
        }
        out.push(node);
    }
    out
}

/// The first of `parts` that has `key`.
fn first<'a>(parts: &[Node<'a>], key: &str) -> Option<Node<'a>> {
    parts.iter().find_map(|p| p.get(key))
}

/// The properties (first definition wins) and required names of all `parts`.
fn object<'a>(parts: &[Node<'a>]) -> (BTreeMap<&'a str, Node<'a>>, BTreeSet<&'a str>) {
    let (mut props, mut required) = (BTreeMap::new(), BTreeSet::new());
    for part in parts {
        for (name, prop) in entries(part.get("properties")) {
            props.entry(name).or_insert(prop);
        }
        required.extend(strings(part.v.get("required")));
    }
    (props, required)
}

/// `oneOf` and `anyOf` alternatives of a schema, if it has any.
fn alternatives<'a>(schema: &Node<'a>) -> Option<Vec<Node<'a>>> {
    let alts: Vec<_> = ["oneOf", "anyOf"]
        .into_iter()
        .flat_map(|k| elements(schema.get(k)))
        .collect();
    (!alts.is_empty()).then_some(alts)
}

/// A string, or the strings of an array.
fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// The types a schema allows; `None` for any.
fn types(parts: &[Node<'_>]) -> Option<BTreeSet<String>> {
    let part = first(parts, "type")?;
    Some(
        strings(Some(part.v))
            .into_iter()
            .map(str::to_owned)
            .collect(),
    )
}

/// Whether types `new` allow everything types `old` did (an integer is a number).
fn covers(new: Option<&BTreeSet<String>>, old: Option<&BTreeSet<String>>) -> bool {
    match (new, old) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(new), Some(old)) => old
            .iter()
            .all(|t| new.contains(t) || (t == "integer" && new.contains("number"))),
    }
}

fn list(types: &BTreeSet<String>) -> String {
    types.iter().cloned().collect::<Vec<_>>().join("|")
}

/// Where the `enum` (or `const`) is and its values.
fn enum_values<'a>(parts: &[Node<'a>]) -> Option<(String, Vec<&'a Value>)> {
    parts.iter().find_map(|p| {
        if let Some(e) = p.get("enum").filter(|e| e.v.is_array()) {
            return Some((e.at, e.v.as_array()?.iter().collect()));
        }
        p.get("const").map(|c| (c.at, vec![c.v]))
    })
}

/// The error codes a document names.
#[derive(Default)]
struct Codes {
    /// Each `code` enum of an error schema (by the enum's location) and its values.
    enums: BTreeMap<String, BTreeSet<String>>,
    /// Every code named anywhere, and the first place it is.
    all: BTreeMap<String, String>,
}

fn error_codes(doc: &Value) -> Codes {
    let mut codes = Codes::default();
    for (_, item) in entries(Node::root(doc).get("paths")) {
        let item = item.resolve(doc);
        for op in METHODS.iter().filter_map(|m| item.get(m)) {
            for (status, response) in entries(op.get("responses")) {
                if !(status.starts_with('4') || status.starts_with('5') || status == "default") {
                    continue;
                }
                let response = response.resolve(doc);
                if let Some(description) = response.str("description") {
                    let at = format!("{}/description", response.at);
                    for code in described_codes(description) {
                        codes.all.entry(code).or_insert_with(|| at.clone());
                    }
                }
                let media = entries(response.get("content"));
                for schema in media.iter().filter_map(|(_, m)| m.get("schema")) {
                    for part in parts(doc, &schema, COMBINED) {
                        let Some(code) = part.get("properties").and_then(|p| p.get("code")) else {
                            continue;
                        };
                        let Some((at, values)) = enum_values(&parts(doc, &code, ALL_OF)) else {
                            continue;
                        };
                        let values = values.iter().filter_map(|v| v.as_str());
                        let values: BTreeSet<String> = values.map(str::to_owned).collect();
                        for v in &values {
                            codes.all.entry(v.clone()).or_insert_with(|| at.clone());
                        }
                        codes.enums.insert(at, values);
                    }
                }
            }
        }
    }
    codes
}

/// The codes an error response's description names: `UPPER_SNAKE` words that either open
/// it (`VALIDATION: invalid body`) or hold an underscore (`… or EVENT_NOT_LIVE`), so an
/// abbreviation in the prose (`Malformed CIDR`) is not taken for one.
fn described_codes(description: &str) -> Vec<String> {
    let words = description.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
    let code_shaped = |w: &str| {
        w.len() >= 2
            && w.starts_with(|c: char| c.is_ascii_uppercase())
            && w.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    };
    words
        .filter(|w| !w.is_empty())
        .enumerate()
        .filter(|(i, w)| code_shaped(w) && (*i == 0 || w.contains('_')))
        .map(|(_, w)| w.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A small API in the shape utoipa writes: shared `$ref`s, a recursive schema, a
    /// nullable `oneOf` body, a map of `allOf` values, codes in an enum and in prose.
    fn base() -> Value {
        let error =
            json!({"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}});
        let item = json!({"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}});
        json!({
            "openapi": "3.1.0",
            "paths": {
                "/items": {
                    "get": {
                        "parameters": [
                            {"in": "query", "name": "limit", "required": false,
                             "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                            {"in": "query", "name": "cursor", "schema": {"type": "string"}}
                        ],
                        "responses": {
                            "200": {"description": "Success", "content": {"application/json": {
                                "schema": {"$ref": "#/components/schemas/ItemList"}}}},
                            "400": {"description": "VALIDATION: bad limit or cursor", "content": error},
                            "429": {"description": "RATE_LIMITED: see Retry-After"}
                        }
                    },
                    "post": {
                        "parameters": [{"in": "header", "name": "Idempotency-Key", "required": false,
                                        "schema": {"type": "string"}}],
                        "requestBody": {"required": true, "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/CreateItem"}}}},
                        "responses": {
                            "201": {"description": "Success", "content": item},
                            "409": {"description": "ITEM_EXISTS or QUOTA_EXCEEDED (Malformed CIDR)",
                                    "content": error}
                        }
                    }
                },
                "/items/{id}": {
                    "get": {
                        "parameters": [{"in": "path", "name": "id", "required": true,
                                        "schema": {"type": "string"}}],
                        "responses": {
                            "200": {"description": "Success", "content": item},
                            "404": {"description": "No such item", "content": error}
                        }
                    },
                    "delete": {"responses": {"204": {"description": "Gone"}}}
                },
                "/items/{id}/notes": {
                    "post": {
                        "requestBody": {"required": false, "content": {"application/json": {"schema": {
                            "oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Note"}]}}}},
                        "responses": {"204": {"description": "Noted"}}
                    }
                }
            },
            "components": {"schemas": {
                "ErrorBody": {"type": "object", "required": ["error", "code"], "properties": {
                    "error": {"type": "string"},
                    "code": {"type": "string", "enum": ["VALIDATION", "NOT_FOUND", "ITEM_EXISTS"]}}},
                "ItemList": {"type": "object", "required": ["items"], "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
                    "next_cursor": {"type": ["string", "null"]}}},
                "Item": {"type": "object", "required": ["id", "name", "status"], "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "status": {"type": "string", "enum": ["open", "closed"]},
                    "parent": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Item"}]},
                    "labels": {"type": "object",
                               "additionalProperties": {"$ref": "#/components/schemas/Label"}}}},
                "Label": {"allOf": [{"$ref": "#/components/schemas/Named"}],
                          "properties": {"color": {"type": "string"}}},
                "Named": {"type": "object", "required": ["title"],
                          "properties": {"title": {"type": "string"}}},
                "CreateItem": {"type": "object", "additionalProperties": false, "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 200},
                        "kind": {"type": "string", "enum": ["a", "b"]},
                        "count": {"type": "integer", "minimum": 0, "maximum": 10},
                        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
                        "note": {"type": ["string", "null"]}}},
                "Note": {"type": "object", "required": ["text"],
                         "properties": {"text": {"type": "string", "maxLength": 500}}}
            }}
        })
    }

    /// The breaks of `base()` changed by `change`, as printed.
    fn breaks(change: impl FnOnce(&mut Value)) -> Vec<String> {
        let mut current = base();
        change(&mut current);
        check(&base(), &current)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn remove(v: &mut Value, key: &str) -> Value {
        v.as_object_mut().unwrap().remove(key).unwrap()
    }

    fn schema<'v>(doc: &'v mut Value, name: &str) -> &'v mut Value {
        &mut doc["components"]["schemas"][name]
    }

    fn path<'v>(doc: &'v mut Value, path: &str, method: &str) -> &'v mut Value {
        &mut doc["paths"][path][method]
    }

    #[test]
    fn an_unchanged_document_passes() {
        assert_eq!(breaks(|_| {}), Vec::<String>::new());
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json");
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(root).unwrap()).unwrap();
        assert_eq!(check(&doc, &doc), []);
    }

    #[test]
    fn additive_changes_pass() {
        let found = breaks(|d| {
            // A new path, a new method, a new optional parameter.
            d["paths"]["/things"] = json!({"get": {"responses": {"200": {"description": "ok"}}}});
            d["paths"]["/items/{id}"]["put"] = json!({"responses": {"200": {"description": "ok"}}});
            let params = path(d, "/items", "get")["parameters"]
                .as_array_mut()
                .unwrap();
            params.push(json!({"in": "query", "name": "q", "schema": {"type": "string"}}));
            // Wider ranges, a wider type, a new request enum value, looser objects.
            let create = schema(d, "CreateItem");
            create["properties"]["color"] = json!({"type": "string", "pattern": "^#"});
            create["properties"]["name"]["maxLength"] = json!(500);
            create["properties"]["name"]["minLength"] = json!(0);
            create["properties"]["count"] = json!({"type": "number", "minimum": -5});
            create["properties"]["tags"]["maxItems"] = json!(10);
            create["properties"]["kind"]["enum"] = json!(["a", "b", "c"]);
            create["required"] = json!([]);
            create["additionalProperties"] = json!(true);
            path(d, "/items", "get")["parameters"][0]["schema"]["maximum"] = json!(1000);
            path(d, "/items", "post")["requestBody"]["required"] = json!(false);
            // Header names are case-insensitive.
            path(d, "/items", "post")["parameters"][0]["name"] = json!("idempotency-key");
            // A new response field, a new enum value in a response, an optional field
            // now always there.
            let item = schema(d, "Item");
            item["properties"]["created_at"] = json!({"type": "string"});
            item["properties"]["status"]["enum"] = json!(["open", "closed", "archived"]);
            schema(d, "ItemList")["required"] = json!(["items", "next_cursor"]);
            // Another success status, another error code, another body alternative.
            let created = path(d, "/items", "post")["responses"]["201"].clone();
            path(d, "/items", "post")["responses"]["200"] = created;
            let codes = &mut schema(d, "ErrorBody")["properties"]["code"]["enum"];
            codes.as_array_mut().unwrap().push(json!("GONE"));
            let body = &mut path(d, "/items/{id}/notes", "post")["requestBody"]["content"];
            let alternatives = &mut body["application/json"]["schema"]["oneOf"];
            alternatives
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "string"}));
            // An error response no longer documented (its code still is).
            remove(&mut path(d, "/items/{id}", "get")["responses"], "404");
            // A path parameter renamed is the same path.
            let by_id = remove(&mut d["paths"], "/items/{id}");
            d["paths"]["/items/{item_id}"] = by_id;
            d["paths"]["/items/{item_id}"]["get"]["parameters"][0]["name"] = json!("item_id");
        });
        assert_eq!(found, Vec::<String>::new());
    }

    #[test]
    fn a_removed_path_or_method_breaks() {
        let found = breaks(|d| {
            remove(&mut d["paths"], "/items/{id}/notes");
            remove(&mut d["paths"]["/items/{id}"], "delete");
        });
        assert_eq!(
            found,
            [
                "#/paths/~1items~1{id}/delete: DELETE /items/{id} removed",
                "#/paths/~1items~1{id}~1notes: path /items/{id}/notes removed (POST)",
            ]
        );
    }

    #[test]
    fn a_removed_success_status_breaks() {
        let found = breaks(|d| {
            let responses = &mut path(d, "/items", "post")["responses"];
            responses["200"] = remove(responses, "201");
        });
        assert_eq!(
            found,
            ["#/paths/~1items/post/responses/201: success status 201 removed (POST /items)"]
        );
    }

    #[test]
    fn a_removed_or_no_longer_required_response_field_breaks() {
        // Item is reached through ItemList.items, the 201 of POST /items, GET /items/{id},
        // and itself (parent); Named.title through a map of allOf values.
        let found = breaks(|d| {
            let item = schema(d, "Item");
            remove(&mut item["properties"], "name");
            item["required"] = json!(["id"]);
            schema(d, "Named")["properties"] = json!({});
        });
        assert_eq!(
            found,
            [
                "#/components/schemas/Item/properties/name: response field `name` removed (GET /items 200 response)",
                "#/components/schemas/Item/properties/status: response field `status` no longer required (GET /items 200 response)",
                "#/components/schemas/Named/properties/title: response field `title` removed (GET /items 200 response)",
            ]
        );
        // Inline, and through oneOf alternatives.
        let found = breaks(|d| {
            let list = schema(d, "ItemList");
            remove(&mut list["properties"], "next_cursor");
            let body = json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Named"}]});
            path(d, "/items/{id}", "get")["responses"]["200"]["content"]["application/json"]["schema"] =
                body;
        });
        assert_eq!(
            found,
            [
                "#/components/schemas/Item/properties/id: response field `id` removed (GET /items/{id} 200 response)",
                "#/components/schemas/Item/properties/labels: response field `labels` removed (GET /items/{id} 200 response)",
                "#/components/schemas/Item/properties/name: response field `name` removed (GET /items/{id} 200 response)",
                "#/components/schemas/Item/properties/parent: response field `parent` removed (GET /items/{id} 200 response)",
                "#/components/schemas/Item/properties/status: response field `status` removed (GET /items/{id} 200 response)",
                "#/components/schemas/ItemList/properties/next_cursor: response field `next_cursor` removed (GET /items 200 response)",
            ]
        );
        // A JSON body gone altogether.
        let found = breaks(|d| {
            path(d, "/items/{id}", "get")["responses"]["200"]["content"] =
                json!({"text/plain": {}});
        });
        assert_eq!(
            found,
            [
                "#/paths/~1items~1{id}/get/responses/200/content/application~1json: media type application/json removed (GET /items/{id} 200 response)"
            ]
        );
    }

    #[test]
    fn a_removed_error_code_breaks() {
        // From the enum of the error envelope's code.
        let found = breaks(|d| {
            schema(d, "ErrorBody")["properties"]["code"]["enum"] =
                json!(["VALIDATION", "ITEM_EXISTS"]);
        });
        assert_eq!(
            found,
            ["#/components/schemas/ErrorBody/properties/code/enum: error code NOT_FOUND removed"]
        );
        // Renamed in a description, or dropped from one; once, though still described.
        let found = breaks(|d| {
            let post = path(d, "/items", "post");
            post["responses"]["409"]["description"] = json!("ITEM_EXISTS or QUOTA_REACHED");
            path(d, "/items", "get")["responses"]["429"]["description"] =
                json!("Too many requests");
            schema(d, "ErrorBody")["properties"]["code"]["enum"] =
                json!(["VALIDATION", "NOT_FOUND"]);
        });
        assert_eq!(
            found,
            [
                "#/components/schemas/ErrorBody/properties/code/enum: error code ITEM_EXISTS removed",
                "#/paths/~1items/get/responses/429/description: error code RATE_LIMITED removed: the document no longer names it",
                "#/paths/~1items/post/responses/409/description: error code QUOTA_EXCEEDED removed: the document no longer names it",
            ]
        );
        // A code moving from prose into the enum, or the enum into its own schema, stays.
        let found = breaks(|d| {
            let codes = json!([
                "VALIDATION",
                "NOT_FOUND",
                "ITEM_EXISTS",
                "QUOTA_EXCEEDED",
                "RATE_LIMITED"
            ]);
            schema(d, "ErrorCode").clone_from(&json!({"type": "string", "enum": codes}));
            schema(d, "ErrorBody")["properties"]["code"] =
                json!({"$ref": "#/components/schemas/ErrorCode"});
            path(d, "/items", "post")["responses"]["409"]["description"] = json!("Conflict");
            path(d, "/items", "get")["responses"]["429"]["description"] = json!("Too many");
        });
        assert_eq!(found, Vec::<String>::new());
    }

    #[test]
    fn codes_in_descriptions() {
        let codes = |d: &str| described_codes(d);
        assert_eq!(
            codes("VALIDATION: invalid body, fields or Idempotency-Key"),
            ["VALIDATION"]
        );
        assert_eq!(
            codes("HUMAN_SESSION_REQUIRED (an Authorization header was sent) or CSRF_FAILED"),
            ["HUMAN_SESSION_REQUIRED", "CSRF_FAILED"]
        );
        assert_eq!(codes("INTERNAL"), ["INTERNAL"]);
        assert_eq!(
            codes("Malformed CIDR, too many entries"),
            Vec::<String>::new()
        );
        assert_eq!(codes("No such event of yours"), Vec::<String>::new());
        assert_eq!(
            codes("PAYLOAD_TOO_LARGE: body over 64 KiB"),
            ["PAYLOAD_TOO_LARGE"]
        );

        // The real document names its codes in its error responses.
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json");
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(root).unwrap()).unwrap();
        let found = error_codes(&doc).all;
        for code in [
            "VALIDATION",
            "UNAUTHENTICATED",
            "RATE_LIMITED",
            "IDEMPOTENCY_KEY_REUSED",
            "INTERNAL",
        ] {
            assert!(found.contains_key(code), "{code} not found in openapi.json");
        }
        assert!(!found.contains_key("CIDR"));
    }

    #[test]
    fn new_or_newly_required_request_input_breaks() {
        let found = breaks(|d| {
            let create = schema(d, "CreateItem");
            create["properties"]["owner"] = json!({"type": "string"});
            create["required"] = json!(["name", "owner", "kind"]);
            let get = path(d, "/items", "get");
            get["parameters"][0]["required"] = json!(true);
            let tenant =
                json!({"in": "header", "name": "X-Tenant", "required": true, "schema": {}});
            get["parameters"].as_array_mut().unwrap().push(tenant);
            get["requestBody"] = json!({"required": true, "content": {}});
            path(d, "/items/{id}/notes", "post")["requestBody"]["required"] = json!(true);
        });
        assert_eq!(
            found,
            [
                "#/components/schemas/CreateItem/required: new required property `owner` (POST /items request body)",
                "#/components/schemas/CreateItem/required: optional property `kind` now required (POST /items request body)",
                "#/paths/~1items/get/parameters/0/required: optional parameter now required (GET /items query parameter `limit`)",
                "#/paths/~1items/get/parameters/2: new required parameter (GET /items header parameter `X-Tenant`)",
                "#/paths/~1items/get/requestBody: new required request body (GET /items request body)",
                "#/paths/~1items~1{id}~1notes/post/requestBody/required: request body now required (POST /items/{id}/notes request body)",
            ]
        );
    }

    #[test]
    fn narrower_request_values_break() {
        let found = breaks(|d| {
            let props = &mut schema(d, "CreateItem")["properties"];
            props["note"]["type"] = json!("string");
            props["kind"]["enum"] = json!(["a"]);
            props["name"] =
                json!({"type": "string", "minLength": 2, "maxLength": 100, "pattern": "^[a-z]+$"});
            props["count"] = json!({"type": "integer", "minimum": 1, "maximum": 9});
            props["tags"] = json!({"type": "array", "items": {"type": "integer"}, "maxItems": 4, "minItems": 1});
            let get = path(d, "/items", "get");
            get["parameters"][0]["schema"]["maximum"] = json!(50);
            get["parameters"][1]["schema"] = json!({"type": "string", "enum": ["x"]});
            let by_id = path(d, "/items/{id}", "get");
            by_id["parameters"][0]["schema"] = json!({"type": "integer"});
        });
        let create = "#/components/schemas/CreateItem/properties";
        let body = "(POST /items request body)";
        assert_eq!(
            found,
            [
                format!("{create}/count/maximum: maximum lowered from 10 to 9 {body}"),
                format!("{create}/count/minimum: minimum raised from 0 to 1 {body}"),
                format!("{create}/kind/enum: enum value \"b\" no longer accepted {body}"),
                format!("{create}/name/maxLength: maxLength lowered from 200 to 100 {body}"),
                format!("{create}/name/minLength: minLength raised from 1 to 2 {body}"),
                format!("{create}/name/pattern: pattern changed from none to \"^[a-z]+$\" {body}"),
                format!("{create}/note/type: type narrowed from null|string to string {body}"),
                format!("{create}/tags/items/type: type narrowed from string to integer {body}"),
                format!("{create}/tags/maxItems: maxItems lowered from 5 to 4 {body}"),
                format!("{create}/tags/minItems: minItems raised from none to 1 {body}"),
                "#/paths/~1items/get/parameters/0/schema/maximum: maximum lowered from 100 to 50 (GET /items query parameter `limit`)".to_owned(),
                "#/paths/~1items/get/parameters/1/schema/enum: values now limited to an enum (GET /items query parameter `cursor`)".to_owned(),
                "#/paths/~1items~1{id}/get/parameters/0/schema/type: type narrowed from string to integer (GET /items/{id} path parameter `id`)".to_owned(),
            ]
        );
        // A changed pattern is a different rule, even if it looks wider.
        let mut old = base();
        old["paths"]["/items"]["get"]["parameters"][1]["schema"]["pattern"] = json!("^a");
        let mut new = old.clone();
        new["paths"]["/items"]["get"]["parameters"][1]["schema"]["pattern"] = json!("^(a|b)");
        assert_eq!(
            check(&old, &new)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "#/paths/~1items/get/parameters/1/schema/pattern: pattern changed from \"^a\" to \"^(a|b)\" (GET /items query parameter `cursor`)"
            ]
        );
    }

    #[test]
    fn closed_request_objects_break() {
        let found = breaks(|d| {
            schema(d, "Note")["additionalProperties"] = json!(false);
            remove(&mut schema(d, "CreateItem")["properties"], "tags");
        });
        assert_eq!(
            found,
            [
                "#/components/schemas/CreateItem/properties/tags: property `tags` no longer accepted (POST /items request body)",
                "#/components/schemas/Note/additionalProperties: additionalProperties now false (POST /items/{id}/notes request body)",
            ]
        );
    }

    #[test]
    fn request_alternatives_must_all_stay_accepted() {
        fn body(d: &mut Value) -> &mut Value {
            let post = path(d, "/items/{id}/notes", "post");
            &mut post["requestBody"]["content"]["application/json"]["schema"]
        }
        // `null` no longer accepted; Note tightened through the remaining alternative.
        let found = breaks(|d| {
            *body(d) = json!({"$ref": "#/components/schemas/Note"});
            schema(d, "Note")["properties"]["text"]["maxLength"] = json!(100);
        });
        assert_eq!(
            found,
            [
                "#/components/schemas/Note/properties/text/maxLength: maxLength lowered from 500 to 100 (POST /items/{id}/notes request body)",
                "#/paths/~1items~1{id}~1notes/post/requestBody/content/application~1json/schema/oneOf/0: no alternative accepts this one any more (POST /items/{id}/notes request body)",
            ]
        );
        // Alternatives reordered, or a plain schema made nullable: nothing lost.
        let reordered = breaks(|d| {
            *body(d) = json!({"anyOf": [{"$ref": "#/components/schemas/Note"}, {"type": "null"}]});
        });
        assert_eq!(reordered, Vec::<String>::new());
        // Of two alternatives of one type, each is matched with the one that takes it over.
        let mut old = base();
        let alternatives =
            json!([{"type": "string", "maxLength": 5}, {"type": "string", "pattern": "^a"}]);
        *body(&mut old) = json!({"oneOf": alternatives});
        let mut new = old.clone();
        body(&mut new)["oneOf"].as_array_mut().unwrap().reverse();
        assert_eq!(check(&old, &new), []);
        let found = breaks(|d| {
            path(d, "/items", "post")["requestBody"]["content"]["application/json"]["schema"] =
                json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/CreateItem"}]});
        });
        assert_eq!(found, Vec::<String>::new());
        // A media type no longer accepted.
        let found = breaks(|d| {
            path(d, "/items", "post")["requestBody"]["content"] =
                json!({"application/x-www-form-urlencoded": {}});
        });
        assert_eq!(
            found,
            [
                "#/paths/~1items/post/requestBody/content/application~1json: media type application/json removed (POST /items request body)"
            ]
        );
    }

    #[test]
    fn recursive_schemas_end() {
        let tree = json!({"type": "object", "properties": {
            "name": {"type": "string", "maxLength": 10},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}}}});
        let doc = |tree: Value| {
            let content =
                json!({"application/json": {"schema": {"$ref": "#/components/schemas/Tree"}}});
            json!({
                "paths": {"/trees": {"post": {
                    "requestBody": {"content": content},
                    "responses": {"200": {"description": "ok", "content": content}}}}},
                "components": {"schemas": {"Tree": tree}}
            })
        };
        let mut smaller = tree.clone();
        smaller["properties"]["name"]["maxLength"] = json!(5);
        remove(&mut smaller["properties"], "children");
        let found: Vec<String> = check(&doc(tree.clone()), &doc(smaller))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "#/components/schemas/Tree/properties/children: response field `children` removed (POST /trees 200 response)",
                "#/components/schemas/Tree/properties/name/maxLength: maxLength lowered from 10 to 5 (POST /trees request body)",
            ]
        );
        assert_eq!(check(&doc(tree.clone()), &doc(tree)), []);
    }
}
