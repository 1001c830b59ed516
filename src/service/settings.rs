//! The settings an administrator changes at run time — advanced settings and email
//! templates — stored as documents in the database and held in memory between changes.

use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use tracing::instrument;

use crate::app::App;
use crate::policy::Access;
use crate::auth::providers::Providers;
use crate::db::Db;
use crate::db::models::{Role, Setting, now};
use crate::error::{AppError, AppResult};
use crate::mail::template::{Template, TemplateError};
use crate::service::validate::is_valid_email;

const ADVANCED: &str = "advanced";
const EMAIL: &str = "email";
const PROVIDERS: &str = "providers";

pub use crate::config::{AdvancedSettings, Shipper};

/// A partial change of the advanced settings; `Some("")` clears a URL.
#[derive(Debug, Default, Clone)]
pub struct AdvancedSettingsChanges {
    pub default_role: Option<String>,
    pub unique_email: Option<bool>,
    pub allow_register: Option<bool>,
    pub email_confirmation: Option<bool>,
    pub email_reset_password: Option<String>,
    pub email_confirmation_redirection: Option<String>,
}

/// Which of the two emails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateKind {
    EmailConfirmation,
    ResetPassword,
}

impl TemplateKind {
    /// The variables the template may use.
    pub fn variables(self) -> &'static [&'static str] {
        match self {
            Self::EmailConfirmation => &[
                "USER.id",
                "USER.documentId",
                "USER.username",
                "USER.email",
                "CODE",
                "URL",
                "SERVER_URL",
            ],
            Self::ResetPassword => &[
                "USER.id",
                "USER.documentId",
                "USER.username",
                "USER.email",
                "TOKEN",
                "URL",
                "SERVER_URL",
            ],
        }
    }
}

/// One email template, as Strapi's admin panel edits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailTemplate {
    pub shipper_name: String,
    pub shipper_email: String,
    pub response_email: Option<String>,
    pub subject: String,
    pub message: String,
}

/// Both templates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailTemplates {
    pub email_confirmation: EmailTemplate,
    pub reset_password: EmailTemplate,
}

impl EmailTemplates {
    pub fn defaults(shipper: &Shipper) -> Self {
        let template = |subject: &str, message: &str| EmailTemplate {
            shipper_name: shipper.name.clone(),
            shipper_email: shipper.email.clone(),
            response_email: shipper.response_email.clone(),
            subject: subject.into(),
            message: message.into(),
        };
        Self {
            email_confirmation: template(
                "Confirm your email address",
                "<p>Hello <%= USER.username %>,</p>\n\
                 <p>Thank you for registering! Please confirm your email address by following this link:</p>\n\
                 <p><a href=\"<%= URL %>?confirmation=<%= CODE %>\"><%= URL %>?confirmation=<%= CODE %></a></p>\n\
                 <p>If you did not create an account, you can ignore this email.</p>",
            ),
            reset_password: template(
                "Reset your password",
                "<p>Hello <%= USER.username %>,</p>\n\
                 <p>We heard that you lost your password. You can choose a new one by following this link:</p>\n\
                 <p><a href=\"<%= URL %>?code=<%= TOKEN %>\"><%= URL %>?code=<%= TOKEN %></a></p>\n\
                 <p>The link works once and expires soon. If you did not ask for it, you can ignore this email.</p>",
            ),
        }
    }

    pub fn get(&self, kind: TemplateKind) -> &EmailTemplate {
        match kind {
            TemplateKind::EmailConfirmation => &self.email_confirmation,
            TemplateKind::ResetPassword => &self.reset_password,
        }
    }
}

impl EmailTemplate {
    /// Checks the template: sender addresses, and subject and message against the variables
    /// of `kind`. Returns the parsed subject and message.
    pub fn check(&self, kind: TemplateKind) -> AppResult<(Template, Template)> {
        let invalid =
            |field: &str, error: TemplateError| AppError::validation(format!("{field}: {error}"));
        if !is_valid_email(&self.shipper_email) {
            return Err(AppError::validation("shipperEmail must be a valid email"));
        }
        if self
            .response_email
            .as_deref()
            .is_some_and(|r| !r.is_empty() && !is_valid_email(r))
        {
            return Err(AppError::validation("responseEmail must be a valid email"));
        }
        if self.shipper_name.trim().is_empty()
            || self.subject.trim().is_empty()
            || self.message.trim().is_empty()
        {
            return Err(AppError::validation(
                "shipperName, subject and message cannot be empty",
            ));
        }
        let subject =
            Template::parse(&self.subject, kind.variables()).map_err(|e| invalid("subject", e))?;
        let message =
            Template::parse(&self.message, kind.variables()).map_err(|e| invalid("message", e))?;
        Ok((subject, message))
    }
}

/// The settings in memory, replaced whole on each change.
#[derive(Debug)]
pub struct SettingsStore {
    advanced: RwLock<Arc<AdvancedSettings>>,
    templates: RwLock<Arc<EmailTemplates>>,
    providers: RwLock<Arc<Providers>>,
    /// Handed to each reload as it starts, and the ticket of the reload last installed: an
    /// older reload that finishes after a newer one (a change made here and another
    /// instance's announced one overlap) must not put back what it read.
    tickets: std::sync::atomic::AtomicU64,
    installed: std::sync::Mutex<u64>,
}

/// A value of a setting as a drift warning shows it: JSON, a missing one as `(unset)`.
fn shown(value: Option<&serde_json::Value>) -> String {
    match value {
        None | Some(serde_json::Value::Null) => "(unset)".into(),
        Some(value) => value.to_string(),
    }
}

/// One line per setting `castellan.toml` wrote whose value the database does not hold (the
/// database's is in force: the file only gives first values). A client secret is never shown:
/// `(set)` for the file's, `(different)` or `(unset)` for the database's.
pub fn drift(
    declared: &crate::config::Declared,
    advanced: &AdvancedSettings,
    shipper: &Shipper,
    providers: &Providers,
    store: &SettingsStore,
) -> Vec<String> {
    let line = |setting: String, file: String, database: String| {
        format!(
            "castellan.toml sets {setting} = {file} but the database holds {database}; the \
             database's value is in force (change it over the API or with `castellan config \
             apply`, or align castellan.toml)"
        )
    };
    let mut lines = Vec::new();
    let (file_advanced, held_advanced) = (
        serde_json::to_value(advanced).unwrap_or_default(),
        serde_json::to_value(&*store.advanced()).unwrap_or_default(),
    );
    for key in &declared.advanced {
        let (file, held) = (file_advanced.get(key), held_advanced.get(key));
        if file != held {
            lines.push(line(format!("advanced.{key}"), shown(file), shown(held)));
        }
    }
    let templates = store.templates();
    let file_shipper = serde_json::json!({
        "shipperName": shipper.name,
        "shipperEmail": shipper.email,
        "responseEmail": shipper.response_email,
    });
    for (kind, template) in [
        ("emailConfirmation", &templates.email_confirmation),
        ("resetPassword", &templates.reset_password),
    ] {
        let held = serde_json::to_value(template).unwrap_or_default();
        for key in &declared.email {
            let (file, held) = (file_shipper.get(key), held.get(key));
            if file != held {
                lines.push(line(
                    format!("email.{key} (template {kind})"),
                    shown(file),
                    shown(held),
                ));
            }
        }
    }
    let held_providers = store.providers();
    for (name, keys) in &declared.providers {
        let file = serde_json::to_value(providers.get(name)).unwrap_or_default();
        let held = serde_json::to_value(held_providers.get(name)).unwrap_or_default();
        for key in keys {
            let (file_value, held_value) = (file.get(key), held.get(key));
            if file_value == held_value {
                continue;
            }
            let setting = format!("providers.{name}.{key}");
            if key == "clientSecret" {
                let empty = |v: Option<&serde_json::Value>| {
                    v.and_then(serde_json::Value::as_str).is_none_or(str::is_empty)
                };
                let file_shown = if empty(file_value) { "(unset)" } else { "(set)" };
                let held_shown = if empty(held_value) { "(unset)" } else { "(different)" };
                lines.push(line(setting, file_shown.into(), held_shown.into()));
            } else {
                lines.push(line(setting, shown(file_value), shown(held_value)));
            }
        }
    }
    lines
}

impl SettingsStore {
    /// Stores the initial values where the database has none yet, then reads what it has.
    pub async fn load(
        db: &Db,
        advanced: &AdvancedSettings,
        templates: &EmailTemplates,
        providers: &Providers,
    ) -> AppResult<Self> {
        let mut conn = db.conn().await?;
        for (key, value) in [(ADVANCED, to_json(advanced)?), (EMAIL, to_json(templates)?)] {
            Setting {
                key: key.into(),
                value,
                updated_at: now(),
            }
            .insert_if_absent(&mut conn)
            .await?;
        }
        // Providers declared in the configuration join those in the database; a provider the
        // database knows keeps the values an administrator gave it.
        let mut stored: Providers = match Setting::find(&mut conn, PROVIDERS).await? {
            Some(row) => from_json(&row.value)?,
            None => Providers::new(),
        };
        let before = stored.len();
        for (name, settings) in providers {
            stored
                .entry(name.clone())
                .or_insert_with(|| settings.clone());
        }
        if stored.len() != before || before == 0 {
            Setting {
                key: PROVIDERS.into(),
                value: to_json(&stored)?,
                updated_at: now(),
            }
            .upsert(&mut conn)
            .await?;
        }
        drop(conn);
        let store = Self {
            advanced: RwLock::new(Arc::new(advanced.clone())),
            templates: RwLock::new(Arc::new(templates.clone())),
            providers: RwLock::new(Arc::new(stored)),
            tickets: std::sync::atomic::AtomicU64::new(0),
            installed: std::sync::Mutex::new(0),
        };
        store.reload(db).await?;
        Ok(store)
    }

    /// Reads the settings again from the database.
    pub async fn reload(&self, db: &Db) -> AppResult<()> {
        let ticket = self
            .tickets
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let mut conn = db.conn().await?;
        let advanced = match Setting::find(&mut conn, ADVANCED).await? {
            Some(row) => Some(from_json::<AdvancedSettings>(&row.value)?),
            None => None,
        };
        let templates = match Setting::find(&mut conn, EMAIL).await? {
            Some(row) => Some(from_json::<EmailTemplates>(&row.value)?),
            None => None,
        };
        let providers = match Setting::find(&mut conn, PROVIDERS).await? {
            Some(row) => Some(from_json::<Providers>(&row.value)?),
            None => None,
        };
        let mut installed = self.installed.lock().unwrap_or_else(|p| p.into_inner());
        if ticket <= *installed {
            return Ok(());
        }
        *installed = ticket;
        if let Some(value) = advanced {
            *self.advanced.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(value);
        }
        if let Some(value) = templates {
            *self.templates.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(value);
        }
        if let Some(value) = providers {
            *self.providers.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(value);
        }
        Ok(())
    }

    pub fn providers(&self) -> Arc<Providers> {
        self.providers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stores the providers and makes them current.
    pub async fn save_providers(&self, db: &Db, providers: Providers) -> AppResult<()> {
        let mut conn = db.conn().await?;
        Setting {
            key: PROVIDERS.into(),
            value: to_json(&providers)?,
            updated_at: now(),
        }
        .upsert(&mut conn)
        .await?;
        *self.providers.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(providers);
        Ok(())
    }

    pub fn advanced(&self) -> Arc<AdvancedSettings> {
        self.advanced
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn templates(&self) -> Arc<EmailTemplates> {
        self.templates
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn to_json(value: &impl Serialize) -> AppResult<String> {
    serde_json::to_string(value).map_err(AppError::internal)
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> AppResult<T> {
    serde_json::from_str(text).map_err(AppError::internal)
}

/// An absolute http(s) URL, or `None` for an empty value.
pub(crate) fn check_url(field: &str, value: String) -> AppResult<Option<String>> {
    let value = value.trim().to_string();
    if value.is_empty() {
        return Ok(None);
    }
    let valid = (value.starts_with("http://") || value.starts_with("https://"))
        && value
            .split("://")
            .nth(1)
            .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(Some(value))
    } else {
        Err(AppError::validation(format!(
            "{field} must be an absolute http(s) URL"
        )))
    }
}

/// Applies `changes` to the advanced settings, after checking them all.
#[instrument(skip_all)]
pub async fn update_advanced(
    app: &App,
    access: &Access,
    changes: AdvancedSettingsChanges,
) -> AppResult<Arc<AdvancedSettings>> {
    access.require(crate::policy::actions::ADVANCED_SETTINGS_UPDATE)?;
    let mut settings = (*app.settings.advanced()).clone();
    let mut conn = app.db.conn().await?;
    if let Some(role_type) = changes.default_role {
        if !crate::policy::roles::may_be_default(&role_type)
            || Role::find_by_type(&mut conn, &role_type).await?.is_none()
        {
            return Err(AppError::validation(format!(
                "defaultRole must be the type of an existing role other than public, got `{role_type}`"
            )));
        }
        settings.default_role = role_type;
    }
    if let Some(value) = changes.unique_email {
        settings.unique_email = value;
    }
    if let Some(value) = changes.allow_register {
        settings.allow_register = value;
    }
    if let Some(value) = changes.email_confirmation {
        settings.email_confirmation = value;
    }
    if let Some(url) = changes.email_reset_password {
        settings.email_reset_password = check_url("emailResetPassword", url)?;
    }
    if let Some(url) = changes.email_confirmation_redirection {
        settings.email_confirmation_redirection = check_url("emailConfirmationRedirection", url)?;
    }
    Setting {
        key: ADVANCED.into(),
        value: to_json(&settings)?,
        updated_at: now(),
    }
    .upsert(&mut conn)
    .await?;
    app.changed(crate::changes::Change::Settings).await?;
    tracing::info!("advanced settings changed");
    Ok(app.settings.advanced())
}

/// Replaces one email template after checking it; a refused template leaves the old one.
#[instrument(skip_all)]
pub async fn update_template(
    app: &App,
    access: &Access,
    kind: TemplateKind,
    template: EmailTemplate,
) -> AppResult<EmailTemplate> {
    access.require(crate::policy::actions::EMAIL_TEMPLATES_UPDATE)?;
    template.check(kind)?;
    let mut templates = (*app.settings.templates()).clone();
    match kind {
        TemplateKind::EmailConfirmation => templates.email_confirmation = template,
        TemplateKind::ResetPassword => templates.reset_password = template,
    }
    let mut conn = app.db.conn().await?;
    Setting {
        key: EMAIL.into(),
        value: to_json(&templates)?,
        updated_at: now(),
    }
    .upsert(&mut conn)
    .await?;
    app.changed(crate::changes::Change::Settings).await?;
    tracing::info!(template = ?kind, "email template changed");
    Ok(app.settings.templates().get(kind).clone())
}

/// The three settings documents as the database holds them, read on `conn` (within the
/// caller's transaction, when there is one).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredSettings {
    pub advanced: AdvancedSettings,
    pub templates: EmailTemplates,
    pub providers: Providers,
}

impl StoredSettings {
    /// What `conn` holds; a document that is missing reads as what the app holds in memory.
    pub(crate) async fn read(app: &App, conn: &mut crate::db::Conn) -> AppResult<Self> {
        let advanced = match Setting::find(conn, ADVANCED).await? {
            Some(row) => from_json(&row.value)?,
            None => (*app.settings.advanced()).clone(),
        };
        let templates = match Setting::find(conn, EMAIL).await? {
            Some(row) => from_json(&row.value)?,
            None => (*app.settings.templates()).clone(),
        };
        let providers = match Setting::find(conn, PROVIDERS).await? {
            Some(row) => from_json(&row.value)?,
            None => (*app.settings.providers()).clone(),
        };
        Ok(Self {
            advanced,
            templates,
            providers,
        })
    }

    /// Writes the documents that differ from `before`; the app reloads them on
    /// `Change::Settings`.
    pub(crate) async fn write_changed(
        &self,
        before: &StoredSettings,
        conn: &mut crate::db::Conn,
    ) -> AppResult<()> {
        let documents = [
            (
                ADVANCED,
                self.advanced != before.advanced,
                to_json(&self.advanced)?,
            ),
            (
                EMAIL,
                self.templates != before.templates,
                to_json(&self.templates)?,
            ),
            (
                PROVIDERS,
                self.providers != before.providers,
                to_json(&self.providers)?,
            ),
        ];
        for (key, changed, value) in documents {
            if changed {
                Setting {
                    key: key.into(),
                    value,
                    updated_at: now(),
                }
                .upsert(conn)
                .await?;
            }
        }
        Ok(())
    }
}

impl AdvancedSettings {
    /// Checks every value as `update_advanced` would, but the default role, which the caller
    /// checks against the roles it is about to hold. Empty URLs become `None`.
    pub(crate) fn checked(mut self) -> AppResult<Self> {
        if let Some(url) = self.email_reset_password.take() {
            self.email_reset_password = check_url("emailResetPassword", url)?;
        }
        if let Some(url) = self.email_confirmation_redirection.take() {
            self.email_confirmation_redirection = check_url("emailConfirmationRedirection", url)?;
        }
        if !crate::policy::roles::may_be_default(&self.default_role) {
            return Err(AppError::validation(
                "defaultRole must be the type of an existing role other than public, got `public`",
            ));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_templates_are_valid() {
        let templates = EmailTemplates::defaults(&Shipper::default());
        templates
            .email_confirmation
            .check(TemplateKind::EmailConfirmation)
            .unwrap();
        templates
            .reset_password
            .check(TemplateKind::ResetPassword)
            .unwrap();
        // TOKEN belongs to the reset email only.
        assert!(
            templates
                .reset_password
                .check(TemplateKind::EmailConfirmation)
                .is_err()
        );
    }

    #[test]
    fn urls_must_be_absolute() {
        assert_eq!(
            check_url("u", "https://app.example.com/reset".into())
                .unwrap()
                .as_deref(),
            Some("https://app.example.com/reset")
        );
        assert_eq!(check_url("u", "  ".into()).unwrap(), None);
        for bad in [
            "javascript:alert(1)",
            "/relative",
            "https://",
            "http:///x",
            "https://a b",
        ] {
            assert!(check_url("u", bad.into()).is_err(), "{bad} accepted");
        }
    }
}
