use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;

use crate::db::Conn;
use crate::db::schema::up_settings;
use crate::db::stamp::Stamp;
use crate::on_conn;

/// One settings document: a key and its JSON text.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = up_settings)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Setting {
    pub key: String,
    pub value: String,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
}

impl Setting {
    pub async fn find(conn: &mut Conn, key: &str) -> QueryResult<Option<Setting>> {
        on_conn!(conn, |c| up_settings::table
            .find(key)
            .select(Setting::as_select())
            .first(c)
            .await
            .optional())
    }

    /// Stores the document unless the key has one already (first start: initial values).
    pub async fn insert_if_absent(&self, conn: &mut Conn) -> QueryResult<usize> {
        on_conn!(conn, |c| diesel::insert_into(up_settings::table)
            .values(self)
            .on_conflict_do_nothing()
            .execute(c)
            .await)
    }

    /// Stores the document, replacing the key's previous one.
    pub async fn upsert(&self, conn: &mut Conn) -> QueryResult<usize> {
        on_conn!(conn, |c| diesel::insert_into(up_settings::table)
            .values(self)
            .on_conflict(up_settings::key)
            .do_update()
            .set((
                up_settings::value.eq(excluded(up_settings::value)),
                up_settings::updated_at.eq(excluded(up_settings::updated_at))
            ))
            .execute(c)
            .await)
    }
}
