//! User administration with Strapi's names. Every operation goes through the caller's grant:
//! its conditions decide which users it reaches (in SQL for lists, in memory for one user),
//! and its `fields` which fields it may read or write.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, ID, InputObject, Object, Result, SimpleObject};
use super::types::Json;
use chrono::{DateTime, Utc};

use super::auth::request;
use super::directives;
use super::filters::UsersPermissionsUserFiltersInput;
use super::permissions::{PublicationFilter, PublicationStatus, Reaches};
use super::pagination::{Pagination, PaginationArg};
use super::roles::UsersPermissionsRole;
use crate::db::models::{Role, User};
use crate::db::sql::SqlWhere;
use crate::error::AppResult;
use crate::filter::SqlFilter;
use crate::db::fields::{Compare, USERS};
use crate::db::sql::SqlValue;
use crate::policy::subject::user_document;
use crate::policy::{Access, actions};
use crate::service::listing::{Page, PageRequest};
use crate::service::users::{self, UserData};

/// A user, as administrators see them. Secrets (password, reset and confirmation tokens) can
/// be written but are never read. A field outside the grant's `fields` reads as null with a
/// FORBIDDEN error at its path.
pub struct UsersPermissionsUser {
    user: User,
    role: Arc<Role>,
    access: Arc<Access>,
}

impl UsersPermissionsUser {
    pub(super) fn new(user: User, role: impl Into<Arc<Role>>, access: Arc<Access>) -> Self {
        Self {
            user,
            role: role.into(),
            access,
        }
    }

    fn field<T>(&self, name: &str, value: impl FnOnce() -> T) -> AppResult<Option<T>> {
        if self.access.may_use_field(name) {
            Ok(Some(value()))
        } else {
            Err(self.access.field_refused(name))
        }
    }
}

#[Object]
impl UsersPermissionsUser {
    async fn id(&self) -> ID {
        ID(self.user.id.to_string())
    }

    async fn document_id(&self) -> ID {
        ID(self.user.document_id.clone())
    }

    async fn username(&self) -> Result<Option<String>> {
        Ok(self.field("username", || self.user.username.clone())?)
    }

    async fn email(&self) -> Result<Option<String>> {
        Ok(self.field("email", || self.user.email.clone())?)
    }

    async fn provider(&self) -> Result<Option<String>> {
        Ok(self.field("provider", || self.user.provider.clone())?)
    }

    async fn confirmed(&self) -> Result<Option<bool>> {
        Ok(self.field("confirmed", || self.user.confirmed)?)
    }

    async fn blocked(&self) -> Result<Option<bool>> {
        Ok(self.field("blocked", || self.user.blocked)?)
    }

    async fn role(&self) -> Result<Option<UsersPermissionsRole>> {
        Ok(self.field("role", || {
            UsersPermissionsRole::from(Role::clone(&self.role))
        })?)
    }

    /// Extra fields (`register.allowedFields`, or written by an administrator).
    async fn attributes(&self, ctx: &Context<'_>) -> Result<Option<Json<serde_json::Value>>> {
        let (app, _) = crate::graphql::auth::request(ctx)?;
        let value = app
            .attributes
            .public(&self.user.attributes)
            .unwrap_or(serde_json::Value::Null);
        Ok(self.field("attributes", || Json(value))?)
    }

    async fn created_at(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self.field("createdAt", || self.user.created_at.and_utc())?)
    }

    async fn updated_at(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self.field("updatedAt", || self.user.updated_at.and_utc())?)
    }

    /// The same as `createdAt`: a user has no draft.
    async fn published_at(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self.field("createdAt", || self.user.created_at.and_utc())?)
    }
}

/// What `createUsersPermissionsUser` and `updateUsersPermissionsUser` write.
#[derive(Debug, Default, InputObject)]
pub struct UsersPermissionsUserInput {
    pub username: Option<String>,
    pub email: Option<String>,
    pub provider: Option<String>,
    /// Write-only: stored as a bcrypt hash.
    pub password: Option<String>,
    /// Write-only: stored as a SHA-256 hash.
    pub reset_password_token: Option<String>,
    /// Write-only: stored as a SHA-256 hash.
    pub confirmation_token: Option<String>,
    pub confirmed: Option<bool>,
    pub blocked: Option<bool>,
    /// The numeric id or the documentId of the role.
    pub role: Option<ID>,
    pub attributes: Option<Json<serde_json::Value>>,
    /// Accepted and ignored: a user has no draft.
    pub published_at: Option<DateTime<Utc>>,
    /// Accepted and ignored: users are not localized.
    pub locale: Option<String>,
}

impl From<UsersPermissionsUserInput> for UserData {
    fn from(input: UsersPermissionsUserInput) -> Self {
        UserData {
            username: input.username,
            email: input.email,
            provider: input.provider,
            password: input.password,
            reset_password_token: input.reset_password_token,
            confirmation_token: input.confirmation_token,
            confirmed: input.confirmed,
            blocked: input.blocked,
            role: input.role.map(|id| id.0),
            attributes: input.attributes.map(|json| json.0),
        }
    }
}

#[derive(SimpleObject)]
pub struct UsersPermissionsUserEntityResponse {
    pub data: Option<UsersPermissionsUser>,
}

/// A page of users. `pageInfo` counts the reachable users only when it is asked for.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct UsersPermissionsUserEntityResponseCollection {
    pub nodes: Vec<UsersPermissionsUser>,
    #[graphql(skip)]
    query: PageQuery,
}

/// What a page was selected by, for counting its total.
struct PageQuery {
    filter: SqlWhere,
    scope: Option<SqlFilter>,
    page: Page,
}

#[ComplexObject]
impl UsersPermissionsUserEntityResponseCollection {
    async fn page_info(&self, ctx: &Context<'_>) -> Result<Pagination> {
        let (app, _) = request(ctx)?;
        let query = &self.query;
        let total = users::count(app, &query.filter, query.scope.as_ref()).await?;
        Ok(query.page.info(total).into())
    }
}



/// The fields a filter or a sort reads, which the grant must reach too.
pub(crate) fn read_fields(filters: Option<&UsersPermissionsUserFiltersInput>, sort: &[String]) -> Vec<String> {
    let mut used: Vec<String> = sort
        .iter()
        // `attributes.team:asc` reads the field `attributes`.
        .map(|s| {
            let field = s.split(':').next().unwrap_or_default();
            field.split('.').next().unwrap_or_default().to_string()
        })
        .collect();
    if let Some(filters) = filters {
        used.extend(filters.fields());
    }
    used
}

// The filter inputs arrive boxed (6 KB unboxed): arguments live in the future of their root
// field, and async-graphql moves that future twice per request, whatever the query asks. At
// 21 KB it was a quarter of the instructions of a refused query (callgrind).
pub(super) async fn page(
    ctx: &Context<'_>,
    access: Arc<Access>,
    filters: Option<Box<UsersPermissionsUserFiltersInput>>,
    pagination: Option<PaginationArg>,
    sort: Option<Vec<Option<String>>>,
    of_role: Option<i32>,
) -> Result<UsersPermissionsUserEntityResponseCollection> {
    let (app, _) = request(ctx)?;
    let sort: Vec<String> = sort.unwrap_or_default().into_iter().flatten().collect();
    access.check_read_fields(read_fields(filters.as_deref(), &sort).iter().map(String::as_str))?;
    if let Some(filters) = filters.as_deref() {
        super::permissions::check_reach(ctx, Reaches::of_user(filters))?;
    }
    let dialect = app.db.backend();
    let page = PageRequest::from(pagination.unwrap_or_default()).resolve()?;
    let order = USERS.order_by_in(&sort, Some((&app.attributes, app.db.backend())))?;
    let mut filter = filters.map(|f| *f).unwrap_or_default().compile(dialect)?;
    if let Some(role_id) = of_role {
        let of_role = USERS.declared("role")?.compare(
            Compare::Eq,
            Some(SqlValue::Int(i64::from(role_id))),
            dialect,
        );
        filter = SqlWhere::all(dialect, &[of_role, filter]);
    }
    let (filter, scope) = users::scoped_filter(app, &access, filter)?;
    let found = users::list(app, &filter, scope.as_ref(), &order, page).await?;
    Ok(UsersPermissionsUserEntityResponseCollection {
        nodes: found
            .into_iter()
            .map(|(user, role)| UsersPermissionsUser::new(user, role, access.clone()))
            .collect(),
        query: PageQuery {
            filter,
            scope,
            page,
        },
    })
}

#[derive(Default)]
pub struct UsersQuery;

#[Object]
impl UsersQuery {
    /// Users, filtered, sorted (`["username:asc"]`) and paginated, within the grant's conditions.
    /// The publication arguments are accepted and change nothing: users are always published.
    #[graphql(directive = directives::action::apply(actions::USER_FIND.into()))]
    #[expect(clippy::too_many_arguments, reason = "Strapi's arguments, one parameter each, as async-graphql reads them")]
    async fn users_permissions_users(
        &self,
        ctx: &Context<'_>,
        filters: Option<Box<UsersPermissionsUserFiltersInput>>,
        pagination: Option<PaginationArg>,
        sort: Option<Vec<Option<String>>>,
        #[graphql(default_with = "Some(PublicationStatus::Published)")] status: Option<PublicationStatus>,
        has_published_version: Option<bool>,
        publication_filter: Option<PublicationFilter>,
    ) -> Result<Vec<Option<UsersPermissionsUser>>> {
        let _ = (status, has_published_version, publication_filter);
        let access = super::access(ctx)?;
        Ok(page(ctx, access, filters, pagination, sort, None)
            .await?
            .nodes
            .into_iter()
            .map(Some)
            .collect())
    }

    /// Users with `pageInfo`; `total` counts only the users the grant reaches.
    #[graphql(name = "usersPermissionsUsers_connection", directive = directives::action::apply(actions::USER_FIND.into()))]
    #[expect(clippy::too_many_arguments, reason = "Strapi's arguments, one parameter each, as async-graphql reads them")]
    async fn users_permissions_users_connection(
        &self,
        ctx: &Context<'_>,
        filters: Option<Box<UsersPermissionsUserFiltersInput>>,
        pagination: Option<PaginationArg>,
        sort: Option<Vec<Option<String>>>,
        #[graphql(default_with = "Some(PublicationStatus::Published)")] status: Option<PublicationStatus>,
        has_published_version: Option<bool>,
        publication_filter: Option<PublicationFilter>,
    ) -> Result<Option<UsersPermissionsUserEntityResponseCollection>> {
        let _ = (status, has_published_version, publication_filter);
        let access = super::access(ctx)?;
        Ok(Some(page(ctx, access, filters, pagination, sort, None).await?))
    }

    /// A user by documentId (or numeric id); FORBIDDEN when outside the grant's conditions.
    #[graphql(directive = directives::action::apply(actions::USER_FIND_ONE.into()))]
    async fn users_permissions_user(
        &self,
        ctx: &Context<'_>,
        document_id: ID,
        #[graphql(default_with = "Some(PublicationStatus::Published)")] status: Option<PublicationStatus>,
        has_published_version: Option<bool>,
        publication_filter: Option<PublicationFilter>,
    ) -> Result<Option<UsersPermissionsUser>> {
        let _ = (status, has_published_version, publication_filter);
        let (app, _) = request(ctx)?;
        let access = super::access(ctx)?;
        let Some((user, role)) = users::find(app, &document_id).await? else {
            return Ok(None);
        };
        if !access.allows(&user_document(&user, &role)) {
            return Err(access.outside().into());
        }
        Ok(Some(UsersPermissionsUser::new(user, role, access)))
    }
}

#[derive(Default)]
pub struct UsersMutation;

#[Object]
impl UsersMutation {
    /// Creates a user. With conditions on the grant, the new user must satisfy them.
    #[graphql(directive = directives::action::apply(actions::USER_CREATE.into()))]
    async fn create_users_permissions_user(
        &self,
        ctx: &Context<'_>,
        data: UsersPermissionsUserInput,
    ) -> Result<UsersPermissionsUserEntityResponse> {
        let (app, _) = request(ctx)?;
        let access = super::access(ctx)?;
        let (user, role) = users::create(app, &access, UserData::from(data)).await?;
        Ok(UsersPermissionsUserEntityResponse {
            data: Some(UsersPermissionsUser::new(user, role, access)),
        })
    }

    /// Changes a user (numeric id or documentId). The user must be within the grant's
    /// conditions before and after the change, and only the grant's fields may change.
    #[graphql(directive = directives::action::apply(actions::USER_UPDATE.into()))]
    async fn update_users_permissions_user(
        &self,
        ctx: &Context<'_>,
        id: ID,
        data: UsersPermissionsUserInput,
    ) -> Result<UsersPermissionsUserEntityResponse> {
        let (app, _) = request(ctx)?;
        let access = super::access(ctx)?;
        let (user, role) = users::update(app, &access, &id, UserData::from(data)).await?;
        Ok(UsersPermissionsUserEntityResponse {
            data: Some(UsersPermissionsUser::new(user, role, access)),
        })
    }

    /// Deletes a user (numeric id or documentId) within the grant's conditions.
    #[graphql(directive = directives::action::apply(actions::USER_DESTROY.into()))]
    async fn delete_users_permissions_user(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<UsersPermissionsUserEntityResponse> {
        let (app, _) = request(ctx)?;
        let access = super::access(ctx)?;
        let (user, role) = users::delete(app, &access, &id).await?;
        Ok(UsersPermissionsUserEntityResponse {
            data: Some(UsersPermissionsUser::new(user, role, access)),
        })
    }

    /// Refresh mode: ends every session of a user (numeric id or documentId) within the
    /// grant's conditions; their access JWTs are refused at once. How many ended.
    #[graphql(directive = directives::action::apply(actions::USER_UPDATE.into()))]
    async fn revoke_users_permissions_user_sessions(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<i32> {
        let (app, _) = request(ctx)?;
        let access = super::access(ctx)?;
        let ended = users::end_sessions(app, &access, &id).await?;
        Ok(i32::try_from(ended).unwrap_or(i32::MAX))
    }
}
