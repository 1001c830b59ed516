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
    let Some(catalogue) = catalogue else {
        return;
    };
    for error in &response.errors {
        if !error.path.is_empty() {
            null_out(&mut response.data, &error.path, catalogue);
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
        let details = match app_error {
            AppError::Validation { details, .. }
            | AppError::Application { details, .. }
            | AppError::Forbidden { details } => value_of(details),
            AppError::RateLimited { .. } => value_of(&app_error.details()),
            _ => Value::Object(Default::default()),
        };
        extensions.set(
            "error",
            strapi_error(app_error.name(), &error.message, details),
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
    if let Some(line) = one_line_syntax_error(&error.message) {
        error.message = line;
    }
    extensions.set("code", code);
    extensions.set(
        "error",
        strapi_error(name, &error.message, Value::Object(Default::default())),
    );
}

/// The parser's report of a syntax error, drawn over several lines (` --> 1:11`, the line with
/// a caret, `= expected selection_set, …`), as one line a log or a client shows whole:
/// `Syntax error at 1:11: expected selection_set, …`.
fn one_line_syntax_error(message: &str) -> Option<String> {
    let position = message
        .trim_start()
        .strip_prefix("--> ")?
        .lines()
        .next()?
        .trim();
    let expected = message
        .lines()
        .find_map(|line| line.trim_start().strip_prefix("= "))?
        .trim();
    Some(format!("Syntax error at {position}: {expected}"))
}

/// `{name, message, details}`, as [`AppError::strapi_error`] gives it for REST, built as a
/// GraphQL value directly: going through `Value::from_json` (serde) was a tenth of the
/// instructions of a refused request.
fn strapi_error(name: &str, message: &str, details: Value) -> Value {
    // The keys are made once: each `Name::new` allocates.
    static KEYS: std::sync::LazyLock<[Name; 3]> = std::sync::LazyLock::new(|| {
        [
            Name::new("name"),
            Name::new("message"),
            Name::new("details"),
        ]
    });
    let [name_key, message_key, details_key] = &*KEYS;
    let mut error = async_graphql::indexmap::IndexMap::with_capacity(3);
    error.insert(name_key.clone(), Value::String(name.to_string()));
    error.insert(message_key.clone(), Value::String(message.to_string()));
    error.insert(details_key.clone(), details);
    Value::Object(error)
}

/// A JSON value as a GraphQL value: numbers, strings, lists and objects alike.
fn value_of(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => Value::Number(n.clone()),
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => Value::List(items.iter().map(value_of).collect()),
        serde_json::Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (Name::new(k), value_of(v)))
                .collect(),
        ),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_extension_is_the_rest_error_body() {
        let errors: [fn() -> AppError; 3] = [
            || AppError::validation("attributes must be an object"),
            || AppError::Forbidden {
                details: serde_json::json!({ "action": "a", "conditions": ["x", 1, 2.5, null, true], "nested": {"k": []} }),
            },
            || AppError::NotFound("User not found".into()),
        ];
        for make in errors {
            let app_error = make();
            let mut error = ServerError::new("unset", None);
            error.source = Some(std::sync::Arc::new(make()));
            describe(&mut error);
            let extensions = error.extensions.clone().expect("extensions");
            assert_eq!(
                extensions.get("error").cloned().unwrap(),
                Value::from_json(app_error.strapi_error()).unwrap(),
                "{app_error:?}"
            );
            assert_eq!(
                extensions.get("code").cloned().unwrap(),
                Value::from(app_error.code())
            );
            assert_eq!(error.message, app_error.to_string());
        }
    }
}
