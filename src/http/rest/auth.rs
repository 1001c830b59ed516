//! Sign-up, sign-in and passwords over REST, with Strapi's bodies and answers. Each does what
//! its GraphQL twin does (`login`, `register`, …): the same service, the same rate limit.

use axum::extract::{Extension, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::{JsonBody, limit, ok, signed_in};
use crate::app::AppState;
use crate::http::Authorized;
use crate::service::account::{self, Registration};
use crate::util::request::ClientAddress;

/// `POST /api/auth/local` `{identifier, password}` → `{jwt, user}`.
pub(in crate::http) async fn login(
    State(app): State<AppState>,
    Extension(address): Extension<ClientAddress>,
    body: JsonBody,
) -> Response {
    ok(async {
        limit(&app, address, "login", None).await?;
        let identifier = body.text("identifier")?;
        let password = body.text("password")?;
        let session = account::login(&app, &identifier, &password, "local").await?;
        Ok(signed_in(&session, &app.attributes))
    }
    .await)
}

/// `POST /api/auth/local/register` `{username, email, password, …allowed fields}` →
/// `{jwt, user}`, or `{user}` when the email must be confirmed first.
pub(in crate::http) async fn register(
    State(app): State<AppState>,
    Extension(address): Extension<ClientAddress>,
    body: JsonBody,
) -> Response {
    ok(async {
        let email = body.text("email")?;
        limit(&app, address, "register", Some(&email)).await?;
        let username = body.text("username")?;
        let password = body.text("password")?;
        // Strapi takes the extra fields of `register.allowedFields` beside the others.
        let extra: serde_json::Map<String, Value> = body
            .0
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "username" | "email" | "password"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let attributes = (!extra.is_empty()).then_some(Value::Object(extra));
        let registration = Registration {
            username: &username,
            email: &email,
            password: &password,
            attributes: attributes.as_ref(),
        };
        let session = account::register(&app, registration).await?;
        Ok(signed_in(&session, &app.attributes))
    }
    .await)
}

/// `POST /api/auth/forgot-password` `{email}` → `{ok: true}`, whether or not the account exists.
pub(in crate::http) async fn forgot_password(
    State(app): State<AppState>,
    Extension(address): Extension<ClientAddress>,
    body: JsonBody,
) -> Response {
    ok(async {
        let email = body.text("email")?;
        limit(&app, address, "forgot-password", Some(&email)).await?;
        account::forgot_password(&app, &email).await?;
        Ok(json!({ "ok": true }))
    }
    .await)
}

/// `POST /api/auth/reset-password` `{code, password, passwordConfirmation}` → `{jwt, user}`.
pub(in crate::http) async fn reset_password(
    State(app): State<AppState>,
    Extension(address): Extension<ClientAddress>,
    body: JsonBody,
) -> Response {
    ok(async {
        limit(&app, address, "reset-password", None).await?;
        let password = body.text("password")?;
        let confirmation = body.text("passwordConfirmation")?;
        let code = body.text("code")?;
        let session = account::reset_password(&app, &password, &confirmation, &code).await?;
        Ok(signed_in(&session, &app.attributes))
    }
    .await)
}

/// `POST /api/auth/change-password` `{currentPassword, password, passwordConfirmation}` →
/// `{jwt, user}`; earlier JWTs of the user stop working.
pub(in crate::http) async fn change_password(
    State(app): State<AppState>,
    Extension(address): Extension<ClientAddress>,
    authorized: Authorized,
    body: JsonBody,
) -> Response {
    ok(async {
        let signed_in_user = authorized.principal.user();
        let user_id = signed_in_user.map(|u| u.user.id.to_string());
        limit(&app, address, "change-password", user_id.as_deref()).await?;
        let current = body.text("currentPassword")?;
        let password = body.text("password")?;
        let confirmation = body.text("passwordConfirmation")?;
        let session =
            account::change_password(&app, signed_in_user, &current, &password, &confirmation)
                .await?;
        Ok(signed_in(&session, &app.attributes))
    }
    .await)
}

/// `POST /api/auth/send-email-confirmation` `{email}` → `{email, sent: true}` for any address.
pub(in crate::http) async fn send_email_confirmation(
    State(app): State<AppState>,
    Extension(address): Extension<ClientAddress>,
    body: JsonBody,
) -> Response {
    ok(async {
        let email = body.text("email")?;
        limit(&app, address, "send-email-confirmation", Some(&email)).await?;
        account::resend_confirmation(&app, &email).await?;
        Ok(json!({ "email": email, "sent": true }))
    }
    .await)
}
