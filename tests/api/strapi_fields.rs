//! Strapi 5's fields that Castellan serves with their meaning: a role's users (under
//! `user.find` and its conditions) and permissions (under `permission.find`), filters across
//! them, the publication arguments (accepted, changing nothing), and Strapi's validation
//! answers (code, name, message, `details.errors[{path, message, name}]`), never echoing a
//! password.

use castellan::policy::actions;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{TestServer, error_code, error_message};

const ROLE_WITH_RELATIONS: &str = r#"query ($type: String!, $users: UsersPermissionsUserFiltersInput) {
  usersPermissionsRoles(filters: {type: {eq: $type}}, status: PUBLISHED, hasPublishedVersion: true, publicationFilter: HAS_PUBLISHED_VERSION) {
    type
    publishedAt
    users(filters: $users, sort: ["username:asc"]) { username }
    users_connection(pagination: {pageSize: 1}) { nodes { username } }
    permissions(filters: {action: {endsWith: ".me"}}) { documentId action role { type } publishedAt }
    permissions_connection(sort: ["action:asc"]) { nodes { action } }
  }
}"#;

both_backends! {
    // A role's users and permissions, as Strapi serves them: users within the `user.find`
    // grant's conditions, permissions under `permission.find`, filters across both.
    async fn a_roles_users_and_permissions_follow_their_grants(backend: Backend) {
        let server = TestServer::start(backend).await;
        for name in ["ann", "bob", "cid"] {
            server.register(name, &format!("{name}@example.com"), "a-password-1").await;
        }
        let admin = server
            .user_with_grants(
                "admin",
                &[actions::ROLE_FIND, actions::USER_FIND, actions::PERMISSION_FIND],
            )
            .await;
        let body = server
            .gql_as(&admin, ROLE_WITH_RELATIONS, json!({ "type": "authenticated" }))
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        let role = &body["data"]["usersPermissionsRoles"][0];
        assert_eq!(role["type"], "authenticated");
        assert!(role["publishedAt"].is_string(), "{role}");
        assert_eq!(
            role["users"],
            json!([{ "username": "ann" }, { "username": "bob" }, { "username": "cid" }])
        );
        assert_eq!(role["users_connection"]["nodes"].as_array().unwrap().len(), 1);
        assert_eq!(
            role["permissions"],
            json!([{
                "documentId": role["permissions"][0]["documentId"],
                "action": actions::USER_ME,
                "role": { "type": "authenticated" },
                "publishedAt": role["permissions"][0]["publishedAt"],
            }]),
            "{role}"
        );
        let all: Vec<&str> = role["permissions_connection"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["action"].as_str().unwrap())
            .collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        assert_eq!(all, sorted);
        assert!(all.contains(&actions::AUTH_CHANGE_PASSWORD), "{all:?}");

        // Filters across the relations: roles with a user named bob, roles granting `me`.
        let body = server
            .gql_as(
                &admin,
                r#"{ withBob: usersPermissionsRoles(filters: {users: {username: {eq: "bob"}}}) { type }
                     granting: usersPermissionsRoles(filters: {permissions: {action: {eq: "plugin::users-permissions.user.me"}}}, sort: ["type:asc"]) { type }
                     usersOfRolesGrantingMe: usersPermissionsUsers(filters: {role: {permissions: {action: {eq: "plugin::users-permissions.user.me"}}}}, sort: ["username:asc"]) { username } }"#,
                json!({}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["withBob"], json!([{ "type": "authenticated" }]));
        assert_eq!(body["data"]["granting"], json!([{ "type": "authenticated" }]));
        assert_eq!(
            body["data"]["usersOfRolesGrantingMe"],
            json!([{ "username": "ann" }, { "username": "bob" }, { "username": "cid" }])
        );

        // Under conditions (is-self), a role's users are those the grant reaches, and filters
        // that reach users are refused.
        let scoped = server.user_with_grants("scoped", &[actions::ROLE_FIND]).await;
        server
            .sql("INSERT INTO up_permissions (role_id, action, conditions, fields, created_at, updated_at) SELECT id, 'plugin::users-permissions.user.find', '[\"is-self\"]', NULL, created_at, created_at FROM up_roles WHERE type = 'scoped'")
            .await;
        server.app.changed(castellan::changes::Change::Policy).await.unwrap();
        let body = server
            .gql_as(&scoped, "{ usersPermissionsRoles(filters: {type: {eq: \"scoped\"}}) { users { username } } }", json!({}))
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["usersPermissionsRoles"][0]["users"], json!([{ "username": "scoped" }]));
        let body = server
            .gql_as(&scoped, "{ usersPermissionsRoles(filters: {type: {eq: \"authenticated\"}}) { users { username } } }", json!({}))
            .await;
        assert_eq!(body["data"]["usersPermissionsRoles"][0]["users"], json!([]), "{body}");
        let body = server
            .gql_as(&scoped, "{ usersPermissionsRoles(filters: {users: {username: {eq: \"bob\"}}}) { type } }", json!({}))
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        // Without `permission.find`, a role's permissions are refused, the rest answers.
        let body = server
            .gql_as(&scoped, "{ usersPermissionsRoles { type permissions { action } } }", json!({}))
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["error"]["details"]["action"], actions::PERMISSION_FIND);
        // Without `user.find`, a role's users are refused.
        let roles_only = server.user_with_grants("rolesonly", &[actions::ROLE_FIND]).await;
        let body = server
            .gql_as(&roles_only, "{ usersPermissionsRoles { type users { username } } }", json!({}))
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["error"]["details"]["action"], actions::USER_FIND);
    }

    // Strapi 5's publication arguments and input fields are accepted and change nothing.
    async fn publication_arguments_are_accepted_and_change_nothing(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = server
            .user_with_grants("admin", &[actions::USER_FIND, actions::USER_FIND_ONE, actions::USER_CREATE, actions::ROLE_FIND, actions::ROLE_FIND_ONE, actions::ROLE_CREATE])
            .await;
        let plain = server.gql_as(&admin, "{ usersPermissionsUsers { username } usersPermissionsRoles { type } }", json!({})).await;
        for status in ["PUBLISHED", "DRAFT"] {
            let body = server
                .gql_as(
                    &admin,
                    &format!("{{ usersPermissionsUsers(status: {status}, hasPublishedVersion: false, publicationFilter: MODIFIED) {{ username }} usersPermissionsRoles(status: {status}) {{ type }} }}"),
                    json!({}),
                )
                .await;
            assert_eq!(body, plain, "{status}");
        }
        let body = server
            .gql_as(
                &admin,
                r#"mutation { createUsersPermissionsUser(data: {username: "pub", email: "pub@example.com", password: "a-password-1", role: "1", publishedAt: "2026-01-01T00:00:00Z", locale: "fr"}) { data { username publishedAt } } }"#,
                json!({}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["createUsersPermissionsUser"]["data"]["username"], "pub");
        let body = server
            .gql_as(&admin, r#"mutation { createUsersPermissionsRole(data: {name: "Editors", publishedAt: "2026-01-01T00:00:00Z", locale: "fr"}) { ok } }"#, json!({}))
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        // Strapi's way of filling a role with users is not Castellan's: refused, with where to go.
        let body = server
            .gql_as(&admin, r#"mutation { createUsersPermissionsRole(data: {name: "Others", users: ["1"]}) { ok } }"#, json!({}))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["error"]["details"]["errors"][0]["path"], json!(["users"]));
    }

    // Validation answers as Strapi gives them, without ever echoing a password.
    async fn validation_answers_are_strapis(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (jwt, _) = server.register("valid", "valid@example.com", "a-password-1").await;
        let entry = |body: &Value| body["errors"][0]["extensions"]["error"]["details"]["errors"][0].clone();

        let body = server
            .gql_as(&jwt, r#"mutation { changePassword(currentPassword: "a-password-1", password: "new-password-1", passwordConfirmation: "other-password-1") { jwt } }"#, json!({}))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(error_message(&body), "Passwords do not match");
        assert_eq!(body["errors"][0]["extensions"]["error"]["name"], "ValidationError");
        assert_eq!(entry(&body), json!({ "path": ["passwordConfirmation"], "message": "Passwords do not match", "name": "ValidationError" }));

        let body = server
            .gql(r#"mutation { resetPassword(password: "new-password-1", passwordConfirmation: "other-password-1", code: "abc") { jwt } }"#, json!({}))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(entry(&body), json!({ "path": ["passwordConfirmation"], "message": "Passwords do not match", "name": "ValidationError" }));

        let body = server.gql(r#"mutation { forgotPassword(email: "not-an-email") { ok } }"#, json!({})).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(error_message(&body), "email must be a valid email");
        assert_eq!(entry(&body), json!({ "path": ["email"], "message": "email must be a valid email", "name": "ValidationError", "value": "not-an-email" }));

        let admin = server.user_with_grants("admin", &[actions::USER_CREATE]).await;
        let create = |data: &str| format!("mutation {{ createUsersPermissionsUser(data: {data}) {{ data {{ username }} }} }}");
        // Missing fields: no `value` key.
        let body = server.gql_as(&admin, &create(r#"{username: "newbie", email: "newbie@example.com"}"#), json!({})).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(error_message(&body), "2 errors occurred");
        assert_eq!(
            body["errors"][0]["extensions"]["error"]["details"]["errors"],
            json!([
                { "path": ["password"], "message": "password is a required field", "name": "ValidationError" },
                { "path": ["role"], "message": "role is a required field", "name": "ValidationError" },
            ])
        );
        // A short password, a taken username: Strapi's ApplicationError.
        let body = server.gql_as(&admin, &create(r#"{username: "newbie", email: "newbie@example.com", password: "abc", role: "1"}"#), json!({})).await;
        assert_eq!(error_code(&body), "STRAPI_APPLICATION_ERROR", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["error"]["name"], "ApplicationError");
        assert!(error_message(&body).starts_with("password must be at least 6 characters"), "{body}");
        assert!(!body.to_string().contains("\"abc\""), "the password was echoed: {body}");
        let body = server.gql_as(&admin, &create(r#"{username: "valid", email: "other@example.com", password: "a-password-1", role: "1"}"#), json!({})).await;
        assert_eq!(error_code(&body), "STRAPI_APPLICATION_ERROR", "{body}");
        assert_eq!(error_message(&body), "This attribute must be unique");
        assert_eq!(body["errors"][0]["extensions"]["error"]["details"], json!({}));
    }
}
