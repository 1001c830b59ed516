//! How conditions see users: one JSON document per user, the same in memory and, through
//! [`UserFields`], in SQL.

use serde_json::{Value, json};

use crate::db::models::{Role, User};
use crate::filter::{ColumnKind, FieldMap, Location, SqlCache};

/// The user as conditions see them: `"$user.<path>"` placeholders and query objects about
/// users both use these names.
pub fn user_document(user: &User, role: &Role) -> Value {
    json!({
        "id": user.id,
        "documentId": user.document_id,
        "username": user.username,
        "email": user.email,
        "provider": user.provider,
        "confirmed": user.confirmed,
        "blocked": user.blocked,
        "createdAt": user.created_at.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
        "updatedAt": user.updated_at.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
        "role": { "id": role.id, "documentId": role.document_id, "name": role.name, "type": role.role_type },
        "attributes": serde_json::from_str::<Value>(&user.attributes).unwrap_or_else(|_| json!({})),
    })
}

/// The fields of a user that stay inside the server (hashes, token state), by their names in
/// the API's style. No condition may name them, as a path or as a `$user.` placeholder: they are
/// not in [`user_document`] nor in [`UserFields`], so such a condition could only ever mean
/// "missing" in memory and fail in SQL.
pub const PRIVATE_FIELDS: &[&str] = &[
    "password",
    "resetPasswordToken",
    "resetPasswordExpiresAt",
    "confirmationToken",
    "tokensValidAfter",
    "uniqueEmail",
];

/// Whether `name` is one of [`PRIVATE_FIELDS`], in any case and with or without `_` or `-`
/// (`reset_password_token` too).
pub fn is_private_field(name: &str) -> bool {
    let fold = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let name = fold(name);
    PRIVATE_FIELDS.iter().any(|p| fold(p) == name)
}

/// Where each path of [`user_document`] lives in `up_users JOIN up_roles`.
pub struct UserFields;

/// Conditions on users compiled to SQL over [`UserFields`], each filter once.
pub static USER_SQL: std::sync::LazyLock<SqlCache> =
    std::sync::LazyLock::new(|| SqlCache::new(&UserFields));

impl FieldMap for UserFields {
    fn locate(&self, path: &[&str]) -> Option<Location> {
        let column = |sql: &str, kind| {
            Some(Location::Column {
                sql: sql.to_string(),
                kind,
            })
        };
        match path {
            ["id"] => column("up_users.id", ColumnKind::Integer),
            ["documentId"] => column("up_users.document_id", ColumnKind::Text),
            ["username"] => column("up_users.username", ColumnKind::Text),
            ["email"] => column("up_users.email", ColumnKind::Text),
            ["provider"] => column("up_users.provider", ColumnKind::Text),
            ["confirmed"] => column("up_users.confirmed", ColumnKind::Bool),
            ["blocked"] => column("up_users.blocked", ColumnKind::Bool),
            ["createdAt"] => column("up_users.created_at", ColumnKind::Timestamp),
            ["updatedAt"] => column("up_users.updated_at", ColumnKind::Timestamp),
            ["role", "id"] => column("up_roles.id", ColumnKind::Integer),
            ["role", "documentId"] => column("up_roles.document_id", ColumnKind::Text),
            ["role", "name"] => column("up_roles.name", ColumnKind::Text),
            ["role", "type"] => column("up_roles.type", ColumnKind::Text),
            ["attributes", rest @ ..] => Some(Location::Json {
                column_sql: "up_users.attributes".to_string(),
                path: rest.iter().map(|s| s.to_string()).collect(),
                // PostgreSQL keeps the attributes parsed beside their text (a generated column,
                // migration `attributes_jsonb`): a condition on them then parses nothing.
                jsonb: Some("up_users.attributes_jsonb".to_string()),
            }),
            _ => None,
        }
    }
}
