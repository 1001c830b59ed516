//! How conditions see users: one JSON document per user, the same in memory and, through
//! [`UserFields`], in SQL.

use serde_json::{Value, json};

use std::sync::Arc;

use crate::db::fields::{Entity, ROLES, Storage, USERS, UserAttributes};
use crate::db::models::{Role, User};
use crate::filter::{Dialect, FieldMap, Location, SqlCache};

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

/// Whether `name` is a field of a user that stays inside the server (a hash, token state), in
/// any spelling: no condition may name it, as a path or as a `$user.` placeholder. It is not in
/// [`user_document`] nor in [`UserFields`], so such a condition could only ever mean "missing"
/// in memory and fail in SQL.
pub fn is_private_field(name: &str) -> bool {
    USERS.is_private(name)
}

/// The entity whose fields a grant of `action` may be limited to: the users' for the user
/// actions of Users & Permissions; `None` for actions whose fields the registry does not know
/// (a library's own resources), whose field names are then only checked for their form.
pub fn grant_fields(action: &str) -> Option<&'static Entity> {
    let name = crate::policy::actions::parse_action(action).ok()?;
    (name.namespace == "plugin::users-permissions" && name.controller == "user").then_some(&USERS)
}

/// Whether a grant limited to fields may name `field` of `entity`: one an answer shows or a
/// write sets.
pub fn may_limit_to(entity: &Entity, field: &str) -> bool {
    entity.field(field).is_some_and(|f| f.readable || f.writable)
}

/// Where each path of [`user_document`] lives in `up_users JOIN up_roles`: the registry's
/// fields, and the declared attributes (an indexed one through the expression of its index;
/// a private one nowhere).
#[derive(Debug, Clone, Default)]
pub struct UserFields {
    pub attributes: Arc<UserAttributes>,
    /// The dialect the indexed attributes' expressions are written for; `None` reads every
    /// attribute inside the document (both dialects then compile).
    pub dialect: Option<Dialect>,
}

/// Conditions on users compiled to SQL over [`UserFields`], each filter once: one cache per
/// database dialect, since indexed attributes compile to that dialect's index expressions.
pub fn user_sql(attributes: Arc<UserAttributes>, dialect: Dialect) -> SqlCache {
    SqlCache::new(Arc::new(UserFields {
        attributes,
        dialect: Some(dialect),
    }))
}

impl FieldMap for UserFields {
    fn locate(&self, path: &[&str]) -> Option<Location> {
        let (name, rest) = path.split_first()?;
        let field = USERS.field(name).filter(|f| f.in_conditions)?;
        match (field.storage, rest) {
            (Storage::Column(kind), []) => Some(Location::Column {
                sql: field.column.to_string(),
                kind,
            }),
            (Storage::Role, [name]) => {
                let field = ROLES.field(name).filter(|f| f.in_conditions)?;
                let Storage::Column(kind) = field.storage else {
                    return None;
                };
                Some(Location::Column {
                    sql: field.column.to_string(),
                    kind,
                })
            }
            (Storage::Json { parsed }, rest) => {
                if let Some(first) = rest.first()
                    && self.attributes.is_private(first)
                {
                    return None;
                }
                let json = Location::Json {
                    column_sql: field.column.to_string(),
                    path: rest.iter().map(|s| s.to_string()).collect(),
                    // PostgreSQL keeps the document parsed beside its text (a generated
                    // column): a condition on it then parses nothing.
                    jsonb: Some(parsed.to_string()),
                };
                match (rest, self.dialect) {
                    ([attribute], Some(dialect)) => match self.attributes.indexed(attribute) {
                        Some(declared) => Some(Location::Indexed {
                            sql: UserAttributes::expression(declared, dialect, "up_users."),
                            kind: UserAttributes::kind(declared),
                            json: Box::new(json),
                        }),
                        None => Some(json),
                    },
                    _ => Some(json),
                }
            }
            _ => None,
        }
    }
}
