use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::Conn;
use crate::db::models::Role;
use crate::db::schema::{up_roles, up_users};
use crate::db::stamp::Stamp;
use crate::{load_on_conn, on_conn};

/// A user row. It holds secrets (the password hash, token hashes): it is never a GraphQL type.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = up_users)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct User {
    pub id: i32,
    pub document_id: String,
    pub username: String,
    pub email: String,
    pub unique_email: Option<String>,
    pub provider: String,
    pub password: Option<String>,
    pub reset_password_token: Option<String>,
    pub reset_password_expires_at: Option<NaiveDateTime>,
    pub confirmation_token: Option<String>,
    pub confirmed: bool,
    pub blocked: bool,
    pub role_id: i32,
    pub attributes: String,
    /// JWTs of this user without a `gen` claim (issued by earlier versions) issued (`iat`)
    /// before this Unix time are refused.
    pub tokens_valid_after: i64,
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
    /// Only JWTs carrying this generation (claim `gen`) are valid; a new password moves it on.
    pub token_generation: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = up_users)]
pub struct NewUser<'a> {
    pub document_id: &'a str,
    pub username: &'a str,
    pub email: &'a str,
    pub unique_email: Option<&'a str>,
    pub provider: &'a str,
    pub password: Option<&'a str>,
    pub confirmation_token: Option<&'a str>,
    pub confirmed: bool,
    pub blocked: bool,
    pub role_id: i32,
    pub attributes: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl<'a> NewUser<'a> {
    /// A user as every way of creating one starts: signs in locally, no password, unconfirmed,
    /// not blocked, no attributes, created now. `unique_email` reserves the email (the setting
    /// of one account per address) so that concurrent sign-ups cannot share it.
    pub fn new(
        document_id: &'a str,
        username: &'a str,
        email: &'a str,
        role_id: i32,
        unique_email: bool,
    ) -> Self {
        Self {
            document_id,
            username,
            email,
            unique_email: unique_email.then_some(email),
            provider: "local",
            password: None,
            confirmation_token: None,
            confirmed: false,
            blocked: false,
            role_id,
            attributes: "{}",
            created_at: super::now(),
            updated_at: super::now(),
        }
    }

    pub fn provider(self, provider: &'a str) -> Self {
        Self { provider, ..self }
    }

    pub fn password(self, password: Option<&'a str>) -> Self {
        Self { password, ..self }
    }

    /// The stored hash of the code the confirmation email carries.
    pub fn confirmation_token(self, confirmation_token: Option<&'a str>) -> Self {
        Self {
            confirmation_token,
            ..self
        }
    }

    pub fn confirmed(self, confirmed: bool) -> Self {
        Self { confirmed, ..self }
    }

    pub fn blocked(self, blocked: bool) -> Self {
        Self { blocked, ..self }
    }

    /// The attributes as stored: a JSON object's text.
    pub fn attributes(self, attributes: &'a str) -> Self {
        Self { attributes, ..self }
    }

    /// When the user was created and last changed, where they come from elsewhere (an import).
    pub fn times(self, created_at: NaiveDateTime, updated_at: NaiveDateTime) -> Self {
        Self {
            created_at,
            updated_at,
            ..self
        }
    }
}

/// The columns of a user that lists show: all but the secrets, which a list never reads.
/// Fewer columns also mean less to send and decode per row: each costs ~250 instructions to
/// read through tokio-postgres, and a page of 20 users had 17 of them.
#[derive(Queryable, Selectable)]
#[diesel(table_name = up_users)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct Displayed {
    id: i32,
    document_id: String,
    username: String,
    email: String,
    provider: String,
    confirmed: bool,
    blocked: bool,
    role_id: i32,
    attributes: String,
    tokens_valid_after: i64,
    #[diesel(deserialize_as = Stamp)]
    created_at: NaiveDateTime,
    #[diesel(deserialize_as = Stamp)]
    updated_at: NaiveDateTime,
    token_generation: i64,
}

impl From<Displayed> for User {
    /// The user without their secrets: `password`, `unique_email`, the token hashes and the
    /// reset expiry are `None`.
    fn from(row: Displayed) -> Self {
        let Displayed {
            id,
            document_id,
            username,
            email,
            provider,
            confirmed,
            blocked,
            role_id,
            attributes,
            tokens_valid_after,
            created_at,
            updated_at,
            token_generation,
        } = row;
        User {
            id,
            document_id,
            username,
            email,
            unique_email: None,
            provider,
            password: None,
            reset_password_token: None,
            reset_password_expires_at: None,
            confirmation_token: None,
            confirmed,
            blocked,
            role_id,
            attributes,
            tokens_valid_after,
            created_at,
            updated_at,
            token_generation,
        }
    }
}

/// Whether a list's filters (or its order) read the roles' columns (`role.name`, …), which
/// then must be joined. Every user has exactly one role (`role_id` is a required foreign key),
/// so the join never adds or removes a row: without it, PostgreSQL spends less on each list (no
/// join to set up and run per execution).
fn reads_roles(
    filter: &crate::db::sql::SqlWhere,
    scope: Option<&crate::filter::SqlFilter>,
    order: Option<&crate::db::sql::SqlOrder>,
) -> bool {
    filter.mentions("up_roles.")
        || scope.is_some_and(|scope| scope.mentions("up_roles."))
        || order.is_some_and(|order| order.as_str().contains("up_roles."))
}

impl User {
    /// The user and their role, in one query.
    pub async fn find_with_role(conn: &mut Conn, id: i32) -> QueryResult<Option<(User, Role)>> {
        on_conn!(conn, |c| up_users::table
            .inner_join(up_roles::table)
            .filter(up_users::id.eq(id))
            .select((User::as_select(), Role::as_select()))
            .first(c)
            .await
            .optional())
    }

    /// Local accounts whose email (compared lower-case) or username is `identifier`: email
    /// matches first, oldest first, so nobody can shadow an email by choosing it as username.
    pub async fn find_local_by_identifier(
        conn: &mut Conn,
        identifier: &str,
    ) -> QueryResult<Vec<(User, Role)>> {
        let email = identifier.to_lowercase();
        let mut found = load_on_conn!(
            conn,
            (User, Role),
            up_users::table
                .inner_join(up_roles::table)
                .filter(up_users::provider.eq("local"))
                .filter(
                    up_users::email
                        .eq(email.clone())
                        .or(up_users::username.eq(identifier.to_owned()))
                )
                .order(up_users::id)
                .select((User::as_select(), Role::as_select()))
                .limit(8)
        )?;
        found.sort_by_key(|(user, _)| user.email != email);
        Ok(found)
    }

    pub async fn delete(conn: &mut Conn, id: i32) -> QueryResult<bool> {
        on_conn!(conn, |c| diesel::delete(up_users::table.find(id))
            .execute(c)
            .await
            .map(|n| n > 0))
    }

    pub async fn set_blocked(conn: &mut Conn, id: i32, blocked: bool) -> QueryResult<bool> {
        on_conn!(conn, |c| diesel::update(up_users::table.find(id))
            .set((
                up_users::blocked.eq(blocked),
                up_users::updated_at.eq(super::now())
            ))
            .execute(c)
            .await
            .map(|n| n > 0))
    }

    pub async fn set_role(conn: &mut Conn, id: i32, role_id: i32) -> QueryResult<bool> {
        on_conn!(conn, |c| diesel::update(up_users::table.find(id))
            .set((
                up_users::role_id.eq(role_id),
                up_users::updated_at.eq(super::now())
            ))
            .execute(c)
            .await
            .map(|n| n > 0))
    }
}

impl NewUser<'_> {
    pub async fn insert(&self, conn: &mut Conn) -> QueryResult<User> {
        on_conn!(conn, |c| diesel::insert_into(up_users::table)
            .values(self)
            .returning(User::as_returning())
            .get_result(c)
            .await)
    }
}

/// Credential changes, one statement each, so each is atomic and a one-time code can be used
/// only once.
impl User {
    pub async fn find(conn: &mut Conn, id: i32) -> QueryResult<Option<User>> {
        on_conn!(conn, |c| up_users::table
            .find(id)
            .select(User::as_select())
            .first(c)
            .await
            .optional())
    }

    /// The oldest local account with this (lower-case) email.
    pub async fn find_local_by_email(conn: &mut Conn, email: &str) -> QueryResult<Option<User>> {
        on_conn!(conn, |c| up_users::table
            .filter(up_users::provider.eq("local"))
            .filter(up_users::email.eq(email))
            .order(up_users::id)
            .select(User::as_select())
            .first(c)
            .await
            .optional())
    }

    /// Stores the hash of a new reset code and its expiry, replacing any earlier code.
    pub async fn set_reset_code(
        conn: &mut Conn,
        id: i32,
        code_hash: &str,
        expires_at: NaiveDateTime,
    ) -> QueryResult<bool> {
        on_conn!(conn, |c| diesel::update(up_users::table.find(id))
            .set((
                up_users::reset_password_token.eq(code_hash),
                up_users::reset_password_expires_at.eq(expires_at),
                up_users::updated_at.eq(super::now()),
            ))
            .execute(c)
            .await
            .map(|n| n > 0))
    }

    /// Sets the password of the account whose unexpired reset code hashes to `code_hash`,
    /// consuming the code. `None` when no such code exists (unknown, used or expired).
    pub async fn reset_password_by_code(
        conn: &mut Conn,
        code_hash: &str,
        password_hash: &str,
        tokens_valid_after: i64,
    ) -> QueryResult<Option<User>> {
        let now = super::now();
        on_conn!(conn, |c| diesel::update(
            up_users::table
                .filter(up_users::reset_password_token.eq(code_hash))
                .filter(up_users::reset_password_expires_at.gt(now))
        )
        .set((
            up_users::password.eq(password_hash),
            up_users::reset_password_token.eq(None::<String>),
            up_users::reset_password_expires_at.eq(None::<NaiveDateTime>),
            up_users::tokens_valid_after.eq(tokens_valid_after),
            up_users::token_generation.eq(up_users::token_generation + 1),
            up_users::updated_at.eq(now),
        ))
        .returning(User::as_returning())
        .get_result(c)
        .await
        .optional())
    }

    /// Sets a new password; the user's earlier JWTs stop working (the generation moves on, and
    /// tokens without one issued before `tokens_valid_after` are refused).
    pub async fn set_password(
        conn: &mut Conn,
        id: i32,
        password_hash: &str,
        tokens_valid_after: i64,
    ) -> QueryResult<Option<User>> {
        on_conn!(conn, |c| diesel::update(up_users::table.find(id))
            .set((
                up_users::password.eq(password_hash),
                up_users::reset_password_token.eq(None::<String>),
                up_users::reset_password_expires_at.eq(None::<NaiveDateTime>),
                up_users::tokens_valid_after.eq(tokens_valid_after),
                up_users::token_generation.eq(up_users::token_generation + 1),
                up_users::updated_at.eq(super::now()),
            ))
            .returning(User::as_returning())
            .get_result(c)
            .await
            .optional())
    }

    /// Stores the hash of a new confirmation code, replacing any earlier one.
    pub async fn set_confirmation_code(
        conn: &mut Conn,
        id: i32,
        code_hash: &str,
    ) -> QueryResult<bool> {
        on_conn!(conn, |c| diesel::update(up_users::table.find(id))
            .set((
                up_users::confirmation_token.eq(code_hash),
                up_users::updated_at.eq(super::now())
            ))
            .execute(c)
            .await
            .map(|n| n > 0))
    }

    /// Confirms the account whose confirmation code hashes to `code_hash`, consuming the code.
    pub async fn confirm_by_code(conn: &mut Conn, code_hash: &str) -> QueryResult<Option<User>> {
        on_conn!(conn, |c| diesel::update(
            up_users::table.filter(up_users::confirmation_token.eq(code_hash))
        )
        .set((
            up_users::confirmed.eq(true),
            up_users::confirmation_token.eq(None::<String>),
            up_users::updated_at.eq(super::now()),
        ))
        .returning(User::as_returning())
        .get_result(c)
        .await
        .optional())
    }
}

/// Changes to a user's columns; `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = up_users)]
pub struct UserChanges<'a> {
    pub username: Option<&'a str>,
    pub email: Option<&'a str>,
    pub unique_email: Option<Option<&'a str>>,
    pub provider: Option<&'a str>,
    pub password: Option<&'a str>,
    pub reset_password_token: Option<&'a str>,
    pub reset_password_expires_at: Option<NaiveDateTime>,
    pub confirmation_token: Option<&'a str>,
    pub confirmed: Option<bool>,
    pub blocked: Option<bool>,
    pub role_id: Option<i32>,
    pub attributes: Option<&'a str>,
    pub tokens_valid_after: Option<i64>,
    pub updated_at: Option<NaiveDateTime>,
}

impl User {
    pub async fn find_by_document_id(
        conn: &mut Conn,
        document_id: &str,
    ) -> QueryResult<Option<(User, Role)>> {
        on_conn!(conn, |c| up_users::table
            .inner_join(up_roles::table)
            .filter(up_users::document_id.eq(document_id))
            .select((User::as_select(), Role::as_select()))
            .first(c)
            .await
            .optional())
    }

    /// Users matching `filter` and, when given, `scope` (a grant's conditions), in `order`
    /// (SQL from a whitelist), one page, for display: the secrets are not read. `password`,
    /// `unique_email`, the reset and confirmation token hashes and the reset expiry are `None`.
    ///
    /// The roles' columns are never selected: callers take the roles from the policy's
    /// snapshot. On PostgreSQL, selecting the 7 role columns of 20 rows halved the rate at which
    /// the server ran this query, and the 6 secret ones took another 8 % (pgbench). The roles
    /// are joined only when `filter`, `scope` or `order` reads them (see [`reads_roles`]).
    pub async fn page_for_display(
        conn: &mut Conn,
        filter: &crate::db::sql::SqlWhere,
        scope: Option<&crate::filter::SqlFilter>,
        order: &crate::db::sql::SqlOrder,
        offset: i64,
        limit: i64,
    ) -> QueryResult<Vec<User>> {
        macro_rules! page {
            ($from:expr) => {{
                let mut query = $from
                    .filter(filter.clone())
                    .select(Displayed::as_select())
                    .into_boxed();
                if let Some(scope) = scope {
                    query = query.filter(scope.clone());
                }
                query.order(order.paged(limit, offset))
            }};
        }
        let rows = if reads_roles(filter, scope, Some(order)) {
            load_on_conn!(
                conn,
                Displayed,
                page!(up_users::table.inner_join(up_roles::table))
            )
        } else {
            load_on_conn!(conn, Displayed, page!(up_users::table))
        };
        Ok(rows?.into_iter().map(User::from).collect())
    }

    /// How many users match `filter` within `scope`; the roles are joined as for
    /// [`User::page_for_display`].
    pub async fn count(
        conn: &mut Conn,
        filter: &crate::db::sql::SqlWhere,
        scope: Option<&crate::filter::SqlFilter>,
    ) -> QueryResult<i64> {
        macro_rules! count {
            ($from:expr) => {
                on_conn!(conn, |c| {
                    let mut query = $from.filter(filter.clone()).into_boxed();
                    if let Some(scope) = scope {
                        query = query.filter(scope.clone());
                    }
                    query.count().get_result(c).await
                })
            };
        }
        if reads_roles(filter, scope, None) {
            count!(up_users::table.inner_join(up_roles::table))
        } else {
            count!(up_users::table)
        }
    }

    /// The query plan of counting the users within `scope`, one line per step (SQLite's
    /// `EXPLAIN QUERY PLAN`, PostgreSQL's `EXPLAIN` with sequential scans off): shows whether
    /// an index serves it, for tests and diagnosis.
    pub async fn count_plan(
        conn: &mut Conn,
        scope: &crate::filter::SqlFilter,
    ) -> QueryResult<Vec<String>> {
        #[derive(diesel::QueryableByName)]
        struct SqliteStep {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        #[derive(diesel::QueryableByName)]
        struct PostgresStep {
            #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
            step: String,
        }
        let from = format!("SELECT count(*) FROM up_users WHERE {}", scope.inlined());
        match conn {
            Conn::Sqlite(c) => {
                let query = diesel::sql_query(format!("EXPLAIN QUERY PLAN {from}"));
                let steps: Vec<SqliteStep> =
                    diesel_async::RunQueryDsl::load(query, &mut **c).await?;
                Ok(steps.into_iter().map(|s| s.detail).collect())
            }
            Conn::Postgres(c) => {
                use diesel_async::SimpleAsyncConnection as _;
                // A small table is read whole whatever its indexes: with sequential scans
                // off, the plan shows whether an index can serve the query at all.
                c.batch_execute("SET enable_seqscan = off").await?;
                let query = diesel::sql_query(format!("EXPLAIN {from}"));
                let steps: QueryResult<Vec<PostgresStep>> =
                    diesel_async::RunQueryDsl::load(query, &mut **c).await;
                c.batch_execute("RESET enable_seqscan").await?;
                Ok(steps?.into_iter().map(|s| s.step).collect())
            }
        }
    }

    pub async fn update(
        conn: &mut Conn,
        id: i32,
        changes: &UserChanges<'_>,
    ) -> QueryResult<Option<User>> {
        // A new password (it comes with `tokens_valid_after`) ends the earlier JWTs.
        let revoked = i64::from(changes.tokens_valid_after.is_some());
        on_conn!(conn, |c| diesel::update(up_users::table.find(id))
            .set((
                changes,
                up_users::token_generation.eq(up_users::token_generation + revoked),
            ))
            .returning(User::as_returning())
            .get_result(c)
            .await
            .optional())
    }
}

impl User {
    /// Every account with this (lower-case) email, oldest first.
    pub async fn find_by_email(conn: &mut Conn, email: &str) -> QueryResult<Vec<(User, Role)>> {
        load_on_conn!(
            conn,
            (User, Role),
            up_users::table
                .inner_join(up_roles::table)
                .filter(up_users::email.eq(email.to_owned()))
                .order(up_users::id)
                .select((User::as_select(), Role::as_select()))
        )
    }
}
