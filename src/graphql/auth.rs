//! Sign-up, sign-in, `me`, email confirmation and passwords.

use async_graphql::parser::types::OperationType;
use async_graphql::{Context, Object, Result};

use super::directives::action;
use super::types::{
    UsersPermissionsLoginInput, UsersPermissionsLoginPayload, UsersPermissionsMe,
    UsersPermissionsPasswordPayload, UsersPermissionsRefreshPayload,
    UsersPermissionsRegisterInput, UsersPermissionsSession,
};
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::policy::actions;
use crate::service::account::{self, Registration};
use crate::service::session::{self, Device, Logout, RequestSession, Session};

/// The app and the principal of the request, from the GraphQL context.
pub fn request<'a>(ctx: &Context<'a>) -> AppResult<(&'a AppState, &'a Principal)> {
    let missing =
        |what: &str| AppError::internal(anyhow::anyhow!("{what} missing from the GraphQL context"));
    Ok((
        ctx.data::<AppState>().map_err(|_| missing("app"))?,
        ctx.data::<Principal>().map_err(|_| missing("principal"))?,
    ))
}

/// The grant the caller holds for the root field being resolved, and its conditions. The
/// action is the one the field's directive names, read from the catalogue: a resolver never
/// writes it a second time. (The guard checked the same action before the resolver ran.)
pub fn access(ctx: &Context<'_>) -> AppResult<std::sync::Arc<crate::policy::Access>> {
    let root = match ctx.query_env.operation.node.ty {
        OperationType::Query => "Query",
        OperationType::Mutation => "Mutation",
        OperationType::Subscription => "Subscription",
    };
    access_on(ctx, root)
}

/// [`access`] for a field below the root, of the object type `parent` (e.g. a role's `users`).
pub fn access_on(
    ctx: &Context<'_>,
    root: &str,
) -> AppResult<std::sync::Arc<crate::policy::Access>> {
    let (app, principal) = request(ctx)?;
    let field = ctx.item.node.name.node.as_str();
    let requirement = app
        .catalogue()
        .and_then(|catalogue| catalogue.requirement(root, field))
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("{root}.{field} declares no action")))?;
    let crate::policy::Requirement::Action(needed) = requirement else {
        return Err(AppError::internal(anyhow::anyhow!(
            "{root}.{field} needs no action, so it has no grant"
        )));
    };
    Ok(std::sync::Arc::new(app.policy.access(principal, needed)?))
}

/// Counts an attempt of `operation` against the rate limits (per client address, and per
/// identifier when given).
pub async fn limit(ctx: &Context<'_>, operation: &str, identifier: Option<&str>) -> AppResult<()> {
    let (app, _) = request(ctx)?;
    let address = ctx
        .data_opt::<crate::util::request::ClientAddress>()
        .and_then(|a| a.0);
    app.limiter.check(operation, address, identifier).await
}

/// The device of the request (its `User-Agent`), with the `deviceId` the client names.
fn device(ctx: &Context<'_>, device_id: Option<String>) -> Device {
    let mut device = ctx.data_opt::<Device>().cloned().unwrap_or_default();
    device.device_id = device_id.filter(|d| !d.is_empty());
    device
}

/// What the request knows of its session.
fn request_session<'a>(ctx: &Context<'a>) -> Option<&'a RequestSession> {
    ctx.data_opt::<RequestSession>()
}

/// The payload of a sign-in. In cookie mode the refresh token goes into its `HttpOnly`
/// cookie, never into the body.
pub(super) fn signed_in(ctx: &Context<'_>, session: Session) -> AppResult<UsersPermissionsLoginPayload> {
    let (app, _) = request(ctx)?;
    let mut payload = UsersPermissionsLoginPayload::new(session, &app.attributes);
    if app.config.sessions.http_only
        && let Some(refresh_token) = payload.refresh_token.take()
    {
        let jwt = payload.jwt.as_deref().unwrap_or_default();
        for cookie in crate::auth::cookies::signed_in(&app.config.sessions, &refresh_token, jwt) {
            ctx.append_http_header(axum::http::header::SET_COOKIE, cookie);
        }
    }
    Ok(payload)
}

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// The signed-in user and their role. Without a token the caller is the `public` role,
    /// which does not hold `user.me`: `me` is then null with a `FORBIDDEN` error.
    #[graphql(directive = action::apply(actions::USER_ME.into()))]
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<UsersPermissionsMe>> {
        let (app, principal) = request(ctx)?;
        Ok(principal.user().map(|signed_in| {
            UsersPermissionsMe::new(&signed_in.user, &signed_in.role, &app.attributes)
        }))
    }

    /// The signed-in user's sessions (refresh mode), the most recently used first: each
    /// device, when it signed in and last refreshed, and which one this request comes from.
    #[graphql(directive = action::apply(actions::AUTH_GET_SESSIONS.into()))]
    async fn users_permissions_sessions(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<UsersPermissionsSession>> {
        let (app, principal) = request(ctx)?;
        let user = principal
            .user()
            .ok_or(AppError::Unauthorized("Missing authentication"))?;
        let current = request_session(ctx).and_then(|s| s.current.as_deref());
        Ok(session::list(app, user.user.id, current)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Signs in with an email or username and a password; returns a JWT for the
    /// `Authorization: Bearer` header.
    #[graphql(directive = action::apply(actions::AUTH_CALLBACK.into()))]
    async fn login(
        &self,
        ctx: &Context<'_>,
        input: UsersPermissionsLoginInput,
    ) -> Result<UsersPermissionsLoginPayload> {
        let (app, _) = request(ctx)?;
        // The identifier, and the account it names, count in `account::login`.
        limit(ctx, "login", None).await?;
        let device = device(ctx, input.device_id);
        let session = account::login(
            app,
            &input.identifier,
            &input.password,
            &input.provider,
            &device,
        )
        .await?;
        Ok(signed_in(ctx, session)?)
    }

    /// Refresh mode: exchanges a refresh token (the argument, or in cookie mode the cookie)
    /// for a new access JWT and a new refresh token. Each refresh token works once: one
    /// presented again ends its whole session.
    #[graphql(directive = action::apply(actions::AUTH_REFRESH.into()))]
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        refresh_token: Option<String>,
    ) -> Result<UsersPermissionsRefreshPayload> {
        let (app, _) = request(ctx)?;
        limit(ctx, "refresh", None).await?;
        let presented = match refresh_token.filter(|t| !t.is_empty()) {
            Some(token) => token,
            None => request_session(ctx)
                .and_then(|s| s.refresh_cookie.clone())
                .unwrap_or_default(),
        };
        let tokens = session::refresh(app, &presented).await?;
        let mut refresh_token = Some(tokens.refresh_token);
        if app.config.sessions.http_only
            && let Some(token) = refresh_token.take()
        {
            for cookie in crate::auth::cookies::signed_in(&app.config.sessions, &token, &tokens.jwt) {
                ctx.append_http_header(axum::http::header::SET_COOKIE, cookie);
            }
        }
        Ok(UsersPermissionsRefreshPayload {
            jwt: tokens.jwt,
            refresh_token,
        })
    }

    /// Refresh mode: ends the current session, or the sessions of one `deviceId`, or with
    /// `scope: "all"` every session of the signed-in user. Their access JWTs are refused at
    /// once and their refresh tokens stop working.
    #[graphql(directive = action::apply(actions::AUTH_LOGOUT.into()))]
    async fn logout(
        &self,
        ctx: &Context<'_>,
        device_id: Option<String>,
        scope: Option<String>,
    ) -> Result<UsersPermissionsPasswordPayload> {
        let (app, principal) = request(ctx)?;
        let user = principal
            .user()
            .ok_or(AppError::Unauthorized("Missing authentication"))?;
        let scope = Logout::parse(device_id, scope.as_deref())?;
        let current = request_session(ctx).and_then(|s| s.current.as_deref());
        session::logout(app, user.user.id, current, &scope).await?;
        if app.config.sessions.http_only
            && matches!(scope, Logout::Current | Logout::All)
        {
            for cookie in crate::auth::cookies::signed_out(&app.config.sessions) {
                ctx.append_http_header(axum::http::header::SET_COOKIE, cookie);
            }
        }
        Ok(UsersPermissionsPasswordPayload { ok: true })
    }

    /// Refresh mode: ends one session of the signed-in user (from `usersPermissionsSessions`).
    #[graphql(directive = action::apply(actions::AUTH_REVOKE_SESSION.into()))]
    async fn revoke_users_permissions_session(
        &self,
        ctx: &Context<'_>,
        id: async_graphql::ID,
    ) -> Result<UsersPermissionsPasswordPayload> {
        let (app, principal) = request(ctx)?;
        let user = principal
            .user()
            .ok_or(AppError::Unauthorized("Missing authentication"))?;
        session::revoke(app, user.user.id, &id).await?;
        Ok(UsersPermissionsPasswordPayload { ok: true })
    }

    /// Creates an account in the default role and signs it in; with email confirmation on,
    /// sends the confirmation email and returns no JWT.
    #[graphql(directive = action::apply(actions::AUTH_REGISTER.into()))]
    async fn register(
        &self,
        ctx: &Context<'_>,
        input: UsersPermissionsRegisterInput,
    ) -> Result<UsersPermissionsLoginPayload> {
        let (app, _) = request(ctx)?;
        limit(ctx, "register", Some(&input.email)).await?;
        let registration = Registration {
            username: &input.username,
            email: &input.email,
            password: &input.password,
            attributes: input.attributes.as_ref().map(|json| &json.0),
        };
        let device = device(ctx, None);
        let session = account::register(app, registration, &device).await?;
        Ok(signed_in(ctx, session)?)
    }

    /// Emails a reset-password link to the account with this email, if there is one. The
    /// answer is `{ok: true}` either way.
    #[graphql(directive = action::apply(actions::AUTH_FORGOT_PASSWORD.into()))]
    async fn forgot_password(
        &self,
        ctx: &Context<'_>,
        email: String,
    ) -> Result<Option<UsersPermissionsPasswordPayload>> {
        let (app, _) = request(ctx)?;
        limit(ctx, "forgot-password", Some(&email)).await?;
        account::forgot_password(app, &email).await?;
        Ok(Some(UsersPermissionsPasswordPayload { ok: true }))
    }

    /// Sets a new password with the code of a reset email (once, before it expires) and signs
    /// in. JWTs issued before stop working.
    #[graphql(directive = action::apply(actions::AUTH_RESET_PASSWORD.into()))]
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        password: String,
        password_confirmation: String,
        code: String,
    ) -> Result<Option<UsersPermissionsLoginPayload>> {
        let (app, _) = request(ctx)?;
        limit(ctx, "reset-password", None).await?;
        let device = device(ctx, None);
        let session =
            account::reset_password(app, &password, &password_confirmation, &code, &device)
                .await?;
        Ok(Some(signed_in(ctx, session)?))
    }

    /// Changes the signed-in user's password. JWTs issued before stop working; the returned
    /// one works.
    #[graphql(directive = action::apply(actions::AUTH_CHANGE_PASSWORD.into()))]
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        password: String,
        password_confirmation: String,
    ) -> Result<Option<UsersPermissionsLoginPayload>> {
        let (app, principal) = request(ctx)?;
        let user_id = principal.user().map(|u| u.user.id.to_string());
        limit(ctx, "change-password", user_id.as_deref()).await?;
        let session = account::change_password(
            app,
            principal.user(),
            &current_password,
            &password,
            &password_confirmation,
            &device(ctx, None),
        )
        .await?;
        Ok(Some(signed_in(ctx, session)?))
    }

    /// Confirms an email with the code of the confirmation email, and signs in.
    #[graphql(directive = action::apply(actions::AUTH_EMAIL_CONFIRMATION.into()))]
    async fn email_confirmation(
        &self,
        ctx: &Context<'_>,
        confirmation: String,
    ) -> Result<Option<UsersPermissionsLoginPayload>> {
        let (app, _) = request(ctx)?;
        let session = account::confirm_email(app, &confirmation, Some(&device(ctx, None))).await?;
        Ok(Some(signed_in(ctx, session)?))
    }

    /// Sends the confirmation email again to an unconfirmed account with this email. The
    /// answer is `{ok: true}` for any address.
    #[graphql(directive = action::apply(actions::AUTH_SEND_EMAIL_CONFIRMATION.into()))]
    async fn send_email_confirmation(
        &self,
        ctx: &Context<'_>,
        email: String,
    ) -> Result<UsersPermissionsPasswordPayload> {
        let (app, _) = request(ctx)?;
        limit(ctx, "send-email-confirmation", Some(&email)).await?;
        account::resend_confirmation(app, &email).await?;
        Ok(UsersPermissionsPasswordPayload { ok: true })
    }
}

