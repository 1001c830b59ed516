//! Strapi's REST routes of Users & Permissions under `/api`: a second, thin transport over the
//! services and the policy GraphQL uses. Each route is declared with its action in the one
//! route list, `protected.rs` (so it is refused before its handler runs, and shows in
//! `usersPermissionsActions`); a handler reads its input, calls the service, and writes
//! Strapi's answer or its envelope.
//!
//! | file | routes |
//! |---|---|
//! | `auth.rs` | `POST /api/auth/local`, `…/local/register`, `…/forgot-password`, `…/reset-password`, `…/change-password`, `…/send-email-confirmation` |
//! | `users.rs` | `/api/users/me`, `/api/users`, `/api/users/count`, `/api/users/:id` (GET, POST, PUT, DELETE), with Strapi's `qs` query |
//! | `roles.rs` | `/api/users-permissions/roles[/:id]`, `/api/users-permissions/permissions`, in Strapi's permissions tree |

pub(super) mod auth;
pub(super) mod roles;
pub(super) mod users;

use crate::db::fields::UserAttributes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Map, Value, json};

use super::envelope::rest_error;
use crate::app::AppState;
use crate::db::models::{Role, User};
use crate::error::{AppError, AppResult, FieldError};
use crate::service::session::Session;
use crate::util::request::ClientAddress;

/// Whether a path is one of the REST API's, whose errors take Strapi's envelope.
fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Any path no route matched: under `/api`, Strapi's 404 envelope; elsewhere a bare 404.
pub(super) async fn unmatched(request: Request) -> Response {
    if is_api(request.uri().path()) {
        rest_error(&AppError::NotFound("Not Found".into()))
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

/// A known path asked with another method: under `/api`, a 405 in Strapi's envelope.
pub(super) async fn method_not_allowed(request: Request) -> Response {
    let status = StatusCode::METHOD_NOT_ALLOWED;
    if !is_api(request.uri().path()) {
        return status.into_response();
    }
    let body = json!({
        "data": null,
        "error": {
            "status": status.as_u16(),
            "name": "MethodNotAllowedError",
            "message": "Method Not Allowed",
            "details": {},
        },
    });
    (status, Json(body)).into_response()
}

/// The JSON body of a REST request, read within the configured size: 413 above it, 400 for a
/// body that is not a JSON object or is sent as a form (which a browser may post across sites
/// without asking, so it is refused as `/graphql` refuses it). An empty body is `{}`.
pub(super) struct JsonBody(pub Map<String, Value>);

impl FromRequest<AppState> for JsonBody {
    type Rejection = Response;

    async fn from_request(request: Request, app: &AppState) -> Result<Self, Self::Rejection> {
        let limit = app.config.graphql.max_body_bytes;
        let too_large = || rest_error(&AppError::PayloadTooLarge { limit });
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let json_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|essence| essence == "application/json" || essence.ends_with("+json"));
        let bytes = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|_| too_large())?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(Map::new()));
        }
        if !json_type {
            return Err(rest_error(&AppError::BadRequest(
                "A request body must be JSON, sent with `Content-Type: application/json`".into(),
            )));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(rest_error(&AppError::validation(
                "The request body must be a JSON object",
            ))),
            Err(e) => Err(rest_error(&AppError::validation(format!(
                "The request body is not valid JSON: {e}"
            )))),
        }
    }
}

impl JsonBody {
    /// The text at `key`, empty when absent (the service then says what is required), a
    /// validation error naming the key when it is not a string. The value is never echoed.
    pub(super) fn text(&self, key: &'static str) -> AppResult<String> {
        self.optional_text(key).map(Option::unwrap_or_default)
    }

    pub(super) fn optional_text(&self, key: &'static str) -> AppResult<Option<String>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(AppError::invalid_fields(vec![FieldError {
                path: key,
                message: format!("{key} must be a `string` type"),
                value: None,
            }])),
        }
    }

    pub(super) fn optional_bool(&self, key: &'static str) -> AppResult<Option<bool>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(AppError::invalid_fields(vec![FieldError {
                path: key,
                message: format!("{key} must be a `boolean` type"),
                value: None,
            }])),
        }
    }

    /// 400 naming the keys outside `known`.
    pub(super) fn only(&self, known: &[&str]) -> AppResult<()> {
        let mut unknown: Vec<&str> = self
            .0
            .keys()
            .map(String::as_str)
            .filter(|k| !known.contains(k))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        unknown.sort_unstable();
        Err(AppError::validation(format!(
            "Invalid parameters: {}",
            unknown.join(", ")
        )))
    }
}

/// Counts an attempt of `operation` against the rate limits, as its GraphQL twin does (per
/// client address, and per `identifier` when given).
async fn limit(
    app: &AppState,
    address: ClientAddress,
    operation: &str,
    identifier: Option<&str>,
) -> AppResult<()> {
    app.limiter.check(operation, address.0, identifier).await
}

/// A handler's result as a response: the value as JSON with `status`, or the error's envelope.
fn answer(result: AppResult<Value>, status: StatusCode) -> Response {
    match result {
        Ok(value) => (status, Json(value)).into_response(),
        Err(error) => rest_error(&error),
    }
}

fn ok(result: AppResult<Value>) -> Response {
    answer(result, StatusCode::OK)
}

/// The answer of every sign-in over REST (login, registration, reset and change of password,
/// provider sign-in): `{jwt, user}`, with the user's role; only `{user}` while the account
/// awaits its email confirmation (no JWT was issued). In refresh mode `refreshToken` too, or
/// in cookie mode its cookie instead.
pub(in crate::http) fn signed_in(app: &AppState, session: AppResult<Session>) -> Response {
    let session = match session {
        Ok(session) => session,
        Err(error) => return rest_error(&error),
    };
    let user = user_json(&session.user, &session.role, &|_| true, true, &app.attributes);
    let mut body = Map::new();
    if let Some(jwt) = &session.jwt {
        body.insert("jwt".into(), json!(jwt));
    }
    let cookies = super::sessions::tokens_out(
        app,
        &mut body,
        session.jwt.as_deref(),
        session.refresh_token,
    );
    body.insert("user".into(), user);
    super::sessions::with_cookies(Value::Object(body), cookies)
}

/// Keys of a REST user that the user's own attributes may not take.
const USER_KEYS: &[&str] = &[
    "id",
    "documentId",
    "username",
    "email",
    "provider",
    "confirmed",
    "blocked",
    "createdAt",
    "updatedAt",
    "publishedAt",
    "role",
    "attributes",
];

/// A user as Strapi's REST answers show them, built field by field so that no secret column can
/// slip in: `id` and `documentId` always, the other fields when `keep` allows them (a grant's
/// `fields`, a request's `fields[]`), the role when `with_role`, and the extra fields of
/// `attributes` (kept or left out as one field, `attributes`) at the top level, as Strapi shows
/// its custom fields.
pub(super) fn user_json(
    user: &User,
    role: &Role,
    keep: &dyn Fn(&str) -> bool,
    with_role: bool,
    declared: &UserAttributes,
) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(user.id));
    out.insert("documentId".into(), json!(user.document_id));
    let fields: [(&str, Value); 7] = [
        ("username", json!(user.username)),
        ("email", json!(user.email)),
        ("provider", json!(user.provider)),
        ("confirmed", json!(user.confirmed)),
        ("blocked", json!(user.blocked)),
        ("createdAt", json!(user.created_at.and_utc())),
        ("updatedAt", json!(user.updated_at.and_utc())),
    ];
    for (name, value) in fields {
        if keep(name) {
            out.insert(name.into(), value);
        }
    }
    if keep("attributes")
        && let Ok(Value::Object(attributes)) = serde_json::from_str::<Value>(&user.attributes)
    {
        for (key, value) in attributes {
            let private =
                crate::policy::subject::is_private_field(&key) || declared.is_private(&key);
            if !private && !USER_KEYS.contains(&key.as_str()) {
                out.insert(key, value);
            }
        }
    }
    if with_role && keep("role") {
        out.insert("role".into(), role_json(role));
    }
    Value::Object(out)
}

/// A role as REST answers show it.
pub(super) fn role_json(role: &Role) -> Value {
    json!({
        "id": role.id,
        "documentId": role.document_id,
        "name": role.name,
        "description": role.description,
        "type": role.role_type,
        "createdAt": role.created_at.and_utc(),
        "updatedAt": role.updated_at.and_utc(),
    })
}
