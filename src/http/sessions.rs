//! Sessions at the edge: what a request carries of its credentials (the `Authorization`
//! header, the `User-Agent`, and in cookie mode the session cookies), and the REST routes of
//! refresh mode with Strapi's bodies and answers: `POST /api/auth/refresh`,
//! `POST /api/auth/logout`, `GET /api/auth/sessions`, `DELETE /api/auth/sessions/:id`, and
//! `DELETE /api/users/:id/sessions` for administrators.

use axum::extract::{Extension, Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};

use super::envelope::rest_error;
use super::rest::JsonBody;
use crate::app::{App, AppState};
use crate::auth::Principal;
use crate::config::{ACCESS_COOKIE, CSRF_COOKIE, CSRF_HEADER};
use crate::error::{AppError, AppResult};
use crate::http::Authorized;
use crate::service::session::{self, Device, Logout, RequestSession};
use crate::util::request::ClientAddress;

/// The refusal of a request authenticated by the access cookie without the CSRF header.
pub(super) const CSRF_COOKIE_REFUSAL: &str = "This request has been blocked as a potential \
Cross-Site Request Forgery (CSRF): a request signed in by the session cookie must send the \
value of the castellan_csrf cookie in an X-CSRF-Token header.";

/// The refusal of a refresh by cookie in a request a browser sends across sites without
/// asking (no JSON content type).
const CSRF_REFRESH_REFUSAL: &str = "This request has been blocked as a potential Cross-Site \
Request Forgery (CSRF): a refresh by cookie needs `Content-Type: application/json`.";

/// The credentials of a request: read once, cheaply (header values share their bytes).
#[derive(Debug, Clone, Default)]
pub(super) struct RequestCredentials {
    pub authorization: Option<HeaderValue>,
    user_agent: Option<HeaderValue>,
    /// The `Cookie` header values, in cookie mode only.
    cookies: Vec<HeaderValue>,
    csrf: Option<HeaderValue>,
    json: bool,
}

impl RequestCredentials {
    pub fn of(headers: &HeaderMap, app: &App) -> Self {
        let cookie_mode = app.config.sessions.http_only;
        Self {
            authorization: headers.get(AUTHORIZATION).cloned(),
            user_agent: headers.get(USER_AGENT).cloned(),
            cookies: if cookie_mode {
                headers.get_all(COOKIE).iter().cloned().collect()
            } else {
                Vec::new()
            },
            csrf: if cookie_mode {
                headers.get(CSRF_HEADER).cloned()
            } else {
                None
            },
            json: headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|v| {
                    v.split(';')
                        .next()
                        .unwrap_or_default()
                        .trim()
                        .to_ascii_lowercase()
                })
                .is_some_and(|e| e == "application/json" || e.ends_with("+json")),
        }
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        crate::auth::cookies::read(self.cookies.iter().filter_map(|v| v.to_str().ok()), name)
            .filter(|v| !v.is_empty())
    }

    /// The device of the request.
    pub fn device(&self) -> Device {
        Device {
            user_agent: self
                .user_agent
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(512).collect()),
            device_id: None,
        }
    }

    /// The principal and the session of the request. Without an `Authorization` header, the
    /// access cookie (`sessions.accessCookie`) stands for it; a state-changing request signed
    /// in by that cookie must send the CSRF cookie's value in `X-CSRF-Token` (double submit),
    /// which a page of another origin can neither read nor send without CORS allowing it.
    pub async fn resolve(
        &self,
        app: &App,
        state_changing: bool,
    ) -> AppResult<(Principal, RequestSession)> {
        let access_cookie = match (&self.authorization, app.config.sessions.access_cookie) {
            (None, true) => self.cookie(ACCESS_COOKIE),
            _ => None,
        };
        if access_cookie.is_some() && state_changing {
            let sent = self.csrf.as_ref().and_then(|v| v.to_str().ok());
            let expected = self.cookie(CSRF_COOKIE);
            let matches = match (sent, expected) {
                (Some(sent), Some(expected)) => {
                    crate::util::secret::constant_time_eq(sent.as_bytes(), expected.as_bytes())
                }
                _ => false,
            };
            if !matches {
                return Err(AppError::BadRequest(CSRF_COOKIE_REFUSAL.into()));
            }
        }
        let (principal, current) = app
            .authenticate_session(self.authorization.as_ref(), access_cookie)
            .await?;
        let refresh_cookie = match app.config.sessions.http_only {
            true => self
                .cookie(&app.config.sessions.cookie_name)
                .map(str::to_string),
            false => None,
        };
        Ok((
            principal,
            RequestSession {
                current,
                refresh_cookie,
            },
        ))
    }
}

/// `jwt` and the refresh token as the answer of a sign-in or a refresh shows them: in the body,
/// or in cookie mode only in the cookie (`Set-Cookie` values returned beside the body).
pub(super) fn tokens_out(
    app: &App,
    body: &mut serde_json::Map<String, Value>,
    jwt: Option<&str>,
    refresh_token: Option<String>,
) -> Vec<String> {
    let Some(refresh_token) = refresh_token else {
        return Vec::new();
    };
    if app.config.sessions.http_only {
        crate::auth::cookies::signed_in(
            &app.config.sessions,
            &refresh_token,
            jwt.unwrap_or_default(),
        )
    } else {
        body.insert("refreshToken".into(), Value::String(refresh_token));
        Vec::new()
    }
}

/// `body` as JSON with `cookies` set.
pub(super) fn with_cookies(body: Value, cookies: Vec<String>) -> Response {
    let mut response = Json(body).into_response();
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

/// The session of the request, as the route guard read it.
fn request_session(session: Option<Extension<RequestSession>>) -> RequestSession {
    session.map(|Extension(s)| s).unwrap_or_default()
}

/// `POST /api/auth/refresh` `{refreshToken}` → `{jwt, refreshToken}`; in cookie mode the token
/// comes from and goes back to its cookie, and the answer is `{jwt}`.
pub(super) async fn refresh(
    State(app): State<AppState>,
    Extension(address): Extension<ClientAddress>,
    session: Option<Extension<RequestSession>>,
    headers: HeaderMap,
    body: JsonBody,
) -> Response {
    let result = async {
        app.limiter.check("refresh", address.0, None).await?;
        let presented = match body.optional_text("refreshToken")? {
            Some(token) if !token.is_empty() => token,
            _ => {
                let cookie = request_session(session).refresh_cookie;
                if cookie.is_some() && !RequestCredentials::of(&headers, &app).json {
                    return Err(AppError::BadRequest(CSRF_REFRESH_REFUSAL.into()));
                }
                cookie.unwrap_or_default()
            }
        };
        let tokens = session::refresh(&app, &presented).await?;
        let mut out = serde_json::Map::new();
        out.insert("jwt".into(), Value::String(tokens.jwt.clone()));
        let cookies = tokens_out(
            &app,
            &mut out,
            Some(&tokens.jwt),
            Some(tokens.refresh_token),
        );
        Ok(with_cookies(Value::Object(out), cookies))
    }
    .await;
    result.unwrap_or_else(|error| rest_error(&error))
}

/// `POST /api/auth/logout` `{}` (the current session), `{deviceId}` or `{scope: "all"}` →
/// `{ok: true}`; in cookie mode the session cookies are removed.
pub(super) async fn logout(
    State(app): State<AppState>,
    authorized: Authorized,
    session: Option<Extension<RequestSession>>,
    body: JsonBody,
) -> Response {
    let result = async {
        body.only(&["deviceId", "scope"])?;
        let user = authorized
            .principal
            .user()
            .ok_or(AppError::Unauthorized("Missing authentication"))?;
        let session = request_session(session);
        let scope = Logout::parse(
            body.optional_text("deviceId")?,
            body.optional_text("scope")?.as_deref(),
        )?;
        session::logout(&app, user.user.id, session.current.as_deref(), &scope).await?;
        let cookies = match (app.config.sessions.http_only, &scope) {
            (true, Logout::Current | Logout::All) => {
                crate::auth::cookies::signed_out(&app.config.sessions)
            }
            _ => Vec::new(),
        };
        Ok(with_cookies(json!({ "ok": true }), cookies))
    }
    .await;
    result.unwrap_or_else(|error| rest_error(&error))
}

/// `GET /api/auth/sessions` → `{data: [{id, deviceId, deviceName, createdAt, lastUsedAt,
/// current}]}`, the most recently used first.
pub(super) async fn list(
    State(app): State<AppState>,
    authorized: Authorized,
    session: Option<Extension<RequestSession>>,
) -> Response {
    let result = async {
        let user = authorized
            .principal
            .user()
            .ok_or(AppError::Unauthorized("Missing authentication"))?;
        let session = request_session(session);
        let sessions = session::list(&app, user.user.id, session.current.as_deref()).await?;
        let data: Vec<Value> = sessions
            .into_iter()
            .map(|s| {
                json!({
                    "id": s.id,
                    "deviceId": s.device_id,
                    "deviceName": s.device_name,
                    "createdAt": s.created_at.and_utc(),
                    "lastUsedAt": s.last_used_at.and_utc(),
                    "current": s.current,
                })
            })
            .collect();
        Ok(Json(json!({ "data": data })).into_response())
    }
    .await;
    result.unwrap_or_else(|error| rest_error(&error))
}

/// `DELETE /api/auth/sessions/:id` → `{data: {}}`; 404 for a session the caller does not have.
pub(super) async fn revoke(
    State(app): State<AppState>,
    authorized: Authorized,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let user = authorized
            .principal
            .user()
            .ok_or(AppError::Unauthorized("Missing authentication"))?;
        session::revoke(&app, user.user.id, &id).await?;
        Ok(Json(json!({ "data": {} })).into_response())
    }
    .await;
    result.unwrap_or_else(|error| rest_error(&error))
}

/// `DELETE /api/users/:id/sessions` (`user.update`, within its conditions) → `{ok: true,
/// revoked: n}`.
pub(super) async fn revoke_user_sessions(
    State(app): State<AppState>,
    authorized: Authorized,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let access = authorized
            .access
            .as_ref()
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("user.update without a grant")))?;
        let ended = crate::service::users::end_sessions(&app, access, &id).await?;
        Ok(Json(json!({ "ok": true, "revoked": ended })).into_response())
    }
    .await;
    result.unwrap_or_else(|error| rest_error(&error))
}
