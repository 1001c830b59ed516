//! The one pass over a response's errors: each gets Strapi's `extensions {code, error}`,
//! internal errors lose their details (and are logged), and a field that failed reads `null`
//! in `data`, as GraphQL clients expect, with the null moving up past non-null fields.

use async_graphql::{ErrorExtensionValues, Name, PathSegment, Response, ServerError, Value};

use crate::error::AppError;
use crate::policy::Catalogue;

pub(super) fn finish(response: &mut Response, catalogue: Option<&Catalogue>) {
    for error in &mut response.errors {
        describe(error);
    }
    if let Some(catalogue) = catalogue {
        let paths: Vec<Vec<PathSegment>> = response
            .errors
            .iter()
            .filter(|e| !e.path.is_empty())
            .map(|e| e.path.clone())
            .collect();
        for path in paths {
            null_out(&mut response.data, &path, catalogue);
        }
    }
}

fn describe(error: &mut ServerError) {
    let source = error.source.clone();
    let extensions = error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    if let Some(app_error) = source.as_deref().and_then(|s| s.downcast_ref::<AppError>()) {
        app_error.log_if_internal();
        error.message = app_error.to_string();
        extensions.set("code", app_error.code());
        extensions.set(
            "error",
            Value::from_json(app_error.strapi_error()).unwrap_or(Value::Null),
        );
        return;
    }
    if extensions.get("code").is_some() {
        return;
    }
    // Errors raised by the GraphQL engine itself: before execution (syntax, validation, limits)
    // they concern the whole document; during execution, the coercion of an input value.
    let code = if error.path.is_empty() {
        "GRAPHQL_VALIDATION_FAILED"
    } else {
        "BAD_USER_INPUT"
    };
    let name = if error.path.is_empty() {
        "GraphQLError"
    } else {
        "ValidationError"
    };
    extensions.set("code", code);
    let details = serde_json::json!({ "name": name, "message": error.message, "details": {} });
    extensions.set("error", Value::from_json(details).unwrap_or(Value::Null));
}

/// Writes `null` where the failed field at `path` was left out: at the field itself when it is
/// nullable, else at the nearest nullable field above it, else over the whole `data`.
fn null_out(data: &mut Value, path: &[PathSegment], catalogue: &Catalogue) {
    if matches!(data, Value::Null) {
        // Nothing resolved at all: `data` must still be an object of the root fields.
        *data = Value::Object(Default::default());
    }
    // The nullability of each field along the path.
    let mut nullable = Vec::with_capacity(path.len());
    let Some(PathSegment::Field(first)) = path.first() else {
        return;
    };
    let Some(mut type_name) = catalogue
        .roots()
        .iter()
        .find(|root| catalogue.shape(root, first).is_some())
        .cloned()
    else {
        return;
    };
    for segment in path {
        match segment {
            PathSegment::Field(field) => {
                let Some(shape) = catalogue.shape(&type_name, field) else {
                    return;
                };
                nullable.push(shape.nullable);
                type_name = shape.type_name.clone();
            }
            PathSegment::Index(_) => nullable.push(true),
        }
    }
    match nullable.iter().rposition(|n| *n) {
        // The failed field itself is filled in; an ancestor is replaced, as its value is incomplete.
        Some(at) => set_null(data, &path[..=at], at + 1 < path.len()),
        None => *data = Value::Null,
    }
}

/// Sets `null` at `path` inside `data` where nothing is (or, with `replace`, over what is).
fn set_null(data: &mut Value, path: &[PathSegment], replace: bool) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = data;
    for segment in parents {
        current = match (segment, current) {
            (PathSegment::Field(name), Value::Object(map)) => match map.get_mut(name.as_str()) {
                Some(next) => next,
                None => return,
            },
            (PathSegment::Index(i), Value::List(items)) => match items.get_mut(*i) {
                Some(next) => next,
                None => return,
            },
            _ => return,
        };
    }
    match (last, current) {
        (PathSegment::Field(name), Value::Object(map)) => {
            let key = Name::new(name);
            if replace || !map.contains_key(&key) {
                map.insert(key, Value::Null);
            }
        }
        (PathSegment::Index(i), Value::List(items)) => {
            if let Some(item) = items.get_mut(*i) {
                *item = Value::Null;
            }
        }
        _ => {}
    }
}
