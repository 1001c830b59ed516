//! Sign-up, sign-in, `me`, email confirmation and passwords.

use async_graphql::parser::types::OperationType;
use async_graphql::{Context, Object, Result};

use super::directives::action;
use super::types::{
    UsersPermissionsLoginInput, UsersPermissionsLoginPayload, UsersPermissionsMe,
    UsersPermissionsPasswordPayload, UsersPermissionsRegisterInput,
};
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::policy::actions;
use crate::service::account::{self, Registration};

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
        let session =
            account::login(app, &input.identifier, &input.password, &input.provider).await?;
        Ok(UsersPermissionsLoginPayload::new(session, &app.attributes))
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
        Ok(UsersPermissionsLoginPayload::new(
            account::register(app, registration).await?,
            &app.attributes,
        ))
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
        let session =
            account::reset_password(app, &password, &password_confirmation, &code).await?;
        Ok(Some(UsersPermissionsLoginPayload::new(
            session,
            &app.attributes,
        )))
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
        )
        .await?;
        Ok(Some(UsersPermissionsLoginPayload::new(
            session,
            &app.attributes,
        )))
    }

    /// Confirms an email with the code of the confirmation email, and signs in.
    #[graphql(directive = action::apply(actions::AUTH_EMAIL_CONFIRMATION.into()))]
    async fn email_confirmation(
        &self,
        ctx: &Context<'_>,
        confirmation: String,
    ) -> Result<Option<UsersPermissionsLoginPayload>> {
        let (app, _) = request(ctx)?;
        Ok(Some(UsersPermissionsLoginPayload::new(
            account::confirm_email(app, &confirmation).await?,
            &app.attributes,
        )))
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
