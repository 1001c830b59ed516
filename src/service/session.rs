//! The one place a sign-in ends: login, registration without confirmation, a reset or change
//! of password, an email confirmation and a provider sign-in all open their session here.
//!
//! In legacy mode (`jwt.management = "legacy"`, the default) a session is one JWT of
//! `jwt.expiresIn`, kept nowhere. In refresh mode it is a row of `up_sessions`: a short access
//! JWT carries its id (`sid`), and a refresh token (stored only as its SHA-256) buys a new pair
//! once; a refresh token presented a second time ends the whole session (it was stolen, or
//! replayed). Ended sessions are refused at once on every instance, from memory
//! ([`crate::auth::RevokedSessions`], announced through [`crate::changes`]).

use tracing::instrument;

use crate::app::App;
use crate::auth::codes::{OneTimeCode, hash_code};
use crate::changes::Change;
use crate::db::Conn;
use crate::db::models::{NewSession, Role, Rotation, SessionRow, User, Which};
use crate::error::{AppError, AppResult};

/// The message of a 401 for a refresh token that is unknown, used, expired or ended.
pub const INVALID_REFRESH_TOKEN: &str = "Invalid refresh token";

/// A signed-in user, their role, and the tokens that prove it (none when the account must
/// first confirm its email).
#[derive(Debug)]
pub struct Session {
    pub jwt: Option<String>,
    /// Refresh mode only.
    pub refresh_token: Option<String>,
    pub user: User,
    pub role: Role,
}

/// Where a sign-in comes from: the client's `User-Agent` (shown as the device's name) and the
/// `deviceId` it may send (to log that device out later).
#[derive(Debug, Clone, Default)]
pub struct Device {
    pub user_agent: Option<String>,
    pub device_id: Option<String>,
}

/// What a request knows of its session: the session of its access JWT, and the refresh
/// token its cookie carries (cookie mode).
#[derive(Debug, Clone, Default)]
pub struct RequestSession {
    pub current: Option<String>,
    pub refresh_cookie: Option<String>,
}

/// A new pair, from [`refresh`].
#[derive(Debug)]
pub struct Tokens {
    pub jwt: String,
    pub refresh_token: String,
}

/// Which sessions [`logout`] ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logout {
    /// The session of the request's access JWT (every session, if it has none).
    Current,
    /// The sessions opened with this `deviceId`.
    Device(String),
    /// Every session of the user.
    All,
}

impl Logout {
    /// The sessions a logout names: `deviceId`, `scope: "all"`, or (neither, or `scope:
    /// "current"`) the current one.
    pub fn parse(device_id: Option<String>, scope: Option<&str>) -> AppResult<Self> {
        match (device_id.filter(|d| !d.is_empty()), scope) {
            (None, None | Some("current")) => Ok(Self::Current),
            (None, Some("all")) => Ok(Self::All),
            (Some(device), None) => Ok(Self::Device(device)),
            (None, Some(_)) => Err(AppError::validation("scope must be \"all\" or \"current\"")),
            (Some(_), Some(_)) => Err(AppError::validation(
                "Give either deviceId or scope, not both",
            )),
        }
    }
}

/// A session as its owner sees it: never its address or token.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: String,
    pub device_id: Option<String>,
    pub device_name: String,
    pub created_at: chrono::NaiveDateTime,
    pub last_used_at: chrono::NaiveDateTime,
    /// Whether the request came with this session's access JWT.
    pub current: bool,
}

/// Opens a session for `user`: refused while the account is blocked; in legacy mode a JWT of
/// the user's current token generation, in refresh mode a session row and its first pair.
pub async fn open(app: &App, user: User, role: Role, device: &Device) -> AppResult<Session> {
    if user.blocked {
        return Err(AppError::application(
            "Your account has been blocked by an administrator",
        ));
    }
    if !app.config.sessions.refresh() {
        let jwt = app.jwt.issue(user.id, user.token_generation);
        return Ok(Session {
            jwt: Some(jwt),
            refresh_token: None,
            user,
            role,
        });
    }
    let tokens = start(app, &user, device).await?;
    Ok(Session {
        jwt: Some(tokens.jwt),
        refresh_token: Some(tokens.refresh_token),
        user,
        role,
    })
}

fn unix(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX / 4)
}

/// Writes a new session of `user` and issues its first pair; removes the sessions that
/// finished long enough ago that their access JWTs have expired too.
async fn start(app: &App, user: &User, device: &Device) -> AppResult<Tokens> {
    let sessions = &app.config.sessions;
    let id = crate::util::random_alphanumeric(24);
    let refresh = OneTimeCode::new();
    let now = chrono::Utc::now().timestamp();
    let device_name = device_name(device.user_agent.as_deref());
    let device_id = device
        .device_id
        .as_deref()
        .map(|d| d.chars().take(128).collect::<String>());
    let mut conn = app.db.conn().await?;
    SessionRow::delete_finished(&mut conn, now - unix(sessions.access_lifetime) - 1).await?;
    NewSession {
        id: &id,
        user_id: user.id,
        device_id: device_id.as_deref(),
        device_name: &device_name,
        refresh_hash: &refresh.hash,
        created_at: crate::db::models::now(),
        last_used_at: crate::db::models::now(),
        idle_expires_at: now + unix(sessions.idle_lifetime),
        absolute_expires_at: now + unix(sessions.absolute_lifetime),
    }
    .insert(&mut conn)
    .await?;
    tracing::info!(user = user.id, session = %id, "session opened");
    Ok(Tokens {
        jwt: app.jwt.issue_for_session(
            user.id,
            user.token_generation,
            &id,
            sessions.access_lifetime,
        ),
        refresh_token: refresh.code,
    })
}

/// 404 outside refresh mode, as Strapi answers the session routes then.
fn refresh_mode(app: &App) -> AppResult<()> {
    if app.config.sessions.refresh() {
        Ok(())
    } else {
        Err(AppError::NotFound(
            "Sessions need jwt.management = \"refresh\"".into(),
        ))
    }
}

/// Exchanges a refresh token for a new pair; the token is spent. A token spent before ends its
/// whole session (whoever holds the newer token is refused too) and answers 401, as does an
/// unknown, expired or ended one.
#[instrument(skip_all)]
pub async fn refresh(app: &App, refresh_token: &str) -> AppResult<Tokens> {
    refresh_mode(app)?;
    if refresh_token.is_empty() {
        return Err(AppError::Unauthorized(INVALID_REFRESH_TOKEN));
    }
    let sessions = &app.config.sessions;
    let old_hash = hash_code(refresh_token);
    let next = OneTimeCode::new();
    let now = chrono::Utc::now().timestamp();
    let mut conn = app.db.conn().await?;
    let rotation = Rotation {
        old_hash: &old_hash,
        new_hash: &next.hash,
        now,
        idle_expires_at: now + unix(sessions.idle_lifetime),
    };
    let Some(session) = SessionRow::rotate(&mut conn, &rotation).await? else {
        if let Some(session) = SessionRow::find_by_used_hash(&mut conn, &old_hash).await? {
            let ended = end(app, &mut conn, session.user_id, Which::Session(&session.id)).await?;
            if !ended.is_empty() {
                tracing::warn!(
                    user = session.user_id,
                    session = %session.id,
                    "a spent refresh token was presented again: the session is ended"
                );
            }
        }
        return Err(AppError::Unauthorized(INVALID_REFRESH_TOKEN));
    };
    SessionRow::remember_used(&mut conn, &old_hash, &session.id).await?;
    let user = match User::find(&mut conn, session.user_id).await? {
        Some(user) if !user.blocked => user,
        _ => {
            end(app, &mut conn, session.user_id, Which::Session(&session.id)).await?;
            return Err(AppError::Unauthorized(INVALID_REFRESH_TOKEN));
        }
    };
    Ok(Tokens {
        jwt: app.jwt.issue_for_session(
            user.id,
            user.token_generation,
            &session.id,
            sessions.access_lifetime,
        ),
        refresh_token: next.code,
    })
}

/// Ends the sessions of `user_id` that `which` names, here and on every instance; their ids.
async fn end(app: &App, conn: &mut Conn, user_id: i32, which: Which<'_>) -> AppResult<Vec<String>> {
    let now = chrono::Utc::now().timestamp();
    let ended = SessionRow::revoke(conn, user_id, which, now).await?;
    for id in &ended {
        app.changed(Change::Session(id.clone())).await?;
    }
    if !ended.is_empty() {
        tracing::info!(user = user_id, sessions = ended.len(), "sessions ended");
    }
    Ok(ended)
}

/// Ends every session of `user_id` (a password change or reset, a block, an administrator):
/// their refresh tokens stop working and their access JWTs are refused at once.
pub async fn end_all(app: &App, user_id: i32) -> AppResult<usize> {
    let mut conn = app.db.conn().await?;
    Ok(end(app, &mut conn, user_id, Which::All).await?.len())
}

/// Logs the signed-in user out: the current session (`current`, from the request's access
/// JWT; every session when the JWT has none), one device's sessions, or all.
#[instrument(skip_all)]
pub async fn logout(
    app: &App,
    user_id: i32,
    current: Option<&str>,
    scope: &Logout,
) -> AppResult<()> {
    refresh_mode(app)?;
    let which = match (scope, current) {
        (Logout::Current, Some(id)) => Which::Session(id),
        (Logout::Current, None) | (Logout::All, _) => Which::All,
        (Logout::Device(device), _) => Which::Device(device),
    };
    let mut conn = app.db.conn().await?;
    end(app, &mut conn, user_id, which).await?;
    Ok(())
}

/// The live sessions of `user_id`, the most recently used first.
pub async fn list(app: &App, user_id: i32, current: Option<&str>) -> AppResult<Vec<SessionInfo>> {
    refresh_mode(app)?;
    let now = chrono::Utc::now().timestamp();
    let mut conn = app.db.conn().await?;
    Ok(SessionRow::live_of_user(&mut conn, user_id, now)
        .await?
        .into_iter()
        .map(|row| SessionInfo {
            current: current == Some(row.id.as_str()),
            id: row.id,
            device_id: row.device_id,
            device_name: row.device_name,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        })
        .collect())
}

/// Ends one session of `user_id`; 404 when the user has no such live session.
#[instrument(skip_all)]
pub async fn revoke(app: &App, user_id: i32, id: &str) -> AppResult<()> {
    refresh_mode(app)?;
    let mut conn = app.db.conn().await?;
    if end(app, &mut conn, user_id, Which::Session(id))
        .await?
        .is_empty()
    {
        return Err(AppError::NotFound("Session not found".into()));
    }
    Ok(())
}

/// A person's name for the device behind a `User-Agent`: "Firefox on Linux", "curl".
pub fn device_name(user_agent: Option<&str>) -> String {
    let Some(agent) = user_agent.map(str::trim).filter(|a| !a.is_empty()) else {
        return "Unknown device".into();
    };
    let has = |needle: &str| agent.contains(needle);
    let browser = if has("Edg/") {
        Some("Edge")
    } else if has("OPR/") || has("Opera") {
        Some("Opera")
    } else if has("Firefox/") {
        Some("Firefox")
    } else if has("HeadlessChrome/") {
        Some("Headless Chrome")
    } else if has("Chrome/") || has("CriOS/") {
        Some("Chrome")
    } else if has("Safari/") {
        Some("Safari")
    } else {
        None
    };
    let system = if has("Android") {
        Some("Android")
    } else if has("iPhone") || has("iPad") {
        Some("iOS")
    } else if has("Windows") {
        Some("Windows")
    } else if has("Mac OS X") || has("Macintosh") {
        Some("macOS")
    } else if has("CrOS") {
        Some("ChromeOS")
    } else if has("Linux") {
        Some("Linux")
    } else {
        None
    };
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.into(),
        (None, _) => agent
            .split(['/', ' '])
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or("Unknown device")
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(40)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_named_from_their_user_agent() {
        assert_eq!(device_name(None), "Unknown device");
        assert_eq!(
            device_name(Some(
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
            )),
            "Firefox on Linux"
        );
        assert_eq!(
            device_name(Some(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0"
            )),
            "Edge on Windows"
        );
        assert_eq!(
            device_name(Some(
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
            )),
            "Safari on iOS"
        );
        assert_eq!(device_name(Some("curl/8.5.0")), "curl");
    }
}
