//! API tokens, for administrators. The key is shown once, when a token is created or
//! regenerated.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::auth::request;
use super::directives;
use crate::db::models::ApiTokenRow;
use crate::policy::actions;
use crate::service::api_tokens::{self, NewTokenData, TokenType};

/// An API token, without its key.
#[derive(Debug, SimpleObject)]
pub struct ApiToken {
    pub id: ID,
    pub document_id: ID,
    pub name: String,
    pub description: String,
    /// `read-only`, `full-access` or `custom`.
    #[graphql(name = "type")]
    pub token_type: String,
    /// The actions of a custom token.
    pub actions: Vec<String>,
    /// Days; null for unlimited.
    pub lifespan: Option<i32>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ApiTokenRow> for ApiToken {
    fn from(row: ApiTokenRow) -> Self {
        Self {
            id: ID(row.id.to_string()),
            document_id: ID(row.document_id),
            name: row.name,
            description: row.description,
            token_type: row.token_type,
            actions: serde_json::from_str(&row.actions).unwrap_or_default(),
            lifespan: row.lifespan.and_then(|d| i32::try_from(d).ok()),
            expires_at: row.expires_at.map(|t| t.and_utc()),
            last_used_at: row.last_used_at.map(|t| t.and_utc()),
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

/// A token and its key: the only time the key is shown.
#[derive(Debug, SimpleObject)]
pub struct ApiTokenWithKey {
    pub token: ApiToken,
    /// Send it as `Authorization: Bearer <accessKey>`. It cannot be shown again.
    pub access_key: String,
}

#[derive(Debug, SimpleObject)]
pub struct ApiTokenDeletePayload {
    pub ok: bool,
}

#[derive(Debug, InputObject)]
pub struct ApiTokenInput {
    /// Unique.
    pub name: String,
    #[graphql(default)]
    pub description: String,
    /// `read-only`, `full-access` or `custom`.
    #[graphql(name = "type")]
    pub token_type: String,
    /// 7, 30 or 90 days; null for unlimited.
    pub lifespan: Option<i32>,
    /// The actions of a custom token.
    #[graphql(default)]
    pub actions: Vec<String>,
}

#[derive(Default)]
pub struct ApiTokensQuery;

#[Object]
impl ApiTokensQuery {
    /// Every API token, without keys.
    #[graphql(directive = directives::action::apply(actions::API_TOKEN_READ.into()))]
    async fn api_tokens(&self, ctx: &Context<'_>) -> Result<Vec<ApiToken>> {
        let (app, _) = request(ctx)?;
        Ok(api_tokens::list(app)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

#[derive(Default)]
pub struct ApiTokensMutation;

#[Object]
impl ApiTokensMutation {
    /// Creates an API token and shows its key, once.
    #[graphql(directive = directives::action::apply(actions::API_TOKEN_CREATE.into()))]
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        data: ApiTokenInput,
    ) -> Result<ApiTokenWithKey> {
        let (app, _) = request(ctx)?;
        let data = NewTokenData {
            name: data.name,
            description: data.description,
            token_type: TokenType::parse(&data.token_type)?,
            lifespan: data.lifespan.map(i64::from),
            actions: data.actions,
        };
        let (row, key) = api_tokens::create(app, &*super::access(ctx)?, data).await?;
        Ok(ApiTokenWithKey {
            token: row.into(),
            access_key: key,
        })
    }

    /// Gives a token (numeric id or documentId) a new key, shown once; the old key stops
    /// working at once.
    #[graphql(directive = directives::action::apply(actions::API_TOKEN_REGENERATE.into()))]
    async fn regenerate_api_token(&self, ctx: &Context<'_>, id: ID) -> Result<ApiTokenWithKey> {
        let (app, _) = request(ctx)?;
        let (row, key) = api_tokens::regenerate(app, &*super::access(ctx)?, &id).await?;
        Ok(ApiTokenWithKey {
            token: row.into(),
            access_key: key,
        })
    }

    /// Deletes a token (numeric id or documentId); its key stops working at once.
    #[graphql(directive = directives::action::apply(actions::API_TOKEN_DELETE.into()))]
    async fn delete_api_token(&self, ctx: &Context<'_>, id: ID) -> Result<ApiTokenDeletePayload> {
        let (app, _) = request(ctx)?;
        api_tokens::delete(app, &*super::access(ctx)?, &id).await?;
        Ok(ApiTokenDeletePayload { ok: true })
    }
}
