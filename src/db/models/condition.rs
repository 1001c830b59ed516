use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::Conn;
use crate::db::schema::up_conditions;
use crate::db::stamp::Stamp;
use crate::{load_on_conn, on_conn};

/// A condition created over GraphQL: its query object as JSON text.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = up_conditions)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct StoredCondition {
    pub name: String,
    pub display_name: String,
    pub category: Option<String>,
    pub query: String,
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
}

impl StoredCondition {
    pub async fn all(conn: &mut Conn) -> QueryResult<Vec<StoredCondition>> {
        load_on_conn!(
            conn,
            StoredCondition,
            up_conditions::table
                .order(up_conditions::name)
                .select(StoredCondition::as_select())
        )
    }

    pub async fn insert(&self, conn: &mut Conn) -> QueryResult<usize> {
        on_conn!(conn, |c| diesel::insert_into(up_conditions::table)
            .values(self)
            .execute(c)
            .await)
    }

    pub async fn delete(conn: &mut Conn, name: &str) -> QueryResult<bool> {
        on_conn!(conn, |c| diesel::delete(up_conditions::table.find(name))
            .execute(c)
            .await
            .map(|n| n > 0))
    }
}
