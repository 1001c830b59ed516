//! Advanced settings and email templates, for administrators.

use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject};

use super::auth::request;
use super::directives::action;
use crate::policy::actions;
use crate::service::settings::{
    self, AdvancedSettings, AdvancedSettingsChanges, EmailTemplate, TemplateKind,
};

/// The advanced settings of Users & Permissions.
#[derive(Debug, SimpleObject)]
pub struct UsersPermissionsAdvancedSettings {
    /// The role type new users receive.
    pub default_role: String,
    /// One account per email address.
    pub unique_email: bool,
    /// Whether sign-ups are open.
    pub allow_register: bool,
    /// Whether new accounts must confirm their email before they can log in.
    pub email_confirmation: bool,
    /// The front end's reset-password page, the `URL` of the reset email.
    pub email_reset_password: Option<String>,
    /// Where the confirmation link redirects once the email is confirmed.
    pub email_confirmation_redirection: Option<String>,
}

/// Changes to the advanced settings; omitted fields keep their value, `""` clears a URL.
#[derive(Debug, InputObject)]
pub struct UsersPermissionsAdvancedSettingsInput {
    pub default_role: Option<String>,
    pub unique_email: Option<bool>,
    pub allow_register: Option<bool>,
    pub email_confirmation: Option<bool>,
    pub email_reset_password: Option<String>,
    pub email_confirmation_redirection: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum UsersPermissionsEmailTemplateName {
    EmailConfirmation,
    ResetPassword,
}

/// An email template. `subject` and `message` may use `<%= USER.username %>`,
/// `<%= USER.email %>`, `<%= URL %>`, `<%= SERVER_URL %>`, and `<%= CODE %>` (confirmation) or
/// `<%= TOKEN %>` (reset). Values are HTML-escaped in the message.
#[derive(Debug, SimpleObject)]
pub struct UsersPermissionsEmailTemplate {
    pub template: UsersPermissionsEmailTemplateName,
    pub shipper_name: String,
    pub shipper_email: String,
    pub response_email: Option<String>,
    pub subject: String,
    pub message: String,
}

#[derive(Debug, InputObject)]
pub struct UsersPermissionsEmailTemplateInput {
    pub shipper_name: String,
    pub shipper_email: String,
    pub response_email: Option<String>,
    pub subject: String,
    pub message: String,
}

impl From<TemplateKind> for UsersPermissionsEmailTemplateName {
    fn from(kind: TemplateKind) -> Self {
        match kind {
            TemplateKind::EmailConfirmation => Self::EmailConfirmation,
            TemplateKind::ResetPassword => Self::ResetPassword,
        }
    }
}

impl From<UsersPermissionsEmailTemplateName> for TemplateKind {
    fn from(name: UsersPermissionsEmailTemplateName) -> Self {
        match name {
            UsersPermissionsEmailTemplateName::EmailConfirmation => Self::EmailConfirmation,
            UsersPermissionsEmailTemplateName::ResetPassword => Self::ResetPassword,
        }
    }
}

impl From<&AdvancedSettings> for UsersPermissionsAdvancedSettings {
    fn from(s: &AdvancedSettings) -> Self {
        Self {
            default_role: s.default_role.clone(),
            unique_email: s.unique_email,
            allow_register: s.allow_register,
            email_confirmation: s.email_confirmation,
            email_reset_password: s.email_reset_password.clone(),
            email_confirmation_redirection: s.email_confirmation_redirection.clone(),
        }
    }
}

fn template_out(kind: TemplateKind, t: &EmailTemplate) -> UsersPermissionsEmailTemplate {
    UsersPermissionsEmailTemplate {
        template: kind.into(),
        shipper_name: t.shipper_name.clone(),
        shipper_email: t.shipper_email.clone(),
        response_email: t.response_email.clone(),
        subject: t.subject.clone(),
        message: t.message.clone(),
    }
}

#[derive(Default)]
pub struct SettingsQuery;

#[Object]
impl SettingsQuery {
    /// The advanced settings.
    #[graphql(directive = action::apply(actions::ADVANCED_SETTINGS_READ.into()))]
    async fn users_permissions_advanced_settings(
        &self,
        ctx: &Context<'_>,
    ) -> Result<UsersPermissionsAdvancedSettings> {
        let (app, _) = request(ctx)?;
        Ok(app.settings.advanced().as_ref().into())
    }

    /// The two email templates.
    #[graphql(directive = action::apply(actions::EMAIL_TEMPLATES_READ.into()))]
    async fn users_permissions_email_templates(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<UsersPermissionsEmailTemplate>> {
        let (app, _) = request(ctx)?;
        let templates = app.settings.templates();
        Ok(
            [TemplateKind::EmailConfirmation, TemplateKind::ResetPassword]
                .into_iter()
                .map(|kind| template_out(kind, templates.get(kind)))
                .collect(),
        )
    }
}

#[derive(Default)]
pub struct SettingsMutation;

#[Object]
impl SettingsMutation {
    /// Changes advanced settings; they apply from the next request.
    #[graphql(directive = action::apply(actions::ADVANCED_SETTINGS_UPDATE.into()))]
    async fn update_users_permissions_advanced_settings(
        &self,
        ctx: &Context<'_>,
        data: UsersPermissionsAdvancedSettingsInput,
    ) -> Result<UsersPermissionsAdvancedSettings> {
        let (app, _) = request(ctx)?;
        let changes = AdvancedSettingsChanges {
            default_role: data.default_role,
            unique_email: data.unique_email,
            allow_register: data.allow_register,
            email_confirmation: data.email_confirmation,
            email_reset_password: data.email_reset_password,
            email_confirmation_redirection: data.email_confirmation_redirection,
        };
        Ok(settings::update_advanced(app, &*super::access(ctx)?, changes)
            .await?
            .as_ref()
            .into())
    }

    /// Replaces an email template. A template with a syntax error or an unknown variable is
    /// refused and the previous one kept.
    #[graphql(directive = action::apply(actions::EMAIL_TEMPLATES_UPDATE.into()))]
    async fn update_users_permissions_email_template(
        &self,
        ctx: &Context<'_>,
        template: UsersPermissionsEmailTemplateName,
        data: UsersPermissionsEmailTemplateInput,
    ) -> Result<UsersPermissionsEmailTemplate> {
        let (app, _) = request(ctx)?;
        let kind = TemplateKind::from(template);
        let new = EmailTemplate {
            shipper_name: data.shipper_name,
            shipper_email: data.shipper_email,
            response_email: data.response_email.filter(|r| !r.is_empty()),
            subject: data.subject,
            message: data.message,
        };
        let saved = settings::update_template(app, &*super::access(ctx)?, kind, new).await?;
        Ok(template_out(kind, &saved))
    }
}
