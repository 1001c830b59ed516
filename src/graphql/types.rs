//! GraphQL types with Strapi's names. They are built from rows by hand, field by field, so a
//! secret column can never reach a response by accident.

use async_graphql::{
    ID, InputObject, InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject, Value,
};

use crate::db::models::{Role, User};
use crate::service::account::Session;

/// A JSON value of the `JSON` scalar.
#[derive(Debug, Clone, PartialEq)]
pub struct Json<T>(pub T);

/// Any JSON value (ECMA-404): an object, an array, a string, a number, a boolean or null,
/// written as JSON itself, not as a string holding JSON.
#[Scalar(
    name = "JSON",
    specified_by_url = "https://ecma-international.org/publications-and-standards/standards/ecma-404/"
)]
impl ScalarType for Json<serde_json::Value> {
    fn parse(value: Value) -> InputValueResult<Self> {
        value.into_json().map(Json).map_err(InputValueError::custom)
    }

    fn to_value(&self) -> Value {
        Value::from_json(self.0.clone()).unwrap_or(Value::Null)
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// How the `DateTime` scalar is described, in `schema.graphql` and to introspection alike.
pub const DATE_TIME_DESCRIPTION: &str = "A moment in time, as an RFC 3339 date-time string \
(the `date-time` format of RFC 3339, section 5.6) at UTC, e.g. `2026-12-05T23:12:01.123+00:00`. \
Any offset is accepted as input.";

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
    /// Refresh mode (`jwt.management = "refresh"`): the token that buys the next `jwt` (see
    /// `refreshToken`); null in legacy mode, and in cookie mode, where it travels only in an
    /// `HttpOnly` cookie.
    pub refresh_token: Option<String>,
    pub user: UsersPermissionsMe,
}

/// A new access JWT and the refresh token that replaces the one spent.
#[derive(Debug, SimpleObject)]
pub struct UsersPermissionsRefreshPayload {
    pub jwt: String,
    /// Null in cookie mode, where it travels only in an `HttpOnly` cookie.
    pub refresh_token: Option<String>,
}

/// A signed-in device of the user (refresh mode). Never its address or token.
#[derive(Debug, SimpleObject)]
pub struct UsersPermissionsSession {
    pub id: ID,
    /// The `deviceId` the client sent when it signed in.
    pub device_id: Option<String>,
    /// From the `User-Agent` of the sign-in: "Firefox on Linux".
    pub device_name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: chrono::DateTime<chrono::Utc>,
    /// Whether this request came with this session's access JWT.
    pub current: bool,
}

impl From<crate::service::session::SessionInfo> for UsersPermissionsSession {
    fn from(info: crate::service::session::SessionInfo) -> Self {
        Self {
            id: ID(info.id),
            device_id: info.device_id,
            device_name: info.device_name,
            created_at: info.created_at.and_utc(),
            last_used_at: info.last_used_at.and_utc(),
            current: info.current,
        }
    }
}

#[derive(Debug, InputObject)]
pub struct UsersPermissionsLoginInput {
    /// The email (any case) or the username.
    pub identifier: String,
    pub password: String,
    #[graphql(default_with = "String::from(\"local\")")]
    pub provider: String,
    /// Refresh mode: names this device, to log it out later (`logout(deviceId:)`).
    pub device_id: Option<String>,
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
    /// `attributes` are the declared ones: private ones are left out.
    pub fn new(user: &User, role: &Role, attributes: &crate::db::fields::UserAttributes) -> Self {
        Self {
            id: ID(user.id.to_string()),
            document_id: ID(user.document_id.clone()),
            username: user.username.clone(),
            email: Some(user.email.clone()),
            confirmed: Some(user.confirmed),
            blocked: Some(user.blocked),
            role: Some(UsersPermissionsMeRole::new(role)),
            attributes: attributes.public(&user.attributes).map(Json),
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

impl UsersPermissionsLoginPayload {
    /// The answer of a sign-in, without the user's private attributes.
    pub fn new(session: Session, attributes: &crate::db::fields::UserAttributes) -> Self {
        Self {
            user: UsersPermissionsMe::new(&session.user, &session.role, attributes),
            jwt: session.jwt,
            refresh_token: session.refresh_token,
        }
    }
}
