//! API tokens as principals: a key told from a JWT by its prefix, kept only as a keyed hash,
//! and the token it stands for. Creating and listing tokens is `service::api_tokens`; what a
//! token may do is decided by `policy`.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Secret;
use crate::db::Db;
use crate::db::models::{ApiTokenRow, now};
use crate::error::{AppError, AppResult};

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
    pub fn from_row(row: &ApiTokenRow) -> AppResult<Self> {
        Ok(Self {
            id: row.id,
            name: row.name.clone(),
            token_type: TokenType::parse(&row.token_type)?,
            actions: serde_json::from_str(&row.actions).map_err(AppError::internal)?,
        })
    }
}

/// The prefix of every key, so a key is told from a JWT at a glance.
pub const KEY_PREFIX: &str = "cst_";

/// The stored form of a key: HMAC-SHA256 under `API_TOKEN_SALT`.
pub fn hash_key(salt: &Secret, key: &str) -> String {
    #[expect(clippy::expect_used, reason = "HMAC takes keys of any length")]
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(salt.expose().as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(key.as_bytes());
    crate::util::hex(&mac.finalize().into_bytes())
}

/// The token behind a key, unless unknown or expired. Notes the use (at most once a minute).
pub async fn authenticate(db: &Db, salt: &Secret, key: &str) -> AppResult<Option<Arc<ApiToken>>> {
    let hash = hash_key(salt, key);
    let mut conn = db.conn().await?;
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

