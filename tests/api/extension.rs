//! The library API, through the member-progress example: a GraphQL field and a REST route of
//! a library user's, under Castellan's roles, grants and conditions.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{Backend, TestServer, error_code, user_id};

#[path = "../../examples/member_progress/progress.rs"]
pub(crate) mod progress;

const QUERY: &str = "{ memberProgress { viewer rows { userId course percent } } }";
const ROLE_UPDATE: &str = "mutation($id: ID!, $data: UsersPermissionsRoleInput!) { updateUsersPermissionsRole(id: $id, data: $data) { ok } }";

async fn start(backend: Backend) -> (TestServer, String, (String, i32), (String, i32)) {
    let server = TestServer::start_built(backend, |_| {}, progress::builder).await;
    progress::create_table(&server.app).await.unwrap();
    let admin = server
        .user_with_grants("role-admin", &["plugin::users-permissions.role.updateRole"])
        .await;
    let (ann_jwt, ann) = server.register("ann", "ann@example.com", "password1").await;
    let (bob_jwt, bob) = server.register("bob", "bob@example.com", "password1").await;
    let (ann, bob) = (user_id(&ann), user_id(&bob));
    for (user, course, percent) in [(ann, "rust", 40), (ann, "sql", 90), (bob, "rust", 75)] {
        progress::record(&server.app, user, course, percent)
            .await
            .unwrap();
    }
    (server, admin, (ann_jwt, ann), (bob_jwt, bob))
}

async fn grant(server: &TestServer, admin: &str, grants: Value) {
    let authenticated = server.conn_role("authenticated").await;
    let mut all = vec![json!({ "action": "plugin::users-permissions.user.me" })];
    all.extend(grants.as_array().unwrap().iter().cloned());
    let body = server
        .gql_as(
            admin,
            ROLE_UPDATE,
            json!({ "id": authenticated.id.to_string(), "data": { "grants": all } }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
}

async fn rest(server: &TestServer, bearer: Option<&str>) -> (StatusCode, Value) {
    let mut request = server.client.get(format!("{}/api/progress", server.url));
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    server.assert_no_secrets(&text).await;
    (status, serde_json::from_str(&text).unwrap())
}

fn forbidden_envelope() -> Value {
    json!({ "data": null, "error": { "status": 403, "name": "ForbiddenError", "message": "Forbidden access",
        "details": { "action": "api::member-progress.get", "role": "public" } } })
}

both_backends! {
    async fn the_public_and_members_without_the_grant_are_refused(backend: Backend) {
        let (server, _, (ann_jwt, _), _) = start(backend).await;
        let body = server.gql(QUERY, json!({})).await;
        assert_eq!(error_code(&body), "FORBIDDEN");
        assert_eq!(body["errors"][0]["extensions"]["error"]["details"]["action"], "api::member-progress.get");
        let (status, body) = rest(&server, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body, forbidden_envelope());

        let body = server.gql_as(&ann_jwt, QUERY, json!({})).await;
        assert_eq!(error_code(&body), "FORBIDDEN");
        assert_eq!(body["errors"][0]["extensions"]["error"]["details"]["role"], "authenticated");
        let (status, body) = rest(&server, Some(&ann_jwt)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body["error"]["details"]["action"], "api::member-progress.get");

        let (status, body) = rest(&server, Some("not-a-token")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body, json!({ "data": null, "error": { "status": 401, "name": "UnauthorizedError",
            "message": "Missing or invalid credentials", "details": {} } }));
    }

    async fn with_the_grant_the_field_and_the_route_answer_and_see_the_user(backend: Backend) {
        let (server, admin, (ann_jwt, _), _) = start(backend).await;
        grant(&server, &admin, json!([{ "action": "api::member-progress.get" }])).await;
        let body = server.gql_as(&ann_jwt, QUERY, json!({})).await;
        assert_eq!(body["data"]["memberProgress"]["viewer"], "ann", "{body}");
        assert_eq!(body["data"]["memberProgress"]["rows"].as_array().unwrap().len(), 3);
        let (status, body) = rest(&server, Some(&ann_jwt)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["viewer"], "ann");
        assert_eq!(body["data"]["rows"].as_array().unwrap().len(), 3);
    }

    async fn with_the_own_progress_condition_members_see_their_own_rows(backend: Backend) {
        let (server, admin, (ann_jwt, ann), (bob_jwt, bob)) = start(backend).await;
        grant(&server, &admin, json!([{ "action": "api::member-progress.get", "conditions": ["own-progress"] }])).await;
        let body = server.gql_as(&ann_jwt, QUERY, json!({})).await;
        let rows = body["data"]["memberProgress"]["rows"].as_array().unwrap().clone();
        assert_eq!(rows, vec![json!({ "userId": ann, "course": "rust", "percent": 40 }), json!({ "userId": ann, "course": "sql", "percent": 90 })]);
        let (_, body) = rest(&server, Some(&bob_jwt)).await;
        assert_eq!(body["data"]["rows"], json!([{ "userId": bob, "course": "rust", "percent": 75 }]));
    }

    async fn the_examples_action_is_in_the_catalogue_without_registration(backend: Backend) {
        let (server, _, _, _) = start(backend).await;
        let admin = server.user_with_grants("catalogue-reader", &["plugin::users-permissions.permission.find", "plugin::users-permissions.condition.find"]).await;
        let body = server.gql_as(&admin, "{ usersPermissionsActions { action namespace controller name boundTo } }", json!({})).await;
        let actions = body["data"]["usersPermissionsActions"].as_array().unwrap();
        let progress = actions.iter().find(|a| a["action"] == "api::member-progress.get").expect("listed");
        assert_eq!(progress, &json!({ "action": "api::member-progress.get", "namespace": "api::member-progress",
            "controller": "member-progress", "name": "get", "boundTo": ["Query.memberProgress", "GET /api/progress"] }));
        let body = server.gql_as(&admin, "{ usersPermissionsConditions { name plugin } }", json!({})).await;
        assert!(body["data"]["usersPermissionsConditions"].as_array().unwrap().contains(&json!({ "name": "own-progress", "plugin": "api::member-progress" })));
    }
}

/// `cargo run --example member_progress` builds and starts.
#[test]
fn the_example_starts() {
    use std::io::{BufRead, BufReader};
    let deps = std::env::current_exe().unwrap();
    let example = deps
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("examples/member_progress");
    assert!(
        example.exists(),
        "{} is missing: `cargo test` builds the examples",
        example.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(&example)
        .args(["--host", "127.0.0.1", "--port", "0"])
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let first = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        first.starts_with("Castellan with member progress is listening on 127.0.0.1:"),
        "{first}"
    );
}

/// A library user's mutation and route for any signed-in user, whatever their role.
mod signed_in {
    use async_graphql::{Context, Object};
    use axum::http::Method;

    #[derive(Default)]
    pub struct Greeting;

    #[Object]
    impl Greeting {
        /// Greets the signed-in user.
        #[graphql(directive = castellan::authenticated::apply())]
        async fn greet(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
            let (_, principal) = castellan::graphql::request(ctx)?;
            let name = principal
                .user()
                .map(|u| u.user.username.clone())
                .unwrap_or_default();
            Ok(format!("hello {name}"))
        }
    }

    async fn whoami(authorized: castellan::Authorized) -> String {
        authorized
            .principal
            .user()
            .map(|u| u.user.username.clone())
            .unwrap_or_default()
    }

    pub fn builder(
        config: castellan::Config,
    ) -> castellan::Builder<castellan::NoExtension, Greeting> {
        castellan::Castellan::builder(config)
            .mutation(Greeting)
            .signed_in_route(Method::GET, "/api/whoami", whoami)
    }
}

both_backends! {
    async fn fields_and_routes_for_any_signed_in_user(backend: Backend) {
        let server = TestServer::start_built(backend, |_| {}, signed_in::builder).await;
        let (jwt, _) = server.register("greeter", "greeter@example.com", "password1").await;
        let role = server.create_role("no-grants").await;
        let (bare_jwt, bare) = server.register("bare", "bare@example.com", "password1").await;
        server.set_role(user_id(&bare), role.id).await;

        for token in [&jwt, &bare_jwt] {
            let body = server.gql_as(token, "mutation { greet }", json!({})).await;
            assert!(body["data"]["greet"].as_str().unwrap().starts_with("hello "), "{body}");
        }
        let body = server.gql("mutation { greet }", json!({})).await;
        assert_eq!(error_code(&body), "FORBIDDEN");
        assert_eq!(body["errors"][0]["extensions"]["error"]["details"]["reason"], "a signed-in user is required");

        let get = |bearer: Option<String>| {
            let mut request = server.client.get(format!("{}/api/whoami", server.url));
            if let Some(token) = bearer {
                request = request.header("authorization", format!("Bearer {token}"));
            }
            request.send()
        };
        let response = get(Some(bare_jwt.clone())).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.unwrap(), "bare");
        let response = get(None).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["name"], "ForbiddenError");
    }
}
