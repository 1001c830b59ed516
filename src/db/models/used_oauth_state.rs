use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::Conn;
use crate::db::schema::up_used_oauth_states;
use crate::on_conn;

/// A provider sign-in state that has been used, by the SHA-256 of its value (hex). Every
/// instance of one database shares these rows, so a state works once across all of them.
#[derive(Debug, Insertable)]
#[diesel(table_name = up_used_oauth_states)]
pub struct UsedOAuthState<'a> {
    pub digest: &'a str,
    /// When the state expires anyway (Unix seconds); the row may go after that.
    pub expires_at: i64,
}

impl UsedOAuthState<'_> {
    /// Records the state as used. A unique violation means it was used before.
    pub async fn insert(&self, conn: &mut Conn) -> QueryResult<usize> {
        on_conn!(conn, |c| diesel::insert_into(up_used_oauth_states::table)
            .values(self)
            .execute(c)
            .await)
    }

    /// Forgets the states that expired before `now` (Unix seconds): their cookies are refused
    /// by their own expiry.
    pub async fn delete_expired(conn: &mut Conn, now: i64) -> QueryResult<usize> {
        on_conn!(conn, |c| diesel::delete(
            up_used_oauth_states::table.filter(up_used_oauth_states::expires_at.lt(now))
        )
        .execute(c)
        .await)
    }
}
