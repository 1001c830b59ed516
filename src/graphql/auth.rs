//! Sign-up, sign-in and `me`.

use async_graphql::{Context, Object, Result};

use super::directives::action;
use super::types::{UsersPermissionsLoginInput, UsersPermissionsLoginPayload, UsersPermissionsMe, UsersPermissionsRegisterInput};
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::policy::actions;
use crate::service::account::{self, Registration};

/// The app and the principal of the request, from the GraphQL context.
pub(crate) fn request<'a>(ctx: &Context<'a>) -> AppResult<(&'a AppState, &'a Principal)> {
    let missing = |what: &str| AppError::internal(anyhow::anyhow!("{what} missing from the GraphQL context"));
    Ok((ctx.data::<AppState>().map_err(|_| missing("app"))?, ctx.data::<Principal>().map_err(|_| missing("principal"))?))
}

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// The signed-in user and their role; null for a request without a token.
    #[graphql(directive = action::apply(actions::USER_ME.into()))]
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<UsersPermissionsMe>> {
        let (_, principal) = request(ctx)?;
        Ok(principal.user().map(|signed_in| UsersPermissionsMe::new(&signed_in.user, &signed_in.role)))
    }
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Signs in with an email or username and a password; returns a JWT for the
    /// `Authorization: Bearer` header.
    #[graphql(directive = action::apply(actions::AUTH_CALLBACK.into()))]
    async fn login(&self, ctx: &Context<'_>, input: UsersPermissionsLoginInput) -> Result<UsersPermissionsLoginPayload> {
        let (app, _) = request(ctx)?;
        let session = account::login(app, &input.identifier, &input.password, &input.provider).await?;
        Ok(session.into())
    }

    /// Creates an account in the default role and signs it in.
    #[graphql(directive = action::apply(actions::AUTH_REGISTER.into()))]
    async fn register(&self, ctx: &Context<'_>, input: UsersPermissionsRegisterInput) -> Result<UsersPermissionsLoginPayload> {
        let (app, _) = request(ctx)?;
        let registration = Registration { username: &input.username, email: &input.email, password: &input.password };
        Ok(account::register(app, registration).await?.into())
    }
}
