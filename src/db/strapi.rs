//! Reading a Strapi database — v5 or v4, on PostgreSQL or SQLite — for `castellan import
//! strapi`: the Users & Permissions tables and the plugin's settings. Nothing is written to it
//! (SQLite files are opened read-only). Each row is read as a JSON object of all its columns,
//! so columns a project added to `up_users` come along too.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use diesel::sql_types::Text;
use diesel::{Connection as _, QueryableByName};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::{Map, Value};

/// A row of a Strapi table: column → value.
pub type Row = Map<String, Value>;

/// Which link tables hold the relations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `up_users_role_lnk`, `up_permissions_role_lnk`.
    V5,
    /// `up_users_role_links`, `up_permissions_role_links`.
    V4,
}

/// What Castellan reads of a Strapi database.
#[derive(Debug)]
pub struct StrapiData {
    pub layout: Layout,
    pub users: Vec<Row>,
    pub roles: Vec<Row>,
    pub permissions: Vec<Row>,
    /// (user id, role id)
    pub user_roles: Vec<(i64, i64)>,
    /// (permission id, role id)
    pub permission_roles: Vec<(i64, i64)>,
    /// `strapi_core_store_settings` of the plugin: key → JSON text.
    pub store: BTreeMap<String, String>,
}

/// The keys of the plugin's settings in `strapi_core_store_settings`.
pub const STORE_KEYS: [&str; 3] = [
    "plugin_users-permissions_advanced",
    "plugin_users-permissions_email",
    "plugin_users-permissions_grant",
];

#[derive(QueryableByName)]
struct One {
    #[diesel(sql_type = Text)]
    value: String,
}

#[derive(QueryableByName)]
struct Pair {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Text)]
    value: String,
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// Reads the Strapi database at `url` (`postgres://…` or `sqlite://PATH`).
pub async fn read(url: &str) -> anyhow::Result<StrapiData> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let mut conn = AsyncPgConnection::establish(url)
            .await
            .context("connecting to Strapi's PostgreSQL database")?;
        return read_postgres(&mut conn).await;
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .with_context(|| {
            format!("--from must be postgres://USER@HOST:PORT/DB or sqlite://PATH, got `{url}`")
        })?
        .to_string();
    if !std::path::Path::new(&path).is_file() {
        bail!("there is no SQLite file at {path}");
    }
    tokio::task::spawn_blocking(move || {
        let mut conn = diesel::sqlite::SqliteConnection::establish(&format!("file:{path}?mode=ro"))
            .with_context(|| format!("opening Strapi's SQLite database {path}"))?;
        read_sqlite(&mut conn)
    })
    .await?
}

fn layout(tables: &[String]) -> anyhow::Result<Layout> {
    let has = |name: &str| tables.iter().any(|t| t == name);
    for needed in ["up_users", "up_roles", "up_permissions"] {
        if !has(needed) {
            bail!("this is no Strapi database with Users & Permissions: it has no table {needed}");
        }
    }
    if has("up_users_role_lnk") && has("up_permissions_role_lnk") {
        Ok(Layout::V5)
    } else if has("up_users_role_links") && has("up_permissions_role_links") {
        Ok(Layout::V4)
    } else {
        bail!(
            "found neither Strapi 5's link tables (up_users_role_lnk, up_permissions_role_lnk) \
             nor Strapi 4's (up_users_role_links, up_permissions_role_links)"
        )
    }
}

fn link_tables(layout: Layout) -> (&'static str, &'static str) {
    match layout {
        Layout::V5 => ("up_users_role_lnk", "up_permissions_role_lnk"),
        Layout::V4 => ("up_users_role_links", "up_permissions_role_links"),
    }
}

fn parse_rows(texts: Vec<One>) -> anyhow::Result<Vec<Row>> {
    texts
        .into_iter()
        .map(|t| match serde_json::from_str(&t.value)? {
            Value::Object(row) => Ok(row),
            other => bail!("a row is not an object: {other}"),
        })
        .collect()
}

fn parse_links(texts: Vec<Pair>) -> anyhow::Result<Vec<(i64, i64)>> {
    texts
        .into_iter()
        .map(|p| Ok((p.key.parse()?, p.value.parse()?)))
        .collect()
}

fn links_query(table: &str, from: &str) -> String {
    format!(
        "SELECT CAST({from} AS TEXT) AS key, CAST(role_id AS TEXT) AS value FROM {} \
         WHERE {from} IS NOT NULL AND role_id IS NOT NULL ORDER BY id",
        quote(table)
    )
}

fn store_query() -> String {
    let keys = STORE_KEYS
        .iter()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT key, value FROM strapi_core_store_settings WHERE key IN ({keys}) \
         AND value IS NOT NULL ORDER BY id"
    )
}

async fn read_postgres(conn: &mut AsyncPgConnection) -> anyhow::Result<StrapiData> {
    use diesel_async::RunQueryDsl as _;
    let tables: Vec<String> = diesel::sql_query(
        "SELECT table_name::text AS value FROM information_schema.tables \
         WHERE table_schema = current_schema()",
    )
    .load::<One>(conn)
    .await?
    .into_iter()
    .map(|t| t.value)
    .collect();
    let layout = layout(&tables)?;
    let rows = async |conn: &mut AsyncPgConnection, table: &str| {
        let texts = diesel::sql_query(format!(
            "SELECT row_to_json(t)::text AS value FROM {} t ORDER BY id",
            quote(table)
        ))
        .load::<One>(conn)
        .await?;
        parse_rows(texts)
    };
    let users = rows(conn, "up_users").await?;
    let roles = rows(conn, "up_roles").await?;
    let permissions = rows(conn, "up_permissions").await?;
    let (users_link, permissions_link) = link_tables(layout);
    let user_roles = parse_links(
        diesel::sql_query(links_query(users_link, "user_id"))
            .load::<Pair>(conn)
            .await?,
    )?;
    let permission_roles = parse_links(
        diesel::sql_query(links_query(permissions_link, "permission_id"))
            .load::<Pair>(conn)
            .await?,
    )?;
    let store = if tables.iter().any(|t| t == "strapi_core_store_settings") {
        diesel::sql_query(store_query())
            .load::<Pair>(conn)
            .await?
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect()
    } else {
        BTreeMap::new()
    };
    Ok(StrapiData {
        layout,
        users,
        roles,
        permissions,
        user_roles,
        permission_roles,
        store,
    })
}

fn read_sqlite(conn: &mut diesel::sqlite::SqliteConnection) -> anyhow::Result<StrapiData> {
    use diesel::RunQueryDsl as _;
    let tables: Vec<String> =
        diesel::sql_query("SELECT name AS value FROM sqlite_master WHERE type = 'table'")
            .load::<One>(conn)?
            .into_iter()
            .map(|t| t.value)
            .collect();
    let layout = layout(&tables)?;
    let mut rows = |table: &str| -> anyhow::Result<Vec<Row>> {
        let columns: Vec<String> =
            diesel::sql_query("SELECT name AS value FROM pragma_table_info(?) ORDER BY cid")
                .bind::<Text, _>(table)
                .load::<One>(conn)?
                .into_iter()
                .map(|c| c.value)
                .collect();
        let pairs = columns
            .iter()
            .map(|c| format!("'{}', {}", c.replace('\'', "''"), quote(c)))
            .collect::<Vec<_>>()
            .join(", ");
        let texts = diesel::sql_query(format!(
            "SELECT json_object({pairs}) AS value FROM {} ORDER BY id",
            quote(table)
        ))
        .load::<One>(conn)?;
        parse_rows(texts)
    };
    let users = rows("up_users")?;
    let roles = rows("up_roles")?;
    let permissions = rows("up_permissions")?;
    let (users_link, permissions_link) = link_tables(layout);
    let user_roles =
        parse_links(diesel::sql_query(links_query(users_link, "user_id")).load(conn)?)?;
    let permission_roles =
        parse_links(diesel::sql_query(links_query(permissions_link, "permission_id")).load(conn)?)?;
    let store = if tables.iter().any(|t| t == "strapi_core_store_settings") {
        diesel::sql_query(store_query())
            .load::<Pair>(conn)?
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect()
    } else {
        BTreeMap::new()
    };
    Ok(StrapiData {
        layout,
        users,
        roles,
        permissions,
        user_roles,
        permission_roles,
        store,
    })
}
