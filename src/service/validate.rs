//! Checks of user input, with Strapi's messages.

use serde_json::Value;

use crate::auth::password::MAX_PASSWORD_BYTES;
use crate::error::{AppError, AppResult, FieldError};

/// Whether `email` is a plausible address: `local@domain.tld`, no spaces, sane lengths.
pub fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    local_ok && domain_ok && email.len() <= 254
}

/// Checks of a password: present, 6 characters at least, 72 bytes at most (bcrypt's limit).
pub fn check_password(path: &'static str, password: &str, errors: &mut Vec<FieldError>) {
    let message = if password.is_empty() {
        format!("{path} is a required field")
    } else if password.chars().count() < 6 {
        format!("{path} must be at least 6 characters")
    } else if password.len() > MAX_PASSWORD_BYTES {
        "Password must be less than 73 bytes".to_string()
    } else {
        return;
    };
    // The value of a password is never echoed back.
    errors.push(FieldError {
        path,
        message,
        value: None,
    });
}

/// The message for attributes that are not a JSON object.
pub const ATTRIBUTES_NOT_AN_OBJECT: &str = "attributes must be an object";

/// Why `attributes` cannot be stored, if it cannot: it must be an object, and no key or string
/// in it may hold the character U+0000, which PostgreSQL's `jsonb` refuses (the users'
/// attributes are kept parsed there too). SQLite would take it; both backends refuse it alike.
pub fn attributes_problem(attributes: &Value) -> Option<&'static str> {
    fn holds_nul(value: &Value) -> bool {
        match value {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().any(holds_nul),
            Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
            Value::Null | Value::Bool(_) | Value::Number(_) => false,
        }
    }
    if !attributes.is_object() {
        Some(ATTRIBUTES_NOT_AN_OBJECT)
    } else if holds_nul(attributes) {
        Some("attributes cannot contain the character U+0000")
    } else {
        None
    }
}

/// The checks of `register`, all at once.
pub fn check_registration(username: &str, email: &str, password: &str) -> AppResult<()> {
    let mut errors = Vec::new();
    let echo = |s: &str| Some(Value::String(s.to_string()));
    if username.is_empty() {
        errors.push(FieldError {
            path: "username",
            message: "username is a required field".into(),
            value: echo(username),
        });
    } else if username.chars().count() < 3 {
        errors.push(FieldError {
            path: "username",
            message: "username must be at least 3 characters".into(),
            value: echo(username),
        });
    } else if username.chars().count() > 255 {
        errors.push(FieldError {
            path: "username",
            message: "username must be at most 255 characters".into(),
            value: None,
        });
    }
    if email.is_empty() {
        errors.push(FieldError {
            path: "email",
            message: "email is a required field".into(),
            value: echo(email),
        });
    } else if !is_valid_email(email) {
        errors.push(FieldError {
            path: "email",
            message: "email must be a valid email".into(),
            value: echo(email),
        });
    }
    check_password("password", password, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::invalid_fields(errors))
    }
}

/// The longest string an indexed or unique attribute may hold, in characters: at most 2,000
/// bytes, within the size PostgreSQL allows an index entry.
pub const MAX_INDEXED_STRING: usize = 500;

/// Checks `attributes` (an object, as it will be stored whole) against the declared attributes
/// (`[[user.attributes]]`): each declared one has its type (an `enumeration` one of its values),
/// a `required` one is present and not `null`, and, when undeclared keys are not allowed, no
/// other key is there. Every problem is reported at once, each at its path
/// (`["attributes", "team"]`), as Strapi reports its fields. Returns the attributes with
/// datetimes in their stored form (`YYYY-MM-DDTHH:MM:SS.sssZ`, UTC), which orders as time does.
pub fn check_declared_attributes(
    declared: &crate::db::fields::UserAttributes,
    mut attributes: Value,
) -> AppResult<Value> {
    use crate::config::AttributeType;
    let Value::Object(map) = &mut attributes else {
        return Ok(attributes);
    };
    let mut errors = Vec::new();
    let mut problem = |name: &str, message: String, value: Option<&Value>| {
        let mut entry = serde_json::json!({
            "path": ["attributes", name],
            "message": message,
            "name": "ValidationError",
        });
        if let Some(value) = value.filter(|v| !v.is_null()) {
            entry["value"] = value.clone();
        }
        errors.push(entry);
    };
    for attribute in declared.declared() {
        let name = attribute.name.as_str();
        let path = format!("attributes.{name}");
        let Some(value) = map.get_mut(name).filter(|v| !v.is_null()) else {
            if attribute.required {
                problem(name, format!("{path} is a required field"), None);
            }
            continue;
        };
        let fits = match attribute.kind {
            AttributeType::String => value.is_string(),
            AttributeType::Integer => value.is_i64() || value.is_u64(),
            AttributeType::Number => value.is_number(),
            AttributeType::Boolean => value.is_boolean(),
            AttributeType::Json => true,
            AttributeType::Enumeration => value.is_string(),
            AttributeType::Datetime => match value
                .as_str()
                .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
            {
                Some(time) => {
                    *value = Value::String(
                        time.with_timezone(&chrono::Utc)
                            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                            .to_string(),
                    );
                    true
                }
                None => false,
            },
        };
        if !fits {
            let shown = match &*value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let expected = match attribute.kind {
                AttributeType::Datetime => "datetime` (ISO 8601, e.g. 2026-01-31T12:00:00Z)",
                other => other.name(),
            };
            let expected = if expected.ends_with(')') {
                format!("`{expected}")
            } else {
                format!("`{expected}`")
            };
            problem(
                name,
                format!("{path} must be a {expected} type, but the final value was: `{shown}`."),
                Some(&*value),
            );
        } else if (attribute.indexed || attribute.unique)
            && value
                .as_str()
                .is_some_and(|text| text.chars().count() > MAX_INDEXED_STRING)
        {
            // An index entry has a size limit on PostgreSQL (about 2.7 kB).
            problem(
                name,
                format!("{path} must be at most {MAX_INDEXED_STRING} characters"),
                None,
            );
        } else if attribute.kind == AttributeType::Enumeration
            && !attribute
                .values
                .iter()
                .any(|v| Some(v.as_str()) == value.as_str())
        {
            problem(
                name,
                format!(
                    "{path} must be one of the following values: {}",
                    attribute.values.join(", ")
                ),
                Some(&*value),
            );
        }
    }
    if !declared.allow_undeclared {
        let mut undeclared: Vec<&String> = map
            .keys()
            .filter(|key| declared.get(key).is_none())
            .collect();
        undeclared.sort_unstable();
        for key in undeclared {
            problem(
                key,
                format!("Invalid key attributes.{key}: attributes may hold only the declared ones"),
                None,
            );
        }
    }
    let message = match errors.as_slice() {
        [] => return Ok(attributes),
        [one] => one["message"].as_str().unwrap_or_default().to_string(),
        many => format!("{} errors occurred", many.len()),
    };
    Err(AppError::Validation {
        message,
        details: serde_json::json!({ "errors": errors }),
    })
}

/// The error of a unique violation on a declared attribute's index, if it is one: Strapi's
/// "This attribute must be unique", at the attribute's path.
pub fn unique_attribute_error(
    declared: &crate::db::fields::UserAttributes,
    error: &diesel::result::Error,
) -> Option<AppError> {
    use diesel::result::{DatabaseErrorKind, Error};
    let Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) = error else {
        return None;
    };
    let place = format!(
        "{} {}",
        info.constraint_name().unwrap_or(""),
        info.message()
    );
    let attribute = declared.violated(&place)?;
    Some(AppError::Validation {
        message: "This attribute must be unique".into(),
        details: serde_json::json!({ "errors": [{
            "path": ["attributes", attribute.name],
            "message": "This attribute must be unique",
            "name": "ValidationError",
        }] }),
    })
}

/// `result`, unless it failed on a declared attribute's unique index: then that attribute's
/// error (see [`unique_attribute_error`]).
pub fn unique_attribute<T>(
    declared: &crate::db::fields::UserAttributes,
    result: diesel::QueryResult<T>,
) -> AppResult<diesel::QueryResult<T>> {
    match result {
        Err(error) => match unique_attribute_error(declared, &error) {
            Some(found) => Err(found),
            None => Ok(Err(error)),
        },
        ok => Ok(ok),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_objects_without_nul() {
        use serde_json::json;
        assert_eq!(
            attributes_problem(&json!({"team": "red", "n": [1, {"a": null}]})),
            None
        );
        assert_eq!(
            attributes_problem(&json!([1])),
            Some("attributes must be an object")
        );
        for nul in [
            json!({"a": "x\u{0}y"}),
            json!({"a\u{0}": 1}),
            json!({"a": [{"b": ["\u{0}"]}]}),
        ] {
            assert_eq!(
                attributes_problem(&nul),
                Some("attributes cannot contain the character U+0000"),
                "{nul}"
            );
        }
    }

    #[test]
    fn emails() {
        for good in ["a@b.co", "first.last+tag@example.com", "X@Sub.Example.ORG"] {
            assert!(is_valid_email(good), "{good} refused");
        }
        for bad in [
            "", "a", "a@", "@b.co", "a@b", "a b@c.de", "a@b..co", "a@-b.co", "a@b.c", ".a@b.co",
            "a@b.c0m1",
        ] {
            assert!(!is_valid_email(bad), "{bad} accepted");
        }
    }

    fn message(result: AppResult<()>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn registration_messages_are_strapis() {
        assert_eq!(
            message(check_registration("al", "a@b.co", "secret1")),
            "username must be at least 3 characters"
        );
        assert_eq!(
            message(check_registration("alice", "nope", "secret1")),
            "email must be a valid email"
        );
        assert_eq!(
            message(check_registration("alice", "a@b.co", "")),
            "password is a required field"
        );
        assert_eq!(
            message(check_registration("alice", "a@b.co", "12345")),
            "password must be at least 6 characters"
        );
        assert_eq!(
            message(check_registration("alice", "a@b.co", &"é".repeat(37))),
            "Password must be less than 73 bytes"
        );
        assert_eq!(
            message(check_registration("al", "nope", "1")),
            "3 errors occurred"
        );
        assert!(check_registration("alice", "a@b.co", &"x".repeat(72)).is_ok());
    }

    #[test]
    fn several_failures_list_each_and_never_echo_passwords() {
        let AppError::Validation { details, .. } =
            check_registration("al", "a@b.co", "123").unwrap_err()
        else {
            panic!("not a validation error")
        };
        let errors = details["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0]["path"], serde_json::json!(["username"]));
        assert_eq!(errors[1]["name"], "ValidationError");
        assert_eq!(errors[1]["value"], Value::Null);
    }
}
