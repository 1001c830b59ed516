//! The one place a sign-in ends: login, registration without confirmation, a reset or change
//! of password, an email confirmation and a provider sign-in all open their session here.

use crate::app::App;
use crate::db::models::{Role, User};
use crate::error::{AppError, AppResult};

/// A signed-in user, their role, and the JWT that proves it (none when the account must first
/// confirm its email).
#[derive(Debug)]
pub struct Session {
    pub jwt: Option<String>,
    pub user: User,
    pub role: Role,
}

/// Opens a session for `user`: refused while the account is blocked, else a JWT of the user's
/// current token generation.
pub fn open(app: &App, user: User, role: Role) -> AppResult<Session> {
    if user.blocked {
        return Err(AppError::application(
            "Your account has been blocked by an administrator",
        ));
    }
    let jwt = app.jwt.issue(user.id, user.token_generation);
    Ok(Session {
        jwt: Some(jwt),
        user,
        role,
    })
}
