//! What an import from Strapi and a permissions file need of the database beyond the models'
//! everyday queries: one transaction around many model calls, and a few lookups and writes.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl, TransactionManager};

use crate::db::models::{Permission, Role, StoredCondition, User};
use crate::db::schema::{up_conditions, up_permissions, up_users};
use crate::db::{Backend, Conn};
use crate::on_conn;

async fn begin_on<C: AsyncConnection>(c: &mut C) -> QueryResult<()> {
    C::TransactionManager::begin_transaction(c).await
}

async fn commit_on<C: AsyncConnection>(c: &mut C) -> QueryResult<()> {
    C::TransactionManager::commit_transaction(c).await
}

async fn rollback_on<C: AsyncConnection>(c: &mut C) -> QueryResult<()> {
    C::TransactionManager::rollback_transaction(c).await
}

impl Conn {
    /// Opens a transaction that the model functions called with this connection join (their
    /// own transactions become savepoints). End it with [`Conn::commit`] or [`Conn::rollback`].
    pub async fn begin(&mut self) -> QueryResult<()> {
        on_conn!(self, |c| begin_on(c).await)
    }

    pub async fn commit(&mut self) -> QueryResult<()> {
        on_conn!(self, |c| commit_on(c).await)
    }

    pub async fn rollback(&mut self) -> QueryResult<()> {
        on_conn!(self, |c| rollback_on(c).await)
    }

    pub fn backend(&self) -> Backend {
        match self {
            Conn::Postgres(_) => Backend::Postgres,
            Conn::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Within a transaction on PostgreSQL: waits until no other process is applying a
    /// permissions file or an import, so that instances started together take turns. (SQLite
    /// allows one writer at a time anyway.)
    pub async fn lock_for_sync(&mut self) -> QueryResult<()> {
        if let Conn::Postgres(pooled) = self {
            let c: &mut diesel_async::AsyncPgConnection = &mut *pooled;
            // Any fixed key: "castellan sync".
            diesel::sql_query("SELECT pg_advisory_xact_lock(73010022)")
                .execute(c)
                .await?;
        }
        Ok(())
    }
}

impl User {
    /// The user with this exact username.
    pub async fn find_by_username(conn: &mut Conn, username: &str) -> QueryResult<Option<User>> {
        on_conn!(conn, |c| up_users::table
            .filter(up_users::username.eq(username))
            .select(User::as_select())
            .first(c)
            .await
            .optional())
    }

    /// Stores the document id of an imported user (Strapi's own).
    pub async fn set_document_id(conn: &mut Conn, id: i32, document_id: &str) -> QueryResult<()> {
        on_conn!(conn, |c| diesel::update(up_users::table.find(id))
            .set(up_users::document_id.eq(document_id))
            .execute(c)
            .await
            .map(|_| ()))
    }
}

impl Role {
    /// Stores the document id of an imported role (Strapi's own).
    pub async fn set_document_id(conn: &mut Conn, id: i32, document_id: &str) -> QueryResult<()> {
        use crate::db::schema::up_roles;
        on_conn!(conn, |c| diesel::update(up_roles::table.find(id))
            .set(up_roles::document_id.eq(document_id))
            .execute(c)
            .await
            .map(|_| ()))
    }
}

impl Permission {
    /// Changes the conditions and fields of one grant.
    pub async fn set_conditions_and_fields(
        conn: &mut Conn,
        id: i32,
        conditions: &str,
        fields: Option<&str>,
    ) -> QueryResult<()> {
        on_conn!(conn, |c| diesel::update(up_permissions::table.find(id))
            .set((
                up_permissions::conditions.eq(conditions),
                up_permissions::fields.eq(fields),
                up_permissions::updated_at.eq(super::models::now()),
            ))
            .execute(c)
            .await
            .map(|_| ()))
    }
}

impl StoredCondition {
    /// Changes the display name, category and query object of a stored condition.
    pub async fn update(&self, conn: &mut Conn) -> QueryResult<()> {
        on_conn!(conn, |c| diesel::update(
            up_conditions::table.find(&self.name)
        )
        .set((
            up_conditions::display_name.eq(&self.display_name),
            up_conditions::category.eq(&self.category),
            up_conditions::query.eq(&self.query),
        ))
        .execute(c)
        .await
        .map(|_| ()))
    }
}
