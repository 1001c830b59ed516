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
