use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::Conn;
use crate::db::schema::{up_session_used_tokens, up_sessions};
use crate::on_conn;

/// A session of the refresh mode: one signed-in device of a user. Its refresh token is kept
/// only as `refresh_hash` (SHA-256, hex).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = up_sessions)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct SessionRow {
    pub id: String,
    pub user_id: i32,
    pub device_id: Option<String>,
    pub device_name: String,
    pub refresh_hash: String,
    pub created_at: chrono::NaiveDateTime,
    pub last_used_at: chrono::NaiveDateTime,
    /// Unix seconds.
    pub idle_expires_at: i64,
    /// Unix seconds.
    pub absolute_expires_at: i64,
    /// Unix seconds, once ended.
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = up_sessions)]
pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: i32,
    pub device_id: Option<&'a str>,
    pub device_name: &'a str,
    pub refresh_hash: &'a str,
    pub created_at: chrono::NaiveDateTime,
    pub last_used_at: chrono::NaiveDateTime,
    pub idle_expires_at: i64,
    pub absolute_expires_at: i64,
}

impl NewSession<'_> {
    pub async fn insert(&self, conn: &mut Conn) -> QueryResult<usize> {
        on_conn!(conn, |c| diesel::insert_into(up_sessions::table)
            .values(self)
            .execute(c)
            .await)
    }
}

/// What a rotation writes: the new hash and the new idle expiry.
pub struct Rotation<'a> {
    pub old_hash: &'a str,
    pub new_hash: &'a str,
    pub now: i64,
    pub idle_expires_at: i64,
}

impl SessionRow {
    /// Exchanges the live session's current refresh token (`old_hash`) for a new one, in one
    /// statement: of two requests with the same token, one wins. `None` when no live session
    /// (not ended, not expired) holds `old_hash`.
    pub async fn rotate(conn: &mut Conn, rotation: &Rotation<'_>) -> QueryResult<Option<Self>> {
        let last_used = crate::db::models::now();
        on_conn!(conn, |c| diesel::update(
            up_sessions::table
                .filter(up_sessions::refresh_hash.eq(rotation.old_hash))
                .filter(up_sessions::revoked_at.is_null())
                .filter(up_sessions::idle_expires_at.gt(rotation.now))
                .filter(up_sessions::absolute_expires_at.gt(rotation.now))
        )
        .set((
            up_sessions::refresh_hash.eq(rotation.new_hash),
            up_sessions::last_used_at.eq(last_used),
            up_sessions::idle_expires_at.eq(rotation.idle_expires_at),
        ))
        .returning(SessionRow::as_returning())
        .get_result(c)
        .await
        .optional())
    }

    /// Remembers an exchanged refresh token of `session_id`, to recognise it if it comes back.
    pub async fn remember_used(
        conn: &mut Conn,
        hash: &str,
        session_id: &str,
    ) -> QueryResult<usize> {
        on_conn!(conn, |c| diesel::insert_into(up_session_used_tokens::table)
            .values((
                up_session_used_tokens::hash.eq(hash),
                up_session_used_tokens::session_id.eq(session_id),
            ))
            .execute(c)
            .await)
    }

    /// The session that once exchanged the refresh token of this hash.
    pub async fn find_by_used_hash(conn: &mut Conn, hash: &str) -> QueryResult<Option<Self>> {
        on_conn!(conn, |c| up_session_used_tokens::table
            .inner_join(up_sessions::table)
            .filter(up_session_used_tokens::hash.eq(hash))
            .select(SessionRow::as_select())
            .first(c)
            .await
            .optional())
    }

    /// The live sessions of a user, the most recently used first.
    pub async fn live_of_user(conn: &mut Conn, user_id: i32, now: i64) -> QueryResult<Vec<Self>> {
        on_conn!(conn, |c| up_sessions::table
            .filter(up_sessions::user_id.eq(user_id))
            .filter(up_sessions::revoked_at.is_null())
            .filter(up_sessions::idle_expires_at.gt(now))
            .filter(up_sessions::absolute_expires_at.gt(now))
            .order((up_sessions::last_used_at.desc(), up_sessions::id.asc()))
            .select(SessionRow::as_select())
            .load(c)
            .await)
    }

    /// Ends the live sessions of `user_id` that `which` names; the ids of those it ended.
    pub async fn revoke(
        conn: &mut Conn,
        user_id: i32,
        which: Which<'_>,
        now: i64,
    ) -> QueryResult<Vec<String>> {
        on_conn!(conn, |c| {
            let mut query = diesel::update(up_sessions::table)
                .filter(up_sessions::user_id.eq(user_id))
                .filter(up_sessions::revoked_at.is_null())
                .into_boxed();
            match which {
                Which::All => {}
                Which::Session(id) => query = query.filter(up_sessions::id.eq(id)),
                Which::Device(device) => query = query.filter(up_sessions::device_id.eq(device)),
            }
            query
                .set(up_sessions::revoked_at.eq(now))
                .returning(up_sessions::id)
                .get_results(c)
                .await
        })
    }

    /// The ids of the sessions ended since `since` (Unix seconds), whose access JWTs may still
    /// be unexpired.
    pub async fn revoked_since(conn: &mut Conn, since: i64) -> QueryResult<Vec<(String, i64)>> {
        on_conn!(conn, |c| up_sessions::table
            .filter(up_sessions::revoked_at.ge(since))
            .select((up_sessions::id, up_sessions::revoked_at.assume_not_null()))
            .load(c)
            .await)
    }

    /// Deletes the sessions that expired or ended before `before` (Unix seconds), with the
    /// tokens they used.
    pub async fn delete_finished(conn: &mut Conn, before: i64) -> QueryResult<usize> {
        on_conn!(conn, |c| diesel::delete(
            up_sessions::table.filter(
                up_sessions::idle_expires_at
                    .lt(before)
                    .or(up_sessions::absolute_expires_at.lt(before))
                    .or(up_sessions::revoked_at.lt(before))
            )
        )
        .execute(c)
        .await)
    }
}

/// Which sessions of a user [`SessionRow::revoke`] ends.
#[derive(Debug, Clone, Copy)]
pub enum Which<'a> {
    All,
    Session(&'a str),
    Device(&'a str),
}
