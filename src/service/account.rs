//! Accounts: sign-up, sign-in, email confirmation, and password reset and change.

use std::collections::HashMap;

use serde_json::Value;
use tracing::instrument;

use crate::app::{App, AppState};
use crate::auth::SignedInUser;
use crate::auth::codes::OneTimeCode;
pub use crate::auth::codes::hash_code;
use crate::db::models::{NewUser, Role, User, now};
use crate::error::{AppError, AppResult, FieldError, OnUnique};
use crate::mail::{self, Mail};
use crate::service::settings::TemplateKind;
use crate::service::validate::{check_password, check_registration, is_valid_email};

pub use super::session::{Device, Session};

/// What `register` receives.
#[derive(Debug)]
pub struct Registration<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    /// Extra fields, limited to `register.allowedFields`.
    pub attributes: Option<&'a Value>,
}

/// JWTs issued before this second are refused from now on; the ones issued next are not.
fn next_token_epoch() -> i64 {
    chrono::Utc::now().timestamp() + 1
}

/// Creates a local account in the default role. With email confirmation on, the account starts
/// unconfirmed, the confirmation email goes out and no JWT is returned. Uniqueness of username
/// and email is enforced by the database, so concurrent sign-ups cannot both succeed.
#[instrument(skip_all)]
pub async fn register(
    app: &AppState,
    input: Registration<'_>,
    device: &Device,
) -> AppResult<Session> {
    let settings = app.settings.advanced();
    if !settings.allow_register {
        return Err(AppError::application(
            "Register action is currently disabled",
        ));
    }
    check_registration(input.username, input.email, input.password)?;
    let attributes = check_attributes(input.attributes, &app.config.register_allowed_fields)?;
    let attributes = crate::service::validate::check_declared_attributes(
        &app.attributes,
        serde_json::from_str(&attributes).map_err(AppError::internal)?,
    )?
    .to_string();
    let email = input.email.to_lowercase();
    let hash = app.passwords.hash(input.password).await?;
    let confirmation = settings.email_confirmation.then(OneTimeCode::new);

    let mut conn = app.db.conn().await?;
    let role = Role::find_by_type(&mut conn, &settings.default_role)
        .await?
        .ok_or_else(|| AppError::application("Impossible to find the default role"))?;
    let document_id = crate::util::new_document_id();
    let user = NewUser::new(
        &document_id,
        input.username,
        &email,
        role.id,
        settings.unique_email,
    )
    .password(Some(&hash))
    .confirmation_token(confirmation.as_ref().map(|c| c.hash.as_str()))
    .confirmed(confirmation.is_none())
    .attributes(&attributes)
    .insert(&mut conn)
    .await;
    let user = crate::service::validate::unique_attribute(&app.attributes, user)?
        .on_unique(|| AppError::application("Email or Username are already taken"))?;
    tracing::info!(user = user.id, "user registered");

    match confirmation {
        Some(code) => {
            send_confirmation(app, &user, &code.code)?;
            Ok(Session {
                jwt: None,
                refresh_token: None,
                user,
                role,
            })
        }
        None => super::session::open(app, user, role, device).await,
    }
}

/// `attributes` as stored: an object whose keys are all in `allowed`.
fn check_attributes(attributes: Option<&Value>, allowed: &[String]) -> AppResult<String> {
    let Some(value) = attributes.filter(|v| !v.is_null()) else {
        return Ok("{}".into());
    };
    if let Some(problem) = crate::service::validate::attributes_problem(value) {
        return Err(AppError::validation(problem));
    }
    let Value::Object(map) = value else {
        return Err(AppError::validation(
            crate::service::validate::ATTRIBUTES_NOT_AN_OBJECT,
        ));
    };
    let mut refused: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !allowed.iter().any(|a| a == k))
        .collect();
    if !refused.is_empty() {
        refused.sort_unstable();
        return Err(AppError::validation(format!(
            "Invalid parameters: {}",
            refused.join(", ")
        )));
    }
    let text = value.to_string();
    if text.len() > 16 * 1024 {
        return Err(AppError::validation("attributes must be at most 16 KiB"));
    }
    Ok(text)
}

/// Signs in with an email (any case) or username and a password. Unknown accounts and wrong
/// passwords fail alike and cost the same bcrypt verification; account states are told only
/// to someone who knows the password. Attempts count against the rate limit per identifier
/// and per account, so an account's email and username share one count.
#[instrument(skip_all)]
pub async fn login(
    app: &App,
    identifier: &str,
    password: &str,
    provider: &str,
    device: &Device,
) -> AppResult<Session> {
    if provider != "local" || !crate::service::providers::email_enabled(app) {
        return Err(AppError::application("This provider is disabled"));
    }
    let mut missing = Vec::new();
    for (path, value) in [("identifier", identifier), ("password", password)] {
        if value.is_empty() {
            missing.push(FieldError {
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
        User::find_local_by_identifier(&mut conn, identifier)
            .await?
            .into_iter()
            .next()
    };
    // Counted once the account is known, before the password costs anything: an account's
    // email and username share its count, and an unknown identifier counts on its own alike.
    app.limiter
        .check_account(
            "login",
            identifier,
            candidate.as_ref().map(|(user, _)| user.id),
        )
        .await?;
    let hash = candidate
        .as_ref()
        .and_then(|(user, _)| user.password.as_deref());
    let matches = app.passwords.verify(password, hash).await?;
    let (user, role) = match candidate {
        Some(found) if matches => found,
        _ => return Err(AppError::validation("Invalid identifier or password")),
    };
    if !user.confirmed && app.settings.advanced().email_confirmation {
        return Err(AppError::application("Your account email is not confirmed"));
    }
    super::session::open(app, user, role, device).await
}

/// Starts a password reset for `email`. The answer is the same whether or not an account has
/// that email: the lookup and the email happen after the caller has its answer.
/// In production, with the `emailResetPassword` setting empty, no reset mail is sent: its link
/// would lead to a page this server does not have. The answer says so (as Strapi answers a
/// missing setting: an application error); it is the same for every address.
#[instrument(skip_all)]
pub async fn forgot_password(app: &AppState, email: &str) -> AppResult<()> {
    if app.settings.advanced().email_reset_password.is_none()
        && app.config.environment == crate::config::Environment::Production
    {
        tracing::warn!(
            "forgotPassword refused: the emailResetPassword setting is empty, so a reset link \
             would lead to a page this server does not serve; set it to your front end's \
             reset-password page (updateUsersPermissionsAdvancedSettings or [advanced] in \
             castellan.toml)"
        );
        return Err(AppError::application(RESET_PAGE_UNSET));
    }
    after_the_answer(app, email, |app, email| async move {
        send_reset_code(&app, &email).await
    })
}

/// The answer of `forgotPassword` in production while `emailResetPassword` is empty.
pub const RESET_PAGE_UNSET: &str = "Password reset is not available: the emailResetPassword \
    setting (the front end's reset-password page) is empty";

/// The start-up warning when `emailResetPassword` is empty: in production forgotPassword is
/// refused; in development reset links lead to a page Castellan does not serve.
pub fn warn_reset_link_unset(environment: crate::config::Environment) {
    if environment == crate::config::Environment::Production {
        tracing::warn!(
            "the emailResetPassword setting is empty: forgotPassword answers an error and sends \
             no mail until it names your front end's reset-password page \
             (updateUsersPermissionsAdvancedSettings or [advanced] emailResetPassword in \
             castellan.toml)"
        );
    } else {
        tracing::info!(
            "the emailResetPassword setting is empty: reset mails are logged with a link to a \
             page Castellan does not serve; set it to your front end's reset-password page"
        );
    }
}

/// Checks `email`, then runs `work` in the background: the caller's answer, and the time it
/// takes, are the same for every address.
fn after_the_answer<F, Fut>(app: &AppState, email: &str, work: F) -> AppResult<()>
where
    F: FnOnce(AppState, String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = AppResult<()>> + Send + 'static,
{
    let email = email.trim().to_lowercase();
    if !is_valid_email(&email) {
        return Err(AppError::invalid_fields(vec![FieldError {
            path: "email",
            message: "email must be a valid email".into(),
            value: Some(serde_json::Value::String(email)),
        }]));
    }
    let app = app.clone();
    tokio::spawn(async move {
        if let Err(error) = work(app, email).await {
            error.log_if_internal();
        }
    });
    Ok(())
}

async fn send_reset_code(app: &AppState, email: &str) -> AppResult<()> {
    let mut conn = app.db.conn().await?;
    let Some(user) = User::find_local_by_email(&mut conn, email).await? else {
        return Ok(());
    };
    if user.blocked {
        return Ok(());
    }
    let code = OneTimeCode::new();
    let lifetime =
        chrono::Duration::from_std(app.config.reset_code_lifetime).map_err(AppError::internal)?;
    User::set_reset_code(&mut conn, user.id, &code.hash, now() + lifetime).await?;
    let url = match app.settings.advanced().email_reset_password.clone() {
        Some(url) => url,
        None => {
            // Development only (production refuses above): the mail is logged with a link
            // a developer can copy the code from, and this line says where it leads.
            let url = format!("{}/reset-password", app.config.public_url());
            tracing::warn!(
                link = %url,
                "the emailResetPassword setting is empty: the link of this reset mail leads to \
                 a page Castellan does not serve (404); copy the code from it, and set \
                 emailResetPassword to your front end's reset-password page"
            );
            url
        }
    };
    let mail = render(
        app,
        TemplateKind::ResetPassword,
        &user,
        [("TOKEN", code.code), ("URL", url)],
    )?;
    mail::send_in_background(app.mailer.clone(), mail);
    Ok(())
}

/// Sets a new password with the code of a reset email. The code works once and only before it
/// expires; every JWT issued before the reset stops working.
#[instrument(skip_all)]
pub async fn reset_password(
    app: &App,
    password: &str,
    confirmation: &str,
    code: &str,
    device: &Device,
) -> AppResult<Session> {
    let mut errors = Vec::new();
    check_password("password", password, &mut errors);
    if !errors.is_empty() {
        return Err(AppError::invalid_fields(errors));
    }
    if password != confirmation {
        // As Strapi's check of `passwordConfirmation`, without echoing it.
        return Err(AppError::validation_at(
            "passwordConfirmation",
            "Passwords do not match",
        ));
    }
    if code.is_empty() {
        return Err(AppError::validation("Incorrect code provided"));
    }
    let hash = app.passwords.hash(password).await?;
    let mut conn = app.db.conn().await?;
    let user = User::reset_password_by_code(&mut conn, &hash_code(code), &hash, next_token_epoch())
        .await?
        .ok_or_else(|| AppError::validation("Incorrect code provided"))?;
    app.changed(crate::changes::Change::User(user.id)).await?;
    super::session::end_all(app, user.id).await?;
    tracing::info!(user = user.id, "password reset");
    signed_in(app, &mut conn, user, device).await
}

/// Changes the signed-in user's password; every JWT issued before stops working and the
/// returned one works.
#[instrument(skip_all)]
pub async fn change_password(
    app: &App,
    signed_in_user: Option<&SignedInUser>,
    current: &str,
    password: &str,
    confirmation: &str,
    device: &Device,
) -> AppResult<Session> {
    let Some(SignedInUser { user, .. }) = signed_in_user else {
        return Err(AppError::application(
            "You must be authenticated to reset your password",
        ));
    };
    let mut errors = Vec::new();
    check_password("password", password, &mut errors);
    if !errors.is_empty() {
        return Err(AppError::invalid_fields(errors));
    }
    if password != confirmation {
        // As Strapi's check of `passwordConfirmation`, without echoing it.
        return Err(AppError::validation_at(
            "passwordConfirmation",
            "Passwords do not match",
        ));
    }
    if !app
        .passwords
        .verify(current, user.password.as_deref())
        .await?
    {
        return Err(AppError::validation(
            "The provided current password is invalid",
        ));
    }
    if current == password {
        return Err(AppError::validation(
            "Your new password must be different than your current password",
        ));
    }
    let hash = app.passwords.hash(password).await?;
    let mut conn = app.db.conn().await?;
    let user = User::set_password(&mut conn, user.id, &hash, next_token_epoch())
        .await?
        .ok_or(AppError::Unauthorized(crate::auth::principal::INVALID_USER))?;
    app.changed(crate::changes::Change::User(user.id)).await?;
    super::session::end_all(app, user.id).await?;
    tracing::info!(user = user.id, "password changed");
    signed_in(app, &mut conn, user, device).await
}

/// Confirms an account with the code of its confirmation email (once).
#[instrument(skip_all)]
/// With no `device` (the link of the email, which answers with a redirect) no session is
/// opened in refresh mode: its tokens would reach nobody.
pub async fn confirm_email(app: &App, code: &str, device: Option<&Device>) -> AppResult<Session> {
    if code.is_empty() {
        return Err(AppError::validation("Invalid token"));
    }
    let mut conn = app.db.conn().await?;
    let user = User::confirm_by_code(&mut conn, &hash_code(code))
        .await?
        .ok_or_else(|| AppError::validation("Invalid token"))?;
    app.changed(crate::changes::Change::User(user.id)).await?;
    tracing::info!(user = user.id, "email confirmed");
    match device {
        None if app.config.sessions.refresh() => {
            let role = Role::find(&mut conn, user.role_id).await?.ok_or_else(|| {
                AppError::internal(anyhow::anyhow!("user {} has no role", user.id))
            })?;
            if user.blocked {
                return Err(AppError::application(
                    "Your account has been blocked by an administrator",
                ));
            }
            Ok(Session {
                jwt: None,
                refresh_token: None,
                user,
                role,
            })
        }
        device => signed_in(app, &mut conn, user, &device.cloned().unwrap_or_default()).await,
    }
}

/// Sends a new confirmation email to an unconfirmed account. The answer is the same for every
/// address, known or not, confirmed or not.
#[instrument(skip_all)]
pub async fn resend_confirmation(app: &AppState, email: &str) -> AppResult<()> {
    after_the_answer(app, email, |app, email| async move {
        let mut conn = app.db.conn().await?;
        let Some(user) = User::find_local_by_email(&mut conn, &email).await? else {
            return Ok(());
        };
        if user.confirmed || user.blocked {
            return Ok(());
        }
        let code = OneTimeCode::new();
        User::set_confirmation_code(&mut conn, user.id, &code.hash).await?;
        send_confirmation(&app, &user, &code.code)
    })
}

/// A session for `user`, refused when the account is blocked.
async fn signed_in(
    app: &App,
    conn: &mut crate::db::Conn,
    user: User,
    device: &Device,
) -> AppResult<Session> {
    let role = Role::find(conn, user.role_id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("user {} has no role", user.id)))?;
    super::session::open(app, user, role, device).await
}

fn send_confirmation(app: &AppState, user: &User, code: &str) -> AppResult<()> {
    let url = format!("{}/api/auth/email-confirmation", app.config.public_url());
    let mail = render(
        app,
        TemplateKind::EmailConfirmation,
        user,
        [("CODE", code.to_string()), ("URL", url)],
    )?;
    mail::send_in_background(app.mailer.clone(), mail);
    Ok(())
}

/// Fills a template for `user`.
fn render<const N: usize>(
    app: &App,
    kind: TemplateKind,
    user: &User,
    extra: [(&'static str, String); N],
) -> AppResult<Mail> {
    let templates = app.settings.templates();
    let template = templates.get(kind);
    let (subject, message) = template.check(kind)?;
    let mut values: HashMap<&str, String> = HashMap::from([
        ("USER.id", user.id.to_string()),
        ("USER.documentId", user.document_id.clone()),
        ("USER.username", user.username.clone()),
        ("USER.email", user.email.clone()),
        ("SERVER_URL", app.config.public_url()),
    ]);
    values.extend(extra);
    Ok(Mail {
        to: user.email.clone(),
        from_name: template.shipper_name.clone(),
        from_email: template.shipper_email.clone(),
        reply_to: template.response_email.clone(),
        subject: subject.render(&values, false),
        html: message.render(&values, true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_accept_only_allowed_keys() {
        let allowed = vec!["nickname".to_string(), "team".to_string()];
        assert_eq!(check_attributes(None, &allowed).unwrap(), "{}");
        assert_eq!(
            check_attributes(Some(&serde_json::json!({"team": "red"})), &allowed).unwrap(),
            r#"{"team":"red"}"#
        );
        let error = check_attributes(
            Some(&serde_json::json!({"role": 1, "blocked": false, "team": "x"})),
            &allowed,
        )
        .unwrap_err();
        assert_eq!(error.to_string(), "Invalid parameters: blocked, role");
        assert!(check_attributes(Some(&serde_json::json!([1])), &allowed).is_err());
    }
}
