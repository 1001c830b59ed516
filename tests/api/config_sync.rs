//! Roles and permissions as code: `castellan config export | diff | apply` and
//! `serve --config-sync`, run as the real binary on real databases.

use std::process::Stdio;

use crate::binary::Serve;
use crate::import::{castellan, err, gql, gql_with, ok, out, strapi_on_postgres};
use crate::support::{Backend, TestDb};

const JWT_SECRET: &str = "import-test-jwt-secret-0123456789abcdef";
const API_TOKEN_SALT: &str = "import-test-api-token-salt-0123456789";

/// The grants of the Editors role, as `updateUsersPermissionsRole` takes them; `extra` is added.
fn editors_grants(extra: &str) -> String {
    format!(
        r#"[{{action: "plugin::users-permissions.auth.changePassword"}},
            {{action: "plugin::users-permissions.user.find"}},
            {{action: "plugin::users-permissions.user.findOne"}},
            {{action: "plugin::users-permissions.user.me"}},
            {{action: "plugin::users-permissions.user.update", conditions: ["same-team"], fields: ["username", "email"]}}
            {extra}]"#
    )
}

crate::both_backends! {
    // An export applied to an empty database exports again byte for byte; a grant changed
    // through GraphQL afterwards is drift that `diff` names and exits 1 on; two instances
    // started with `--config-sync` of the file (two at once on one PostgreSQL, and one on
    // SQLite) end with exactly its permissions.
    async fn a_permissions_file_round_trips_shows_drift_and_syncs_instances(backend: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).display().to_string();

        // A rich source: the Strapi fixture imported, plus a condition and a grant with
        // conditions and fields made over GraphQL.
        let (_strapi, from) = strapi_on_postgres().await;
        let (_source, source_url) = TestDb::create(backend).await;
        ok(castellan(dir.path(), &source_url, &["migrate"]));
        ok(castellan(dir.path(), &source_url, &["import", "strapi", "--from", &from]));
        let env = [
            ("DATABASE_URL", source_url.as_str()),
            ("JWT_SECRET", JWT_SECRET),
            ("API_TOKEN_SALT", API_TOKEN_SALT),
        ];
        let served = Serve::start(dir.path(), &env, Stdio::null());
        let address = served.address.clone();
        let token = ok(castellan(
            dir.path(),
            &source_url,
            &["token", "create", "--name", "admin", "--type", "full-access"],
        ));
        let admin = Some(token.trim());
        let made = gql_with(
            &address,
            admin,
            r#"mutation($query: JSON!) { createUsersPermissionsCondition(data: {name: "same-team",
                displayName: "Same team", category: "teams", query: $query}) { name } }"#,
            serde_json::json!({"query": {"attributes.team": "$user.attributes.team"}}),
        )
        .await;
        assert!(made.get("errors").is_none(), "{made}");
        let editors = format!(
            r#"mutation {{ updateUsersPermissionsRole(id: "slaawy1dxkurp1x7vnp2xwsi", data: {{grants: {}}}) {{ ok }} }}"#,
            editors_grants("")
        );
        let updated = gql(&address, admin, &editors).await;
        assert_eq!(updated["data"]["updateUsersPermissionsRole"]["ok"], true, "{updated}");

        // export → apply on an empty database → export: the same bytes.
        ok(castellan(dir.path(), &source_url, &["config", "export", "--out", &path("permissions.json")]));
        let exported = std::fs::read_to_string(path("permissions.json")).unwrap();
        assert!(exported.contains("\"same-team\""), "{exported}");
        assert!(exported.contains("api::article.article.find"), "{exported}");
        assert!(!exported.contains("fixture-github-client-secret"), "the export holds a secret");
        let (_empty, empty_url) = TestDb::create(backend).await;
        ok(castellan(dir.path(), &empty_url, &["migrate"]));
        let applied = ok(castellan(dir.path(), &empty_url, &["config", "apply", "--prune", &path("permissions.json")]));
        assert!(applied.contains("+ grant editors plugin::users-permissions.user.update"), "{applied}");
        let again = ok(castellan(dir.path(), &empty_url, &["config", "export"]));
        assert!(again == exported, "the export of the applied file differs:\n{again}\n---\n{exported}");
        let reapplied = ok(castellan(dir.path(), &empty_url, &["config", "apply", &path("permissions.json")]));
        assert!(reapplied.contains("Nothing to change"), "{reapplied}");

        // No drift until a grant changes through GraphQL; then diff names it and exits 1.
        let clean = castellan(dir.path(), &source_url, &["config", "diff", &path("permissions.json")]);
        assert_eq!(clean.status.code(), Some(0), "{}{}", out(&clean), err(&clean));
        assert!(out(&clean).contains("No drift"));
        let changed = format!(
            r#"mutation {{ updateUsersPermissionsRole(id: "slaawy1dxkurp1x7vnp2xwsi", data: {{grants: {}}}) {{ ok }} }}"#,
            editors_grants(r#", {action: "plugin::users-permissions.role.find"}"#)
        );
        let updated = gql(&address, admin, &changed).await;
        assert_eq!(updated["data"]["updateUsersPermissionsRole"]["ok"], true, "{updated}");
        drop(served);
        let drift = castellan(dir.path(), &source_url, &["config", "diff", &path("permissions.json")]);
        assert_eq!(drift.status.code(), Some(1), "{}{}", out(&drift), err(&drift));
        assert!(
            out(&drift).contains("grant editors plugin::users-permissions.role.find"),
            "{}",
            out(&drift)
        );
        // A file that cannot be applied is no answer: exit 2, with the reason.
        std::fs::write(
            path("broken.json"),
            exported.replace("\"plugin::users-permissions.user.find\"", "\"not an action\""),
        )
        .unwrap();
        let broken = castellan(dir.path(), &source_url, &["config", "diff", &path("broken.json")]);
        assert_eq!(broken.status.code(), Some(2), "{}{}", out(&broken), err(&broken));
        assert!(err(&broken).contains("not an action"), "{}", err(&broken));
        // A server told to sync a file it cannot apply does not start, and says why.
        let refused = std::process::Command::new(crate::binary::BINARY)
            .args(["serve", "--host", "127.0.0.1", "--port", "0", "--config-sync", &path("broken.json")])
            .current_dir(dir.path())
            .envs(env)
            .env_remove("CASTELLAN_ENV")
            .output()
            .unwrap();
        assert!(!refused.status.success());
        assert!(err(&refused).contains("broken.json"), "{}", err(&refused));
        // Applying with --prune removes the drift.
        ok(castellan(dir.path(), &source_url, &["config", "apply", "--prune", &path("permissions.json")]));
        let clean = castellan(dir.path(), &source_url, &["config", "diff", &path("permissions.json")]);
        assert_eq!(clean.status.code(), Some(0), "{}", out(&clean));

        // Instances started with --config-sync from the same file end with its permissions:
        // two at once on one database of this backend, and one on the other backend.
        let other = match backend {
            Backend::Sqlite => Backend::Postgres,
            Backend::Postgres => Backend::Sqlite,
        };
        let (_shared, shared_url) = TestDb::create(backend).await;
        let (_alone, alone_url) = TestDb::create(other).await;
        // (Migrating one new database from two processes at once is another matter.)
        ok(castellan(dir.path(), &shared_url, &["migrate"]));
        let file = path("permissions.json");
        let start = |url: String, sub: &str| {
            let dir = dir.path().join(sub);
            std::fs::create_dir_all(&dir).unwrap();
            let file = file.clone();
            std::thread::spawn(move || {
                let env = [
                    ("DATABASE_URL", url.as_str()),
                    ("JWT_SECRET", JWT_SECRET),
                    ("API_TOKEN_SALT", API_TOKEN_SALT),
                ];
                Serve::start_with_args("127.0.0.1", &dir, &["--config-sync", &file], &env, Stdio::null())
            })
        };
        let instances = [
            start(shared_url.clone(), "a"),
            start(shared_url.clone(), "b"),
            start(alone_url.clone(), "c"),
        ];
        let instances: Vec<Serve> = instances.into_iter().map(|t| t.join().unwrap()).collect();
        for url in [&shared_url, &alone_url] {
            let synced = ok(castellan(dir.path(), url, &["config", "export"]));
            assert!(synced == exported, "an instance's permissions differ from the file:\n{synced}");
        }
        drop(instances);
    }
}
