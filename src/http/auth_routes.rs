//! The link of the confirmation email and the OAuth provider routes.

use axum::extract::{Extension, Path, Query, State};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;

use super::envelope::rest_error;
use crate::app::AppState;
use crate::error::AppError;
use crate::service::{account, providers};
use crate::util::request::ClientAddress;

/// Counts a REST attempt of `operation` against the rate limits.
async fn limit_rest(
    app: &AppState,
    address: ClientAddress,
    operation: &str,
) -> Result<(), Response> {
    app.limiter
        .check(operation, address.0, None)
        .await
        .map_err(|e| rest_error(&e))
}


#[derive(serde::Deserialize)]
pub(super) struct ConfirmationQuery {
    #[serde(default)]
    confirmation: String,
}

/// The link of the confirmation email: confirms, then redirects to the
/// `emailConfirmationRedirection` setting.
pub(super) async fn email_confirmation(
    State(app): State<AppState>,
    Query(query): Query<ConfirmationQuery>,
) -> Response {
    match account::confirm_email(&app, &query.confirmation).await {
        Ok(_) => match app
            .settings
            .advanced()
            .email_confirmation_redirection
            .as_deref()
        {
            Some(url) => (StatusCode::FOUND, [(LOCATION, url.to_string())]).into_response(),
            None => Json(json!({ "confirmed": true })).into_response(),
        },
        Err(error) => rest_error(&error),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct ConnectQuery {
    callback: Option<String>,
}

fn state_cookie(app: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if app.config.public_url().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{}={value}; Path=/api/connect; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        crate::auth::oauth::STATE_COOKIE
    );
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn redirect(location: &str, cookie: HeaderValue) -> Response {
    match HeaderValue::from_str(location) {
        Ok(location) => (
            StatusCode::FOUND,
            [(LOCATION, location), (SET_COOKIE, cookie)],
        )
            .into_response(),
        Err(_) => rest_error(&AppError::internal(anyhow::anyhow!(
            "a redirect URL is not a header value"
        ))),
    }
}

/// `GET /api/connect/:provider`: to the provider's sign-in page, with the flow's state in a
/// signed cookie.
pub(super) async fn connect(
    State(app): State<AppState>,
    Extension(address): Extension<ClientAddress>,
    Path(provider): Path<String>,
    Query(query): Query<ConnectQuery>,
) -> Response {
    if let Err(response) = limit_rest(&app, address, "connect").await {
        return response;
    }
    match providers::connect(&app, &provider, query.callback.as_deref()).await {
        Ok((location, sealed)) => redirect(
            &location,
            state_cookie(&app, &sealed, crate::auth::oauth::STATE_LIFETIME_SECS),
        ),
        Err(error) => rest_error(&error),
    }
}

/// `GET /api/connect/:provider/callback`: the provider comes back here with a code; the
/// browser goes on to the front end with `access_token`.
pub(super) async fn connect_callback(
    State(app): State<AppState>,
    Extension(address): Extension<ClientAddress>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    Query(params): Query<providers::CallbackParams>,
) -> Response {
    if let Err(response) = limit_rest(&app, address, "connect-callback").await {
        return response;
    }
    let cookie = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == crate::auth::oauth::STATE_COOKIE)
        .map(|(_, value)| value.to_string());
    match providers::finish_connect(&app, &provider, params, cookie.as_deref()).await {
        Ok(location) => redirect(&location, state_cookie(&app, "", 0)),
        Err(error) => rest_error(&error),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct AccessTokenQuery {
    #[serde(default)]
    access_token: String,
}

/// `GET /api/auth/:provider/callback?access_token=…`: `{jwt, user}`, Strapi's REST answer.
pub(super) async fn provider_sign_in(
    State(app): State<AppState>,
    Extension(address): Extension<ClientAddress>,
    Path(provider): Path<String>,
    Query(query): Query<AccessTokenQuery>,
) -> Response {
    if let Err(response) = limit_rest(&app, address, "provider-login").await {
        return response;
    }
    match providers::sign_in(&app, &provider, &query.access_token).await {
        Ok(session) => Json(super::rest::signed_in(&session, &app.attributes)).into_response(),
        Err(error) => rest_error(&error),
    }
}

