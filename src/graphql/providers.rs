//! Sign-in providers: their settings for administrators, and sign-in with a provider's access
//! token for GraphQL-only front ends.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject};

use super::auth::request;
use super::directives;
use super::types::UsersPermissionsLoginPayload;
use crate::auth::providers::ProviderSettings;
use crate::policy::actions;
use crate::service::providers::{self, ProviderChanges};

/// A sign-in provider. The client secret is write-only: only whether one is set shows.
#[derive(Debug, SimpleObject)]
pub struct UsersPermissionsProvider {
    pub name: String,
    pub enabled: bool,
    /// A preset (`github`, `google`, …), `oidc` or `oauth2`.
    pub kind: String,
    pub client_id: String,
    pub has_client_secret: bool,
    pub scopes: Vec<String>,
    /// The front-end page that receives `access_token`.
    pub redirect_url: String,
    pub subdomain: Option<String>,
    pub issuer: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub profile_url: Option<String>,
    /// The redirect URL to register at the provider.
    pub callback_url: String,
}

#[derive(Debug, Default, InputObject)]
pub struct UsersPermissionsProviderInput {
    pub enabled: Option<bool>,
    pub kind: Option<String>,
    pub client_id: Option<String>,
    /// Write-only.
    pub client_secret: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub redirect_url: Option<String>,
    pub subdomain: Option<String>,
    pub issuer: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub profile_url: Option<String>,
}

fn provider_out(
    app: &crate::app::App,
    name: &str,
    s: &ProviderSettings,
) -> UsersPermissionsProvider {
    UsersPermissionsProvider {
        name: name.to_string(),
        enabled: s.enabled,
        kind: s.kind_for(name),
        client_id: s.client_id.clone(),
        has_client_secret: !s.client_secret.is_empty(),
        scopes: s.scopes.clone(),
        redirect_url: s.redirect_url.clone(),
        subdomain: s.subdomain.clone(),
        issuer: s.issuer.clone(),
        authorize_url: s.authorize_url.clone(),
        token_url: s.token_url.clone(),
        profile_url: s.profile_url.clone(),
        callback_url: providers::callback_url(app, name),
    }
}

#[derive(Default)]
pub struct ProvidersQuery;

#[Object]
impl ProvidersQuery {
    /// Every configured sign-in provider, `email` included.
    #[graphql(directive = directives::action::apply(actions::PROVIDERS_READ.into()))]
    async fn users_permissions_providers(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<UsersPermissionsProvider>> {
        let (app, _) = request(ctx)?;
        Ok(app
            .settings
            .providers()
            .iter()
            .map(|(name, s)| provider_out(app, name, s))
            .collect())
    }
}

#[derive(Default)]
pub struct ProvidersMutation;

#[Object]
impl ProvidersMutation {
    /// Changes (or adds) a provider. An enabled provider must be usable: its kind known, its
    /// client id and the URLs its kind needs set.
    #[graphql(directive = directives::action::apply(actions::PROVIDERS_UPDATE.into()))]
    async fn update_users_permissions_provider(
        &self,
        ctx: &Context<'_>,
        name: String,
        data: UsersPermissionsProviderInput,
    ) -> Result<UsersPermissionsProvider> {
        let (app, _) = request(ctx)?;
        let changes = ProviderChanges {
            enabled: data.enabled,
            kind: data.kind,
            client_id: data.client_id,
            client_secret: data.client_secret,
            scopes: data.scopes,
            redirect_url: data.redirect_url,
            subdomain: data.subdomain,
            issuer: data.issuer,
            authorize_url: data.authorize_url,
            token_url: data.token_url,
            profile_url: data.profile_url,
        };
        let settings = providers::update(app, &*super::access(ctx)?, &name, changes).await?;
        Ok(provider_out(app, &name, &settings))
    }

    /// Signs in with a provider's access token (the `access_token` the front end received
    /// after `/api/connect/:provider`): the GraphQL form of `GET /api/auth/:provider/callback`.
    #[graphql(directive = directives::action::apply(actions::AUTH_CALLBACK.into()))]
    async fn login_with_provider(
        &self,
        ctx: &Context<'_>,
        provider: String,
        access_token: String,
    ) -> Result<UsersPermissionsLoginPayload> {
        let (app, _) = request(ctx)?;
        super::auth::limit(ctx, "provider-login", None).await?;
        Ok(UsersPermissionsLoginPayload::new(
            providers::sign_in(app, &provider, &access_token).await?,
            &app.attributes,
        ))
    }
}
