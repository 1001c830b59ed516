//! Who is asking: the `Authorization` header of a request turned into a [`Principal`].

use std::sync::Arc;

use axum::http::HeaderValue;

use crate::config::Secret;
use crate::db::Db;
use crate::db::models::{Role, User};
use crate::error::{AppError, AppResult};
use super::api_token::{self, ApiToken};
use super::{JwtKeys, UserCache};

/// The message of a 401 for a token that is malformed, wrongly signed or expired.
pub const INVALID_TOKEN: &str = "Missing or invalid credentials";
/// The message of a 401 for a valid token whose user is gone, blocked, or signed out.
pub const INVALID_USER: &str = "Invalid credentials";

/// The one who makes a request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// No credentials: the `public` role.
    Public,
    /// A user signed in with a JWT.
    User(Arc<SignedInUser>),
    /// A machine with an API token.
    ApiToken(Arc<ApiToken>),
}

/// A signed-in user with their role, loaded once per request.
#[derive(Debug)]
pub struct SignedInUser {
    pub user: User,
    pub role: Role,
}

impl Principal {
    pub fn user(&self) -> Option<&SignedInUser> {
        match self {
            Self::User(user) => Some(user),
            Self::Public | Self::ApiToken(_) => None,
        }
    }
}

/// What resolving a principal reads: the keys that check tokens, the user cache, the database.
pub struct Keys<'a> {
    pub db: &'a Db,
    pub jwt: &'a JwtKeys,
    pub users: &'a UserCache,
    pub api_token_salt: &'a Secret,
}

/// Resolves the principal of a request from its `Authorization` header: none → public;
/// `Bearer <valid JWT>` of an active user → that user; `Bearer <API token key>` of a live
/// token → that token; anything else → 401.
pub async fn authenticate(
    keys: &Keys<'_>,
    authorization: Option<&HeaderValue>,
) -> AppResult<Principal> {
    let Some(header) = authorization else {
        return Ok(Principal::Public);
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|token| !token.is_empty())
        .ok_or(AppError::Unauthorized(INVALID_TOKEN))?;
    if token.starts_with(api_token::KEY_PREFIX) {
        return match api_token::authenticate(keys.db, keys.api_token_salt, token).await? {
            Some(api_token) => Ok(Principal::ApiToken(api_token)),
            None => Err(AppError::Unauthorized(INVALID_TOKEN)),
        };
    }
    let claims = keys
        .jwt
        .verify(token)
        .map_err(|_| AppError::Unauthorized(INVALID_TOKEN))?;

    let signed_in = match keys.users.get(claims.id) {
        Some(cached) => cached,
        None => {
            let mut conn = keys.db.conn().await?;
            let (user, role) = User::find_with_role(&mut conn, claims.id)
                .await?
                .ok_or(AppError::Unauthorized(INVALID_USER))?;
            let loaded = Arc::new(SignedInUser { user, role });
            keys.users.put(loaded.clone());
            loaded
        }
    };
    let user = &signed_in.user;
    if user.blocked || claims.revoked_for(user.token_generation, user.tokens_valid_after) {
        return Err(AppError::Unauthorized(INVALID_USER));
    }
    Ok(Principal::User(signed_in))
}
