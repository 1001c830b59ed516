//! The two migration trees build exactly the tables `src/db/schema.rs` declares.

use std::collections::BTreeMap;

use diesel::sql_types::{Integer, Text};
use diesel_async::RunQueryDsl;

use crate::both_backends;
use crate::support::{Backend, TestServer};

/// Columns one backend has beyond `schema.rs`, and why.
const BACKEND_ONLY: &[(Backend, &str, &str, &str)] = &[(
    Backend::Postgres,
    "up_users",
    "attributes_jsonb",
    "the attributes parsed by PostgreSQL, read only by SQL that conditions compile to",
)];

/// Tables the database holds that `schema.rs` does not declare, and why.
const UNDECLARED_TABLES: &[(&str, &str)] = &[(
    "__diesel_schema_migrations",
    "diesel's own record of the migrations run",
)];

/// Table → column → nullable, as `src/db/schema.rs` declares them.
type Tables = BTreeMap<String, BTreeMap<String, bool>>;

fn declared() -> Tables {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/db/schema.rs"))
        .expect("src/db/schema.rs");
    let mut tables = Tables::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line != "diesel::table! {" {
            continue;
        }
        let header = lines.next().expect("a table's name");
        let name = header.split_whitespace().next().expect("name").to_string();
        let mut columns = BTreeMap::new();
        let mut sql_name = None;
        for line in lines.by_ref() {
            if line == "}" {
                break;
            }
            if let Some(rest) = line.strip_prefix("#[sql_name = \"") {
                sql_name = rest.split('"').next().map(str::to_string);
                continue;
            }
            if let Some((column, kind)) = line.split_once("->") {
                let column = sql_name.take().unwrap_or_else(|| column.trim().to_string());
                columns.insert(column, kind.trim().starts_with("Nullable<"));
            }
        }
        tables.insert(name, columns);
    }
    assert!(tables.len() >= 5, "schema.rs was not read: {tables:?}");
    tables
}

#[derive(diesel::QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Integer)]
    nullable: i32,
    #[diesel(sql_type = Integer)]
    primary: i32,
}

async fn built(server: &TestServer) -> Tables {
    let mut conn = server.conn().await;
    let columns: Vec<Column> = castellan::on_conn!(&mut conn, |c| {
        match server.app.db.backend() {
            castellan::db::Backend::Postgres => {
                diesel::sql_query(
                    "SELECT c.table_name::text AS table_name, c.column_name::text AS column_name, \
                     (c.is_nullable = 'YES')::int AS nullable, 0 AS \"primary\" \
                     FROM information_schema.columns c WHERE c.table_schema = current_schema()",
                )
                .load::<Column>(c)
                .await
            }
            castellan::db::Backend::Sqlite => {
                diesel::sql_query(
                    "SELECT m.name AS table_name, p.name AS column_name, \
                     CASE WHEN p.\"notnull\" = 0 THEN 1 ELSE 0 END AS nullable, p.pk AS \"primary\" \
                     FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
                )
                .load::<Column>(c)
                .await
            }
        }
    })
    .expect("the columns of the database");
    let mut tables = Tables::new();
    for column in columns {
        // SQLite reports INTEGER PRIMARY KEY columns as nullable; they never are.
        let nullable = column.nullable == 1 && column.primary == 0;
        tables
            .entry(column.table_name)
            .or_default()
            .insert(column.column_name, nullable);
    }
    tables
}

both_backends! {
    async fn both_trees_build_the_tables_schema_rs_declares(backend: Backend) {
        let server = TestServer::start(backend).await;
        let mut built = built(&server).await;
        for (only, table, column, _why) in BACKEND_ONLY {
            if *only == backend {
                let removed = built.get_mut(*table).and_then(|t| t.remove(*column));
                assert!(removed.is_some(), "{table}.{column} is listed for {backend:?} but missing");
            }
        }
        for (table, _why) in UNDECLARED_TABLES {
            built.remove(*table);
        }
        let declared = declared();
        for (table, columns) in &declared {
            assert_eq!(
                built.get(table),
                Some(columns),
                "{backend:?}: table {table} (column → nullable) differs from schema.rs"
            );
        }
        let undeclared: Vec<_> = built.keys().filter(|t| !declared.contains_key(*t)).collect();
        assert!(undeclared.is_empty(), "{backend:?}: tables schema.rs does not declare: {undeclared:?}");
    }
}
