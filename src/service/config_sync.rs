//! Roles and permissions as code: one reviewable JSON file holding the roles and their grants,
//! the stored conditions, the advanced settings, the email templates and the providers (never
//! their secrets). `export` writes it, `diff` tells the drift, `apply` makes the database equal
//! to it in one transaction, with the rules of the services (protected roles, valid types,
//! known conditions, valid templates, usable providers).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::instrument;

use crate::app::App;
use crate::auth::providers::ProviderSettings;
use crate::changes::Change;
use crate::db::Conn;
use crate::db::models::{
    NewPermission, NewRole, Permission, Role, RoleChanges, StoredCondition, now,
};
use crate::error::{AppError, AppResult};
use crate::filter::Filter;
use crate::policy::ConditionSource;
use crate::service::roles::{GrantSpec, check_grants, check_type};
use crate::service::settings::{AdvancedSettings, EmailTemplates, StoredSettings, TemplateKind};

/// The version of the file's layout.
pub const FILE_VERSION: u32 = 1;

/// The whole file. Lists are sorted (roles by type, grants by action, conditions by name), so
/// two exports of equal databases are equal bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PermissionsFile {
    pub version: u32,
    pub roles: Vec<RoleEntry>,
    #[serde(default)]
    pub conditions: Vec<ConditionEntry>,
    pub advanced: AdvancedSettings,
    pub email_templates: EmailTemplates,
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleEntry {
    #[serde(rename = "type")]
    pub role_type: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub grants: Vec<GrantEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantEntry {
    pub action: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
}

/// A condition stored in the database (built-in conditions, those of `castellan.toml` and
/// those registered from code come with the program and are not part of the file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConditionEntry {
    pub name: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub query: Value,
}

/// A provider without its client secret, which stays in the database.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderEntry {
    pub enabled: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub redirect_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified_field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username_field: Option<String>,
}

impl ProviderEntry {
    pub(crate) fn of(settings: &ProviderSettings) -> Self {
        let s = settings.clone();
        Self {
            enabled: s.enabled,
            kind: s.kind,
            client_id: s.client_id,
            scopes: s.scopes,
            redirect_url: s.redirect_url,
            subdomain: s.subdomain,
            issuer: s.issuer,
            authorize_url: s.authorize_url,
            token_url: s.token_url,
            profile_url: s.profile_url,
            email_field: s.email_field,
            email_verified_field: s.email_verified_field,
            username_field: s.username_field,
        }
    }

    /// The provider's settings with `client_secret`.
    fn with_secret(&self, client_secret: String) -> ProviderSettings {
        let e = self.clone();
        ProviderSettings {
            enabled: e.enabled,
            kind: e.kind,
            client_id: e.client_id,
            client_secret,
            scopes: e.scopes,
            redirect_url: e.redirect_url,
            subdomain: e.subdomain,
            issuer: e.issuer,
            authorize_url: e.authorize_url,
            token_url: e.token_url,
            profile_url: e.profile_url,
            email_field: e.email_field,
            email_verified_field: e.email_verified_field,
            username_field: e.username_field,
        }
    }
}

impl PermissionsFile {
    /// The file as text: pretty JSON and a final newline.
    pub fn to_text(&self) -> AppResult<String> {
        let mut text = serde_json::to_string_pretty(self).map_err(AppError::internal)?;
        text.push('\n');
        Ok(text)
    }

    /// Reads a file; a malformed one is refused with serde's message (line and column).
    pub fn parse(text: &str) -> AppResult<Self> {
        let file: Self = serde_json::from_str(text)
            .map_err(|e| AppError::validation(format!("the permissions file: {e}")))?;
        if file.version != FILE_VERSION {
            return Err(AppError::validation(format!(
                "the permissions file has version {}; this Castellan reads version {FILE_VERSION}",
                file.version
            )));
        }
        Ok(file)
    }
}

/// What the database holds now, as a file.
#[instrument(skip_all)]
pub async fn export(app: &App) -> AppResult<PermissionsFile> {
    let mut conn = app.db.conn().await?;
    let roles = Role::all(&mut conn).await?;
    let permissions = Permission::all(&mut conn).await?;
    let conditions = StoredCondition::all(&mut conn).await?;
    let settings = StoredSettings::read(app, &mut conn).await?;
    let mut grants: HashMap<i32, Vec<GrantEntry>> = HashMap::new();
    for permission in &permissions {
        grants
            .entry(permission.role_id)
            .or_default()
            .push(grant_entry(permission)?);
    }
    let mut roles: Vec<RoleEntry> = roles
        .into_iter()
        .map(|role| {
            let mut grants = grants.remove(&role.id).unwrap_or_default();
            grants.sort_by(|a, b| a.action.cmp(&b.action));
            RoleEntry {
                role_type: role.role_type,
                name: role.name,
                description: role.description,
                grants,
            }
        })
        .collect();
    roles.sort_by(|a, b| a.role_type.cmp(&b.role_type));
    let conditions = conditions
        .into_iter()
        .map(|c| {
            Ok(ConditionEntry {
                query: serde_json::from_str(&c.query).map_err(AppError::internal)?,
                name: c.name,
                display_name: c.display_name,
                category: c.category,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(PermissionsFile {
        version: FILE_VERSION,
        roles,
        conditions,
        advanced: settings.advanced,
        email_templates: settings.templates,
        providers: settings
            .providers
            .iter()
            .map(|(name, p)| (name.clone(), ProviderEntry::of(p)))
            .collect(),
    })
}

fn grant_entry(permission: &Permission) -> AppResult<GrantEntry> {
    Ok(GrantEntry {
        action: permission.action.clone(),
        conditions: serde_json::from_str(&permission.conditions).map_err(AppError::internal)?,
        fields: permission
            .fields
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(AppError::internal)?,
    })
}

/// One difference between the file and the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub kind: DifferenceKind,
    /// `role editors`, `grant editors plugin::users-permissions.user.find`, …
    pub what: String,
    /// What changes, when something is updated.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DifferenceKind {
    /// In the file, not in the database.
    Add,
    /// In both, with other values.
    Update,
    /// In the database only, deleted (`--prune`).
    Delete,
    /// In the database only, kept (no `--prune`).
    OnlyInDatabase,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = match self.kind {
            DifferenceKind::Add => "+",
            DifferenceKind::Update => "~",
            DifferenceKind::Delete => "-",
            DifferenceKind::OnlyInDatabase => "?",
        };
        write!(f, "{sign} {}", self.what)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        if self.kind == DifferenceKind::OnlyInDatabase {
            write!(f, " (only in the database; `apply --prune` deletes it)")?;
        }
        Ok(())
    }
}

/// How [`apply`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyMode {
    /// Delete roles, grants, conditions and providers the file lacks.
    pub prune: bool,
    /// Commit the transaction (otherwise it is rolled back: `diff`).
    pub write: bool,
}

/// Makes the database equal to `file` (with `prune`; otherwise adds and updates only), in one
/// transaction; the differences found. With `write: false` nothing changes: the differences
/// are what applying would change.
#[instrument(skip_all, fields(prune = mode.prune, write = mode.write))]
pub async fn apply(
    app: &App,
    file: &PermissionsFile,
    mode: ApplyMode,
) -> AppResult<Vec<Difference>> {
    let checked = check_file(app, file)?;
    // Instances that start together on one SQLite file may find it locked by the other's
    // transaction (SQLite does not wait when a reading transaction wants to write): the
    // transaction, rolled back, is tried again.
    let mut attempts = 0;
    loop {
        match apply_once(app, file, &checked, mode).await {
            Err(AppError::Internal(error))
                if attempts < 50 && error.to_string().contains("database is locked") =>
            {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

async fn apply_once(
    app: &App,
    file: &PermissionsFile,
    checked: &Checked,
    mode: ApplyMode,
) -> AppResult<Vec<Difference>> {
    let mut conn = app.db.conn().await?;
    conn.begin().await?;
    let result = apply_in(app, file, checked, mode, &mut conn).await;
    match result {
        Ok(differences) if mode.write && !differences.is_empty() => {
            conn.commit().await?;
            drop(conn);
            app.changed(Change::Policy).await?;
            app.changed(Change::Settings).await?;
            tracing::info!(changes = differences.len(), "permissions file applied");
            Ok(differences)
        }
        Ok(differences) => {
            conn.rollback().await?;
            Ok(differences)
        }
        Err(error) => {
            // The error is what matters; a failed rollback leaves with the connection.
            let _ = conn.rollback().await;
            Err(error)
        }
    }
}

/// The file, checked as the services check what they are given, before anything is written.
struct Checked {
    /// role type → its grants as rows to store
    grants: HashMap<String, Vec<crate::db::models::GrantRow>>,
}

fn check_file(app: &App, file: &PermissionsFile) -> AppResult<Checked> {
    let mut types = BTreeSet::new();
    let mut names = BTreeSet::new();
    for role in &file.roles {
        check_type(&role.role_type)?;
        if role.name.trim().is_empty() {
            return Err(AppError::validation(format!(
                "role {}: name cannot be empty",
                role.role_type
            )));
        }
        if !types.insert(role.role_type.as_str()) || !names.insert(role.name.as_str()) {
            return Err(AppError::validation(format!(
                "role {}: another role of the file has the same type or name",
                role.role_type
            )));
        }
    }
    let fixed: BTreeMap<String, ConditionSource> = app
        .policy
        .conditions()
        .iter()
        .filter(|c| c.source != ConditionSource::Database)
        .map(|c| (c.name.clone(), c.source))
        .collect();
    let mut condition_names = BTreeSet::new();
    for condition in &file.conditions {
        if !crate::policy::conditions::is_valid_name(&condition.name) {
            return Err(AppError::validation(format!(
                "condition `{}`: a name may only contain lower-case letters, digits and -",
                condition.name
            )));
        }
        if fixed.contains_key(&condition.name) {
            return Err(AppError::validation(format!(
                "condition `{}` comes with the program (built in, castellan.toml or code): \
                 remove it from the file",
                condition.name
            )));
        }
        if condition.display_name.trim().is_empty() {
            return Err(AppError::validation(format!(
                "condition `{}`: displayName is a required field",
                condition.name
            )));
        }
        Filter::parse(&condition.query).map_err(|e| {
            AppError::validation(format!("condition `{}`: query: {e}", condition.name))
        })?;
        if !condition_names.insert(condition.name.as_str()) {
            return Err(AppError::validation(format!(
                "condition `{}` is declared twice",
                condition.name
            )));
        }
    }
    let new_conditions: Vec<&str> = condition_names.iter().copied().collect();
    let mut grants = HashMap::new();
    for role in &file.roles {
        let specs: Vec<GrantSpec> = role
            .grants
            .iter()
            .map(|g| GrantSpec {
                action: g.action.clone(),
                conditions: g.conditions.clone(),
                fields: g.fields.clone(),
            })
            .collect();
        // Actions this server does not implement are kept: a library user's resolvers and
        // routes may bind them.
        let rows = check_grants(app, &specs, &|_| true, &new_conditions)
            .map_err(|e| AppError::validation(format!("role {}: {e}", role.role_type)))?;
        grants.insert(role.role_type.clone(), rows);
    }
    file.advanced.clone().checked()?;
    file.email_templates
        .email_confirmation
        .check(TemplateKind::EmailConfirmation)
        .map_err(|e| AppError::validation(format!("emailTemplates.emailConfirmation: {e}")))?;
    file.email_templates
        .reset_password
        .check(TemplateKind::ResetPassword)
        .map_err(|e| AppError::validation(format!("emailTemplates.resetPassword: {e}")))?;
    for (name, provider) in &file.providers {
        crate::service::providers::check_provider(name, &provider.with_secret(String::new()))
            .map_err(|e| AppError::validation(format!("provider {name}: {e}")))?;
    }
    Ok(Checked { grants })
}

fn difference(kind: DifferenceKind, what: String, detail: String) -> Difference {
    Difference { kind, what, detail }
}

/// The keys whose values differ between two values serialized as JSON objects.
pub(crate) fn changed_keys<T: Serialize>(before: &T, after: &T) -> Vec<String> {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return Vec::new();
    };
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

async fn apply_in(
    app: &App,
    file: &PermissionsFile,
    checked: &Checked,
    mode: ApplyMode,
    conn: &mut Conn,
) -> AppResult<Vec<Difference>> {
    use DifferenceKind::*;
    conn.lock_for_sync().await?;
    let mut out = Vec::new();

    // Conditions first: grants may name them.
    let stored: BTreeMap<String, StoredCondition> = StoredCondition::all(conn)
        .await?
        .into_iter()
        .map(|c| (c.name.clone(), c))
        .collect();
    for condition in &file.conditions {
        let row = StoredCondition {
            name: condition.name.clone(),
            display_name: condition.display_name.clone(),
            category: condition.category.clone(),
            query: condition.query.to_string(),
            created_at: now(),
        };
        let what = format!("condition {}", condition.name);
        match stored.get(&condition.name) {
            None => {
                row.insert(conn).await?;
                out.push(difference(Add, what, String::new()));
            }
            Some(old) => {
                let query_differs = serde_json::from_str::<Value>(&old.query).ok().as_ref()
                    != Some(&condition.query);
                let mut fields = Vec::new();
                if old.display_name != row.display_name {
                    fields.push("displayName");
                }
                if old.category != row.category {
                    fields.push("category");
                }
                if query_differs {
                    fields.push("query");
                }
                if !fields.is_empty() {
                    row.update(conn).await?;
                    out.push(difference(Update, what, fields.join(", ")));
                }
            }
        }
    }

    // Roles and their grants.
    let existing_roles = Role::all(conn).await?;
    let mut permissions: HashMap<i32, Vec<Permission>> = HashMap::new();
    for permission in Permission::all(conn).await? {
        permissions
            .entry(permission.role_id)
            .or_default()
            .push(permission);
    }
    for entry in &file.roles {
        let what = format!("role {}", entry.role_type);
        let role = match existing_roles
            .iter()
            .find(|r| r.role_type == entry.role_type)
        {
            Some(role) => {
                let mut fields = Vec::new();
                if role.name != entry.name {
                    fields.push(format!("name {:?} → {:?}", role.name, entry.name));
                }
                if role.description != entry.description {
                    fields.push("description".to_string());
                }
                if !fields.is_empty() {
                    let changes = RoleChanges {
                        name: Some(&entry.name),
                        description: Some(&entry.description),
                        role_type: None,
                        updated_at: Some(now()),
                    };
                    taken_name(existing_roles.iter(), role.id, &entry.name)?;
                    Role::update(conn, role.id, &changes).await?;
                    out.push(difference(Update, what, fields.join(", ")));
                }
                role.clone()
            }
            None => {
                taken_name(existing_roles.iter(), -1, &entry.name)?;
                let document_id = crate::util::new_document_id();
                let role = NewRole {
                    document_id: &document_id,
                    name: &entry.name,
                    description: &entry.description,
                    role_type: &entry.role_type,
                    created_at: now(),
                    updated_at: now(),
                }
                .insert(conn)
                .await?;
                out.push(difference(Add, what, entry.name.clone()));
                role
            }
        };
        let held: Vec<Permission> = permissions.remove(&role.id).unwrap_or_default();
        let wanted = checked
            .grants
            .get(&entry.role_type)
            .cloned()
            .unwrap_or_default();
        let mut new_rows = Vec::new();
        for grant in &wanted {
            let what = format!("grant {} {}", entry.role_type, grant.action);
            match held.iter().find(|p| p.action == grant.action) {
                None => {
                    new_rows.push(grant);
                    out.push(difference(Add, what, describe_grant(grant)));
                }
                Some(p) => {
                    let same_conditions = serde_json::from_str::<Vec<String>>(&p.conditions).ok()
                        == serde_json::from_str::<Vec<String>>(&grant.conditions).ok();
                    let same_fields = p
                        .fields
                        .as_deref()
                        .map(serde_json::from_str::<Vec<String>>)
                        .transpose()
                        .ok()
                        == grant
                            .fields
                            .as_deref()
                            .map(serde_json::from_str::<Vec<String>>)
                            .transpose()
                            .ok();
                    if !same_conditions || !same_fields {
                        Permission::set_conditions_and_fields(
                            conn,
                            p.id,
                            &grant.conditions,
                            grant.fields.as_deref(),
                        )
                        .await?;
                        out.push(difference(
                            Update,
                            what,
                            format!(
                                "{} → {}",
                                describe_grant_stored(&p.conditions, p.fields.as_deref()),
                                describe_grant(grant)
                            ),
                        ));
                    }
                }
            }
        }
        let rows: Vec<NewPermission<'_>> = new_rows
            .iter()
            .map(|g| NewPermission {
                role_id: role.id,
                action: &g.action,
                conditions: &g.conditions,
                fields: g.fields.as_deref(),
                created_at: now(),
                updated_at: now(),
            })
            .collect();
        NewPermission::insert_many(&rows, conn).await?;
        for p in held
            .iter()
            .filter(|p| !wanted.iter().any(|g| g.action == p.action))
        {
            let what = format!("grant {} {}", entry.role_type, p.action);
            if mode.prune {
                Permission::revoke(conn, role.id, &p.action).await?;
                out.push(difference(Delete, what, String::new()));
            } else {
                out.push(difference(OnlyInDatabase, what, String::new()));
            }
        }
    }
    for role in existing_roles
        .iter()
        .filter(|r| !file.roles.iter().any(|e| e.role_type == r.role_type))
    {
        let what = format!("role {}", role.role_type);
        if !mode.prune {
            out.push(difference(OnlyInDatabase, what, role.name.clone()));
            continue;
        }
        if crate::policy::roles::is_protected(&role.role_type) {
            return Err(AppError::application(format!(
                "Cannot delete {} role: the file must keep it",
                role.role_type
            )));
        }
        let users = Role::user_count(conn, role.id).await?;
        if users > 0 {
            return Err(AppError::application(format!(
                "Cannot delete role {}: {users} user{} still {} it; give them another role first",
                role.name,
                if users == 1 { "" } else { "s" },
                if users == 1 { "has" } else { "have" }
            )));
        }
        if file.advanced.default_role == role.role_type {
            return Err(AppError::application(format!(
                "Cannot delete role {}: it is the default role of new users",
                role.name
            )));
        }
        Role::delete(conn, role.id).await?;
        out.push(difference(Delete, what, role.name.clone()));
    }

    // Conditions the file lacks, once no grant of the file needs them.
    for name in stored
        .keys()
        .filter(|n| !file.conditions.iter().any(|c| &c.name == *n))
    {
        let what = format!("condition {name}");
        if !mode.prune {
            out.push(difference(OnlyInDatabase, what, String::new()));
            continue;
        }
        let users = Permission::count_using_condition(conn, name).await?;
        if users > 0 {
            return Err(AppError::application(format!(
                "The condition `{name}` is still used by {users} grant{}; remove it from them first",
                if users == 1 { "" } else { "s" }
            )));
        }
        StoredCondition::delete(conn, name).await?;
        out.push(difference(Delete, what, String::new()));
    }

    // Settings.
    let before = StoredSettings::read(app, conn).await?;
    let advanced = file.advanced.clone().checked()?;
    match Role::find_by_type(conn, &advanced.default_role).await? {
        Some(_) => {}
        None => {
            return Err(AppError::validation(format!(
                "defaultRole must be the type of an existing role other than public, got `{}`",
                advanced.default_role
            )));
        }
    }
    let mut after = before.clone();
    let keys = changed_keys(&before.advanced, &advanced);
    if !keys.is_empty() {
        out.push(difference(
            Update,
            "advanced settings".into(),
            keys.join(", "),
        ));
        after.advanced = advanced;
    }
    for (name, kind) in [
        ("emailConfirmation", TemplateKind::EmailConfirmation),
        ("resetPassword", TemplateKind::ResetPassword),
    ] {
        let (old, new) = (before.templates.get(kind), file.email_templates.get(kind));
        let keys = changed_keys(old, new);
        if !keys.is_empty() {
            out.push(difference(
                Update,
                format!("email template {name}"),
                keys.join(", "),
            ));
        }
    }
    after.templates = file.email_templates.clone();
    for (name, entry) in &file.providers {
        let what = format!("provider {name}");
        let secret = before
            .providers
            .get(name)
            .map(|p| p.client_secret.clone())
            .unwrap_or_default();
        let settings = entry.with_secret(secret);
        match before.providers.get(name) {
            None => out.push(difference(Add, what, String::new())),
            Some(old) => {
                let keys = changed_keys(&ProviderEntry::of(old), entry);
                if !keys.is_empty() {
                    out.push(difference(Update, what, keys.join(", ")));
                }
            }
        }
        after.providers.insert(name.clone(), settings);
    }
    let extra: Vec<String> = before
        .providers
        .keys()
        .filter(|n| !file.providers.contains_key(*n))
        .cloned()
        .collect();
    for name in extra {
        let what = format!("provider {name}");
        if mode.prune {
            after.providers.remove(&name);
            out.push(difference(Delete, what, String::new()));
        } else {
            out.push(difference(OnlyInDatabase, what, String::new()));
        }
    }
    after.write_changed(&before, conn).await?;
    Ok(out)
}

/// Refuses a role name another role (not `except`) has.
fn taken_name<'a>(
    mut roles: impl Iterator<Item = &'a Role>,
    except: i32,
    name: &str,
) -> AppResult<()> {
    if roles.any(|r| r.id != except && r.name == name) {
        return Err(AppError::application(format!(
            "A role named {name:?} already exists with another type"
        )));
    }
    Ok(())
}

fn describe_grant(grant: &crate::db::models::GrantRow) -> String {
    describe_grant_stored(&grant.conditions, grant.fields.as_deref())
}

fn describe_grant_stored(conditions: &str, fields: Option<&str>) -> String {
    let mut parts = Vec::new();
    if conditions != "[]" {
        parts.push(format!("conditions {conditions}"));
    }
    if let Some(fields) = fields {
        parts.push(format!("fields {fields}"));
    }
    if parts.is_empty() {
        "always".into()
    } else {
        parts.join(", ")
    }
}
