//! `castellan import strapi`: a real Strapi 5.54 database (the fixture) moved into Castellan on
//! both databases by the real binary, then served and used.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use diesel::sql_types::Text;
use diesel::{Connection as _, QueryableByName, RunQueryDsl as _};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use serde_json::{Value, json};

use crate::binary::{BINARY, Serve};
use crate::support::{Backend, TestDb, http_client};

pub(crate) const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/fixtures/strapi-5.54-postgres.sql"
);
const JWT_SECRET: &str = "import-test-jwt-secret-0123456789abcdef";
const API_TOKEN_SALT: &str = "import-test-api-token-salt-0123456789";
/// The GitHub client secret in the fixture: no output may show it.
const GITHUB_SECRET: &str = "fixture-github-client-secret";

/// Runs `castellan ARGS` on `database_url`, in `dir`, as an operator would.
pub(crate) fn castellan(dir: &Path, database_url: &str, args: &[&str]) -> Output {
    Command::new(BINARY)
        .args(args)
        .current_dir(dir)
        .env("DATABASE_URL", database_url)
        .env("JWT_SECRET", JWT_SECRET)
        .env("API_TOKEN_SALT", API_TOKEN_SALT)
        .env("RUST_LOG", "warn")
        .env_remove("CASTELLAN_ENV")
        .output()
        .expect("castellan runs")
}

pub(crate) fn out(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn err(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the command succeeded and returns its stdout.
pub(crate) fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}\n{}",
        out(&output),
        err(&output)
    );
    out(&output)
}

fn psql(url: &str, args: &[&str]) {
    let output = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", url])
        .args(args)
        .stdout(Stdio::null())
        .output()
        .expect("psql runs (PostgreSQL's client is needed by the import tests)");
    assert!(output.status.success(), "psql: {}", err(&output));
}

/// The fixture loaded into a fresh PostgreSQL database, with a column a project added to
/// Strapi's `up_users` (`team`, set for edith).
pub(crate) async fn strapi_on_postgres() -> (TestDb, String) {
    let (db, url) = TestDb::create(Backend::Postgres).await;
    psql(&url, &["-f", FIXTURE]);
    psql(
        &url,
        &[
            "-c",
            "ALTER TABLE up_users ADD COLUMN team varchar(255); \
             UPDATE up_users SET team = 'blue' WHERE username = 'edith'",
        ],
    );
    (db, url)
}

#[derive(QueryableByName)]
struct JsonRow {
    #[diesel(sql_type = Text)]
    row: String,
}

/// The Strapi tables of the fixture copied into a new SQLite file, the way Strapi keeps them
/// there (booleans as 0/1, times as milliseconds), with a column of the project's own
/// (`nickname`, set for edith).
/// With `v4`, laid out as Strapi 4 keeps it: `…_links` tables and no `document_id`.
pub(crate) async fn strapi_on_sqlite(dir: &Path, v4: bool) -> (TestDb, String) {
    let (pg, pg_url) = strapi_on_postgres().await;
    let mut source = AsyncPgConnection::establish(&pg_url).await.unwrap();
    let path = dir.join("strapi.db");
    let mut sqlite = diesel::sqlite::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    for table in [
        "up_users",
        "up_roles",
        "up_permissions",
        "up_users_role_lnk",
        "up_permissions_role_lnk",
        "strapi_core_store_settings",
    ] {
        let rows: Vec<JsonRow> = diesel_async::RunQueryDsl::load(
            diesel::sql_query(format!(
                "SELECT row_to_json(t)::text AS row FROM {table} t ORDER BY id"
            )),
            &mut source,
        )
        .await
        .unwrap();
        let first: serde_json::Map<String, Value> = serde_json::from_str(&rows[0].row).unwrap();
        let columns: Vec<&String> = first.keys().collect();
        let time = |c: &str| c.ends_with("_at");
        let declared: Vec<String> = columns
            .iter()
            .map(|c| format!("\"{c}\" {}", if time(c) { "INTEGER" } else { "" }))
            .collect();
        diesel::sql_query(format!("CREATE TABLE {table} ({})", declared.join(", ")))
            .execute(&mut sqlite)
            .unwrap();
        let values: Vec<String> = columns
            .iter()
            .map(|c| {
                if time(c) {
                    format!(
                        "CAST(ROUND((julianday(json_extract(?1, '$.{c}')) - 2440587.5) * 86400000) AS INTEGER)"
                    )
                } else {
                    format!("json_extract(?1, '$.{c}')")
                }
            })
            .collect();
        let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
        let insert = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            quoted.join(", "),
            values.join(", ")
        );
        for row in &rows {
            diesel::sql_query(&insert)
                .bind::<Text, _>(&row.row)
                .execute(&mut sqlite)
                .unwrap();
        }
    }
    diesel::connection::SimpleConnection::batch_execute(
        &mut sqlite,
        "ALTER TABLE up_users ADD COLUMN nickname TEXT; \
         UPDATE up_users SET nickname = 'Edie' WHERE username = 'edith'",
    )
    .unwrap();
    if v4 {
        diesel::connection::SimpleConnection::batch_execute(
            &mut sqlite,
            "ALTER TABLE up_users_role_lnk RENAME TO up_users_role_links; \
             ALTER TABLE up_permissions_role_lnk RENAME TO up_permissions_role_links; \
             ALTER TABLE up_users DROP COLUMN document_id; \
             ALTER TABLE up_roles DROP COLUMN document_id; \
             ALTER TABLE up_permissions DROP COLUMN document_id;",
        )
        .unwrap();
    }
    (pg, format!("sqlite://{}", path.display()))
}

/// POST /graphql.
pub(crate) async fn gql(address: &str, bearer: Option<&str>, query: &str) -> Value {
    gql_with(address, bearer, query, json!({})).await
}

/// POST /graphql with variables.
pub(crate) async fn gql_with(
    address: &str,
    bearer: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let mut request = http_client(Duration::from_secs(30))
        .post(format!("http://{address}/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let text = request.send().await.unwrap().text().await.unwrap();
    assert!(
        !text.contains(GITHUB_SECRET),
        "a response shows the secret: {text}"
    );
    assert!(!text.contains("$2a$10$"), "a response shows a hash: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

async fn login(address: &str, identifier: &str, password: &str) -> Value {
    gql(
        address,
        None,
        &format!(
            r#"mutation {{ login(input: {{identifier: "{identifier}", password: "{password}"}}) {{ jwt user {{ username role {{ type }} }} }} }}"#
        ),
    )
    .await
}

fn changes_in(stdout: &str, prefix: &str) -> usize {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line `{prefix}…` in:\n{stdout}"));
    line.split_whitespace().next().unwrap().parse().unwrap()
}

/// Imports the Strapi database at `from` into a fresh Castellan on `backend` with the real
/// binary, serves it, and checks what the Strapi users and administrators rely on. `custom` is
/// the project's own column of `up_users` the source has, and edith's value in it.
async fn moves_in_from_strapi(backend: Backend, from: &str, custom: (&str, &str), v5: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (_db, url) = TestDb::create(backend).await;
    let import = ["import", "strapi", "--from", from];
    let dry_run = ["import", "strapi", "--from", from, "--dry-run"];

    // A database whose migrations are not current is refused, with what to run.
    let refused = castellan(dir.path(), &url, &import);
    assert!(!refused.status.success());
    assert!(
        err(&refused).contains("castellan migrate"),
        "{}",
        err(&refused)
    );
    ok(castellan(dir.path(), &url, &["migrate"]));

    let planned = ok(castellan(dir.path(), &url, &dry_run));
    let would = changes_in(&planned, "Dry run: ");
    let imported = ok(castellan(dir.path(), &url, &import));
    assert_eq!(
        changes_in(&imported, "Imported: "),
        would,
        "the dry run changed something, or planned otherwise:\n{planned}\n---\n{imported}"
    );
    assert!(imported.contains("users: 8 created"), "{imported}");
    let layout = if v5 {
        "Strapi 5 database"
    } else {
        "Strapi 4 database"
    };
    assert!(imported.starts_with(layout), "{imported}");
    assert!(
        imported.contains("roles: 2 created: manager, editors"),
        "{imported}"
    );
    let unimplemented = imported
        .split("actions Castellan does not implement")
        .nth(1)
        .unwrap_or_else(|| panic!("no report of unimplemented actions:\n{imported}"));
    assert!(
        unimplemented.contains("api::article.article.find (authenticated, manager)"),
        "{imported}"
    );
    assert!(imported.contains("provider github"), "{imported}");
    assert!(
        !imported.contains(GITHUB_SECRET),
        "the import printed a secret"
    );

    let again = ok(castellan(dir.path(), &url, &import));
    assert!(
        again.contains("Nothing to change"),
        "a second import changed something:\n{again}"
    );
    assert!(
        again.contains("users: 0 created; 0 updated; 8 unchanged"),
        "{again}"
    );

    let env = [
        ("DATABASE_URL", url.as_str()),
        ("JWT_SECRET", JWT_SECRET),
        ("API_TOKEN_SALT", API_TOKEN_SALT),
    ];
    let served = Serve::start(dir.path(), &env, Stdio::null());
    let address = served.address.as_str();
    let token = ok(castellan(
        dir.path(),
        &url,
        &[
            "token",
            "create",
            "--name",
            "admin",
            "--type",
            "full-access",
        ],
    ));
    let admin = Some(token.trim());

    // Strapi users log in with their Strapi passwords ($2a$ hashes of bcryptjs).
    let mut jwts = std::collections::HashMap::new();
    for (username, password, role) in [
        ("bench", "BenchPass123!", "authenticated"),
        ("manager", "ManagerPass123!", "manager"),
        ("edith", "EdithPass123!", "editors"),
    ] {
        let body = login(address, username, password).await;
        assert_eq!(
            body["data"]["login"]["user"]["role"]["type"], role,
            "{username}: {body}"
        );
        jwts.insert(
            username,
            body["data"]["login"]["jwt"].as_str().unwrap().to_string(),
        );
    }
    let wrong = login(address, "bench", "NotThePassword1!").await;
    assert!(wrong["data"]["login"].is_null(), "{wrong}");
    let blocked = login(address, "blocked", "BlockedPass123!").await;
    assert_eq!(
        blocked["errors"][0]["message"], "Your account has been blocked by an administrator",
        "{blocked}"
    );

    // edith's role (Editors) lists users; Authenticated cannot.
    let list = "{ usersPermissionsUsers(pagination: {pageSize: 50}) { username } }";
    let listed = gql(address, Some(&jwts["edith"]), list).await;
    assert_eq!(
        listed["data"]["usersPermissionsUsers"]
            .as_array()
            .map(Vec::len),
        Some(8),
        "{listed}"
    );
    let refused = gql(address, Some(&jwts["bench"]), list).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{refused}"
    );

    // The users as Strapi had them: documentIds, confirmation, blocking, own columns.
    let users = gql(
        address,
        admin,
        "{ usersPermissionsUsers(pagination: {pageSize: 50}) { username documentId confirmed blocked provider attributes } }",
    )
    .await;
    let users = users["data"]["usersPermissionsUsers"]
        .as_array()
        .unwrap()
        .clone();
    let user = |name: &str| {
        users
            .iter()
            .find(|u| u["username"] == name)
            .unwrap()
            .clone()
    };
    if v5 {
        assert_eq!(user("bench")["documentId"], "bjh828v0gvhqhmswk30rel5i");
    }
    assert_eq!(user("eve3_mxauezow")["confirmed"], false);
    assert_eq!(user("bench")["confirmed"], true);
    assert_eq!(user("blocked")["blocked"], true);
    assert_eq!(user("bench")["provider"], "local");
    assert_eq!(user("edith")["attributes"][custom.0], custom.1, "{users:?}");

    // Advanced settings, the changed template and the GitHub provider are in effect.
    let settings = gql(
        address,
        admin,
        "{ usersPermissionsAdvancedSettings { emailConfirmation emailResetPassword emailConfirmationRedirection uniqueEmail defaultRole }
           usersPermissionsEmailTemplates { template shipperName shipperEmail subject message }
           usersPermissionsProviders { name enabled clientId hasClientSecret scopes } }",
    )
    .await;
    let data = &settings["data"];
    assert_eq!(
        data["usersPermissionsAdvancedSettings"],
        json!({"emailConfirmation": true, "emailResetPassword": "https://app.example.com/reset-password",
               "emailConfirmationRedirection": "https://app.example.com/welcome", "uniqueEmail": true,
               "defaultRole": "authenticated"}),
        "{settings}"
    );
    let reset = data["usersPermissionsEmailTemplates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["template"] == "RESET_PASSWORD")
        .unwrap();
    assert_eq!(reset["subject"], "Reset your Example App password");
    assert_eq!(reset["shipperName"], "Example App");
    assert_eq!(reset["shipperEmail"], "accounts@example.com");
    assert!(
        reset["message"]
            .as_str()
            .unwrap()
            .contains("<%= URL %>?code=<%= TOKEN %>")
    );
    let github = data["usersPermissionsProviders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "github")
        .unwrap();
    assert_eq!(
        github,
        &json!({"name": "github", "enabled": true, "clientId": "Iv1.fixture0123456789",
                "hasClientSecret": true, "scopes": ["user", "user:email"]})
    );

    // Grants of actions Castellan does not implement are kept, and start-up went fine.
    let roles = gql(
        address,
        admin,
        "{ usersPermissionsRoles { id type grants { action } } }",
    )
    .await;
    let manager = roles["data"]["usersPermissionsRoles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "manager")
        .unwrap()
        .clone();
    assert!(
        manager["grants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["action"] == "api::article.article.find"),
        "{manager}"
    );
    // An administrator may give the role its grants again, those kept included; an action
    // nothing implements still cannot be granted anew.
    let grants: Vec<String> = manager["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| format!("{{action: {}}}", g["action"]))
        .collect();
    let update = |grants: String| {
        format!(
            r#"mutation {{ updateUsersPermissionsRole(id: "{}", data: {{grants: [{grants}]}}) {{ ok }} }}"#,
            manager["id"].as_str().unwrap()
        )
    };
    let kept = gql(address, admin, &update(grants.join(", "))).await;
    assert_eq!(
        kept["data"]["updateUsersPermissionsRole"]["ok"], true,
        "{kept}"
    );
    let invented = format!(
        "{}, {{action: \"api::article.article.publish\"}}",
        grants.join(", ")
    );
    let refused = gql(address, admin, &update(invented)).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refused}"
    );
    drop(served);
}

mod from_strapi_on_postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn into_sqlite() {
        let (_strapi, from) = strapi_on_postgres().await;
        moves_in_from_strapi(Backend::Sqlite, &from, ("team", "blue"), true).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn into_postgres() {
        let (_strapi, from) = strapi_on_postgres().await;
        moves_in_from_strapi(Backend::Postgres, &from, ("team", "blue"), true).await;
    }
}

mod from_strapi_on_sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn into_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let (_pg, from) = strapi_on_sqlite(dir.path(), false).await;
        moves_in_from_strapi(Backend::Sqlite, &from, ("nickname", "Edie"), true).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn into_postgres() {
        let dir = tempfile::tempdir().unwrap();
        let (_pg, from) = strapi_on_sqlite(dir.path(), false).await;
        moves_in_from_strapi(Backend::Postgres, &from, ("nickname", "Edie"), true).await;
    }

    /// Strapi 4's layout: `…_links` tables, no documentIds (users are matched by username and
    /// email, so a second import still changes nothing).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn of_strapi_4_into_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let (_pg, from) = strapi_on_sqlite(dir.path(), true).await;
        moves_in_from_strapi(Backend::Sqlite, &from, ("nickname", "Edie"), false).await;
    }
}

crate::both_backends! {
    // A username that belongs to another Castellan user stops the import before anything is
    // written: no role, grant, setting or user of Strapi arrives, and the exit code says so.
    async fn a_conflicting_username_imports_nothing(backend: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let (_strapi, from) = strapi_on_postgres().await;
        let (_db, url) = TestDb::create(backend).await;
        ok(castellan(dir.path(), &url, &["migrate"]));
        let created = std::process::Command::new(BINARY)
            .args(["user", "create", "--username", "bench", "--email", "someone-else@example.com", "--password-stdin"])
            .current_dir(dir.path())
            .env("DATABASE_URL", &url)
            .env("JWT_SECRET", JWT_SECRET)
            .env("API_TOKEN_SALT", API_TOKEN_SALT)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        let mut created = created;
        created.stdin.take().unwrap().write_all(b"SomeonePass1!\n").unwrap();
        assert!(created.wait_with_output().unwrap().status.success());
        let before = ok(castellan(dir.path(), &url, &["config", "export"]));

        let refused = castellan(dir.path(), &url, &["import", "strapi", "--from", &from]);
        assert!(!refused.status.success(), "{}", out(&refused));
        assert!(err(&refused).contains("conflict: username bench"), "{}", err(&refused));
        assert!(err(&refused).contains("nothing was imported"), "{}", err(&refused));
        let after = ok(castellan(dir.path(), &url, &["config", "export"]));
        assert_eq!(before, after, "the refused import changed the database");
        assert!(!after.contains("\"manager\""));
    }
}
