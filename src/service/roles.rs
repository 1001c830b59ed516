//! Roles and their grants.

use std::collections::HashSet;

use tracing::instrument;

use crate::app::App;
use crate::policy::{Access, subject};
use crate::changes::Change;
use crate::db::models::{GrantRow, NewRole, Permission, Role, RoleChanges, now};
use crate::db::sql::SqlWhere;
use crate::error::{AppError, AppResult, OnUnique};
use crate::service::listing::{Page, PageInfo};

/// The roles that always exist.
pub use crate::policy::roles::PROTECTED_ROLES;

/// A grant as an administrator writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantSpec {
    pub action: String,
    pub conditions: Vec<String>,
    pub fields: Option<Vec<String>>,
}

/// What `createUsersPermissionsRole` and `updateUsersPermissionsRole` receive.
#[derive(Debug, Default, Clone)]
pub struct RoleData {
    pub name: Option<String>,
    pub description: Option<String>,
    pub role_type: Option<String>,
    /// Replaces every grant of the role when given.
    pub grants: Option<Vec<GrantSpec>>,
}

/// One page of roles matching `filter`, and the page's info.
pub async fn list(
    app: &App,
    filter: &SqlWhere,
    order: &crate::db::sql::SqlOrder,
    page: Page,
) -> AppResult<(Vec<Role>, PageInfo)> {
    let mut conn = app.db.conn().await?;
    let roles = Role::page(&mut conn, filter, order, page.offset, page.limit).await?;
    let total = Role::count(&mut conn, filter).await?;
    Ok((roles, page.info(total)))
}

/// A role by its numeric id or its documentId.
pub async fn find(app: &App, id: &str) -> AppResult<Option<Role>> {
    let mut conn = app.db.conn().await?;
    if let Ok(numeric) = id.parse::<i32>()
        && let Some(role) = Role::find(&mut conn, numeric).await?
    {
        return Ok(Some(role));
    }
    Ok(Role::find_by_document_id(&mut conn, id).await?)
}

pub async fn user_count(app: &App, role_id: i32) -> AppResult<i64> {
    let mut conn = app.db.conn().await?;
    Ok(Role::user_count(&mut conn, role_id).await?)
}

fn taken() -> AppError {
    AppError::application("A role with this name or type already exists")
}

/// Creates a role with its grants.
#[instrument(skip_all)]
pub async fn create(app: &App, access: &Access, data: RoleData) -> AppResult<Role> {
    access.require(crate::policy::actions::ROLE_CREATE)?;
    let name = data
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    let Some(name) = name else {
        return Err(AppError::validation("name is a required field"));
    };
    let role_type = match data.role_type.as_deref() {
        Some(t) => check_type(t)?,
        None => slug(name),
    };
    if role_type.is_empty() {
        return Err(AppError::validation(
            "type must contain a letter or a digit",
        ));
    }
    let grants = data
        .grants
        .as_deref()
        .map(|g| check_grants(app, g, &|_| false, &[]))
        .transpose()?;
    let mut conn = app.db.conn().await?;
    let document_id = crate::util::new_document_id();
    let role = NewRole {
        document_id: &document_id,
        name,
        description: data.description.as_deref().unwrap_or(""),
        role_type: &role_type,
        created_at: now(),
        updated_at: now(),
    }
    .insert(&mut conn)
    .await
    .on_unique(taken)?;
    if let Some(grants) = grants {
        Permission::replace_for_role(&mut conn, role.id, &grants).await?;
    }
    app.changed(Change::Policy).await?;
    tracing::info!(role = %role.role_type, "role created");
    Ok(role)
}

/// Changes a role; given grants replace all of its grants. Effective from the next request.
#[instrument(skip_all)]
pub async fn update(app: &App, access: &Access, id: &str, data: RoleData) -> AppResult<Role> {
    access.require(crate::policy::actions::ROLE_UPDATE)?;
    let role = find(app, id)
        .await?
        .ok_or_else(|| AppError::NotFound("Role not found".into()))?;
    let name = data.name.as_deref().map(str::trim);
    if name == Some("") {
        return Err(AppError::validation("name cannot be empty"));
    }
    let role_type = data.role_type.as_deref().map(check_type).transpose()?;
    if role_type.is_some()
        && crate::policy::roles::is_protected(&role.role_type)
        && role_type.as_deref() != Some(&role.role_type)
    {
        return Err(AppError::application(format!(
            "The type of the {} role cannot change",
            role.role_type
        )));
    }
    // An action this server does not implement (kept from an import from Strapi or from a
    // permissions file) may stay granted; it cannot be newly granted here.
    let held: HashSet<String> = app
        .policy
        .grants_of(role.id)
        .iter()
        .map(|g| g.action.clone())
        .collect();
    let grants = data
        .grants
        .as_deref()
        .map(|g| check_grants(app, g, &|action| held.contains(action), &[]))
        .transpose()?;
    let mut conn = app.db.conn().await?;
    let changes = RoleChanges {
        name,
        description: data.description.as_deref(),
        role_type: role_type.as_deref(),
        updated_at: Some(now()),
    };
    let updated = Role::update(&mut conn, role.id, &changes)
        .await
        .on_unique(taken)?
        .ok_or_else(|| AppError::NotFound("Role not found".into()))?;
    if let Some(grants) = grants {
        Permission::replace_for_role(&mut conn, role.id, &grants).await?;
    }
    app.changed(Change::Policy).await?;
    tracing::info!(role = %updated.role_type, "role updated");
    Ok(updated)
}

/// Grants `grant` to the role `id` (numeric id or documentId), keeping its other grants; a
/// grant of the same action it already holds is replaced (its conditions and fields). Guarded by
/// the grant of `role.update`, as `updateUsersPermissionsRole` is.
#[instrument(skip_all, fields(action = %grant.action))]
pub async fn add_grant(app: &App, access: &Access, id: &str, grant: GrantSpec) -> AppResult<Role> {
    access.require(crate::policy::actions::ROLE_UPDATE)?;
    let role = find(app, id)
        .await?
        .ok_or_else(|| AppError::NotFound("Role not found".into()))?;
    let mut rows = check_grants(app, std::slice::from_ref(&grant), &|_| false, &[])?;
    let row = rows
        .pop()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("a checked grant vanished")))?;
    let mut conn = app.db.conn().await?;
    let mut grants: Vec<GrantRow> = Permission::all(&mut conn)
        .await?
        .into_iter()
        .filter(|p| p.role_id == role.id && p.action != row.action)
        .map(|p| GrantRow {
            action: p.action,
            conditions: p.conditions,
            fields: p.fields,
        })
        .collect();
    grants.push(row);
    Permission::replace_for_role(&mut conn, role.id, &grants).await?;
    app.changed(Change::Policy).await?;
    tracing::info!(role = %role.role_type, "grant added to a role");
    Ok(role)
}

/// Takes the grant of `action` from the role `id` (numeric id or documentId), keeping its other
/// grants. Guarded by the grant of `role.update`.
#[instrument(skip_all, fields(action))]
pub async fn remove_grant(app: &App, access: &Access, id: &str, action: &str) -> AppResult<Role> {
    access.require(crate::policy::actions::ROLE_UPDATE)?;
    let role = find(app, id)
        .await?
        .ok_or_else(|| AppError::NotFound("Role not found".into()))?;
    let mut conn = app.db.conn().await?;
    if !Permission::revoke(&mut conn, role.id, action).await? {
        return Err(AppError::application(format!(
            "The role {} has no grant of `{action}`",
            role.role_type
        )));
    }
    app.changed(Change::Policy).await?;
    tracing::info!(role = %role.role_type, "grant removed from a role");
    Ok(role)
}

/// The grants the role `role_id` holds in the database, in the order they were made.
pub async fn grants_of(app: &App, role_id: i32) -> AppResult<Vec<GrantSpec>> {
    let mut conn = app.db.conn().await?;
    let permissions = Permission::all(&mut conn).await?;
    permissions
        .into_iter()
        .filter(|p| p.role_id == role_id)
        .map(|p| {
            Ok(GrantSpec {
                action: p.action,
                conditions: serde_json::from_str(&p.conditions).map_err(AppError::internal)?,
                fields: p
                    .fields
                    .as_deref()
                    .map(serde_json::from_str)
                    .transpose()
                    .map_err(AppError::internal)?,
            })
        })
        .collect()
}

/// Deletes a role that is neither a default role nor still given to users.
#[instrument(skip_all)]
pub async fn delete(app: &App, access: &Access, id: &str) -> AppResult<()> {
    access.require(crate::policy::actions::ROLE_DELETE)?;
    let role = find(app, id)
        .await?
        .ok_or_else(|| AppError::NotFound("Role not found".into()))?;
    if crate::policy::roles::is_protected(&role.role_type) {
        return Err(AppError::application(format!(
            "Cannot delete {} role",
            role.role_type
        )));
    }
    let mut conn = app.db.conn().await?;
    let still_used = |n: i64| {
        AppError::application(format!(
            "Cannot delete role {}: {n} user{} still {} it; give them another role first",
            role.name,
            if n == 1 { "" } else { "s" },
            if n == 1 { "has" } else { "have" }
        ))
    };
    let users = Role::user_count(&mut conn, role.id).await?;
    if users > 0 {
        return Err(still_used(users));
    }
    if app.settings.advanced().default_role == role.role_type {
        return Err(AppError::application(format!(
            "Cannot delete role {}: it is the default role of new users",
            role.name
        )));
    }
    match Role::delete(&mut conn, role.id).await {
        Ok(_) => {}
        // A user was given the role meanwhile: the foreign key refused.
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _,
        )) => {
            let users = Role::user_count(&mut conn, role.id).await?;
            return Err(still_used(users.max(1)));
        }
        Err(other) => return Err(other.into()),
    }
    app.changed(Change::Policy).await?;
    tracing::info!(role = %role.role_type, "role deleted");
    Ok(())
}

/// A role type: lower-case letters, digits and `-`.
pub(crate) fn check_type(role_type: &str) -> AppResult<String> {
    let valid = !role_type.is_empty()
        && role_type
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Ok(role_type.to_string())
    } else {
        Err(AppError::validation(
            "type may only contain lower-case letters, digits, - and _",
        ))
    }
}

/// `"Content Editors!"` → `"content-editors"`.
pub(crate) fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Checks grants against the catalogue and the registered conditions; nothing is written when
/// any is wrong. An action the catalogue lacks is accepted only when `keep_unknown` says so
/// and it is a well-formed action name (a grant that a library user's resolver or route may
/// bind later); `new_conditions` are conditions about to be created with the grants.
pub(crate) fn check_grants(
    app: &App,
    grants: &[GrantSpec],
    keep_unknown: &dyn Fn(&str) -> bool,
    new_conditions: &[&str],
) -> AppResult<Vec<GrantRow>> {
    let catalogue = app
        .catalogue()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("no catalogue")))?;
    let mut seen = HashSet::new();
    let mut rows = Vec::with_capacity(grants.len());
    for grant in grants {
        let kept = || {
            keep_unknown(&grant.action)
                && crate::policy::actions::parse_action(&grant.action).is_ok()
        };
        if !catalogue.contains(&grant.action) && !kept() {
            return Err(AppError::validation(format!(
                "Unknown action `{}`: usersPermissionsActions lists the actions that can be granted",
                grant.action
            )));
        }
        if !seen.insert(grant.action.as_str()) {
            return Err(AppError::validation(format!(
                "The action `{}` is granted twice",
                grant.action
            )));
        }
        for condition in &grant.conditions {
            if !app.policy.has_condition(condition) && !new_conditions.contains(&condition.as_str())
            {
                return Err(AppError::validation(format!(
                    "Unknown condition `{condition}`: usersPermissionsConditions lists the registered conditions"
                )));
            }
            if let Some(reason) = app.policy.condition_misfit(&grant.action, condition) {
                return Err(AppError::validation(format!(
                    "The condition `{condition}` cannot narrow `{}`: {reason}",
                    grant.action
                )));
            }
        }
        let bad_field =
            |f: &&String| f.is_empty() || !f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if let Some(bad) = grant.fields.iter().flatten().find(bad_field) {
            return Err(AppError::validation(format!("`{bad}` is not a field name")));
        }
        if let Some(entity) = subject::grant_fields(&grant.action) {
            let unknown = |f: &&String| !subject::may_limit_to(entity, f);
            if let Some(bad) = grant.fields.iter().flatten().find(unknown) {
                return Err(AppError::validation(format!(
                    "`{bad}` is not a field of a {}: a grant of `{}` may be limited to {}",
                    entity.name,
                    grant.action,
                    entity.names(|f| subject::may_limit_to(entity, f.name)).join(", ")
                )));
            }
        }
        let conditions = serde_json::to_string(&grant.conditions).map_err(AppError::internal)?;
        let fields = grant
            .fields
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(AppError::internal)?;
        rows.push(GrantRow {
            action: grant.action.clone(),
            conditions,
            fields,
        });
    }
    Ok(rows)
}

/// One page of the grants of `role_id` that match `filter`, as rows (Strapi's permissions).
pub async fn permissions(
    app: &App,
    role_id: i32,
    filter: &SqlWhere,
    order: &crate::db::sql::SqlOrder,
    page: Page,
) -> AppResult<Vec<crate::db::models::Permission>> {
    let mut conn = app.db.conn().await?;
    Ok(
        crate::db::models::Permission::page_of_role(
            &mut conn,
            role_id,
            filter,
            order,
            page.offset,
            page.limit,
        )
        .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_types_come_from_names() {
        assert_eq!(slug("Content Editors!"), "content-editors");
        assert_eq!(slug("  Team  A  "), "team-a");
        assert!(check_type("Editors").is_err());
        assert_eq!(check_type("editors-2").unwrap(), "editors-2");
    }
}

