use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::Conn;
use crate::db::schema::up_development_secrets;
use crate::on_conn;

/// A secret generated in development (`JWT_SECRET`, `API_TOKEN_SALT` unset), kept with the
/// data so that every process using the database reads the same one.
#[derive(Debug, Insertable)]
#[diesel(table_name = up_development_secrets)]
pub struct NewDevelopmentSecret<'a> {
    /// The variable that would set it.
    pub name: &'a str,
    pub value: &'a str,
    pub created_at: NaiveDateTime,
}

impl NewDevelopmentSecret<'_> {
    /// Stores the secret unless one of that name exists, then returns the stored one: of two
    /// processes starting at once, both end with the first one's.
    pub async fn insert_or_read(&self, conn: &mut Conn) -> QueryResult<String> {
        on_conn!(conn, |c| {
            diesel::insert_into(up_development_secrets::table)
                .values(self)
                .on_conflict_do_nothing()
                .execute(c)
                .await?;
            up_development_secrets::table
                .find(self.name)
                .select(up_development_secrets::value)
                .first(c)
                .await
        })
    }
}
