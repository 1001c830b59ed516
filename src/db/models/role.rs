use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use crate::db::Conn;
use crate::db::models::InsertGrants;
use crate::db::models::NewPermission;
use crate::db::schema::{up_roles, up_users};
use crate::db::sql::SqlWhere;
use crate::db::stamp::Stamp;
use crate::{load_on_conn, on_conn};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = up_roles)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Role {
    pub id: i32,
    pub document_id: String,
    pub name: String,
    pub description: String,
    pub role_type: String,
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = up_roles)]
pub struct NewRole<'a> {
    pub document_id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub role_type: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Role {
    pub async fn find(conn: &mut Conn, id: i32) -> QueryResult<Option<Role>> {
        on_conn!(conn, |c| up_roles::table
            .find(id)
            .select(Role::as_select())
            .first(c)
            .await
            .optional())
    }

    pub async fn find_by_type(conn: &mut Conn, role_type: &str) -> QueryResult<Option<Role>> {
        on_conn!(conn, |c| up_roles::table
            .filter(up_roles::role_type.eq(role_type))
            .select(Role::as_select())
            .first(c)
            .await
            .optional())
    }

    pub async fn all(conn: &mut Conn) -> QueryResult<Vec<Role>> {
        load_on_conn!(
            conn,
            Role,
            up_roles::table
                .order(up_roles::id)
                .select(Role::as_select())
        )
    }
}

impl NewRole<'_> {
    pub async fn insert(&self, conn: &mut Conn) -> QueryResult<Role> {
        on_conn!(conn, |c| diesel::insert_into(up_roles::table)
            .values(self)
            .returning(Role::as_returning())
            .get_result(c)
            .await)
    }

    /// Inserts each role with a grant of each of its actions (no conditions, every field), all
    /// in one transaction, unless a role with the same name, type or document id exists; that
    /// one is left as it is. The roles inserted.
    pub async fn insert_if_absent_with(
        conn: &mut Conn,
        roles: &[(NewRole<'_>, &[&str])],
    ) -> QueryResult<Vec<Role>> {
        on_conn!(conn, |c| c
            .transaction::<_, diesel::result::Error, _>(async move |c| {
                let mut inserted = Vec::new();
                for (new_role, actions) in roles {
                    let Some(role) = diesel::insert_into(up_roles::table)
                        .values(new_role)
                        .on_conflict_do_nothing()
                        .returning(Role::as_returning())
                        .get_result(c)
                        .await
                        .optional()?
                    else {
                        continue;
                    };
                    let grants: Vec<NewPermission<'_>> = actions
                        .iter()
                        .map(|action| {
                            NewPermission::unconditional(role.id, action, new_role.created_at)
                        })
                        .collect();
                    c.insert_grants(&grants).await?;
                    inserted.push(role);
                }
                Ok(inserted)
            })
            .await)
    }
}

/// Changes to a role's own columns; `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = up_roles)]
pub struct RoleChanges<'a> {
    pub name: Option<&'a str>,
    pub description: Option<&'a str>,
    pub role_type: Option<&'a str>,
    pub updated_at: Option<NaiveDateTime>,
}

impl Role {
    pub async fn find_by_document_id(
        conn: &mut Conn,
        document_id: &str,
    ) -> QueryResult<Option<Role>> {
        on_conn!(conn, |c| up_roles::table
            .filter(up_roles::document_id.eq(document_id))
            .select(Role::as_select())
            .first(c)
            .await
            .optional())
    }

    /// Roles matching `filter`, in `order` (SQL from a whitelist), one page of them.
    pub async fn page(
        conn: &mut Conn,
        filter: &SqlWhere,
        order: &crate::db::sql::SqlOrder,
        offset: i64,
        limit: i64,
    ) -> QueryResult<Vec<Role>> {
        load_on_conn!(
            conn,
            Role,
            up_roles::table
                .filter(filter.clone())
                .order(order.paged(limit, offset))
                .select(Role::as_select())
        )
    }

    pub async fn count(conn: &mut Conn, filter: &SqlWhere) -> QueryResult<i64> {
        on_conn!(conn, |c| up_roles::table
            .filter(filter.clone())
            .count()
            .get_result(c)
            .await)
    }

    /// How many users have this role.
    pub async fn user_count(conn: &mut Conn, role_id: i32) -> QueryResult<i64> {
        on_conn!(conn, |c| up_users::table
            .filter(up_users::role_id.eq(role_id))
            .count()
            .get_result(c)
            .await)
    }

    pub async fn update(
        conn: &mut Conn,
        id: i32,
        changes: &RoleChanges<'_>,
    ) -> QueryResult<Option<Role>> {
        on_conn!(conn, |c| diesel::update(up_roles::table.find(id))
            .set(changes)
            .returning(Role::as_returning())
            .get_result(c)
            .await
            .optional())
    }

    /// Deletes the role (its grants go with it). Fails on the foreign key while users have it.
    pub async fn delete(conn: &mut Conn, id: i32) -> QueryResult<bool> {
        on_conn!(conn, |c| diesel::delete(up_roles::table.find(id))
            .execute(c)
            .await
            .map(|n| n > 0))
    }
}
