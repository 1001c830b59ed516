//! The principal of a request: every unusable bearer token is a 401 in both envelopes.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{TEST_JWT_SECRET, TestServer, base64url, user_id};

fn sign(secret: &str, algorithm: Algorithm, claims: Value) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Asserts the exact 401 body: Strapi's REST envelope and a GraphQL error list.
async fn assert_unauthorized(server: &TestServer, authorization: &str, message: &str) {
    let response = server
        .client
        .post(format!("{}/graphql", server.url))
        .header("authorization", authorization)
        .json(&json!({ "query": "{ me { id } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "{authorization}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "data": null,
            "error": { "status": 401, "name": "UnauthorizedError", "message": message, "details": {} },
            "errors": [{ "message": message, "extensions": { "code": "UNAUTHENTICATED" } }]
        }),
        "{authorization}"
    );
}

/// POST /graphql for a count of database connections: without the harness's scan for
/// secrets, which reads the database through the server's own pool.
async fn unscanned(server: &TestServer, bearer: Option<&str>, query: &str) -> Value {
    let mut request = server
        .client
        .post(format!("{}/graphql", server.url))
        .json(&json!({ "query": query }));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

both_backends! {
    async fn malformed_forged_and_expired_tokens_are_refused_with_401(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (jwt, user) = server.register("tok", "tok@example.com", "password1").await;
        let id = user_id(&user);
        let claims = json!({ "id": id, "iat": now(), "exp": now() + 3600 });

        let wrong_secret = sign("some-other-secret-some-other-secret", Algorithm::HS256, claims.clone());
        let expired = sign(TEST_JWT_SECRET, Algorithm::HS256, json!({ "id": id, "iat": now() - 7200, "exp": now() - 3600 }));
        let hs512 = sign(TEST_JWT_SECRET, Algorithm::HS512, claims.clone());
        let unsigned = format!(
            "{}.{}.",
            base64url(br#"{"alg":"none","typ":"JWT"}"#),
            base64url(claims.to_string().as_bytes())
        );
        let (header, rest) = jwt.split_once('.').unwrap();
        let (payload, signature) = rest.split_once('.').unwrap();
        let tampered = format!(
            "{header}.{}.{signature}",
            base64url(json!({ "id": id + 1, "iat": now(), "exp": now() + 3600 }).to_string().as_bytes())
        );
        // The genuine token's header and claims with another signature.
        let first = if signature.starts_with('A') { "B" } else { "A" };
        let resigned = format!("{header}.{payload}.{first}{}", &signature[1..]);

        // Used first, the genuine token is remembered as verified: what differs from it by a
        // byte is still checked in full.
        assert_eq!(server.gql_as(&jwt, "{ me { id } }", json!({})).await["data"]["me"]["id"], user["id"]);
        for token in ["garbage", "a.b.c", &wrong_secret, &expired, &hs512, &unsigned, &tampered, &resigned] {
            assert_unauthorized(&server, &format!("Bearer {token}"), "Missing or invalid credentials").await;
        }
        assert_unauthorized(&server, "Bearer ", "Missing or invalid credentials").await;
        assert_unauthorized(&server, &format!("Basic {jwt}"), "Missing or invalid credentials").await;

        // The genuine token still works, and the scheme is case-insensitive.
        let me = server.gql_as(&jwt, "{ me { id } }", json!({})).await;
        assert_eq!(me["data"]["me"]["id"], user["id"]);
        let (status, _) = server.post(None, &json!({ "query": "{ __typename }" })).await;
        assert_eq!(status, StatusCode::OK);
    }

    async fn a_valid_token_of_a_deleted_user_is_refused_on_the_next_request(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_with_grants("user-admin", &["plugin::users-permissions.user.destroy"]).await;
        let (jwt, user) = server.register("gone", "gone@example.com", "password1").await;
        // Signed-in users are cached: the deletion must still be seen by the very next request.
        assert_eq!(server.gql_as(&jwt, "{ me { id } }", json!({})).await["data"]["me"]["id"], user["id"]);
        let body = server.gql_as(&admin, "mutation($id: ID!) { deleteUsersPermissionsUser(id: $id) { data { id } } }", json!({ "id": user["id"] })).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_unauthorized(&server, &format!("Bearer {jwt}"), "Invalid credentials").await;
    }

    async fn a_valid_token_of_a_blocked_user_is_refused_on_the_next_request(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_with_grants("user-admin", &["plugin::users-permissions.user.update"]).await;
        let (jwt, user) = server.register("blocky", "blocky@example.com", "password1").await;
        let me = server.gql_as(&jwt, "{ me { id } }", json!({})).await;
        assert_eq!(me["data"]["me"]["id"], user["id"]);
        let body = server
            .gql_as(&admin, "mutation($id: ID!) { updateUsersPermissionsUser(id: $id, data: { blocked: true }) { data { id } } }", json!({ "id": user["id"] }))
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_unauthorized(&server, &format!("Bearer {jwt}"), "Invalid credentials").await;
        // And back: unblocked, the same token works again at once.
        server
            .gql_as(&admin, "mutation($id: ID!) { updateUsersPermissionsUser(id: $id, data: { blocked: false }) { data { id } } }", json!({ "id": user["id"] }))
            .await;
        assert_eq!(server.gql_as(&jwt, "{ me { id } }", json!({})).await["data"]["me"]["id"], user["id"]);
    }

    async fn a_role_change_is_seen_by_the_next_request(backend: Backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_with_grants("user-admin", &["plugin::users-permissions.user.update"]).await;
        // The role exists first: creating it and granting to it empty every cache, so the
        // user is cached in their old role by the first `me`.
        let role = server.create_role("movers").await;
        server.grant("movers", &["plugin::users-permissions.user.me"]).await;
        let (jwt, user) = server.register("mover", "mover@example.com", "password1").await;
        assert_eq!(server.gql_as(&jwt, "{ me { role { type } } }", json!({})).await["data"]["me"]["role"]["type"], "authenticated");
        let cached = server.app.db.checkouts();
        assert_eq!(unscanned(&server, Some(&jwt), "{ me { role { type } } }").await["data"]["me"]["role"]["type"], "authenticated");
        assert_eq!(server.app.db.checkouts(), cached, "the user is cached");
        let body = server
            .gql_as(&admin, "mutation($id: ID!, $r: ID!) { updateUsersPermissionsUser(id: $id, data: { role: $r }) { data { id } } }", json!({ "id": user["id"], "r": role.id.to_string() }))
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(server.gql_as(&jwt, "{ me { role { type } } }", json!({})).await["data"]["me"]["role"]["type"], "movers");
    }

    async fn signed_in_and_public_requests_are_authorized_without_the_database(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (jwt, _) = server.register("quiet", "quiet@example.com", "password1").await;
        let me = "{ me { username role { type } } }";
        assert_eq!(server.gql_as(&jwt, me, json!({})).await["data"]["me"]["username"], "quiet");
        let before = server.app.db.checkouts();
        for _ in 0..10 {
            assert_eq!(unscanned(&server, Some(&jwt), me).await["data"]["me"]["role"]["type"], "authenticated");
            // Refused from the grants in memory, signed in and in public.
            let refused = unscanned(&server, Some(&jwt), "{ usersPermissionsRoles { name } }").await;
            assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");
            let refused = unscanned(&server, None, "{ usersPermissionsUsers { id } }").await;
            assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");
        }
        assert_eq!(server.app.db.checkouts(), before, "30 requests authorized without a database connection");
        // What reads the database is counted, and /metrics shows the count.
        let body = unscanned(&server, None, "mutation { login(input: { identifier: \"quiet\", password: \"wrong-password\" }) { jwt } }").await;
        assert!(body.get("errors").is_some(), "{body}");
        let after = server.app.db.checkouts();
        assert_eq!(after, before + 1, "a login reads the user");
        let (_, _, metrics) = server.get("/metrics").await;
        assert!(metrics.contains(&format!("castellan_db_checkouts_total {after}\n")), "{metrics}");
    }
}
