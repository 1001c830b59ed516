//! Strapi's `UsersPermissionsPermission` (a role's grant as a row), its filters, the relation
//! collections of a role, and Strapi 5's publication arguments. Users and roles have no drafts:
//! they are published when they are created, so the publication arguments change nothing.

use async_graphql::{Context, Enum, ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use super::filters::{
    DateTimeFilterInput, IdFilterInput, StringFilterInput, UsersPermissionsRoleFiltersInput,
    UsersPermissionsUserFiltersInput,
};
use super::roles::UsersPermissionsRole;
use super::users::UsersPermissionsUser;
use crate::db::Backend as Dialect;
use crate::db::fields::PERMISSIONS;
use crate::db::models::Permission;
use crate::db::sql::SqlWhere;
use crate::error::AppResult;

use super::auth::request;

/// A grant of an action to a role, as Strapi lists a role's permissions. Its `documentId` is
/// the grant's numeric id. Castellan's conditions and field limits are on `UsersPermissionsRole.grants`.
#[derive(Debug, Clone, SimpleObject)]
pub struct UsersPermissionsPermission {
    pub document_id: ID,
    pub action: String,
    pub role: Option<UsersPermissionsRole>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// The same as `createdAt`: a grant has no draft.
    pub published_at: Option<DateTime<Utc>>,
}

impl UsersPermissionsPermission {
    pub fn new(row: Permission, role: UsersPermissionsRole) -> Self {
        let created = row.created_at.and_utc();
        Self {
            document_id: ID(row.id.to_string()),
            action: row.action,
            role: Some(role),
            created_at: Some(created),
            updated_at: Some(row.updated_at.and_utc()),
            published_at: Some(created),
        }
    }
}

/// A role's permissions, as Strapi's `permissions_connection` gives them.
#[derive(Debug, SimpleObject)]
pub struct UsersPermissionsPermissionRelationResponseCollection {
    pub nodes: Vec<UsersPermissionsPermission>,
}

/// A role's users, as Strapi's `users_connection` gives them.
#[derive(SimpleObject)]
pub struct UsersPermissionsUserRelationResponseCollection {
    pub nodes: Vec<UsersPermissionsUser>,
}

/// Filters of permissions, as Strapi names them; `role` filters the permission's role.
#[derive(Debug, Clone, Default, InputObject, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UsersPermissionsPermissionFiltersInput {
    pub document_id: Option<IdFilterInput>,
    pub action: Option<StringFilterInput>,
    pub role: Option<Box<UsersPermissionsRoleFiltersInput>>,
    pub created_at: Option<DateTimeFilterInput>,
    pub updated_at: Option<DateTimeFilterInput>,
    /// The same as `createdAt`.
    pub published_at: Option<DateTimeFilterInput>,
    #[serde(rename = "$and")]
    pub and: Option<Vec<Option<UsersPermissionsPermissionFiltersInput>>>,
    #[serde(rename = "$or")]
    pub or: Option<Vec<Option<UsersPermissionsPermissionFiltersInput>>>,
    #[serde(rename = "$not")]
    pub not: Option<Box<UsersPermissionsPermissionFiltersInput>>,
}

impl UsersPermissionsPermissionFiltersInput {
    /// SQL over `up_permissions`; `role` becomes a subquery over `up_roles`.
    pub fn compile(&self, dialect: Dialect) -> AppResult<SqlWhere> {
        let mut parts = Vec::new();
        super::filters::fields(&PERMISSIONS, [("documentId", &self.document_id)], dialect, &mut parts)?;
        super::filters::fields(&PERMISSIONS, [("action", &self.action)], dialect, &mut parts)?;
        let times = [
            ("createdAt", &self.created_at),
            ("updatedAt", &self.updated_at),
            ("publishedAt", &self.published_at),
        ];
        super::filters::fields(&PERMISSIONS, times, dialect, &mut parts)?;
        if let Some(role) = &self.role {
            let role = role.compile(dialect)?;
            parts.push(super::filters::related(&PERMISSIONS, "role", &role, dialect)?);
        }
        let mut all = parts;
        if let Some(each) = &self.and {
            let each = each
                .iter()
                .flatten()
                .map(|f| f.compile(dialect))
                .collect::<AppResult<Vec<_>>>()?;
            all.push(SqlWhere::all(dialect, &each));
        }
        if let Some(any) = &self.or {
            let any = any
                .iter()
                .flatten()
                .map(|f| f.compile(dialect))
                .collect::<AppResult<Vec<_>>>()?;
            all.push(SqlWhere::any(dialect, &any));
        }
        if let Some(not) = &self.not {
            all.push(SqlWhere::not(&not.compile(dialect)?));
        }
        Ok(SqlWhere::all(dialect, &all))
    }
}



/// What a filter reaches beyond its own entity: users (through a role's `users`) or grants
/// (through a role's `permissions`). Filtering on them reveals them, so it needs the grant
/// that lists them, unconditionally.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reaches {
    pub users: bool,
    pub permissions: bool,
}

impl Reaches {
    fn or(self, other: Reaches) -> Reaches {
        Reaches {
            users: self.users || other.users,
            permissions: self.permissions || other.permissions,
        }
    }

    pub fn of_role(filter: &UsersPermissionsRoleFiltersInput) -> Reaches {
        let mut reaches = Reaches {
            users: filter.users.is_some(),
            permissions: filter.permissions.is_some(),
        };
        if let Some(users) = &filter.users {
            reaches = reaches.or(Reaches::of_user(users));
        }
        if let Some(permissions) = &filter.permissions {
            reaches = reaches.or(Reaches::of_permission(permissions));
        }
        for nested in filter
            .and
            .iter()
            .chain(filter.or.iter())
            .flatten()
            .flatten()
        {
            reaches = reaches.or(Reaches::of_role(nested));
        }
        if let Some(not) = &filter.not {
            reaches = reaches.or(Reaches::of_role(not));
        }
        reaches
    }

    pub fn of_user(filter: &UsersPermissionsUserFiltersInput) -> Reaches {
        let mut reaches = filter
            .role
            .as_ref()
            .map(Reaches::of_role)
            .unwrap_or_default();
        for nested in filter
            .and
            .iter()
            .chain(filter.or.iter())
            .flatten()
            .flatten()
        {
            reaches = reaches.or(Reaches::of_user(nested));
        }
        if let Some(not) = &filter.not {
            reaches = reaches.or(Reaches::of_user(not));
        }
        reaches
    }

    pub fn of_permission(filter: &UsersPermissionsPermissionFiltersInput) -> Reaches {
        let mut reaches = filter
            .role
            .as_deref()
            .map(Reaches::of_role)
            .unwrap_or_default();
        for nested in filter
            .and
            .iter()
            .chain(filter.or.iter())
            .flatten()
            .flatten()
        {
            reaches = reaches.or(Reaches::of_permission(nested));
        }
        if let Some(not) = &filter.not {
            reaches = reaches.or(Reaches::of_permission(not));
        }
        reaches
    }
}

/// Strapi 5's draft-and-publish status. Users, roles and grants are always published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum PublicationStatus {
    Draft,
    Published,
}

/// Strapi 5's filter on the publication state of documents; accepted and ignored, as users,
/// roles and grants are always published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
pub enum PublicationFilter {
    NeverPublished,
    HasPublishedVersion,
    Modified,
    Unmodified,
    NeverPublishedDocument,
    HasPublishedVersionDocument,
    PublishedWithoutDraft,
    PublishedWithDraft,
}

/// Refuses a filter that reaches users or grants beyond what the caller may list: filtering on
/// them reveals them, so it needs `user.find` (for users) or `permission.find` (for grants),
/// without conditions.
pub fn check_reach(ctx: &Context<'_>, reaches: Reaches) -> AppResult<()> {
    if reaches == Reaches::default() {
        return Ok(());
    }
    let (app, principal) = request(ctx)?;
    app.policy
        .may_filter_across(principal, reaches.users, reaches.permissions)
}
