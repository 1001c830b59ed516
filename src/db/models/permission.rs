use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use crate::db::Conn;
use crate::db::schema::up_permissions;
use crate::db::stamp::Stamp;
use crate::{load_on_conn, on_conn};

/// A grant: the role may perform `action`, under any one of `conditions` (a JSON array of
/// condition names; empty = always) and, when `fields` (a JSON array) is set, on those fields only.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = up_permissions)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Permission {
    pub id: i32,
    pub role_id: i32,
    pub action: String,
    pub conditions: String,
    pub fields: Option<String>,
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
}

/// A grant to insert. `fields: None` is written as NULL, not as `DEFAULT`, so that several
/// rows go in one statement on SQLite too, and the statement stays prepared.
#[derive(Debug, Insertable)]
#[diesel(table_name = up_permissions)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewPermission<'a> {
    pub role_id: i32,
    pub action: &'a str,
    pub conditions: &'a str,
    pub fields: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Inserting several grants at once, within the caller's transaction if there is one.
pub trait InsertGrants {
    /// One statement for all of `rows` on PostgreSQL, where each statement is a round trip.
    /// One statement per row on SQLite: diesel builds a several-row INSERT for SQLite only on
    /// its synchronous connection, and a statement there costs no round trip.
    fn insert_grants(
        &mut self,
        rows: &[NewPermission<'_>],
    ) -> impl std::future::Future<Output = QueryResult<usize>> + Send;
}

impl InsertGrants for diesel_async::AsyncPgConnection {
    async fn insert_grants(&mut self, rows: &[NewPermission<'_>]) -> QueryResult<usize> {
        if rows.is_empty() {
            return Ok(0);
        }
        diesel::insert_into(up_permissions::table)
            .values(rows)
            .execute(self)
            .await
    }
}

impl InsertGrants for crate::db::SqliteConn {
    async fn insert_grants(&mut self, rows: &[NewPermission<'_>]) -> QueryResult<usize> {
        let mut inserted = 0;
        for row in rows {
            inserted += diesel::insert_into(up_permissions::table)
                .values(row)
                .execute(self)
                .await?;
        }
        Ok(inserted)
    }
}

impl Permission {
    pub async fn all(conn: &mut Conn) -> QueryResult<Vec<Permission>> {
        load_on_conn!(
            conn,
            Permission,
            up_permissions::table
                .order(up_permissions::id)
                .select(Permission::as_select())
        )
    }
}

impl<'a> NewPermission<'a> {
    /// A grant of `action` to `role_id` with no conditions, on every field, made at `at`.
    pub fn unconditional(role_id: i32, action: &'a str, at: NaiveDateTime) -> Self {
        Self {
            role_id,
            action,
            conditions: "[]",
            fields: None,
            created_at: at,
            updated_at: at,
        }
    }

    /// Inserts `rows` (see [`InsertGrants`]).
    pub async fn insert_many(rows: &[NewPermission<'_>], conn: &mut Conn) -> QueryResult<usize> {
        on_conn!(conn, |c| c.insert_grants(rows).await)
    }
}

impl Permission {
    /// Removes `role_id`'s grant of `action`; whether there was one.
    pub async fn revoke(conn: &mut Conn, role_id: i32, action: &str) -> QueryResult<bool> {
        on_conn!(conn, |c| diesel::delete(
            up_permissions::table
                .filter(up_permissions::role_id.eq(role_id))
                .filter(up_permissions::action.eq(action))
        )
        .execute(c)
        .await
        .map(|n| n > 0))
    }
}

/// A grant to store: conditions and fields as JSON texts.
#[derive(Debug, Clone)]
pub struct GrantRow {
    pub action: String,
    pub conditions: String,
    pub fields: Option<String>,
}

impl Permission {
    /// Replaces every grant of `role_id` by `grants`, in one transaction.
    pub async fn replace_for_role(
        conn: &mut Conn,
        role_id: i32,
        grants: &[GrantRow],
    ) -> QueryResult<()> {
        let rows: Vec<NewPermission<'_>> = grants
            .iter()
            .map(|g| NewPermission {
                role_id,
                action: &g.action,
                conditions: &g.conditions,
                fields: g.fields.as_deref(),
                created_at: super::now(),
                updated_at: super::now(),
            })
            .collect();
        on_conn!(conn, |c| {
            let rows = &rows;
            c.transaction::<_, diesel::result::Error, _>(async move |c| {
                diesel::delete(up_permissions::table.filter(up_permissions::role_id.eq(role_id)))
                    .execute(c)
                    .await?;
                c.insert_grants(rows).await?;
                Ok(())
            })
            .await
        })
    }

    /// How many grants name the condition `name` (conditions are a JSON array of names).
    pub async fn count_using_condition(conn: &mut Conn, name: &str) -> QueryResult<usize> {
        let all = Permission::all(conn).await?;
        Ok(all
            .iter()
            .filter(|p| {
                serde_json::from_str::<Vec<String>>(&p.conditions)
                    .is_ok_and(|c| c.iter().any(|n| n == name))
            })
            .count())
    }
}

impl Permission {
    /// The grants of `role_id` matching `filter` (over `up_permissions`, and `up_roles` through
    /// the filter's own subqueries), in `order`, one page of them.
    pub async fn page_of_role(
        conn: &mut Conn,
        role_id: i32,
        filter: &crate::db::sql::SqlWhere,
        order: &crate::db::sql::SqlOrder,
        offset: i64,
        limit: i64,
    ) -> QueryResult<Vec<Permission>> {
        load_on_conn!(
            conn,
            Permission,
            up_permissions::table
                .filter(up_permissions::role_id.eq(role_id))
                .filter(filter.clone())
                .order(order.paged(limit, offset))
                .select(Permission::as_select())
        )
    }
}
