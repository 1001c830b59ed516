//! One pool over SQLite (the embedded default) or PostgreSQL, chosen at run time from the URL.
//! Queries are written once: [`on_conn!`] type-checks a query body for each backend, and
//! [`load_on_conn!`] does the same for queries that read rows.

pub mod blocking;
pub mod fields;
pub mod models;
pub mod schema;
pub mod sql;
pub mod stamp;
pub mod strapi;
pub mod sync;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use diesel::sqlite::SqliteConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::{AppError, AppResult};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

pub type SqliteConn = SyncConnectionWrapper<SqliteConnection, blocking::SqliteRuntime>;

/// Which database a [`Db`] talks to: the one dialect enum, which the condition compiler
/// (below `db`) owns.
pub use crate::filter::Dialect as Backend;

/// The connection pool, and how many connections were asked of it.
#[derive(Clone)]
pub struct Db {
    pool: Pools,
    /// Connections asked of the pool through [`Db::conn`] since start (a wait that times out
    /// counts too): `/metrics` shows it, so a request that should need no database (a cached
    /// user, an authorization from the snapshot) can be seen to take none.
    checkouts: Arc<AtomicU64>,
    /// The PostgreSQL server's host and port, named when it cannot be reached.
    postgres_server: Option<Arc<(String, u16)>>,
}

#[derive(Clone)]
enum Pools {
    Postgres(Pool<AsyncPgConnection>),
    Sqlite(Pool<SqliteConn>),
}

impl From<Pools> for Db {
    fn from(pool: Pools) -> Self {
        Self {
            pool,
            checkouts: Arc::default(),
            postgres_server: None,
        }
    }
}

/// A pooled connection to either backend.
#[expect(
    clippy::large_enum_variant,
    reason = "one lives per request; boxing would cost an allocation each"
)]
pub enum Conn {
    Postgres(Object<AsyncPgConnection>),
    Sqlite(Object<SqliteConn>),
}

/// Runs `$body` with `$c` bound to the concrete connection of `$conn` (a `&mut Conn`).
/// The body is compiled once per backend, so one query text serves both.
#[macro_export]
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::Conn::Postgres(pooled) => {
                let $c: &mut ::diesel_async::AsyncPgConnection = &mut *pooled;
                $body
            }
            $crate::db::Conn::Sqlite(pooled) => {
                let $c: &mut $crate::db::SqliteConn = &mut *pooled;
                $body
            }
        }
    };
}

/// Loads the rows of a read query, written once for both backends as with [`on_conn!`].
/// On SQLite the query runs on the calling thread and its rows are decoded where SQLite holds
/// them, not first copied out (see [`blocking`]); it must own its bound values (`'static`).
#[macro_export]
macro_rules! load_on_conn {
    ($conn:expr, $row:ty, $query:expr) => {
        match $conn {
            $crate::db::Conn::Postgres(pooled) => {
                let c: &mut ::diesel_async::AsyncPgConnection = &mut *pooled;
                ::diesel_async::RunQueryDsl::load::<$row>($query, c).await
            }
            $crate::db::Conn::Sqlite(pooled) => {
                let query = $query;
                // The call is made inside `inline`, which decides where it runs.
                $crate::db::blocking::inline(async move {
                    pooled
                        .spawn_blocking(move |c| ::diesel::RunQueryDsl::load::<$row>(query, c))
                        .await
                })
                .await
            }
        }
    };
}

/// Runs the pending `migrations` on `conn` in one transaction (each migration's own becomes a
/// savepoint); how many ran. Blocks the calling worker thread meanwhile, as diesel's migration
/// harness is synchronous.
fn run_pending<C>(conn: C, migrations: EmbeddedMigrations) -> diesel::migration::Result<usize>
where
    C: diesel_async::AsyncConnection,
    AsyncConnectionWrapper<C>:
        diesel::Connection<Backend = C::Backend> + MigrationHarness<C::Backend>,
{
    let mut wrapped = AsyncConnectionWrapper::<C>::from(conn);
    tokio::task::block_in_place(|| {
        diesel::Connection::transaction(&mut wrapped, |c| {
            c.run_pending_migrations(migrations)
                .map(|applied| applied.len())
        })
    })
}

/// The longest a request waits for a database connection (or a new connection to open).
pub const CONNECTION_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl Db {
    /// Opens a pool for `url`: `sqlite://PATH` (or `sqlite::memory:`) or `postgres://…`.
    /// Connections are opened lazily; nothing touches the database before the first query.
    pub fn connect(url: &str, pool_size: Option<usize>) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut config = ManagerConfig::<AsyncPgConnection>::default();
            // A pooled connection is reused as it is: a connection the server closed is
            // noticed (and dropped) without a test query, which would cost a round trip on
            // every request.
            config.recycling_method = RecyclingMethod::Fast;
            config.custom_setup = Box::new(|url| {
                Box::pin(async move {
                    let mut conn = AsyncPgConnection::establish(url).await?;
                    // Condition filters walk JSON with set-returning functions whose row
                    // estimates make the planner JIT-compile every such query: ~0.8 s spent
                    // compiling ~4 ms of work. Castellan's queries never gain from JIT.
                    // Statements are prepared once per connection; planning them anew for
                    // each execution (PostgreSQL's custom plans) cost ~1 ms per condition
                    // query against ~0.1 ms of execution. Their parameters never change which
                    // plan is best (small lookups, pages, JSON tests), so the generic plan is
                    // kept.
                    conn.batch_execute("SET jit = off; SET plan_cache_mode = force_generic_plan")
                        .await
                        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                    Ok(conn)
                })
            });
            let manager =
                AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
            let pool = Pool::builder(manager)
                .max_size(pool_size.unwrap_or(16))
                .build()?;
            let mut db: Self = Pools::Postgres(pool).into();
            db.postgres_server = url::Url::parse(url).ok().map(|parsed| {
                let host = parsed.host_str().unwrap_or("localhost").to_string();
                Arc::new((host, parsed.port().unwrap_or(5432)))
            });
            return Ok(db);
        }
        let path = sqlite_path(url)?;
        if !path.starts_with("file:")
            && let Some(dir) = Path::new(&path)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the directory of the SQLite file {path}"))?;
        }
        let mut config = ManagerConfig::<SqliteConn>::default();
        // A file on this machine: nothing to test before reusing a connection.
        config.recycling_method = RecyclingMethod::Fast;
        config.custom_setup = Box::new(|url| {
            Box::pin(async move {
                let mut conn = SqliteConn::establish(url).await?;
                conn.batch_execute(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                     PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
                )
                .await
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(conn)
            })
        });
        let manager = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(path, config);
        let pool = Pool::builder(manager)
            .max_size(pool_size.unwrap_or(4))
            .build()?;
        Ok(Pools::Sqlite(pool).into())
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pools::Postgres(_) => Backend::Postgres,
            Pools::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Connections asked of the pool through [`Db::conn`] since start.
    pub fn checkouts(&self) -> u64 {
        self.checkouts.load(Ordering::Relaxed)
    }

    /// Why the PostgreSQL server cannot be reached, naming its host and port: the driver says
    /// only "error connecting to server", so a TCP connection tells refused from unknown host
    /// from timeout; when TCP works the driver's own words (authentication, database) are kept.
    async fn unreachable(&self, error: &dyn std::fmt::Display) -> anyhow::Error {
        let Some(server) = self.postgres_server.as_deref() else {
            return anyhow::anyhow!("connecting to PostgreSQL: {error}");
        };
        let (host, port) = (server.0.as_str(), server.1);
        let probe = tokio::time::timeout(
            CONNECTION_WAIT,
            tokio::net::TcpStream::connect((host, port)),
        )
        .await;
        let cause = match probe {
            Ok(Err(refused)) => refused.to_string(),
            Err(_) => format!("no answer within {} s", CONNECTION_WAIT.as_secs()),
            Ok(Ok(_)) => error.to_string(),
        };
        anyhow::anyhow!("cannot connect to PostgreSQL at {host}:{port} (DATABASE_URL): {cause}")
    }

    /// Brings the database to the declared attributes (`[[user.attributes]]`) at start-up:
    /// checks that every user's value of a typed attribute has its type (the SQL of conditions
    /// on an indexed attribute is exact only then), creates the index of each attribute
    /// declared `indexed` or `unique` that lacks one (on PostgreSQL, on a stored generated
    /// column added for it), and drops the indexes (and columns) of attributes no longer
    /// declared so. Idempotent: a second start with the same declaration changes nothing.
    pub async fn migrate_attributes(
        &self,
        attributes: &fields::UserAttributes,
    ) -> anyhow::Result<()> {
        use diesel_async::RunQueryDsl as _;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            value: String,
        }
        let dialect = self.backend();
        let mut conn = self.conn().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let load = async |conn: &mut Conn, sql: String| -> anyhow::Result<Vec<String>> {
            let rows: Vec<Row> = on_conn!(conn, |c| diesel::sql_query(&sql).load(c).await)
                .with_context(|| format!("reading the declared attributes' state: {sql}"))?;
            Ok(rows.into_iter().map(|r| r.value).collect())
        };
        for attribute in attributes.declared() {
            let Some(sql) = fields::UserAttributes::misfits_sql(attribute, dialect) else {
                continue;
            };
            let ids = load(&mut conn, sql).await?;
            if !ids.is_empty() {
                anyhow::bail!(
                    "user.attributes: `{name}` is declared {kind}, but users hold another type \
                     there (ids {ids}…): correct their attributes.{name}, or change its type",
                    name = attribute.name,
                    kind = attribute.kind.name(),
                    ids = ids.join(", ")
                );
            }
        }
        // PostgreSQL: the generated columns the indexes are built on, first.
        let columns = match fields::UserAttributes::existing_columns_sql(dialect) {
            Some(sql) => load(&mut conn, sql).await?,
            None => Vec::new(),
        };
        let wanted_columns = attributes.columns(dialect);
        let mut added = Vec::new();
        for (name, add) in &wanted_columns {
            if columns.contains(name) {
                continue;
            }
            on_conn!(&mut conn, |c| c.batch_execute(add).await)
                .with_context(|| format!("adding the column {name} of a declared attribute"))?;
            tracing::info!(column = %name, "declared attribute's column added");
            added.push(format!("\"{name}\""));
        }
        let mut existing = load(
            &mut conn,
            fields::UserAttributes::existing_indexes_sql(dialect),
        )
        .await?;
        let wanted = attributes.indexes(dialect);
        // An index of the same name built before its column existed (on the expression, by an
        // earlier Castellan) is built again, on the column.
        for (name, create) in &wanted {
            if existing.contains(name) && added.iter().any(|column| create.contains(column)) {
                let drop = format!("DROP INDEX IF EXISTS \"{name}\"");
                on_conn!(&mut conn, |c| c.batch_execute(&drop).await)
                    .with_context(|| format!("dropping the index {name}"))?;
                existing.retain(|e| e != name);
            }
        }
        for (name, create) in &wanted {
            if existing.contains(name) {
                continue;
            }
            on_conn!(&mut conn, |c| c.batch_execute(create).await).with_context(|| {
                format!(
                    "creating the index {name} of a declared attribute (a unique one fails when \
                     two users share a value)"
                )
            })?;
            tracing::info!(index = %name, "declared attribute indexed");
        }
        for name in existing {
            if wanted.iter().any(|(w, _)| *w == name) {
                continue;
            }
            let drop = format!("DROP INDEX IF EXISTS \"{name}\"");
            on_conn!(&mut conn, |c| c.batch_execute(&drop).await)
                .with_context(|| format!("dropping the index {name}"))?;
            tracing::info!(index = %name, "index of an attribute no longer indexed dropped");
        }
        // Dropping a column drops the indexes built on it.
        for name in columns {
            if wanted_columns.iter().any(|(w, _)| *w == name) {
                continue;
            }
            let drop = format!("ALTER TABLE up_users DROP COLUMN IF EXISTS \"{name}\"");
            on_conn!(&mut conn, |c| c.batch_execute(&drop).await)
                .with_context(|| format!("dropping the column {name}"))?;
            tracing::info!(column = %name, "column of an attribute no longer indexed dropped");
        }
        Ok(())
    }

    /// Applies the migrations this build carries that the database lacks, all in one
    /// transaction: a database is never left half migrated, and an empty PostgreSQL database
    /// is ready sooner (one commit instead of one per migration).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let applied = match &self.pool {
            Pools::Postgres(pool) => {
                let conn = match pool.get().await {
                    Ok(conn) => conn,
                    Err(error) => return Err(self.unreachable(&error).await),
                };
                run_pending(conn, POSTGRES_MIGRATIONS)
            }
            Pools::Sqlite(pool) => {
                let conn = pool.get().await.context("opening the SQLite database")?;
                run_pending(conn, SQLITE_MIGRATIONS)
            }
        }
        .map_err(|e| {
            // The one failure a migration can meet in data Castellan wrote itself (see the
            // migration `attributes_jsonb`): said with what to do about it.
            let hint = if e
                .to_string()
                .contains("unsupported Unicode escape sequence")
            {
                ". A user's attributes hold the character U+0000, which PostgreSQL's jsonb \
                 refuses and Castellan no longer accepts: find them with `SELECT id FROM \
                 up_users WHERE strpos(attributes, '\\u0000') > 0`, remove it from them, then \
                 start Castellan again"
            } else {
                ""
            };
            anyhow::anyhow!("applying migrations: {e}{hint}")
        })?;
        if applied > 0 {
            tracing::info!(applied, "database migrated");
        }
        Ok(())
    }

    /// The names of the migrations this build carries that the database has not applied.
    /// Reading them creates diesel's bookkeeping table when it is missing, nothing else.
    pub async fn pending_migrations(&self) -> anyhow::Result<Vec<String>> {
        fn pending<C>(conn: C, migrations: EmbeddedMigrations) -> anyhow::Result<Vec<String>>
        where
            C: diesel_async::AsyncConnection,
            AsyncConnectionWrapper<C>:
                diesel::Connection<Backend = C::Backend> + MigrationHarness<C::Backend>,
        {
            let mut wrapped = AsyncConnectionWrapper::<C>::from(conn);
            tokio::task::block_in_place(|| {
                wrapped
                    .pending_migrations(migrations)
                    .map(|list| list.iter().map(|m| m.name().to_string()).collect())
                    .map_err(|e| anyhow::anyhow!("reading the applied migrations: {e}"))
            })
        }
        match &self.pool {
            Pools::Postgres(pool) => match pool.get().await {
                Ok(conn) => pending(conn, POSTGRES_MIGRATIONS),
                Err(error) => Err(self.unreachable(&error).await),
            },
            Pools::Sqlite(pool) => pending(
                pool.get().await.context("opening the SQLite database")?,
                SQLITE_MIGRATIONS,
            ),
        }
    }

    /// Fails, saying what to run, unless every migration of this build is applied: commands
    /// that change data (`import`, `config apply`) never migrate behind the operator's back.
    pub async fn require_current(&self) -> anyhow::Result<()> {
        let pending = self.pending_migrations().await?;
        if pending.is_empty() {
            return Ok(());
        }
        anyhow::bail!(
            "the database is not up to date: {} migration{} pending ({}). Run `castellan migrate` \
             with the same DATABASE_URL first (or start `castellan serve` once, which migrates)",
            pending.len(),
            if pending.len() == 1 { " is" } else { "s are" },
            pending.join(", ")
        )
    }

    /// Announces `payload` on `channel` to every PostgreSQL session that listens to it
    /// (`NOTIFY`); a no-op on SQLite, which has one server process.
    pub async fn notify(&self, channel: &str, payload: &str) -> crate::error::AppResult<()> {
        let Conn::Postgres(mut conn) = self.conn().await? else {
            return Ok(());
        };
        diesel_async::RunQueryDsl::execute(
            diesel::sql_query("SELECT pg_notify($1, $2)")
                .bind::<diesel::sql_types::Text, _>(channel)
                .bind::<diesel::sql_types::Text, _>(payload),
            &mut *conn,
        )
        .await?;
        Ok(())
    }

    /// Whether the database answers a trivial query within [`CONNECTION_WAIT`].
    pub async fn ping(&self) -> anyhow::Result<()> {
        let ping = async {
            let mut conn = self.conn().await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
            on_conn!(&mut conn, |c| c.batch_execute("SELECT 1").await)?;
            anyhow::Ok(())
        };
        tokio::time::timeout(CONNECTION_WAIT, ping)
            .await
            .map_err(|_| {
                anyhow::anyhow!("the database did not answer within {CONNECTION_WAIT:?}")
            })?
    }

    /// A connection from the pool, within [`CONNECTION_WAIT`]: a database that accepts
    /// connections but never answers gives an error, not a request that hangs.
    pub async fn conn(&self) -> AppResult<Conn> {
        self.checkouts.fetch_add(1, Ordering::Relaxed);
        let get = async {
            match &self.pool {
                Pools::Postgres(pool) => pool.get().await.map(Conn::Postgres),
                Pools::Sqlite(pool) => pool.get().await.map(Conn::Sqlite),
            }
        };
        match tokio::time::timeout(CONNECTION_WAIT, get).await {
            Ok(conn) => {
                conn.map_err(|e| AppError::internal(anyhow::anyhow!("database unavailable: {e}")))
            }
            Err(_) => Err(AppError::internal(anyhow::anyhow!(
                "database unavailable: no connection within {CONNECTION_WAIT:?}"
            ))),
        }
    }
}

/// The file path (or SQLite URI) inside a `sqlite:` URL.
fn sqlite_path(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .with_context(|| {
            format!(
                "DATABASE_URL must start with sqlite:// or postgres://, got `{url}` \
                 (for example sqlite://./data/castellan.db)"
            )
        })?;
    if rest == ":memory:" {
        // One shared in-memory database for the whole pool (a plain :memory: is one per connection).
        return Ok(format!(
            "file:castellan-{}?mode=memory&cache=shared",
            crate::util::random_alphanumeric(12)
        ));
    }
    if rest.is_empty() {
        anyhow::bail!(
            "DATABASE_URL `{url}` names no file (for example sqlite://./data/castellan.db)"
        );
    }
    Ok(rest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_files() {
        assert_eq!(
            sqlite_path("sqlite://./data/castellan.db").unwrap(),
            "./data/castellan.db"
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/c.db").unwrap(),
            "/var/lib/c.db"
        );
        assert!(
            sqlite_path("sqlite::memory:")
                .unwrap()
                .starts_with("file:castellan-")
        );
        let error = sqlite_path("mysql://x").unwrap_err().to_string();
        assert!(error.contains("DATABASE_URL"), "{error}");
    }
}
