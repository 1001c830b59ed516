//! Accounts: sign-up and sign-in with a local password.

use tracing::instrument;

use crate::app::App;
use crate::db::models::{NewUser, Role, User, now};
use crate::error::{AppError, AppResult, OnUnique};
use crate::service::validate::check_registration;

/// The role type new users receive.
pub const DEFAULT_ROLE: &str = "authenticated";

/// A signed-in user: their JWT (absent while the email awaits confirmation), row and role.
#[derive(Debug)]
pub struct Session {
    pub jwt: Option<String>,
    pub user: User,
    pub role: Role,
}

/// What `register` receives.
#[derive(Debug)]
pub struct Registration<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password: &'a str,
}

/// Creates a local account in the default role and signs it in. Uniqueness of the username
/// and the email is enforced by the database, so concurrent sign-ups cannot both succeed.
#[instrument(skip_all)]
pub async fn register(app: &App, input: Registration<'_>) -> AppResult<Session> {
    check_registration(input.username, input.email, input.password)?;
    let email = input.email.to_lowercase();
    let hash = app.passwords.hash(input.password).await?;

    let mut conn = app.db.conn().await?;
    let role = Role::find_by_type(&mut conn, DEFAULT_ROLE)
        .await?
        .ok_or_else(|| AppError::application("Impossible to find the default role"))?;
    let document_id = crate::util::new_document_id();
    let user = NewUser {
        document_id: &document_id,
        username: input.username,
        email: &email,
        unique_email: Some(&email),
        provider: "local",
        password: Some(&hash),
        confirmation_token: None,
        confirmed: true,
        blocked: false,
        role_id: role.id,
        attributes: "{}",
        created_at: now(),
        updated_at: now(),
    }
    .insert(&mut conn)
    .await
    .on_unique(|| AppError::application("Email or Username are already taken"))?;
    tracing::info!(user = user.id, "user registered");
    let jwt = app.jwt.issue(user.id, user.tokens_valid_after);
    Ok(Session { jwt: Some(jwt), user, role })
}

/// Signs in with an email (any case) or username and a password. Unknown accounts and wrong
/// passwords fail alike and cost the same bcrypt verification; account states are told only
/// to someone who knows the password.
#[instrument(skip_all)]
pub async fn login(app: &App, identifier: &str, password: &str, provider: &str) -> AppResult<Session> {
    if provider != "local" {
        return Err(AppError::application("This provider is disabled"));
    }
    let mut missing = Vec::new();
    for (path, value) in [("identifier", identifier), ("password", password)] {
        if value.is_empty() {
            missing.push(crate::error::FieldError {
                path,
                message: format!("{path} is a required field"),
                value: None,
            });
        }
    }
    if !missing.is_empty() {
        return Err(AppError::invalid_fields(missing));
    }

    let candidate = {
        let mut conn = app.db.conn().await?;
        User::find_local_by_identifier(&mut conn, identifier).await?.into_iter().next()
    };
    let hash = candidate.as_ref().and_then(|(user, _)| user.password.as_deref());
    let matches = app.passwords.verify(password, hash).await?;
    let (user, role) = match candidate {
        Some(found) if matches => found,
        _ => return Err(AppError::validation("Invalid identifier or password")),
    };
    if user.blocked {
        return Err(AppError::application("Your account has been blocked by an administrator"));
    }
    let jwt = app.jwt.issue(user.id, user.tokens_valid_after);
    Ok(Session { jwt: Some(jwt), user, role })
}
