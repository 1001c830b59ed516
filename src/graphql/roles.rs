//! Roles, their grants, and the catalogue of actions that can be granted.

use async_graphql::{ComplexObject, Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::auth::{access_on, request};
use super::directives;
use super::filters::{UsersPermissionsRoleFiltersInput, UsersPermissionsUserFiltersInput};
use super::pagination::{Pagination, PaginationArg};
use super::permissions::{
    PublicationFilter, PublicationStatus, Reaches, UsersPermissionsPermission,
    UsersPermissionsPermissionFiltersInput, UsersPermissionsPermissionRelationResponseCollection,
    UsersPermissionsUserRelationResponseCollection, check_reach,
};
use super::users::{self, UsersPermissionsUser};
use crate::db::models::Role;
use crate::error::{AppError, AppResult};
use crate::policy::{Grant, actions};
use crate::db::fields::{PERMISSIONS, ROLES};
use crate::service::listing::PageRequest;
use crate::service::roles::{self, GrantSpec, RoleData};

/// A role: `public` (requests without a token), `authenticated` (the default of new users), or a
/// custom one.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub struct UsersPermissionsRole {
    pub id: ID,
    pub document_id: ID,
    pub name: String,
    pub description: Option<String>,
    #[graphql(name = "type")]
    pub role_type: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    #[graphql(skip)]
    pub role_id: i32,
}

#[ComplexObject]
impl UsersPermissionsRole {
    /// How many users have this role.
    #[graphql(directive = directives::action::apply(actions::ROLE_FIND.into()))]
    async fn nb_users(&self, ctx: &Context<'_>) -> Result<i32> {
        let (app, _) = request(ctx)?;
        Ok(i32::try_from(roles::user_count(app, self.role_id).await?).unwrap_or(i32::MAX))
    }

    /// The same as `createdAt`: a role has no draft.
    async fn published_at(&self) -> Option<DateTime<Utc>> {
        self.created_at
    }

    /// The role's users within the conditions of the caller's `user.find` grant, filtered,
    /// sorted and paginated as `usersPermissionsUsers`.
    #[graphql(directive = directives::action::apply(actions::USER_FIND.into()))]
    async fn users(
        &self,
        ctx: &Context<'_>,
        filters: Option<Box<UsersPermissionsUserFiltersInput>>,
        pagination: Option<PaginationArg>,
        sort: Option<Vec<Option<String>>>,
    ) -> Result<Vec<Option<UsersPermissionsUser>>> {
        let access = access_on(ctx, "UsersPermissionsRole")?;
        let page = users::page(ctx, access, filters, pagination, sort, Some(self.role_id)).await?;
        Ok(page.nodes.into_iter().map(Some).collect())
    }

    /// [`users`](Self::users) as Strapi's relation collection.
    #[graphql(name = "users_connection", directive = directives::action::apply(actions::USER_FIND.into()))]
    async fn users_connection(
        &self,
        ctx: &Context<'_>,
        filters: Option<Box<UsersPermissionsUserFiltersInput>>,
        pagination: Option<PaginationArg>,
        sort: Option<Vec<Option<String>>>,
    ) -> Result<Option<UsersPermissionsUserRelationResponseCollection>> {
        let access = access_on(ctx, "UsersPermissionsRole")?;
        let page = users::page(ctx, access, filters, pagination, sort, Some(self.role_id)).await?;
        Ok(Some(UsersPermissionsUserRelationResponseCollection { nodes: page.nodes }))
    }

    /// The role's grants as Strapi's permissions (one per action), filtered, sorted
    /// (`["action:asc"]`) and paginated.
    #[graphql(directive = directives::action::apply(actions::PERMISSION_FIND.into()))]
    async fn permissions(
        &self,
        ctx: &Context<'_>,
        filters: Option<Box<UsersPermissionsPermissionFiltersInput>>,
        pagination: Option<PaginationArg>,
        sort: Option<Vec<Option<String>>>,
    ) -> Result<Vec<Option<UsersPermissionsPermission>>> {
        Ok(self
            .permission_page(ctx, filters, pagination, sort)
            .await?
            .into_iter()
            .map(Some)
            .collect())
    }

    /// [`permissions`](Self::permissions) as Strapi's relation collection.
    #[graphql(name = "permissions_connection", directive = directives::action::apply(actions::PERMISSION_FIND.into()))]
    async fn permissions_connection(
        &self,
        ctx: &Context<'_>,
        filters: Option<Box<UsersPermissionsPermissionFiltersInput>>,
        pagination: Option<PaginationArg>,
        sort: Option<Vec<Option<String>>>,
    ) -> Result<Option<UsersPermissionsPermissionRelationResponseCollection>> {
        Ok(Some(UsersPermissionsPermissionRelationResponseCollection {
            nodes: self.permission_page(ctx, filters, pagination, sort).await?,
        }))
    }

    /// What the role may do.
    #[graphql(directive = directives::action::apply(actions::ROLE_FIND.into()))]
    async fn grants(&self, ctx: &Context<'_>) -> Result<Vec<UsersPermissionsGrant>> {
        let (app, _) = request(ctx)?;
        Ok(app
            .policy
            .grants_of(self.role_id)
            .iter()
            .map(|g| UsersPermissionsGrant::from(g.as_ref()))
            .collect())
    }
}

impl UsersPermissionsRole {
    async fn permission_page(
        &self,
        ctx: &Context<'_>,
        filters: Option<Box<UsersPermissionsPermissionFiltersInput>>,
        pagination: Option<PaginationArg>,
        sort: Option<Vec<Option<String>>>,
    ) -> Result<Vec<UsersPermissionsPermission>> {
        let (app, _) = request(ctx)?;
        if let Some(filters) = filters.as_deref() {
            check_reach(ctx, Reaches::of_permission(filters))?;
        }
        let sort: Vec<String> = sort.unwrap_or_default().into_iter().flatten().collect();
        let filter = filters
            .map(|f| *f)
            .unwrap_or_default()
            .compile(app.db.backend())?;
        let order = PERMISSIONS.order_by(&sort)?;
        let page = PageRequest::from(pagination.unwrap_or_default()).resolve()?;
        let rows = roles::permissions(app, self.role_id, &filter, &order, page).await?;
        Ok(rows
            .into_iter()
            .map(|row| UsersPermissionsPermission::new(row, self.clone()))
            .collect())
    }
}

impl From<Role> for UsersPermissionsRole {
    fn from(role: Role) -> Self {
        Self {
            id: ID(role.id.to_string()),
            document_id: ID(role.document_id),
            name: role.name,
            description: Some(role.description),
            role_type: Some(role.role_type),
            created_at: Some(role.created_at.and_utc()),
            updated_at: Some(role.updated_at.and_utc()),
            role_id: role.id,
        }
    }
}

/// A grant: the role may perform `action` — on the entities any one of `conditions` allows
/// (none: all of them) and, when `fields` is set, on those fields only.
#[derive(Debug, Clone, SimpleObject)]
pub struct UsersPermissionsGrant {
    pub action: String,
    pub conditions: Vec<String>,
    pub fields: Option<Vec<String>>,
}

impl From<&Grant> for UsersPermissionsGrant {
    fn from(grant: &Grant) -> Self {
        Self {
            action: grant.action.clone(),
            conditions: grant.conditions.clone(),
            fields: grant.fields.clone(),
        }
    }
}

#[derive(Debug, Clone, InputObject)]
pub struct UsersPermissionsGrantInput {
    /// An action of `usersPermissionsActions`.
    pub action: String,
    /// Names of registered conditions; any one of them suffices. None: always.
    #[graphql(default)]
    pub conditions: Vec<String>,
    /// The only fields the grant reaches; null: all.
    pub fields: Option<Vec<String>>,
}

#[derive(Debug, Clone, InputObject)]
pub struct UsersPermissionsRoleInput {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Lower-case letters, digits, `-` and `_`; derived from the name when omitted.
    #[graphql(name = "type")]
    pub role_type: Option<String>,
    /// Replaces every grant of the role.
    pub grants: Option<Vec<UsersPermissionsGrantInput>>,
    /// Strapi's way to set grants by permission id: refused, set `grants` instead.
    pub permissions: Option<Vec<Option<ID>>>,
    /// Strapi's way to move users into the role: refused, set each user's `role` instead.
    pub users: Option<Vec<Option<ID>>>,
    /// Accepted and ignored: a role has no draft.
    pub published_at: Option<DateTime<Utc>>,
    /// Accepted and ignored: roles are not localized.
    pub locale: Option<String>,
}

impl UsersPermissionsRoleInput {
    /// The input as the service takes it; `permissions` and `users`, which Castellan sets
    /// elsewhere, are refused with a word on where.
    fn into_data(self) -> AppResult<RoleData> {
        if self.permissions.as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(AppError::validation_at(
                "permissions",
                "Castellan sets a role's permissions with `grants` ({action, conditions, fields})",
            ));
        }
        if self.users.as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(AppError::validation_at(
                "users",
                "Castellan moves a user into a role with updateUsersPermissionsUser(data: {role})",
            ));
        }
        Ok(self.into())
    }
}

impl From<UsersPermissionsRoleInput> for RoleData {
    fn from(input: UsersPermissionsRoleInput) -> Self {
        RoleData {
            name: input.name,
            description: input.description,
            role_type: input.role_type,
            grants: input.grants.map(|grants| {
                grants
                    .into_iter()
                    .map(|g| GrantSpec {
                        action: g.action,
                        conditions: g.conditions,
                        fields: g.fields,
                    })
                    .collect()
            }),
        }
    }
}

#[derive(Debug, SimpleObject)]
pub struct UsersPermissionsCreateRolePayload {
    pub ok: bool,
}

#[derive(Debug, SimpleObject)]
pub struct UsersPermissionsUpdateRolePayload {
    pub ok: bool,
}

#[derive(Debug, SimpleObject)]
pub struct UsersPermissionsDeleteRolePayload {
    pub ok: bool,
}

#[derive(Debug, SimpleObject)]
pub struct UsersPermissionsRoleEntityResponseCollection {
    pub nodes: Vec<UsersPermissionsRole>,
    pub page_info: Pagination,
}

/// An action that can be granted, and what is bound to it.
#[derive(Debug, SimpleObject)]
pub struct UsersPermissionsAction {
    /// The full name, e.g. `plugin::users-permissions.user.me`.
    pub action: String,
    /// e.g. `plugin::users-permissions` or `api::member-progress`.
    pub namespace: String,
    pub controller: String,
    pub name: String,
    /// The GraphQL fields (`Query.me`) and REST routes (`GET /api/progress`) that need it.
    pub bound_to: Vec<String>,
}


#[derive(Default)]
pub struct RolesQuery;

impl RolesQuery {
    // Filter inputs arrive boxed, as `users::page` explains.
    async fn page(
        ctx: &Context<'_>,
        filters: Option<Box<UsersPermissionsRoleFiltersInput>>,
        pagination: Option<PaginationArg>,
        sort: Option<Vec<Option<String>>>,
    ) -> Result<UsersPermissionsRoleEntityResponseCollection> {
        let (app, _) = request(ctx)?;
        if let Some(filters) = filters.as_deref() {
            check_reach(ctx, Reaches::of_role(filters))?;
        }
        let pagination = pagination.unwrap_or_default();
        let sort: Vec<String> = sort.unwrap_or_default().into_iter().flatten().collect();
        let filter = filters
            .map(|f| *f)
            .unwrap_or_default()
            .compile(app.db.backend())?;
        let order = ROLES.order_by(&sort)?;
        let page = PageRequest::from(pagination).resolve()?;
        let (found, info) = roles::list(app, &filter, &order, page).await?;
        Ok(UsersPermissionsRoleEntityResponseCollection {
            nodes: found.into_iter().map(Into::into).collect(),
            page_info: info.into(),
        })
    }
}

#[Object]
impl RolesQuery {
    /// Roles, filtered, sorted (`["name:asc"]`) and paginated.
    #[graphql(directive = directives::action::apply(actions::ROLE_FIND.into()))]
    #[expect(clippy::too_many_arguments, reason = "Strapi's arguments, one parameter each, as async-graphql reads them")]
    async fn users_permissions_roles(
        &self,
        ctx: &Context<'_>,
        filters: Option<Box<UsersPermissionsRoleFiltersInput>>,
        pagination: Option<PaginationArg>,
        sort: Option<Vec<Option<String>>>,
        #[graphql(default_with = "Some(PublicationStatus::Published)")] status: Option<PublicationStatus>,
        has_published_version: Option<bool>,
        publication_filter: Option<PublicationFilter>,
    ) -> Result<Vec<Option<UsersPermissionsRole>>> {
        let _ = (status, has_published_version, publication_filter);
        Ok(Self::page(ctx, filters, pagination, sort)
            .await?
            .nodes
            .into_iter()
            .map(Some)
            .collect())
    }

    /// Roles with `pageInfo`.
    #[graphql(name = "usersPermissionsRoles_connection", directive = directives::action::apply(actions::ROLE_FIND.into()))]
    #[expect(clippy::too_many_arguments, reason = "Strapi's arguments, one parameter each, as async-graphql reads them")]
    async fn users_permissions_roles_connection(
        &self,
        ctx: &Context<'_>,
        filters: Option<Box<UsersPermissionsRoleFiltersInput>>,
        pagination: Option<PaginationArg>,
        sort: Option<Vec<Option<String>>>,
        #[graphql(default_with = "Some(PublicationStatus::Published)")] status: Option<PublicationStatus>,
        has_published_version: Option<bool>,
        publication_filter: Option<PublicationFilter>,
    ) -> Result<Option<UsersPermissionsRoleEntityResponseCollection>> {
        let _ = (status, has_published_version, publication_filter);
        Ok(Some(Self::page(ctx, filters, pagination, sort).await?))
    }

    /// A role by documentId (or numeric id).
    #[graphql(directive = directives::action::apply(actions::ROLE_FIND_ONE.into()))]
    async fn users_permissions_role(
        &self,
        ctx: &Context<'_>,
        document_id: ID,
        #[graphql(default_with = "Some(PublicationStatus::Published)")] status: Option<PublicationStatus>,
        has_published_version: Option<bool>,
        publication_filter: Option<PublicationFilter>,
    ) -> Result<Option<UsersPermissionsRole>> {
        let _ = (status, has_published_version, publication_filter);
        let (app, _) = request(ctx)?;
        Ok(roles::find(app, &document_id).await?.map(Into::into))
    }

    /// Every action the running server can grant, with the fields and routes bound to it.
    #[graphql(directive = directives::action::apply(actions::PERMISSION_FIND.into()))]
    async fn users_permissions_actions(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<UsersPermissionsAction>> {
        let (app, _) = request(ctx)?;
        let catalogue = app
            .catalogue()
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("no catalogue")))?;
        Ok(catalogue
            .entries()
            .filter_map(|entry| {
                let parts = crate::policy::actions::parse_action(&entry.action).ok()?;
                Some(UsersPermissionsAction {
                    namespace: parts.namespace.to_string(),
                    controller: parts.controller.to_string(),
                    name: parts.name.to_string(),
                    action: entry.action.clone(),
                    bound_to: entry.bound_to.clone(),
                })
            })
            .collect())
    }
}

#[derive(Default)]
pub struct RolesMutation;

#[Object]
impl RolesMutation {
    /// Creates a role with its grants.
    #[graphql(directive = directives::action::apply(actions::ROLE_CREATE.into()))]
    async fn create_users_permissions_role(
        &self,
        ctx: &Context<'_>,
        data: UsersPermissionsRoleInput,
    ) -> Result<Option<UsersPermissionsCreateRolePayload>> {
        let (app, _) = request(ctx)?;
        roles::create(app, &*super::access(ctx)?, data.into_data()?).await?;
        Ok(Some(UsersPermissionsCreateRolePayload { ok: true }))
    }

    /// Changes a role (numeric id or documentId); `grants` replaces all of its grants, from the
    /// next request on.
    #[graphql(directive = directives::action::apply(actions::ROLE_UPDATE.into()))]
    async fn update_users_permissions_role(
        &self,
        ctx: &Context<'_>,
        id: ID,
        data: UsersPermissionsRoleInput,
    ) -> Result<Option<UsersPermissionsUpdateRolePayload>> {
        let (app, _) = request(ctx)?;
        roles::update(app, &*super::access(ctx)?, &id, data.into_data()?).await?;
        Ok(Some(UsersPermissionsUpdateRolePayload { ok: true }))
    }

    /// Grants one action to a role (numeric id or documentId), keeping its other grants; a grant
    /// of the same action it already holds is replaced. From the next request on.
    #[graphql(directive = directives::action::apply(actions::ROLE_UPDATE.into()))]
    async fn add_users_permissions_role_grant(
        &self,
        ctx: &Context<'_>,
        id: ID,
        grant: UsersPermissionsGrantInput,
    ) -> Result<Option<UsersPermissionsUpdateRolePayload>> {
        let (app, _) = request(ctx)?;
        let grant = GrantSpec {
            action: grant.action,
            conditions: grant.conditions,
            fields: grant.fields,
        };
        roles::add_grant(app, &*super::access(ctx)?, &id, grant).await?;
        Ok(Some(UsersPermissionsUpdateRolePayload { ok: true }))
    }

    /// Takes the grant of one action from a role (numeric id or documentId), keeping its other
    /// grants. From the next request on.
    #[graphql(directive = directives::action::apply(actions::ROLE_UPDATE.into()))]
    async fn remove_users_permissions_role_grant(
        &self,
        ctx: &Context<'_>,
        id: ID,
        action: String,
    ) -> Result<Option<UsersPermissionsUpdateRolePayload>> {
        let (app, _) = request(ctx)?;
        roles::remove_grant(app, &*super::access(ctx)?, &id, &action).await?;
        Ok(Some(UsersPermissionsUpdateRolePayload { ok: true }))
    }

    /// Deletes a role (numeric id or documentId). The default roles and roles that users still
    /// have cannot be deleted.
    #[graphql(directive = directives::action::apply(actions::ROLE_DELETE.into()))]
    async fn delete_users_permissions_role(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<UsersPermissionsDeleteRolePayload>> {
        let (app, _) = request(ctx)?;
        roles::delete(app, &*super::access(ctx)?, &id).await?;
        Ok(Some(UsersPermissionsDeleteRolePayload { ok: true }))
    }
}
