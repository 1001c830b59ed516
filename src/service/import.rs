//! Moving in from Strapi: users (with their bcrypt hashes, so they keep their passwords), roles,
//! grants, advanced settings, email templates and providers, read from a Strapi database
//! ([`crate::db::strapi`]) and written in one transaction. Running it again changes nothing;
//! a username or email that belongs to another Castellan user stops it before anything is
//! written.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::NaiveDateTime;
use serde_json::{Map, Value};
use tracing::instrument;

use crate::app::App;
use crate::auth::providers::{EMAIL, PRESETS};
use crate::changes::Change;
use crate::db::Conn;
use crate::db::models::{
    NewPermission, NewRole, Permission, Role, RoleChanges, User, UserChanges, now,
};
use crate::db::strapi::{Layout, Row, StrapiData};
use crate::error::{AppError, AppResult};
use crate::service::account::hash_code;
use crate::service::config_sync::{ProviderEntry, changed_keys};
use crate::service::roles::{GrantSpec, check_grants, check_type, slug};
use crate::service::settings::{EmailTemplate, StoredSettings, TemplateKind, check_url};

/// The columns of Strapi's `up_users` that Castellan has (or deliberately leaves behind);
/// every other column goes into the user's `attributes`.
const KNOWN_USER_COLUMNS: &[&str] = &[
    "id",
    "document_id",
    "username",
    "email",
    "provider",
    "password",
    "reset_password_token",
    "confirmation_token",
    "confirmed",
    "blocked",
    "created_at",
    "updated_at",
    "published_at",
    "created_by_id",
    "updated_by_id",
    "locale",
];

/// What an import did (or, on a dry run or with conflicts, would do).
#[derive(Debug, Default)]
pub struct ImportReport {
    pub source: String,
    pub roles_created: Vec<String>,
    pub roles_updated: Vec<String>,
    pub roles_unchanged: usize,
    pub grants_added: Vec<String>,
    pub grants_unchanged: usize,
    /// Actions no field or route of this server needs, kept as grants: action → role types.
    pub unimplemented: BTreeMap<String, BTreeSet<String>>,
    pub users_created: Vec<String>,
    pub users_updated: Vec<String>,
    pub users_unchanged: usize,
    pub settings_changed: Vec<String>,
    /// What is not carried over, and why.
    pub not_imported: Vec<String>,
    /// Why nothing was imported.
    pub conflicts: Vec<String>,
    changed_users: Vec<i32>,
}

impl ImportReport {
    /// How many things the import changes.
    pub fn changes(&self) -> usize {
        self.roles_created.len()
            + self.roles_updated.len()
            + self.grants_added.len()
            + self.users_created.len()
            + self.users_updated.len()
            + self.settings_changed.len()
    }

    /// The report as lines for a person. Never holds a secret.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![self.source.clone()];
        let list = |items: &[String]| {
            if items.is_empty() {
                String::new()
            } else {
                format!(": {}", items.join(", "))
            }
        };
        lines.push(format!(
            "roles: {} created{}; {} updated{}; {} unchanged",
            self.roles_created.len(),
            list(&self.roles_created),
            self.roles_updated.len(),
            list(&self.roles_updated),
            self.roles_unchanged
        ));
        lines.push(format!(
            "grants: {} added; {} unchanged",
            self.grants_added.len(),
            self.grants_unchanged
        ));
        for grant in &self.grants_added {
            lines.push(format!("  + {grant}"));
        }
        if !self.unimplemented.is_empty() {
            lines.push(
                "actions Castellan does not implement, kept as grants that your own resolvers \
                 and routes can bind (castellan::action::apply, Builder::route):"
                    .into(),
            );
            for (action, roles) in &self.unimplemented {
                let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
                lines.push(format!("  {action} ({})", roles.join(", ")));
            }
        }
        lines.push(format!(
            "users: {} created; {} updated{}; {} unchanged",
            self.users_created.len(),
            self.users_updated.len(),
            list(&self.users_updated),
            self.users_unchanged
        ));
        for setting in &self.settings_changed {
            lines.push(format!("settings: {setting}"));
        }
        for item in &self.not_imported {
            lines.push(format!("not imported: {item}"));
        }
        lines
    }
}

/// Imports `data` into Castellan's database in one transaction. With `dry_run`, or when there
/// are conflicts, the transaction is rolled back: the report says what would happen.
#[instrument(skip_all, fields(dry_run))]
pub async fn import_strapi(app: &App, data: &StrapiData, dry_run: bool) -> AppResult<ImportReport> {
    let mut conn = app.db.conn().await?;
    conn.begin().await?;
    match import_in(app, data, &mut conn).await {
        Ok(report) if !dry_run && report.conflicts.is_empty() && report.changes() > 0 => {
            conn.commit().await?;
            drop(conn);
            app.changed(Change::Policy).await?;
            app.changed(Change::Settings).await?;
            for id in &report.changed_users {
                app.changed(Change::User(*id)).await?;
            }
            tracing::info!(changes = report.changes(), "imported from Strapi");
            Ok(report)
        }
        Ok(report) => {
            conn.rollback().await?;
            Ok(report)
        }
        Err(error) => {
            let _ = conn.rollback().await;
            Err(error)
        }
    }
}

fn text(row: &Row, key: &str) -> Option<String> {
    match row.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn flag(row: &Row, key: &str) -> bool {
    match row.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
        Some(Value::String(s)) => matches!(s.as_str(), "t" | "true" | "1"),
        _ => false,
    }
}

fn id_of(row: &Row) -> Option<i64> {
    row.get("id").and_then(Value::as_i64)
}

/// Strapi's timestamps: text from PostgreSQL (with or without a zone), milliseconds or text
/// from SQLite.
fn timestamp(row: &Row, key: &str) -> Option<NaiveDateTime> {
    match row.get(key)? {
        Value::Number(n) => {
            chrono::DateTime::from_timestamp_millis(n.as_i64()?).map(|t| t.naive_utc())
        }
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.naive_utc())
            .ok()
            .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok())
            .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok()),
        _ => None,
    }
}

/// `first_name` → `firstName`: the attribute name Strapi's API showed for a column.
fn camel(column: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in column.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

async fn import_in(app: &App, data: &StrapiData, conn: &mut Conn) -> AppResult<ImportReport> {
    conn.lock_for_sync().await?;
    let mut report = ImportReport {
        source: format!(
            "Strapi {} database: {} users, {} roles, {} grants",
            match data.layout {
                Layout::V5 => "5",
                Layout::V4 => "4",
            },
            data.users.len(),
            data.roles.len(),
            data.permission_roles.len()
        ),
        ..Default::default()
    };
    let roles = import_roles(data, conn, &mut report).await?;
    import_grants(app, data, &roles, conn, &mut report).await?;
    let unique_email = import_settings(app, data, conn, &mut report).await?;
    import_users(app, data, &roles, unique_email, conn, &mut report).await?;
    Ok(report)
}

/// Strapi role id → Castellan role.
type RoleMap = HashMap<i64, Role>;

async fn import_roles(
    data: &StrapiData,
    conn: &mut Conn,
    report: &mut ImportReport,
) -> AppResult<RoleMap> {
    let mut map = RoleMap::new();
    for row in &data.roles {
        let Some(strapi_id) = id_of(row) else {
            continue;
        };
        let name = text(row, "name").unwrap_or_default();
        let description = text(row, "description").unwrap_or_default();
        let role_type = text(row, "type").unwrap_or_else(|| slug(&name));
        if let Err(error) = check_type(&role_type) {
            report
                .conflicts
                .push(format!("role {name:?}: type {role_type:?}: {error}"));
            continue;
        }
        let document_id = text(row, "document_id");
        let same_name = Role::all(conn)
            .await?
            .into_iter()
            .find(|r| r.name == name && r.role_type != role_type);
        if let Some(other) = same_name {
            report.conflicts.push(format!(
                "role {role_type}: its name {name:?} belongs to the Castellan role {}",
                other.role_type
            ));
            continue;
        }
        let document_free = match &document_id {
            Some(d) => Role::find_by_document_id(conn, d).await?.is_none(),
            None => false,
        };
        let role = match Role::find_by_type(conn, &role_type).await? {
            Some(role) => {
                let mut changed = Vec::new();
                if role.name != name {
                    changed.push("name");
                }
                if role.description != description {
                    changed.push("description");
                }
                if !changed.is_empty() {
                    let changes = RoleChanges {
                        name: Some(&name),
                        description: Some(&description),
                        role_type: None,
                        updated_at: Some(now()),
                    };
                    Role::update(conn, role.id, &changes).await?;
                }
                if let Some(d) = document_id.as_deref().filter(|_| document_free) {
                    Role::set_document_id(conn, role.id, d).await?;
                    changed.push("documentId");
                }
                if changed.is_empty() {
                    report.roles_unchanged += 1;
                } else {
                    report
                        .roles_updated
                        .push(format!("{role_type} ({})", changed.join(", ")));
                }
                role
            }
            None => {
                let fresh = crate::util::new_document_id();
                let role = NewRole {
                    document_id: document_id
                        .as_deref()
                        .filter(|_| document_free)
                        .unwrap_or(&fresh),
                    name: &name,
                    description: &description,
                    role_type: &role_type,
                    created_at: timestamp(row, "created_at").unwrap_or_else(now),
                    updated_at: timestamp(row, "updated_at").unwrap_or_else(now),
                }
                .insert(conn)
                .await?;
                report.roles_created.push(role_type.clone());
                role
            }
        };
        map.insert(strapi_id, role);
    }
    Ok(map)
}

async fn import_grants(
    app: &App,
    data: &StrapiData,
    roles: &RoleMap,
    conn: &mut Conn,
    report: &mut ImportReport,
) -> AppResult<()> {
    let actions: HashMap<i64, String> = data
        .permissions
        .iter()
        .filter_map(|row| Some((id_of(row)?, text(row, "action")?)))
        .collect();
    let mut wanted: BTreeMap<i64, BTreeSet<&str>> = BTreeMap::new();
    for (permission, role) in &data.permission_roles {
        if let Some(action) = actions.get(permission) {
            wanted.entry(*role).or_default().insert(action);
        }
    }
    let mut held: HashMap<i32, HashSet<String>> = HashMap::new();
    for permission in Permission::all(conn).await? {
        held.entry(permission.role_id)
            .or_default()
            .insert(permission.action);
    }
    let catalogue = app
        .catalogue()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("no catalogue")))?;
    for (strapi_role, actions) in wanted {
        let Some(role) = roles.get(&strapi_role) else {
            continue;
        };
        let mut rows = Vec::new();
        for action in actions {
            if held.get(&role.id).is_some_and(|h| h.contains(action)) {
                report.grants_unchanged += 1;
                continue;
            }
            let spec = GrantSpec {
                action: action.to_string(),
                conditions: Vec::new(),
                fields: None,
            };
            match check_grants(app, &[spec], &|_| true, &[]) {
                Ok(mut checked) => rows.append(&mut checked),
                Err(error) => {
                    report
                        .not_imported
                        .push(format!("grant {} {action}: {error}", role.role_type));
                    continue;
                }
            }
            report
                .grants_added
                .push(format!("{} {action}", role.role_type));
        }
        let new: Vec<NewPermission<'_>> = rows
            .iter()
            .map(|g| NewPermission::unconditional(role.id, &g.action, now()))
            .collect();
        NewPermission::insert_many(&new, conn).await?;
    }
    // Every grant of the source whose action this server does not implement, new or not.
    for (permission, role) in &data.permission_roles {
        if let (Some(action), Some(role)) = (actions.get(permission), roles.get(role))
            && !catalogue.contains(action)
            && crate::policy::actions::parse_action(action).is_ok()
        {
            report
                .unimplemented
                .entry(action.clone())
                .or_default()
                .insert(role.role_type.clone());
        }
    }
    Ok(())
}

/// Imports the three settings documents; whether one account per email is the rule afterwards.
async fn import_settings(
    app: &App,
    data: &StrapiData,
    conn: &mut Conn,
    report: &mut ImportReport,
) -> AppResult<bool> {
    let before = StoredSettings::read(app, conn).await?;
    let mut after = before.clone();
    let document = |key: &str| -> Option<Map<String, Value>> {
        serde_json::from_str::<Value>(data.store.get(key)?)
            .ok()?
            .as_object()
            .cloned()
    };

    if let Some(advanced) = document("plugin_users-permissions_advanced") {
        let flag_of = |key: &str| advanced.get(key).and_then(Value::as_bool);
        let settings = &mut after.advanced;
        if let Some(v) = flag_of("unique_email") {
            settings.unique_email = v;
        }
        if let Some(v) = flag_of("allow_register") {
            settings.allow_register = v;
        }
        if let Some(v) = flag_of("email_confirmation") {
            settings.email_confirmation = v;
        }
        for (key, field, target) in [
            (
                "email_reset_password",
                "emailResetPassword",
                &mut settings.email_reset_password,
            ),
            (
                "email_confirmation_redirection",
                "emailConfirmationRedirection",
                &mut settings.email_confirmation_redirection,
            ),
        ] {
            let value = advanced
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default();
            match check_url(field, value.to_string()) {
                Ok(url) => *target = url,
                Err(error) => report
                    .not_imported
                    .push(format!("advanced setting {field}: {error}")),
            }
        }
        if let Some(role_type) = advanced.get("default_role").and_then(Value::as_str) {
            if crate::policy::roles::may_be_default(role_type) && Role::find_by_type(conn, role_type).await?.is_some() {
                settings.default_role = role_type.to_string();
            } else {
                report.not_imported.push(format!(
                    "advanced setting defaultRole: `{role_type}` is no role other than public"
                ));
            }
        }
        let keys = changed_keys(&before.advanced, &after.advanced);
        if !keys.is_empty() {
            report
                .settings_changed
                .push(format!("advanced settings ({})", keys.join(", ")));
        }
    }

    if let Some(email) = document("plugin_users-permissions_email") {
        for (key, kind, name) in [
            (
                "email_confirmation",
                TemplateKind::EmailConfirmation,
                "emailConfirmation",
            ),
            (
                "reset_password",
                TemplateKind::ResetPassword,
                "resetPassword",
            ),
        ] {
            let Some(options) = email.get(key).and_then(|t| t.get("options")) else {
                continue;
            };
            let field = |path: &[&str]| {
                path.iter()
                    .try_fold(options, |v, k| v.get(*k))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let template = EmailTemplate {
                shipper_name: field(&["from", "name"]),
                shipper_email: field(&["from", "email"]),
                response_email: Some(field(&["response_email"])).filter(|r| !r.is_empty()),
                subject: field(&["object"]),
                message: field(&["message"]),
            };
            if let Err(error) = template.check(kind) {
                report.not_imported.push(format!(
                    "email template {name}: {error}; Castellan's template stays"
                ));
                continue;
            }
            let target = match kind {
                TemplateKind::EmailConfirmation => &mut after.templates.email_confirmation,
                TemplateKind::ResetPassword => &mut after.templates.reset_password,
            };
            let keys = changed_keys(&*target, &template);
            if !keys.is_empty() {
                report
                    .settings_changed
                    .push(format!("email template {name} ({})", keys.join(", ")));
                *target = template;
            }
        }
    }

    if let Some(grant) = document("plugin_users-permissions_grant") {
        for (name, provider) in &grant {
            let enabled = provider
                .get("enabled")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let string = |key: &str| {
                provider
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let (key, secret) = (string("key"), string("secret"));
            if name == EMAIL {
                let mut settings = after.providers.get(EMAIL).cloned().unwrap_or_default();
                settings.enabled = enabled;
                settings.kind = EMAIL.into();
                after.providers.insert(EMAIL.into(), settings);
                continue;
            }
            if !enabled && key.is_empty() && secret.is_empty() {
                continue; // Strapi's untouched placeholder
            }
            if !PRESETS.contains(&name.as_str()) {
                report.not_imported.push(format!(
                    "provider {name}: Castellan has no preset for it; declare it as an `oauth2` \
                     or `oidc` provider"
                ));
                continue;
            }
            let mut settings = before.providers.get(name).cloned().unwrap_or_default();
            settings.enabled = enabled;
            settings.client_id = key;
            if !secret.is_empty() {
                settings.client_secret = secret;
            }
            if let Some(scopes) = provider.get("scope").and_then(Value::as_array) {
                settings.scopes = scopes
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect();
            }
            let subdomain = string("subdomain");
            if !subdomain.is_empty() {
                settings.subdomain = Some(subdomain);
            }
            // Strapi's `callback` is the front end's redirect URL when it is absolute; its
            // default (`api/auth/<name>/callback`) is a path of Strapi itself.
            let callback = string("callback");
            if callback.starts_with("https://") || callback.starts_with("http://") {
                settings.redirect_url = callback;
            }
            if let Err(error) = crate::service::providers::check_provider(name, &settings) {
                report
                    .not_imported
                    .push(format!("provider {name}: {error}"));
                continue;
            }
            after.providers.insert(name.clone(), settings);
        }
        for (name, settings) in &after.providers {
            let old = before.providers.get(name);
            let mut keys = match old {
                Some(old) => changed_keys(&ProviderEntry::of(old), &ProviderEntry::of(settings)),
                None => vec!["added".into()],
            };
            if old.is_some_and(|o| o.client_secret != settings.client_secret) {
                keys.push("clientSecret".into());
            }
            if !keys.is_empty() {
                report
                    .settings_changed
                    .push(format!("provider {name} ({})", keys.join(", ")));
            }
        }
    }
    after.write_changed(&before, conn).await?;
    Ok(after.advanced.unique_email)
}

async fn import_users(
    app: &App,
    data: &StrapiData,
    roles: &RoleMap,
    unique_email: bool,
    conn: &mut Conn,
    report: &mut ImportReport,
) -> AppResult<()> {
    let user_roles: HashMap<i64, i64> = data.user_roles.iter().copied().collect();
    let default_type = StoredSettings::read(app, conn).await?.advanced.default_role;
    let default_role = Role::find_by_type(conn, &default_type)
        .await?
        .ok_or_else(|| {
            AppError::application(format!("the default role {default_type} is missing"))
        })?;
    let mut seen_usernames = HashSet::new();
    let mut seen_emails = HashSet::new();
    let mut pending_resets = 0;
    for row in &data.users {
        let strapi_id = id_of(row).unwrap_or_default();
        let (Some(username), Some(email)) = (text(row, "username"), text(row, "email")) else {
            report.conflicts.push(format!(
                "Strapi user #{strapi_id} has no username or no email"
            ));
            continue;
        };
        let email = email.to_lowercase();
        if !seen_usernames.insert(username.clone())
            || (unique_email && !seen_emails.insert(email.clone()))
        {
            report.conflicts.push(format!(
                "Strapi user #{strapi_id} ({username}): another Strapi user has the same username or email"
            ));
            continue;
        }
        let document_id = text(row, "document_id");
        let password = text(row, "password");
        let provider = text(row, "provider").unwrap_or_else(|| "local".into());
        let confirmation = text(row, "confirmation_token").map(|c| hash_code(&c));
        if text(row, "reset_password_token").is_some() {
            pending_resets += 1;
        }
        let custom: Map<String, Value> = row
            .iter()
            .filter(|(k, v)| !KNOWN_USER_COLUMNS.contains(&k.as_str()) && !v.is_null())
            .map(|(k, v)| (camel(k), v.clone()))
            .collect();
        let role = user_roles
            .get(&strapi_id)
            .and_then(|r| roles.get(r))
            .unwrap_or(&default_role);

        let by_document = match &document_id {
            Some(d) => User::find_by_document_id(conn, d).await?.map(|(u, _)| u),
            None => None,
        };
        let by_name = User::find_by_username(conn, &username).await?;
        let target = by_document.or_else(|| {
            // Strapi 4 has no documentId: the same username and email is the same user.
            by_name
                .clone()
                .filter(|u| document_id.is_none() && u.email == email)
        });
        let target_id = target.as_ref().map(|u| u.id);
        if let Some(other) = by_name.as_ref().filter(|u| Some(u.id) != target_id) {
            report.conflicts.push(format!(
                "username {username} (Strapi user #{strapi_id}) belongs to another Castellan user (id {})",
                other.id
            ));
            continue;
        }
        if unique_email {
            let others = User::find_by_email(conn, &email).await?;
            if let Some((other, _)) = others.iter().find(|(u, _)| Some(u.id) != target_id) {
                report.conflicts.push(format!(
                    "email {email} (Strapi user #{strapi_id}) belongs to another Castellan user (id {})",
                    other.id
                ));
                continue;
            }
        }
        let unique = unique_email.then_some(email.as_str());
        match target {
            Some(user) => {
                let mut attributes: Map<String, Value> =
                    serde_json::from_str(&user.attributes).unwrap_or_default();
                let before = attributes.clone();
                attributes.extend(custom);
                let attributes_text = Value::Object(attributes.clone()).to_string();
                let mut changed = Vec::new();
                let mut changes = UserChanges::default();
                if user.username != username {
                    changes.username = Some(&username);
                    changed.push("username");
                }
                if user.email != email {
                    changes.email = Some(&email);
                    changed.push("email");
                }
                if user.unique_email.as_deref() != unique {
                    changes.unique_email = Some(unique);
                    changed.push("uniqueEmail");
                }
                if user.provider != provider {
                    changes.provider = Some(&provider);
                    changed.push("provider");
                }
                if password.is_some() && user.password != password {
                    changes.password = password.as_deref();
                    changed.push("password");
                }
                if confirmation.is_some() && user.confirmation_token != confirmation {
                    changes.confirmation_token = confirmation.as_deref();
                    changed.push("confirmationToken");
                }
                if user.confirmed != flag(row, "confirmed") {
                    changes.confirmed = Some(flag(row, "confirmed"));
                    changed.push("confirmed");
                }
                if user.blocked != flag(row, "blocked") {
                    changes.blocked = Some(flag(row, "blocked"));
                    changed.push("blocked");
                }
                if user.role_id != role.id {
                    changes.role_id = Some(role.id);
                    changed.push("role");
                }
                if attributes != before {
                    changes.attributes = Some(&attributes_text);
                    changed.push("attributes");
                }
                if changed.is_empty() {
                    report.users_unchanged += 1;
                    continue;
                }
                changes.updated_at = Some(now());
                User::update(conn, user.id, &changes).await?;
                report.changed_users.push(user.id);
                report
                    .users_updated
                    .push(format!("{username} ({})", changed.join(", ")));
            }
            None => {
                let fresh = crate::util::new_document_id();
                let document_free = match &document_id {
                    Some(d) => User::find_by_document_id(conn, d).await?.is_none(),
                    None => false,
                };
                let attributes = Value::Object(custom).to_string();
                crate::db::models::NewUser::new(
                    document_id
                        .as_deref()
                        .filter(|_| document_free)
                        .unwrap_or(&fresh),
                    &username,
                    &email,
                    role.id,
                    unique.is_some(),
                )
                .provider(&provider)
                .password(password.as_deref())
                .confirmation_token(confirmation.as_deref())
                .confirmed(flag(row, "confirmed"))
                .blocked(flag(row, "blocked"))
                .attributes(&attributes)
                .times(
                    timestamp(row, "created_at").unwrap_or_else(now),
                    timestamp(row, "updated_at").unwrap_or_else(now),
                )
                .insert(conn)
                .await?;
                report.users_created.push(username);
            }
        }
    }
    if pending_resets > 0 {
        report.not_imported.push(format!(
            "{pending_resets} pending password-reset code{} (Strapi keeps no expiry for them; \
             those users ask for a new one)",
            if pending_resets == 1 { "" } else { "s" }
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_become_attribute_names() {
        assert_eq!(camel("first_name"), "firstName");
        assert_eq!(camel("nickname"), "nickname");
        assert_eq!(camel("_private_flag"), "privateFlag");
    }

    #[test]
    fn strapi_timestamps_of_both_databases_parse() {
        let row: Row = serde_json::from_value(serde_json::json!({
            "pg": "2026-12-05T20:06:16.642",
            "zoned": "2026-12-05T20:06:16.642+00:00",
            "sqlite_ms": 1_796_500_000_000_i64,
            "sqlite_text": "2026-12-05 20:06:16.642",
        }))
        .unwrap();
        for key in ["pg", "zoned", "sqlite_ms", "sqlite_text"] {
            assert!(timestamp(&row, key).is_some(), "{key}");
        }
    }
}
