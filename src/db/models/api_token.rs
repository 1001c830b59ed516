use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::Conn;
use crate::db::schema::up_api_tokens;
use crate::db::stamp::Stamp;
use crate::{load_on_conn, on_conn};

/// An API token. `access_key` is the keyed hash of the key, never the key.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = up_api_tokens)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct ApiTokenRow {
    pub id: i32,
    pub document_id: String,
    pub name: String,
    pub description: String,
    pub token_type: String,
    pub access_key: String,
    /// JSON array of action names (custom tokens).
    pub actions: String,
    /// Days, or none for unlimited.
    pub lifespan: Option<i64>,
    pub expires_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = up_api_tokens)]
pub struct NewApiToken<'a> {
    pub document_id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub token_type: &'a str,
    pub access_key: &'a str,
    pub actions: &'a str,
    pub lifespan: Option<i64>,
    pub expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl NewApiToken<'_> {
    pub async fn insert(&self, conn: &mut Conn) -> QueryResult<ApiTokenRow> {
        on_conn!(conn, |c| diesel::insert_into(up_api_tokens::table)
            .values(self)
            .returning(ApiTokenRow::as_returning())
            .get_result(c)
            .await)
    }
}

impl ApiTokenRow {
    pub async fn all(conn: &mut Conn) -> QueryResult<Vec<ApiTokenRow>> {
        load_on_conn!(
            conn,
            ApiTokenRow,
            up_api_tokens::table
                .order(up_api_tokens::id)
                .select(ApiTokenRow::as_select())
        )
    }

    pub async fn find(conn: &mut Conn, id: i32) -> QueryResult<Option<ApiTokenRow>> {
        on_conn!(conn, |c| up_api_tokens::table
            .find(id)
            .select(ApiTokenRow::as_select())
            .first(c)
            .await
            .optional())
    }

    pub async fn find_by_document_id(
        conn: &mut Conn,
        document_id: &str,
    ) -> QueryResult<Option<ApiTokenRow>> {
        on_conn!(conn, |c| up_api_tokens::table
            .filter(up_api_tokens::document_id.eq(document_id))
            .select(ApiTokenRow::as_select())
            .first(c)
            .await
            .optional())
    }

    pub async fn find_by_key_hash(
        conn: &mut Conn,
        key_hash: &str,
    ) -> QueryResult<Option<ApiTokenRow>> {
        on_conn!(conn, |c| up_api_tokens::table
            .filter(up_api_tokens::access_key.eq(key_hash))
            .select(ApiTokenRow::as_select())
            .first(c)
            .await
            .optional())
    }

    /// Replaces the key (hash) and restarts the lifespan.
    pub async fn set_key(
        conn: &mut Conn,
        id: i32,
        key_hash: &str,
        expires_at: Option<NaiveDateTime>,
    ) -> QueryResult<Option<ApiTokenRow>> {
        on_conn!(conn, |c| diesel::update(up_api_tokens::table.find(id))
            .set((
                up_api_tokens::access_key.eq(key_hash),
                up_api_tokens::expires_at.eq(expires_at),
                up_api_tokens::updated_at.eq(super::now()),
            ))
            .returning(ApiTokenRow::as_returning())
            .get_result(c)
            .await
            .optional())
    }

    pub async fn touch(conn: &mut Conn, id: i32, at: NaiveDateTime) -> QueryResult<usize> {
        on_conn!(conn, |c| diesel::update(up_api_tokens::table.find(id))
            .set(up_api_tokens::last_used_at.eq(at))
            .execute(c)
            .await)
    }

    pub async fn delete(conn: &mut Conn, id: i32) -> QueryResult<bool> {
        on_conn!(conn, |c| diesel::delete(up_api_tokens::table.find(id))
            .execute(c)
            .await
            .map(|n| n > 0))
    }
}
