//! GraphQL types with Strapi's names. They are built from rows by hand, field by field, so a
//! secret column can never reach a response by accident.

use async_graphql::{ID, InputObject, Json, SimpleObject};

use crate::db::models::{Role, User};
use crate::service::account::Session;

/// The signed-in user, as `me` and the login payload show them.
#[derive(Debug, SimpleObject)]
pub struct UsersPermissionsMe {
    pub id: ID,
    pub document_id: ID,
    pub username: String,
    pub email: Option<String>,
    pub confirmed: Option<bool>,
    pub blocked: Option<bool>,
    /// Always present, including in the `login` and `register` payloads.
    pub role: Option<UsersPermissionsMeRole>,
    /// The extra fields accepted at registration (`register.allowedFields`).
    pub attributes: Option<Json<serde_json::Value>>,
}

/// The role of the signed-in user.
#[derive(Debug, SimpleObject)]
pub struct UsersPermissionsMeRole {
    pub id: ID,
    pub name: String,
    pub description: Option<String>,
    #[graphql(name = "type")]
    pub role_type: Option<String>,
}

/// A JWT and the user it signs in. `jwt` is null while the user's email awaits confirmation.
#[derive(Debug, SimpleObject)]
pub struct UsersPermissionsLoginPayload {
    pub jwt: Option<String>,
    pub user: UsersPermissionsMe,
}

#[derive(Debug, InputObject)]
pub struct UsersPermissionsLoginInput {
    /// The email (any case) or the username.
    pub identifier: String,
    pub password: String,
    #[graphql(default_with = "String::from(\"local\")")]
    pub provider: String,
}

#[derive(Debug, InputObject)]
pub struct UsersPermissionsRegisterInput {
    /// At least 3 characters, unique.
    pub username: String,
    /// A valid email, stored lower-case.
    pub email: String,
    /// 6 characters to 72 bytes.
    pub password: String,
    /// Extra fields, only those listed in `register.allowedFields`.
    pub attributes: Option<Json<serde_json::Value>>,
}

/// The answer of operations that reveal nothing else.
#[derive(Debug, SimpleObject)]
pub struct UsersPermissionsPasswordPayload {
    pub ok: bool,
}

impl UsersPermissionsMe {
    pub fn new(user: &User, role: &Role) -> Self {
        Self {
            id: ID(user.id.to_string()),
            document_id: ID(user.document_id.clone()),
            username: user.username.clone(),
            email: Some(user.email.clone()),
            confirmed: Some(user.confirmed),
            blocked: Some(user.blocked),
            role: Some(UsersPermissionsMeRole::new(role)),
            attributes: serde_json::from_str(&user.attributes).ok().map(Json),
        }
    }
}

impl UsersPermissionsMeRole {
    pub fn new(role: &Role) -> Self {
        Self {
            id: ID(role.id.to_string()),
            name: role.name.clone(),
            description: Some(role.description.clone()),
            role_type: Some(role.role_type.clone()),
        }
    }
}

impl From<Session> for UsersPermissionsLoginPayload {
    fn from(session: Session) -> Self {
        Self {
            jwt: session.jwt,
            user: UsersPermissionsMe::new(&session.user, &session.role),
        }
    }
}
