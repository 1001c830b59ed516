//! API tokens: reach by type, the key shown once and kept only as a keyed hash, regeneration,
//! expiry, deletion, last use; and the CLI that makes the first administrator.

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{TEST_JWT_SECRET, TestDb, TestServer, error_code};

const TOKEN_ACTIONS: &[&str] = &[
    "admin::api-token.read",
    "admin::api-token.create",
    "admin::api-token.regenerate",
    "admin::api-token.delete",
];
const CREATE: &str = "mutation($data: ApiTokenInput!) { createApiToken(data: $data) { accessKey token { id name type lifespan actions expiresAt lastUsedAt } } }";
const USERS: &str = "{ usersPermissionsUsers { username } }";

async fn create(server: &TestServer, admin: &str, data: Value) -> (String, Value) {
    let body = server.gql_as(admin, CREATE, json!({ "data": data })).await;
    assert!(body.get("errors").is_none(), "{body}");
    let created = &body["data"]["createApiToken"];
    (
        created["accessKey"].as_str().unwrap().to_string(),
        created["token"].clone(),
    )
}

async fn status_with(server: &TestServer, key: &str, query: &str) -> (StatusCode, Value) {
    server.post(Some(key), &json!({ "query": query })).await
}

both_backends! {
    async fn each_token_type_reaches_what_it_should(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_with_grants("token-admin", TOKEN_ACTIONS).await;
        let (full, _) = create(&server, &admin, json!({ "name": "full", "type": "full-access" })).await;
        let (read, _) = create(&server, &admin, json!({ "name": "read", "type": "read-only" })).await;
        let (custom, token) = create(&server, &admin, json!({ "name": "custom", "type": "custom",
            "actions": ["plugin::users-permissions.user.find"] })).await;
        assert_eq!(token["actions"], json!(["plugin::users-permissions.user.find"]));

        let role_create = r#"mutation { createUsersPermissionsRole(data: { name: "Bots" }) { ok } }"#;
        let roles = "{ usersPermissionsRoles { name } }";
        let cases: [(&str, &str, bool); 9] = [
            (&full, USERS, true), (&full, role_create, true), (&full, "{ apiTokens { name } }", true),
            (&read, USERS, true), (&read, roles, true), (&read, role_create, false),
            (&custom, USERS, true), (&custom, roles, false), (&custom, "{ apiTokens { name } }", false),
        ];
        for (key, query, allowed) in cases {
            let (status, body) = status_with(&server, key, query).await;
            assert_eq!(status, StatusCode::OK);
            if allowed {
                assert!(body.get("errors").is_none(), "{query}: {body}");
            } else {
                assert_eq!(error_code(&body), "FORBIDDEN", "{query}: {body}");
                assert!(body["errors"][0]["extensions"]["error"]["details"]["token"].is_string());
            }
        }
        // A token is no user: `me` is null for it.
        let (_, body) = status_with(&server, &full, "{ me { id } }").await;
        assert_eq!(body["data"]["me"], Value::Null, "{body}");
    }

    async fn the_key_is_shown_once_and_kept_only_as_a_keyed_hash(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_with_grants("token-admin", TOKEN_ACTIONS).await;
        let (key, token) = create(&server, &admin, json!({ "name": "ci", "description": "for CI", "type": "read-only", "lifespan": 30 })).await;
        assert!(key.starts_with("cst_"), "{key}");
        assert_eq!(token["lifespan"], 30);
        assert!(token["expiresAt"].is_string());
        let body = server.gql_as(&admin, "{ apiTokens { id name description type lifespan expiresAt lastUsedAt } }", json!({})).await;
        assert!(!body.to_string().contains(&key[4..]), "the listing shows the key: {body}");
        assert_eq!(body["data"]["apiTokens"][0]["description"], "for CI");

        let mut conn = server.conn().await;
        let rows: Vec<(String, String, String, String, String)> = castellan::on_conn!(&mut conn, |c| {
            use castellan::db::schema::up_api_tokens::dsl::*;
            use diesel::QueryDsl;
            diesel_async::RunQueryDsl::load(up_api_tokens.select((document_id, name, description, access_key, actions)), c).await
        })
        .unwrap();
        let stored = format!("{rows:?}");
        assert!(!stored.contains(&key[4..]), "the key's text is in the database: {stored}");
        assert!(stored.contains(&castellan::service::api_tokens::hash_key(&server.app.config.api_token_salt, &key)));

        let body = server.gql_as(&admin, CREATE, json!({ "data": { "name": "ci", "type": "read-only" } })).await;
        assert_eq!(body["errors"][0]["message"], "A token with this name already exists");
        let body = server.gql_as(&admin, CREATE, json!({ "data": { "name": "odd", "type": "read-only", "lifespan": 10 } })).await;
        assert_eq!(body["errors"][0]["message"], "lifespan must be 7, 30 or 90 days, or null for unlimited");
        let body = server.gql_as(&admin, CREATE, json!({ "data": { "name": "bad", "type": "custom", "actions": ["api::nothing.here"] } })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
    }

    async fn regenerated_expired_and_deleted_keys_stop_working(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_with_grants("token-admin", TOKEN_ACTIONS).await;
        let (old, token) = create(&server, &admin, json!({ "name": "rotating", "type": "read-only", "lifespan": 7 })).await;
        assert_eq!(token["lastUsedAt"], Value::Null);
        let (status, _) = status_with(&server, &old, USERS).await;
        assert_eq!(status, StatusCode::OK);
        let body = server.gql_as(&admin, "{ apiTokens { lastUsedAt } }", json!({})).await;
        assert!(body["data"]["apiTokens"][0]["lastUsedAt"].is_string(), "last use is noted: {body}");

        let body = server.gql_as(&admin, "mutation($id: ID!) { regenerateApiToken(id: $id) { accessKey } }", json!({ "id": token["id"] })).await;
        let new = body["data"]["regenerateApiToken"]["accessKey"].as_str().unwrap().to_string();
        assert_ne!(new, old);
        let (status, body) = status_with(&server, &old, USERS).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["message"], "Missing or invalid credentials");
        assert_eq!(status_with(&server, &new, USERS).await.0, StatusCode::OK);

        server.sql("UPDATE up_api_tokens SET expires_at = '2020-01-01 00:00:00'").await;
        assert_eq!(status_with(&server, &new, USERS).await.0, StatusCode::UNAUTHORIZED, "expired");

        let (other, other_token) = create(&server, &admin, json!({ "name": "doomed", "type": "full-access" })).await;
        assert_eq!(status_with(&server, &other, USERS).await.0, StatusCode::OK);
        let body = server.gql_as(&admin, "mutation($id: ID!) { deleteApiToken(id: $id) { ok } }", json!({ "id": other_token["id"] })).await;
        assert_eq!(body["data"]["deleteApiToken"]["ok"], true, "{body}");
        assert_eq!(status_with(&server, &other, USERS).await.0, StatusCode::UNAUTHORIZED, "deleted");
    }

    async fn the_first_administrator_comes_from_two_commands(backend: Backend) {
        let (db, url) = TestDb::create(backend).await;
        let data = tempfile::tempdir().unwrap();
        let run = |args: &[&str], stdin: Option<&str>| {
            let mut child = Command::new(env!("CARGO_BIN_EXE_castellan"))
                .args(args)
                .current_dir(data.path())
                .env("DATABASE_URL", &url)
                .env("JWT_SECRET", TEST_JWT_SECRET)
                .env("API_TOKEN_SALT", "cli-test-salt-0123456789abcdef-0123456789")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            if let Some(input) = stdin {
                child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            }
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
            String::from_utf8(output.stdout).unwrap()
        };
        let key = run(&["token", "create", "--name", "bootstrap", "--type", "full-access", "--lifespan", "30"], None);
        let key = key.trim().to_string();
        assert!(key.starts_with("cst_"), "{key}");
        let created = run(&["user", "create", "--username", "root", "--email", "root@example.com", "--password-stdin", "--role", "authenticated"], Some("first-admin-password\n"));
        assert!(created.starts_with("Created user root"), "{created}");

        let server = TestServer::start_with(backend, |config| {
            config.database_url = url.clone();
            config.api_token_salt = castellan::config::Secret::new("cli-test-salt-0123456789abcdef-0123456789");
        })
        .await;
        let (status, body) = server.post(Some(&key), &json!({ "query": "{ apiTokens { name type lifespan } usersPermissionsUsers { username confirmed } }" })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["apiTokens"], json!([{ "name": "bootstrap", "type": "full-access", "lifespan": 30 }]));
        assert_eq!(body["data"]["usersPermissionsUsers"], json!([{ "username": "root", "confirmed": true }]));
        assert!(server.login("root", "first-admin-password").await["data"]["login"]["jwt"].is_string());
        drop(server);
        drop(db);
    }
}
