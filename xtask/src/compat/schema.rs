//! Walking an OpenAPI document: nodes with their JSON pointers, `$ref`s followed, the
//! parts of combined schemas, and the error codes a document names.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::Value;

pub(super) const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
pub(super) const ALL_OF: &[&str] = &["allOf"];
pub(super) const COMBINED: &[&str] = &["allOf", "oneOf", "anyOf"];

/// Numeric limits: keyword, its value when absent, and whether a lower value is tighter.
pub(super) const BOUNDS: &[(&str, f64, bool)] = &[
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
pub(super) enum Dir {
    Request,
    Response,
}

/// A value in a document and the JSON pointer to it.
#[derive(Debug, Clone)]
pub(super) struct Node<'a> {
    pub(super) at: String,
    pub(super) v: &'a Value,
}

impl<'a> Node<'a> {
    pub(super) fn root(v: &'a Value) -> Self {
        Node { at: "#".into(), v }
    }

    pub(super) fn get(&self, key: &str) -> Option<Node<'a>> {
        let v = self.v.get(key)?;
        let at = format!("{}/{}", self.at, key.replace('~', "~0").replace('/', "~1"));
        Some(Node { at, v })
    }

    pub(super) fn str(&self, key: &str) -> Option<&'a str> {
        self.v.get(key)?.as_str()
    }

    pub(super) fn flag(&self, key: &str) -> bool {
        self.v.get(key).and_then(Value::as_bool) == Some(true)
    }

    /// Follows `$ref`s inside `doc`; a reference that leads nowhere is left as it is.
    pub(super) fn resolve(mut self, doc: &'a Value) -> Node<'a> {
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
pub(super) fn entries(node: Option<Node<'_>>) -> Vec<(&str, Node<'_>)> {
    let Some(node) = node else { return vec![] };
    let members = node.v.as_object().into_iter().flatten();
    members
        .map(|(k, _)| (k.as_str(), node.get(k).expect("a member")))
        .collect()
}

/// The elements of an array; none if there is no array.
pub(super) fn elements(node: Option<Node<'_>>) -> Vec<Node<'_>> {
    let Some(node) = node else { return vec![] };
    let elements = node.v.as_array().into_iter().flatten().enumerate();
    let at = |i| format!("{}/{i}", node.at);
    elements.map(|(i, v)| Node { at: at(i), v }).collect()
}

/// The paths of a document by their shape (`/x/{}`), so renaming a path parameter does
/// not remove the path.
pub(super) fn paths_by_shape(doc: &Value) -> BTreeMap<String, (&str, Node<'_>)> {
    let shape = |path: &str| {
        let segments = path.split('/').map(|s| if is_param(s) { "{}" } else { s });
        segments.collect::<Vec<_>>().join("/")
    };
    let paths = entries(Node::root(doc).get("paths")).into_iter();
    paths
        .map(|(path, item)| (shape(path), (path, item)))
        .collect()
}

pub(super) fn is_param(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

/// Parameters by where they go and their name; path parameters by their place in the
/// path, headers case-insensitively.
pub(super) type Params<'a> = BTreeMap<(String, String), Node<'a>>;

/// An operation's parameters: the path item's, overridden by the operation's.
pub(super) fn parameters<'a>(
    doc: &'a Value,
    path: &str,
    item: &Node<'a>,
    op: &Node<'a>,
) -> Params<'a> {
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
pub(super) fn both<'a>(old: &Node<'a>, new: &Node<'a>, key: &str) -> Option<(Node<'a>, Node<'a>)> {
    Some((old.get(key)?, new.get(key)?))
}

/// The schema and, through `$ref`, the members of its `via` keywords, recursively.
pub(super) fn parts<'a>(doc: &'a Value, schema: &Node<'a>, via: &[&str]) -> Vec<Node<'a>> {
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
pub(super) fn first<'a>(parts: &[Node<'a>], key: &str) -> Option<Node<'a>> {
    parts.iter().find_map(|p| p.get(key))
}

/// The properties (first definition wins) and required names of all `parts`.
pub(super) fn object<'a>(parts: &[Node<'a>]) -> (BTreeMap<&'a str, Node<'a>>, BTreeSet<&'a str>) {
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
pub(super) fn alternatives<'a>(schema: &Node<'a>) -> Option<Vec<Node<'a>>> {
    let alts: Vec<_> = ["oneOf", "anyOf"]
        .into_iter()
        .flat_map(|k| elements(schema.get(k)))
        .collect();
    (!alts.is_empty()).then_some(alts)
}

/// A string, or the strings of an array.
pub(super) fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// The types a schema allows; `None` for any.
pub(super) fn types(parts: &[Node<'_>]) -> Option<BTreeSet<String>> {
    let part = first(parts, "type")?;
    Some(
        strings(Some(part.v))
            .into_iter()
            .map(str::to_owned)
            .collect(),
    )
}

/// Whether types `new` allow everything types `old` did (an integer is a number).
pub(super) fn covers(new: Option<&BTreeSet<String>>, old: Option<&BTreeSet<String>>) -> bool {
    match (new, old) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(new), Some(old)) => old
            .iter()
            .all(|t| new.contains(t) || (t == "integer" && new.contains("number"))),
    }
}

pub(super) fn list(types: &BTreeSet<String>) -> String {
    types.iter().cloned().collect::<Vec<_>>().join("|")
}

/// Where the `enum` (or `const`) is and its values.
pub(super) fn enum_values<'a>(parts: &[Node<'a>]) -> Option<(String, Vec<&'a Value>)> {
    parts.iter().find_map(|p| {
        if let Some(e) = p.get("enum").filter(|e| e.v.is_array()) {
            return Some((e.at, e.v.as_array()?.iter().collect()));
        }
        p.get("const").map(|c| (c.at, vec![c.v]))
    })
}

/// The error codes a document names.
#[derive(Default)]
pub(super) struct Codes {
    /// Each `code` enum of an error schema (by the enum's location) and its values.
    pub(super) enums: BTreeMap<String, BTreeSet<String>>,
    /// Every code named anywhere, and the first place it is.
    pub(super) all: BTreeMap<String, String>,
}

pub(super) fn error_codes(doc: &Value) -> Codes {
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
pub(super) fn described_codes(description: &str) -> Vec<String> {
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
