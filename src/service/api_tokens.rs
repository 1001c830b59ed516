//! API tokens: keys for machines, shown once and kept only as a keyed hash.

use chrono::NaiveDateTime;
use tracing::instrument;

use crate::app::App;
use crate::policy::Access;
use crate::db::models::{ApiTokenRow, NewApiToken, now};
use crate::error::{AppError, AppResult, OnUnique};

pub use crate::auth::api_token::{ApiToken, KEY_PREFIX, TokenType, hash_key};

/// What `createApiToken` receives.
#[derive(Debug, Clone)]
pub struct NewTokenData {
    pub name: String,
    pub description: String,
    pub token_type: TokenType,
    /// 7, 30 or 90 days; `None` for unlimited.
    pub lifespan: Option<i64>,
    pub actions: Vec<String>,
}

fn new_key() -> String {
    format!(
        "{KEY_PREFIX}{}",
        crate::util::hex(&crate::util::random_bytes::<32>())
    )
}

fn expiry(lifespan: Option<i64>) -> Option<NaiveDateTime> {
    lifespan.map(|days| now() + chrono::Duration::days(days))
}

/// Creates a token; the key is returned now and never again.
#[instrument(skip_all, fields(token = data.name))]
pub async fn create(app: &App, access: &Access, data: NewTokenData) -> AppResult<(ApiTokenRow, String)> {
    access.require(crate::policy::actions::API_TOKEN_CREATE)?;
    let name = data.name.trim();
    if name.is_empty() {
        return Err(AppError::validation("name is a required field"));
    }
    if !matches!(data.lifespan, None | Some(7 | 30 | 90)) {
        return Err(AppError::validation(
            "lifespan must be 7, 30 or 90 days, or null for unlimited",
        ));
    }
    match data.token_type {
        TokenType::Custom => {
            if data.actions.is_empty() {
                return Err(AppError::validation(
                    "a custom token needs at least one action",
                ));
            }
            let catalogue = app
                .catalogue()
                .ok_or_else(|| AppError::internal(anyhow::anyhow!("no catalogue")))?;
            if let Some(unknown) = data.actions.iter().find(|a| !catalogue.contains(a)) {
                return Err(AppError::validation(format!(
                    "Unknown action `{unknown}`: usersPermissionsActions lists the actions that can be granted"
                )));
            }
        }
        _ if !data.actions.is_empty() => {
            return Err(AppError::validation(
                "only a custom token takes a list of actions",
            ));
        }
        _ => {}
    }
    let key = new_key();
    let hash = hash_key(&app.config.api_token_salt, &key);
    let actions = serde_json::to_string(&data.actions).map_err(AppError::internal)?;
    let document_id = crate::util::new_document_id();
    let mut conn = app.db.conn().await?;
    let row = NewApiToken {
        document_id: &document_id,
        name,
        description: &data.description,
        token_type: data.token_type.as_str(),
        access_key: &hash,
        actions: &actions,
        lifespan: data.lifespan,
        expires_at: expiry(data.lifespan),
        created_at: now(),
        updated_at: now(),
    }
    .insert(&mut conn)
    .await
    .on_unique(|| AppError::application("A token with this name already exists"))?;
    tracing::info!(token = row.id, "API token created");
    Ok((row, key))
}

async fn find(app: &App, id: &str) -> AppResult<ApiTokenRow> {
    let mut conn = app.db.conn().await?;
    let found = match id.parse::<i32>() {
        Ok(numeric) => ApiTokenRow::find(&mut conn, numeric).await?,
        Err(_) => ApiTokenRow::find_by_document_id(&mut conn, id).await?,
    };
    found.ok_or_else(|| AppError::NotFound("API token not found".into()))
}

/// Gives the token a new key; the old one stops working at once.
#[instrument(skip_all)]
pub async fn regenerate(app: &App, access: &Access, id: &str) -> AppResult<(ApiTokenRow, String)> {
    access.require(crate::policy::actions::API_TOKEN_REGENERATE)?;
    let token = find(app, id).await?;
    let key = new_key();
    let hash = hash_key(&app.config.api_token_salt, &key);
    let mut conn = app.db.conn().await?;
    let row = ApiTokenRow::set_key(&mut conn, token.id, &hash, expiry(token.lifespan))
        .await?
        .ok_or_else(|| AppError::NotFound("API token not found".into()))?;
    tracing::info!(token = row.id, "API token regenerated");
    Ok((row, key))
}

#[instrument(skip_all)]
pub async fn delete(app: &App, access: &Access, id: &str) -> AppResult<ApiTokenRow> {
    access.require(crate::policy::actions::API_TOKEN_DELETE)?;
    let token = find(app, id).await?;
    let mut conn = app.db.conn().await?;
    ApiTokenRow::delete(&mut conn, token.id).await?;
    tracing::info!(token = token.id, "API token deleted");
    Ok(token)
}

pub async fn list(app: &App) -> AppResult<Vec<ApiTokenRow>> {
    let mut conn = app.db.conn().await?;
    Ok(ApiTokenRow::all(&mut conn).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn keys_are_hashed_under_the_salt() {
        let key = new_key();
        assert!(key.starts_with(KEY_PREFIX) && key.len() == KEY_PREFIX.len() + 64);
        let a = hash_key(&Secret::new("salt-a"), &key);
        assert_ne!(a, hash_key(&Secret::new("salt-b"), &key));
        assert_eq!(a, hash_key(&Secret::new("salt-a"), &key));
        assert!(!a.contains(&key[KEY_PREFIX.len()..]));
    }
}
