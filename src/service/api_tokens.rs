//! API tokens: keys for machines, shown once and kept only as a keyed hash.

use std::sync::Arc;

use chrono::NaiveDateTime;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tracing::instrument;

use crate::app::App;
use crate::config::Secret;
use crate::db::models::{ApiTokenRow, NewApiToken, now};
use crate::error::{AppError, AppResult, OnUnique};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    /// Read actions only (`find`, `findOne`, `count`, `me`, `read`, `get`).
    ReadOnly,
    /// Every action.
    FullAccess,
    /// Exactly its list of actions.
    Custom,
}

impl TokenType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "read-only",
            Self::FullAccess => "full-access",
            Self::Custom => "custom",
        }
    }

    pub fn parse(text: &str) -> AppResult<Self> {
        match text {
            "read-only" => Ok(Self::ReadOnly),
            "full-access" => Ok(Self::FullAccess),
            "custom" => Ok(Self::Custom),
            _ => Err(AppError::validation(
                "type must be read-only, full-access or custom",
            )),
        }
    }
}

/// A token as a principal: what it may do.
#[derive(Debug, Clone)]
pub struct ApiToken {
    pub id: i32,
    pub name: String,
    pub token_type: TokenType,
    pub actions: Vec<String>,
}

impl ApiToken {
    fn from_row(row: &ApiTokenRow) -> AppResult<Self> {
        Ok(Self {
            id: row.id,
            name: row.name.clone(),
            token_type: TokenType::parse(&row.token_type)?,
            actions: serde_json::from_str(&row.actions).map_err(AppError::internal)?,
        })
    }

    /// Whether the token may perform `action`.
    pub fn allows(&self, action: &str) -> bool {
        match self.token_type {
            TokenType::FullAccess => true,
            TokenType::Custom => self.actions.iter().any(|a| a == action),
            TokenType::ReadOnly => is_read_action(action),
        }
    }
}

/// Whether an action only reads: its last part is `find`, `findOne`, `count`, `me`, `read` or `get`.
pub fn is_read_action(action: &str) -> bool {
    let name = action.rsplit('.').next().unwrap_or_default();
    matches!(name, "find" | "findOne" | "count" | "me" | "read" | "get")
}

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

/// The prefix of every key, so a key is told from a JWT at a glance.
pub const KEY_PREFIX: &str = "cst_";

fn new_key() -> String {
    format!(
        "{KEY_PREFIX}{}",
        crate::util::hex(&crate::util::random_bytes::<32>())
    )
}

/// The stored form of a key: HMAC-SHA256 under `API_TOKEN_SALT`.
pub fn hash_key(salt: &Secret, key: &str) -> String {
    #[expect(clippy::expect_used, reason = "HMAC takes keys of any length")]
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(salt.expose().as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(key.as_bytes());
    crate::util::hex(&mac.finalize().into_bytes())
}

fn expiry(lifespan: Option<i64>) -> Option<NaiveDateTime> {
    lifespan.map(|days| now() + chrono::Duration::days(days))
}

/// Creates a token; the key is returned now and never again.
#[instrument(skip_all, fields(token = data.name))]
pub async fn create(app: &App, data: NewTokenData) -> AppResult<(ApiTokenRow, String)> {
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
pub async fn regenerate(app: &App, id: &str) -> AppResult<(ApiTokenRow, String)> {
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
pub async fn delete(app: &App, id: &str) -> AppResult<ApiTokenRow> {
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

/// The token behind a key, unless unknown or expired. Notes the use (at most once a minute).
pub async fn authenticate(app: &App, key: &str) -> AppResult<Option<Arc<ApiToken>>> {
    let hash = hash_key(&app.config.api_token_salt, key);
    let mut conn = app.db.conn().await?;
    let Some(row) = ApiTokenRow::find_by_key_hash(&mut conn, &hash).await? else {
        return Ok(None);
    };
    let now = now();
    if row.expires_at.is_some_and(|at| at <= now) {
        return Ok(None);
    }
    if row
        .last_used_at
        .is_none_or(|at| now - at > chrono::Duration::seconds(60))
    {
        ApiTokenRow::touch(&mut conn, row.id, now).await?;
    }
    Ok(Some(Arc::new(ApiToken::from_row(&row)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_tokens_reach_read_actions_only() {
        let token = ApiToken {
            id: 1,
            name: "r".into(),
            token_type: TokenType::ReadOnly,
            actions: vec![],
        };
        assert!(token.allows("plugin::users-permissions.user.find"));
        assert!(token.allows("plugin::users-permissions.advanced-settings.read"));
        assert!(token.allows("api::member-progress.get"));
        assert!(!token.allows("plugin::users-permissions.user.update"));
        assert!(!token.allows("admin::api-token.create"));
    }

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
