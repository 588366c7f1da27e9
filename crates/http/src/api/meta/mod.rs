//! About the API itself.

operations! {
    document => openapi_json,
}
