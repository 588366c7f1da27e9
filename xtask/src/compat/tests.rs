//! Each rule of the contract on small hand-made documents, and the real one.

use super::*;
use serde_json::json;

/// A small API in the shape utoipa writes: shared `$ref`s, a recursive schema, a
/// nullable `oneOf` body, a map of `allOf` values, codes in an enum and in prose.
fn base() -> Value {
    let error = json!({"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}});
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
        path(d, "/items/{id}", "get")["responses"]["200"]["content"] = json!({"text/plain": {}});
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
        schema(d, "ErrorBody")["properties"]["code"]["enum"] = json!(["VALIDATION", "ITEM_EXISTS"]);
    });
    assert_eq!(
        found,
        ["#/components/schemas/ErrorBody/properties/code/enum: error code NOT_FOUND removed"]
    );
    // Renamed in a description, or dropped from one; once, though still described.
    let found = breaks(|d| {
        let post = path(d, "/items", "post");
        post["responses"]["409"]["description"] = json!("ITEM_EXISTS or QUOTA_REACHED");
        path(d, "/items", "get")["responses"]["429"]["description"] = json!("Too many requests");
        schema(d, "ErrorBody")["properties"]["code"]["enum"] = json!(["VALIDATION", "NOT_FOUND"]);
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
        let tenant = json!({"in": "header", "name": "X-Tenant", "required": true, "schema": {}});
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
        props["tags"] =
            json!({"type": "array", "items": {"type": "integer"}, "maxItems": 4, "minItems": 1});
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
